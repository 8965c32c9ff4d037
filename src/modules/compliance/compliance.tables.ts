import type { ColumnType } from 'kysely'
import type { CheckScope, Verdict } from './compliance.types.ts'

/** Kysely table types for the compliance module (see migrations/0053_compliance.ts). */
export interface ComplianceStatusTable {
  org_id: string
  check_id: string
  promise: string
  scope: CheckScope
  verdict: Verdict
  summary: string
  evidence: ColumnType<Record<string, unknown>, string, string>
  ran_at: Date
  since: Date
}

export interface ComplianceHistoryTable {
  id: string
  org_id: string
  check_id: string
  promise: string
  verdict: Verdict
  previous_verdict: Verdict | null
  summary: string
  evidence: ColumnType<Record<string, unknown>, string, string>
  ran_at: Date
}

export interface ComplianceRunsTable {
  id: string
  org_id: string
  trigger: 'schedule' | 'demand'
  started_at: Date
  finished_at: Date
  passed: number
  failed: number
  not_applicable: number
  requested_by: string | null
}

export interface ComplianceScheduleTable {
  org_id: string
  next_run_at: Date
  /** When an evaluation on demand was last claimed (POST …/compliance/runs), null before the first. */
  demanded_at: ColumnType<Date | null, Date | null | undefined, Date | null>
}

export interface ComplianceTables {
  compliance_status: ComplianceStatusTable
  compliance_history: ComplianceHistoryTable
  compliance_runs: ComplianceRunsTable
  compliance_schedule: ComplianceScheduleTable
}
