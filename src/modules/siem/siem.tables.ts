import type { ColumnType, Generated } from 'kysely'
import type { Int8 } from '../audit/audit.tables.ts'

export type SiemKind = 'jsonl' | 'splunk_hec' | 'datadog' | 'syslog_tls'
export type SiemState = 'active' | 'paused' | 'stopped'

/** Where an org's chained audit events are streamed (migration 0034). */
export interface SiemDestinationsTable {
  id: string
  org_id: string
  name: string
  kind: SiemKind
  /** HTTPS kinds: the endpoint (JSON Lines) or the service's base URL (Splunk HEC, Datadog). */
  url: string | null
  /** syslog_tls: the receiver's host and port. */
  host: string | null
  port: number | null
  /** Non-secret settings of the kind (siem.types.ts `DestinationSettings`). */
  settings: ColumnType<Record<string, unknown>, string | undefined, string>
  /** The vault secret holding the credential (HEC token, API key, bearer token, TLS client key). */
  secret_id: string | null
  /** `stopped`: at an open dead letter, until resumed or skipped. */
  state: Generated<SiemState>
  /** The last seq the destination acknowledged. */
  cursor_seq: Generated<Int8>
  /** Failed attempts of the current batch. */
  attempts: Generated<number>
  next_attempt_at: Generated<Date>
  lease_token: string | null
  leased_until: Date | null
  last_attempt_at: Date | null
  last_delivered_at: Date | null
  last_status: number | null
  last_error: string | null
  delivered_events: Generated<Int8>
  created_at: Generated<Date>
  created_by: string
  updated_at: Generated<Date>
}

/** A batch given up after the last attempt. */
export interface SiemDeadLettersTable {
  id: string
  org_id: string
  destination_id: string
  from_seq: Int8
  to_seq: Int8
  attempts: number
  last_status: number | null
  last_error: string
  created_at: Generated<Date>
  resolution: 'retried' | 'skipped' | null
  resolved_at: Date | null
  resolved_by: string | null
}

export interface SiemTables {
  siem_destinations: SiemDestinationsTable
  siem_dead_letters: SiemDeadLettersTable
}
