import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Data-subject requests, erasure and its proof (P7.1, P7.2, P7.5, P7.6).
 *
 * - `privacy_requests`: access, rectify, erase, restrict, lift a restriction; due 72 hours
 *   (by default) after receipt. Everything personal about a request (the subject id, the
 *   requester) is sealed with the subject's key: erasing the subject erases it here too.
 * - `privacy_request_events`: each request's history.
 * - `privacy_exports`: an access request's export, sealed with the subject's key, to be
 *   downloaded by an authenticated caller until it expires; then its content is erased.
 * - `erasure_webhooks` / `webhook_deliveries`: the host application's endpoints told to
 *   erase a subject too (HTTPS only, signed); each delivery's payload is sealed with a
 *   data key of its own under the org key, and erased once delivered or given up.
 * - `erasure_certificates`: the signed written confirmation of each erasure.
 * - `org_privacy_policies`: the response deadline and how long exports stay downloadable.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE TABLE org_privacy_policies (
      org_id uuid PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
      response_hours integer NOT NULL DEFAULT 72 CHECK (response_hours BETWEEN 1 AND 2160),
      export_hours integer NOT NULL DEFAULT 72 CHECK (export_hours BETWEEN 1 AND 720),
      updated_at timestamptz NOT NULL DEFAULT now(),
      updated_by text NOT NULL
    );
    CREATE TABLE privacy_requests (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      kind text NOT NULL CHECK (kind IN ('access', 'rectify', 'erase', 'restrict', 'lift_restriction')),
      subject_ref bytea NOT NULL,
      sealed bytea,
      status text NOT NULL CHECK (status IN ('open', 'in_progress', 'completed', 'rejected')),
      received_at timestamptz NOT NULL,
      due_at timestamptz NOT NULL,
      assignee_user_id uuid,
      verification jsonb,
      result jsonb,
      completed_at timestamptz,
      due_soon_notified_at timestamptz,
      overdue_notified_at timestamptz
    );
    CREATE INDEX privacy_requests_due ON privacy_requests (status, due_at);
    CREATE TABLE privacy_request_events (
      id uuid PRIMARY KEY,
      request_id uuid NOT NULL REFERENCES privacy_requests (id) ON DELETE CASCADE,
      org_id uuid NOT NULL,
      at timestamptz NOT NULL,
      actor text NOT NULL,
      event text NOT NULL,
      details jsonb NOT NULL DEFAULT '{}'
    );
    CREATE INDEX privacy_request_events_request ON privacy_request_events (request_id, at);
    CREATE TABLE privacy_exports (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      request_id uuid NOT NULL REFERENCES privacy_requests (id) ON DELETE CASCADE,
      subject_ref bytea NOT NULL,
      sealed bytea,
      created_at timestamptz NOT NULL,
      expires_at timestamptz NOT NULL,
      downloads integer NOT NULL DEFAULT 0
    );
    CREATE TABLE erasure_webhooks (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      name text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
      url text NOT NULL CHECK (url LIKE 'https://%'),
      secret_id uuid NOT NULL,
      enabled boolean NOT NULL DEFAULT true,
      created_at timestamptz NOT NULL DEFAULT now(),
      created_by text NOT NULL,
      UNIQUE (org_id, name)
    );
    CREATE TABLE webhook_deliveries (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      webhook_id uuid NOT NULL,
      webhook_name text NOT NULL,
      destination text NOT NULL,
      request_id uuid REFERENCES privacy_requests (id) ON DELETE CASCADE,
      event text NOT NULL,
      kek_version integer,
      wrapped_key bytea,
      sealed bytea,
      status text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
      attempts integer NOT NULL DEFAULT 0,
      next_attempt_at timestamptz NOT NULL,
      last_status integer,
      last_error text,
      delivered_at timestamptz,
      created_at timestamptz NOT NULL
    );
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
    CREATE TABLE erasure_certificates (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      request_id uuid NOT NULL UNIQUE REFERENCES privacy_requests (id) ON DELETE CASCADE,
      jws text NOT NULL,
      issued_at timestamptz NOT NULL
    );
  `,
  )
  for (const table of [
    'org_privacy_policies',
    'privacy_requests',
    'privacy_request_events',
    'privacy_exports',
    'erasure_webhooks',
    'webhook_deliveries',
    'erasure_certificates',
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
