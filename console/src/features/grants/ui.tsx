import { Anchor, Badge, Text } from '@mantine/core'
import { Link } from 'react-router'
import { useSecretNames, type Grant } from './api.ts'
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

/**
 * The secrets a grant names, in words: their names when this session can read them, else
 * how many (never an id): "billing-api, payments-db" or "1 named secret".
 */
export function namedSecrets(secretIds: string[], names: ReadonlyMap<string, string>): string {
  const known = secretIds.map((id) => names.get(id))
  return known.every((n) => n !== undefined) ? known.join(', ') : counted(secretIds.length, 'named secret')
}

/** The secrets a grant may reveal, each by name linking to its page (by count while the names are unknown). */
export function NamedSecrets({ orgId, secretIds }: { orgId: string; secretIds: string[] }) {
  const names = useSecretNames(orgId, secretIds)
  if (secretIds.length === 0) return null
  const all = secretIds.every((id) => names.has(id))
  return (
    <Text size="xs">
      {secretIds.length === 1 ? 'Named secret: ' : 'Named secrets: '}
      {all
        ? secretIds.map((id, i) => (
            <span key={id}>
              {i > 0 ? ', ' : ''}
              <Anchor component={Link} to={`/orgs/${orgId}/secrets/${id}`} size="xs">
                {names.get(id)}
              </Anchor>
            </span>
          ))
        : counted(secretIds.length, 'secret')}
    </Text>
  )
}

/**
 * Who else could give a pending grant the approvals it lacks, as the API answers it
 * (`otherApprovers`: members holding grants:approve and the permissions it asks for, other
 * than the signed-in person, the operator and those who approved), by email — the first
 * ones and how many more; or that no one else can (with four eyes and one approver, the
 * request would wait until it lapses). Empty when the API does not say (not pending, or
 * the caller cannot approve).
 */
export function otherApprovers(grant: Grant): string {
  const others = grant.otherApprovers
  if (others === undefined || grant.approvals.length >= grant.requiredApprovals) return ''
  if (others.count === 0)
    return 'No one else in this org can approve it: approving takes the permission to approve grants and every permission the grant asks for.'
  const more = others.count - others.emails.length
  return `Others who can approve: ${others.emails.join(', ')}${more > 0 ? ` and ${more} more` : ''}.`
}
