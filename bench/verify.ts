/**
 * `npm run bench -- verify`: how fast `custodian audit verify` walks an org's log, and the
 * memory it holds while doing so, on PostgreSQL and on the embedded PGlite.
 *
 * For each engine, a database of its own (PostgreSQL: `custodian_bench_verify`, dropped at the
 * end; PGlite: a temporary data directory, removed at the end). `BENCH_VERIFY_EVENTS` events
 * of one org are written with SQL as requests write them (event and queue row), in slices,
 * and the real sequencer chains them with the tree and a signed checkpoint every
 * `BENCH_VERIFY_CHECKPOINT_EVERY` events — a real, valid log. Then the audit service's
 * `verify` (what the command runs) walks it `BENCH_VERIFY_ROUNDS` times; reported: events
 * per second (wall clock) and the resident set (RSS) above the one before the walk, at its
 * peak (sampled every 10 ms), with the V8 heap's peak beside it. Then the floor: the same
 * pages read with the walk's own statement and dropped, no verification — what reading the
 * log costs, in the same run, against which the walk's rate is to be read.
 *
 * Environment: BENCH_VERIFY_ENGINES (postgres,pglite), BENCH_VERIFY_EVENTS (1,000,000 on
 * PostgreSQL; PGlite a fifth unless BENCH_VERIFY_PGLITE_EVENTS), BENCH_VERIFY_ROUNDS (3),
 * BENCH_DATABASE_URL / TEST_DATABASE_URL. `npm run bench` runs node with --expose-gc: a full
 * collection before each walk.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import os from 'node:os'
import v8 from 'node:v8'
import { sql } from 'kysely'
import { ed25519FromSeed } from '../src/crypto/keys.ts'
import type { Engine } from '../src/db/connect.ts'
import { migrateToLatest } from '../src/db/migrate.ts'
import { createAuditService, VERIFY_PAGE } from '../src/modules/audit/audit.service.ts'
import { chainLinksPageQuery } from '../src/modules/audit/audit.store.ts'
import { buildChainedLog } from '../test/helpers/audit-chain.ts'
import { benchClient, benchResources, openBenchDatabase } from './processes.ts'
import { CpuSampler } from './sizes/measure.ts'

const collect = (globalThis as { gc?: () => void }).gc
const ROUNDS = Number(process.env.BENCH_VERIFY_ROUNDS ?? 3)
const EVENTS: Record<Engine, number> = {
  postgres: Number(process.env.BENCH_VERIFY_EVENTS ?? 1_000_000),
  pglite: Number(
    process.env.BENCH_VERIFY_PGLITE_EVENTS ?? Math.round(Number(process.env.BENCH_VERIFY_EVENTS ?? 1_000_000) / 5),
  ),
}
const CHECKPOINT_EVERY = Number(process.env.BENCH_VERIFY_CHECKPOINT_EVERY ?? 100_000)

const log = (line: string) => process.stderr.write(`[verify] ${line}\n`)

/** One walk's figures. */
export interface VerifyRound {
  events: number
  seconds: number
  /** Peak RSS during the walk minus RSS before it, bytes. */
  rssGrowth: number
  /** Peak V8 heap used during the walk minus before it, bytes. */
  heapGrowth: number
  /** CPU of this process during the walk, ms. */
  nodeCpuMs: number
  /** CPU of this process and the database's backends (PostgreSQL; PGlite runs in this process), ms. */
  totalCpuMs: number
  /** The floor: the same pages read with the same statement and dropped, no verification. */
  floor?: boolean
}

/** Runs `fn` while sampling RSS and heap every 10 ms; its result and the peaks above the start. */
export async function withPeakMemory<T>(
  fn: () => Promise<T>,
): Promise<{ value: T; rssGrowth: number; heapGrowth: number }> {
  // The cheap readings (process.memoryUsage() walks every heap space).
  const startRss = process.memoryUsage.rss()
  const startHeap = v8.getHeapStatistics().used_heap_size
  let rss = startRss
  let heap = startHeap
  const sample = () => {
    rss = Math.max(rss, process.memoryUsage.rss())
    heap = Math.max(heap, v8.getHeapStatistics().used_heap_size)
  }
  const timer = setInterval(sample, 10)
  try {
    const value = await fn()
    sample()
    return { value, rssGrowth: rss - startRss, heapGrowth: heap - startHeap }
  } finally {
    clearInterval(timer)
  }
}

async function runEngine(engine: Engine): Promise<VerifyRound[]> {
  await using resources = benchResources()
  const { database, url } = await openBenchDatabase(resources, engine, 'custodian_bench_verify', 4)
  await migrateToLatest(database.kysely)
  const db = database.kysely
  const signer = ed25519FromSeed(randomBytes(32))
  const orgId = randomUUID()
  const n = EVENTS[engine]
  const began = performance.now()
  await buildChainedLog(db, signer, orgId, n, {
    checkpointEvery: CHECKPOINT_EVERY,
    progress: (done) => log(`built ${done.toLocaleString('en-US')} of ${n.toLocaleString('en-US')} events`),
  })
  await sql`VACUUM ANALYZE`.execute(db)
  log(`${engine}: ${n.toLocaleString('en-US')} events built in ${((performance.now() - began) / 1000).toFixed(0)} s`)
  const service = createAuditService({ db, signer, hmacKey: randomBytes(32) })
  const admin = url === undefined ? undefined : await benchClient(resources, url)
  const cpu = new CpuSampler(process.pid, admin)
  const rounds: VerifyRound[] = []
  for (let round = 0; round < ROUNDS; round++) {
    collect?.()
    const cpuStart = await cpu.snapshot()
    const ownStart = process.cpuUsage()
    const t0 = performance.now()
    const { value: result, rssGrowth, heapGrowth } = await withPeakMemory(() => service.verify(orgId))
    const seconds = (performance.now() - t0) / 1000
    const own = process.cpuUsage(ownStart)
    const nodeCpuMs = (own.user + own.system) / 1000
    const totalCpuMs = CpuSampler.ms(cpuStart, await cpu.snapshot())
    if (!result.ok || result.events !== n)
      throw new Error(
        `verify failed on a valid log: ${JSON.stringify({ ...result, problems: result.problems.slice(0, 3) })}`,
      )
    rounds.push({ events: n, seconds, rssGrowth, heapGrowth, nodeCpuMs, totalCpuMs })
    log(
      `${engine} round ${round + 1}: ${Math.round(n / seconds).toLocaleString('en-US')} events/s, ${seconds.toFixed(2)} s, RSS +${(rssGrowth / 2 ** 20).toFixed(0)} MiB, heap +${(heapGrowth / 2 ** 20).toFixed(0)} MiB, CPU ${((totalCpuMs * 1000) / n).toFixed(1)} µs/event (${((nodeCpuMs * 1000) / n).toFixed(1)} in Node)`,
    )
  }
  // The floor, in the same run: every page read with the walk's own statement
  // (chainLinksPageQuery), its rows parsed by the driver and dropped: what reading the log
  // costs whatever the verifier does with it. Pages one after the other (the walk overlaps
  // the next page's read with the current one's hashing).
  {
    collect?.()
    const cpuStart = await cpu.snapshot()
    const ownStart = process.cpuUsage()
    const t0 = performance.now()
    let read = 0
    let after = 0
    for (;;) {
      const { rows } = await chainLinksPageQuery(orgId, after, VERIFY_PAGE).execute(db)
      read += rows.length
      const last = rows.at(-1)
      if (rows.length < VERIFY_PAGE || last === undefined) break
      after = Number(last.seq)
    }
    const seconds = (performance.now() - t0) / 1000
    const own = process.cpuUsage(ownStart)
    if (read !== n) throw new Error(`the floor read ${read} links of ${n}`)
    const totalCpuMs = CpuSampler.ms(cpuStart, await cpu.snapshot())
    rounds.push({
      events: n,
      seconds,
      rssGrowth: 0,
      heapGrowth: 0,
      nodeCpuMs: (own.user + own.system) / 1000,
      totalCpuMs,
      floor: true,
    })
    log(
      `${engine} floor (read only): ${Math.round(n / seconds).toLocaleString('en-US')} events/s, CPU ${((totalCpuMs * 1000) / n).toFixed(1)} µs/event (${((own.user + own.system) / n).toFixed(1)} in Node)`,
    )
  }
  return rounds
}

/** Runs the part and prints its table (Markdown). */
export async function runVerify(): Promise<void> {
  const engines = (process.env.BENCH_VERIFY_ENGINES ?? 'postgres,pglite').split(',') as Engine[]
  const lines = [
    `machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`,
    '',
    '| engine | events | round | events/s | seconds | CPU per event (Node) | peak RSS growth | peak heap growth |',
    '|---|---|---|---|---|---|---|---|',
  ]
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`
  for (const engine of engines) {
    const rounds = await runEngine(engine)
    for (const [i, r] of rounds.entries())
      lines.push(
        `| ${engine} | ${r.events.toLocaleString('en-US')} | ${r.floor === true ? 'floor: read only' : i + 1} | ${Math.round(r.events / r.seconds).toLocaleString('en-US')} | ${r.seconds.toFixed(2)} | ${((r.totalCpuMs * 1000) / r.events).toFixed(1)} µs (${((r.nodeCpuMs * 1000) / r.events).toFixed(1)} µs) | ${mib(r.rssGrowth)} | ${mib(r.heapGrowth)} |`,
      )
  }
  process.stdout.write(`${lines.join('\n')}\n`)
}
