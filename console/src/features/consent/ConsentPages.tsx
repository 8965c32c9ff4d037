import { Anchor, Container, Group, Text, Title } from '@mantine/core'
import { Navigate, NavLink, Route, Routes, useParams } from 'react-router'
import { NoticesPage } from './NoticesPage.tsx'
import { PurposesPage } from './PurposesPage.tsx'
import { RecipientsPage } from './RecipientsPage.tsx'
import { ReportsPage } from './ReportsPage.tsx'
import { SubjectPage } from './SubjectPage.tsx'
import './consent.css'

/** What the session may do here: declare and publish, decide objections (manage); withdraw on a subject's behalf (record). */
export interface ConsentPermissions {
  manage: boolean
  record: boolean
}

const TABS: [string, string][] = [
  ['purposes', 'Purposes'],
  ['recipients', 'Recipients'],
  ['notices', 'Notices'],
  ['subjects', 'Subject timeline'],
  ['reports', 'Reports'],
]

/**
 * Consent (P7.7, docs/consent.md) under /orgs/{orgId}/consent/: the purposes of processing
 * and their lawful basis, the recipients told of withdrawals (and the messages they have not
 * acknowledged), the notice versions, one data subject's timeline (looked up by
 * id in a request body, never the address), and the reports. Reading needs consent:read;
 * each page shows the API's refusal otherwise.
 */
export function ConsentPages({ can }: { can: ConsentPermissions }) {
  const { orgId = '' } = useParams()
  return (
    <Container size="lg" py="md">
      <Title order={1} mb="xs">
        Consent
      </Title>
      <Text size="sm" mb="sm">
        What the org processes personal data for and on which lawful basis, what each subject was told, and what they
        agreed to, refused, withdrew or objected to — kept as proof in the audit log.
      </Text>
      <Group component="nav" aria-label="Consent pages" gap="md" mb="md" className="consent-tabs">
        {TABS.map(([path, label]) => (
          <Anchor key={path} component={NavLink} to={`/orgs/${orgId}/consent/${path}`} size="sm">
            {label}
          </Anchor>
        ))}
      </Group>
      <Routes>
        <Route index element={<Navigate to="purposes" replace />} />
        <Route path="purposes" element={<PurposesPage canManage={can.manage} />} />
        <Route path="recipients" element={<RecipientsPage canManage={can.manage} />} />
        <Route path="notices" element={<NoticesPage canManage={can.manage} />} />
        <Route path="subjects" element={<SubjectPage can={can} />} />
        <Route path="reports" element={<ReportsPage canManage={can.manage} />} />
        <Route path="*" element={<Navigate to={`/orgs/${orgId}/consent/purposes`} replace />} />
      </Routes>
    </Container>
  )
}
