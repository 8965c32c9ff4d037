import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/** Tables of data keys wrapped by an org key, each with its wrapping-version column `kek_version`. */
const WRAPPED = [
  'secret_versions',
  'transit_key_versions',
  'subject_keys',
  'webhook_deliveries',
  'vulnerability_reports',
]

/**
 * Lists whose cost does not grow with an org's history (issue 20, after 0022).
 *
 * - `org_key_data_keys`: how many live data keys each org-key version wraps, kept by
 *   triggers on every table of wrapped data keys (statement-level, over the statement's
 *   transition tables) in the transaction of the write itself — an insert, a rewrap that
 *   moves a key to another version, a destruction, a shredding, a cascade from deleting a
 *   secret or an org — so the counts are exact after a crash and `GET /keys` reads one row
 *   per version and stripe instead of counting every object. A data key is live while its
 *   `kek_version` is set: every table already clears it with the wrapped bytes (a CHECK
 *   says so; webhook deliveries gain theirs here). Each connection adds to its own stripe
 *   of 8 (by backend pid), so concurrent writers of one org rarely wait on one row; the
 *   count of a version is the sum of its stripes. Existing keys are counted here, after
 *   the triggers exist (their locks keep writers out until this migration commits).
 * - `audit_events.action_family` (the action's first segment, a stored generated column)
 *   and `(org_id, action_family, id)`: the events page filtered by an action prefix
 *   (`action=org.*`) walks that family's events newest first, instead of every event of
 *   the org until the page fills. A stored column, not an expression index: under
 *   row-level security a filter may use an index only through leakproof functions, and
 *   split_part() is not one. Adding it rewrites `audit_events` once (minutes for
 *   millions of events; plan the upgrade's window).
 * - Every list that grows with an org's history or membership is read a page at a time
 *   from a keyset cursor (src/db/page.ts): its index starts with the org and then follows
 *   the page's order to its tie-break (the id), so a page starts where the cursor points
 *   and reads its own rows. Indexes of 0022 without the tie-break are replaced.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_key_wrapped
      CHECK ((wrapped_key IS NULL) = (kek_version IS NULL));

    CREATE TABLE org_key_data_keys (
      org_id uuid NOT NULL,
      version integer NOT NULL,
      stripe smallint NOT NULL CHECK (stripe BETWEEN 0 AND 7),
      data_keys bigint NOT NULL,
      PRIMARY KEY (org_id, version, stripe),
      FOREIGN KEY (org_id, version) REFERENCES org_keys (org_id, version) ON DELETE CASCADE
    );
    ALTER TABLE org_key_data_keys ENABLE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON org_key_data_keys TO custodian_app
      USING (org_id = custodian_current_org()) WITH CHECK (org_id = custodian_current_org());
    GRANT SELECT, INSERT, UPDATE ON org_key_data_keys TO custodian_app;

    -- Adds the statement's net change per (org, version) to this connection's stripe. Rows
    -- of an org key already gone (the org deleted, the cascade under way) count nowhere.
    CREATE FUNCTION custodian_count_data_keys() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      my_stripe smallint := pg_backend_pid() % 8;
    BEGIN
      IF TG_OP = 'INSERT' THEN
        INSERT INTO org_key_data_keys AS c (org_id, version, stripe, data_keys)
        SELECT n.org_id, n.kek_version, my_stripe, count(*)
          FROM new_rows n JOIN org_keys k ON k.org_id = n.org_id AND k.version = n.kek_version
         GROUP BY n.org_id, n.kek_version
        ON CONFLICT (org_id, version, stripe) DO UPDATE SET data_keys = c.data_keys + excluded.data_keys;
      ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO org_key_data_keys AS c (org_id, version, stripe, data_keys)
        SELECT d.org_id, d.kek_version, my_stripe, sum(d.delta)
          FROM (SELECT org_id, kek_version, 1 AS delta FROM new_rows WHERE kek_version IS NOT NULL
                UNION ALL
                SELECT org_id, kek_version, -1 FROM old_rows WHERE kek_version IS NOT NULL) AS d
          JOIN org_keys k ON k.org_id = d.org_id AND k.version = d.kek_version
         GROUP BY d.org_id, d.kek_version
        HAVING sum(d.delta) <> 0
        ON CONFLICT (org_id, version, stripe) DO UPDATE SET data_keys = c.data_keys + excluded.data_keys;
      ELSE
        INSERT INTO org_key_data_keys AS c (org_id, version, stripe, data_keys)
        SELECT o.org_id, o.kek_version, my_stripe, -count(*)
          FROM old_rows o JOIN org_keys k ON k.org_id = o.org_id AND k.version = o.kek_version
         GROUP BY o.org_id, o.kek_version
        ON CONFLICT (org_id, version, stripe) DO UPDATE SET data_keys = c.data_keys + excluded.data_keys;
      END IF;
      RETURN NULL;
    END
    $$;
  `,
  )
  for (const table of WRAPPED) {
    await runScript(
      db,
      `
      CREATE TRIGGER ${table}_count_inserted AFTER INSERT ON ${table}
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION custodian_count_data_keys();
      CREATE TRIGGER ${table}_count_updated AFTER UPDATE ON ${table}
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION custodian_count_data_keys();
      CREATE TRIGGER ${table}_count_deleted AFTER DELETE ON ${table}
        REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION custodian_count_data_keys();
    `,
    )
  }
  await runScript(
    db,
    `
    ALTER TABLE audit_events ADD COLUMN action_family text GENERATED ALWAYS AS (split_part(action, '.', 1)) STORED;
    CREATE INDEX audit_events_org_family ON audit_events (org_id, action_family, id);

    CREATE INDEX memberships_org_joined ON memberships (org_id, created_at, user_id);
    CREATE INDEX service_accounts_org_created ON service_accounts (org_id, created_at, id);
    DROP INDEX api_tokens_org;
    CREATE INDEX api_tokens_org ON api_tokens (org_id, created_at, id);
    CREATE INDEX secrets_org_credentials ON secrets (org_id, name) WHERE type = 'database_credential';
    DROP INDEX webhook_deliveries_org_time;
    CREATE INDEX webhook_deliveries_org_time ON webhook_deliveries (org_id, created_at, id);
    CREATE INDEX webhook_deliveries_request ON webhook_deliveries (org_id, request_id, created_at, id) WHERE request_id IS NOT NULL;
    DROP INDEX notifications_org_time;
    CREATE INDEX notifications_org_time ON notifications (org_id, created_at, id);
    DROP INDEX notifications_recipient_time;
    CREATE INDEX notifications_recipient_time ON notifications (org_id, recipient_user_id, created_at, id);
    DROP INDEX access_grants_org;
    CREATE INDEX access_grants_org ON access_grants (org_id, requested_at, id);
    DROP INDEX access_grants_grantee;
    CREATE INDEX access_grants_grantee ON access_grants (grantee_user_id, requested_at, id);
    DROP INDEX access_reviews_org;
    CREATE INDEX access_reviews_org ON access_reviews (org_id, started_at, id);
    DROP INDEX privacy_requests_org_time;
    CREATE INDEX privacy_requests_org_time ON privacy_requests (org_id, received_at, id);
    CREATE INDEX erasure_certificates_org_time ON erasure_certificates (org_id, issued_at, id);
    DROP INDEX retention_runs_org;
    CREATE INDEX retention_runs_org ON retention_runs (org_id, ran_at, id);
    CREATE INDEX org_offboardings_requested ON org_offboardings (requested_at, org_id);
    DROP INDEX incidents_org_time;
    CREATE INDEX incidents_org_time ON incidents (org_id, opened_at, id);
    DROP INDEX alerts_org_time;
    CREATE INDEX alerts_org_time ON alerts (org_id, last_seen_at, id);
    DROP INDEX alerts_status;
    CREATE INDEX alerts_status ON alerts (org_id, status, last_seen_at, id);
    DROP INDEX vulnerability_reports_org;
    CREATE INDEX vulnerability_reports_org ON vulnerability_reports (org_id, received_at, id);
    DROP INDEX sessions_active;
    CREATE INDEX sessions_active ON sessions (org_id, last_seen_at, id) WHERE revoked_at IS NULL;
    DROP INDEX sessions_org_user;
    CREATE INDEX sessions_org_user ON sessions (org_id, user_id, last_seen_at, id);
    INSERT INTO org_key_data_keys (org_id, version, stripe, data_keys)
    SELECT w.org_id, w.kek_version, 0, count(*)
      FROM (${WRAPPED.map((t) => `SELECT org_id, kek_version FROM ${t} WHERE kek_version IS NOT NULL`).join(' UNION ALL ')}) AS w
      JOIN org_keys k ON k.org_id = w.org_id AND k.version = w.kek_version
     GROUP BY w.org_id, w.kek_version;
  `,
  )
}
