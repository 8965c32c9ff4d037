import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Responsible disclosure (P9.1).
 *
 * - `vulnerability_reports`: one per report, in the provider org. Its details are sealed
 *   under a data key of its own (`dek_wrapped`); the reporter's contact is sealed under
 *   the reporter's subject key (erasable like any data subject's). The reporter holds a
 *   status token of which only SHA-256 is kept.
 * - `vulnerability_report_attachments`: sealed with the report's key.
 * - `vulnerability_report_messages`: the conversation and status changes; internal notes
 *   are never shown to the reporter.
 * - `notifications` may now be addressed to someone who is not a user (`recipient_ref`,
 *   e.g. a report's reporter), whose address is resolved at sending time.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    ALTER TABLE notifications ALTER COLUMN recipient_user_id DROP NOT NULL;
    ALTER TABLE notifications ADD COLUMN recipient_ref text;
    ALTER TABLE notifications ADD CONSTRAINT notifications_one_recipient CHECK ((recipient_user_id IS NULL) <> (recipient_ref IS NULL));

    CREATE TABLE vulnerability_reports (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      reference text NOT NULL UNIQUE,
      token_hash bytea NOT NULL,
      status text NOT NULL CHECK (status IN ('received', 'acknowledged', 'triaged', 'fixing', 'resolved', 'rejected', 'duplicate')),
      reported_severity text CHECK (reported_severity IN ('low', 'medium', 'high', 'critical')),
      severity text CHECK (severity IN ('low', 'medium', 'high', 'critical')),
      dek_wrapped bytea NOT NULL,
      kek_version integer NOT NULL,
      details_sealed bytea NOT NULL,
      subject_ref bytea,
      contact_sealed bytea,
      received_at timestamptz NOT NULL,
      ack_due_at timestamptz NOT NULL,
      acknowledged_at timestamptz,
      ack_reminded_at timestamptz,
      ack_overdue_at timestamptz,
      closed_at timestamptz,
      updated_at timestamptz NOT NULL
    );
    CREATE INDEX vulnerability_reports_unacknowledged ON vulnerability_reports (ack_due_at) WHERE acknowledged_at IS NULL;
    CREATE INDEX vulnerability_reports_org ON vulnerability_reports (org_id, received_at DESC);
    CREATE TABLE vulnerability_report_attachments (
      report_id uuid NOT NULL REFERENCES vulnerability_reports (id) ON DELETE CASCADE,
      org_id uuid NOT NULL,
      idx integer NOT NULL,
      filename text NOT NULL,
      content_type text NOT NULL,
      size integer NOT NULL,
      sha256 text NOT NULL,
      sealed bytea NOT NULL,
      PRIMARY KEY (report_id, idx)
    );
    CREATE TABLE vulnerability_report_messages (
      id uuid PRIMARY KEY,
      report_id uuid NOT NULL REFERENCES vulnerability_reports (id) ON DELETE CASCADE,
      org_id uuid NOT NULL,
      at timestamptz NOT NULL,
      author text NOT NULL CHECK (author IN ('team', 'reporter')),
      author_user_id uuid,
      status text,
      internal boolean NOT NULL DEFAULT false,
      body_sealed bytea
    );
    CREATE INDEX vulnerability_report_messages_report ON vulnerability_report_messages (report_id, at);
  `,
  )
  for (const table of ['vulnerability_reports', 'vulnerability_report_attachments', 'vulnerability_report_messages']) {
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
