import { useState } from 'react'
import { Anchor, Badge, Button, Container, Group, Stack, Table, Text, Title } from '@mantine/core'
import { Link, useParams } from 'react-router'
import { ListStatus } from '../../components/ListStatus.tsx'
import { ListTable } from '../../components/ListTable.tsx'
import { Notice } from '../../components/Notice.tsx'
import { PageLoader } from '../../components/PageLoader.tsx'
import { Panel } from '../../components/Panel.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { when } from '../../lib/format.ts'
import { useGrant, useGrantTimeline, useSecretNames, type Grant, type TimelineEvent } from './api.ts'
import { DecisionDialog, type Decision } from './DecisionDialog.tsx'
import { approvalCount, approvedBy, approverName, days, GrantStatus } from './ui.tsx'
import { useSelfId } from '../../lib/self.ts'

/** What the session may decide, as GET /v1/me lists it; the API still decides every call. */
export interface GrantDecisions {
  approve: boolean
  revoke: boolean
}

/**
 * One diagnostic access grant: the operator's reason, its scope (permissions, the secrets
 * it names) and duration, its approvals and who else must approve, approve / deny (pending)
 * and revoke (active) with a note; then its timeline from the org's audit log — every use,
 * with time, action and target.
 */
export function GrantDetailPage({ can }: { can: GrantDecisions }) {
  const { orgId = '', grantId = '' } = useParams()
  const grant = useGrant(orgId, grantId)
  const selfId = useSelfId()
  const [decision, setDecision] = useState<Decision>(null)
  const [notice, setNotice] = useState<string | null>(null)

  return (
    <Container size="lg" py="md">
      <Anchor component={Link} to={`/orgs/${orgId}/grants`} size="sm">
        ← All diagnostic access
      </Anchor>
      {grant.isPending ? <PageLoader label="Loading the grant" /> : null}
      {grant.isError ? <ProblemAlert error={grant.error} title="You cannot see this grant" /> : null}
      {grant.isSuccess ? (
        <Stack gap="md" mt="sm">
          <Group justify="space-between" align="flex-start">
            <Title order={1}>Diagnostic access for {grant.data.grantee.email}</Title>
            <GrantStatus status={grant.data.status} />
          </Group>
          <Notice message={notice} onClose={() => setNotice(null)} />
          <GrantFacts orgId={orgId} grant={grant.data} />
          <Group gap="sm" role="group" aria-label="Decisions">
            {grant.data.status === 'pending' && can.approve ? (
              <>
                {approvedBy(grant.data, selfId) ? (
                  <Text size="sm">You approved it; another person with grants:approve must approve too.</Text>
                ) : (
                  <Button onClick={() => setDecision('approve')}>Approve</Button>
                )}
                <Button variant="default" onClick={() => setDecision('deny')}>
                  Deny
                </Button>
              </>
            ) : null}
            {grant.data.status === 'active' && can.revoke ? (
              <Button color="red.9" onClick={() => setDecision('revoke')}>
                Revoke
              </Button>
            ) : null}
          </Group>
          <DecisionDialog
            orgId={orgId}
            grant={grant.data}
            decision={decision}
            onClose={() => setDecision(null)}
            onDone={(message) => setNotice(message)}
          />
          <Timeline orgId={orgId} grant={grant.data} />
        </Stack>
      ) : null}
    </Container>
  )
}

function GrantFacts({ orgId, grant }: { orgId: string; grant: Grant }) {
  const names = useSecretNames(orgId, grant.secretIds)
  return (
    <Table aria-label="Grant" variant="vertical" withTableBorder>
      <Table.Tbody>
        <Table.Tr>
          <Table.Th scope="row">Reason</Table.Th>
          <Table.Td>{grant.reason}</Table.Td>
        </Table.Tr>
        <Table.Tr>
          <Table.Th scope="row">Permissions</Table.Th>
          <Table.Td>{grant.permissions.join(', ')}</Table.Td>
        </Table.Tr>
        <Table.Tr>
          <Table.Th scope="row">Named secrets</Table.Th>
          <Table.Td>
            {grant.secretIds.length === 0
              ? 'none'
              : grant.secretIds.map((id) => (
                  <Anchor key={id} component={Link} to={`/orgs/${orgId}/secrets/${id}`} mr="sm">
                    {names.get(id) ?? id}
                  </Anchor>
                ))}
          </Table.Td>
        </Table.Tr>
        <Table.Tr>
          <Table.Th scope="row">Duration</Table.Th>
          <Table.Td>{days(grant.durationDays)} from approval</Table.Td>
        </Table.Tr>
        <Table.Tr>
          <Table.Th scope="row">Requested</Table.Th>
          <Table.Td>
            {when(grant.requestedAt)}
            {grant.status === 'pending' ? ` (lapses ${when(grant.pendingUntil)} unless decided)` : ''}
          </Table.Td>
        </Table.Tr>
        <Table.Tr>
          <Table.Th scope="row">Approvals</Table.Th>
          <Table.Td>
            {approvalCount(grant)}
            {grant.approvals.map((a) => (
              <Text key={a.userId} size="sm">
                {approverName(a)}, {when(a.at)}
                {a.note === null ? '' : `: “${a.note}”`}
              </Text>
            ))}
          </Table.Td>
        </Table.Tr>
        <Table.Tr>
          <Table.Th scope="row">Runs</Table.Th>
          <Table.Td>
            {grant.startsAt === null ? 'not approved' : `${when(grant.startsAt)} until ${when(grant.expiresAt)}`}
          </Table.Td>
        </Table.Tr>
        {grant.status === 'denied' ? (
          <Table.Tr>
            <Table.Th scope="row">Denied</Table.Th>
            <Table.Td>
              {when(grant.decidedAt)}
              {grant.decisionNote === null ? '' : `: “${grant.decisionNote}”`}
            </Table.Td>
          </Table.Tr>
        ) : null}
        {grant.endedAt !== null ? (
          <Table.Tr>
            <Table.Th scope="row">Ended</Table.Th>
            <Table.Td>
              {when(grant.endedAt)} ({grant.status}){grant.endNote === null ? '' : `: “${grant.endNote}”`}
            </Table.Td>
          </Table.Tr>
        ) : null}
      </Table.Tbody>
    </Table>
  )
}

/** What an event was about: the route of a use, the target of anything else (a secret by its name). */
function targetOf(event: TimelineEvent, names: Map<string, string>): string {
  if (event.action === 'grant.use' && typeof event.details.route === 'string') return event.details.route
  if (event.target === null) return '—'
  const name = event.target.type === 'secret' && event.target.id !== null ? names.get(event.target.id) : undefined
  return name === undefined ? `${event.target.type} ${event.target.id ?? ''}` : `secret ${name}`
}

function Timeline({ orgId, grant }: { orgId: string; grant: Grant }) {
  const timeline = useGrantTimeline(orgId, grant)
  const names = useSecretNames(orgId, grant.secretIds)
  const events = timeline.data ?? []
  const uses = events.filter((e) => e.action === 'grant.use').length
  return (
    <Panel
      title="Timeline"
      description="From this org’s audit log: the grant’s request, decisions and end, every use of it, and what each use did."
    >
      <Stack gap="sm">
        <ListStatus query={timeline} noun="the timeline" refusal="You cannot read this org’s audit log" />
        {timeline.isSuccess ? (
          <>
            <Text size="sm">{uses === 1 ? 'Used once.' : `Used ${uses} times.`}</Text>
            <Button
              variant="default"
              size="xs"
              w="fit-content"
              onClick={() => void timeline.refetch()}
              loading={timeline.isRefetching}
            >
              Refresh the timeline
            </Button>
            <ListTable striped label="Timeline" columns={['Time', 'Action', 'Target', 'Outcome']}>
              {events.map((e) => (
                <Table.Tr key={e.id}>
                  <Table.Td>{when(e.time)}</Table.Td>
                  <Table.Td>{e.action}</Table.Td>
                  <Table.Td>{targetOf(e, names)}</Table.Td>
                  <Table.Td>
                    <Badge variant="outline" color="dark">
                      {e.outcome}
                    </Badge>
                  </Table.Td>
                </Table.Tr>
              ))}
            </ListTable>
          </>
        ) : null}
      </Stack>
    </Panel>
  )
}
