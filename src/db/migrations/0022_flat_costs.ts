import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Costs that stay flat as the data grows (issue 20): every page is read through an index
 * that starts with the org and then follows the page's order, so a page costs its own
 * rows, not the org's history (nor another org's). Checked by test/perf/row-bounds.test.ts.
 *
 * - `audit_events (org_id, id)`: the events page, newest first, and its cursor (`id <`);
 *   with a filter on the actor or the target, `(org_id, actor_id | target_id, id)`; on a
 *   rare outcome (denied, failure), a partial index of those events only.
 * - Lists of history, newest first: notifications (the org's, and one recipient's),
 *   webhook deliveries, incidents, privacy requests, alerts.
 * - Grants and access reviews: the tie-break of the page order joins the index.
 * - Sessions: the active ones of an org (revoked ones never count), and each member's
 *   latest activity (one index probe per member instead of a scan of every session).
 * - Periodic jobs read only what is due: the shred ring finds keys to reseal through the
 *   retiring epochs and through keys not yet in the ring (both indexes empty when nothing
 *   is due), instead of reading every subject key every 2 s.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE INDEX audit_events_org_id ON audit_events (org_id, id);
    CREATE INDEX audit_events_org_actor ON audit_events (org_id, actor_id, id);
    CREATE INDEX audit_events_org_target ON audit_events (org_id, target_id, id);
    CREATE INDEX audit_events_org_unsuccessful ON audit_events (org_id, outcome, id) WHERE outcome <> 'success';
    CREATE INDEX notifications_org_time ON notifications (org_id, created_at);
    CREATE INDEX notifications_recipient_time ON notifications (org_id, recipient_user_id, created_at);
    CREATE INDEX webhook_deliveries_org_time ON webhook_deliveries (org_id, created_at);
    CREATE INDEX incidents_org_time ON incidents (org_id, opened_at);
    CREATE INDEX privacy_requests_org_time ON privacy_requests (org_id, received_at);
    CREATE INDEX alerts_org_time ON alerts (org_id, last_seen_at);
    DROP INDEX access_grants_org;
    CREATE INDEX access_grants_org ON access_grants (org_id, requested_at DESC, id);
    CREATE INDEX sessions_active ON sessions (org_id, last_seen_at) WHERE revoked_at IS NULL;
    DROP INDEX sessions_org_user;
    CREATE INDEX sessions_org_user ON sessions (org_id, user_id, last_seen_at);
    CREATE INDEX subject_keys_unringed ON subject_keys (org_id) WHERE shredded_at IS NULL AND ring_epoch IS NULL;
    CREATE INDEX shred_ring_epochs_retiring ON shred_ring_epochs (bucket, epoch) WHERE state = 'retiring';
  `,
  )
}
