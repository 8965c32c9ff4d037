import { useState } from 'react'
import { Anchor, Container, Stack, Table, Text, Title } from '@mantine/core'
import { Link, useParams } from 'react-router'
import { ConfirmDialog } from '../../components/ConfirmDialog.tsx'
import { ListStatus, LoadMore } from '../../components/ListStatus.tsx'
import { ListTable, RowAction } from '../../components/ListTable.tsx'
import { Notice } from '../../components/Notice.tsx'
import { PermissionWords } from '../../components/PermissionScope.tsx'
import { when } from '../../lib/format.ts'
import { useLeastPrivilege, useReviewActions, useSelfId, type PrivilegeEntry } from './api.ts'
import { REVOKES } from './DecisionDialog.tsx'
import { ReasonField } from '../../components/ReasonField.tsx'
import { counted } from '../../lib/plural.ts'

/** What the session may do from the report; the API still decides every call. */
export interface LeastPrivilegePermissions {
  /** reviews:decide: record a suggestion as the open review's decision. */
  decide: boolean
  /** members:update: change a member's role directly. */
  changeRole: boolean
  /** members:remove: remove a member directly. */
  removeMember: boolean
  /** service_accounts:manage: change a service account's role, or delete it, directly. */
  manageServiceAccounts: boolean
}

/**
 * The one step that turns a suggestion into a decision: in the org's open access review
 * when it lists the principal undecided (the report's `reviewItem`), else directly through
 * the members or service-accounts API.
 */
type Step =
  | { via: 'review'; decision: 'reduce'; role: string }
  | { via: 'review'; decision: 'revoke' }
  | { via: 'members'; change: 'role'; role: string }
  | { via: 'members'; change: 'remove' }
  | { via: 'service-accounts'; change: 'role'; role: string }
  | { via: 'service-accounts'; change: 'delete' }

function stepOf(entry: PrivilegeEntry): Step | null {
  if (entry.suggestedRole !== null) {
    if (entry.reviewItem !== null) return { via: 'review', decision: 'reduce', role: entry.suggestedRole }
    return entry.kind === 'member'
      ? { via: 'members', change: 'role', role: entry.suggestedRole }
      : { via: 'service-accounts', change: 'role', role: entry.suggestedRole }
  }
  if (!entry.suggestRemoval) return null
  if (entry.reviewItem !== null) return { via: 'review', decision: 'revoke' }
  return entry.kind === 'member' ? { via: 'members', change: 'remove' } : { via: 'service-accounts', change: 'delete' }
}

/** The permission a step needs (as the API checks it). */
function permissionOf(step: Step): keyof LeastPrivilegePermissions {
  if (step.via === 'review') return 'decide'
  if (step.via === 'service-accounts') return 'manageServiceAccounts'
  return step.change === 'role' ? 'changeRole' : 'removeMember'
}

const PERMISSION_NAME: Record<keyof LeastPrivilegePermissions, string> = {
  decide: 'reviews:decide',
  changeRole: 'members:update',
  removeMember: 'members:remove',
  manageServiceAccounts: 'service_accounts:manage',
}

/** The button's word, and its name for the row (its word first, as the visible text must be part of the name). */
function buttonOf(step: Step, entry: PrivilegeEntry): { text: string; label: string } {
  if ('role' in step) return { text: `Reduce to ${step.role}`, label: `Reduce to ${step.role}: ${entry.label}` }
  return { text: 'Remove access', label: `Remove access: ${entry.label}` }
}

/**
 * The least-privilege report (P2.3): per member and service account, the permissions its
 * role holds against those it used in the last 90 days, and the suggestion — a narrower
 * role, or removal when nothing was used — with one step to make it a decision.
 */
export function LeastPrivilegePage({ can }: { can: LeastPrivilegePermissions }) {
  const { orgId = '' } = useParams()
  const report = useLeastPrivilege(orgId)
  const selfId = useSelfId()
  const all = report.data?.pages.flatMap((p) => p.principals) ?? []
  const first = report.data?.pages[0]
  const [acting, setActing] = useState<{ entry: PrivilegeEntry; step: Step } | null>(null)
  const [notice, setNotice] = useState<string | null>(null)

  return (
    <Container size="xl" py="md">
      <Title order={1} mb="md">
        Least privilege
      </Title>
      <Stack gap="sm">
        <Text size="sm">
          What each member and service account may do against what it did
          {first === undefined ? '' : ` in the last ${first.windowDays} days (as of ${when(first.generatedAt)})`}. A
          suggestion becomes a decision in one step: in the open{' '}
          <Anchor component={Link} to={`/orgs/${orgId}/access-reviews`}>
            access review
          </Anchor>{' '}
          when it lists the principal undecided, otherwise as a direct change.
        </Text>
        <Notice message={notice} onClose={() => setNotice(null)} />
        <ListStatus
          query={report}
          noun="the least-privilege report"
          refusal="You cannot see the least-privilege report"
          empty={{ when: all.length === 0, text: 'Nobody has access to this org.' }}
        />
        {all.length > 0 ? (
          <ListTable
            striped
            label="Least privilege"
            columns={['Principal', 'Role', 'Used', 'Unused', 'Last activity', 'Suggestion', 'One step']}
          >
            {all.map((entry) => {
              const step = stepOf(entry)
              const self = entry.kind === 'member' && entry.id === selfId
              return (
                <Table.Tr key={`${entry.kind}:${entry.id}`}>
                  <Table.Td>
                    {entry.label}
                    {self ? ' (you)' : ''}
                    <Text size="xs" c="dimmed">
                      {entry.kind === 'member' ? 'member' : 'service account'}
                    </Text>
                  </Table.Td>
                  <Table.Td>{entry.role}</Table.Td>
                  <Table.Td>
                    {entry.used.length} of {entry.granted.length}
                    {entry.used.length > 0 ? <PermissionWords permissions={entry.used} /> : null}
                  </Table.Td>
                  <Table.Td>{entry.unused.length}</Table.Td>
                  <Table.Td>{when(entry.lastActivityAt)}</Table.Td>
                  <Table.Td>
                    <Suggestion entry={entry} />
                  </Table.Td>
                  <Table.Td>
                    {step === null ? (
                      '—'
                    ) : self ? (
                      <Text size="xs">Your own access is decided by someone else.</Text>
                    ) : can[permissionOf(step)] ? (
                      <>
                        <RowAction
                          label={buttonOf(step, entry).label}
                          color={'role' in step ? undefined : 'red.9'}
                          onClick={() => setActing({ entry, step })}
                        >
                          {buttonOf(step, entry).text}
                        </RowAction>
                        <Text size="xs" c="dimmed">
                          {step.via === 'review' ? 'in the open review' : 'directly'}
                        </Text>
                      </>
                    ) : (
                      <Text size="xs">Needs {PERMISSION_NAME[permissionOf(step)]}.</Text>
                    )}
                  </Table.Td>
                </Table.Tr>
              )
            })}
          </ListTable>
        ) : null}
        <LoadMore query={report} />
      </Stack>
      <StepDialog orgId={orgId} acting={acting} onClose={() => setActing(null)} onDone={setNotice} />
    </Container>
  )
}

function Suggestion({ entry }: { entry: PrivilegeEntry }) {
  if (entry.suggestedRole !== null)
    return (
      <Text size="sm">
        Reduce to <strong>{entry.suggestedRole}</strong>
      </Text>
    )
  if (entry.suggestRemoval) return <Text size="sm">Nothing used: remove?</Text>
  return <Text size="sm">Fits</Text>
}

/** What the step changes, in words, exactly. */
function sentence(entry: PrivilegeEntry, step: Step): string {
  if (step.via === 'review')
    return step.decision === 'reduce'
      ? `Records in the open access review the decision “reduce ${entry.label} from ${entry.role} to ${step.role}”: ${entry.label}’s role changes from ${entry.role} to ${step.role} at once.`
      : `Records in the open access review the decision “revoke ${entry.label}”: ${REVOKES[entry.kind](entry.label)}`
  if (step.via === 'service-accounts')
    return step.change === 'role'
      ? `No open access review lists ${entry.label} undecided, so this is a direct change: the service account ${entry.label} goes from ${entry.role} to ${step.role}, and its tokens carry the narrower role’s permissions from their next use.`
      : `No open access review lists ${entry.label} undecided, so this is a direct change: the service account ${entry.label} and its tokens are deleted at once.`
  return step.change === 'role'
    ? `No open access review lists ${entry.label} undecided, so this is a direct change: ${entry.label}’s role changes from ${entry.role} to ${step.role} on their next request.`
    : `No open access review lists ${entry.label} undecided, so this is a direct change: ${entry.label} is removed from the org, and their sessions and API tokens here end at once.`
}

function StepDialog({
  orgId,
  acting,
  onClose,
  onDone,
}: {
  orgId: string
  acting: { entry: PrivilegeEntry; step: Step } | null
  onClose: () => void
  onDone: (message: string) => void
}) {
  const actions = useReviewActions(orgId)
  const [reason, setReason] = useState('')
  const close = () => {
    setReason('')
    onClose()
  }
  const step = acting?.step
  const entry = acting?.entry
  return (
    <ConfirmDialog
      opened={acting !== null}
      onClose={close}
      title={entry === undefined ? '' : `Apply the suggestion for ${entry.label}?`}
      confirmLabel={step === undefined ? '' : 'role' in step ? `Reduce to ${step.role}` : 'Remove access'}
      danger={step !== undefined && !('role' in step)}
      onConfirm={async () => {
        if (acting === null) return
        const { entry: e, step: s } = acting
        if (s.via === 'review' && e.reviewItem !== null) {
          const decided = await actions.decide(e.reviewItem.reviewId, e.reviewItem.itemId, {
            decision: s.decision,
            ...(s.decision === 'reduce' ? { role: s.role } : {}),
            reason,
          })
          onDone(`Recorded in the open access review for ${e.label}: ${decided.outcome ?? s.decision}.`)
        } else if (s.via === 'members' && s.change === 'role') {
          await actions.changeRole(e.id, s.role)
          onDone(`${e.label}’s role is now ${s.role}.`)
        } else if (s.via === 'members') {
          const removed = await actions.removeMember(e.id)
          onDone(
            `${e.label} is removed: ${counted(removed.revokedSessions, 'session')} and ${counted(removed.revokedTokens, 'token')} revoked.`,
          )
        } else if (s.via === 'service-accounts' && s.change === 'role') {
          await actions.changeServiceAccountRole(e.id, s.role)
          onDone(`The service account ${e.label}’s role is now ${s.role}.`)
        } else {
          await actions.deleteServiceAccount(e.id)
          onDone(`The service account ${e.label} is deleted.`)
        }
        setReason('')
      }}
    >
      {entry === undefined || step === undefined ? null : (
        <Stack gap="sm">
          <Text size="sm">{sentence(entry, step)}</Text>
          {step.via === 'review' && entry.reviewItem !== null ? (
            <>
              <Anchor component={Link} to={`/orgs/${orgId}/access-reviews/${entry.reviewItem.reviewId}`} size="sm">
                The open access review
              </Anchor>
              <ReasonField value={reason} onChange={setReason} />
            </>
          ) : (
            <Text size="xs" c="dimmed">
              No reason is kept for a role change; the change itself is in the org’s audit log.
            </Text>
          )}
        </Stack>
      )}
    </ConfirmDialog>
  )
}
