import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Checkpoints cosigned by C2SP tlog-witness witnesses (issue 21, "Witnesses").
 *
 * - `audit_witness_deliveries` (the checkpoint outbox) gains the kind `tlog` and the
 *   column `witness_name` (the witness's key name; '' for the other kinds): one row per
 *   configured witness per checkpoint, unique per (org, seq, kind, name). An index finds an
 *   org's pending rows for one witness, newest first: the newest supersedes the others.
 * - `audit_witness_state`: per org and witness, the tree size the witness is known to hold
 *   (0 at first; moved by its cosignatures and by its 409 answers), its last cosignature,
 *   its last error, and a lease so one process at a time talks to it about the org (sizes
 *   never go backwards).
 * - `audit_cosignatures`: the witnesses' C2SP tlog-cosignature lines per checkpoint.
 * - `audit_witnessing`: per org, the newest checkpoint that reached the quorum, and since
 *   when the log has had a signed checkpoint not yet witnessed (the `audit_unwitnessed`
 *   check reads only rows due, through a partial index).
 *
 * The app role reads the new tables in its org; the delivery job writes them as owner,
 * except `audit_witnessing.alerted`, set with the alert in the org's transaction.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    ALTER TABLE audit_witness_deliveries DROP CONSTRAINT audit_witness_deliveries_witness_check;
    ALTER TABLE audit_witness_deliveries ADD CONSTRAINT audit_witness_deliveries_witness_check
      CHECK (witness IN ('webhooks', 'https', 'file', 'tlog'));
    ALTER TABLE audit_witness_deliveries ADD COLUMN witness_name text NOT NULL DEFAULT '';
    ALTER TABLE audit_witness_deliveries ADD CONSTRAINT audit_witness_deliveries_name_check
      CHECK ((witness = 'tlog') = (witness_name <> '') AND length(witness_name) <= 500);
    ALTER TABLE audit_witness_deliveries DROP CONSTRAINT audit_witness_deliveries_org_id_seq_witness_key;
    ALTER TABLE audit_witness_deliveries ADD CONSTRAINT audit_witness_deliveries_org_id_seq_witness_name_key
      UNIQUE (org_id, seq, witness, witness_name);
    CREATE INDEX audit_witness_deliveries_tlog_pending ON audit_witness_deliveries (org_id, witness_name, seq)
      WHERE witness = 'tlog' AND status = 'pending';

    CREATE TABLE audit_witness_state (
      org_id uuid NOT NULL,
      witness text NOT NULL,
      size bigint NOT NULL DEFAULT 0 CHECK (size >= 0),
      cosigned_size bigint,
      cosigned_at timestamptz,
      last_error text,
      leased_until timestamptz,
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (org_id, witness)
    );
    ALTER TABLE audit_witness_state ENABLE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON audit_witness_state TO custodian_app USING (org_id = custodian_current_org());
    GRANT SELECT ON audit_witness_state TO custodian_app;

    CREATE TABLE audit_cosignatures (
      org_id uuid NOT NULL,
      seq bigint NOT NULL,
      witness text NOT NULL,
      timestamp bigint NOT NULL CHECK (timestamp > 0),
      line text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (org_id, seq, witness)
    );
    ALTER TABLE audit_cosignatures ENABLE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON audit_cosignatures TO custodian_app USING (org_id = custodian_current_org());
    GRANT SELECT ON audit_cosignatures TO custodian_app;

    CREATE TABLE audit_witnessing (
      org_id uuid PRIMARY KEY,
      witnessed_seq bigint NOT NULL DEFAULT 0,
      witnessed_at timestamptz,
      unwitnessed_since timestamptz,
      alerted boolean NOT NULL DEFAULT false
    );
    CREATE INDEX audit_witnessing_due ON audit_witnessing (unwitnessed_since)
      WHERE unwitnessed_since IS NOT NULL AND NOT alerted;
    ALTER TABLE audit_witnessing ENABLE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON audit_witnessing TO custodian_app
      USING (org_id = custodian_current_org()) WITH CHECK (org_id = custodian_current_org());
    GRANT SELECT, UPDATE (alerted) ON audit_witnessing TO custodian_app;
  `,
  )
}
