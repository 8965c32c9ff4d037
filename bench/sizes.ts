/**
 * `npm run bench -- sizes`: costs at production sizes (issue 20). For each engine, one
 * database of its own (PostgreSQL: `bench_sizes_<pid>_postgres`, dropped at the end;
 * PGlite: a temporary data directory) holding a provider, a small org with a row of each
 * kind, and a big org grown with SQL (test/helpers/history.ts) to the sizes below. Then:
 *
 * - every periodic job, with nothing due, timed in this process before and after the
 *   growth (median wall time of the runs in about a second, and mean CPU per run);
 * - the service started as its own process (`node src/main.ts`, background jobs quiet)
 *   and, for every GET route of its /openapi.json (path parameters filled with real ids
 *   of each org; the events page also with each filter) and the main writes, ROUNDS
 *   interleaved rounds of a SECONDS-long autocannon window per org (small, big; big,
 *   small; …), CONNECTIONS connections: p50, p99 and the service's CPU per request
 *   (its process plus its PostgreSQL backends, from /proc/<pid>/stat), and the big/small
 *   ratios. Routes that read the whole log by design (export, verify) get one timed
 *   request per org instead.
 *
 * Environment: BENCH_SIZES_ENGINES (postgres,pglite), BENCH_SIZES_SECONDS (1),
 * BENCH_SIZES_ROUNDS (2), BENCH_SIZES_CONNECTIONS (4), BENCH_SIZES_SCALE (1: multiplies
 * every size, for a quick try), BENCH_SIZES_REPORT (a file to write the tables to),
 * BENCH_DATABASE_URL / TEST_DATABASE_URL (the PostgreSQL server), BENCH_SIZES_ONLY (a
 * regular expression: only the routes whose name matches are timed; the jobs always are).
 *
 * Same-size pages: a list whose big org fills a page (100 rows) while the small org holds
 * a few rows compares a full page with a short one. Each such list is also timed with
 * `limit=1` on both sides ("same-size page"): one row either way, so its ratio is the
 * cost of the history alone.
 */
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { sql } from 'kysely'
import pg from 'pg'
import { openDatabase, type Database, type Engine } from '../src/db/connect.ts'
import { migrateToLatest } from '../src/db/migrate.ts'
import { startTestApp, type TestApp } from '../test/helpers/app.ts'
import { growHistory, PERIODIC_JOBS, type HistorySizes } from '../test/helpers/history.ts'
import { httpsJson, type ServerProcess } from '../test/helpers/process.ts'
import { adopt, benchClient, benchDirectory, benchResources, benchServer, freshDatabase, PG_URL } from './processes.ts'
import { buildFixture, type Fixture } from './sizes/fixture.ts'
import { CpuSampler, loadWindow, quantile, timedRequest, type Target, type Window } from './sizes/measure.ts'

const SCALE = Number(process.env.BENCH_SIZES_SCALE ?? 1)
const SECONDS = Number(process.env.BENCH_SIZES_SECONDS ?? 1)
const ROUNDS = Number(process.env.BENCH_SIZES_ROUNDS ?? 2)
const CONNECTIONS = Number(process.env.BENCH_SIZES_CONNECTIONS ?? 4)
const ENGINES = (process.env.BENCH_SIZES_ENGINES ?? 'postgres,pglite').split(',') as Engine[]
const ONLY = process.env.BENCH_SIZES_ONLY === undefined ? undefined : new RegExp(process.env.BENCH_SIZES_ONLY)
/** Lists of membership or history that the big org fills beyond one page. */
const SAME_SIZE_PAGES = [
  '/v1/orgs/{orgId}/members',
  '/v1/orgs/{orgId}/tokens',
  '/v1/orgs/{orgId}/grants',
  '/v1/orgs/{orgId}/access-reviews',
  '/v1/orgs/{orgId}/privacy-requests',
  '/v1/orgs/{orgId}/notifications',
  '/v1/orgs/{orgId}/webhook-deliveries',
  '/v1/orgs/{orgId}/alerts',
  '/v1/orgs/{orgId}/incidents',
  '/v1/orgs/{orgId}/least-privilege',
  '/v1/orgs/{orgId}/access-reviews/{reviewId}/items',
  '/v1/orgs/{orgId}/audit/events',
]
/** Timed runs of each periodic job (after one that does what the fixture made due): at least 3, at most 50, for about a second. */
const JOB_RUNS = { min: 3, max: 50, ms: 1_000 }
/** Calls of each proof per org for the in-process proof times. */
const PROOF_RUNS = 200
/** One request to a whole-log route gives up after this long (reported as such). */
const WHOLE_LOG_TIMEOUT_MS = 30_000
/** A p99 ratio above this is flagged (issue 20's target). */
const TARGET = 2
const DB_PREFIX = 'bench_sizes_'

/** The big org's history per engine: PostgreSQL at production sizes, PGlite at what it builds and serves in the bench's time. */
export const SIZES: Record<Engine, HistorySizes> = {
  postgres: {
    events: 1_000_000,
    checkpoints: 100_000,
    subjects: 100_000,
    secretVersions: 10_000,
    members: 10_000,
    tokens: 10_000,
    other: 10_000,
  },
  pglite: {
    events: 100_000,
    checkpoints: 10_000,
    subjects: 10_000,
    secretVersions: 10_000,
    members: 10_000,
    tokens: 10_000,
    other: 10_000,
  },
}

/** Background jobs off in the measured service: only the requests' own work runs (the jobs are timed on their own). */
const QUIET: Record<string, string> = {
  CUSTODIAN_AUTH_RATE_LIMIT: '100000',
  CUSTODIAN_REPORT_RATE_LIMIT: '1000',
  ...Object.fromEntries(
    [
      'CUSTODIAN_DB_ROTATION_CHECK_MS',
      'CUSTODIAN_ACCESS_REVIEW_CHECK_MS',
      'CUSTODIAN_RETENTION_CHECK_MS',
      'CUSTODIAN_PRIVACY_CHECK_MS',
      'CUSTODIAN_INCIDENT_CHECK_MS',
      'CUSTODIAN_DISCLOSURE_CHECK_MS',
      'CUSTODIAN_OFFBOARDING_CHECK_MS',
      'CUSTODIAN_CONNECTOR_CHECK_MS',
      'CUSTODIAN_AUDIT_VERIFY_INTERVAL_MS',
    ].map((name) => [name, '3600000']),
  ),
  ...Object.fromEntries(
    [
      'CUSTODIAN_WEBHOOK_CHECK_MS',
      'CUSTODIAN_MAIL_CHECK_MS',
      'CUSTODIAN_ALERT_CHECK_MS',
      'CUSTODIAN_SHRED_RING_CHECK_MS',
      'CUSTODIAN_REWRAP_INTERVAL_MS',
    ].map((name) => [name, '600000']),
  ),
}

type Side = 'a' | 'b'
interface Scenario {
  name: string
  /** A single timed request per org instead of load (reads the whole log by design). */
  wholeLog?: boolean
  target: (side: Side) => Omit<Target, 'url'> & { path: string }
}

interface Figures {
  n: number
  p50: number
  p99: number
  cpuPerRequest: number
  status: string
}

interface RouteResult {
  name: string
  small: Figures
  big: Figures
  wholeLog: boolean
}

interface JobResult {
  name: string
  small: { ms: number; cpu: number }
  big: { ms: number; cpu: number }
}

interface EngineResult {
  engine: Engine
  sizes: HistorySizes
  buildMs: number
  routes: RouteResult[]
  jobs: JobResult[]
  proofs: ProofTimes[]
  skipped: string[]
  /** The first error answer of each route that gave one (route → status and body head). */
  errors: Map<string, string>
}

const scaled = (sizes: HistorySizes): HistorySizes =>
  Object.fromEntries(Object.entries(sizes).map(([k, v]) => [k, Math.round(v * SCALE)])) as unknown as HistorySizes

const random = () => Math.random().toString(36).slice(2, 10)

/** GET routes of the service's /openapi.json, with real ids of each org, and the main writes. */
function scenarios(documented: string[], f: Fixture, skipped: string[]): Scenario[] {
  const list: Scenario[] = []
  const owner = (side: Side) => f[side].ownerToken
  for (const route of documented) {
    const operator = route.startsWith('/v1/operator/')
    const names = [...route.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string)
    const missing = names.filter((name) => f.ids.a[name] === undefined)
    if (missing.length > 0) {
      skipped.push(`GET ${route} (no id for ${missing.join(', ')})`)
      continue
    }
    const fill = (side: Side) =>
      route.replace(/\{(\w+)\}/g, (_, name: string) => f.ids[side][name] as string).replace('{*}', '0/000')
    // Proofs across the whole signed tree: the cost that could grow with the log.
    const queries: Record<string, (side: Side) => string> = {
      '/v1/sso/callback': () => '?state=x&code=y',
      '/v1/orgs/{orgId}/audit/proofs/inclusion': (side) => `?seq=1&size=${f.ids[side].signedSize}`,
      '/v1/orgs/{orgId}/audit/proofs/consistency': (side) => `?from=1&to=${f.ids[side].signedSize}`,
    }
    const wholeLog = route.endsWith('/audit/export') || route.endsWith('/audit/verify')
    list.push({
      name: `GET ${route}`,
      wholeLog,
      target: (side) => ({
        method: 'GET',
        path: fill(side) + (queries[route]?.(side) ?? ''),
        token: operator ? f.provider.ownerToken : owner(side),
      }),
    })
    if (SAME_SIZE_PAGES.includes(route))
      list.push({
        name: `GET ${route}?limit=1 (same-size page)`,
        target: (side) => ({
          method: 'GET',
          path: `${fill(side)}?limit=1`,
          token: operator ? f.provider.ownerToken : owner(side),
        }),
      })
    if (route === '/v1/orgs/{orgId}/audit/events')
      for (const filter of [
        'target=fixture-target',
        'actor=nobody-in-particular',
        'action=secret.rotate',
        'outcome=denied',
        'action=org.*',
      ])
        list.push({
          name: `GET ${route}?${filter}`,
          target: (side) => ({ method: 'GET', path: `${fill(side)}?${filter}`, token: owner(side) }),
        })
  }
  const org = (side: Side) => `/v1/orgs/${f[side].orgId}`
  const json = (value: unknown) => JSON.stringify(value)
  list.push(
    {
      name: 'POST /v1/orgs/{orgId}/secrets (audited create)',
      target: (side) => ({
        method: 'POST',
        path: `${org(side)}/secrets`,
        token: owner(side),
        body: (n) => json({ name: `bench-${random()}-${n}`, type: 'api_key', value: 'sk_bench_0123456789abcdef' }),
      }),
    },
    {
      name: 'POST /v1/orgs/{orgId}/secrets/{secretId}/reveal',
      target: (side) => ({
        method: 'POST',
        path: `${org(side)}/secrets/${f.ids[side].secretId}/reveal`,
        token: owner(side),
        body: () => json({ reason: 'benchmark' }),
      }),
    },
    {
      name: 'POST /v1/orgs/{orgId}/secrets/{secretId}/versions',
      target: (side) => ({
        method: 'POST',
        path: `${org(side)}/secrets/${f.ids[side].secretId}/versions`,
        token: owner(side),
        body: (n) => json({ value: `sk_bench_${n}_${random()}` }),
      }),
    },
    {
      name: 'POST /v1/operator/grants (grant request)',
      target: (side) => ({
        method: 'POST',
        path: '/v1/operator/grants',
        token: f.provider.ownerToken,
        body: () => json({ orgId: f[side].orgId, reason: 'benchmark grant request', permissions: ['org:read'] }),
      }),
    },
    {
      name: 'POST /v1/orgs/{orgId}/privacy-requests',
      target: (side) => ({
        method: 'POST',
        path: `${org(side)}/privacy-requests`,
        token: owner(side),
        body: (n) => json({ kind: 'rectify', subjectId: `bench-subject-${random()}-${n}` }),
      }),
    },
  )
  // The whole-log routes last: a request given up on may run on in the service.
  return list
    .filter((scenario) => ONLY === undefined || ONLY.test(scenario.name))
    .sort((x, y) => Number(x.wholeLog === true) - Number(y.wholeLog === true))
}

function figures(windows: Window[]): Figures {
  const latencies = windows.flatMap((w) => w.latencies)
  const statuses = new Map<number, number>()
  for (const w of windows) for (const [code, count] of w.statuses) statuses.set(code, (statuses.get(code) ?? 0) + count)
  const cpu = windows.reduce((sum, w) => sum + w.cpuMs, 0)
  return {
    n: latencies.length,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    cpuPerRequest: latencies.length === 0 ? Number.NaN : cpu / latencies.length,
    status: [...statuses.entries()]
      .sort((x, y) => y[1] - x[1])
      .map(([code]) => code)
      .join('/'),
  }
}

async function measureRoute(
  server: ServerProcess,
  scenario: Scenario,
  cpu: CpuSampler,
  errors: Map<string, string>,
): Promise<RouteResult> {
  const port = server.httpsPort
  if (scenario.wholeLog) {
    const one = async (side: Side): Promise<Figures> => {
      const start = await cpu.snapshot()
      const r = await timedRequest(port, scenario.target(side), WHOLE_LOG_TIMEOUT_MS)
      const cpuMs = CpuSampler.ms(start, await cpu.snapshot())
      return {
        n: 1,
        p50: r.ms,
        p99: r.ms,
        cpuPerRequest: cpuMs,
        status: r.timedOut ? `>${WHOLE_LOG_TIMEOUT_MS / 1000} s` : String(r.status),
      }
    }
    const small = await one('b')
    const big = await one('a')
    return { name: scenario.name, small, big, wholeLog: true }
  }
  // Warm-up: a few sequential requests per org (JIT, caches, pool connections); the first
  // error answer is kept for the report (a 4xx or 5xx may be the bench's own defect).
  for (const side of ['b', 'a'] as const)
    for (let i = 0; i < 3; i++) {
      const r = await timedRequest(port, scenario.target(side), WHOLE_LOG_TIMEOUT_MS)
      if (r.status >= 400 && !errors.has(scenario.name))
        errors.set(scenario.name, `${side === 'a' ? 'big' : 'small'}: ${r.status} ${r.head.replace(/\s+/g, ' ')}`)
    }
  const windows: Record<Side, Window[]> = { a: [], b: [] }
  for (let round = 0; round < ROUNDS; round++) {
    for (const side of round % 2 === 0 ? (['b', 'a'] as const) : (['a', 'b'] as const)) {
      const target = scenario.target(side)
      windows[side].push(
        await loadWindow(
          { ...target, url: `https://127.0.0.1:${port}${target.path}` },
          { connections: CONNECTIONS, seconds: SECONDS, cpu },
        ),
      )
    }
  }
  return { name: scenario.name, small: figures(windows.b), big: figures(windows.a), wholeLog: false }
}

async function timeJobs(t: TestApp, cpu: CpuSampler): Promise<Map<string, { ms: number; cpu: number }>> {
  const out = new Map<string, { ms: number; cpu: number }>()
  for (const job of PERIODIC_JOBS) {
    // What the fixture (or the alert rules' backlog) made due, then runs with nothing due.
    let done = await job.run(t)
    for (let i = 0; job.drains === true && done !== 0 && i < 20; i++) done = await job.run(t)
    const ms: number[] = []
    const start = await cpu.snapshot()
    const began = performance.now()
    while (ms.length < JOB_RUNS.min || (ms.length < JOB_RUNS.max && performance.now() - began < JOB_RUNS.ms)) {
      const started = performance.now()
      await job.run(t)
      ms.push(performance.now() - started)
    }
    out.set(job.name, { ms: quantile(ms, 0.5), cpu: CpuSampler.ms(start, await cpu.snapshot()) / ms.length })
  }
  return out
}

/** Proof serving time without HTTP: the service computing proofs across each org's whole signed tree. */
interface ProofTimes {
  name: string
  small: { p50: number; p99: number; hashes: number }
  big: { p50: number; p99: number; hashes: number }
}

/**
 * The time to compute an inclusion proof (leaf 1) and a consistency proof (size 1) across
 * each org's signed tree, in the service's own process (tile reads from the database
 * included, HTTP and authentication not): PROOF_RUNS calls each, interleaved by org.
 */
async function timeProofs(t: TestApp, f: Fixture): Promise<ProofTimes[]> {
  const audit = t.app.services.audit
  const kinds = [
    { name: 'inclusion proof of leaf 1', run: (org: string, size: number) => audit.inclusionProof(org, 1, size) },
    { name: 'consistency proof from size 1', run: (org: string, size: number) => audit.consistencyProof(org, 1, size) },
  ]
  const out: ProofTimes[] = []
  for (const kind of kinds) {
    const times: Record<Side, number[]> = { a: [], b: [] }
    const hashes: Record<Side, number> = { a: 0, b: 0 }
    for (let i = 0; i < PROOF_RUNS; i++)
      for (const side of ['a', 'b'] as const) {
        const began = performance.now()
        const proof = await kind.run(f[side].orgId, Number(f.ids[side].signedSize))
        times[side].push(performance.now() - began)
        hashes[side] = proof.hashes.length
      }
    const figures = (side: Side) => ({
      p50: quantile(times[side], 0.5),
      p99: quantile(times[side], 0.99),
      hashes: hashes[side],
    })
    out.push({ name: kind.name, small: figures('b'), big: figures('a') })
  }
  return out
}

/** Drops databases of earlier runs of this bench whose process is gone (an interrupted run). */
async function dropStale(admin: pg.Client): Promise<void> {
  const { rows } = await admin.query<{ datname: string }>(
    `SELECT datname FROM pg_database WHERE datname LIKE '${DB_PREFIX}%'`,
  )
  for (const { datname } of rows) {
    const pid = Number(/^bench_sizes_(\d+)_/.exec(datname)?.[1])
    let alive = false
    try {
      process.kill(pid, 0)
      alive = true
    } catch {
      // ESRCH: that run is over.
    }
    if (!alive) await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`)
  }
}

/**
 * The engine's database: PGlite in `dataDir`, or a fresh PostgreSQL database named for this
 * process, closed by `close` (once; the service then opens it) or else when `resources` are
 * released, the PostgreSQL one then dropped.
 */
async function openSizesDatabase(
  resources: AsyncDisposableStack,
  engine: Engine,
  dataDir: string,
): Promise<{ database: Database; url: string | undefined; close: () => Promise<void> }> {
  let url: string | undefined
  if (engine === 'postgres') {
    const admin = new pg.Client({ connectionString: PG_URL })
    await admin.connect()
    try {
      await dropStale(admin)
    } finally {
      await admin.end()
    }
    url = await freshDatabase(resources, `${DB_PREFIX}${process.pid}_${engine}`)
  }
  const database = await openDatabase(url === undefined ? { dataDir } : { databaseUrl: url, poolSize: 10 })
  let closing: Promise<void> | undefined
  const close = () => (closing ??= database.close())
  await adopt(resources, close)
  return { database, url, close }
}

const log = (line: string) => process.stderr.write(`[sizes] ${line}\n`)

async function runEngine(engine: Engine): Promise<EngineResult> {
  const sizes = scaled(SIZES[engine])
  await using resources = benchResources()
  const dataDir = benchDirectory(resources, `${DB_PREFIX}${engine}-`)
  // The service started later reads the same keys from its data directory.
  const rootKey = randomBytes(32)
  for (const file of ['root.key', 'audit.key']) writeFileSync(path.join(dataDir, file), rootKey, { mode: 0o600 })
  const { database, url, close } = await openSizesDatabase(resources, engine, dataDir)
  const admin = url === undefined ? undefined : await benchClient(resources, url)
  await migrateToLatest(database.kysely)
  const t = await startTestApp(
    engine,
    { ...database, url, pglite: undefined },
    { ...QUIET, CUSTODIAN_DATA_DIR: dataDir, CUSTODIAN_AUDIT_SEQUENCER_INTERVAL_MS: '60000' },
    undefined,
    undefined,
    undefined,
    rootKey,
  )
  const f = await buildFixture(t)
  await t.app.sequencer.flush()
  await sql`ANALYZE`.execute(database.kysely)
  const jobCpu = new CpuSampler(process.pid, admin)
  log(`${engine}: timing the periodic jobs at the small size`)
  const jobsSmall = await timeJobs(t, jobCpu)
  log(`${engine}: growing the big org to ${JSON.stringify(sizes)}`)
  const started = performance.now()
  await growHistory(database.kysely, f.history, sizes)
  const buildMs = performance.now() - started
  // The copied versions hold the first version's ciphertext (bound to its number): a real
  // version on top, through the API, so that revealing the current one works.
  for (const side of ['a', 'b'] as const) {
    const added = await t.request({
      method: 'POST',
      url: `/v1/orgs/${f[side].orgId}/secrets/${f.ids[side].secretId}/versions`,
      token: f[side].ownerToken,
      body: { value: 'sk_bench_current' },
    })
    if (added.status !== 201) throw new Error(`new version: ${added.text}`)
  }
  // As autovacuum would after a bulk load (README, "Keeping the database healthy").
  await sql`ANALYZE`.execute(database.kysely)
  for (const side of ['a', 'b'] as const) {
    const signed = await database.kysely
      .selectFrom('audit_checkpoints')
      .select('seq')
      .where('org_id', '=', f[side].orgId)
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirstOrThrow()
    f.ids[side].signedSize = String(signed.seq)
    const first = await database.kysely
      .selectFrom('audit_chain as c')
      .innerJoin('audit_events as e', 'e.id', 'c.id')
      .select('e.event_id')
      .where('c.org_id', '=', f[side].orgId)
      .where('c.seq', '=', 1)
      .executeTakeFirstOrThrow()
    f.ids[side].eventId = first.event_id
  }
  log(`${engine}: built in ${(buildMs / 1000).toFixed(1)} s; timing the periodic jobs at the big size`)
  // The alert rules have seen the history (a running service evaluates events as they are chained).
  await sql`UPDATE alert_cursors c SET last_seq = h.seq FROM audit_heads h WHERE h.org_id = c.org_id`.execute(
    database.kysely,
  )
  const jobsBig = await timeJobs(t, jobCpu)
  const proofs = await timeProofs(t, f)
  await t.app.close()
  await close()
  const jobs = PERIODIC_JOBS.map(({ name }) => ({
    name,
    small: jobsSmall.get(name) ?? { ms: Number.NaN, cpu: Number.NaN },
    big: jobsBig.get(name) ?? { ms: Number.NaN, cpu: Number.NaN },
  }))

  const server = await benchServer(resources, {
    ...(url === undefined ? {} : { DATABASE_URL: url }),
    CUSTODIAN_DATA_DIR: dataDir,
    ...QUIET,
  })
  const cpu = new CpuSampler(server.child.pid as number, admin)
  const doc = await httpsJson(server.httpsPort, 'GET', '/openapi.json')
  const documented = Object.entries(doc.body.paths as Record<string, Record<string, unknown>>)
    .filter(([, ops]) => 'get' in ops)
    .map(([p]) => p)
  const skipped: string[] = []
  const errors = new Map<string, string>()
  const list = scenarios(documented, f, skipped)
  const routes: RouteResult[] = []
  for (const [i, scenario] of list.entries()) {
    const result = await measureRoute(server, scenario, cpu, errors)
    routes.push(result)
    log(
      `${engine} ${i + 1}/${list.length} ${scenario.name}: p99 ${result.small.p99.toFixed(1)} → ${result.big.p99.toFixed(1)} ms`,
    )
  }
  // A whole-log request given up on may still run in the service: no waiting for it.
  if (routes.some((r) => r.big.status.startsWith('>'))) await server.kill()
  return { engine, sizes, buildMs, routes, jobs, proofs, skipped, errors }
}

const n0 = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–')
const ms = (x: number) => (!Number.isFinite(x) ? '–' : x < 10 ? x.toFixed(1) : Math.round(x).toLocaleString('en-US'))
const ratio = (big: number, small: number) =>
  !Number.isFinite(big) || !Number.isFinite(small) || small <= 0 ? Number.NaN : big / small
const r2 = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : '–')

/** The tables of one engine, in Markdown (readable as text too). */
function report(result: EngineResult): string {
  const s = result.sizes
  const lines = [
    `### ${result.engine === 'postgres' ? 'PostgreSQL' : 'PGlite'}`,
    '',
    `Big org: ${n0(s.events)} audit events, ${n0(s.checkpoints)} checkpoints, ${n0(s.subjects)} data subjects, ` +
      `${n0(s.secretVersions)} versions of one secret, ${n0(s.members)} members, ${n0(s.tokens)} tokens, ` +
      `${n0(s.other)} rows in each other history table; built with SQL in ${(result.buildMs / 1000).toFixed(0)} s ` +
      '(after the API made both orgs).',
    '',
    '| route | status | requests small / big | p50 ms small → big | p99 ms small → big | p99 ratio | CPU ms/req small → big | CPU ratio |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
  ]
  for (const r of result.routes) {
    const p99 = ratio(r.big.p99, r.small.p99)
    const cpu = ratio(r.big.cpuPerRequest, r.small.cpuPerRequest)
    const flag = r.wholeLog ? ' (whole log by design)' : p99 > TARGET ? ' **> 2×**' : ''
    lines.push(
      `| ${r.name.replace(/\|/g, '\\|')}${flag} | ${r.small.status === r.big.status ? r.small.status : `${r.small.status} / ${r.big.status}`} | ` +
        `${n0(r.small.n)} / ${n0(r.big.n)} | ${ms(r.small.p50)} → ${ms(r.big.p50)} | ${ms(r.small.p99)} → ${ms(r.big.p99)} | ` +
        `${r2(p99)} | ${ms(r.small.cpuPerRequest)} → ${ms(r.big.cpuPerRequest)} | ${r2(cpu)} |`,
    )
  }
  if (result.skipped.length > 0) lines.push('', `Not measured: ${result.skipped.join('; ')}.`)
  if (result.errors.size > 0) {
    lines.push('', 'Error answers (first one of each route):', '')
    for (const [name, text] of result.errors) lines.push(`- ${name} — ${text}`)
  }
  lines.push(
    '',
    '| periodic job (nothing due) | ms per run small → big | ratio | CPU ms per run small → big |',
    '|---|---:|---:|---:|',
  )
  for (const j of result.jobs)
    lines.push(
      `| ${j.name}${ratio(j.big.ms, j.small.ms) > TARGET ? ' **> 2×**' : ''} | ${ms(j.small.ms)} → ${ms(j.big.ms)} | ${r2(ratio(j.big.ms, j.small.ms))} | ${ms(j.small.cpu)} → ${ms(j.big.cpu)} |`,
    )
  lines.push(
    '',
    `| proof, in the service's process (${PROOF_RUNS} calls, no HTTP; target ≤ 5 ms) | hashes small → big | p50 ms small → big | p99 ms small → big |`,
    '|---|---:|---:|---:|',
  )
  for (const p of result.proofs)
    lines.push(
      `| ${p.name} | ${p.small.hashes} → ${p.big.hashes} | ${ms(p.small.p50)} → ${ms(p.big.p50)} | ${ms(p.small.p99)} → ${ms(p.big.p99)} |`,
    )
  return lines.join('\n')
}

/** Runs the sizes bench on each engine and prints (and optionally writes) the tables. */
export async function runSizes(): Promise<void> {
  const started = performance.now()
  const results: EngineResult[] = []
  for (const engine of ENGINES) results.push(await runEngine(engine))
  const text = [
    `machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}; ` +
      `${ROUNDS} interleaved rounds × ${SECONDS} s per org and route, ${CONNECTIONS} connections; ` +
      `whole run ${((performance.now() - started) / 60_000).toFixed(1)} min`,
    '',
    ...results.map(report),
  ].join('\n')
  console.log(`\n${text}\n`)
  if (process.env.BENCH_SIZES_REPORT !== undefined) writeFileSync(process.env.BENCH_SIZES_REPORT, `${text}\n`)
}
