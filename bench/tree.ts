/**
 * `npm run bench -- tree`: what the Merkle tree (issue 21) costs the audit sequencer, on
 * PostgreSQL and on the embedded PGlite, in one run on this machine.
 *
 * For each engine, a database of its own (PostgreSQL: `custodian_bench_tree`, dropped at the
 * end; PGlite: a temporary data directory). In interleaved rounds (with the tree, without,
 * without, with, …), each on a fresh org: `BENCH_TREE_EVENTS` events are written with SQL
 * as requests would (event and queue row), then the sequencer chains them all — with the
 * tree (chain, leaf hashes, tiles, root) or without (the chain alone, `maintainTree: false`,
 * a mode only this bench uses). Reported: events per second (wall clock) and CPU per event
 * (this process plus its PostgreSQL backends, from /proc), the ratio with ÷ without, and the
 * storage per event of the events, the chain and the tiles (pg_total_relation_size).
 *
 * Environment: BENCH_TREE_ENGINES (postgres,pglite), BENCH_TREE_EVENTS (50,000 on PostgreSQL;
 * PGlite a fifth), BENCH_TREE_ROUNDS (4 per variant), BENCH_TREE_WARMUP (1 round of each,
 * not counted), BENCH_DATABASE_URL / TEST_DATABASE_URL. `npm run bench` runs node with
 * --expose-gc: a full collection before each round.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import { ed25519FromSeed } from '../src/crypto/keys.ts'
import type { Engine } from '../src/db/connect.ts'
import { migrateToLatest } from '../src/db/migrate.ts'
import { createSequencer } from '../src/modules/audit/audit.sequencer.ts'
import { benchClient, benchResources, openBenchDatabase } from './processes.ts'
import { CpuSampler } from './sizes/measure.ts'

const ROUNDS = Number(process.env.BENCH_TREE_ROUNDS ?? 4)
/** Rounds (each with and without the tree) run first and not counted: the JIT's warm-up. */
const WARMUP = Number(process.env.BENCH_TREE_WARMUP ?? 1)
/** A full collection before each round (`node --expose-gc`): the previous rounds' garbage is not this round's cost. */
const collect = (globalThis as { gc?: () => void }).gc
const EVENTS: Record<Engine, number> = {
  postgres: Number(process.env.BENCH_TREE_EVENTS ?? 50_000),
  pglite: Math.round(Number(process.env.BENCH_TREE_EVENTS ?? 50_000) / 5),
}

interface Round {
  tree: boolean
  events: number
  seconds: number
  cpuMs: number
}

const log = (line: string) => process.stderr.write(`[tree] ${line}\n`)

async function runEngine(engine: Engine) {
  await using resources = benchResources()
  const { database, url } = await openBenchDatabase(resources, engine, 'custodian_bench_tree', 4)
  const admin = url === undefined ? undefined : await benchClient(resources, url)
  await migrateToLatest(database.kysely)
  const db = database.kysely
  const signer = ed25519FromSeed(randomBytes(32))
  const sequencer = (tree: boolean) =>
    createSequencer({
      db,
      signer,
      log: {
        error: (...args: unknown[]) => {
          log(JSON.stringify(args))
        },
        info: () => undefined,
      },
      options: {
        intervalMs: 1_000_000,
        checkpointEvery: 1_000_000_000,
        checkpointSeconds: 1_000_000_000,
        originHost: 'bench.example',
        witnesses: [],
        maintainTree: tree,
      },
    })
  /** `count` events of one org, written with SQL as requests write them (event and queue row in one statement). */
  const write = (orgId: string, count: number) =>
    sql`
    WITH e AS (
      INSERT INTO audit_events (org_id, event_id, occurred_at, actor_type, actor_id, action, target_type, target_id, outcome, details)
      SELECT ${orgId}::uuid, gen_random_uuid(), now(), 'user', 'bench-user', 'secret.reveal', 'secret', gen_random_uuid()::text, 'success',
             jsonb_build_object('reason', 'benchmark ' || g)
        FROM generate_series(1, ${count}) AS g
      RETURNING org_id, id)
    INSERT INTO audit_unchained (org_id, id) SELECT org_id, id FROM e`.execute(db)
  const cpu = new CpuSampler(process.pid, admin)
  const rounds: Round[] = []
  const n = EVENTS[engine]
  for (let round = -WARMUP; round < ROUNDS; round++) {
    for (const tree of round % 2 === 0 ? [true, false] : [false, true]) {
      // The same code runs both variants, so V8's optimized code follows the last variant
      // run: a round measured right after the other variant pays its deoptimization (the
      // first runs showed every round with the tree after one without at twice the CPU).
      // A short warm-up of this round's variant, not measured, comes first.
      await write(randomUUID(), Math.min(2_000, n))
      await sequencer(tree).flush()
      const orgId = randomUUID()
      await write(orgId, n)
      // Vacuum what the previous rounds left, outside the measurement: an autovacuum worker
      // landing inside a round would be counted as its CPU (it is one of the database's backends).
      await sql`VACUUM ANALYZE`.execute(db)
      collect?.()
      const start = await cpu.snapshot()
      const ownStart = process.cpuUsage()
      const began = performance.now()
      await sequencer(tree).flush()
      const seconds = (performance.now() - began) / 1000
      const cpuMs = CpuSampler.ms(start, await cpu.snapshot())
      const own = process.cpuUsage(ownStart)
      const ownMs = (own.user + own.system) / 1000
      if (round >= 0) rounds.push({ tree, events: n, seconds, cpuMs })
      log(
        `${engine}${round < 0 ? ' (warm-up, not counted)' : ''} ${tree ? 'with' : 'without'} the tree: ${Math.round(n / seconds)} events/s, ${((cpuMs * 1000) / n).toFixed(0)} µs CPU per event (${((ownMs * 1000) / n).toFixed(0)} µs in this process)`,
      )
    }
  }
  const sizes = await sql<{ relation: string; bytes: string }>`
    SELECT relation, pg_total_relation_size(relation::regclass)::text AS bytes
      FROM unnest(ARRAY['audit_events', 'audit_unchained', 'audit_chain', 'audit_tiles']) AS relation`.execute(db)
  const counted = await sql<{ events: string; chained: string }>`
    SELECT (SELECT count(*) FROM audit_events)::text AS events, (SELECT count(*) FROM audit_chain)::text AS chained`.execute(
    db,
  )
  return { engine, rounds, sizes: sizes.rows, counted: counted.rows[0] }
}

const sum = (rounds: Round[], tree: boolean) => {
  const own = rounds.filter((r) => r.tree === tree)
  const events = own.reduce((a, r) => a + r.events, 0)
  return {
    perSecond: events / own.reduce((a, r) => a + r.seconds, 0),
    cpuUs: (own.reduce((a, r) => a + r.cpuMs, 0) * 1000) / events,
  }
}

/** The median of each round's rate with the tree over the rate without it in the same round. */
const medianRatio = (rounds: Round[]) => {
  const ratios: number[] = []
  for (let i = 0; i + 1 < rounds.length; i += 2) {
    const pair = [rounds[i], rounds[i + 1]]
    const withTree = pair.find((r) => r?.tree === true)
    const without = pair.find((r) => r?.tree === false)
    if (withTree !== undefined && without !== undefined)
      ratios.push(withTree.events / withTree.seconds / (without.events / without.seconds))
  }
  ratios.sort((a, b) => a - b)
  const mid = Math.floor(ratios.length / 2)
  return ratios.length === 0
    ? Number.NaN
    : ratios.length % 2 === 1
      ? (ratios[mid] as number)
      : ((ratios[mid - 1] as number) + (ratios[mid] as number)) / 2
}

/** Runs the part and prints its tables (Markdown). */
export async function runTree(): Promise<void> {
  const engines = (process.env.BENCH_TREE_ENGINES ?? 'postgres,pglite').split(',') as Engine[]
  const lines: string[] = []
  for (const engine of engines) {
    const result = await runEngine(engine)
    const withTree = sum(result.rounds, true)
    const without = sum(result.rounds, false)
    const events = Number(result.counted?.events ?? 0)
    const chained = Number(result.counted?.chained ?? 0)
    lines.push(
      `### ${engine}: ${result.rounds.length} rounds of ${result.rounds[0]?.events.toLocaleString('en-US')} events`,
      '',
      '| sequencer | events/s | CPU per event |',
      '|---|---|---|',
      `| with the tree | ${Math.round(withTree.perSecond).toLocaleString('en-US')} | ${withTree.cpuUs.toFixed(0)} µs |`,
      `| chain alone | ${Math.round(without.perSecond).toLocaleString('en-US')} | ${without.cpuUs.toFixed(0)} µs |`,
      `| ratio | ${((withTree.perSecond / without.perSecond) * 100).toFixed(0)} % (target ≥ 80 %) | ${(withTree.cpuUs / without.cpuUs).toFixed(2)}× |`,
      `| median of the rounds' ratios | ${(medianRatio(result.rounds) * 100).toFixed(0)} % | |`,
      '',
      `${WARMUP} warm-up round(s) not counted; ${collect === undefined ? 'no forced collection between rounds (run with node --expose-gc for one)' : 'a full garbage collection before each round'}.`,
      '',
      '| storage | bytes per event |',
      '|---|---|',
      ...result.sizes.map((row) => {
        const per = row.relation === 'audit_tiles' ? chained / 2 : row.relation === 'audit_chain' ? chained : events
        return `| ${row.relation} | ${per > 0 ? Math.round(Number(row.bytes) / per) : '–'} |`
      }),
      '',
    )
  }
  process.stdout.write(`${lines.join('\n')}\n`)
}
