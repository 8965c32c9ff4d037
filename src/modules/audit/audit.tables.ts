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
}

/** The chain beside the events, one row per chained event, insert-only (migration 0023). */
export interface AuditChainTable {
  org_id: string
  seq: Int8
  /** `audit_events.id` of the event at `seq`. */
  id: Int8
  prev_hash: Uint8Array
  hash: Uint8Array
  chained_at: Generated<Date>
}

/** Events waiting for the sequencer; written with the event, emptied when it is chained. */
export interface AuditUnchainedTable {
  org_id: string
  id: Int8
}

export interface AuditHeadsTable {
  org_id: string
  seq: Int8
  hash: Uint8Array
  checkpoint_seq: Generated<Int8>
  checkpoint_at: Date | null
  /** Chained events the Merkle tree covers (migration 0025); equals `seq` once caught up. */
  tree_size: Generated<Int8>
  /** The tree's root at `tree_size`; null while empty. */
  root_hash: Uint8Array | null
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
  /** The Merkle tree's root at `seq`, the note's hash line; null on checkpoints signed before the tree. */
  root_hash: Generated<Uint8Array | null>
}

/** C2SP tlog-tiles of each org's Merkle tree, at their widest stored width (migration 0025). */
export interface AuditTilesTable {
  org_id: string
  level: number
  n: Int8
  hashes: Uint8Array
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
  audit_chain: AuditChainTable
  audit_unchained: AuditUnchainedTable
  audit_tiles: AuditTilesTable
  audit_heads: AuditHeadsTable
  audit_checkpoints: AuditCheckpointsTable
  audit_witness_deliveries: AuditWitnessDeliveriesTable
}
