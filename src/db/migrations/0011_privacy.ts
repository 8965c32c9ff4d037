import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * The personal-data vault (P7.1–P7.3, P1.3).
 *
 * - `subject_keys`: one data key per (org, data subject), wrapped by the org key. A
 *   subject is found by `subject_ref` = HMAC(org, subject id): the id itself is stored
 *   nowhere in clear. Shredding the key (wrapped bytes erased) makes every copy of the
 *   subject's data unreadable — backups included. `restricted_at`: processing restricted.
 * - `data_records`: the host application's records, each sealed with its subject's key
 *   (the subject id and payload together, AAD binding org, record and class).
 * - `retention_policies` / `retention_runs`: how long each data class is kept, and the
 *   proof of each purge (per class: purged, remaining, age of the oldest remaining).
 * - `audit_personal`: personal fields of audit events, sealed with the subject's key and
 *   committed in the chained event by a salted hash; erasure deletes them and the chain
 *   still verifies.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE TABLE subject_keys (
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      subject_ref bytea NOT NULL,
      key_id uuid NOT NULL UNIQUE,
      kek_version integer,
      wrapped_key bytea,
      restricted_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      shredded_at timestamptz,
      PRIMARY KEY (org_id, subject_ref),
      CHECK ((shredded_at IS NULL) = (wrapped_key IS NOT NULL AND kek_version IS NOT NULL))
    );
    CREATE TABLE data_records (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL,
      subject_ref bytea NOT NULL,
      data_class text NOT NULL CHECK (data_class ~ '^[a-z][a-z0-9_]{0,39}$'),
      tags text[] NOT NULL DEFAULT '{}',
      ciphertext bytea NOT NULL,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      FOREIGN KEY (org_id, subject_ref) REFERENCES subject_keys (org_id, subject_ref) ON DELETE CASCADE
    );
    CREATE INDEX data_records_subject ON data_records (org_id, subject_ref);
    CREATE INDEX data_records_retention ON data_records (org_id, data_class, created_at);
    CREATE TABLE retention_policies (
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      data_class text NOT NULL CHECK (data_class ~ '^[a-z][a-z0-9_]{0,39}$'),
      retain_seconds integer CHECK (retain_seconds IS NULL OR retain_seconds BETWEEN 60 AND 315360000),
      updated_at timestamptz NOT NULL DEFAULT now(),
      updated_by text NOT NULL,
      PRIMARY KEY (org_id, data_class)
    );
    CREATE TABLE retention_runs (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      ran_at timestamptz NOT NULL,
      purged integer NOT NULL,
      classes jsonb NOT NULL
    );
    CREATE INDEX retention_runs_org ON retention_runs (org_id, ran_at);
    CREATE TABLE audit_personal (
      event_id uuid PRIMARY KEY REFERENCES audit_events (event_id) ON DELETE CASCADE,
      org_id uuid NOT NULL,
      subject_ref bytea NOT NULL,
      sealed bytea NOT NULL
    );
    CREATE INDEX audit_personal_subject ON audit_personal (org_id, subject_ref);
  `,
  )
  for (const table of ['subject_keys', 'data_records', 'retention_policies', 'retention_runs']) {
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
  // Like the audit log it belongs to: the app adds and reads; it deletes only to erase.
  await runScript(
    db,
    `
    ALTER TABLE audit_personal ENABLE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON audit_personal TO custodian_app
      USING (org_id = custodian_current_org()) WITH CHECK (org_id = custodian_current_org());
    GRANT SELECT, INSERT, DELETE ON audit_personal TO custodian_app;
  `,
  )
}
