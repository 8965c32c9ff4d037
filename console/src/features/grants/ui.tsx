import { Badge } from '@mantine/core'
import type { Grant } from './api.ts'

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

/** A grant's duration: "7 days". */
export const days = (n: number) => (n === 1 ? '1 day' : `${n} days`)
