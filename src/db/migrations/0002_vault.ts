import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * The vault: per-org key-encryption keys (wrapped by the root key), secrets and their
 * versions (each with its own data key, wrapped by an org key). No column holds a secret
 * value or an unwrapped key.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE TABLE org_keys (
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      version integer NOT NULL CHECK (version > 0),
      wrapped_key bytea,
      root_key_id text NOT NULL,
      state text NOT NULL CHECK (state IN ('active', 'retiring', 'retired')),
      created_at timestamptz NOT NULL DEFAULT now(),
      retired_at timestamptz,
      PRIMARY KEY (org_id, version),
      -- A retired key is erased: what it wrapped (old copies included) can no longer be opened.
      CHECK ((state = 'retired') = (wrapped_key IS NULL))
    );
    CREATE UNIQUE INDEX org_keys_one_active ON org_keys (org_id) WHERE state = 'active';

    CREATE TABLE secrets (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      name text NOT NULL,
      type text NOT NULL CHECK (type IN ('api_key', 'database_credential', 'generic')),
      description text NOT NULL DEFAULT '',
      metadata jsonb NOT NULL DEFAULT '{}',
      current_version integer NOT NULL,
      created_by text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      last_revealed_at timestamptz,
      UNIQUE (org_id, name)
    );

    CREATE TABLE secret_versions (
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      secret_id uuid NOT NULL REFERENCES secrets (id) ON DELETE CASCADE,
      version integer NOT NULL CHECK (version > 0),
      kek_version integer,
      wrapped_dek bytea,
      ciphertext bytea,
      created_by text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      destroyed_at timestamptz,
      PRIMARY KEY (secret_id, version),
      CHECK ((destroyed_at IS NULL) = (wrapped_dek IS NOT NULL AND ciphertext IS NOT NULL AND kek_version IS NOT NULL))
    );
    CREATE INDEX secret_versions_org_kek ON secret_versions (org_id, kek_version) WHERE destroyed_at IS NULL;
  `,
  )
  for (const table of ['org_keys', 'secrets', 'secret_versions']) {
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
