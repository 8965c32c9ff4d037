/**
 * `npm run bench -- requests` (about 12 minutes; 2 more with the socket service): the cost of Custodian's authenticated,
 * authorized, audited requests against the performance targets (docs/benchmarks.md), on
 * PostgreSQL and on the embedded PGlite, in one run:
 *
 * - **Start**: a first start on a fresh data directory (PGlite: the migrated template, which
 *   `npm ci` builds, is copied; PostgreSQL: a fresh database, migrated from nothing) with the
 *   compile cache a user's first start after `npm ci` has (a copy of the one `npm ci`
 *   prepared, src/module-cache.ts), and a restart, each timed
 *   from the process's spawn to its "Listening:" line, with the CPU it used by then.
 * - **Requests**, in interleaved rounds of SECONDS-long windows, so the machine's noise falls
 *   on all alike, each after a lead-in of the same load (so the window holds a steady
 *   stream; the lead-ins are reported apart, with the pause before each: a service's first
 *   scenario of a round follows over a minute of the other services' windows): a bare Fastify hello-world over the same HTTPS (the baseline), the ceiling
 *   (bench/ceiling.ts: a bare handler doing one prepared INSERT per request), the floors (the
 *   same bare handler sending a read's and a write's transaction: the same round trips, no
 *   application; what the service's own work is measured against), and for each
 *   engine an authenticated read (`GET /v1/orgs/{orgId}`), an audited write (create a
 *   service account) and a reveal (decrypt + audited). The load comes from autocannon in
 *   this process, each server runs in its own; CPU per request is the server's process
 *   plus its PostgreSQL backends, from /proc/<pid>/stat. The same three on PostgreSQL with
 *   the credential cache off (`CUSTODIAN_CREDENTIAL_CACHE_ENTRIES=0`), and connected through
 *   the server's Unix socket instead of TCP, for comparison.
 * - **Idle RSS** (VmRSS from /proc/<pid>/status) of each service after its start (IDLE_SECONDS
 *   without requests) and again after the load, once its work after the load has ended and it
 *   has been idle for longer than it waits before it gives memory back
 *   (CUSTODIAN_IDLE_MEMORY_MS, 30 s by default; src/jobs/idle-memory.ts), each also by part
 *   (test/helpers/resident.ts: mapped files, glibc's arenas, the WebAssembly memory, the rest).
 *
 * Environment: BENCH_ROUNDS (3), BENCH_SECONDS (8), BENCH_LEAD_IN_SECONDS (3: load before
 * each window, reported apart), BENCH_CONNECTIONS (32),
 * BENCH_DATABASE_URL (the server the bench creates its databases on; they are dropped at
 * the end), BENCH_COMPARE_ROOT (a checkout of another build, its dependencies installed —
 * `git worktree add /tmp/base <commit> && (cd /tmp/base && npm ci)`: its PostgreSQL service
 * joins the same interleaved rounds, for a before/after on one noisy machine), BENCH_ENGINES
 * (the services to run, of postgres, pglite, uncached, socket and compared; all by default,
 * socket when the server's Unix socket is found, compared when BENCH_COMPARE_ROOT is set),
 * BENCH_DATABASE_SOCKET (the directory of that socket, /var/run/postgresql).
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import {
  benchDirectory,
  benchResources,
  benchServer,
  freshDatabase,
  PG_URL,
  SOCKET_DIRECTORY,
  socketUrl,
  startCeiling,
  startHello,
  bootstrapBench,
} from './processes.ts'
import { residentParts, type ResidentParts } from '../test/helpers/resident.ts'
import { httpsJson, type ServerProcess } from '../test/helpers/process.ts'
import {
  addWindow,
  CpuSampler,
  emptyTotals,
  loadWindow,
  quantile,
  ticks,
  type Target,
  type Totals,
} from './sizes/measure.ts'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32)
/**
 * Seconds of the same load, not measured, before each measured window: the window then
 * holds what a request costs in a steady stream (BENCH_LEAD_IN_SECONDS; 0 for none).
 */
const LEAD_IN_SECONDS = Number(process.env.BENCH_LEAD_IN_SECONDS ?? 3)
const IDLE_SECONDS = 10
/**
 * After the load, once every service is quiet (see {@link quietAfterLoad}): the service's
 * default CUSTODIAN_IDLE_MEMORY_MS (30 s), its sampling period (5 s) and 5 s to spare.
 */
const IDLE_AFTER_LOAD_SECONDS = 40
/** The longest wait for the services' own work after the load (background jobs catching up) to end. */
const QUIET_WAIT_MAX_SECONDS = 180
/**
 * A service is quiet when its process used less than this share of a core over 5 s: CPU of
 * all its threads, a stricter proxy for what its idle job watches (its event loop under 5 % busy).
 */
const QUIET_SHARE = 0.05
const TICKS_PER_SECOND = 100

/** The targets of the performance work, per engine where they differ. */
const TARGETS = {
  cpuMs: { read: 0.5, write: 1.0, reveal: 1.0 },
  p99Ms: 20,
  revealOfCeiling: 0.5,
  firstStartSeconds: 3,
  restartSeconds: 2,
  idleRssMiB: { postgres: 150, pglite: 250 },
} as const

function cpuSeconds(pid: number): number {
  return ticks(pid) / TICKS_PER_SECOND
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]
  return kb === undefined ? Number.NaN : Number(kb) / 1024
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Waits until every process in `pids` has used under {@link QUIET_SHARE} of a core for 5 s in
 * a row (at most {@link QUIET_WAIT_MAX_SECONDS}). A service may keep working after a load (its
 * background jobs catching up with what the load wrote), longer on a busy machine; its idle
 * collection counts its wait from then, so the memory after the load is read from then too.
 */
async function quietAfterLoad(pids: number[]): Promise<number> {
  const window = 5
  const history = [pids.map(cpuSeconds)]
  for (let second = 0; second < QUIET_WAIT_MAX_SECONDS; second++) {
    await sleep(1000)
    history.push(pids.map(cpuSeconds))
    const then = history.at(-1 - window)
    const now = history.at(-1) as number[]
    if (then !== undefined && pids.every((_, i) => (now[i] ?? 0) - (then[i] ?? 0) < QUIET_SHARE * window))
      return second + 1
  }
  console.warn(`bench: a service was still busy ${QUIET_WAIT_MAX_SECONDS} s after the load; its memory is read anyway`)
  return QUIET_WAIT_MAX_SECONDS
}

interface Started {
  server: ServerProcess
  seconds: number
  cpu: number
  /** The service's own account of where the start's time went (its "Started in …" line; src/server.ts), if it prints one. */
  phases: string | undefined
}

/** Spawns the service (stopped when `resources` are released) and times it to its "Listening:" line. */
async function timedStart(
  resources: AsyncDisposableStack,
  env: Record<string, string>,
  root?: string,
): Promise<Started> {
  const begun = performance.now()
  const server = await benchServer(
    resources,
    { CUSTODIAN_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn', ...env },
    root,
  )
  const seconds = (performance.now() - begun) / 1000
  return {
    server,
    seconds,
    cpu: cpuSeconds(server.child.pid ?? 0),
    phases: /^Started in [\d.]+ s \((.*)\)$/m.exec(server.output())?.[1],
  }
}

interface Engine {
  label: string
  /** Its name in BENCH_ENGINES. */
  id: 'postgres' | 'pglite' | 'uncached' | 'socket' | 'compared'
  key: 'postgres' | 'pglite'
  /** A comparison, not a target: the same engine with a feature off (no target marks). */
  comparison?: boolean
  /** Another build's checkout (BENCH_COMPARE_ROOT); this one's when absent. */
  root?: string
  env: Record<string, string>
  admin: pg.Client | undefined
  first?: Started
  restart?: Started
  rssAfterStart?: number
  rssAfterLoad?: number
  partsAfterStart?: ResidentParts
  partsAfterLoad?: ResidentParts
}

interface Scenario {
  label: string
  target: Target
  cpu: CpuSampler
  kind: 'baseline' | 'ceiling' | 'floor-read' | 'floor-write' | 'read' | 'write' | 'reveal'
  engine?: Engine
}

/** Bootstraps the org, makes the secret to reveal; the engine's three scenarios. */
async function scenariosOf(engine: Engine): Promise<Scenario[]> {
  const server = engine.restart?.server as ServerProcess
  const { apiToken, orgId } = await bootstrapBench(server, server.bootstrapToken ?? engine.first?.server.bootstrapToken)
  const base = `https://127.0.0.1:${server.httpsPort}/v1/orgs/${orgId}`
  const secret = await httpsJson(server.httpsPort, 'POST', `/v1/orgs/${orgId}/secrets`, {
    token: apiToken,
    body: { name: 'bench-api-key', type: 'api_key', value: 'sk_bench_0123456789abcdef' },
  })
  if (secret.status !== 201) throw new Error(`secret failed: ${secret.text}`)
  const cpu = new CpuSampler(server.child.pid ?? 0, engine.admin)
  return [
    {
      label: `${engine.label}: authenticated read`,
      kind: 'read',
      engine,
      cpu,
      target: { url: base, method: 'GET', token: apiToken },
    },
    {
      label: `${engine.label}: audited write`,
      kind: 'write',
      engine,
      cpu,
      target: {
        url: `${base}/service-accounts`,
        method: 'POST',
        token: apiToken,
        body: (n) =>
          JSON.stringify({
            name: `bench-${process.pid}-${n}-${Math.random().toString(36).slice(2, 8)}`,
            role: 'viewer',
          }),
      },
    },
    {
      label: `${engine.label}: reveal`,
      kind: 'reveal',
      engine,
      cpu,
      target: {
        url: `${base}/secrets/${secret.body.id}/reveal`,
        method: 'POST',
        token: apiToken,
        body: () => JSON.stringify({ reason: 'benchmark' }),
      },
    },
  ]
}

export async function runRequests(): Promise<void> {
  const compareRoot = process.env.BENCH_COMPARE_ROOT
  // Checked before any database is made: a misspelt service would otherwise be left out unsaid.
  const only = process.env.BENCH_ENGINES?.split(',')
    .map((id) => id.trim())
    .filter((id) => id !== '')
  const ids = ['postgres', 'pglite', 'uncached', 'socket', 'compared']
  const unknown = only?.filter((id) => !ids.includes(id)) ?? []
  if (unknown.length > 0)
    throw new Error(`BENCH_ENGINES: unknown ${unknown.join(', ')}; one or more of ${ids.join(', ')}`)
  const socket = socketUrl(PG_URL)
  if (only?.includes('socket') && socket === undefined)
    throw new Error(
      `BENCH_ENGINES: socket needs PostgreSQL's Unix socket in ${SOCKET_DIRECTORY} (BENCH_DATABASE_SOCKET), for the port of ${new URL(PG_URL).host}`,
    )
  if (only?.includes('compared') && compareRoot === undefined)
    throw new Error('BENCH_ENGINES: compared needs BENCH_COMPARE_ROOT (a checkout of the other build)')
  await using resources = benchResources()
  const ceilingUrl = await freshDatabase(resources, 'custodian_bench_ceiling')
  // Connected once the services have started (below); ended when the bench ends.
  const client = (url: string) => {
    const connection = new pg.Client({ connectionString: url })
    resources.defer(() => connection.end().catch(() => undefined))
    return connection
  }
  const ceilingAdmin = client(ceilingUrl)
  const specs: (Omit<Engine, 'env' | 'admin'> & { database?: string; prefix: string; env: Record<string, string> })[] =
    [
      {
        label: 'PostgreSQL',
        id: 'postgres',
        key: 'postgres',
        database: 'custodian_bench_requests',
        prefix: 'bench-pg-',
        env: {},
      },
      { label: 'PGlite', id: 'pglite', key: 'pglite', prefix: 'bench-lite-', env: {} },
      // The same PostgreSQL service reading every credential on every request: what the
      // credential cache saves, measured in the same rounds.
      {
        label: 'PostgreSQL, no credential cache',
        id: 'uncached',
        key: 'postgres',
        comparison: true,
        database: 'custodian_bench_requests_uncached',
        prefix: 'bench-pg-uncached-',
        env: { CUSTODIAN_CREDENTIAL_CACHE_ENTRIES: '0' },
      },
      // The same PostgreSQL service connected through the server's Unix socket instead of
      // TCP on the loopback (docs/operations.md, "PostgreSQL on the same host"): what a
      // deployment with both on one host saves, measured in the same rounds.
      {
        label: 'PostgreSQL over its Unix socket',
        id: 'socket',
        key: 'postgres',
        comparison: true,
        database: 'custodian_bench_requests_socket',
        prefix: 'bench-pg-socket-',
        env: {},
      },
      {
        label: 'PostgreSQL, the compared build',
        id: 'compared',
        key: 'postgres',
        comparison: true,
        ...(compareRoot === undefined ? {} : { root: compareRoot }),
        database: 'custodian_bench_requests_compared',
        prefix: 'bench-pg-compared-',
        env: {},
      },
    ]
  // Only the services asked for get a database and a data directory.
  const engines: Engine[] = []
  for (const { database, prefix, env, ...engine } of specs) {
    if (
      only === undefined
        ? (engine.id === 'compared' && compareRoot === undefined) || (engine.id === 'socket' && socket === undefined)
        : !only.includes(engine.id)
    )
      continue
    const created = database === undefined ? undefined : await freshDatabase(resources, database)
    // The service connects through the socket; the bench's own connection (its CPU sampler) stays on TCP.
    const url = engine.id === 'socket' && created !== undefined ? (socketUrl(created) ?? created) : created
    const dir = benchDirectory(resources, prefix)
    engines.push({
      ...engine,
      // Its data directory and, as a user's start has, its own compile cache there (what
      // src/module-cache.ts makes when NODE_COMPILE_CACHE is unset or empty: at the first
      // start a copy of the one `npm ci` prepared), not the checkout's shared one that the
      // test helpers give a child. A compared build older than that seed is given the data
      // directory's cache by name, as its own start would choose it (empty at a first start).
      env: {
        ...(url === undefined ? {} : { DATABASE_URL: url }),
        CUSTODIAN_DATA_DIR: dir,
        NODE_COMPILE_CACHE:
          engine.id === 'compared' && !existsSync(path.join(compareRoot ?? '', 'src', 'module-cache.ts'))
            ? path.join(dir, 'compile-cache')
            : '',
        ...env,
      },
      admin: created === undefined ? undefined : client(created),
    })
  }
  // Starts, one engine at a time: first start, stop, restart (kept for the load).
  for (const engine of engines) {
    engine.first = await timedStart(resources, engine.env, engine.root)
    // The first start printed the bootstrap token; the restart does too while none is used.
    await engine.first.server.stop()
    engine.restart = await timedStart(resources, engine.env, engine.root)
  }
  await ceilingAdmin.connect()
  for (const engine of engines) await engine.admin?.connect()
  await sleep(IDLE_SECONDS * 1000)
  for (const engine of engines) {
    engine.rssAfterStart = rssMiB(engine.restart?.server.child.pid ?? 0)
    engine.partsAfterStart = residentParts(engine.restart?.server.child.pid ?? 0)
  }

  const hello = await startHello(resources)
  const ceiling = await startCeiling(resources, ceilingUrl)
  const scenarios: Scenario[] = [
    {
      label: 'Fastify hello-world (baseline)',
      kind: 'baseline',
      cpu: new CpuSampler(hello.pid, undefined),
      target: { url: `https://127.0.0.1:${hello.port}/`, method: 'GET', token: 'none' },
    },
    {
      label: 'ceiling: one prepared INSERT',
      kind: 'ceiling',
      cpu: new CpuSampler(ceiling.pid, ceilingAdmin),
      target: {
        url: `https://127.0.0.1:${ceiling.port}/`,
        method: 'POST',
        token: 'none',
        body: (n) => JSON.stringify({ n }),
      },
    },
    {
      label: "floor: a read's transaction (2 round trips)",
      kind: 'floor-read',
      cpu: new CpuSampler(ceiling.pid, ceilingAdmin),
      target: { url: `https://127.0.0.1:${ceiling.port}/read`, method: 'GET', token: 'none' },
    },
    {
      label: "floor: a write's transaction (2 round trips)",
      kind: 'floor-write',
      cpu: new CpuSampler(ceiling.pid, ceilingAdmin),
      target: {
        url: `https://127.0.0.1:${ceiling.port}/write`,
        method: 'POST',
        token: 'none',
        body: (n) => JSON.stringify({ name: `bench-${n}`, role: 'viewer' }),
      },
    },
  ]
  for (const engine of engines) scenarios.push(...(await scenariosOf(engine)))
  const totals = new Map<Scenario, Totals>(scenarios.map((s) => [s, emptyTotals()]))

  // Each measured window follows a lead-in of the same load, reported apart. A service's
  // first scenario of a round comes after it sat idle through the other services' windows
  // (over a minute): it has closed its idle database connections and may have given its
  // memory back (src/jobs/idle-memory.ts), and its first requests pay to reopen and
  // regrow. Its other scenarios follow its own previous window. Each lead-in's pause (the
  // time since its process's last window ended) is recorded with it.
  const leadIns = new Map<Scenario, LeadIns>(scenarios.map((s) => [s, { ...emptyTotals(), pauses: [] }]))
  /** When each process (by its port) last ended a window, the warm-up's included. */
  const lastEnded = new Map<string, number>()
  const port = (scenario: Scenario) => new URL(scenario.target.url).port
  // The warm-up: 2 s of each scenario, not reported.
  for (const scenario of scenarios) {
    await loadWindow(scenario.target, { connections: CONNECTIONS, seconds: 2, cpu: scenario.cpu })
    lastEnded.set(port(scenario), performance.now())
  }
  for (let round = 0; round < ROUNDS; round++)
    for (const scenario of scenarios) {
      if (LEAD_IN_SECONDS > 0) {
        const lead = leadIns.get(scenario) as LeadIns
        lead.pauses.push((performance.now() - (lastEnded.get(port(scenario)) ?? 0)) / 1000)
        addWindow(
          lead,
          await loadWindow(scenario.target, {
            connections: CONNECTIONS,
            seconds: LEAD_IN_SECONDS,
            cpu: scenario.cpu,
          }),
          LEAD_IN_SECONDS,
        )
      }
      addWindow(
        totals.get(scenario) as Totals,
        await loadWindow(scenario.target, { connections: CONNECTIONS, seconds: SECONDS, cpu: scenario.cpu }),
        SECONDS,
      )
      lastEnded.set(port(scenario), performance.now())
    }
  const quietAfter = await quietAfterLoad(engines.map((engine) => engine.restart?.server.child.pid ?? 0))
  await sleep(IDLE_AFTER_LOAD_SECONDS * 1000)
  for (const engine of engines) {
    engine.rssAfterLoad = rssMiB(engine.restart?.server.child.pid ?? 0)
    engine.partsAfterLoad = residentParts(engine.restart?.server.child.pid ?? 0)
  }
  // What any Node.js HTTPS server of this build holds after the same load: the hello-world's.
  const helloRss = rssMiB(hello.pid)
  const helloParts = residentParts(hello.pid)

  report(engines, scenarios, totals, { rss: helloRss, parts: helloParts }, quietAfter)
  againstTheIssuesStart(scenarios, totals, compareRoot)
  leadInReport(scenarios, totals, leadIns)
}

/**
 * The build the performance issue (issue 18) measured before any of its work (the parent of
 * its first commit): its figures are those the targets were cut from.
 */
const ISSUE_START = '37782c3055551aec99a5c5167f4ad49fbe4acb80'
/** What the issue measured that build at, on its two-core machine: CPU ms per request. */
const ISSUE_START_CPU_MS = { read: 2.3, reveal: 4.1 } as const

/**
 * This build's CPU per request against the build in BENCH_COMPARE_ROOT's, in the same rounds:
 * a ratio that holds across machines, where the targets' milliseconds do not (the bench's
 * machines have run the same build from 0.31 to 1.07 ms a read). When that build is the
 * issue's start ({@link ISSUE_START}), its same-run figures against what the issue measured
 * it at give this machine's speed against the issue's — the arithmetic mean of the read's and
 * the reveal's ratios, the two the issue gives — and the targets are shown scaled by it: what
 * each one means on this machine ("not measured" without this build's PostgreSQL service).
 */
function againstTheIssuesStart(
  scenarios: Scenario[],
  totals: Map<Scenario, Totals>,
  compareRoot: string | undefined,
): void {
  const cpuOf = (engineId: Engine['id'], kind: 'read' | 'write' | 'reveal') => {
    const s = scenarios.find((c) => c.engine?.id === engineId && c.kind === kind)
    const t = s === undefined ? undefined : totals.get(s)
    return t === undefined || t.requests === 0 ? Number.NaN : t.cpuMs / t.requests
  }
  if (compareRoot === undefined || !scenarios.some((s) => s.engine?.id === 'compared')) return
  let head = ''
  try {
    head = execFileSync('git', ['-C', compareRoot, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim()
  } catch {
    // Not a git checkout: the ratios alone.
  }
  const start = head === ISSUE_START
  const scale = start
    ? (cpuOf('compared', 'read') / ISSUE_START_CPU_MS.read + cpuOf('compared', 'reveal') / ISSUE_START_CPU_MS.reveal) /
      2
    : Number.NaN
  console.log(
    `\nagainst the build in ${compareRoot}${head === '' ? '' : ` (${head.slice(0, 12)}${start ? ", the performance issue's start" : ''})`}, same rounds`,
  )
  if (start)
    console.log(
      `this machine runs that build at ${scale.toFixed(2)}× what the issue measured it at (read ${cpuOf('compared', 'read').toFixed(2)} ms against ${ISSUE_START_CPU_MS.read}, reveal ${cpuOf('compared', 'reveal').toFixed(2)} against ${ISSUE_START_CPU_MS.reveal}); the targets scaled by it:`,
    )
  console.log(`${'CPU ms/req'.padEnd(52)}  this build  that build  ratio${start ? '  target here  target' : ''}`)
  for (const kind of ['read', 'write', 'reveal'] as const) {
    const mine = cpuOf('postgres', kind)
    const theirs = cpuOf('compared', kind)
    const here = TARGETS.cpuMs[kind] * scale
    const verdict = !Number.isFinite(mine) || !Number.isFinite(here) ? 'not measured' : mine <= here ? 'met' : 'NOT met'
    console.log(
      `${`PostgreSQL: ${kind}`.padEnd(52)}${mine.toFixed(2).padStart(12)}${theirs.toFixed(2).padStart(12)}${(mine / theirs).toFixed(2).padStart(7)}${start ? `${here.toFixed(2).padStart(13)}  ≤ ${TARGETS.cpuMs[kind]} ms ${verdict} (scaled)` : ''}`,
    )
  }
}

/** A scenario's lead-ins added up, with the pause (seconds) before each. */
interface LeadIns extends Totals {
  pauses: number[]
}

/**
 * The lead-ins' figures beside the measured windows': with the pause before each (the time
 * since the same process last ended a window, seconds), what the first seconds of load
 * cost a process that had been idle (a service's first scenario of a round) or not (its
 * others, right after its previous window), against the steady stream of the windows.
 */
function leadInReport(scenarios: Scenario[], totals: Map<Scenario, Totals>, leadIns: Map<Scenario, LeadIns>): void {
  if (LEAD_IN_SECONDS <= 0) return
  const perRequest = (t: Totals) => (t.requests === 0 ? Number.NaN : t.cpuMs / t.requests)
  console.log(
    `\n${`lead-ins: the ${LEAD_IN_SECONDS} s of load before each window`.padEnd(52)}  pause s   req/s  p99 ms  CPU ms/req  steady  ×steady  failed`,
  )
  for (const s of scenarios) {
    const lead = leadIns.get(s) as LeadIns
    const cpu = perRequest(lead)
    const steady = perRequest(totals.get(s) as Totals)
    const pauses = `${Math.min(...lead.pauses).toFixed(0)}–${Math.max(...lead.pauses).toFixed(0)}`
    console.log(
      `${s.label.padEnd(52)}${pauses.padStart(9)}${(lead.requests / lead.seconds).toFixed(0).padStart(8)}${quantile(lead.latencies, 0.99).toFixed(1).padStart(8)}${cpu.toFixed(2).padStart(12)}${steady.toFixed(2).padStart(8)}${(cpu / steady).toFixed(2).padStart(9)}${String(lead.failures).padStart(8)}`,
    )
  }
}

function report(
  engines: Engine[],
  scenarios: Scenario[],
  totals: Map<Scenario, Totals>,
  hello: { rss: number; parts: ResidentParts },
  quietAfter: number,
): void {
  const rate = (s: Scenario) => {
    const t = totals.get(s) as Totals
    return t.requests / t.seconds
  }
  const baseline = scenarios.find((s) => s.kind === 'baseline') as Scenario
  const ceiling = scenarios.find((s) => s.kind === 'ceiling') as Scenario
  const mark = (ok: boolean) => (ok ? 'met' : 'NOT met')
  console.log(
    `\nmachine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}; ${CONNECTIONS} connections, ${ROUNDS} interleaved rounds of ${SECONDS} s, each after a ${LEAD_IN_SECONDS} s lead-in\n`,
  )
  console.log(`${'scenario'.padEnd(52)}   req/s  p50 ms  p99 ms  ×hello  ×ceiling  CPU ms/req  failed  target`)
  for (const s of scenarios) {
    const t = totals.get(s) as Totals
    const cpu = t.requests === 0 ? Number.NaN : t.cpuMs / t.requests
    const p99 = quantile(t.latencies, 0.99)
    let target = ''
    if ((s.kind === 'read' || s.kind === 'write' || s.kind === 'reveal') && s.engine?.comparison !== true) {
      const cpuTarget = TARGETS.cpuMs[s.kind]
      const parts = [`CPU ≤ ${cpuTarget} ms ${mark(cpu <= cpuTarget)}`]
      if (s.engine?.key === 'postgres' && s.kind !== 'write')
        parts.push(`p99 ≤ ${TARGETS.p99Ms} ms ${mark(p99 <= TARGETS.p99Ms)}`)
      if (s.engine?.key === 'postgres' && s.kind === 'reveal')
        parts.push(`≥ 50 % of ceiling ${mark(rate(s) >= TARGETS.revealOfCeiling * rate(ceiling))}`)
      target = parts.join('; ')
    }
    console.log(
      `${s.label.padEnd(52)}${rate(s).toFixed(0).padStart(8)}${quantile(t.latencies, 0.5).toFixed(1).padStart(8)}${p99.toFixed(1).padStart(8)}${(rate(s) / rate(baseline)).toFixed(2).padStart(8)}${(rate(s) / rate(ceiling)).toFixed(2).padStart(10)}${cpu.toFixed(2).padStart(12)}${String(t.failures).padStart(8)}  ${target}`,
    )
  }
  // What the targets leave the service once its transactions' shape is paid for: the floors
  // (bench/ceiling.ts) send the same round trips with no application around them.
  const cpuOf = (s: Scenario | undefined) => {
    const t = s === undefined ? undefined : totals.get(s)
    return t === undefined || t.requests === 0 ? Number.NaN : t.cpuMs / t.requests
  }
  const floors = {
    read: cpuOf(scenarios.find((s) => s.kind === 'floor-read')),
    write: cpuOf(scenarios.find((s) => s.kind === 'floor-write')),
    reveal: cpuOf(scenarios.find((s) => s.kind === 'floor-write')),
  }
  console.log(`\n${'CPU ms/req against the floor of its shape'.padEnd(52)}   floor  service  its own  target`)
  for (const s of scenarios) {
    if ((s.kind !== 'read' && s.kind !== 'write' && s.kind !== 'reveal') || s.engine?.key !== 'postgres') continue
    if (s.engine.comparison === true) continue
    const floor = floors[s.kind]
    const cpu = cpuOf(s)
    const cpuTarget = TARGETS.cpuMs[s.kind]
    const verdict =
      floor > cpuTarget
        ? `≤ ${cpuTarget}: the shape alone costs more here`
        : `≤ ${cpuTarget}: leaves ${(cpuTarget - floor).toFixed(2)} ms for the service's own work`
    console.log(
      `${s.label.padEnd(52)}${floor.toFixed(2).padStart(8)}${cpu.toFixed(2).padStart(9)}${(cpu - floor).toFixed(2).padStart(9)}  ${verdict}`,
    )
  }
  queueReport(scenarios, totals)
  // The other build's starts and memory too: one start each, so compare them across runs with care.
  const measured = engines.filter((e) => e.comparison !== true || e.id === 'compared')
  console.log(`\n${'start'.padEnd(52)}  wall s   CPU s  target`)
  for (const engine of measured) {
    const first = engine.first as Started
    const restart = engine.restart as Started
    const firstTarget =
      engine.key === 'pglite' && engine.id !== 'compared'
        ? `≤ ${TARGETS.firstStartSeconds} s ${mark(first.seconds <= TARGETS.firstStartSeconds)}`
        : ''
    console.log(
      `${`${engine.label}: first start`.padEnd(52)}${first.seconds.toFixed(1).padStart(8)}${first.cpu.toFixed(1).padStart(8)}  ${firstTarget}`,
    )
    console.log(
      `${`${engine.label}: restart`.padEnd(52)}${restart.seconds.toFixed(1).padStart(8)}${restart.cpu.toFixed(1).padStart(8)}  ${engine.id === 'compared' ? '' : `≤ ${TARGETS.restartSeconds} s ${mark(restart.seconds <= TARGETS.restartSeconds)}`}`,
    )
  }
  // Where a start's time goes, by the service's own clock (from its process's start to
  // listening; the wall figures above add the spawn and reading its output).
  for (const engine of measured)
    for (const [which, started] of [
      ['first start', engine.first],
      ['restart', engine.restart],
    ] as const)
      if (started?.phases !== undefined) console.log(`  ${engine.label}, ${which}: ${started.phases}`)
  console.log(
    `\nidle RSS after the load: read once every service was quiet (${quietAfter} s after the load) and ${IDLE_AFTER_LOAD_SECONDS} s more`,
  )
  console.log(`${'idle RSS'.padEnd(52)} MiB after start  after load  target`)
  for (const engine of measured) {
    const limit = TARGETS.idleRssMiB[engine.key]
    const target =
      engine.id === 'compared'
        ? ''
        : `≤ ${limit} MiB: after start ${mark((engine.rssAfterStart ?? 0) <= limit)}, after load ${mark((engine.rssAfterLoad ?? 0) <= limit)}`
    console.log(
      `${engine.label.padEnd(52)}${(engine.rssAfterStart ?? 0).toFixed(0).padStart(16)}${(engine.rssAfterLoad ?? 0).toFixed(0).padStart(12)}  ${target}`,
    )
  }
  console.log(
    `${'Fastify hello-world (the floor of a Node HTTPS server)'.padEnd(52)}${''.padStart(16)}${hello.rss.toFixed(0).padStart(12)}`,
  )
  console.log(`\nidle RSS by part, MiB (/proc/<pid>/smaps; test/helpers/resident.ts): after start / after load`)
  console.log(
    `${'idle RSS by part'.padEnd(52)}${'files'.padStart(10)}${'other anon'.padStart(12)}${'glibc main'.padStart(12)}${'glibc threads'.padStart(15)}${'WebAssembly'.padStart(13)}`,
  )
  const parts = (label: string, start: ResidentParts | undefined, load: ResidentParts) => {
    const pair = (key: keyof ResidentParts, width: number) =>
      `${start === undefined ? '' : `${start[key].toFixed(0)} / `}${load[key].toFixed(0)}`.padStart(width)
    console.log(
      `${label.padEnd(52)}${pair('files', 10)}${pair('otherAnonymous', 12)}${pair('glibcMainHeap', 12)}${pair('glibcThreadArenas', 15)}${pair('webAssemblyMemory', 13)}`,
    )
  }
  for (const engine of measured)
    if (engine.partsAfterLoad !== undefined) parts(engine.label, engine.partsAfterStart, engine.partsAfterLoad)
  parts('Fastify hello-world (after the load)', undefined, hello.parts)
}

/**
 * Why the p99 is what it is at CONNECTIONS connections: a closed loop (each connection sends
 * its next request when the last is answered) keeps CONNECTIONS requests in the machine, so by
 * Little's law their mean latency is CONNECTIONS ÷ throughput, and the throughput is what the
 * cores give: cores busy ÷ (the server's CPU + the load generator's, per request). The p99
 * is then the mean times the queue's spread (p99 ÷ mean), which the bare servers (the
 * ceiling and the floors: no application) show for this machine. From the same run's figures:
 * the CPU per request a scenario would need for its p99 to meet the target.
 */
function queueReport(scenarios: Scenario[], totals: Map<Scenario, Totals>): void {
  const figures = (s: Scenario) => {
    const t = totals.get(s) as Totals
    const rate = t.requests / t.seconds
    const mean = t.latencies.reduce((sum, ms) => sum + ms, 0) / t.latencies.length
    const cpu = t.cpuMs / t.requests
    const generator = t.generatorCpuMs / t.requests
    return {
      rate,
      little: (CONNECTIONS / rate) * 1000,
      mean,
      p99: quantile(t.latencies, 0.99),
      spread: quantile(t.latencies, 0.99) / mean,
      cpu,
      generator,
      cores: (rate * (cpu + generator)) / 1000,
    }
  }
  console.log(
    `\n${`p99 at ${CONNECTIONS} connections: the queue`.padEnd(52)}  N÷rate    mean     p99  p99÷mean  CPU/req  generator  cores busy`,
  )
  for (const s of scenarios) {
    if (s.kind === 'baseline') continue
    const f = figures(s)
    console.log(
      `${s.label.padEnd(52)}${f.little.toFixed(1).padStart(8)}${f.mean.toFixed(1).padStart(8)}${f.p99.toFixed(1).padStart(8)}${f.spread.toFixed(2).padStart(10)}${f.cpu.toFixed(2).padStart(9)}${f.generator.toFixed(2).padStart(11)}${f.cores.toFixed(2).padStart(12)}`,
    )
  }
  const bare = scenarios.filter((s) => s.kind === 'ceiling' || s.kind === 'floor-read' || s.kind === 'floor-write')
  if (bare.length === 0) return
  const spread = Math.min(...bare.map((s) => figures(s).spread))
  for (const s of scenarios) {
    if ((s.kind !== 'read' && s.kind !== 'reveal') || s.engine?.key !== 'postgres' || s.engine.comparison === true)
      continue
    const f = figures(s)
    const meanNeeded = TARGETS.p99Ms / spread
    const rateNeeded = (CONNECTIONS / meanNeeded) * 1000
    const cpuNeeded = (f.cores * 1000) / rateNeeded - f.generator
    const needs =
      cpuNeeded > 0
        ? `≤ ${cpuNeeded.toFixed(2)} ms of CPU per request — it used ${f.cpu.toFixed(2)}`
        : `the load generator alone uses more than that rate leaves: no CPU per request is small enough here — it used ${f.cpu.toFixed(2)}`
    console.log(
      `${s.label}, an estimate: p99 ≤ ${TARGETS.p99Ms} ms needs a mean ≤ ${meanNeeded.toFixed(1)} ms at the bare servers' ` +
        `p99÷mean of ${spread.toFixed(2)} (its own: ${f.spread.toFixed(2)}), so ≥ ${rateNeeded.toFixed(0)} req/s; on the ` +
        `${f.cores.toFixed(2)} cores it had, with the load generator's ${f.generator.toFixed(2)} ms per request, ${needs}`,
    )
  }
}
