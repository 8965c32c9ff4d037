import type { ColumnType } from 'kysely'

export interface BackupScheduleTable {
  id: number
  next_due_at: Date
  lease_until: Date | null
  leased_by: string | null
}

export interface BackupRunsTable {
  id: string
  trigger: 'schedule' | 'cli'
  backup_id: string | null
  backup_created_at: Date | null
  started_at: Date
  finished_at: Date
  status: 'succeeded' | 'failed'
  file: string | null
  bytes: number | null
  verified: boolean
  figures: ColumnType<Record<string, unknown> | null, string | null, string | null>
  error: string | null
}

/** Scheduled backups' state (migration 0058): owner connection only. */
export interface BackupTables {
  backup_schedule: BackupScheduleTable
  backup_runs: BackupRunsTable
}
