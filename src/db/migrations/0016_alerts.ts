import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Alerts over the audit stream (P5.3).
 *
 * - `alert_cursors`: how far each org's chain has been evaluated (by `seq`: gap-free and
 *   ordered, so no event is skipped or seen twice).
 * - `alert_rule_settings`: an org's overrides of the built-in rules' defaults.
 * - `alerts`: what fired, deduplicated per rule and key within a window, with the events
 *   that made it, acknowledgement, resolution and the incident it opened.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE TABLE alert_cursors (
      org_id uuid PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
      last_seq bigint NOT NULL DEFAULT 0,
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE alert_rule_settings (
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      rule text NOT NULL,
      enabled boolean NOT NULL,
      threshold integer NOT NULL CHECK (threshold BETWEEN 1 AND 100000),
      window_seconds integer NOT NULL CHECK (window_seconds BETWEEN 1 AND 31536000),
      dedupe_seconds integer NOT NULL CHECK (dedupe_seconds BETWEEN 0 AND 31536000),
      updated_at timestamptz NOT NULL DEFAULT now(),
      updated_by text NOT NULL,
      PRIMARY KEY (org_id, rule)
    );
    CREATE TABLE alerts (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      rule text NOT NULL,
      severity text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
      dedupe_key text NOT NULL,
      status text NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
      title text NOT NULL,
      details jsonb NOT NULL DEFAULT '{}',
      first_seen_at timestamptz NOT NULL,
      last_seen_at timestamptz NOT NULL,
      occurrences integer NOT NULL DEFAULT 1,
      event_ids uuid[] NOT NULL DEFAULT '{}',
      acknowledged_at timestamptz,
      acknowledged_by text,
      resolved_at timestamptz,
      resolved_by text,
      incident_id uuid
    );
    CREATE INDEX alerts_dedupe ON alerts (org_id, rule, dedupe_key, last_seen_at);
    CREATE INDEX alerts_status ON alerts (org_id, status, last_seen_at);
    CREATE INDEX audit_events_org_action_time ON audit_events (org_id, action, occurred_at);
  `,
  )
  for (const table of ['alert_cursors', 'alert_rule_settings', 'alerts']) {
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
