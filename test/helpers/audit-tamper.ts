import { randomUUID } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import type { DB } from '../../src/db/schema.ts'
import { canonicalJson, chainHash, GENESIS_HASH } from '../../src/modules/audit/audit.format.ts'
import { toChainedEvent } from '../../src/modules/audit/audit.store.ts'
import { chainedRows, deleteChained, idAtSeq } from './audit-chain.ts'

/**
 * What an attacker with write access to the database does to an org's audit log, written
 * once for the tamper tests (test/audit/tamper-matrix.test.ts). Each step runs in the
 * caller's transaction; `asAttacker` opens one holding the org's sequencer lock, so the
 * log's own sequencer never sees a half-done change.
 */

/** Runs `fn` in a transaction (owner connection) that holds the org's sequencer lock (as audit.store.ts takes it). */
export async function asAttacker<T>(db: Kysely<DB>, orgId: string, fn: (trx: Kysely<DB>) => Promise<T>): Promise<T> {
  return db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(7211, hashtext(${orgId}))`.execute(trx)
    return fn(trx)
  })
}

/**
 * Recomputes every link of the org's chain from its events as they now are, and points the
 * head at the last one: the chain alone then shows nothing (docs/audit-format.md).
 */
export async function rechain(trx: Kysely<DB>, orgId: string): Promise<void> {
  const rows = await chainedRows(trx, orgId).execute()
  let prev: Buffer = GENESIS_HASH
  for (const row of rows) {
    const hash = chainHash(prev, toChainedEvent(row, Number(row.seq)))
    if (!prev.equals(row.prev_hash) || !hash.equals(row.hash))
      await sql`UPDATE audit_chain SET prev_hash = ${prev}, hash = ${hash} WHERE id = ${row.id}`.execute(trx)
    prev = hash
  }
  const last = rows.at(-1)
  await sql`UPDATE audit_heads SET seq = ${last === undefined ? 0 : Number(last.seq)}, hash = ${prev} WHERE org_id = ${orgId}`.execute(
    trx,
  )
}

/** Moves the chain positions from `from` on by `by` (±), in two statements: the key (org, seq) never collides. */
export async function moveSeqs(trx: Kysely<DB>, orgId: string, from: number, by: number): Promise<void> {
  const away = 1_000_000_000
  await sql`UPDATE audit_chain SET seq = seq + ${away} WHERE org_id = ${orgId} AND seq >= ${from}`.execute(trx)
  await sql`UPDATE audit_chain SET seq = seq - ${away - by} WHERE org_id = ${orgId} AND seq >= ${away}`.execute(trx)
}

/** Swaps the events at `seq` and `seq + 1`. */
export async function swapSeqs(trx: Kysely<DB>, orgId: string, seq: number): Promise<void> {
  await sql`UPDATE audit_chain SET seq = 1000000000 WHERE org_id = ${orgId} AND seq = ${seq}`.execute(trx)
  await sql`UPDATE audit_chain SET seq = ${seq} WHERE org_id = ${orgId} AND seq = ${seq + 1}`.execute(trx)
  await sql`UPDATE audit_chain SET seq = ${seq + 1} WHERE org_id = ${orgId} AND seq = 1000000000`.execute(trx)
}

/** Rewrites the details of the event at `seq`. */
export async function editEvent(trx: Kysely<DB>, orgId: string, seq: number): Promise<void> {
  await sql`UPDATE audit_events SET details = '{"role":"owner"}' WHERE id = ${idAtSeq(orgId, seq)}`.execute(trx)
}

/** Removes the event at `seq` and closes the gap (the later events move down one). */
export async function deleteEvent(trx: Kysely<DB>, orgId: string, seq: number): Promise<void> {
  await deleteChained(trx, orgId, seq, seq)
  await moveSeqs(trx, orgId, seq + 1, -1)
}

/** Adds a forged event at `seq` (the later events move up one), with placeholder links for `rechain` to fill. */
export async function insertForgedEvent(trx: Kysely<DB>, orgId: string, seq: number): Promise<string> {
  await moveSeqs(trx, orgId, seq, 1)
  const eventId = randomUUID()
  const inserted = await trx
    .insertInto('audit_events')
    .values({
      org_id: orgId,
      event_id: eventId,
      occurred_at: new Date(Date.now()),
      actor_type: 'system',
      actor_id: null,
      action: 'member.add',
      target_type: null,
      target_id: null,
      outcome: 'success',
      ip: null,
      user_agent: null,
      request_id: null,
      details: canonicalJson({ role: 'owner' }),
    })
    .returning('id')
    .executeTakeFirstOrThrow()
  const zero = Buffer.alloc(32)
  await sql`INSERT INTO audit_chain (org_id, seq, id, prev_hash, hash) VALUES (${orgId}, ${seq}, ${inserted.id}, ${zero}, ${zero})`.execute(
    trx,
  )
  return eventId
}

/**
 * Throws the org's Merkle tree away with every checkpoint above `keep` (their cosignatures
 * and outbox rows too), so that the log's sequencer rebuilds the tree from the events as
 * they now are and signs it with the log's key at its next pass: the attacker holds the key
 * through the log's own process. The sequencer signs only a tree that extends the newest
 * checkpoint left, so `keep` = 0 removes them all.
 */
export async function resetTree(trx: Kysely<DB>, orgId: string, keep = 0): Promise<void> {
  await sql`DELETE FROM audit_tiles WHERE org_id = ${orgId}`.execute(trx)
  for (const table of ['audit_checkpoints', 'audit_cosignatures', 'audit_witness_deliveries'])
    await sql`DELETE FROM ${sql.table(table)} WHERE org_id = ${orgId} AND seq > ${keep}`.execute(trx)
  const last = await trx
    .selectFrom('audit_checkpoints')
    .select(['seq', 'signed_at'])
    .where('org_id', '=', orgId)
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst()
  await sql`UPDATE audit_heads SET tree_size = 0, root_hash = NULL, checkpoint_seq = ${last === undefined ? 0 : Number(last.seq)},
    checkpoint_at = ${last?.signed_at ?? null} WHERE org_id = ${orgId}`.execute(trx)
}

/** Cuts the log after `keep`: events, chain and checkpoints above it, and the tree (rebuilt by the sequencer). */
export async function cutTail(trx: Kysely<DB>, orgId: string, keep: number): Promise<void> {
  await deleteChained(trx, orgId, keep + 1)
  await resetTree(trx, orgId, keep)
  await rechain(trx, orgId)
}

/** Every table that holds part of an org's audit log, in an order that deletes children first. */
const AUDIT_TABLES = [
  'audit_chain',
  'audit_unchained',
  'audit_personal',
  'audit_events',
  'audit_heads',
  'audit_tiles',
  'audit_checkpoints',
  'audit_cosignatures',
  'audit_witness_state',
  'audit_witnessing',
  'audit_witness_deliveries',
] as const

const copyOf = (name: string, table: string) => {
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`copy name ${name}: lower-case letters, digits and _ only`)
  return sql.table(`tamper_${name}_${table}`)
}

/** Copies the org's audit log aside (every table of it), as a backup would hold it. */
export async function copyAuditTables(db: Kysely<DB>, orgId: string, name: string): Promise<void> {
  await asAttacker(db, orgId, async (trx) => {
    for (const table of AUDIT_TABLES) {
      await sql`DROP TABLE IF EXISTS ${copyOf(name, table)}`.execute(trx)
      await sql`CREATE TABLE ${copyOf(name, table)} AS SELECT * FROM ${sql.table(table)} WHERE org_id = ${orgId}`.execute(
        trx,
      )
    }
  })
}

/** Restores the org's audit log from a copy: every row written since is gone, every row changed since is as it was. */
export async function restoreAuditTables(trx: Kysely<DB>, orgId: string, name: string): Promise<void> {
  for (const table of AUDIT_TABLES) await sql`DELETE FROM ${sql.table(table)} WHERE org_id = ${orgId}`.execute(trx)
  for (const table of [...AUDIT_TABLES].reverse()) {
    // Generated columns (audit_events.action_family) are computed again; the identity is kept.
    const columns = await sql<{ column_name: string }>`
      SELECT column_name FROM information_schema.columns
       WHERE table_schema = 'public' AND table_name = ${table} AND is_generated = 'NEVER'
       ORDER BY ordinal_position`.execute(trx)
    const list = sql.join(columns.rows.map((c) => sql.ref(c.column_name)))
    await sql`INSERT INTO ${sql.table(table)} (${list}) OVERRIDING SYSTEM VALUE SELECT ${list} FROM ${copyOf(name, table)}`.execute(
      trx,
    )
  }
}
