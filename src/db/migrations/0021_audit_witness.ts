import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Checkpoints leave the database (issue 11 K9).
 *
 * - `audit_checkpoints.note`: the checkpoint as a C2SP signed note, signed with the same
 *   key as its JSON form (null for checkpoints signed before this migration).
 * - `audit_witness_deliveries`: the durable outbox of checkpoints to deliver to the org's
 *   webhooks (event `audit.checkpoint`) and to the operator's witnesses (an HTTPS endpoint,
 *   a file), written in the sequencer's transaction with the checkpoint itself.
 * - Webhooks may subscribe to `audit.checkpoint`.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    ALTER TABLE audit_checkpoints ADD COLUMN note text;

    ALTER TABLE webhooks DROP CONSTRAINT webhooks_events_check;
    ALTER TABLE webhooks ADD CONSTRAINT webhooks_events_check
      CHECK (cardinality(events) > 0 AND events <@ ARRAY['erasure.requested', 'notifications', 'audit.checkpoint']::text[]);

    CREATE TABLE audit_witness_deliveries (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL,
      seq bigint NOT NULL,
      witness text NOT NULL CHECK (witness IN ('webhooks', 'https', 'file')),
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed', 'skipped')),
      attempts integer NOT NULL DEFAULT 0,
      next_attempt_at timestamptz NOT NULL DEFAULT now(),
      last_error text,
      delivered_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (org_id, seq, witness)
    );
    CREATE INDEX audit_witness_deliveries_due ON audit_witness_deliveries (next_attempt_at) WHERE status = 'pending';
    ALTER TABLE audit_witness_deliveries ENABLE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON audit_witness_deliveries TO custodian_app
      USING (org_id = custodian_current_org()) WITH CHECK (org_id = custodian_current_org());
    GRANT SELECT, UPDATE ON audit_witness_deliveries TO custodian_app;
  `,
  )
}
