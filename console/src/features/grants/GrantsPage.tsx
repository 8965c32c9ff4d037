import { useState, type SyntheticEvent } from 'react'
import {
  Alert,
  Anchor,
  Button,
  Container,
  Group,
  NativeSelect,
  NumberInput,
  Stack,
  Table,
  Text,
  Title,
} from '@mantine/core'
import { Link, useParams } from 'react-router'
import { ActionProblem } from '../../components/ActionProblem.tsx'
import { PermissionName, PermissionScope } from '../../components/PermissionScope.tsx'
import { useGrantAllows } from '../../lib/acting.ts'
import { ListStatus, LoadMore } from '../../components/ListStatus.tsx'
import { ListTable, RowAction } from '../../components/ListTable.tsx'
import { Notice } from '../../components/Notice.tsx'
import { Panel } from '../../components/Panel.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { useAction } from '../../lib/action.ts'
import { when } from '../../lib/format.ts'
import { useApprovers, useGrantActions, useGrantPolicy, useGrants, type Grant } from './api.ts'
import { DecisionDialog, type Decision } from './DecisionDialog.tsx'
import { approvalCount, approvedBy, approverName, days, GrantStatus, NamedSecrets, otherApprovers } from './ui.tsx'
import { useSelfId } from '../../lib/self.ts'
import { counted } from '../../lib/plural.ts'

/** What the session may do here, as GET /v1/me lists it; the API still decides every call. */
export interface GrantsPermissions {
  /** org:security: change the grant policy. */
  setPolicy: boolean
  /** grants:approve: approve or deny a pending request from the list. */
  approve: boolean
  /** grants:revoke: revoke an active grant from the list. */
  revoke: boolean
}

/**
 * Diagnostic access (P2.8): what provider staff asked of this org — pending requests first,
 * then current and past grants — each with its operator, reason, scope and duration; a
 * grant's own page has its decisions and its timeline. Beside the list, the org's grant
 * policy (the longest grant, the approvals needed), changed by those with org:security.
 */
export function GrantsPage({ can }: { can: GrantsPermissions }) {
  const { orgId = '' } = useParams()
  const grants = useGrants(orgId)
  const all = grants.data?.pages.flatMap((p) => p.grants) ?? []
  const pending = all.filter((g) => g.status === 'pending')
  const others = all.filter((g) => g.status !== 'pending')
  const [deciding, setDeciding] = useState<{ grant: Grant; decision: Decision } | null>(null)
  const [notice, setNotice] = useState<string | null>(null)

  return (
    <Container size="lg" py="md">
      <Title order={1} mb="md">
        Diagnostic access
      </Title>
      <Stack gap="lg">
        <Text size="sm">
          Provider staff see nothing in this org unless you approve a request, for its duration, within its scope; every
          use is in the org’s audit log, and you can revoke a grant at any moment.
        </Text>
        <Notice message={notice} onClose={() => setNotice(null)} />
        <ListStatus
          query={grants}
          noun="diagnostic access grants"
          refusal="You cannot see the diagnostic access asked of this org"
          empty={{ when: all.length === 0, text: 'No diagnostic access has been asked of this org.' }}
        />
        {pending.length > 0 ? (
          <GrantTable
            orgId={orgId}
            label="Pending requests"
            grants={pending}
            onDecide={can.approve ? (grant, decision) => setDeciding({ grant, decision }) : undefined}
          />
        ) : all.length > 0 ? (
          <Text c="dimmed">No request waits for a decision.</Text>
        ) : null}
        {others.length > 0 ? (
          <GrantTable
            orgId={orgId}
            label="Grants"
            grants={others}
            onDecide={can.revoke ? (grant, decision) => setDeciding({ grant, decision }) : undefined}
          />
        ) : null}
        <LoadMore query={grants} />
        <PolicyPanel orgId={orgId} canSetPolicy={can.setPolicy} />
      </Stack>
      <DecisionDialog
        orgId={orgId}
        grant={deciding?.grant ?? null}
        decision={deciding?.decision ?? null}
        onClose={() => setDeciding(null)}
        onDone={setNotice}
      />
    </Container>
  )
}

/** Who else must approve a pending request, and who else can, in a few words for its row. */
function othersNeeded(grant: Grant, selfId: string | undefined): string {
  const who = otherApprovers(grant)
  return who === '' ? neededApprovals(grant, selfId) : `${neededApprovals(grant, selfId)} ${who}`
}

function neededApprovals(grant: Grant, selfId: string | undefined): string {
  const left = grant.requiredApprovals - grant.approvals.length
  const given = grant.approvals.length === 0 ? '' : `Approved by ${grant.approvals.map(approverName).join(', ')}. `
  if (approvedBy(grant, selfId))
    return `${given}You approved it: ${counted(left, 'more approval')} from another person who may approve grants opens it.`
  return left <= 1
    ? `${given}${grant.approvals.length === 0 ? 'One approval' : 'One more approval'} opens it.`
    : `${given}${counted(left, 'approval')} needed: after yours, another person who may approve grants (not the operator who asked).`
}

/**
 * Grants in a table; with `onDecide`, a pending row (for those with grants:approve) has
 * Approve and Deny and says who else must approve, an active row (grants:revoke) has Revoke.
 */
function GrantTable({
  orgId,
  label,
  grants,
  onDecide,
}: {
  orgId: string
  label: string
  grants: Grant[]
  onDecide?: ((grant: Grant, decision: 'approve' | 'deny' | 'revoke') => void) | undefined
}) {
  const selfId = useSelfId()
  return (
    <>
      <Title order={2} size="h4">
        {label}
      </Title>
      <ListTable
        striped
        label={label}
        columns={['Operator', 'Reason', 'Scope', 'Duration', 'Approvals', 'State', 'Until']}
      >
        {grants.map((g) => (
          <Table.Tr key={g.id}>
            <Table.Td>
              <Anchor
                component={Link}
                to={`/orgs/${orgId}/grants/${g.id}`}
                aria-label={`Grant to ${g.grantee.email}, requested ${when(g.requestedAt)}`}
              >
                {g.grantee.email}
              </Anchor>
              <Text size="xs" c="dimmed">
                requested {when(g.requestedAt)}
              </Text>
            </Table.Td>
            <Table.Td>
              <Anchor component={Link} to={`/orgs/${orgId}/grants/${g.id}`}>
                {g.reason}
              </Anchor>
            </Table.Td>
            <Table.Td>
              <PermissionScope permissions={g.permissions} />
              <NamedSecrets orgId={orgId} secretIds={g.secretIds} />
            </Table.Td>
            <Table.Td>{days(g.durationDays)}</Table.Td>
            <Table.Td>{approvalCount(g)}</Table.Td>
            <Table.Td>
              <GrantStatus status={g.status} />
              {onDecide !== undefined && g.status === 'active' ? (
                <Group gap={4} mt={4}>
                  <RowAction
                    color="red.9"
                    variant="outline"
                    label={`Revoke the grant to ${g.grantee.email}: ${g.reason}`}
                    onClick={() => onDecide(g, 'revoke')}
                  >
                    Revoke
                  </RowAction>
                </Group>
              ) : null}
              {onDecide === undefined || g.status !== 'pending' ? null : (
                <Stack gap={4} mt={4}>
                  <Group gap={4}>
                    {approvedBy(g, selfId) ? null : (
                      <RowAction
                        label={`Approve the request of ${g.grantee.email}: ${g.reason}`}
                        onClick={() => onDecide(g, 'approve')}
                      >
                        Approve
                      </RowAction>
                    )}
                    <RowAction
                      label={`Deny the request of ${g.grantee.email}: ${g.reason}`}
                      onClick={() => onDecide(g, 'deny')}
                    >
                      Deny
                    </RowAction>
                  </Group>
                  <Text size="xs" c="dimmed">
                    {othersNeeded(g, selfId)}
                  </Text>
                </Stack>
              )}
            </Table.Td>
            <Table.Td>
              {g.status === 'pending'
                ? `request lapses ${when(g.pendingUntil)} if unanswered`
                : g.endedAt !== null
                  ? `ended ${when(g.endedAt)}`
                  : g.expiresAt !== null
                    ? when(g.expiresAt)
                    : '—'}
            </Table.Td>
          </Table.Tr>
        ))}
      </ListTable>
    </>
  )
}

/** The org's grant policy; a form to change it for those with org:security (step-up). */
function PolicyPanel({ orgId, canSetPolicy }: { orgId: string; canSetPolicy: boolean }) {
  const policy = useGrantPolicy(orgId)
  const allowed = useGrantAllows(orgId, 'org:read')
  return (
    <Panel
      title="Grant policy"
      description="What this org approves: the longest grant, and how many people approve one."
    >
      {!allowed ? (
        <Text size="sm">
          Reading it needs <PermissionName permission="org:read" />, which the grant you act under does not hold.
        </Text>
      ) : policy.isPending ? (
        <Text size="sm">Loading the policy</Text>
      ) : null}
      <ProblemAlert error={policy.error} title="You cannot see the grant policy" />
      {policy.isSuccess ? (
        canSetPolicy ? (
          <PolicyForm orgId={orgId} maxDays={policy.data.maxDays} requiredApprovals={policy.data.requiredApprovals} />
        ) : (
          <Text size="sm">
            Grants of at most {days(policy.data.maxDays)}, each approved by{' '}
            {policy.data.requiredApprovals === 1 ? 'one person' : 'two people'}.
          </Text>
        )
      ) : null}
    </Panel>
  )
}

function PolicyForm({
  orgId,
  maxDays,
  requiredApprovals,
}: {
  orgId: string
  maxDays: number
  requiredApprovals: number
}) {
  const actions = useGrantActions(orgId)
  const [max, setMax] = useState<number | string>(maxDays)
  const [approvals, setApprovals] = useState(String(requiredApprovals))
  const [notice, setNotice] = useState<string | null>(null)
  const save = useAction()
  const approvers = useApprovers(orgId)
  const short = approvers !== undefined && approvers.length < Number(approvals)
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    setNotice(null)
    if (await save.run(() => actions.setPolicy({ maxDays: Number(max), requiredApprovals: Number(approvals) })))
      setNotice('Saved: new requests follow this policy.')
  }
  return (
    <form onSubmit={(event) => void submit(event)} noValidate>
      <Stack gap="sm">
        <ActionProblem error={save.error} title="Not saved" />
        <Notice message={notice} onClose={() => setNotice(null)} />
        <NumberInput
          label="Longest grant (days)"
          min={1}
          max={90}
          value={max}
          onChange={setMax}
          error={save.problem?.fieldError('maxDays')}
        />
        <NativeSelect
          label="Approvals required"
          data={[
            { value: '1', label: 'One person' },
            { value: '2', label: 'Two people (four eyes)' },
          ]}
          {...save.field('requiredApprovals', approvals, setApprovals)}
        />
        {short ? (
          <Alert color="yellow" role="status" title="Not enough approvers">
            {approvers.length === 0
              ? 'No member of this org may approve grants'
              : `Only ${approvers.map((a) => a.email).join(', ')} may approve grants`}
            : with {counted(Number(approvals), 'approval')} required, every request waits until it lapses. First give
            another member a role holding <PermissionName permission="grants:approve" />.
          </Alert>
        ) : null}
        <Group>
          <Button type="submit" loading={save.pending}>
            Save policy
          </Button>
        </Group>
      </Stack>
    </form>
  )
}
