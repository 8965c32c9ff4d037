import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Consent (P7.7, issue 22; docs/consent.md), per org under row-level security.
 *
 * - `consent_purposes`: what the org processes personal data for, with its lawful basis
 *   (GDPR Art. 6(1)), which never changes once set. `reconsent_from_version`: the newest
 *   notice version that was a material change for this purpose — grants under an earlier
 *   version no longer count.
 * - `consent_notices`: the notice versions shown to subjects, exact text and its SHA-256.
 *   The app role may insert and read them, never change or delete them: a published
 *   version is immutable in the database itself.
 * - `consent_events`: append-only (insert and read only for the app role), each also an
 *   audit event with the same id. The subject is the privacy module's keyed reference; the
 *   evidence is sealed with the subject's key among the audit event's personal fields, and
 *   only its commitment is kept here. `app_event_id` (the host application's id) is
 *   unique per org: a retry finds the first event.
 * - `consent_state`: the projection of the events, one row per subject and purpose,
 *   updated in the event's transaction; what a check reads (its primary key).
 * - `consent_objections`: Art. 21 objections that wait for a decision (one month).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE TABLE consent_purposes (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      key text NOT NULL CHECK (key ~ '^[a-z][a-z0-9_.-]{0,62}$'),
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      description text NOT NULL CHECK (length(description) <= 4000),
      data_categories text[] NOT NULL DEFAULT '{}',
      recipients text[] NOT NULL DEFAULT '{}',
      lawful_basis text NOT NULL CHECK (lawful_basis IN ('consent', 'explicit_consent', 'contract', 'legal_obligation',
        'vital_interests', 'public_task', 'legitimate_interests')),
      direct_marketing boolean NOT NULL DEFAULT false,
      gpc_effect text NOT NULL DEFAULT 'none' CHECK (gpc_effect IN ('none', 'opt_out')),
      lifetime_days integer CHECK (lifetime_days BETWEEN 1 AND 36500),
      reconsent_from_version integer,
      created_at timestamptz NOT NULL,
      created_by text NOT NULL,
      updated_at timestamptz NOT NULL,
      UNIQUE (org_id, key)
    );
    CREATE TABLE consent_notices (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      version integer NOT NULL CHECK (version >= 1),
      language text NOT NULL,
      text text NOT NULL,
      sha256 text NOT NULL,
      purposes text[] NOT NULL CHECK (cardinality(purposes) BETWEEN 1 AND 100),
      material_change boolean NOT NULL,
      published_at timestamptz NOT NULL,
      published_by text NOT NULL,
      UNIQUE (org_id, version)
    );
    CREATE TABLE consent_events (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      subject_ref bytea NOT NULL,
      subject_key_id uuid NOT NULL,
      purpose_id uuid NOT NULL REFERENCES consent_purposes (id) ON DELETE CASCADE,
      action text NOT NULL CHECK (action IN ('grant', 'deny', 'withdraw', 'expire', 'object', 'objection_upheld',
        'objection_rejected')),
      lawful_basis text NOT NULL,
      notice_version integer,
      notice_sha256 text,
      method text NOT NULL CHECK (method IN ('form', 'button', 'api', 'gpc', 'double_opt_in', 'import', 'staff')),
      collected_at timestamptz NOT NULL,
      received_at timestamptz NOT NULL,
      actor_type text NOT NULL,
      actor_id text,
      recorded_by text NOT NULL,
      app_event_id text,
      fingerprint bytea,
      source_event_id uuid,
      objection_id uuid,
      evidence_commitment text,
      gpc_conflict boolean NOT NULL DEFAULT false,
      expires_at timestamptz,
      UNIQUE (org_id, app_event_id)
    );
    CREATE INDEX consent_events_subject ON consent_events (org_id, subject_ref, purpose_id, received_at);
    CREATE INDEX consent_events_source ON consent_events (source_event_id) WHERE source_event_id IS NOT NULL;
    CREATE TABLE consent_state (
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      subject_ref bytea NOT NULL,
      purpose_id uuid NOT NULL REFERENCES consent_purposes (id) ON DELETE CASCADE,
      subject_key_id uuid NOT NULL,
      state text NOT NULL CHECK (state IN ('granted', 'denied', 'withdrawn', 'expired', 'objection_pending', 'objected',
        'objection_rejected')),
      lawful_basis text NOT NULL,
      event_id uuid NOT NULL,
      notice_version integer,
      expires_at timestamptz,
      updated_at timestamptz NOT NULL,
      PRIMARY KEY (org_id, subject_ref, purpose_id)
    );
    CREATE TABLE consent_objections (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      subject_ref bytea NOT NULL,
      subject_key_id uuid NOT NULL,
      purpose_id uuid NOT NULL REFERENCES consent_purposes (id) ON DELETE CASCADE,
      event_id uuid NOT NULL,
      opened_at timestamptz NOT NULL,
      due_at timestamptz NOT NULL,
      status text NOT NULL CHECK (status IN ('pending', 'upheld', 'rejected')),
      decided_at timestamptz,
      decided_by text,
      grounds text,
      decision_event_id uuid
    );
    CREATE INDEX consent_objections_page ON consent_objections (org_id, opened_at, id);
    `,
  )
  for (const [table, grants] of [
    ['consent_purposes', 'SELECT, INSERT, UPDATE'],
    ['consent_notices', 'SELECT, INSERT'],
    ['consent_events', 'SELECT, INSERT'],
    ['consent_state', 'SELECT, INSERT, UPDATE'],
    ['consent_objections', 'SELECT, INSERT, UPDATE'],
  ] as const) {
    await runScript(
      db,
      `
      ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY;
      CREATE POLICY tenant_isolation ON ${table} TO custodian_app
        USING (org_id = custodian_current_org()) WITH CHECK (org_id = custodian_current_org());
      GRANT ${grants} ON ${table} TO custodian_app;
    `,
    )
  }
}
