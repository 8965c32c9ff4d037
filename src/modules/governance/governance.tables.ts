import type { ColumnType, Generated } from 'kysely'

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
  /** The approval's (the last approver's) or the denial's note. */
  decision_note: string | null
  ended_at: Date | null
  ended_by: string | null
  /** The revocation's or withdrawal's note (migration 0040). */
  end_note: Generated<string | null>
}

export interface AccessGrantApprovalsTable {
  grant_id: string
  org_id: string
  approver_user_id: string
  approved_at: Date
  /** Each approver's own note, and who they are (migration 0040). */
  note: string | null
  approver_email: string | null
}

export interface AccessReviewPoliciesTable {
  org_id: string
  cadence_days: Generated<number>
  window_days: Generated<number>
  on_overdue: Generated<'remind' | 'revoke'>
  inactive_days: Generated<number>
  updated_at: Generated<Date>
  updated_by: string
}

export interface AccessReviewsTable {
  id: string
  org_id: string
  status: 'open' | 'closed'
  started_at: Date
  due_at: Date
  started_by: string
  closed_at: Date | null
  closed_by: string | null
  last_reminded_at: Date | null
  summary: ColumnType<Record<string, unknown> | null, string | null, string | null>
  /** Items of the campaign, and how many are decided: kept with each insert and decision (migration 0027). */
  items_total: Generated<number>
  items_decided: Generated<number>
}

export type ReviewItemKind = 'member' | 'service_account' | 'api_token' | 'grant'
export type ReviewDecision = 'certify' | 'revoke' | 'reduce'

export interface AccessReviewItemsTable {
  id: string
  review_id: string
  org_id: string
  kind: ReviewItemKind
  subject_id: string
  label: string
  role: string | null
  permissions: string[]
  used_permissions: string[]
  suggested_role: string | null
  last_activity_at: Date | null
  mfa_enabled: boolean | null
  inactive: boolean
  details: ColumnType<Record<string, unknown>, string, string>
  decision: ReviewDecision | null
  reduce_to: string | null
  decided_by: string | null
  decided_at: Date | null
  note: string | null
  outcome: string | null
}

export interface PermissionUsageTable {
  org_id: string
  principal_type: string
  principal_id: string
  permission: string
  last_used_at: Date
}

export interface GovernanceTables {
  org_grant_policies: OrgGrantPoliciesTable
  access_grants: AccessGrantsTable
  access_grant_approvals: AccessGrantApprovalsTable
  access_review_policies: AccessReviewPoliciesTable
  access_reviews: AccessReviewsTable
  access_review_items: AccessReviewItemsTable
  permission_usage: PermissionUsageTable
}
