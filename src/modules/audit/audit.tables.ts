import type { ColumnType, Generated } from 'kysely'

/** PostgreSQL int8, parsed to a JS number by both engines (db/connect.ts); exact to 2^53. */
export type Int8 = number

export interface AuditEventsTable {
  id: ColumnType<Int8, never, never>
  org_id: string
  event_id: string
  occurred_at: Date
  actor_type: string
  actor_id: string | null
  action: string
  /** The action's first segment (`org` of `org.offboarding.request`), kept by the database (migration 0024). */
  action_family: ColumnType<string, never, never>
  target_type: string | null
  target_id: string | null
  outcome: 'success' | 'denied' | 'failure'
  ip: string | null
  user_agent: string | null
  request_id: string | null
  details: ColumnType<Record<string, unknown>, string, string>
  seq: Int8 | null
  prev_hash: Uint8Array | null
  hash: Uint8Array | null
  chained_at: Date | null
}

export interface AuditHeadsTable {
  org_id: string
  seq: Int8
  hash: Uint8Array
  checkpoint_seq: Generated<Int8>
  checkpoint_at: Date | null
}

export interface AuditCheckpointsTable {
  org_id: string
  seq: Int8
  hash: Uint8Array
  signed_at: Date
  key_id: string
  signature: Uint8Array
  /** The checkpoint as a C2SP signed note; null on checkpoints signed before notes existed. */
  note: string | null
}

export type WitnessKind = 'webhooks' | 'https' | 'file'

/** Outbox of checkpoints to deliver to witnesses (audit.witness.ts). */
export interface AuditWitnessDeliveriesTable {
  id: string
  org_id: string
  seq: Int8
  witness: WitnessKind
  /** `skipped`: a `webhooks` row when no webhook of the org subscribes to `audit.checkpoint`. */
  status: Generated<'pending' | 'delivered' | 'failed' | 'skipped'>
  attempts: Generated<number>
  next_attempt_at: Generated<Date>
  last_error: string | null
  delivered_at: Date | null
  created_at: Generated<Date>
}

export interface AuditTables {
  audit_events: AuditEventsTable
  audit_heads: AuditHeadsTable
  audit_checkpoints: AuditCheckpointsTable
  audit_witness_deliveries: AuditWitnessDeliveriesTable
}
