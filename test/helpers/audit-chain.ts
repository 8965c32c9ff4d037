import { randomUUID } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import { canonicalJson } from '../../src/modules/audit/audit.format.ts'
import { insertEvent } from '../../src/modules/audit/audit.store.ts'
import { createSequencer } from '../../src/modules/audit/audit.sequencer.ts'
import type { Signer } from '../../src/crypto/keys.ts'
import type { DB } from '../../src/db/schema.ts'

/**
 * An org's chained events with their chain fields, in `seq` order (owner connection).
 * Since migration 0023 the chain (`seq`, `prev_hash`, `hash`) lives in `audit_chain`,
 * beside the insert-only `audit_events`; tests that read or tamper with it use these.
 */
export function chainedRows(db: Kysely<DB>, orgId: string) {
  return db
    .selectFrom('audit_chain as c')
    .innerJoin('audit_events as e', 'e.id', 'c.id')
    .selectAll('e')
    .select(['c.seq', 'c.prev_hash', 'c.hash'])
    .where('c.org_id', '=', orgId)
    .orderBy('c.seq')
}

/** Deletes the chained events of an org whose seq is within [from, to] (and their chain rows), as an attacker with the database would. */
export async function deleteChained(
  db: Kysely<DB>,
  orgId: string,
  from: number,
  to = Number.MAX_SAFE_INTEGER,
): Promise<void> {
  const gone = await sql<{ id: number }>`
    DELETE FROM audit_chain WHERE org_id = ${orgId} AND seq BETWEEN ${from} AND ${to} RETURNING id`.execute(db)
  const ids = gone.rows.map((row) => row.id)
  if (ids.length === 0) return
  await sql`DELETE FROM audit_events WHERE id = ANY(${ids}::bigint[])`.execute(db)
}

/** Deletes an org's whole log: chain, queue and events. */
export async function deleteOrgEvents(db: Kysely<DB>, orgId: string): Promise<void> {
  await sql`DELETE FROM audit_chain WHERE org_id = ${orgId}`.execute(db)
  await sql`DELETE FROM audit_unchained WHERE org_id = ${orgId}`.execute(db)
  await sql`DELETE FROM audit_events WHERE org_id = ${orgId}`.execute(db)
}

/** The event's row id at `seq` in an org's chain, as SQL (for tampering statements). */
export const idAtSeq = (orgId: string, seq: number) =>
  sql`(SELECT id FROM audit_chain WHERE org_id = ${orgId} AND seq = ${seq})`

/**
 * Writes `n` events into an org's log (or each of several orgs') as the application does
 * (the event and its queue row in one statement), with `action`, then has the app's
 * sequencer chain (and checkpoint) them in one flush.
 */
export async function appendEvents(
  app: { db: { kysely: Kysely<DB> }; app: { sequencer: { flush(): Promise<void> } } },
  orgIds: string | readonly string[],
  n: number,
  action = 'test.event',
): Promise<void> {
  await app.db.kysely.transaction().execute(async (trx) => {
    for (const orgId of typeof orgIds === 'string' ? [orgIds] : orgIds)
      for (let i = 0; i < n; i++)
        await insertEvent(trx, {
          org_id: orgId,
          event_id: randomUUID(),
          occurred_at: new Date(Date.now()),
          actor_type: 'system',
          actor_id: null,
          action,
          target_type: null,
          target_id: null,
          outcome: 'success',
          ip: null,
          user_agent: null,
          request_id: null,
          details: canonicalJson({ i }),
        })
  })
  await app.app.sequencer.flush()
}

/**
 * A long, valid log of one org, fast: `count` events written with SQL as requests write
 * them (event and queue row), in slices (50,000 unless `slice`), each chained by the real
 * sequencer (chain, tree, tiles, a checkpoint signed by `signer` at the end of a slice once
 * `checkpointEvery` events are not yet covered). Used by the bench of
 * `audit verify` (bench/verify.ts, 1,000,000 events) and its streaming test.
 */
export async function buildChainedLog(
  db: Kysely<DB>,
  signer: Signer,
  orgId: string,
  count: number,
  options: { checkpointEvery: number; slice?: number; progress?: (done: number) => void },
): Promise<void> {
  const sequencer = createSequencer({
    db,
    signer,
    log: { error: (...args: unknown[]) => process.stderr.write(`${JSON.stringify(args)}\n`), info: () => undefined },
    options: {
      intervalMs: 1_000_000,
      checkpointEvery: options.checkpointEvery,
      checkpointSeconds: 1_000_000_000,
      originHost: 'custodian.test',
      witnesses: [],
    },
  })
  const slice = options.slice ?? 50_000
  for (let done = 0; done < count; ) {
    const n = Math.min(slice, count - done)
    await sql`
      WITH e AS (
        INSERT INTO audit_events (org_id, event_id, occurred_at, actor_type, actor_id, action, target_type, target_id, outcome, ip, user_agent, request_id, details)
        SELECT ${orgId}::uuid, gen_random_uuid(), now(), 'user', gen_random_uuid()::text, 'secret.reveal', 'secret', gen_random_uuid()::text, 'success',
               '203.0.113.7', 'custodian-bench/1.0', 'req-' || g,
               jsonb_build_object('reason', 'benchmark ' || g, 'version', g % 7, 'grant', gen_random_uuid()::text)
          FROM generate_series(1, ${n}) AS g
        RETURNING org_id, id)
      INSERT INTO audit_unchained (org_id, id) SELECT org_id, id FROM e`.execute(db)
    await sequencer.flush()
    done += n
    options.progress?.(done)
  }
}
