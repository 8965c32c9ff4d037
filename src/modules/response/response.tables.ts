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
  /** `application_action` only: the application actions it watches (migration 0034). */
  actions: ColumnType<string[] | null, string[] | null | undefined, string[] | null>
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

export interface IncidentTypesTable {
  id: string
  org_id: string
  name: string
  description: string
  default_severity: Severity
  affects_third_parties: boolean
  playbook: ColumnType<string[], string, string>
  updated_at: Generated<Date>
}

export interface EscalationLevel {
  afterMinutes: number
  notifyRoles: string[]
  notifyUsers: string[]
}

export interface EscalationPoliciesTable {
  org_id: string
  levels: ColumnType<EscalationLevel[], string, string>
  updated_at: Generated<Date>
  updated_by: string
}

export type PartyKind = 'customers' | 'users' | 'third_party' | 'regulator'

export interface BreachPartyRulesTable {
  id: string
  org_id: string
  kind: PartyKind
  name: string
  deadline_hours: number
}

export interface ResponsePlanVersionsTable {
  org_id: string
  version: number
  snapshot: ColumnType<Record<string, unknown>, string, string>
  created_at: Date
  created_by: string
  change: string
}

export interface ResponsePlanReviewsTable {
  id: string
  org_id: string
  version: number
  reviewed_at: Date
  reviewed_by: string
  notes: string
}

export interface ResponsePlanStateTable {
  org_id: string
  overdue_notified_at: Date | null
}

export type IncidentStatus = 'open' | 'acknowledged' | 'contained' | 'resolved' | 'closed'

export interface IncidentsTable {
  id: string
  org_id: string
  type_id: string | null
  type_name: string | null
  title: string
  severity: Severity
  status: IncidentStatus
  commander_user_id: string | null
  communications_user_id: string | null
  scribe_user_id: string | null
  opened_at: Date
  opened_by: string
  acknowledged_at: Date | null
  resolved_at: Date | null
  closed_at: Date | null
  escalation_level: Generated<number>
  breach_confirmed_at: Date | null
  breach_summary: string | null
}

export interface IncidentStepsTable {
  incident_id: string
  org_id: string
  idx: number
  title: string
  done_at: Date | null
  done_by: string | null
}

export interface IncidentTimelineTable {
  id: string
  incident_id: string
  org_id: string
  at: Date
  actor: string
  kind: string
  details: ColumnType<Record<string, unknown>, string, string>
}

export interface IncidentLinksTable {
  incident_id: string
  org_id: string
  kind: 'alert' | 'audit_event'
  ref: string
}

export interface BreachNotificationsTable {
  id: string
  org_id: string
  incident_id: string
  party_kind: PartyKind
  party_name: string
  deadline_hours: number
  due_at: Date
  status: 'pending' | 'sent' | 'missed'
  sent_at: Date | null
  sent_by: string | null
  late: Generated<boolean>
  channel: string | null
  content: string | null
  reminders_sent: Generated<number>
  missed_at: Date | null
}

export interface ResponseTables {
  alert_cursors: AlertCursorsTable
  alert_rule_settings: AlertRuleSettingsTable
  alerts: AlertsTable
  incident_types: IncidentTypesTable
  escalation_policies: EscalationPoliciesTable
  breach_party_rules: BreachPartyRulesTable
  response_plan_versions: ResponsePlanVersionsTable
  response_plan_reviews: ResponsePlanReviewsTable
  response_plan_state: ResponsePlanStateTable
  incidents: IncidentsTable
  incident_steps: IncidentStepsTable
  incident_timeline: IncidentTimelineTable
  incident_links: IncidentLinksTable
  breach_notifications: BreachNotificationsTable
}
