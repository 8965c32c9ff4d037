/**
 * `npm run bench -- consent` (about 2 minutes): the consent check (issue 22's target: p99
 * ≤ 5 ms at 32 connections, served from the projection), on PostgreSQL.
 *
 * The org holds SUBJECTS data subjects, each with a grant of `newsletter` and a withdrawn
 * `analytics`. In interleaved rounds of the same run: a bare Fastify hello-world over HTTPS
 * (the baseline), the floor of a read (bench/ceiling.ts: a bare handler sending a read's
 * transaction — BEGIN with the settings, one prepared SELECT, COMMIT — and nothing else, on a
 * database of its own: what any check served from the database costs here at best),
 * `POST …/consent/check` for one subject and purpose, and for a batch of BATCH items. Its
 * databases are dropped at the end, as its processes and directories are (also when it fails or is interrupted). The load comes from autocannon in this process, the service runs in its own;
 * CPU per request is the service's process plus its PostgreSQL backends, from /proc.
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
  startCeiling,
  startHello,
  bootstrapBench,
} from './processes.ts'
import { httpsJson } from '../test/helpers/process.ts'
import { CpuSampler, interleavedRounds, quantile, type Target } from './sizes/measure.ts'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32)
/** Data subjects recorded before the load (each with two events). */
const SUBJECTS = Number(process.env.BENCH_CONSENT_SUBJECTS ?? 2000)
const BATCH = 20

const subject = (n: number) => `bench-user-${n % SUBJECTS}`

export async function runConsent(): Promise<void> {
  await using resources = benchResources()
  const url = await freshDatabase(resources, 'custodian_bench_consent')
  const floorUrl = await freshDatabase(resources, 'custodian_bench_consent_floor')
  const floor = await startCeiling(resources, floorUrl)
  const floorAdmin = await benchClient(resources, floorUrl)
  const server = await benchServer(resources, {
    DATABASE_URL: url,
    CUSTODIAN_DATA_DIR: benchDirectory(resources, 'bench-consent-'),
    CUSTODIAN_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
  })
  const hello = await startHello(resources)
  const admin = await benchClient(resources, url)
  const { apiToken, orgId } = await bootstrapBench(server)
  const call = async (method: string, tail: string, body?: unknown) => {
    const answer = await httpsJson(server.httpsPort, method, `/v1/orgs/${orgId}/consent${tail}`, {
      token: apiToken,
      body,
    })
    if (answer.status >= 300) throw new Error(`${method} ${tail}: ${answer.status} ${answer.text}`)
    return answer
  }
  for (const key of ['newsletter', 'analytics'])
    await call('POST', '/purposes', { key, name: key, lawfulBasis: 'consent' })
  const notice = await call('POST', '/notices', {
    language: 'en',
    text: 'We email you news and measure how the product is used. Withdraw at any time.',
    purposes: ['newsletter', 'analytics'],
    materialChange: false,
  })
  const noticeVersion = notice.body.version as number
  // The subjects' history, a few at a time (the events route takes one event a request).
  for (let n = 0; n < SUBJECTS; n += 16)
    await Promise.all(
      Array.from({ length: Math.min(16, SUBJECTS - n) }, async (_, i) => {
        const who = subject(n + i)
        await call('POST', '/events', {
          id: `g-${who}`,
          subject: who,
          purpose: 'newsletter',
          action: 'grant',
          method: 'form',
          noticeVersion,
        })
        await call('POST', '/events', {
          id: `a-${who}`,
          subject: who,
          purpose: 'analytics',
          action: 'grant',
          method: 'form',
          noticeVersion,
        })
        await call('POST', '/withdraw', { id: `w-${who}`, subject: who, purposes: ['analytics'], method: 'api' })
      }),
    )

  const check = `https://127.0.0.1:${server.httpsPort}/v1/orgs/${orgId}/consent/check`
  const targets: Record<'hello' | 'floor' | 'one' | 'batch', { target: Target; cpu: CpuSampler; items: number }> = {
    hello: {
      target: { url: `https://127.0.0.1:${hello.port}/`, method: 'GET', token: 'none' },
      cpu: new CpuSampler(hello.pid, undefined),
      items: 0,
    },
    floor: {
      target: { url: `https://127.0.0.1:${floor.port}/read`, method: 'GET', token: 'none' },
      cpu: new CpuSampler(floor.pid, floorAdmin),
      items: 0,
    },
    one: {
      target: {
        url: check,
        method: 'POST',
        token: apiToken,
        body: (n) => JSON.stringify({ subject: subject(n * 7919), purpose: n % 2 === 0 ? 'newsletter' : 'analytics' }),
      },
      cpu: new CpuSampler(server.child.pid ?? 0, admin),
      items: 1,
    },
    batch: {
      target: {
        url: check,
        method: 'POST',
        token: apiToken,
        body: (n) =>
          JSON.stringify({
            checks: Array.from({ length: BATCH }, (_, i) => ({
              subject: subject(n * 7919 + i),
              purpose: i % 2 === 0 ? 'newsletter' : 'analytics',
            })),
          }),
      },
      cpu: new CpuSampler(server.child.pid ?? 0, admin),
      items: BATCH,
    },
  }
  // Warm-up of each, then interleaved rounds: the machine's noise falls on all alike.
  const totals = await interleavedRounds(targets, { connections: CONNECTIONS, seconds: SECONDS, rounds: ROUNDS })

  const baseline = totals.hello.requests / totals.hello.seconds
  console.log(
    `\nmachine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}; PostgreSQL; ${SUBJECTS} subjects; ${CONNECTIONS} connections, ${ROUNDS} interleaved rounds of ${SECONDS} s\n`,
  )
  console.log(`${'scenario'.padEnd(40)}   req/s  p50 ms  p99 ms  ratio  CPU ms/req  failed`)
  for (const name of Object.keys(targets) as (keyof typeof targets)[]) {
    const t = totals[name]
    const rps = t.requests / t.seconds
    const label = {
      hello: 'Fastify hello-world (baseline)',
      floor: "floor: a read's transaction, bare",
      one: 'consent check, one item',
      batch: `consent check, batch of ${BATCH}`,
    }[name]
    console.log(
      `${label.padEnd(40)}${rps.toFixed(0).padStart(8)}${quantile(t.latencies, 0.5).toFixed(1).padStart(8)}${quantile(t.latencies, 0.99).toFixed(1).padStart(8)}${(rps / baseline).toFixed(2).padStart(7)}${(t.requests === 0 ? 0 : t.cpuMs / t.requests).toFixed(2).padStart(12)}${String(t.failures).padStart(8)}`,
    )
  }
  const p99 = (name: keyof typeof targets) => quantile(totals[name].latencies, 0.99)
  console.log(
    `\ntarget (issue 22): the one-item check’s p99 ≤ 5 ms at 32 connections: ${p99('one') <= 5 ? 'met' : 'NOT met'} (${p99('one').toFixed(1)} ms); the floor of a read's transaction, with no application, has p99 ${p99('floor').toFixed(1)} ms in the same run${p99('floor') > 5 ? ': the target is beyond this machine for any check served from the database' : ''}`,
  )
}
