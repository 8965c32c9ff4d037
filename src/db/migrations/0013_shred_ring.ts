import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * The shred ring (crypto/shred-ring.ts): each subject key is also sealed with a bucket
 * key held outside the database, so an erasure reaches dumps taken before it.
 *
 * - `subject_keys.ring_bucket` / `ring_epoch`: which ring key seals the row (null for rows
 *   from before the ring; the ring worker seals them in).
 * - `shred_ring_epochs`: the epochs an erasure has moved a bucket away from, and where
 *   that stands (retiring: its subject keys are being resealed; retired: its key is gone).
 *   Bucket and epoch numbers only: readable by the request role, written by the worker.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    ALTER TABLE subject_keys ADD COLUMN ring_bucket integer, ADD COLUMN ring_epoch integer;
    CREATE INDEX subject_keys_ring ON subject_keys (ring_bucket, ring_epoch) WHERE shredded_at IS NULL;
    CREATE TABLE shred_ring_epochs (
      bucket integer NOT NULL,
      epoch integer NOT NULL,
      state text NOT NULL CHECK (state IN ('active', 'retiring', 'retired')),
      created_at timestamptz NOT NULL DEFAULT now(),
      retiring_since timestamptz,
      retired_at timestamptz,
      PRIMARY KEY (bucket, epoch)
    );
    GRANT SELECT ON shred_ring_epochs TO custodian_app;
  `,
  )
}
