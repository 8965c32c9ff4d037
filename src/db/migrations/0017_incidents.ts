import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Incident response (P6.1–P6.4).
 *
 * - The plan: `incident_types` (with ordered playbook steps), `escalation_policies`,
 *   `breach_party_rules` (who must be told of a breach, and within how long). Every
 *   change makes a new `response_plan_versions` row (a snapshot); `response_plan_reviews`
 *   records each review, due six months after the last.
 * - `incidents` with roles, `incident_steps` (the playbook as worked through),
 *   `incident_timeline` (every change), `incident_links` (alerts, audit events).
 * - `breach_notifications`: one clock per notified party, from the breach's confirmation.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE TABLE incident_types (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      name text NOT NULL,
      description text NOT NULL DEFAULT '',
      default_severity text NOT NULL CHECK (default_severity IN ('low', 'medium', 'high', 'critical')),
      affects_third_parties boolean NOT NULL DEFAULT false,
      playbook jsonb NOT NULL DEFAULT '[]',
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (org_id, name)
    );
    CREATE TABLE escalation_policies (
      org_id uuid PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
      levels jsonb NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now(),
      updated_by text NOT NULL
    );
    CREATE TABLE breach_party_rules (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      kind text NOT NULL CHECK (kind IN ('customers', 'users', 'third_party', 'regulator')),
      name text NOT NULL,
      deadline_hours integer NOT NULL CHECK (deadline_hours BETWEEN 1 AND 720),
      UNIQUE (org_id, kind, name)
    );
    CREATE TABLE response_plan_versions (
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      version integer NOT NULL,
      snapshot jsonb NOT NULL,
      created_at timestamptz NOT NULL,
      created_by text NOT NULL,
      change text NOT NULL,
      PRIMARY KEY (org_id, version)
    );
    CREATE TABLE response_plan_reviews (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      version integer NOT NULL,
      reviewed_at timestamptz NOT NULL,
      reviewed_by text NOT NULL,
      notes text NOT NULL
    );
    CREATE TABLE response_plan_state (
      org_id uuid PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
      overdue_notified_at timestamptz
    );
    CREATE TABLE incidents (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      type_id uuid,
      type_name text,
      title text NOT NULL,
      severity text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
      status text NOT NULL CHECK (status IN ('open', 'acknowledged', 'contained', 'resolved', 'closed')),
      commander_user_id uuid,
      communications_user_id uuid,
      scribe_user_id uuid,
      opened_at timestamptz NOT NULL,
      opened_by text NOT NULL,
      acknowledged_at timestamptz,
      resolved_at timestamptz,
      closed_at timestamptz,
      escalation_level integer NOT NULL DEFAULT 0,
      breach_confirmed_at timestamptz,
      breach_summary text
    );
    CREATE INDEX incidents_open ON incidents (status, opened_at);
    CREATE TABLE incident_steps (
      incident_id uuid NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
      org_id uuid NOT NULL,
      idx integer NOT NULL,
      title text NOT NULL,
      done_at timestamptz,
      done_by text,
      PRIMARY KEY (incident_id, idx)
    );
    CREATE TABLE incident_timeline (
      id uuid PRIMARY KEY,
      incident_id uuid NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
      org_id uuid NOT NULL,
      at timestamptz NOT NULL,
      actor text NOT NULL,
      kind text NOT NULL,
      details jsonb NOT NULL DEFAULT '{}'
    );
    CREATE INDEX incident_timeline_incident ON incident_timeline (incident_id, at);
    CREATE TABLE incident_links (
      incident_id uuid NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
      org_id uuid NOT NULL,
      kind text NOT NULL CHECK (kind IN ('alert', 'audit_event')),
      ref uuid NOT NULL,
      PRIMARY KEY (incident_id, kind, ref)
    );
    CREATE TABLE breach_notifications (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      incident_id uuid NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
      party_kind text NOT NULL,
      party_name text NOT NULL,
      deadline_hours integer NOT NULL,
      due_at timestamptz NOT NULL,
      status text NOT NULL CHECK (status IN ('pending', 'sent', 'missed')),
      sent_at timestamptz,
      sent_by text,
      late boolean NOT NULL DEFAULT false,
      channel text,
      content text,
      reminders_sent integer NOT NULL DEFAULT 0,
      missed_at timestamptz
    );
    CREATE INDEX breach_notifications_due ON breach_notifications (status, due_at);
  `,
  )
  for (const table of [
    'incident_types',
    'escalation_policies',
    'breach_party_rules',
    'response_plan_versions',
    'response_plan_reviews',
    'response_plan_state',
    'incidents',
    'incident_steps',
    'incident_timeline',
    'incident_links',
    'breach_notifications',
  ]) {
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
