import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * The audit log without an UPDATE per event (issue 20; issue 18 asks the same).
 *
 * Until now a request inserted its event with no `seq`, and the sequencer later updated
 * that row with its `seq`, `prev_hash`, `hash` and `chained_at`. Every event was thus
 * written twice: the UPDATE made a new row version (never heap-only, since `seq` is
 * indexed), re-inserted it into each of the table's nine indexes and left a dead row per
 * event until vacuumed.
 *
 * Now `audit_events` is insert-only: what a request recorded never changes. The chain
 * lives beside it, in `audit_chain`, one row per chained event, also insert-only, written
 * by the sequencer (as the owner). The events that wait for the sequencer are listed in
 * `audit_unchained`, a small queue written in the same statement as the event and emptied
 * by the sequencer in the transaction that chains them: an event is never lost between
 * the two, and a pass reads only what is due.
 *
 * Existing chains move over as they are (same `seq` and hashes); nothing is re-hashed.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE TABLE audit_chain (
      org_id uuid NOT NULL,
      seq bigint NOT NULL CHECK (seq > 0),
      id bigint NOT NULL UNIQUE REFERENCES audit_events (id),
      prev_hash bytea NOT NULL,
      hash bytea NOT NULL,
      chained_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      PRIMARY KEY (org_id, seq)
    );
    CREATE TABLE audit_unchained (
      org_id uuid NOT NULL,
      id bigint NOT NULL REFERENCES audit_events (id),
      PRIMARY KEY (org_id, id)
    );

    INSERT INTO audit_chain (org_id, seq, id, prev_hash, hash, chained_at)
      SELECT org_id, seq, id, prev_hash, hash, coalesce(chained_at, occurred_at)
        FROM audit_events WHERE seq IS NOT NULL;
    INSERT INTO audit_unchained (org_id, id) SELECT org_id, id FROM audit_events WHERE seq IS NULL;

    DROP POLICY tenant_isolation ON audit_events;
    ALTER TABLE audit_events DROP COLUMN seq, DROP COLUMN prev_hash, DROP COLUMN hash, DROP COLUMN chained_at;
    CREATE POLICY tenant_isolation ON audit_events TO custodian_app
      USING (org_id = custodian_current_org()) WITH CHECK (org_id = custodian_current_org());

    -- The application reads its org's chain (the events page shows each event's seq and
    -- hash) and never writes it; it may only queue its own new events.
    ALTER TABLE audit_chain ENABLE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON audit_chain TO custodian_app USING (org_id = custodian_current_org());
    GRANT SELECT ON audit_chain TO custodian_app;
    ALTER TABLE audit_unchained ENABLE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON audit_unchained TO custodian_app
      USING (org_id = custodian_current_org()) WITH CHECK (org_id = custodian_current_org());
    GRANT SELECT, INSERT ON audit_unchained TO custodian_app;
  `,
  )
}
