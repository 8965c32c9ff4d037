import type { ColumnType, Generated } from 'kysely'

export interface NotificationsTable {
  id: string
  org_id: string
  kind: string
  /** A user; or null, and `recipient_ref` names someone else (a report's reporter). */
  recipient_user_id: string | null
  recipient_ref: Generated<string | null>
  subject: string
  body: string
  data: ColumnType<Record<string, unknown>, string | undefined, string>
  created_at: Generated<Date>
  /** When the e-mail was accepted by the mail server. */
  delivered_at: Date | null
  attempts: Generated<number>
  batch_id: string | null
  status: Generated<'pending' | 'delivered' | 'failed' | 'skipped'>
  next_attempt_at: Generated<Date>
  last_error: string | null
  fanned_out_at: Date | null
}

export type WebhookEvent = 'erasure.requested' | 'notifications' | 'audit.checkpoint' | 'consent.reconsent_required'

export interface WebhooksTable {
  id: string
  org_id: string
  name: string
  url: string
  secret_id: string
  /** Migration 0051: the vault version current before the last rotation of the signing secret. */
  previous_secret_version: number | null
  /** Migration 0051: until when deliveries are signed with that version too (24 h after the rotation). */
  previous_secret_until: Date | null
  enabled: Generated<boolean>
  events: Generated<WebhookEvent[]>
  created_at: Generated<Date>
  created_by: string
}

export interface WebhookDeliveriesTable {
  id: string
  org_id: string
  webhook_id: string
  webhook_name: string
  destination: string
  request_id: string | null
  event: string
  kek_version: number | null
  wrapped_key: Uint8Array | null
  sealed: Uint8Array | null
  status: 'pending' | 'delivered' | 'failed'
  /** Attempts of the current budget (a retry starts a new one). */
  attempts: Generated<number>
  /** Times sent again by hand after being dead-lettered. */
  retries: Generated<number>
  next_attempt_at: Date
  /** When it was given up: set exactly while `failed` (its payload may be held for a retry). */
  dead_lettered_at: Date | null
  last_status: number | null
  last_error: string | null
  delivered_at: Date | null
  created_at: Date
}

export interface NotifyTables {
  notifications: NotificationsTable
  webhooks: WebhooksTable
  webhook_deliveries: WebhookDeliveriesTable
}
