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

export interface PrivacyTables {
  subject_keys: SubjectKeysTable
  data_records: DataRecordsTable
  retention_policies: RetentionPoliciesTable
  retention_runs: RetentionRunsTable
  audit_personal: AuditPersonalTable
}
