import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/** The tables whose rows are an org's principals, each with the column its count goes to. */
const COUNTED = [
  { table: 'memberships', column: 'members' },
  { table: 'service_accounts', column: 'service_accounts' },
] as const

/**
 * How many members and service accounts each org has, kept at write time (issue 20), so
 * that the operator's list of orgs reads one row per org and stripe instead of counting
 * every membership of every org it shows (`count(*)` grew with membership).
 *
 * `org_principal_counts` is kept as `org_key_data_keys` is (0024): statement-level
 * triggers over the transition tables add each statement's net change in the transaction
 * of the write itself — an invitation accepted, a member removed, a service account made
 * or deleted, an org deleted (its rows go by cascade) — so the counts are exact after a
 * crash. Each connection adds to its own stripe of 8 (by backend pid); an org's count is
 * the sum of its stripes. Neither table's `org_id` is ever updated, so only inserts and
 * deletes are counted. Rows of an org already gone (the org's deletion under way) count
 * nowhere. Existing rows are counted here, after the triggers exist.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE TABLE org_principal_counts (
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      stripe smallint NOT NULL CHECK (stripe BETWEEN 0 AND 7),
      members bigint NOT NULL DEFAULT 0,
      service_accounts bigint NOT NULL DEFAULT 0,
      PRIMARY KEY (org_id, stripe)
    );
    ALTER TABLE org_principal_counts ENABLE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON org_principal_counts TO custodian_app
      USING (org_id = custodian_current_org()) WITH CHECK (org_id = custodian_current_org());
    GRANT SELECT, INSERT, UPDATE ON org_principal_counts TO custodian_app;
  `,
  )
  for (const { table, column } of COUNTED) {
    await runScript(
      db,
      `
      CREATE FUNCTION custodian_count_${table}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          INSERT INTO org_principal_counts AS c (org_id, stripe, ${column})
          SELECT n.org_id, pg_backend_pid() % 8, count(*)
            FROM new_rows n JOIN orgs o ON o.id = n.org_id
           GROUP BY n.org_id
          ON CONFLICT (org_id, stripe) DO UPDATE SET ${column} = c.${column} + excluded.${column};
        ELSE
          INSERT INTO org_principal_counts AS c (org_id, stripe, ${column})
          SELECT d.org_id, pg_backend_pid() % 8, -count(*)
            FROM old_rows d JOIN orgs o ON o.id = d.org_id
           GROUP BY d.org_id
          ON CONFLICT (org_id, stripe) DO UPDATE SET ${column} = c.${column} + excluded.${column};
        END IF;
        RETURN NULL;
      END
      $$;
      CREATE TRIGGER ${table}_count_inserted AFTER INSERT ON ${table}
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION custodian_count_${table}();
      CREATE TRIGGER ${table}_count_deleted AFTER DELETE ON ${table}
        REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION custodian_count_${table}();
    `,
    )
  }
  await runScript(
    db,
    `
    INSERT INTO org_principal_counts (org_id, stripe, members, service_accounts)
    SELECT o.id, 0,
           (SELECT count(*) FROM memberships m WHERE m.org_id = o.id),
           (SELECT count(*) FROM service_accounts s WHERE s.org_id = o.id)
      FROM orgs o;
  `,
  )
}
