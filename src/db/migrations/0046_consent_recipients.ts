import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Consent recipients and propagation (P7.7, GDPR Art. 19; issue 22; docs/consent.md#propagation-to-recipients),
 * per org under row-level security.
 *
 * - `consent_recipients`: the org's registry of the processors and recipients a purpose
 *   declares — a name (what a purpose's `recipients` lists), the HTTPS endpoint told of
 *   withdrawals, objections and erasures, the signing secret (Standard Webhooks `whsec_…`,
 *   kept in the vault: `secret_id`), the recipient's optional Ed25519 public key (32 raw
 *   bytes: a signed acknowledgement is verified with it) and the hours it has to stop
 *   processing after being told.
 * - `consent_propagations`: one message to one recipient (its id is the webhook
 *   delivery's id, sent as `webhook-id`): the action, the purposes, the deadline, and the
 *   acknowledgement — only SHA-256 of its token is stored (`token_hash`), and
 *   `ack_signed` whether the recipient signed it. `overdue_alerted_at`: the alert raised
 *   once the deadline passed without an acknowledgement (the consent jobs, through a
 *   partial index of what is unacknowledged).
 *
 * Existing purposes keep their free-text `recipients` as they are (no row is created for
 * them): a name no recipient is registered under stays a declared label, shown and put on
 * receipts, but nothing is delivered to it; a purpose may only gain registered names.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE TABLE consent_recipients (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      url text NOT NULL CHECK (url LIKE 'https://%'),
      secret_id uuid NOT NULL,
      public_key bytea CHECK (public_key IS NULL OR length(public_key) = 32),
      deadline_hours integer NOT NULL CHECK (deadline_hours BETWEEN 1 AND 8760),
      created_at timestamptz NOT NULL,
      created_by text NOT NULL,
      updated_at timestamptz NOT NULL,
      UNIQUE (org_id, name)
    );
    CREATE TABLE consent_propagations (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      recipient_id uuid NOT NULL,
      recipient_name text NOT NULL,
      action text NOT NULL CHECK (action IN ('withdraw', 'object', 'objection_upheld', 'erasure')),
      purposes text[] NOT NULL CHECK (cardinality(purposes) > 0),
      request_id uuid REFERENCES privacy_requests (id) ON DELETE CASCADE,
      token_hash bytea NOT NULL UNIQUE,
      deadline_at timestamptz NOT NULL,
      created_at timestamptz NOT NULL,
      acknowledged_at timestamptz,
      ack_signed boolean NOT NULL DEFAULT false,
      overdue_alerted_at timestamptz
    );
    CREATE INDEX consent_propagations_org ON consent_propagations (org_id, created_at, id);
    CREATE INDEX consent_propagations_unacked ON consent_propagations (org_id, deadline_at, id)
      WHERE acknowledged_at IS NULL;
    CREATE INDEX consent_propagations_acked ON consent_propagations (org_id, acknowledged_at, id)
      WHERE acknowledged_at IS NOT NULL;
    CREATE INDEX consent_propagations_overdue_due ON consent_propagations (deadline_at)
      WHERE acknowledged_at IS NULL AND overdue_alerted_at IS NULL;
    `,
  )
  for (const table of ['consent_recipients', 'consent_propagations'])
    await runScript(
      db,
      `
      ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY;
      CREATE POLICY tenant_isolation ON ${table} TO custodian_app
        USING (org_id = custodian_current_org()) WITH CHECK (org_id = custodian_current_org());
      `,
    )
  await runScript(
    db,
    `
    GRANT SELECT, INSERT, UPDATE, DELETE ON consent_recipients TO custodian_app;
    GRANT SELECT, INSERT, UPDATE ON consent_propagations TO custodian_app;
    `,
  )
}
