import { sql, type Insertable, type Kysely, type Selectable } from 'kysely'
import type { DB } from '../../db/schema.ts'
import { executeWithCommit, type Trx } from '../../db/tenant.ts'
import { inIndexOrder } from '../../db/page.ts'
import { randomUUID } from 'node:crypto'
import type { AuditCheckpointsTable, AuditEventsTable, WitnessKind } from './audit.tables.ts'
import {
  chainedEventJson,
  type ChainedEvent,
  type ChainLink,
  type SignedCheckpoint,
  type StoredChainEvent,
} from './audit.format.ts'
import { EMPTY_TREE_HASH } from './merkle.ts'
import type { TileData, TileReader } from './tlog-tiles.ts'

/** SQL for the audit log. Every function takes the transaction first. */

export type AuditEventRow = Selectable<AuditEventsTable>

/** An event with its place in the chain, or nulls while it waits for the sequencer. */
export type ListedEventRow = AuditEventRow & {
  seq: number | null
  prev_hash: Uint8Array | null
  hash: Uint8Array | null
}

export type NewAuditEventRow = Insertable<AuditEventsTable>

/**
 * Inserts an event and its place in the sequencer's queue (and its sealed personal fields),
 * sent with the transaction's COMMIT where the engine allows (src/db/tenant.ts,
 * `executeWithCommit`): the event commits with the change or neither does. A failure is
 * reported as `failure(cause)` (by default the database's error), here or when the
 * transaction commits.
 */
export async function insertEvent(
  trx: Trx,
  row: NewAuditEventRow,
  personal?: { subjectRef: Buffer; sealed: Buffer },
  failure: (cause: unknown) => Error = (cause) => cause as Error,
): Promise<void> {
  // One statement: the event and its place in the sequencer's queue commit together.
  await executeWithCommit(
    trx,
    trx
      .with('event', (db) => db.insertInto('audit_events').values(row).returning(['org_id', 'id']))
      .insertInto('audit_unchained')
      .columns(['org_id', 'id'])
      .expression((db) => db.selectFrom('event').select(['org_id', 'id'])),
    failure,
  )
  if (personal !== undefined) {
    await executeWithCommit(
      trx,
      trx.insertInto('audit_personal').values({
        event_id: row.event_id,
        org_id: row.org_id,
        subject_ref: personal.subjectRef,
        sealed: personal.sealed,
      }),
      failure,
    )
  }
}

/** The sealed personal fields of a subject's events (current org), oldest first. */
export async function personalOf(
  trx: Trx,
  subjectRef: Buffer,
): Promise<{ event_id: string; occurred_at: Date; action: string; sealed: Uint8Array }[]> {
  return trx
    .selectFrom('audit_personal as p')
    .innerJoin('audit_events as e', 'e.event_id', 'p.event_id')
    .select(['p.event_id', 'e.occurred_at', 'e.action', 'p.sealed'])
    .where('p.subject_ref', '=', subjectRef)
    .orderBy('e.id')
    .execute()
}

export async function erasePersonal(trx: Trx, subjectRef: Buffer): Promise<number> {
  const result = await trx.deleteFrom('audit_personal').where('subject_ref', '=', subjectRef).executeTakeFirst()
  return Number(result.numDeletedRows)
}

/** Orgs with events waiting for a seq, a head older than the checkpoint interval, or a chain not yet all in the tree. */
export async function orgsNeedingWork(db: Kysely<DB>, checkpointSeconds: number): Promise<string[]> {
  const result = await sql<{ org_id: string }>`
    SELECT DISTINCT org_id FROM audit_unchained
    UNION
    SELECT org_id FROM audit_heads
     WHERE (seq > checkpoint_seq
       AND (checkpoint_at IS NULL OR checkpoint_at < now() - make_interval(secs => ${checkpointSeconds})))
        OR tree_size < seq
  `.execute(db)
  return result.rows.map((r) => r.org_id)
}

/**
 * One sequencer per org at a time, across processes: a transaction-scoped advisory lock.
 * `false` means another process is chaining this org right now.
 */
export async function tryLockChain(trx: Trx, orgId: string): Promise<boolean> {
  const result = await sql<{ locked: boolean }>`
    SELECT pg_try_advisory_xact_lock(7211, hashtext(${orgId})) AS locked
  `.execute(trx)
  return result.rows[0]?.locked === true
}

/** Waits for the org's sequencer to finish, then deletes the org's chain. */
export async function eraseOrgLog(trx: Trx, orgId: string): Promise<number> {
  await sql`SELECT pg_advisory_xact_lock(7211, hashtext(${orgId}))`.execute(trx)
  await trx.deleteFrom('audit_witness_deliveries').where('org_id', '=', orgId).execute()
  await trx.deleteFrom('audit_cosignatures').where('org_id', '=', orgId).execute()
  await trx.deleteFrom('audit_witness_state').where('org_id', '=', orgId).execute()
  await trx.deleteFrom('audit_witnessing').where('org_id', '=', orgId).execute()
  await trx.deleteFrom('audit_checkpoints').where('org_id', '=', orgId).execute()
  await trx.deleteFrom('audit_heads').where('org_id', '=', orgId).execute()
  await trx.deleteFrom('audit_chain').where('org_id', '=', orgId).execute()
  await trx.deleteFrom('audit_tiles').where('org_id', '=', orgId).execute()
  await trx.deleteFrom('audit_unchained').where('org_id', '=', orgId).execute()
  await trx.deleteFrom('audit_app_events').where('org_id', '=', orgId).execute()
  const events = await trx.deleteFrom('audit_events').where('org_id', '=', orgId).executeTakeFirst()
  return Number(events.numDeletedRows)
}

export interface Head {
  seq: number
  hash: Buffer
  checkpointSeq: number
  checkpointAt: Date | null
  /** Chained events the Merkle tree covers; `seq` once caught up. */
  treeSize: number
  /** The tree's root at `treeSize` (the empty tree's hash at 0). */
  rootHash: Buffer
}

export async function readHead(trx: Trx, orgId: string): Promise<Head | undefined> {
  const row = await trx.selectFrom('audit_heads').selectAll().where('org_id', '=', orgId).executeTakeFirst()
  if (row === undefined) return undefined
  return {
    seq: Number(row.seq),
    hash: Buffer.from(row.hash),
    checkpointSeq: Number(row.checkpoint_seq),
    checkpointAt: row.checkpoint_at,
    treeSize: Number(row.tree_size),
    rootHash: row.root_hash === null ? EMPTY_TREE_HASH : Buffer.from(row.root_hash),
  }
}

/** The org's oldest events waiting for a `seq`, in the order they were written. */
export async function unchainedEvents(trx: Trx, orgId: string, limit: number): Promise<AuditEventRow[]> {
  return trx
    .selectFrom('audit_unchained as u')
    .innerJoin('audit_events as e', 'e.id', 'u.id')
    .selectAll('e')
    .where('u.org_id', '=', orgId)
    .orderBy('u.id')
    .limit(limit)
    .execute()
}

export interface ChainUpdate {
  id: number
  seq: number
  prevHash: Buffer
  hash: Buffer
}

/**
 * Appends chained events to `audit_chain` and takes them off the queue, in one statement.
 * Nothing in `audit_events` is rewritten (migration 0023).
 */
export async function writeChain(trx: Trx, orgId: string, updates: ChainUpdate[]): Promise<void> {
  if (updates.length === 0) return
  const ids = updates.map((u) => u.id)
  await sql`
    WITH chained AS (
      INSERT INTO audit_chain (org_id, seq, id, prev_hash, hash)
      SELECT ${orgId}::uuid, v.seq, v.id, decode(v.prev_hash, 'hex'), decode(v.hash, 'hex')
        FROM unnest(${ids}::bigint[], ${updates.map((u) => u.seq)}::bigint[],
                    ${updates.map((u) => u.prevHash.toString('hex'))}::text[], ${updates.map((u) => u.hash.toString('hex'))}::text[])
             AS v(id, seq, prev_hash, hash)
      RETURNING id
    )
    DELETE FROM audit_unchained WHERE org_id = ${orgId} AND id IN (SELECT id FROM chained)
  `.execute(trx)
}

export async function saveHead(trx: Trx, orgId: string, head: Head): Promise<void> {
  await trx
    .insertInto('audit_heads')
    .values({
      org_id: orgId,
      seq: head.seq,
      hash: head.hash,
      checkpoint_seq: head.checkpointSeq,
      checkpoint_at: head.checkpointAt,
      tree_size: head.treeSize,
      root_hash: head.treeSize === 0 ? null : head.rootHash,
    })
    .onConflict((oc) =>
      oc.column('org_id').doUpdateSet({
        seq: head.seq,
        hash: head.hash,
        checkpoint_seq: head.checkpointSeq,
        checkpoint_at: head.checkpointAt,
        tree_size: head.treeSize,
        root_hash: head.treeSize === 0 ? null : head.rootHash,
      }),
    )
    .execute()
}

/** Where a checkpoint goes: a witness kind, and for `tlog` the witness's key name. */
export interface WitnessTarget {
  kind: WitnessKind
  name?: string | undefined
}

/**
 * Stores a signed checkpoint and, in the same transaction, one outbox row per witness it
 * must reach: a checkpoint is never signed without being on its way out. With tlog
 * witnesses, the org's log is unwitnessed from this checkpoint on unless it already was.
 */
export async function insertCheckpoint(
  trx: Trx,
  signed: SignedCheckpoint,
  witnesses: readonly WitnessTarget[] = [],
): Promise<void> {
  const orgId = signed.checkpoint.org
  const signedAt = new Date(signed.checkpoint.time)
  await trx
    .insertInto('audit_checkpoints')
    .values({
      org_id: orgId,
      seq: signed.checkpoint.seq,
      hash: Buffer.from(signed.checkpoint.hash, 'hex'),
      signed_at: signedAt,
      key_id: signed.keyId,
      signature: Buffer.from(signed.signature, 'base64url'),
      note: signed.note ?? null,
      root_hash: signed.rootHash === undefined ? null : Buffer.from(signed.rootHash, 'hex'),
    })
    .execute()
  if (witnesses.length > 0) {
    await trx
      .insertInto('audit_witness_deliveries')
      .values(
        witnesses.map((witness) => ({
          id: randomUUID(),
          org_id: orgId,
          seq: signed.checkpoint.seq,
          witness: witness.kind,
          witness_name: witness.name ?? '',
          last_error: null,
          delivered_at: null,
        })),
      )
      .execute()
  }
  if (witnesses.some((w) => w.kind === 'tlog')) {
    await trx
      .insertInto('audit_witnessing')
      .values({ org_id: orgId, unwitnessed_since: signedAt })
      .onConflict((oc) =>
        oc.column('org_id').doUpdateSet({
          unwitnessed_since: sql<Date>`coalesce(audit_witnessing.unwitnessed_since, excluded.unwitnessed_since)`,
        }),
      )
      .execute()
  }
}

export async function listCheckpoints(trx: Trx, orgId: string): Promise<SignedCheckpoint[]> {
  const rows = await trx
    .selectFrom('audit_checkpoints')
    .selectAll()
    .where('org_id', '=', orgId)
    .orderBy('seq')
    .execute()
  return rows.map(checkpointOf)
}

function checkpointOf(row: Selectable<AuditCheckpointsTable>): SignedCheckpoint {
  return {
    checkpoint: {
      v: 1,
      org: row.org_id,
      seq: Number(row.seq),
      hash: Buffer.from(row.hash).toString('hex'),
      time: row.signed_at.toISOString(),
    },
    keyId: row.key_id,
    signature: Buffer.from(row.signature).toString('base64url'),
    ...(row.note === null ? {} : { note: row.note }),
    ...(row.root_hash === null ? {} : { rootHash: Buffer.from(row.root_hash).toString('hex') }),
  }
}

/** The org's newest signed checkpoint. */
export async function latestCheckpoint(trx: Trx, orgId: string): Promise<SignedCheckpoint | undefined> {
  const row = await trx
    .selectFrom('audit_checkpoints')
    .selectAll()
    .where('org_id', '=', orgId)
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst()
  return row === undefined ? undefined : checkpointOf(row)
}

/** The org's signed checkpoint at `seq`, if there is one. */
export async function checkpointAt(trx: Trx, orgId: string, seq: number): Promise<SignedCheckpoint | undefined> {
  const row = await trx
    .selectFrom('audit_checkpoints')
    .selectAll()
    .where('org_id', '=', orgId)
    .where('seq', '=', seq)
    .executeTakeFirst()
  return row === undefined ? undefined : checkpointOf(row)
}

/**
 * A `TileReader` over the org's stored tiles (one statement per call), in the caller's
 * transaction. A tile narrower than asked, or missing, throws: the tree is inconsistent.
 */
export function tileReader(trx: Trx, orgId: string): TileReader {
  return {
    async readTiles(tiles) {
      if (tiles.length === 0) return []
      const rows = await trx
        .selectFrom('audit_tiles')
        .select(['level', 'n', 'hashes'])
        .where('org_id', '=', orgId)
        .where((eb) => eb.or(tiles.map((t) => eb.and([eb('level', '=', t.level), eb('n', '=', t.n)]))))
        .execute()
      const byKey = new Map(rows.map((row) => [`${row.level}/${Number(row.n)}`, Buffer.from(row.hashes)]))
      return tiles.map((tile) => {
        const data = byKey.get(`${tile.level}/${tile.n}`)
        if (data === undefined || data.length < tile.width * 32)
          throw new Error(
            `audit tree of org ${orgId}: tile ${tile.level}/${tile.n} holds fewer than ${tile.width} hashes`,
          )
        return data
      })
    },
  }
}

/** One stored tile at its widest width, or undefined. */
export async function readTile(trx: Trx, orgId: string, level: number, n: number): Promise<Buffer | undefined> {
  const row = await trx
    .selectFrom('audit_tiles')
    .select('hashes')
    .where('org_id', '=', orgId)
    .where('level', '=', level)
    .where('n', '=', n)
    .executeTakeFirst()
  return row === undefined ? undefined : Buffer.from(row.hashes)
}

/** Stores tiles whole at their new width (a partial tile only ever grows). */
export async function writeTiles(trx: Trx, orgId: string, tiles: readonly TileData[]): Promise<void> {
  if (tiles.length === 0) return
  await trx
    .insertInto('audit_tiles')
    .values(tiles.map(({ tile, data }) => ({ org_id: orgId, level: tile.level, n: tile.n, hashes: data })))
    .onConflict((oc) =>
      oc.columns(['org_id', 'level', 'n']).doUpdateSet((eb) => ({ hashes: eb.ref('excluded.hashes') })),
    )
    .execute()
}

/** The event as it is hashed; `seq` comes from the row once chained, or is being assigned. */
/** The columns a chained event is made of. */
export type ChainedEventColumns = Pick<
  AuditEventRow,
  | 'org_id'
  | 'event_id'
  | 'occurred_at'
  | 'actor_type'
  | 'actor_id'
  | 'action'
  | 'target_type'
  | 'target_id'
  | 'outcome'
  | 'ip'
  | 'user_agent'
  | 'request_id'
  | 'details'
  | 'origin'
>

export function toChainedEvent(row: ChainedEventColumns, seq: number): ChainedEvent {
  return {
    v: 1,
    org: row.org_id,
    seq,
    id: row.event_id,
    time: row.occurred_at.toISOString(),
    actor: { type: row.actor_type, id: row.actor_id },
    action: row.action,
    target: row.target_type === null ? null : { type: row.target_type, id: row.target_id },
    outcome: row.outcome,
    ip: row.ip,
    userAgent: row.user_agent,
    requestId: row.request_id,
    details: row.details,
    ...(row.origin === 'application' ? { origin: 'application' as const } : {}),
  }
}

/**
 * One page of chained events in seq order, after `afterSeq` (verification, export, entry
 * bundles, the tree's backfill). Two statements whose plans need no statistics: the
 * chain's page by its primary key, then those events by theirs — a join could be planned
 * as a scan of the org's events.
 */
export async function chainedEventsPage(
  trx: Trx,
  orgId: string,
  afterSeq: number,
  limit: number,
  options: { exactRange?: boolean } = {},
): Promise<StoredChainEvent[]> {
  let query = trx
    .selectFrom('audit_chain')
    .select(['seq', 'id', 'prev_hash', 'hash'])
    .where('org_id', '=', orgId)
    .where('seq', '>', afterSeq)
  // A known range of a gap-free chain (an entry bundle, the tree's backfill): bounded on
  // both sides, its cost is the range even where the planner has no statistics. Walks that
  // must see gaps (verification, export) read by order and limit instead.
  if (options.exactRange === true) query = query.where('seq', '<=', afterSeq + limit)
  const { links, events } = await inIndexOrder(trx, async () => {
    const links = await query.orderBy('seq').limit(limit).execute()
    if (links.length === 0) return { links, events: [] }
    return {
      links,
      events: await eventsById(
        trx,
        links.map((link) => link.id),
      ),
    }
  })
  if (links.length === 0) return []
  const byId = new Map(events.map((event) => [Number(event.id), event]))
  return links.map((link) => {
    const row = byId.get(Number(link.id))
    if (row === undefined) throw new Error(`audit chain of org ${orgId}: seq ${link.seq} names no event`)
    return {
      event: toChainedEvent(row, Number(link.seq)),
      prevHash: Buffer.from(link.prev_hash).toString('hex'),
      hash: Buffer.from(link.hash).toString('hex'),
    }
  })
}

/**
 * One page of chain links for verification, in seq order after `afterSeq`: one statement
 * (one round trip), the chain's page by its primary key and each event by its own — a
 * lateral probe with `LIMIT 1`, so it cannot be planned as a scan of the org's events — and
 * only the columns the chained event is made of. Each link carries the event's JCS
 * ({@link chainedEventJson} of {@link toChainedEvent}: the bytes the sequencer hashed, built
 * again from the stored columns). Read by order and limit, not a range: verification must
 * see gaps. Throws if a link names no event, as {@link chainedEventsPage} does.
 */
export async function chainLinksPage(trx: Trx, orgId: string, afterSeq: number, limit: number): Promise<ChainLink[]> {
  const { rows } = await chainLinksPageQuery(orgId, afterSeq, limit).execute(trx)
  const links = new Array<ChainLink>(rows.length)
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as (typeof rows)[number]
    const seq = Number(row.seq)
    if (row.org_id === null) throw new Error(`audit chain of org ${orgId}: seq ${seq} names no event`)
    links[i] = {
      seq,
      org: row.org_id,
      eventId: row.event_id,
      prevHash: asBuffer(row.prev_hash),
      hash: asBuffer(row.hash),
      eventJson: chainedEventJson(toChainedEvent(row as ChainedEventColumns, seq)),
    }
  }
  return links
}

/**
 * The statement of {@link chainLinksPage}: a page of `limit` links after `afterSeq`, each with
 * its event's columns (null when the link names no event). Exported for `npm run bench --
 * verify`, which reads the same pages with it to measure what reading alone costs.
 */
export function chainLinksPageQuery(orgId: string, afterSeq: number, limit: number) {
  return sql<
    Omit<ChainedEventColumns, 'org_id'> & {
      seq: string
      prev_hash: Uint8Array
      hash: Uint8Array
      org_id: string | null
    }
  >`
    SELECT c.seq, c.prev_hash, c.hash, e.org_id, e.event_id, e.occurred_at, e.actor_type, e.actor_id, e.action,
           e.target_type, e.target_id, e.outcome, e.ip, e.user_agent, e.request_id, e.details, e.origin
      FROM (SELECT seq, id, prev_hash, hash FROM audit_chain
             WHERE org_id = ${orgId} AND seq > ${afterSeq} ORDER BY seq LIMIT ${limit}) AS c
      LEFT JOIN LATERAL (SELECT * FROM audit_events WHERE audit_events.id = c.id LIMIT 1) AS e ON true
     ORDER BY c.seq`
}

/** A bytea as a Buffer without a copy (node-postgres gives Buffers, PGlite Uint8Arrays). */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/**
 * Events by internal id (a bigint's text), one probe of the primary key per id, with or
 * without statistics. `id IN (…)` under row-level security may be planned as a walk of the
 * org's index, and a plain lateral join is flattened into a hash join over the org's rows;
 * the `LIMIT 1` (the id is unique) keeps the subquery a per-id probe. Order: unspecified.
 */
async function eventsById(trx: Trx, ids: readonly (string | number)[]): Promise<AuditEventRow[]> {
  const { rows } = await sql<AuditEventRow>`
    SELECT e.* FROM unnest(${ids.map(String)}::bigint[]) AS k(id)
    CROSS JOIN LATERAL (SELECT * FROM audit_events WHERE audit_events.id = k.id LIMIT 1) AS e`.execute(trx)
  return rows
}

/** The chain links of events by internal id, as {@link eventsById}; an unchained event has none. */
async function chainLinksById(
  trx: Trx,
  ids: readonly (string | number)[],
): Promise<{ id: string; seq: string; prev_hash: Buffer; hash: Buffer }[]> {
  const { rows } = await sql<{ id: string; seq: string; prev_hash: Buffer; hash: Buffer }>`
    SELECT c.id, c.seq, c.prev_hash, c.hash FROM unnest(${ids.map(String)}::bigint[]) AS k(id)
    CROSS JOIN LATERAL (SELECT * FROM audit_chain WHERE audit_chain.id = k.id LIMIT 1) AS c`.execute(trx)
  return rows
}

/** One chained event of the org by its event id, with its `seq`; undefined if none (or not chained yet). */
export async function chainedEvent(
  trx: Trx,
  orgId: string,
  eventId: string,
): Promise<(AuditEventRow & { seq: number }) | undefined> {
  const row = await trx
    .selectFrom('audit_events as e')
    .innerJoin('audit_chain as c', 'c.id', 'e.id')
    .selectAll('e')
    .select('c.seq')
    .where('e.org_id', '=', orgId)
    .where('e.event_id', '=', eventId)
    .executeTakeFirst()
  return row === undefined ? undefined : { ...row, seq: Number(row.seq) }
}

/** One event of the org by its event id, with its place in the chain once chained; undefined if none. */
export async function eventById(trx: Trx, orgId: string, eventId: string): Promise<ListedEventRow | undefined> {
  const row = await trx
    .selectFrom('audit_events')
    .selectAll()
    .where('org_id', '=', orgId)
    .where('event_id', '=', eventId)
    .executeTakeFirst()
  if (row === undefined) return undefined
  const [link] = await chainLinksById(trx, [row.id])
  return {
    ...row,
    seq: link === undefined ? null : Number(link.seq),
    prev_hash: link?.prev_hash ?? null,
    hash: link?.hash ?? null,
  }
}

/** The org of an event by its event id (owner connection). */
export async function orgOfEvent(trx: Trx, eventId: string): Promise<string | undefined> {
  const row = await trx.selectFrom('audit_events').select('org_id').where('event_id', '=', eventId).executeTakeFirst()
  return row?.org_id
}

/** Whether any org has events waiting to be chained. */
export async function anyUnchained(db: Kysely<DB>): Promise<boolean> {
  const row = await db.selectFrom('audit_unchained').select('id').limit(1).executeTakeFirst()
  return row !== undefined
}

/** Every org that has audit events (owner connection: the CLI verifies all of them). */
export async function orgsWithEvents(db: Kysely<DB>): Promise<string[]> {
  const result = await sql<{ org_id: string }>`
    SELECT org_id FROM audit_heads UNION SELECT DISTINCT org_id FROM audit_events
  `.execute(db)
  return result.rows.map((r) => r.org_id)
}

/**
 * The chained head as the chain shows it: its highest `seq`. Events that wait for the
 * sequencer are not in the chain and never move it (readable by the app role, unlike
 * `audit_heads`).
 */
export async function chainedHead(trx: Trx, orgId: string): Promise<{ seq: number; hash: Buffer } | undefined> {
  const row = await trx
    .selectFrom('audit_chain')
    .select(['seq', 'hash'])
    .where('org_id', '=', orgId)
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst()
  if (row === undefined) return undefined
  return { seq: Number(row.seq), hash: Buffer.from(row.hash) }
}

/** The chained head seq of each of `orgIds` that has one (owner connection: `audit_heads`), one statement. */
export async function chainedHeads(trx: Trx, orgIds: readonly string[]): Promise<{ orgId: string; seq: number }[]> {
  const { rows } = await sql<{ org_id: string; seq: number }>`
    SELECT h.org_id, h.seq FROM unnest(${[...orgIds]}::uuid[]) AS o(id)
      JOIN audit_heads h ON h.org_id = o.id`.execute(trx)
  return rows.map((r) => ({ orgId: r.org_id, seq: Number(r.seq) }))
}

/** How many events wait to be chained, and when the oldest of them happened. */
export async function unchainedSummary(trx: Trx, orgId: string): Promise<{ count: number; oldest: Date | null }> {
  const row = await trx
    .selectFrom('audit_unchained as u')
    .innerJoin('audit_events as e', 'e.id', 'u.id')
    .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.min('e.occurred_at').as('oldest')])
    .where('u.org_id', '=', orgId)
    .executeTakeFirstOrThrow()
  return { count: Number(row.n), oldest: Number(row.n) === 0 ? null : row.oldest }
}

/** The org's checkpoint deliveries to witnesses: how many wait, how many were given up, the newest delivered. */
export async function witnessSummary(
  trx: Trx,
  orgId: string,
): Promise<{ pending: number; failed: number; lastDeliveredSeq: number | null }> {
  const result = await sql<{ pending: number; failed: number; last_delivered: number | null }>`
    SELECT count(*) FILTER (WHERE status = 'pending')::int AS pending,
           count(*) FILTER (WHERE status = 'failed')::int AS failed,
           max(seq) FILTER (WHERE status = 'delivered') AS last_delivered
      FROM audit_witness_deliveries WHERE org_id = ${orgId}`.execute(trx)
  const row = result.rows[0]
  return {
    pending: Number(row?.pending ?? 0),
    failed: Number(row?.failed ?? 0),
    lastDeliveredSeq: row?.last_delivered == null ? null : Number(row.last_delivered),
  }
}

export async function countUnchained(trx: Trx, orgId: string): Promise<number> {
  const row = await trx
    .selectFrom('audit_unchained')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('org_id', '=', orgId)
    .executeTakeFirstOrThrow()
  return Number(row.n)
}

export interface EventFilter {
  origin?: 'custodian' | 'application' | undefined
  actorId?: string | undefined
  action?: string | undefined
  targetId?: string | undefined
  outcome?: string | undefined
  from?: Date | undefined
  to?: Date | undefined
  /** Return events with an internal id below this (newest first paging). */
  beforeId?: number | undefined
  limit: number
}

/** A newest-first page of the org's events, each with its chain position once chained. */
export async function queryEvents(trx: Trx, orgId: string, filter: EventFilter): Promise<ListedEventRow[]> {
  const events = await pageOfEvents(trx, orgId, filter)
  if (events.length === 0) return []
  // The chain fields by primary key, one probe per event of the page.
  const chain = await chainLinksById(
    trx,
    events.map((event) => event.id),
  )
  const byId = new Map(chain.map((row) => [Number(row.id), row]))
  return events.map((event) => {
    const link = byId.get(Number(event.id))
    return {
      ...event,
      seq: link === undefined ? null : Number(link.seq),
      prev_hash: link?.prev_hash ?? null,
      hash: link?.hash ?? null,
    }
  })
}

async function pageOfEvents(trx: Trx, orgId: string, filter: EventFilter): Promise<AuditEventRow[]> {
  let query = trx.selectFrom('audit_events').selectAll().where('org_id', '=', orgId)
  // Indexed `(org_id, origin, id)` (migration 0034): a page of either origin reads its own rows.
  if (filter.origin !== undefined) query = query.where('origin', '=', filter.origin)
  if (filter.actorId !== undefined) query = query.where('actor_id', '=', filter.actorId)
  if (filter.action !== undefined) {
    if (filter.action.endsWith('.*')) {
      // A prefix names an action family (its first segment, `org` of `org.*`): walking that
      // family's index (migration 0024) newest first reads only its events, so the page
      // costs its own rows however rare the family is in a long history. A deeper prefix
      // (`org.grant_policy.*`) is matched within its family. The family is a stored column,
      // not an expression index: under row-level security only leakproof comparisons may
      // use an index, and split_part() is not one.
      const family = filter.action.split('.')[0] ?? ''
      query = query
        .where('action_family', '=', family)
        .where('action', 'like', `${filter.action.slice(0, -1).replace(/[\\%_]/g, '\\$&')}%`)
    } else query = query.where('action', '=', filter.action)
  }
  if (filter.targetId !== undefined) query = query.where('target_id', '=', filter.targetId)
  if (filter.outcome !== undefined) query = query.where('outcome', '=', filter.outcome as 'success')
  if (filter.from !== undefined) query = query.where('occurred_at', '>=', filter.from)
  if (filter.to !== undefined) query = query.where('occurred_at', '<', filter.to)
  if (filter.beforeId !== undefined) query = query.where('id', '<', filter.beforeId)
  query = query.orderBy('id', 'desc').limit(filter.limit)
  // Every filter but a time range and an exact action has an index `(org_id, …, id)` in
  // the page's order: those pages are read in it whatever the statistics. A time range or
  // an exact action is indexed by time, so the planner chooses between the two orders.
  const ordered = filter.from === undefined && filter.to === undefined && (filter.action?.endsWith('.*') ?? true)
  return ordered ? inIndexOrder(trx, () => query.execute()) : query.execute()
}

/** Per-org chain figures for the operator view; one statement whatever the number of orgs. */
export async function chainHealth(trx: Trx, orgIds: string[]) {
  if (orgIds.length === 0) return []
  const result = await sql<{
    org_id: string
    head_seq: number | null
    checkpoint_at: Date | null
    unchained: number
    last_event_at: Date | null
  }>`
    SELECT o.id AS org_id, h.seq AS head_seq, h.checkpoint_at,
           (SELECT count(*) FROM audit_unchained u WHERE u.org_id = o.id)::int AS unchained,
           (SELECT max(e.occurred_at) FROM audit_events e WHERE e.org_id = o.id) AS last_event_at
      FROM unnest(${orgIds}::uuid[]) AS o(id)
      LEFT JOIN audit_heads h ON h.org_id = o.id`.execute(trx)
  return result.rows
}
