import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Delivery (P3.5, P6.3): the notification outbox is delivered by e-mail and to webhooks.
 *
 * - Erasure webhooks become webhooks in general: each subscribes to events
 *   (`erasure.requested`, `notifications`). Their deliveries keep using
 *   `webhook_deliveries`.
 * - A notification row is one recipient's e-mail: status, attempts, next attempt, last
 *   error. Rows made by one `enqueue` share a `batch_id`; a batch is fanned out once to
 *   the webhooks subscribed to notifications.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    ALTER TABLE erasure_webhooks RENAME TO webhooks;
    ALTER TABLE webhooks ADD COLUMN events text[] NOT NULL DEFAULT '{erasure.requested}'
      CHECK (cardinality(events) > 0 AND events <@ ARRAY['erasure.requested', 'notifications']::text[]);
    ALTER TABLE webhook_deliveries ALTER COLUMN event TYPE text;
    ALTER TABLE notifications
      ADD COLUMN batch_id uuid,
      ADD COLUMN status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed', 'skipped')),
      ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now(),
      ADD COLUMN last_error text,
      ADD COLUMN fanned_out_at timestamptz;
    CREATE INDEX notifications_due ON notifications (status, next_attempt_at);
    CREATE INDEX notifications_fanout ON notifications (batch_id) WHERE fanned_out_at IS NULL;
  `,
  )
}
