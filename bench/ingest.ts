/**
 * `npm run bench -- ingest` (about 3 minutes): the host application's events through the
 * batch route (issue 14's quality bar), on PostgreSQL.
 *
 * In interleaved rounds of the same run: a bare Fastify hello-world over HTTPS (the
 * baseline), `POST …/audit/events/batch` with 100 events a request, and `POST …/audit/events`
 * with one. Each window is driven by autocannon in this process, the service in its own;
 * CPU per request and per event is the service's process plus its PostgreSQL backends, from
 * /proc. Every event is durable when answered (committed with the request) and chained by
 * the sequencer after; once the chain has caught up, the commit-to-chain delay of the
 * benchmark's events (p50, p99, max). Its database, directory and processes are removed at the end, also when it fails or is interrupted.
 *
 * Record results in docs/benchmarks.md.
 */
import os from 'node:os'
import {
  benchClient,
  benchDirectory,
  benchResources,
  benchServer,
  freshDatabase,
  startHello,
  bootstrapBench,
} from './processes.ts'
import { httpsJson } from '../test/helpers/process.ts'
import { CpuSampler, interleavedRounds, quantile, type Target } from './sizes/measure.ts'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16)
const BATCH = 100

/** One application event of the benchmark, unique by `id` (the route is idempotent by it). */
function event(n: number, i: number): Record<string, unknown> {
  return {
    id: `bench-${process.pid}-${n}-${i}-${Math.random().toString(36).slice(2, 8)}`,
    action: 'bench.document_viewed',
    actor: { id: `user-${n % 50}`, type: 'user', name: 'Bench User' },
    targets: [{ type: 'document', id: `doc-${i}` }],
    metadata: { plan: 'pro', page: i },
  }
}

export async function runIngest(): Promise<void> {
  await using resources = benchResources()
  const url = await freshDatabase(resources, 'custodian_bench_ingest')
  const server = await benchServer(resources, {
    DATABASE_URL: url,
    CUSTODIAN_DATA_DIR: benchDirectory(resources, 'bench-ingest-'),
    CUSTODIAN_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
  })
  const hello = await startHello(resources)
  const admin = await benchClient(resources, url)
  const { apiToken, orgId } = await bootstrapBench(server)
  const base = `https://127.0.0.1:${server.httpsPort}/v1/orgs/${orgId}/audit/events`
  const targets: Record<'hello' | 'batch' | 'single', { target: Target; cpu: CpuSampler; events: number }> = {
    hello: {
      target: { url: `https://127.0.0.1:${hello.port}/`, method: 'GET', token: 'none' },
      cpu: new CpuSampler(hello.pid, undefined),
      events: 0,
    },
    batch: {
      target: {
        url: `${base}/batch`,
        method: 'POST',
        token: apiToken,
        body: (n) => JSON.stringify({ events: Array.from({ length: BATCH }, (_, i) => event(n, i)) }),
      },
      cpu: new CpuSampler(server.child.pid ?? 0, admin),
      events: BATCH,
    },
    single: {
      target: { url: base, method: 'POST', token: apiToken, body: (n) => JSON.stringify(event(n, 0)) },
      cpu: new CpuSampler(server.child.pid ?? 0, admin),
      events: 1,
    },
  }
  // Warm-up of each, then interleaved rounds: the machine's noise falls on all alike.
  const totals = await interleavedRounds(targets, { connections: CONNECTIONS, seconds: SECONDS, rounds: ROUNDS })

  // The chain catches up; then each benchmark event's delay from commit to its place in the chain.
  for (let i = 0; i < 600; i++) {
    const status = await httpsJson(server.httpsPort, 'GET', `/v1/orgs/${orgId}/audit/status`, { token: apiToken })
    if (status.body.unchained === 0) break
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  const delay = await admin.query<{ p50: number; p99: number; max: number; events: string }>(`
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50, percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99,
           max(ms) AS max, count(*) AS events
      FROM (SELECT extract(epoch FROM c.chained_at - e.occurred_at) * 1000 AS ms
              FROM audit_chain c JOIN audit_events e ON e.id = c.id
             WHERE e.action = 'bench.document_viewed') d`)

  const baseline = totals.hello.requests / totals.hello.seconds
  console.log(
    `\nmachine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}; PostgreSQL; ${CONNECTIONS} connections, ${ROUNDS} interleaved rounds of ${SECONDS} s\n`,
  )
  console.log(`${'scenario'.padEnd(44)}   req/s  events/s  p50 ms  p99 ms  ratio  CPU ms/req  CPU µs/event  failed`)
  for (const [name, { events }] of Object.entries(targets) as [keyof typeof targets, { events: number }][]) {
    const t = totals[name]
    const rps = t.requests / t.seconds
    const label = {
      hello: 'Fastify hello-world (baseline)',
      batch: `application events, batch of ${BATCH}`,
      single: 'application events, one a request',
    }[name]
    const cpuPerRequest = t.requests === 0 ? 0 : t.cpuMs / t.requests
    console.log(
      `${label.padEnd(44)}${rps.toFixed(0).padStart(8)}${(rps * events).toFixed(0).padStart(10)}${quantile(t.latencies, 0.5).toFixed(1).padStart(8)}${quantile(t.latencies, 0.99).toFixed(1).padStart(8)}${(rps / baseline).toFixed(2).padStart(7)}${cpuPerRequest.toFixed(2).padStart(12)}${(events === 0 ? 0 : (cpuPerRequest * 1000) / events).toFixed(0).padStart(14)}${String(t.failures).padStart(8)}`,
    )
  }
  const row = delay.rows[0]
  console.log(
    `\ncommit-to-chain delay of the ${row?.events ?? 0} application events: p50 ${Number(row?.p50).toFixed(0)} ms, p99 ${Number(row?.p99).toFixed(0)} ms, max ${Number(row?.max).toFixed(0)} ms`,
  )
}
