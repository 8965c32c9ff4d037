import { useState } from 'react'
import { Anchor, Box, Container, Group, Stack, Table, Text, Title } from '@mantine/core'
import { Link, useNavigate, useParams } from 'react-router'
import { ActionProblem } from '../../components/ActionProblem.tsx'
import { ListStatus, LoadMore } from '../../components/ListStatus.tsx'
import { ListTable } from '../../components/ListTable.tsx'
import { Notice } from '../../components/Notice.tsx'
import { PageLoader } from '../../components/PageLoader.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { useMemberEmails, useSource, useSourceEvents, useVersions, type CheckResult } from './api.ts'
import { RotationSection } from './RotationSection.tsx'
import { describeActorRef } from '../../lib/describe.ts'
import {
  actorLabel,
  findingsOfEvent,
  findingsOfResult,
  FindingsTable,
  SourceActions,
  StatusBadge,
  when,
  type SourcePermissions,
} from './ui.tsx'

/**
 * One data source: where it connects, its last check's findings, its rotation policy
 * (set, change, remove, rotate now) and its rotation history. The API keeps that history
 * in two places, both shown: the audit log's `secret.rotate` events (each rotation, done or
 * failed, and who ran it; permission audit:read) and the secret's versions (each new
 * password is one).
 */
export function IntegrationDetailPage({ can }: { can: SourcePermissions }) {
  const { orgId = '', secretId = '' } = useParams()
  const navigate = useNavigate()
  const source = useSource(orgId, secretId)
  const [notice, setNotice] = useState<string | null>(null)
  const [problem, setProblem] = useState<{ title: string; error: unknown } | null>(null)
  const [checked, setChecked] = useState<CheckResult | null>(null)
  const back = `/orgs/${orgId}/integrations`
  const meta = source.data?.metadata ?? {}
  const fact = (key: string) => {
    const value = meta[key]
    return typeof value === 'string' || typeof value === 'number' ? String(value) : 'not known'
  }

  return (
    <Container size="lg" py="md">
      <Anchor component={Link} to={back} size="sm">
        ← All integrations
      </Anchor>
      {source.isPending ? <PageLoader label="Loading the data source" /> : null}
      {source.isError ? <ProblemAlert error={source.error} title="You cannot see this data source" /> : null}
      {source.isSuccess ? (
        <Stack gap="lg" mt="sm">
          <Group justify="space-between" align="flex-start">
            <Box>
              <Title order={1}>{source.data.name}</Title>
              {source.data.description === '' ? null : <Text c="dimmed">{source.data.description}</Text>}
            </Box>
            <Group gap={4}>
              {source.data.paused ? <StatusBadge status="paused" /> : null}
              {source.data.exposed ? <StatusBadge status="exposed" /> : null}
              {!source.data.paused && !source.data.exposed ? <StatusBadge status="active" /> : null}
            </Group>
          </Group>
          {source.data.type !== 'database_credential' ? (
            <ProblemAlert
              error={new Error(`${source.data.name} is a ${source.data.type} secret, not a database credential.`)}
              title="Not a data source"
            />
          ) : null}
          <Notice title="Done" message={notice} onClose={() => setNotice(null)} />
          {problem !== null ? <ActionProblem error={problem.error} title={problem.title} /> : null}
          <Table aria-label="Connection" variant="vertical" withTableBorder>
            <Table.Tbody>
              {(
                [
                  ['Host', fact('host')],
                  ['Port', fact('port')],
                  ['Database', fact('database')],
                  ['User', fact('user')],
                  ['TLS mode', fact('sslmode')],
                  ['Current version', String(source.data.currentVersion)],
                  ['Last checked', when(source.data.lastCheckedAt)],
                  ['Last used', when(source.data.lastRevealedAt)],
                ] as const
              ).map(([label, value]) => (
                <Table.Tr key={label}>
                  <Table.Th scope="row">{label}</Table.Th>
                  <Table.Td>{value}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
          <SourceActions
            orgId={orgId}
            source={{ id: secretId, name: source.data.name, paused: source.data.paused }}
            can={can}
            onDone={setNotice}
            onError={setProblem}
            onChecked={setChecked}
            onDeleted={() => void navigate(back)}
          />

          <LastCheck orgId={orgId} secretId={secretId} checked={checked} />
          <RotationSection
            orgId={orgId}
            source={{ id: secretId, name: source.data.name, user: fact('user') }}
            canWrite={can.write}
            onDone={setNotice}
          />
          <RotationHistory orgId={orgId} secretId={secretId} currentVersion={source.data.currentVersion} />
        </Stack>
      ) : null}
    </Container>
  )
}

/**
 * The last check's findings: the answer of "Check now" on this page, or else the last
 * `secret.check` audit event (the API records each check's findings there; the data-source
 * list keeps only reachable, TLS and can-write).
 */
function LastCheck({ orgId, secretId, checked }: { orgId: string; secretId: string; checked: CheckResult | null }) {
  const events = useSourceEvents(orgId, secretId, 'secret.check', 1)
  const last = events.data?.pages[0]?.events[0]
  const emails = useMemberEmails(orgId)
  return (
    <section aria-labelledby="last-check-title">
      <Title order={2} size="h4" id="last-check-title" mb="sm">
        Last check
      </Title>
      {checked !== null ? (
        <FindingsTable findings={findingsOfResult(checked)} />
      ) : (
        <>
          <ListStatus
            query={events}
            noun="the last check"
            refusal="You cannot read the last check’s findings (the audit log keeps them)"
            empty={{ when: last === undefined, text: 'Not checked yet.' }}
          />
          {last !== undefined ? <FindingsTable findings={findingsOfEvent(last, emails)} /> : null}
        </>
      )}
    </section>
  )
}

/** Rotations as the audit log records them, then the versions they made. */
function RotationHistory({
  orgId,
  secretId,
  currentVersion,
}: {
  orgId: string
  secretId: string
  currentVersion: number
}) {
  const events = useSourceEvents(orgId, secretId, 'secret.rotate')
  const versions = useVersions(orgId, secretId)
  const emails = useMemberEmails(orgId)
  const rotations = events.data?.pages.flatMap((p) => p.events) ?? []
  const allVersions = versions.data?.pages.flatMap((p) => p.versions) ?? []
  return (
    <section aria-labelledby="history-title">
      <Title order={2} size="h4" id="history-title" mb="xs">
        Rotation history
      </Title>
      <Text size="sm" c="dimmed" mb="sm">
        Each rotation, done or failed, as the audit log records it; then the credential’s versions (each new password is
        one).
      </Text>
      <Stack gap="sm">
        <ListStatus
          query={events}
          noun="rotations"
          refusal="You cannot read the rotation history (the audit log keeps it)"
          empty={{ when: rotations.length === 0, text: 'No rotation yet.' }}
        />
        {rotations.length > 0 ? (
          <ListTable striped label="Rotations" columns={['When', 'By', 'Outcome', 'Result']}>
            {rotations.map((e) => (
              <Table.Tr key={e.id}>
                <Table.Td>{when(e.time)}</Table.Td>
                <Table.Td>{actorLabel(e.actor, emails)}</Table.Td>
                <Table.Td>{e.outcome}</Table.Td>
                <Table.Td>
                  {typeof e.details.version === 'number'
                    ? `version ${e.details.version}`
                    : typeof e.details.error === 'string'
                      ? e.details.error
                      : ''}
                </Table.Td>
              </Table.Tr>
            ))}
          </ListTable>
        ) : null}
        <LoadMore query={events} />
        <ListStatus
          query={versions}
          noun="versions"
          refusal="You cannot list the versions"
          empty={{ when: allVersions.length === 0, text: 'No versions.' }}
        />
        {allVersions.length > 0 ? (
          <ListTable striped label="Versions" columns={['Version', 'Created', 'By', 'State']}>
            {allVersions.map((v) => (
              <Table.Tr key={v.version}>
                <Table.Td>
                  {v.version}
                  {v.version === currentVersion ? ' (current)' : ''}
                </Table.Td>
                <Table.Td>{when(v.createdAt)}</Table.Td>
                <Table.Td>{describeActorRef(v.createdBy, v.createdByName)}</Table.Td>
                <Table.Td>
                  {v.destroyedAt !== null
                    ? 'destroyed'
                    : v.exposed
                      ? 'exposed'
                      : v.version > currentVersion
                        ? 'not current yet'
                        : 'stored'}
                </Table.Td>
              </Table.Tr>
            ))}
          </ListTable>
        ) : null}
        <LoadMore query={versions} />
      </Stack>
    </section>
  )
}
