import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Two-factor authentication (P3.1): a user's TOTP secret is wrapped by the root key
 * (vault-owned `user_secrets`, rewrapped on root rotation); the factor's state and the
 * hashed recovery codes are identity's. None of these tables is readable by the
 * request role: only the authentication path (owner connection) touches them.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE TABLE user_secrets (
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      purpose text NOT NULL,
      wrapped bytea NOT NULL,
      root_key_id text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (user_id, purpose)
    );
    CREATE TABLE user_mfa (
      user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
      confirmed_at timestamptz,
      last_used_counter bigint NOT NULL DEFAULT 0,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE user_recovery_codes (
      id uuid PRIMARY KEY,
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      code_hash bytea NOT NULL,
      used_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX user_recovery_codes_user ON user_recovery_codes (user_id);
    ALTER TABLE user_secrets ENABLE ROW LEVEL SECURITY;
    ALTER TABLE user_mfa ENABLE ROW LEVEL SECURITY;
    ALTER TABLE user_recovery_codes ENABLE ROW LEVEL SECURITY;
    ALTER TABLE sessions ADD COLUMN mfa_at timestamptz;

    CREATE TABLE org_security_policies (
      org_id uuid PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
      require_2fa boolean NOT NULL DEFAULT false,
      step_up_minutes integer NOT NULL DEFAULT 10 CHECK (step_up_minutes BETWEEN 1 AND 1440),
      updated_at timestamptz NOT NULL DEFAULT now(),
      updated_by text NOT NULL
    );
    ALTER TABLE org_security_policies ENABLE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON org_security_policies TO custodian_app
      USING (org_id = custodian_current_org()) WITH CHECK (org_id = custodian_current_org());
    GRANT SELECT, INSERT, UPDATE, DELETE ON org_security_policies TO custodian_app;
  `,
  )
}
