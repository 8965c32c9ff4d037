import type { ColumnType, Generated } from 'kysely'

/** Kysely table types for the personal-data vault (see migrations/0011_privacy.ts). */
export interface SubjectKeysTable {
  org_id: string
  subject_ref: Uint8Array
  key_id: string
  kek_version: number | null
  wrapped_key: Uint8Array | null
  restricted_at: Date | null
  created_at: Generated<Date>
  shredded_at: Date | null
  /** The shred-ring key sealing this row (null: from before the ring). */
  ring_bucket: number | null
  ring_epoch: number | null
}

export interface ShredRingEpochsTable {
  bucket: number
  epoch: number
  state: 'active' | 'retiring' | 'retired'
  created_at: Generated<Date>
  retiring_since: Date | null
  retired_at: Date | null
}

export interface DataRecordsTable {
  id: string
  org_id: string
  subject_ref: Uint8Array
  data_class: string
  tags: string[]
  ciphertext: Uint8Array
  created_at: Date
  updated_at: Date
}

export interface RetentionPoliciesTable {
  org_id: string
  data_class: string
  /** null: kept until erased. */
  retain_seconds: number | null
  updated_at: Generated<Date>
  updated_by: string
}

export interface RetentionClassProof {
  dataClass: string
  retainSeconds: number | null
  purged: number
  remaining: number
  oldestRemainingAgeSeconds: number | null
}

export interface RetentionRunsTable {
  id: string
  org_id: string
  ran_at: Date
  purged: number
  classes: ColumnType<RetentionClassProof[], string, string>
}

export interface AuditPersonalTable {
  event_id: string
  org_id: string
  subject_ref: Uint8Array
  sealed: Uint8Array
}

export type RequestKind = 'access' | 'rectify' | 'erase' | 'restrict' | 'lift_restriction'
export type RequestStatus = 'open' | 'in_progress' | 'completed' | 'rejected'

export interface OrgPrivacyPoliciesTable {
  org_id: string
  response_hours: Generated<number>
  export_hours: Generated<number>
  updated_at: Generated<Date>
  updated_by: string
}

export interface PrivacyRequestsTable {
  id: string
  org_id: string
  kind: RequestKind
  subject_ref: Uint8Array
  /** Subject id and requester, sealed with the subject's key; null once erased. */
  sealed: Uint8Array | null
  status: RequestStatus
  received_at: Date
  due_at: Date
  assignee_user_id: string | null
  verification: ColumnType<Record<string, unknown> | null, string | null, string | null>
  result: ColumnType<Record<string, unknown> | null, string | null, string | null>
  completed_at: Date | null
  due_soon_notified_at: Date | null
  overdue_notified_at: Date | null
}

export interface PrivacyRequestEventsTable {
  id: string
  request_id: string
  org_id: string
  at: Date
  actor: string
  event: string
  details: ColumnType<Record<string, unknown>, string, string>
}

export interface PrivacyExportsTable {
  id: string
  org_id: string
  request_id: string
  subject_ref: Uint8Array
  sealed: Uint8Array | null
  created_at: Date
  expires_at: Date
  downloads: Generated<number>
}

export interface ErasureCertificatesTable {
  id: string
  org_id: string
  request_id: string
  jws: string
  issued_at: Date
  /** The `privacy.erasure.certificate` event the certificate names (null: issued before receipts). */
  audit_event_id: string | null
}

export interface ShredRingPendingTable {
  bucket: number
  epoch: number
  requested_at: Generated<Date>
}

export interface OrgOffboardingsTable {
  org_id: string
  org_name: string
  status: 'scheduled' | 'cancelled' | 'completed'
  requested_at: Date
  requested_by: string
  scheduled_for: Date
  cancelled_at: Date | null
  cancelled_by: string | null
  completed_at: Date | null
  erased: ColumnType<Record<string, unknown> | null, string | null, string | null>
  certificate: string | null
  /** The log (the provider org) and event (`org.offboarding.complete`) the certificate names. */
  audit_org_id: string | null
  audit_event_id: string | null
}

export interface PrivacyTables {
  shred_ring_pending: ShredRingPendingTable
  org_offboardings: OrgOffboardingsTable
  shred_ring_epochs: ShredRingEpochsTable
  org_privacy_policies: OrgPrivacyPoliciesTable
  privacy_requests: PrivacyRequestsTable
  privacy_request_events: PrivacyRequestEventsTable
  privacy_exports: PrivacyExportsTable
  erasure_certificates: ErasureCertificatesTable
  subject_keys: SubjectKeysTable
  data_records: DataRecordsTable
  retention_policies: RetentionPoliciesTable
  retention_runs: RetentionRunsTable
  audit_personal: AuditPersonalTable
}
