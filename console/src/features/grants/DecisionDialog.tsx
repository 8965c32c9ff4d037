import { useState } from 'react'
import { Stack, Text } from '@mantine/core'
import { ConfirmDialog } from '../../components/ConfirmDialog.tsx'
import { ReasonField } from '../../components/ReasonField.tsx'
import { usePermissionLabels } from '../../lib/permission-labels.ts'
import { when } from '../../lib/format.ts'
import { useGrantActions, useSecretNames, type Grant } from './api.ts'
import { approvalCount, approverName, days, namedSecrets } from './ui.tsx'

export type Decision = 'approve' | 'deny' | 'revoke' | null

/** Who else must approve, in words: the approvals still needed, and who cannot give them. */
export function stillNeeded(grant: Grant): string {
  const left = grant.requiredApprovals - grant.approvals.length
  const given = grant.approvals.map(approverName)
  if (left <= 1)
    return given.length === 0
      ? 'Your approval opens the grant at once.'
      : `Approved already by ${given.join(', ')}: your approval, the last one needed, opens the grant at once.`
  return `This org requires ${grant.requiredApprovals} approvals: after yours, another person with the grants:approve permission (not ${grant.grantee.email}, who asked, and not you) must approve before anything opens.`
}

/** The secrets an approval lets the operator reveal, by name (by count while the names are unknown). */
function secretsLine(grant: Grant, names: ReadonlyMap<string, string>): string {
  if (grant.secretIds.length === 0) return ''
  return ` ${grant.secretIds.length === 1 ? 'The only secret' : 'The only secrets'} it may reveal: ${namedSecrets(grant.secretIds, names)}.`
}

/**
 * Approve, deny or revoke one grant, confirmed in a dialog that says what it does (and,
 * approving, who else must approve), with an optional note kept with that decision.
 */
export function DecisionDialog({
  orgId,
  grant,
  decision,
  onClose,
  onDone,
}: {
  orgId: string
  grant: Grant | null
  decision: Decision
  onClose: () => void
  onDone: (message: string) => void
}) {
  const actions = useGrantActions(orgId)
  const { label } = usePermissionLabels()
  const names = useSecretNames(orgId, grant?.secretIds ?? [])
  const [note, setNote] = useState('')
  const close = () => {
    setNote('')
    onClose()
  }
  const texts =
    grant === null
      ? null
      : {
          approve: {
            title: 'Approve this diagnostic access?',
            confirm: 'Approve access',
            text: `${grant.grantee.email} may, in this org, for ${days(grant.durationDays)}: ${grant.permissions.map((p) => label(p).toLowerCase()).join('; ')}.${secretsLine(grant, names)} ${stillNeeded(grant)}`,
          },
          deny: {
            title: 'Deny this request?',
            confirm: 'Deny request',
            text: `${grant.grantee.email} gets no access.`,
          },
          revoke: {
            title: 'Revoke this grant?',
            confirm: 'Revoke grant',
            text: `${grant.grantee.email}’s very next request under it is refused.`,
          },
        }
  const shown = decision === null || texts === null ? null : texts[decision]
  return (
    <ConfirmDialog
      opened={grant !== null && decision !== null}
      onClose={close}
      title={shown?.title ?? ''}
      confirmLabel={shown?.confirm ?? ''}
      danger={decision === 'revoke'}
      onConfirm={async () => {
        if (decision === null || grant === null) return
        const after = await actions.decide(grant.id, decision, note)
        onDone(
          decision === 'approve'
            ? after.status === 'active'
              ? `Approved: the grant runs until ${when(after.expiresAt)}.`
              : `Approved (${approvalCount(after)}): it needs another approver before anything opens.`
            : decision === 'deny'
              ? 'Denied: the operator gets no access.'
              : 'Revoked: the grant’s next use is refused.',
        )
        setNote('')
      }}
    >
      <Stack gap="sm">
        <Text size="sm">{shown?.text}</Text>
        <ReasonField
          label="Note (optional)"
          description="Kept with this decision and in the audit log; the operator is told."
          value={note}
          onChange={setNote}
        />
      </Stack>
    </ConfirmDialog>
  )
}
