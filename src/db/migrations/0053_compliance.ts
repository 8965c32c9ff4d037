import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Live compliance checks (P5.4, P10.1, P10.2; docs/compliance.md):
 *
 * - `compliance_status`: each check's latest result per org (one row per org and check,
 *   updated by every run): verdict, summary, evidence, when it ran and since when the verdict
 *   holds. The service's own checks (TLS, the root key, …) are kept under the provider org.
 * - `compliance_history`: a row each time a check's verdict or summary changes (and its first
 *   result), never updated: what an auditor reads back.
 * - `compliance_runs`: one row per evaluation of an org (scheduled or on demand) with its
 *   counts: the evidence that the practices are evaluated regularly (P5.4).
 * - `compliance_schedule`: when each org is next due; the job takes the orgs due, a few at a
 *   time (SKIP LOCKED), so several processes share the work and a run's cost is the orgs due.
 *
 * Every table is the org's (row-level security); an org's deletion takes its rows.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE TABLE compliance_status (
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      check_id text NOT NULL,
      promise text NOT NULL,
      scope text NOT NULL CHECK (scope IN ('service', 'org')),
      verdict text NOT NULL CHECK (verdict IN ('pass', 'fail', 'not_applicable')),
      summary text NOT NULL,
      evidence jsonb NOT NULL,
      ran_at timestamptz NOT NULL,
      since timestamptz NOT NULL,
      PRIMARY KEY (org_id, check_id)
    );
    CREATE TABLE compliance_history (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      check_id text NOT NULL,
      promise text NOT NULL,
      verdict text NOT NULL CHECK (verdict IN ('pass', 'fail', 'not_applicable')),
      previous_verdict text CHECK (previous_verdict IN ('pass', 'fail', 'not_applicable')),
      summary text NOT NULL,
      evidence jsonb NOT NULL,
      ran_at timestamptz NOT NULL
    );
    CREATE INDEX compliance_history_by_check ON compliance_history (org_id, check_id, ran_at DESC, id DESC);
    CREATE INDEX compliance_history_by_time ON compliance_history (org_id, ran_at DESC, id DESC);
    CREATE TABLE compliance_runs (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      trigger text NOT NULL CHECK (trigger IN ('schedule', 'demand')),
      started_at timestamptz NOT NULL,
      finished_at timestamptz NOT NULL,
      passed integer NOT NULL,
      failed integer NOT NULL,
      not_applicable integer NOT NULL,
      requested_by uuid
    );
    CREATE INDEX compliance_runs_by_time ON compliance_runs (org_id, started_at DESC, id DESC);
    CREATE TABLE compliance_schedule (
      org_id uuid PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
      next_run_at timestamptz NOT NULL
    );
    CREATE INDEX compliance_schedule_due ON compliance_schedule (next_run_at);
    `,
  )
  for (const table of ['compliance_status', 'compliance_history', 'compliance_runs', 'compliance_schedule']) {
    await runScript(
      db,
      `
      ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY;
      CREATE POLICY tenant_isolation ON ${table} TO custodian_app
        USING (org_id = custodian_current_org()) WITH CHECK (org_id = custodian_current_org());
      `,
    )
  }
  await runScript(
    db,
    `
    GRANT SELECT, INSERT, UPDATE ON compliance_status TO custodian_app;
    GRANT SELECT, INSERT ON compliance_history TO custodian_app;
    GRANT SELECT, INSERT ON compliance_runs TO custodian_app;
    GRANT SELECT, INSERT, UPDATE ON compliance_schedule TO custodian_app;
    INSERT INTO compliance_schedule (org_id, next_run_at) SELECT id, now() FROM orgs;
    -- Every org created from now on is due at once (org creation runs as the owner).
    CREATE FUNCTION custodian_compliance_schedule_org() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO compliance_schedule (org_id, next_run_at) VALUES (NEW.id, now()) ON CONFLICT (org_id) DO NOTHING;
      RETURN NULL;
    END $$;
    CREATE TRIGGER orgs_compliance_schedule AFTER INSERT ON orgs
      FOR EACH ROW EXECUTE FUNCTION custodian_compliance_schedule_org();
    `,
  )
}
