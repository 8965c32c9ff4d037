import { useState } from 'react'
import { NativeSelect, Stack, Text } from '@mantine/core'
import { ConfirmDialog } from '../../components/ConfirmDialog.tsx'
import { ReasonField } from '../../components/ReasonField.tsx'
import { useReviewActions, useRoleNames, type Decision, type ReviewItem } from './api.ts'
import { holderName, KIND } from './ui.tsx'

/** What a revoke does to an item of each kind, as the API applies it. */
export const REVOKES: Record<ReviewItem['kind'], (label: string) => string> = {
  member: (label) => `${label}’s membership is removed: their sessions and API tokens in this org end at once.`,
  service_account: (label) => `The service account ${label} and its tokens are deleted at once.`,
  api_token: (label) => `The API token ${label} is revoked at once.`,
  grant: (label) => `The diagnostic access grant to ${label} ends at once.`,
}

/** The roles a member or service account may be reduced to: any but owner and the one held (the API refuses owner). */
export function reducibleRoles(
  roles: { name: string; permissions: readonly string[] }[] | undefined,
  held: string | null,
): string[] {
  const all = roles ?? []
  const holds = all.find((r) => r.name === held)?.permissions
  // The API takes only a narrower role (a proper part of the held role's permissions); with
  // no one role held (a bulk decision), every role but owner, each item answering for itself.
  return all
    .filter((r) => r.name !== 'owner' && r.name !== held)
    .filter(
      (r) =>
        holds === undefined || (r.permissions.length < holds.length && r.permissions.every((p) => holds.includes(p))),
    )
    .map((r) => r.name)
}

/**
 * One item's decision, confirmed in a dialog that says what it does, with a reason; reduce
 * picks the narrower role (the item's suggested one first). The API's refusal (your own
 * item, a decided one, a closed review) shows in the dialog.
 */
export function DecisionDialog({
  orgId,
  reviewId,
  item,
  decision,
  onClose,
  onDone,
  names = new Map(),
}: {
  orgId: string
  reviewId: string
  item: ReviewItem | null
  decision: Decision | null
  onClose: () => void
  onDone: (message: string) => void
  /** Service accounts by id, to name the one holding an API token. */
  names?: ReadonlyMap<string, string>
}) {
  const actions = useReviewActions(orgId)
  const roles = useRoleNames(orgId)
  const [reason, setReason] = useState('')
  const [role, setRole] = useState<string | null>(null)
  const options = reducibleRoles(roles.data, item?.role ?? null)
  const picked =
    role ?? (item?.suggestedRole !== null && item?.suggestedRole !== undefined ? item.suggestedRole : options[0])
  const close = () => {
    setReason('')
    setRole(null)
    onClose()
  }
  const open = item !== null && decision !== null
  // An API token by its holder too: two tokens may share a name.
  const label =
    item === null ? '' : item.kind === 'api_token' ? `“${item.label}” of ${holderName(item, names)}` : item.label
  const title =
    decision === 'certify'
      ? `Certify ${label}?`
      : decision === 'revoke'
        ? `Revoke ${label}?`
        : `Reduce ${label}’s role?`
  return (
    <ConfirmDialog
      opened={open}
      onClose={close}
      title={title}
      confirmLabel={decision === 'certify' ? 'Certify' : decision === 'revoke' ? 'Revoke access' : 'Reduce role'}
      danger={decision === 'revoke'}
      disabled={decision === 'reduce' && picked === undefined}
      onConfirm={async () => {
        if (item === null || decision === null) return
        const decided = await actions.decide(reviewId, item.id, {
          decision,
          ...(decision === 'reduce' && picked !== undefined ? { role: picked } : {}),
          reason,
        })
        onDone(`${label}: ${decided.decision ?? decision}, ${decided.outcome ?? 'recorded'}.`)
        setReason('')
        setRole(null)
      }}
    >
      {item === null ? null : (
        <Stack gap="sm">
          <Text size="sm">
            {decision === 'certify'
              ? `${label} (${KIND[item.kind]}${item.role === null ? '' : `, ${item.role}`}) keeps this access.`
              : decision === 'revoke'
                ? REVOKES[item.kind](label)
                : item.kind === 'service_account'
                  ? `The service account ${label} goes from ${item.role ?? 'none'} to ${picked ?? '…'} at once: its tokens carry the narrower role’s permissions from their next use.`
                  : `${label}’s role changes from ${item.role ?? 'none'} to ${picked ?? '…'} at once.`}
          </Text>
          {decision === 'reduce' ? (
            <NativeSelect
              label="Reduce to"
              data={options}
              value={picked ?? ''}
              onChange={(e) => setRole(e.currentTarget.value)}
            />
          ) : null}
          <ReasonField value={reason} onChange={setReason} />
        </Stack>
      )}
    </ConfirmDialog>
  )
}
