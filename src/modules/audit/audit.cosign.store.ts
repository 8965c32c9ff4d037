import { sql } from 'kysely'
import type { Trx } from '../../db/tenant.ts'

/**
 * SQL for checkpoints cosigned by C2SP tlog-witness witnesses (audit.cosign.ts, migration
 * 0026). Every function takes the transaction first; each reads a bounded number of rows
 * (per org: one row per configured witness, or one row).
 */

/**
 * Takes the lease on (org, witness) until `until`, creating its state at size 0 if new.
 * Returns the size the witness is known to hold, or undefined when another process holds
 * an unexpired lease.
 */
export async function leaseWitness(
  trx: Trx,
  orgId: string,
  witness: string,
  now: Date,
  until: Date,
): Promise<number | undefined> {
  await trx
    .insertInto('audit_witness_state')
    .values({ org_id: orgId, witness, cosigned_size: null, cosigned_at: null, last_error: null, leased_until: null })
    .onConflict((oc) => oc.columns(['org_id', 'witness']).doNothing())
    .execute()
  const row = await trx
    .updateTable('audit_witness_state')
    .set({ leased_until: until })
    .where('org_id', '=', orgId)
    .where('witness', '=', witness)
    .where((eb) => eb.or([eb('leased_until', 'is', null), eb('leased_until', '<', now)]))
    .returning('size')
    .executeTakeFirst()
  return row === undefined ? undefined : Number(row.size)
}

export async function releaseWitness(trx: Trx, orgId: string, witness: string): Promise<void> {
  await trx
    .updateTable('audit_witness_state')
    .set({ leased_until: null })
    .where('org_id', '=', orgId)
    .where('witness', '=', witness)
    .execute()
}

/** The witness said (409) that it holds `size` for the org's log. */
export async function setKnownSize(trx: Trx, orgId: string, witness: string, size: number, now: Date): Promise<void> {
  await trx
    .updateTable('audit_witness_state')
    .set({ size, updated_at: now })
    .where('org_id', '=', orgId)
    .where('witness', '=', witness)
    .execute()
}

export async function recordWitnessError(
  trx: Trx,
  orgId: string,
  witness: string,
  error: string,
  now: Date,
): Promise<void> {
  await trx
    .updateTable('audit_witness_state')
    .set({ last_error: error.slice(0, 500), updated_at: now })
    .where('org_id', '=', orgId)
    .where('witness', '=', witness)
    .execute()
}

/** Whether an outbox row is still pending (another process may have settled or skipped it since it was claimed). */
export async function isPending(trx: Trx, id: string): Promise<boolean> {
  const row = await trx.selectFrom('audit_witness_deliveries').select('status').where('id', '=', id).executeTakeFirst()
  return row?.status === 'pending'
}

/** The newest pending `tlog` delivery of the org's checkpoints to one witness. */
export async function newestPendingSeq(trx: Trx, orgId: string, witness: string): Promise<number | undefined> {
  const row = await trx
    .selectFrom('audit_witness_deliveries')
    .select('seq')
    .where('org_id', '=', orgId)
    .where('witness', '=', 'tlog')
    .where('witness_name', '=', witness)
    .where('status', '=', 'pending')
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst()
  return row === undefined ? undefined : Number(row.seq)
}

/** Marks the witness's pending deliveries below `seq` skipped: cosigning `seq` covers them. */
export async function skipPendingBelow(trx: Trx, orgId: string, witness: string, seq: number): Promise<number> {
  const result = await trx
    .updateTable('audit_witness_deliveries')
    .set({ status: 'skipped', last_error: `superseded by the checkpoint at ${seq}` })
    .where('org_id', '=', orgId)
    .where('witness', '=', 'tlog')
    .where('witness_name', '=', witness)
    .where('status', '=', 'pending')
    .where('seq', '<', seq)
    .executeTakeFirst()
  return Number(result.numUpdatedRows)
}

/** Settles one outbox row (delivered, skipped or failed) while it is still pending. */
export async function finishDelivery(
  trx: Trx,
  id: string,
  status: 'delivered' | 'skipped' | 'failed',
  error: string | null,
  now: Date,
): Promise<void> {
  await trx
    .updateTable('audit_witness_deliveries')
    .set({
      status,
      last_error: error?.slice(0, 500) ?? null,
      next_attempt_at: now,
      ...(status === 'delivered' ? { delivered_at: now } : {}),
    })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .execute()
}

/**
 * Stores a witness's cosignature of the checkpoint at `seq` and moves what it is known to
 * hold to `seq`. A witness cosigns a checkpoint again with a new timestamp: the newest line is kept.
 */
export async function storeCosignature(
  trx: Trx,
  orgId: string,
  seq: number,
  witness: string,
  cosignature: { line: string; timestamp: number },
  now: Date,
): Promise<void> {
  await trx
    .insertInto('audit_cosignatures')
    .values({ org_id: orgId, seq, witness, timestamp: cosignature.timestamp, line: cosignature.line })
    .onConflict((oc) =>
      oc
        .columns(['org_id', 'seq', 'witness'])
        .doUpdateSet({ timestamp: cosignature.timestamp, line: cosignature.line }),
    )
    .execute()
  await trx
    .updateTable('audit_witness_state')
    .set({ size: seq, cosigned_size: seq, cosigned_at: now, last_error: null, updated_at: now })
    .where('org_id', '=', orgId)
    .where('witness', '=', witness)
    .execute()
}

/**
 * After a cosignature of `seq`: when at least `quorum` of the configured witnesses cosigned
 * it, it is the org's newest witnessed checkpoint, and the log is unwitnessed from the next
 * signed checkpoint (if any) on. Returns whether `seq` is witnessed.
 */
export async function updateWitnessed(
  trx: Trx,
  orgId: string,
  seq: number,
  witnesses: readonly string[],
  quorum: number,
  now: Date,
): Promise<boolean> {
  const counted = await trx
    .selectFrom('audit_cosignatures')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('org_id', '=', orgId)
    .where('seq', '=', seq)
    .where('witness', 'in', witnesses)
    .executeTakeFirstOrThrow()
  if (Number(counted.n) < quorum) return false
  const next = await trx
    .selectFrom('audit_checkpoints')
    .select('signed_at')
    .where('org_id', '=', orgId)
    .where('seq', '>', seq)
    .orderBy('seq')
    .limit(1)
    .executeTakeFirst()
  const since = next?.signed_at ?? null
  await trx
    .insertInto('audit_witnessing')
    .values({ org_id: orgId, witnessed_seq: seq, witnessed_at: now, unwitnessed_since: since })
    .onConflict((oc) =>
      oc
        .column('org_id')
        .doUpdateSet({
          witnessed_seq: seq,
          witnessed_at: now,
          unwitnessed_since: since,
          // Raised already for this very stretch: not again.
          alerted: sql<boolean>`audit_witnessing.alerted AND audit_witnessing.unwitnessed_since IS NOT DISTINCT FROM excluded.unwitnessed_since`,
        })
        // The same size again (a witness new to the log cosigning the newest checkpoint,
        // queued by queueForNewWitnesses) also recomputes when the log became unwitnessed.
        .where('audit_witnessing.witnessed_seq', '<=', seq),
    )
    .execute()
  return true
}

/** The cosignatures stored for one checkpoint, by witness name. */
export async function cosignaturesOf(
  trx: Trx,
  orgId: string,
  seq: number,
): Promise<{ witness: string; timestamp: number; line: string }[]> {
  const rows = await trx
    .selectFrom('audit_cosignatures')
    .select(['witness', 'timestamp', 'line'])
    .where('org_id', '=', orgId)
    .where('seq', '=', seq)
    .orderBy('witness')
    .execute()
  return rows.map((r) => ({ witness: r.witness, timestamp: Number(r.timestamp), line: r.line }))
}

/** What each of the given witnesses is known to hold for the org. */
export async function witnessStates(trx: Trx, orgId: string, witnesses: readonly string[]) {
  if (witnesses.length === 0) return []
  return trx
    .selectFrom('audit_witness_state')
    .select(['witness', 'size', 'cosigned_size', 'cosigned_at', 'last_error'])
    .where('org_id', '=', orgId)
    .where('witness', 'in', witnesses)
    .execute()
}

/** The org's newest witnessed checkpoint and since when its log is unwitnessed. */
export async function witnessingOf(trx: Trx, orgId: string) {
  return trx
    .selectFrom('audit_witnessing')
    .select(['witnessed_seq', 'witnessed_at', 'unwitnessed_since', 'alerted'])
    .where('org_id', '=', orgId)
    .executeTakeFirst()
}

/** Orgs unwitnessed since before `cutoff` and not alerted yet (owner connection; the partial index `audit_witnessing_due`). */
export async function dueUnwitnessed(
  trx: Trx,
  cutoff: Date,
  limit: number,
  refused: readonly string[],
): Promise<{ org_id: string; unwitnessed_since: Date }[]> {
  const rows = await trx
    .selectFrom('audit_witnessing')
    .select(['org_id', 'unwitnessed_since'])
    .$if(refused.length > 0, (q) => q.where('org_id', 'not in', refused))
    // The partial index's own predicate, word for word, so the planner uses it.
    .where(sql<boolean>`unwitnessed_since IS NOT NULL AND NOT alerted`)
    .where('unwitnessed_since', '<', cutoff)
    .orderBy('unwitnessed_since')
    .limit(limit)
    .execute()
  return rows.map((r) => ({ org_id: r.org_id, unwitnessed_since: r.unwitnessed_since as Date }))
}

/** Claims the alert for this stretch of the org's log (org transaction); the witnessed size, or undefined if claimed already. */
export async function claimUnwitnessedAlert(
  trx: Trx,
  orgId: string,
  since: Date,
): Promise<{ witnessedSeq: number; witnessedAt: Date | null } | undefined> {
  const row = await trx
    .updateTable('audit_witnessing')
    .set({ alerted: true })
    .where('org_id', '=', orgId)
    .where(sql<boolean>`NOT alerted`)
    .where('unwitnessed_since', '=', since)
    .returning(['witnessed_seq', 'witnessed_at'])
    .executeTakeFirst()
  return row === undefined ? undefined : { witnessedSeq: Number(row.witnessed_seq), witnessedAt: row.witnessed_at }
}

/**
 * For each witness name, the newest signed checkpoint (with a note) of every org whose log
 * that witness has never been sent (no delivery row of it, no state row of it), queued as a
 * pending delivery; those orgs' logs are unwitnessed from that checkpoint's signing unless
 * they already were. One probe of each org's newest checkpoint (primary key, newest
 * first): the cost follows the orgs, once per start. Returns the deliveries queued.
 */
export async function queueForNewWitnesses(trx: Trx, names: readonly string[]): Promise<number> {
  let queued = 0
  for (const name of names) {
    const rows = await sql<{ org_id: string; signed_at: Date }>`
      WITH newest AS (
        SELECT o.id AS org_id, c.seq, c.signed_at
          FROM orgs o
          CROSS JOIN LATERAL (
            SELECT seq, signed_at FROM audit_checkpoints
             WHERE org_id = o.id AND note IS NOT NULL ORDER BY seq DESC LIMIT 1) AS c
         WHERE NOT EXISTS (SELECT 1 FROM audit_witness_state s WHERE s.org_id = o.id AND s.witness = ${name})
           AND NOT EXISTS (
             SELECT 1 FROM audit_witness_deliveries d
              WHERE d.org_id = o.id AND d.witness = 'tlog' AND d.witness_name = ${name})
      )
      INSERT INTO audit_witness_deliveries (id, org_id, seq, witness, witness_name)
      SELECT gen_random_uuid(), org_id, seq, 'tlog', ${name} FROM newest
      ON CONFLICT DO NOTHING
      RETURNING org_id, (SELECT signed_at FROM newest n WHERE n.org_id = audit_witness_deliveries.org_id) AS signed_at`.execute(
      trx,
    )
    for (const row of rows.rows) {
      await sql`
        INSERT INTO audit_witnessing (org_id, unwitnessed_since) VALUES (${row.org_id}, ${row.signed_at})
        ON CONFLICT (org_id) DO UPDATE
          SET unwitnessed_since = coalesce(audit_witnessing.unwitnessed_since, excluded.unwitnessed_since)`.execute(trx)
    }
    queued += rows.rows.length
  }
  return queued
}
