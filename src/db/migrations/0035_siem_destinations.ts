import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Streaming the audit log to a SIEM (issue 14 §1, docs/siem.md).
 *
 * - `siem_destinations`: per org, where chained events go (generic JSON Lines over HTTPS,
 *   Splunk HEC, Datadog logs, syslog over TLS), with the stream's state: `cursor_seq` is
 *   the last `seq` the destination acknowledged (moved only after its acknowledgement),
 *   the current batch's attempts and next attempt, and a lease (`lease_token`,
 *   `leased_until`) so that one process at a time sends to a destination. Its credential
 *   (HEC token, Datadog API key, bearer token, TLS client key) is a vault secret
 *   (`secret_id`), never a column here.
 * - `siem_dead_letters`: a batch given up after the last attempt: its seq range, the
 *   error, and what was done about it (retried or skipped, by whom). The destination
 *   stops at an open dead letter; nothing is skipped unless someone asks.
 *
 * Due destinations are found by `siem_destinations_due` (active ones by next attempt): a
 * pass reads the active destinations, never the events they already have.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE TABLE siem_destinations (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      name text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
      kind text NOT NULL CHECK (kind IN ('jsonl', 'splunk_hec', 'datadog', 'syslog_tls')),
      url text CHECK (url LIKE 'https://%'),
      host text,
      port integer CHECK (port BETWEEN 1 AND 65535),
      settings jsonb NOT NULL DEFAULT '{}',
      secret_id uuid,
      state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'paused', 'stopped')),
      cursor_seq bigint NOT NULL DEFAULT 0 CHECK (cursor_seq >= 0),
      attempts integer NOT NULL DEFAULT 0,
      next_attempt_at timestamptz NOT NULL DEFAULT now(),
      lease_token uuid,
      leased_until timestamptz,
      last_attempt_at timestamptz,
      last_delivered_at timestamptz,
      last_status integer,
      last_error text,
      delivered_events bigint NOT NULL DEFAULT 0,
      created_at timestamptz NOT NULL DEFAULT now(),
      created_by text NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (org_id, name),
      CHECK ((kind = 'syslog_tls') = (host IS NOT NULL AND port IS NOT NULL AND url IS NULL))
    );
    CREATE INDEX siem_destinations_due ON siem_destinations (next_attempt_at) WHERE state = 'active';
    CREATE TABLE siem_dead_letters (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      destination_id uuid NOT NULL REFERENCES siem_destinations (id) ON DELETE CASCADE,
      from_seq bigint NOT NULL,
      to_seq bigint NOT NULL CHECK (to_seq >= from_seq),
      attempts integer NOT NULL,
      last_status integer,
      last_error text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      resolution text CHECK (resolution IN ('retried', 'skipped')),
      resolved_at timestamptz,
      resolved_by text
    );
    CREATE INDEX siem_dead_letters_page ON siem_dead_letters (org_id, destination_id, created_at, id);
    CREATE UNIQUE INDEX siem_dead_letters_open ON siem_dead_letters (destination_id) WHERE resolution IS NULL;
  `,
  )
  for (const table of ['siem_destinations', 'siem_dead_letters']) {
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
