import { sql, type Kysely } from 'kysely'
import type { ShredRing } from '../../crypto/shred-ring.ts'
import type { DB } from '../../db/schema.ts'
import { withOwner, type Trx } from '../../db/tenant.ts'

/**
 * The shred-ring worker: after an erasure, moves the erased subject's ring bucket to a
 * new epoch, reseals the bucket's other subject keys under it, and retires the old
 * epoch's key — the moment the erasure reaches every earlier copy of the database.
 *
 * One process at a time does this (a database advisory lock); each pass is one owner
 * transaction (the work spans orgs) of bounded size, and every step can be repeated: a
 * crash anywhere leaves work the next pass finishes. Ring file changes are made before
 * the transaction that records them commits; a pass that finds the file ahead of the
 * database (an epoch it did not record) takes it as done.
 */
export interface Shredding {
  pass(): Promise<{ advanced: number; resealed: number; retired: number }>
}

const BATCH = 1000

export function createShredding(deps: {
  db: Kysely<DB>
  ring: ShredRing
  /**
   * How long an epoch stays retiring before its key is destroyed: a request that read the
   * bucket's epoch just before it advanced has committed its key long before.
   */
  graceMs: number
  onRetired: () => Promise<void>
}): Shredding {
  const { db, ring } = deps

  /** Epochs an erasure or offboarding asked to retire: their buckets move on to a new epoch. */
  async function advance(trx: Trx): Promise<number> {
    const pending = await sql<{
      bucket: number
      epoch: number
    }>`SELECT bucket, epoch FROM shred_ring_pending ORDER BY requested_at LIMIT 1000`.execute(trx)
    for (const { bucket, epoch } of pending.rows) {
      if (ring.current(bucket) <= epoch) ring.advance(bucket)
      await sql`INSERT INTO shred_ring_epochs (bucket, epoch, state, retiring_since) VALUES (${bucket}, ${epoch}, 'retiring', clock_timestamp())
                ON CONFLICT (bucket, epoch) DO UPDATE SET state = 'retiring', retiring_since = clock_timestamp() WHERE shred_ring_epochs.state = 'active'`.execute(
        trx,
      )
      await sql`INSERT INTO shred_ring_epochs (bucket, epoch, state) VALUES (${bucket}, ${ring.current(bucket)}, 'active') ON CONFLICT DO NOTHING`.execute(
        trx,
      )
      await sql`DELETE FROM shred_ring_pending WHERE bucket = ${bucket} AND epoch = ${epoch}`.execute(trx)
    }
    return pending.rows.length
  }

  /**
   * Reseals live subject keys of retiring epochs (and keys from before the ring) under their
   * bucket's newest epoch. Two lookups, each through an index that holds only due rows
   * (retiring epochs; keys not yet in the ring), so a pass with nothing due reads nothing
   * however many subjects there are (issue 20).
   */
  async function reseal(trx: Trx): Promise<number> {
    type Row = {
      org_id: string
      subject_ref: Uint8Array
      key_id: string
      wrapped_key: Uint8Array
      ring_bucket: number | null
      ring_epoch: number | null
    }
    const retiring = await sql<Row>`
      SELECT k.org_id, k.subject_ref, k.key_id, k.wrapped_key, k.ring_bucket, k.ring_epoch
        FROM shred_ring_epochs e
        JOIN subject_keys k ON k.ring_bucket = e.bucket AND k.ring_epoch = e.epoch AND k.shredded_at IS NULL
       WHERE e.state = 'retiring'
       LIMIT ${BATCH} FOR UPDATE OF k SKIP LOCKED`.execute(trx)
    const rows = retiring.rows
    if (rows.length < BATCH) {
      const unringed = await sql<Row>`
        SELECT k.org_id, k.subject_ref, k.key_id, k.wrapped_key, k.ring_bucket, k.ring_epoch
          FROM subject_keys k
         WHERE k.shredded_at IS NULL AND k.ring_epoch IS NULL
         LIMIT ${BATCH - rows.length} FOR UPDATE OF k SKIP LOCKED`.execute(trx)
      rows.push(...unringed.rows)
    }
    for (const row of rows) {
      const object = `subject/${row.key_id}`
      const bucket = row.ring_bucket ?? ring.bucketOf(row.subject_ref)
      const inner =
        row.ring_epoch === null
          ? Buffer.from(row.wrapped_key)
          : ring.open(bucket, row.ring_epoch, row.wrapped_key, object)
      const epoch = ring.current(bucket)
      await sql`UPDATE subject_keys SET wrapped_key = ${ring.seal(bucket, epoch, inner, object)}, ring_bucket = ${bucket}, ring_epoch = ${epoch}
                 WHERE org_id = ${row.org_id} AND subject_ref = ${Buffer.from(row.subject_ref)}`.execute(trx)
    }
    return rows.length
  }

  /** Retiring epochs with nothing left under them: their keys are destroyed. */
  async function retire(trx: Trx): Promise<number> {
    const empty = await sql<{ bucket: number; epoch: number }>`
      SELECT e.bucket, e.epoch FROM shred_ring_epochs e
       WHERE e.state = 'retiring' AND e.retiring_since <= clock_timestamp() - make_interval(secs => ${deps.graceMs / 1000})
         AND NOT EXISTS (SELECT 1 FROM subject_keys k WHERE k.ring_bucket = e.bucket AND k.ring_epoch = e.epoch AND k.shredded_at IS NULL)`.execute(
      trx,
    )
    for (const { bucket, epoch } of empty.rows) {
      if (ring.epochs(bucket).includes(epoch)) ring.retire(bucket, epoch)
      // Shredded rows still name the epoch; with its key gone they could not be opened anyway.
      await sql`UPDATE shred_ring_epochs SET state = 'retired', retired_at = now() WHERE bucket = ${bucket} AND epoch = ${epoch}`.execute(
        trx,
      )
    }
    return empty.rows.length
  }

  return {
    async pass() {
      const done = await withOwner(db, async (trx) => {
        const locked = await sql<{
          locked: boolean
        }>`SELECT pg_try_advisory_xact_lock(hashtext('custodian:shred-ring')) AS locked`.execute(trx)
        if (locked.rows[0]?.locked !== true) return { advanced: 0, resealed: 0, retired: 0 }
        const advanced = await advance(trx)
        const resealed = await reseal(trx)
        const retired = await retire(trx)
        return { advanced, resealed, retired }
      })
      if (done.retired > 0) await deps.onRetired()
      return done
    },
  }
}
