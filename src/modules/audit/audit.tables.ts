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
  /** `application` for the host application's events (migration 0034); Custodian's own are `custodian`. */
  origin: ColumnType<EventOrigin, EventOrigin | undefined, never>
}

/** Who wrote an event: Custodian itself, or the host application through `POST …/audit/events`. */
export type EventOrigin = 'custodian' | 'application'

/** The application's own event ids (idempotency), per org (migration 0034). */
export interface AuditAppEventsTable {
  org_id: string
  app_event_id: string
  /** `audit_events.event_id` of the event it became. */
  event_id: string
  /** HMAC-SHA-256 of what was submitted (keyed: it fingerprints no personal value). */
  fingerprint: Uint8Array
}

/** The provider's application event schema, one row in the provider org (migration 0034). */
export interface AuditEventSchemasTable {
  org_id: string
  document: ColumnType<unknown, string, string>
  version: number
  updated_at: Generated<Date>
  updated_by: string
}

/** Embedded viewer tokens (migration 0039): read-only, one org, one origin, minutes long. */
export interface AuditViewerTokensTable {
  id: string
  org_id: string
  /** SHA-256 of the token's secret; the token itself is never stored. */
  secret_hash: Uint8Array
  origin: string
  actions: string[] | null
  actor_id: string | null
  created_by_type: string
  created_by_id: string | null
  created_at: Date
  expires_at: Date
  revoked_at: Date | null
  first_used_at: Date | null
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

export type WitnessKind = 'webhooks' | 'https' | 'file' | 'tlog'

/** Outbox of checkpoints to deliver to witnesses (audit.witness.ts). */
export interface AuditWitnessDeliveriesTable {
  id: string
  org_id: string
  seq: Int8
  witness: WitnessKind
  /** The witness's key name for `tlog` rows (migration 0026); '' for the other kinds. */
  witness_name: Generated<string>
  /**
   * `skipped`: a `webhooks` row when no webhook of the org subscribes to `audit.checkpoint`;
   * a `tlog` row superseded by a newer checkpoint for the same witness.
   */
  status: Generated<'pending' | 'delivered' | 'failed' | 'skipped'>
  attempts: Generated<number>
  next_attempt_at: Generated<Date>
  last_error: string | null
  delivered_at: Date | null
  created_at: Generated<Date>
}

/** Per org and C2SP tlog-witness: what the witness is known to hold (migration 0026). */
export interface AuditWitnessStateTable {
  org_id: string
  /** The witness's key name. */
  witness: string
  /** The tree size the witness last said it holds for the org's log (0 at first). */
  size: Generated<Int8>
  /** The size of the last checkpoint it cosigned for us, and when. */
  cosigned_size: Int8 | null
  cosigned_at: Date | null
  last_error: string | null
  /** One process at a time delivers to this witness for this org. */
  leased_until: Date | null
  updated_at: Generated<Date>
}

/** C2SP tlog-cosignature lines of a checkpoint, one per witness (migration 0026). */
export interface AuditCosignaturesTable {
  org_id: string
  seq: Int8
  witness: string
  /** The cosignature's timestamp, POSIX seconds. */
  timestamp: Int8
  /** `— <witness name> <base64>`, without newline. */
  line: string
  created_at: Generated<Date>
}

/** Per org: the newest checkpoint that reached the quorum, and since when the log is unwitnessed. */
export interface AuditWitnessingTable {
  org_id: string
  witnessed_seq: Generated<Int8>
  witnessed_at: Date | null
  /** When the oldest signed checkpoint above `witnessed_seq` was signed; null when none is. */
  unwitnessed_since: Date | null
  /** `audit_unwitnessed` was raised for this `unwitnessed_since`. */
  alerted: Generated<boolean>
}

/** A witnessed checkpoint an operator accepted as superseded after a rollback (migration 0057). */
export interface AuditRollbackAcknowledgementsTable {
  org_id: string
  /** `file`, or the tlog witness's name. */
  source: string
  witnessed_size: Int8
  /** The witnessed note's hash line (the tree's root). */
  witnessed_hash: Uint8Array
  /** The chain's tree size, and its root, when the rollback was acknowledged. */
  local_size: Int8
  local_hash: Uint8Array | null
  acknowledged_at: Date
  /** `user:<id>` or `cli`. */
  acknowledged_by: string
  reason: string
}

export interface AuditTables {
  audit_events: AuditEventsTable
  audit_app_events: AuditAppEventsTable
  audit_event_schemas: AuditEventSchemasTable
  audit_viewer_tokens: AuditViewerTokensTable
  audit_chain: AuditChainTable
  audit_unchained: AuditUnchainedTable
  audit_tiles: AuditTilesTable
  audit_heads: AuditHeadsTable
  audit_checkpoints: AuditCheckpointsTable
  audit_witness_deliveries: AuditWitnessDeliveriesTable
  audit_witness_state: AuditWitnessStateTable
  audit_cosignatures: AuditCosignaturesTable
  audit_witnessing: AuditWitnessingTable
  audit_rollback_acknowledgements: AuditRollbackAcknowledgementsTable
}
