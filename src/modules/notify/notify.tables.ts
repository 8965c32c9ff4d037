import type { ColumnType, Generated } from 'kysely'

export interface NotificationsTable {
  id: string
  org_id: string
  kind: string
  recipient_user_id: string
  subject: string
  body: string
  data: ColumnType<Record<string, unknown>, string | undefined, string>
  created_at: Generated<Date>
  delivered_at: Date | null
  attempts: Generated<number>
}

export interface NotifyTables {
  notifications: NotificationsTable
}
