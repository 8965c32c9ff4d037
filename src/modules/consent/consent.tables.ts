import type { ColumnType, Generated } from 'kysely'

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
  /** Migration 0044: the grace period after a material change, and when it ends. */
  reconsent_grace_days: number | null
  reconsent_since: Date | null
  reconsent_grace_until: Date | null
  reconsent_hard_version: number | null
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

/**
 * Subjects per state, purpose and notice version (0: none), kept by triggers on
 * `consent_state` and `subject_keys` (migration 0048); an org's count is the sum of its slots.
 */
export interface ConsentStateCountsTable {
  org_id: string
  purpose_id: string
  notice_version: number
  state: ConsentStateName
  slot: number
  /** bigint: PostgreSQL's driver answers it as text. */
  subjects: string | number
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
  /** Migration 0044: the deadline reminders. */
  due_soon_notified_at: Date | null
  overdue_notified_at: Date | null
}

/** Migration 0044: telling the host app, in batches, whom a material change affects. */
export interface ConsentReconsentRunsTable {
  id: string
  org_id: string
  purpose_id: string
  version: number
  since: Date
  grace_until: Date | null
  cursor_version: number | null
  cursor_ref: Buffer | null
  batches: number
  subjects: number
  created_at: Date
  done_at: Date | null
}

/** Migration 0046: the org's registry of recipients told of withdrawals (Art. 19). */
export interface ConsentRecipientsTable {
  id: string
  org_id: string
  name: string
  url: string
  secret_id: string
  /** Migration 0051: the vault version current before the last rotation of the signing secret. */
  previous_secret_version: number | null
  /** Migration 0051: until when deliveries are signed with that version too (24 h after the rotation). */
  previous_secret_until: Date | null
  /** The recipient's raw Ed25519 public key (32 bytes), to verify signed acknowledgements. */
  public_key: Buffer | null
  deadline_hours: number
  created_at: Date
  created_by: string
  updated_at: Date
}

/**
 * What a message to a recipient tells (migrations 0046, 0050): processing stops after
 * `withdraw`, `object`, `objection_upheld`, `expire` and `erasure` (the data are erased
 * too); `restrict` holds the data but stops processing them until `lift_restriction`;
 * `rectify` asks the recipient to fetch the corrected data (GDPR Art. 16–19).
 */
export type PropagationAction =
  | 'withdraw'
  | 'object'
  | 'objection_upheld'
  | 'erasure'
  | 'expire'
  | 'restrict'
  | 'lift_restriction'
  | 'rectify'

/** Migration 0046: one message to one recipient; its id is the webhook delivery's (`webhook-id`). */
export interface ConsentPropagationsTable {
  id: string
  org_id: string
  recipient_id: string
  recipient_name: string
  action: PropagationAction
  purposes: TextArray
  request_id: string | null
  token_hash: Buffer
  deadline_at: Date
  created_at: Date
  acknowledged_at: Date | null
  ack_signed: Generated<boolean>
  overdue_alerted_at: Date | null
}

export interface ConsentTables {
  consent_purposes: ConsentPurposesTable
  consent_notices: ConsentNoticesTable
  consent_events: ConsentEventsTable
  consent_state: ConsentStateTable
  consent_state_counts: ConsentStateCountsTable
  consent_objections: ConsentObjectionsTable
  consent_reconsent_runs: ConsentReconsentRunsTable
  consent_recipients: ConsentRecipientsTable
  consent_propagations: ConsentPropagationsTable
}
