import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Foundation schema: orgs, identity, authorization, audit.
 *
 * Tenant isolation (P2.1) lives here: every tenant-owned table carries `org_id` and a
 * row-level-security policy keyed on `custodian.org_id`, the setting that
 * {@link ../tenant.ts withOrg} makes local to each request transaction after switching
 * to the non-owner role `custodian_app`. Tables that are not tenant-owned (sessions of
 * the bootstrap, the audit heads) grant that role nothing at all.
 *
 * Use nothing newer than PostgreSQL 15: production runs 15+, PGlite is 18.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    DO $$ BEGIN
      CREATE ROLE custodian_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END $$;
  `,
  )
  // A non-superuser owner needs membership to SET ROLE; a superuser has it implicitly.
  await runScript(
    db,
    `
    DO $$ BEGIN
      IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE format('GRANT custodian_app TO %I', current_user);
      END IF;
    END $$;
  `,
  )

  await runScript(
    db,
    `
    CREATE FUNCTION custodian_current_org() RETURNS uuid
    LANGUAGE sql STABLE AS $$ SELECT nullif(current_setting('custodian.org_id', true), '')::uuid $$;
  `,
  )

  await runScript(
    db,
    `
    CREATE TABLE orgs (
      id uuid PRIMARY KEY,
      kind text NOT NULL CHECK (kind IN ('provider', 'customer')),
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX orgs_single_provider ON orgs (kind) WHERE kind = 'provider';

    CREATE TABLE users (
      id uuid PRIMARY KEY,
      email text NOT NULL,
      password_hash text,
      failed_logins integer NOT NULL DEFAULT 0,
      locked_until timestamptz,
      last_login_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX users_email_unique ON users (lower(email));

    CREATE TABLE custom_roles (
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      name text NOT NULL,
      description text NOT NULL DEFAULT '',
      permissions text[] NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (org_id, name)
    );

    CREATE TABLE memberships (
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      role text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (org_id, user_id)
    );
    CREATE INDEX memberships_user ON memberships (user_id);

    CREATE TABLE service_accounts (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      name text NOT NULL,
      role text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (org_id, name)
    );

    CREATE TABLE api_tokens (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      user_id uuid REFERENCES users (id) ON DELETE CASCADE,
      service_account_id uuid REFERENCES service_accounts (id) ON DELETE CASCADE,
      name text NOT NULL,
      secret_hash bytea NOT NULL,
      scopes text[],
      expires_at timestamptz NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      created_by text NOT NULL,
      last_used_at timestamptz,
      revoked_at timestamptz,
      CHECK (num_nonnulls(user_id, service_account_id) = 1)
    );
    CREATE INDEX api_tokens_org ON api_tokens (org_id);

    CREATE TABLE sessions (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      secret_hash bytea NOT NULL,
      csrf_hash bytea NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      last_seen_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      ip text,
      user_agent text,
      revoked_at timestamptz
    );
    CREATE INDEX sessions_org_user ON sessions (org_id, user_id);

    CREATE TABLE invitations (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      email text NOT NULL,
      role text NOT NULL,
      secret_hash bytea NOT NULL,
      expires_at timestamptz NOT NULL,
      created_by text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      accepted_at timestamptz
    );

    CREATE TABLE bootstrap_tokens (
      id uuid PRIMARY KEY,
      secret_hash bytea NOT NULL,
      expires_at timestamptz NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      used_at timestamptz
    );

    CREATE TABLE audit_events (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      org_id uuid NOT NULL,
      event_id uuid NOT NULL UNIQUE,
      occurred_at timestamptz NOT NULL,
      actor_type text NOT NULL,
      actor_id text,
      action text NOT NULL,
      target_type text,
      target_id text,
      outcome text NOT NULL CHECK (outcome IN ('success', 'denied', 'failure')),
      ip text,
      user_agent text,
      request_id text,
      details jsonb NOT NULL DEFAULT '{}',
      seq bigint,
      prev_hash bytea,
      hash bytea,
      chained_at timestamptz,
      UNIQUE (org_id, seq)
    );
    CREATE INDEX audit_events_unchained ON audit_events (org_id, id) WHERE seq IS NULL;
    CREATE INDEX audit_events_org_time ON audit_events (org_id, occurred_at);

    CREATE TABLE audit_heads (
      org_id uuid PRIMARY KEY,
      seq bigint NOT NULL,
      hash bytea NOT NULL,
      checkpoint_seq bigint NOT NULL DEFAULT 0,
      checkpoint_at timestamptz
    );

    CREATE TABLE audit_checkpoints (
      org_id uuid NOT NULL,
      seq bigint NOT NULL,
      hash bytea NOT NULL,
      signed_at timestamptz NOT NULL,
      key_id text NOT NULL,
      signature bytea NOT NULL,
      PRIMARY KEY (org_id, seq)
    );
  `,
  )

  // Row-level security: the org a request runs as is the only org it can see or write.
  for (const table of ['custom_roles', 'memberships', 'service_accounts', 'api_tokens', 'sessions', 'invitations']) {
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
    ALTER TABLE orgs ENABLE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON orgs TO custodian_app USING (id = custodian_current_org());
    GRANT SELECT, UPDATE (name) ON orgs TO custodian_app;

    -- Users are global identities; an org sees only the users who are its members.
    ALTER TABLE users ENABLE ROW LEVEL SECURITY;
    CREATE POLICY members_of_current_org ON users TO custodian_app
      USING (EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = users.id));
    GRANT SELECT (id, email, created_at) ON users TO custodian_app;

    -- The audit log is append-only for the application: it may add events for its own
    -- org and read them, never change or remove one. Chaining runs as the owner.
    ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON audit_events TO custodian_app
      USING (org_id = custodian_current_org()) WITH CHECK (org_id = custodian_current_org() AND seq IS NULL);
    GRANT SELECT, INSERT ON audit_events TO custodian_app;

    ALTER TABLE audit_checkpoints ENABLE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON audit_checkpoints TO custodian_app USING (org_id = custodian_current_org());
    GRANT SELECT ON audit_checkpoints TO custodian_app;

    ALTER TABLE audit_heads ENABLE ROW LEVEL SECURITY;
    ALTER TABLE bootstrap_tokens ENABLE ROW LEVEL SECURITY;
  `,
  )
}
