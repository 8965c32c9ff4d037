import type { ColumnType, Generated } from 'kysely'

/** Kysely table types for detection and response (migrations 0016–0018). */
export type Severity = 'low' | 'medium' | 'high' | 'critical'

export interface AlertCursorsTable {
  org_id: string
  last_seq: number
  updated_at: Generated<Date>
}

export interface AlertRuleSettingsTable {
  org_id: string
  rule: string
  enabled: boolean
  threshold: number
  window_seconds: number
  dedupe_seconds: number
  updated_at: Generated<Date>
  updated_by: string
}

export interface AlertsTable {
  id: string
  org_id: string
  rule: string
  severity: Severity
  dedupe_key: string
  status: 'open' | 'acknowledged' | 'resolved'
  title: string
  details: ColumnType<Record<string, unknown>, string, string>
  first_seen_at: Date
  last_seen_at: Date
  occurrences: Generated<number>
  event_ids: string[]
  acknowledged_at: Date | null
  acknowledged_by: string | null
  resolved_at: Date | null
  resolved_by: string | null
  incident_id: string | null
}

export interface ResponseTables {
  alert_cursors: AlertCursorsTable
  alert_rule_settings: AlertRuleSettingsTable
  alerts: AlertsTable
}
