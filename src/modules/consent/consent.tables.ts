import type { ColumnType } from 'kysely'

export type LawfulBasis =
  | 'consent'
  | 'explicit_consent'
  | 'contract'
  | 'legal_obligation'
  | 'vital_interests'
  | 'public_task'
  | 'legitimate_interests'
export type GpcEffect = 'none' | 'opt_out'
export type ConsentAction =
  | 'grant'
  | 'deny'
  | 'withdraw'
  | 'expire'
  | 'object'
  | 'objection_upheld'
  | 'objection_rejected'
export type ConsentMethod = 'form' | 'button' | 'api' | 'gpc' | 'double_opt_in' | 'import' | 'staff'
export type ConsentStateName =
  | 'granted'
  | 'denied'
  | 'withdrawn'
  | 'expired'
  | 'objection_pending'
  | 'objected'
  | 'objection_rejected'
export type ObjectionStatus = 'pending' | 'upheld' | 'rejected'

/** A text array column: read as an array, written as one. */
type TextArray = ColumnType<string[], string[], string[]>

/** Migration 0041. */
export interface ConsentPurposesTable {
  id: string
  org_id: string
  key: string
  name: string
  description: string
  data_categories: TextArray
  recipients: TextArray
  lawful_basis: LawfulBasis
  direct_marketing: boolean
  gpc_effect: GpcEffect
  lifetime_days: number | null
  reconsent_from_version: number | null
  created_at: Date
  created_by: string
  updated_at: Date
}

export interface ConsentNoticesTable {
  id: string
  org_id: string
  version: number
  language: string
  text: string
  sha256: string
  purposes: TextArray
  material_change: boolean
  published_at: Date
  published_by: string
}

export interface ConsentEventsTable {
  id: string
  org_id: string
  subject_ref: Buffer
  subject_key_id: string
  purpose_id: string
  action: ConsentAction
  lawful_basis: LawfulBasis
  notice_version: number | null
  notice_sha256: string | null
  method: ConsentMethod
  collected_at: Date
  received_at: Date
  actor_type: string
  actor_id: string | null
  recorded_by: string
  app_event_id: string | null
  fingerprint: Buffer | null
  source_event_id: string | null
  objection_id: string | null
  evidence_commitment: string | null
  gpc_conflict: boolean
  expires_at: Date | null
}

export interface ConsentStateTable {
  org_id: string
  subject_ref: Buffer
  purpose_id: string
  subject_key_id: string
  state: ConsentStateName
  lawful_basis: LawfulBasis
  event_id: string
  notice_version: number | null
  expires_at: Date | null
  updated_at: Date
}

export interface ConsentObjectionsTable {
  id: string
  org_id: string
  subject_ref: Buffer
  subject_key_id: string
  purpose_id: string
  event_id: string
  opened_at: Date
  due_at: Date
  status: ObjectionStatus
  decided_at: Date | null
  decided_by: string | null
  grounds: string | null
  decision_event_id: string | null
}

export interface ConsentTables {
  consent_purposes: ConsentPurposesTable
  consent_notices: ConsentNoticesTable
  consent_events: ConsentEventsTable
  consent_state: ConsentStateTable
  consent_objections: ConsentObjectionsTable
}
