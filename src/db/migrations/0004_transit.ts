import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/** Encryption as a service: named, versioned org keys the host application encrypts with. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE TABLE transit_keys (
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      name text NOT NULL,
      current_version integer NOT NULL,
      created_by text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      rotated_at timestamptz,
      PRIMARY KEY (org_id, name)
    );
    CREATE TABLE transit_key_versions (
      org_id uuid NOT NULL,
      name text NOT NULL,
      version integer NOT NULL CHECK (version > 0),
      kek_version integer NOT NULL,
      wrapped_key bytea NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (org_id, name, version),
      FOREIGN KEY (org_id, name) REFERENCES transit_keys (org_id, name) ON DELETE CASCADE
    );
    CREATE INDEX transit_key_versions_kek ON transit_key_versions (org_id, kek_version);
  `,
  )
  for (const table of ['transit_keys', 'transit_key_versions']) {
    await runScript(
      db,
      `
      ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY;
      CREATE POLICY tenant_isolation ON ${table} TO custodian_app
        USING (org_id = custodian_current_org()) WITH CHECK (org_id = custodian_current_org());
      GRANT SELECT, INSERT, UPDATE, DELETE ON ${table} TO custodian_app;
    `,
    )
  }
}
