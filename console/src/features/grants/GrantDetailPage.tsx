import { useState } from 'react'
import { Anchor, Badge, Button, Container, Group, Stack, Table, Text, Title } from '@mantine/core'
import { Link, useParams } from 'react-router'
import { ListStatus, LoadMore } from '../../components/ListStatus.tsx'
import { ListTable } from '../../components/ListTable.tsx'
import { Notice } from '../../components/Notice.tsx'
import { PageLoader } from '../../components/PageLoader.tsx'
import { Panel } from '../../components/Panel.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { PermissionName, PermissionScope } from '../../components/PermissionScope.tsx'
import { describeAction, oneOf } from '../../lib/describe.ts'
import { when } from '../../lib/format.ts'
import { describeAttempt, describeRoute } from '../../lib/routes.ts'
import { useGrant, useGrantTimeline, useSecretNames, type Grant, type TimelineEvent } from './api.ts'
import { DecisionDialog, type Decision } from './DecisionDialog.tsx'
import { approvalCount, approvedBy, approverName, days, GrantStatus, otherApprovers } from './ui.tsx'
import { useSelfId } from '../../lib/self.ts'
import { useGrantAllows } from '../../lib/acting.ts'

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
                  <Text size="sm">
                    You approved it; another person who may approve grants must approve too.{' '}
                    {otherApprovers(grant.data)}
                  </Text>
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
          <Table.Td>
            <PermissionScope permissions={grant.permissions} />
          </Table.Td>
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
            {grant.startsAt !== null
              ? `${when(grant.startsAt)} until ${when(grant.expiresAt)}`
              : grant.status === 'pending'
                ? 'not yet: it starts when approved'
                : 'never: it was not approved'}
          </Table.Td>
        </Table.Tr>
        {grant.status === 'denied' ? (
          <Table.Tr>
            <Table.Th scope="row">Denied</Table.Th>
            <Table.Td>
              {decider(grant.decidedByEmail, grant.decidedBy)}, {when(grant.decidedAt)}
              {grant.decisionNote === null ? '' : `: “${grant.decisionNote}”`}
            </Table.Td>
          </Table.Tr>
        ) : null}
        {grant.endedAt !== null ? (
          <Table.Tr>
            <Table.Th scope="row">Ended</Table.Th>
            <Table.Td>
              {grant.status === 'revoked'
                ? `Revoked by ${decider(grant.endedByEmail, grant.endedBy)}`
                : grant.status === 'withdrawn'
                  ? `Withdrawn by ${grant.grantee.email}`
                  : grant.status}
              , {when(grant.endedAt)}
              {grant.endNote === null ? '' : `: “${grant.endNote}”`}
            </Table.Td>
          </Table.Tr>
        ) : null}
      </Table.Tbody>
    </Table>
  )
}

/** Who decided or ended a grant: their email, or — someone no longer a member, or the system — in words. */
function decider(email: string | null, ref: string | null): string {
  if (email !== null) return email
  if (ref === null || ref.startsWith('system')) return 'the system'
  return ref.startsWith('user:') ? 'a former member' : 'a service account'
}

/**
 * What an event was about, in words: the request a use made (naming the secret it touched
 * when that is one the grant names), the grant itself, a secret by its name; never an id.
 */
function targetOf(event: TimelineEvent, grant: Grant, names: Map<string, string>): string {
  if (event.action === 'grant.use' && typeof event.details.route === 'string') {
    const secretId = event.details.secretId
    const name = typeof secretId === 'string' ? names.get(secretId) : undefined
    return event.outcome === 'denied'
      ? describeAttempt(event.details.route, name)
      : describeRoute(event.details.route, name)
  }
  // A request beyond the grant's scope, refused: by what it attempted (its target is the route).
  // A 404 within the scope is a thing the org does not have (no SSO set up): said so.
  if (event.action === 'access.denied' && event.target?.type === 'route' && event.target.id !== null)
    return event.details.status === 404
      ? `${describeAttempt(event.target.id)}: none there`
      : describeAttempt(event.target.id)
  if (event.target === null) return '—'
  if (event.target.id === grant.id) return 'this grant'
  const name = event.target.type === 'secret' && event.target.id !== null ? names.get(event.target.id) : undefined
  return name === undefined ? oneOf(event.target.type) : `secret ${name}`
}

function Timeline({ orgId, grant }: { orgId: string; grant: Grant }) {
  const timeline = useGrantTimeline(orgId, grant)
  const auditAllowed = useGrantAllows(orgId, 'audit:read')
  const names = useSecretNames(orgId, grant.secretIds)
  const pages = timeline.data?.pages ?? []
  // Pages meet at their edges: an event read twice is shown once, newest first.
  const seen = new Set<string>()
  const events = pages
    .flatMap((p) => p.events)
    .filter((e) => !seen.has(e.id) && seen.add(e.id))
    .sort((a, b) => b.time.localeCompare(a.time))
  // A use is a request the grant let through; a refused attempt is one it did not (ended,
  // or beyond its scope; not a 404 for a thing the org does not have): counted apart.
  const uses = events.filter((e) => e.action === 'grant.use' && e.outcome === 'success').length
  const refused = events.filter(
    (e) =>
      e.outcome === 'denied' &&
      (e.action === 'grant.use' || (e.action === 'access.denied' && e.details.status !== 404)),
  ).length
  const cut = pages.some((p) => p.cut)
  return (
    <Panel
      title="Timeline"
      description="From this org’s audit log: the grant’s request, decisions and end, every use of it, and what each use did."
    >
      <Stack gap="sm">
        {auditAllowed ? null : (
          <Text size="sm" c="dimmed">
            The timeline is read from the org’s audit log, which needs <PermissionName permission="audit:read" />: the
            grant you act under does not hold it.
          </Text>
        )}
        <ListStatus query={timeline} noun="the timeline" refusal="You cannot read this org’s audit log" />
        {timeline.isSuccess ? (
          <>
            <Text size="sm">{usesSummary(uses, refused, timeline.hasNextPage)}</Text>
            {cut ? (
              <Text size="sm" role="note">
                The operator did more under this grant in part of this time than one read shows: every use is listed,
                not everything each did.{' '}
                <Anchor component={Link} to={`/orgs/${orgId}/audit?actor=${grant.grantee.userId}`}>
                  The audit log holds all of it
                </Anchor>
                .
              </Text>
            ) : null}
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
                  <Table.Td>{describeAction(e.action)}</Table.Td>
                  <Table.Td>{targetOf(e, grant, names)}</Table.Td>
                  <Table.Td>
                    <Badge variant="outline" color="dark">
                      {e.outcome}
                    </Badge>
                  </Table.Td>
                </Table.Tr>
              ))}
            </ListTable>
            <LoadMore query={timeline} label="Load earlier events" />
          </>
        ) : null}
      </Stack>
    </Panel>
  )
}

/**
 * The timeline's count in words: "Used once; 2 attempts refused.", "Never used.", or — when
 * earlier events are not loaded yet — the counts so far.
 */
function usesSummary(uses: number, refused: number, more: boolean): string {
  const used = uses === 0 ? 'Never used' : uses === 1 ? 'Used once' : `Used ${uses} times`
  const attempts = refused === 0 ? '' : `; ${refused === 1 ? '1 attempt' : `${refused} attempts`} refused`
  return more
    ? `${used}${attempts} so far in the newest events; load earlier events for the rest.`
    : `${used}${attempts}.`
}
