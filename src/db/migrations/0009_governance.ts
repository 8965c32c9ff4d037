import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Access governance (P2.5, P2.6, P2.8).
 *
 * - `access_grants`: an operator's request for time-boxed diagnostic access to one org,
 *   and its life: pending, approved (from `starts_at` to `expires_at`), denied, revoked,
 *   withdrawn. "Lapsed" and "expired" are not stored: they follow from the clock, which
 *   is read at every use. Rows belong to the org whose data they open, so the org sees
 *   them under row-level security.
 * - `access_grant_approvals`: one row per approver (an org can require two).
 * - `org_grant_policies`: the org's longest grant and how many approvers it needs.
 * - `memberships.suspended_at`: a suspended member keeps the membership but no access.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE TABLE org_grant_policies (
      org_id uuid PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
      max_days integer NOT NULL DEFAULT 21 CHECK (max_days BETWEEN 1 AND 90),
      required_approvals integer NOT NULL DEFAULT 1 CHECK (required_approvals IN (1, 2)),
      updated_at timestamptz NOT NULL DEFAULT now(),
      updated_by text NOT NULL
    );
    CREATE TABLE access_grants (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      grantee_user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      grantee_email text NOT NULL,
      reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 1000),
      permissions text[] NOT NULL,
      secret_ids uuid[] NOT NULL DEFAULT '{}',
      duration_days integer NOT NULL CHECK (duration_days BETWEEN 1 AND 90),
      required_approvals integer NOT NULL CHECK (required_approvals IN (1, 2)),
      status text NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'revoked', 'withdrawn')),
      requested_at timestamptz NOT NULL,
      starts_at timestamptz,
      expires_at timestamptz,
      decided_at timestamptz,
      decided_by text,
      decision_note text,
      ended_at timestamptz,
      ended_by text,
      CHECK (status <> 'approved' OR (starts_at IS NOT NULL AND expires_at IS NOT NULL))
    );
    CREATE INDEX access_grants_org ON access_grants (org_id, requested_at);
    CREATE INDEX access_grants_grantee ON access_grants (grantee_user_id, requested_at);
    CREATE TABLE access_grant_approvals (
      grant_id uuid NOT NULL REFERENCES access_grants (id) ON DELETE CASCADE,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      approver_user_id uuid NOT NULL,
      approved_at timestamptz NOT NULL,
      PRIMARY KEY (grant_id, approver_user_id)
    );
    ALTER TABLE memberships ADD COLUMN suspended_at timestamptz;
  `,
  )
  for (const table of ['org_grant_policies', 'access_grants', 'access_grant_approvals']) {
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
