import { Badge } from '@mantine/core'
import type { Grant } from './api.ts'
import { counted } from '../../lib/plural.ts'

/** A grant's state, in words (the API derives lapsed, active and expired from the clock). */
export function GrantStatus({ status }: { status: Grant['status'] }) {
  return (
    <Badge variant={status === 'active' || status === 'pending' ? 'filled' : 'outline'} color="dark">
      {status}
    </Badge>
  )
}

/** The approvals a grant has and needs: "1 of 2". */
export const approvalCount = (grant: Grant) => `${grant.approvals.length} of ${grant.requiredApprovals}`

/** Who approved, by the email the API keeps with the approval (its user id when it has none). */
export const approverName = (approval: Grant['approvals'][number]) => approval.email ?? approval.userId

/** A grant's duration: "7 days". */
export const days = (n: number) => counted(n, 'day')

/** Whether the signed-in person is among the grant's approvers (they cannot approve twice). */
export function approvedBy(grant: Grant, selfId: string | undefined): boolean {
  return selfId !== undefined && grant.approvals.some((a) => a.userId === selfId)
}
