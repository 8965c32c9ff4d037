import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * OpenID Connect single sign-on per org (P3.3, P3.4).
 *
 * - `org_sso_configs`: the org's identity provider; the client secret itself is a vault
 *   secret (envelope-encrypted, rotated and crypto-erased like any other), referenced by id.
 * - `sso_identities`: which provider subject is which user, so a login follows the
 *   provider's stable subject rather than an email address that can be reassigned.
 *   `blocked_at` marks a member removed by the org: just-in-time provisioning must not
 *   bring them back.
 * - `sso_login_states`: one row per sign-in in flight, keyed by SHA-256 of the `state`
 *   parameter, bound to the browser by SHA-256 of a cookie; consumed once. Owner-only:
 *   the callback does not know its org until it has found the row.
 * - Members of an SSO-only org keep no password hash. The request role cannot read or
 *   write password hashes; one narrow SECURITY DEFINER function erases those of the
 *   current org's members and says how many it erased.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE TABLE org_sso_configs (
      org_id uuid PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
      preset text NOT NULL CHECK (preset IN ('google', 'microsoft', 'oidc')),
      issuer text NOT NULL,
      client_id text NOT NULL,
      client_secret_id uuid NOT NULL,
      allowed_domains text[] NOT NULL,
      default_role text NOT NULL,
      jit_provisioning boolean NOT NULL DEFAULT true,
      enabled boolean NOT NULL DEFAULT true,
      sso_only boolean NOT NULL DEFAULT false,
      last_login_at timestamptz,
      updated_at timestamptz NOT NULL DEFAULT now(),
      updated_by text NOT NULL
    );
    CREATE TABLE sso_identities (
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      issuer text NOT NULL,
      subject text NOT NULL,
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      email text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      last_login_at timestamptz,
      blocked_at timestamptz,
      PRIMARY KEY (org_id, issuer, subject),
      UNIQUE (org_id, issuer, user_id)
    );
    CREATE TABLE sso_login_states (
      state_hash bytea PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      binding_hash bytea NOT NULL,
      expires_at timestamptz NOT NULL,
      used_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX sso_login_states_expiry ON sso_login_states (expires_at);
    ALTER TABLE sso_login_states ENABLE ROW LEVEL SECURITY;
  `,
  )
  for (const table of ['org_sso_configs', 'sso_identities']) {
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
  await runScript(
    db,
    `
    CREATE FUNCTION custodian_erase_member_passwords() RETURNS integer
      LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
        WITH erased AS (
          UPDATE users SET password_hash = NULL
           WHERE password_hash IS NOT NULL
             AND id IN (SELECT user_id FROM memberships WHERE org_id = custodian_current_org())
          RETURNING 1)
        SELECT count(*)::integer FROM erased
      $$;
    REVOKE ALL ON FUNCTION custodian_erase_member_passwords() FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION custodian_erase_member_passwords() TO custodian_app;
  `,
  )
}
