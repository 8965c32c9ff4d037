import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Consent re-consent, expiry and objection clocks (P7.7, issue 22; docs/consent.md).
 *
 * - `consent_purposes.reconsent_grace_days`: days a grant under a notice version that a
 *   material change superseded still counts (null or 0: none). A material change sets
 *   `reconsent_since` (its publication) and `reconsent_grace_until`, and moves the
 *   previous material change's version to `reconsent_hard_version`: grants under a version
 *   before it get no grace from a later change.
 * - Indexes over `consent_state` for the re-consent lists (per purpose, in their page
 *   order) and for the expiry job (the grants whose lifetime ended, across orgs).
 * - `consent_objections.due_soon_notified_at`, `overdue_notified_at`: the deadline
 *   reminders; indexes for the job and the list of pending objections by due date.
 * - `consent_reconsent_runs`: telling the host app, in batches, which subjects a material
 *   change affects (a cursor per run, so a run resumes where it stopped).
 * - Webhooks may subscribe to `consent.reconsent_required`.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    ALTER TABLE consent_purposes ADD COLUMN reconsent_grace_days integer CHECK (reconsent_grace_days BETWEEN 0 AND 365);
    ALTER TABLE consent_purposes ADD COLUMN reconsent_since timestamptz;
    ALTER TABLE consent_purposes ADD COLUMN reconsent_grace_until timestamptz;
    ALTER TABLE consent_purposes ADD COLUMN reconsent_hard_version integer;
    CREATE INDEX consent_state_reconsent ON consent_state (org_id, purpose_id, notice_version, subject_ref)
      WHERE state = 'granted';
    CREATE INDEX consent_state_lapsed ON consent_state (org_id, purpose_id, expires_at, subject_ref)
      WHERE state IN ('granted', 'expired') AND expires_at IS NOT NULL;
    CREATE INDEX consent_state_expiry_due ON consent_state (expires_at) WHERE state = 'granted' AND expires_at IS NOT NULL;
    ALTER TABLE consent_objections ADD COLUMN due_soon_notified_at timestamptz;
    ALTER TABLE consent_objections ADD COLUMN overdue_notified_at timestamptz;
    CREATE INDEX consent_objections_due ON consent_objections (due_at) WHERE status = 'pending';
    CREATE INDEX consent_objections_pending ON consent_objections (org_id, due_at, id) WHERE status = 'pending';
    CREATE TABLE consent_reconsent_runs (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      purpose_id uuid NOT NULL REFERENCES consent_purposes (id) ON DELETE CASCADE,
      version integer NOT NULL,
      since timestamptz NOT NULL,
      grace_until timestamptz,
      cursor_version integer,
      cursor_ref bytea,
      batches integer NOT NULL DEFAULT 0,
      subjects integer NOT NULL DEFAULT 0,
      created_at timestamptz NOT NULL,
      done_at timestamptz
    );
    CREATE INDEX consent_reconsent_runs_due ON consent_reconsent_runs (created_at) WHERE done_at IS NULL;
    ALTER TABLE consent_reconsent_runs ENABLE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON consent_reconsent_runs TO custodian_app
      USING (org_id = custodian_current_org()) WITH CHECK (org_id = custodian_current_org());
    GRANT SELECT, INSERT, UPDATE ON consent_reconsent_runs TO custodian_app;
    ALTER TABLE webhooks DROP CONSTRAINT webhooks_events_check;
    ALTER TABLE webhooks ADD CONSTRAINT webhooks_events_check
      CHECK (cardinality(events) > 0 AND events <@ ARRAY['erasure.requested', 'notifications', 'audit.checkpoint',
        'consent.reconsent_required']::text[]);
    `,
  )
}
