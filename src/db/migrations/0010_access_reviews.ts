import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Access reviews (P2.5) and permission use (P2.3).
 *
 * - `access_reviews` / `access_review_items`: a campaign per org lists every principal with
 *   access, as it stood when the campaign started; reviewers certify or revoke each item,
 *   and the finished campaign stays as evidence (who decided what, when, and what it did).
 *   At most one campaign per org is open.
 * - `access_review_policies`: cadence (quarterly by default), the window to decide, what
 *   happens to undecided items at the due date, and when an account counts as inactive.
 * - `permission_usage`: when each principal last used each permission, recorded at the
 *   authorization point (reads included, which the audit log does not record), at most
 *   once an hour per principal and permission.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE TABLE access_review_policies (
      org_id uuid PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
      cadence_days integer NOT NULL DEFAULT 91 CHECK (cadence_days BETWEEN 7 AND 366),
      window_days integer NOT NULL DEFAULT 14 CHECK (window_days BETWEEN 1 AND 90),
      on_overdue text NOT NULL DEFAULT 'remind' CHECK (on_overdue IN ('remind', 'revoke')),
      inactive_days integer NOT NULL DEFAULT 90 CHECK (inactive_days BETWEEN 7 AND 365),
      updated_at timestamptz NOT NULL DEFAULT now(),
      updated_by text NOT NULL
    );
    CREATE TABLE access_reviews (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      status text NOT NULL CHECK (status IN ('open', 'closed')),
      started_at timestamptz NOT NULL,
      due_at timestamptz NOT NULL,
      started_by text NOT NULL,
      closed_at timestamptz,
      closed_by text,
      last_reminded_at timestamptz,
      summary jsonb
    );
    CREATE UNIQUE INDEX access_reviews_one_open ON access_reviews (org_id) WHERE status = 'open';
    CREATE INDEX access_reviews_org ON access_reviews (org_id, started_at);
    CREATE TABLE access_review_items (
      id uuid PRIMARY KEY,
      review_id uuid NOT NULL REFERENCES access_reviews (id) ON DELETE CASCADE,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      kind text NOT NULL CHECK (kind IN ('member', 'service_account', 'api_token', 'grant')),
      subject_id text NOT NULL,
      label text NOT NULL,
      role text,
      permissions text[] NOT NULL,
      used_permissions text[] NOT NULL,
      suggested_role text,
      last_activity_at timestamptz,
      mfa_enabled boolean,
      inactive boolean NOT NULL,
      details jsonb NOT NULL DEFAULT '{}',
      decision text CHECK (decision IN ('certify', 'revoke', 'reduce')),
      reduce_to text,
      decided_by text,
      decided_at timestamptz,
      note text,
      outcome text
    );
    CREATE INDEX access_review_items_review ON access_review_items (review_id);
    CREATE TABLE permission_usage (
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      principal_type text NOT NULL,
      principal_id text NOT NULL,
      permission text NOT NULL,
      last_used_at timestamptz NOT NULL,
      PRIMARY KEY (org_id, principal_type, principal_id, permission)
    );
  `,
  )
  for (const table of ['access_review_policies', 'access_reviews', 'access_review_items', 'permission_usage']) {
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
