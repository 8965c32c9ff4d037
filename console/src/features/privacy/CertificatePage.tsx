import { Anchor, Button, Code, Container, Group, Stack, Table, Text, Title } from '@mantine/core'
import { Link, useParams } from 'react-router'
import { ListStatus } from '../../components/ListStatus.tsx'
import { ListTable } from '../../components/ListTable.tsx'
import { Panel } from '../../components/Panel.tsx'
import { saveFile } from '../../lib/download.ts'
import { CertificateVerify } from './CertificateVerify.tsx'
import { useOrgName } from '../auth/api.ts'
import { useCertificate, type Certificate } from './api.ts'
import { when } from './ui.tsx'
import { readPayload, type CertificatePayload } from './verify.ts'
import './privacy.css'
import { counted } from '../../lib/plural.ts'

/**
 * One erasure certificate: what it says (read from its payload, to be verified below):
 * the erasure's time, the systems it reached with their counts, the subject's commitment,
 * the audit event of its issuance and whether a signed checkpoint covers it yet; the
 * certificate as a file (the API's answer, as `custodian verify-certificate --file` reads
 * it); and verification in the browser.
 */
export function CertificatePage() {
  const { orgId = '', certificateId = '' } = useParams()
  const certificate = useCertificate(orgId, certificateId)
  const data = certificate.data
  return (
    <Container size="xl" py="md">
      <Anchor component={Link} to={`/orgs/${orgId}/erasure-certificates`} size="sm">
        All erasure certificates
      </Anchor>
      <Title order={1} mt="xs" mb="xs">
        Erasure certificate
      </Title>
      <Stack gap="md">
        <ListStatus query={certificate} noun="the certificate" refusal="You cannot see this erasure certificate" />
        {data === undefined ? null : <CertificateBody orgId={orgId} certificate={data} />}
      </Stack>
    </Container>
  )
}

function CertificateBody({ orgId, certificate }: { orgId: string; certificate: Certificate }) {
  const payload: CertificatePayload = readPayload(certificate.jws) ?? {}
  const orgName = useOrgName(orgId)
  const text = (value: unknown) => (typeof value === 'string' ? value : '—')
  const systems = Array.isArray(payload.systems) ? (payload.systems as Record<string, unknown>[]) : []
  const download = () =>
    saveFile(
      `${JSON.stringify(certificate, null, 2)}\n`,
      `erasure-certificate-${certificate.id}.json`,
      'application/json',
    )
  return (
    <>
      <Text size="sm">
        What the certificate says, as it reads; verify it below to know the service signed it and nothing changed since.
      </Text>
      <Table aria-label="Certificate" variant="vertical" withTableBorder>
        <Table.Tbody>
          <Table.Tr>
            <Table.Th scope="row">Certificate</Table.Th>
            <Table.Td className="privacy-value">{certificate.id}</Table.Td>
          </Table.Tr>
          <Table.Tr>
            <Table.Th scope="row">Request</Table.Th>
            <Table.Td>
              <Anchor component={Link} to={`/orgs/${orgId}/privacy-requests/${certificate.requestId}`}>
                the erase request
              </Anchor>
            </Table.Td>
          </Table.Tr>
          <Table.Tr>
            <Table.Th scope="row">Erased</Table.Th>
            <Table.Td>{when(typeof payload.erasedAt === 'string' ? payload.erasedAt : null)}</Table.Td>
          </Table.Tr>
          <Table.Tr>
            <Table.Th scope="row">Issued</Table.Th>
            <Table.Td>{when(certificate.issuedAt)}</Table.Td>
          </Table.Tr>
          <Table.Tr>
            <Table.Th scope="row">Subject commitment</Table.Th>
            <Table.Td className="privacy-value">
              {text(payload.subject?.commitment)}
              <Text size="xs" title={text(payload.subject?.scheme)}>
                A SHA-256 of the salt and the subject’s id: it names the subject only to someone who holds both.
              </Text>
            </Table.Td>
          </Table.Tr>
          <Table.Tr>
            <Table.Th scope="row">Audit event</Table.Th>
            <Table.Td>
              {certificate.auditEvent === null ? (
                'none (issued before receipts)'
              ) : (
                <>
                  <Anchor
                    component={Link}
                    to={`/orgs/${orgId}/audit?${new URLSearchParams({ action: 'privacy.erasure.certificate', target: certificate.id }).toString()}`}
                  >
                    its audit event
                  </Anchor>
                  {certificate.auditEvent.org === orgId
                    ? ` in the audit log of ${orgName.data ?? 'this org'}`
                    : ' in another org’s audit log'}
                </>
              )}
              <Text size="xs">
                {certificate.receipt !== null
                  ? `Receipt: a signed checkpoint of size ${certificate.receipt.size} covers it (check it offline with custodian verify-certificate --log-key).`
                  : certificate.auditEvent === null
                    ? ''
                    : 'Receipt: not yet — no signed checkpoint covers the event yet; ask again shortly.'}
              </Text>
            </Table.Td>
          </Table.Tr>
        </Table.Tbody>
      </Table>
      <Panel title="What was erased, where">
        <ListTable label="Systems" columns={['System', 'Action', 'Count', 'Details']}>
          {systems.map((s, i) => (
            <Table.Tr key={`${text(s.system)}-${i}`}>
              <Table.Td title={text(s.system)}>{systemName(text(s.system))}</Table.Td>
              <Table.Td title={text(s.action)}>{ACTIONS[text(s.action)] ?? text(s.action)}</Table.Td>
              <Table.Td>{typeof s.count === 'number' ? s.count : '—'}</Table.Td>
              <Table.Td className="privacy-value">{systemDetails(s)}</Table.Td>
            </Table.Tr>
          ))}
        </ListTable>
      </Panel>
      <Panel
        title="The certificate as a file"
        description="The API’s answer as it came (the JWS and its receipt): hand it over, or verify it offline with custodian verify-certificate --file."
      >
        <Stack gap="sm">
          <Code block className="privacy-value">
            {certificate.jws}
          </Code>
          <Group>
            <Button variant="default" onClick={download}>
              Download the certificate
            </Button>
          </Group>
        </Stack>
      </Panel>
      <CertificateVerify jws={certificate.jws} orgId={orgId} />
    </>
  )
}

/** The certificate's systems in words; the name it carries stays the cell's title. */
const SYSTEMS: Record<string, string> = {
  'custodian:records': 'Records kept in Custodian',
  'custodian:subject-key': 'The subject’s encryption key',
  'custodian:backups': 'Backups of the database',
  'custodian:audit-personal-fields': 'Personal fields of audit events',
  'custodian:exports': 'Access exports',
}

function systemName(system: string): string {
  const known = SYSTEMS[system]
  if (known !== undefined) return known
  if (system.startsWith('webhook:')) return `Erasure webhook ${system.slice('webhook:'.length)}`
  if (system.startsWith('consent-recipient:')) return `Consent recipient ${system.slice('consent-recipient:'.length)}`
  return system
}

/** What was done in each system, in words. */
const ACTIONS: Record<string, string> = {
  deleted: 'deleted',
  erased: 'erased',
  'crypto-shredded': 'key destroyed: what it sealed can never be read',
  unreadable: 'unreadable: older copies cannot open the subject’s data',
  confirmed: 'erasure confirmed by the receiver',
  'not-confirmed': 'erasure not confirmed by the receiver',
}

/** A system's other facts, in a line: data classes, destination, since, attempts, note. */
function systemDetails(system: Record<string, unknown>): string {
  const parts: string[] = []
  if (system.dataClasses !== null && typeof system.dataClasses === 'object')
    parts.push(
      Object.entries(system.dataClasses as Record<string, unknown>)
        .map(([c, n]) => `${c}: ${String(n)}`)
        .join(', '),
    )
  if (typeof system.destination === 'string') parts.push(`to ${system.destination}`)
  if (typeof system.attempts === 'number') parts.push(counted(system.attempts, 'attempt'))
  if (typeof system.confirmedAt === 'string') parts.push(`confirmed ${when(system.confirmedAt)}`)
  if (typeof system.since === 'string') parts.push(`since ${when(system.since)}`)
  if (typeof system.note === 'string') parts.push(system.note)
  return parts.join('; ') || '—'
}
