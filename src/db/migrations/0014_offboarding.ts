import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Org offboarding (P7.4) and the shred ring's work list.
 *
 * - `org_offboardings`: an owner's request to delete the whole org after a grace period,
 *   and, once done, what was erased and the signed certificate. It has no foreign key: it
 *   outlives the org, as the provider's record of the deletion.
 * - `shred_ring_pending`: ring epochs an erasure or an offboarding needs retired. Bucket
 *   and epoch numbers only; requests add to it, the ring worker takes from it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE TABLE org_offboardings (
      org_id uuid PRIMARY KEY,
      org_name text NOT NULL,
      status text NOT NULL CHECK (status IN ('scheduled', 'cancelled', 'completed')),
      requested_at timestamptz NOT NULL,
      requested_by text NOT NULL,
      scheduled_for timestamptz NOT NULL,
      cancelled_at timestamptz,
      cancelled_by text,
      completed_at timestamptz,
      erased jsonb,
      certificate text
    );
    ALTER TABLE org_offboardings ENABLE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON org_offboardings TO custodian_app
      USING (org_id = custodian_current_org()) WITH CHECK (org_id = custodian_current_org());
    GRANT SELECT, INSERT, UPDATE ON org_offboardings TO custodian_app;
    CREATE TABLE shred_ring_pending (
      bucket integer NOT NULL,
      epoch integer NOT NULL,
      requested_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (bucket, epoch)
    );
    GRANT SELECT, INSERT ON shred_ring_pending TO custodian_app;
  `,
  )
}
