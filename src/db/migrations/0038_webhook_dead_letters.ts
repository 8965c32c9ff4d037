import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Dead letters that can be retried (issue 13): a webhook delivery given up after its last
 * attempt keeps its sealed payload for a while, so an admin can send it again once the
 * receiver is back (`POST …/webhook-deliveries/{deliveryId}/retry`).
 *
 * - `dead_lettered_at`: when it was given up, set exactly while the delivery is `failed`
 *   (a CHECK says so). Deliveries dead-lettered before this migration took the time of
 *   their last attempt, which `next_attempt_at` held; their payloads are already erased.
 * - `retries`: how many times it was sent again by hand; each retry starts a fresh budget
 *   of attempts (`attempts` counts the current one's).
 * - `(org_id, status, created_at, id)`: the deliveries of one status (the dead letters),
 *   newest first, a page at a time, reading that status's rows only.
 * - `(dead_lettered_at) WHERE status = 'failed' AND kek_version IS NOT NULL`: the dead
 *   letters whose payload is still held, oldest first — what the webhook worker erases once
 *   `CUSTODIAN_WEBHOOK_DEAD_LETTER_HOURS` have passed, reading only those.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    ALTER TABLE webhook_deliveries ADD COLUMN dead_lettered_at timestamptz;
    ALTER TABLE webhook_deliveries ADD COLUMN retries integer NOT NULL DEFAULT 0 CHECK (retries >= 0);
    UPDATE webhook_deliveries SET dead_lettered_at = next_attempt_at WHERE status = 'failed';
    ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_dead_lettered
      CHECK ((status = 'failed') = (dead_lettered_at IS NOT NULL));
    CREATE INDEX webhook_deliveries_org_status ON webhook_deliveries (org_id, status, created_at, id);
    CREATE INDEX webhook_deliveries_held ON webhook_deliveries (dead_lettered_at)
      WHERE status = 'failed' AND kek_version IS NOT NULL;
    `,
  )
}
