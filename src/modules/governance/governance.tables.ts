import type { Generated } from 'kysely'

/** Kysely table types for access governance (see migrations/0009_governance.ts). */
export interface OrgGrantPoliciesTable {
  org_id: string
  max_days: Generated<number>
  required_approvals: Generated<number>
  updated_at: Generated<Date>
  updated_by: string
}

export type StoredGrantStatus = 'pending' | 'approved' | 'denied' | 'revoked' | 'withdrawn'

export interface AccessGrantsTable {
  id: string
  org_id: string
  grantee_user_id: string
  grantee_email: string
  reason: string
  permissions: string[]
  secret_ids: string[]
  duration_days: number
  required_approvals: number
  status: StoredGrantStatus
  requested_at: Date
  starts_at: Date | null
  expires_at: Date | null
  decided_at: Date | null
  decided_by: string | null
  decision_note: string | null
  ended_at: Date | null
  ended_by: string | null
}

export interface AccessGrantApprovalsTable {
  grant_id: string
  org_id: string
  approver_user_id: string
  approved_at: Date
}

export interface GovernanceTables {
  org_grant_policies: OrgGrantPoliciesTable
  access_grants: AccessGrantsTable
  access_grant_approvals: AccessGrantApprovalsTable
}
