/**
 * `npm run bench [-- part…]`: the parts named, or all of them, in one run on this machine.
 *
 * `requests` (about 12 minutes; bench/requests.ts): the performance targets — CPU per
 *   request (service plus its PostgreSQL backends, from /proc) of an authenticated read, an
 *   audited write and a reveal on both engines, against a hello-world and a ceiling (one
 *   prepared INSERT per request) in interleaved rounds; p99; first start and restart; idle RSS.
 *
 * `audited` (about 2 minutes):
 *   1. a bare Fastify hello-world over HTTPS (the baseline),
 *   2. Custodian's authenticated, authorized, audited requests — create a service account
 *      (token lookup, role check, insert, audit event in the same transaction, commit) and
 *      reveal a secret (decrypt the data key and value, audit event, commit) — on
 *      PostgreSQL and on the embedded PGlite,
 * each driven by autocannon from a separate process; prints req/s, p99 and the ratio to
 * the baseline, and the audit commit-to-chain delay.
 *
 * `sizes` (about 20 minutes; bench/sizes.ts): costs at production sizes (issue 20) — every
 * GET route of /openapi.json and the main writes for an org with 1,000,000 audit events
 * (PGlite: 100,000) beside a small one, and every periodic job at both sizes; p50, p99,
 * CPU per request and their big/small ratios.
 *
 * `tree` (a few minutes; bench/tree.ts): what the audit log's Merkle tree (issue 21) costs
 * the sequencer — events per second and CPU per event with the tree and with the chain
 * alone, in interleaved rounds — and its storage per event.
 *
 * `console` (a minute; bench/console.ts): the web console's first page, raw and gzipped,
 * and the time to its signed-in home page in Debian's Chromium (issue 12).
 *
 * `ingest` (about 3 minutes; bench/ingest.ts): the host application's events through the
 * batch route and one at a time, against a hello-world in interleaved rounds, with CPU per
 * event and the commit-to-chain delay (issue 14).
 *
 * `consent` (about 2 minutes; bench/consent.ts): the consent check, one item and a batch, for an
 * org with 2,000 data subjects, against a hello-world in interleaved rounds (issue 22: p99 ≤ 5 ms).
 *
 * `verify` (a few minutes; bench/verify.ts): `custodian audit verify` over a valid log of
 * 1,000,000 events (PGlite: 200,000) built by the sequencer in a database of its own —
 * events per second and the memory the walk adds (peak RSS and heap growth).
 *
 * Record results in docs/benchmarks.md.
 */
import os from 'node:os'
import autocannon from 'autocannon'
import pg from 'pg'
import { benchDirectory, benchResources, benchServer, freshDatabase, startHello, bootstrapBench } from './processes.ts'
import { httpsJson, type ServerProcess } from '../test/helpers/process.ts'
import { runConsent } from './consent.ts'
import { runConsole } from './console.ts'
import { runIngest } from './ingest.ts'
import { runSizes } from './sizes.ts'
import { runTree } from './tree.ts'
import { runRequests } from './requests.ts'
import { runVerify } from './verify.ts'

const PARTS = ['requests', 'audited', 'sizes', 'tree', 'console', 'ingest', 'consent', 'verify'] as const
const asked = process.argv.slice(2)
for (const part of asked)
  if (!(PARTS as readonly string[]).includes(part)) throw new Error(`unknown part ${part}: one of ${PARTS.join(', ')}`)
const parts = asked.length === 0 ? PARTS : asked

const DURATION = Number(process.env.BENCH_SECONDS ?? 10)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32)

interface Figures {
  name: string
  rps: number
  p50: number
  p99: number
  errors: number
  non2xx: number
}

async function load(
  name: string,
  url: string,
  options: { method?: 'GET' | 'POST'; token?: string; body?: (n: number) => string } = {},
): Promise<Figures> {
  let counter = 0
  const run = (duration: number) =>
    autocannon({
      url,
      connections: CONNECTIONS,
      duration,
      method: options.method ?? 'GET',
      tlsOptions: { rejectUnauthorized: false },
      headers: {
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        ...(options.body ? { 'content-type': 'application/json' } : {}),
      },
      requests: [
        { setupRequest: (request) => (options.body ? { ...request, body: options.body(counter++) } : request) },
      ],
    })
  await run(2) // warm-up: JIT, connection pools, TLS sessions
  const result = await run(DURATION)
  return {
    name,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors,
    non2xx: result.non2xx,
  }
}

async function chainDelay(url: string): Promise<{ p50: number; p99: number; max: number; events: number }> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  const result = await client.query(`
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50, percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99, max(ms) AS max, count(*) AS events
      FROM (SELECT extract(epoch FROM c.chained_at - e.occurred_at) * 1000 AS ms FROM audit_chain c JOIN audit_events e ON e.id = c.id) d`)
  await client.end()
  const row = result.rows[0]
  return { p50: Number(row.p50), p99: Number(row.p99), max: Number(row.max), events: Number(row.events) }
}

async function audited(server: ServerProcess, label: string): Promise<Figures[]> {
  const { apiToken, orgId } = await bootstrapBench(server)
  const base = `https://127.0.0.1:${server.httpsPort}/v1/orgs/${orgId}`
  const read = await load(`${label}: authenticated read (GET org)`, base, { token: apiToken })
  const write = await load(`${label}: audited write (create service account)`, `${base}/service-accounts`, {
    method: 'POST',
    token: apiToken,
    body: (n) =>
      JSON.stringify({ name: `bench-${process.pid}-${n}-${Math.random().toString(36).slice(2, 8)}`, role: 'viewer' }),
  })
  const secret = await httpsJson(server.httpsPort, 'POST', `/v1/orgs/${orgId}/secrets`, {
    token: apiToken,
    body: { name: 'bench-api-key', type: 'api_key', value: 'sk_bench_0123456789abcdef' },
  })
  if (secret.status !== 201) throw new Error(`secret failed: ${secret.text}`)
  const reveal = await load(`${label}: reveal secret (decrypt + audited)`, `${base}/secrets/${secret.body.id}/reveal`, {
    method: 'POST',
    token: apiToken,
    body: () => JSON.stringify({ reason: 'benchmark' }),
  })
  return [read, write, reveal]
}

async function runAudited(): Promise<void> {
  await using resources = benchResources()
  const rows: Figures[] = []
  const hello = await startHello(resources)
  rows.push(await load('Fastify hello-world (baseline)', `https://127.0.0.1:${hello.port}/`))
  await hello.stop()
  const baseline = rows[0] as Figures

  const pgUrl = await freshDatabase(resources, 'custodian_bench')
  const pgServer = await benchServer(resources, {
    DATABASE_URL: pgUrl,
    ...(process.env.BENCH_POOL ? { CUSTODIAN_DB_POOL_SIZE: process.env.BENCH_POOL } : {}),
    CUSTODIAN_DATA_DIR: benchDirectory(resources, 'bench-pg-'),
    CUSTODIAN_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
  })
  rows.push(...(await audited(pgServer, 'PostgreSQL')))
  await new Promise((resolve) => setTimeout(resolve, 1500))
  const delay = await chainDelay(pgUrl)
  await pgServer.stop()

  const liteServer = await benchServer(resources, {
    CUSTODIAN_DATA_DIR: benchDirectory(resources, 'bench-lite-'),
    CUSTODIAN_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
  })
  rows.push(...(await audited(liteServer, 'PGlite')))
  await liteServer.stop()

  const fmt = (n: number, d = 0) => n.toFixed(d).padStart(9)
  console.log(
    `\nmachine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}; ${CONNECTIONS} connections, ${DURATION} s each\n`,
  )
  console.log(`${'scenario'.padEnd(58)}    req/s   p50 ms   p99 ms  ratio  errors`)
  for (const row of rows) {
    console.log(
      `${row.name.padEnd(58)}${fmt(row.rps)}${fmt(row.p50, 1)}${fmt(row.p99, 1)}  ${(row.rps / baseline.rps).toFixed(2).padStart(5)}  ${row.errors + row.non2xx}`,
    )
  }
  console.log(
    `\naudit commit-to-chain delay on PostgreSQL over ${delay.events} events: p50 ${delay.p50.toFixed(0)} ms, p99 ${delay.p99.toFixed(0)} ms, max ${delay.max.toFixed(0)} ms`,
  )
}

if (parts.includes('requests')) await runRequests()
if (parts.includes('audited')) await runAudited()
if (parts.includes('sizes')) await runSizes()
if (parts.includes('tree')) await runTree()
if (parts.includes('console')) await runConsole()
if (parts.includes('ingest')) await runIngest()
if (parts.includes('consent')) await runConsent()
if (parts.includes('verify')) await runVerify()
