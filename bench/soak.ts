/**
 * `node bench/soak.ts` (not a part of `npm run bench`: it runs for half an hour): does the embedded server's memory stay
 * flat under steady load? Starts the real service on PGlite in its own process (with
 * bench/soak-probe.ts preloaded, which reports its Node heap and WebAssembly memory),
 * drives it from this process with autocannon — a mix of audited writes (secret reveals,
 * customer data records, secret versions) and reads (the audit events page, the secrets
 * list, the org) — and every `SOAK_SAMPLE_SECONDS` samples:
 *   - RSS, from /proc/<pid>/status (VmRSS): what the operating system charges the process;
 *   - the Node heap (the lowest in use over the period, and reserved) and the WebAssembly memory (PGlite's PostgreSQL heap, shared
 *     buffers and caches; it grows and never shrinks).
 * At the end it prints the slope of each over the last third of the run (least squares,
 * MiB per minute): flat means the slope is within noise of zero, not that the first and
 * last samples agree.
 *
 * `SOAK_MINUTES` (default 30), `SOAK_CONNECTIONS` (default 8), `SOAK_SAMPLE_SECONDS`
 * (default 10), `SOAK_OUT` (a file for the samples as JSON lines) adjust it; extra server
 * settings pass through as `SOAK_ENV_<NAME>=value` (e.g. `SOAK_ENV_CUSTODIAN_LOG_LEVEL`).
 */
import { readFileSync, appendFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import autocannon from 'autocannon'
import { bootstrapOverHttps, httpsJson } from '../test/helpers/process.ts'
import { benchDirectory, benchResources, benchServer } from './processes.ts'

const MINUTES = Number(process.env.SOAK_MINUTES ?? 30)
const CONNECTIONS = Number(process.env.SOAK_CONNECTIONS ?? 8)
const SAMPLE_SECONDS = Number(process.env.SOAK_SAMPLE_SECONDS ?? 10)
const OUT = process.env.SOAK_OUT
const MiB = 2 ** 20

interface Sample {
  /** Seconds since the load started. */
  t: number
  rss: number
  /** Node heap in use: the lowest over the sampling period (what survives collections). */
  heapUsed: number
  /** Node heap reserved (what V8 holds from the system for its heap). */
  heapTotal: number
  wasm: number
  /** Of RSS, the pages of the WebAssembly memory. */
  wasmResident: number
  requests: number
}

/** VmRSS of a process, in bytes. */
export function residentBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kib = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status)?.[1]
  if (kib === undefined) throw new Error(`no VmRSS for process ${pid}`)
  return Number(kib) * 1024
}

/**
 * Resident bytes of the WebAssembly memory: V8 maps a memory as one anonymous mapping of
 * its whole size (189 MiB for PGlite's at start), larger than any malloc arena (64 MiB)
 * or V8 heap chunk, and the brk heap is named `[heap]`. So the anonymous mappings of at
 * least 128 MiB in /proc/<pid>/smaps are the memory; their Rss is what PostgreSQL inside
 * PGlite has touched.
 */
export function wasmResidentBytes(pid: number): number {
  let total = 0
  let candidate = false
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ (\d+)\s*(\S*)/.exec(line)
    if (header !== null) candidate = header[1] === '0' && header[2] === ''
    const size = /^Size:\s+(\d+) kB$/.exec(line)
    if (size !== null) candidate &&= Number(size[1]) >= 128 * 1024
    const rss = /^Rss:\s+(\d+) kB$/.exec(line)
    if (rss !== null && candidate) total += Number(rss[1]) * 1024
  }
  return total
}

/** Least-squares slope of `y` over `t` (seconds), in units of y per minute. */
export function slopePerMinute(points: { t: number; y: number }[]): number {
  const n = points.length
  if (n < 2) return Number.NaN
  const mt = points.reduce((s, p) => s + p.t, 0) / n
  const my = points.reduce((s, p) => s + p.y, 0) / n
  let num = 0
  let den = 0
  for (const p of points) {
    num += (p.t - mt) * (p.y - my)
    den += (p.t - mt) ** 2
  }
  return (num / den) * 60
}

// The service, its data directory and the probe's file go when the run ends, however it ends.
await using resources = benchResources()
const dataDir = benchDirectory(resources, 'soak-lite-')
const probeFile = path.join(dataDir, 'probe.json')
const passThrough = Object.fromEntries(
  Object.entries(process.env)
    .filter(([name, value]) => name.startsWith('SOAK_ENV_') && value !== undefined)
    .map(([name, value]) => [name.slice('SOAK_ENV_'.length), value as string]),
)
const server = await benchServer(resources, {
  CUSTODIAN_DATA_DIR: dataDir,
  NODE_OPTIONS: `--import=${path.join(import.meta.dirname, 'soak-probe.ts')}`,
  SOAK_PROBE_FILE: probeFile,
  SOAK_PROBE_MS: String(Math.min(SAMPLE_SECONDS * 1000, 5000)),
  ...passThrough,
})
const pid = server.child.pid as number

const boot = await bootstrapOverHttps(server.httpsPort, server.bootstrapToken, {
  orgName: 'Soak',
  email: 'soak@soak.test',
})
if (boot.status !== 201) throw new Error(`bootstrap failed: ${boot.text}`)
const { apiToken, orgId } = boot.body as { apiToken: string; orgId: string }
const secret = await httpsJson(server.httpsPort, 'POST', `/v1/orgs/${orgId}/secrets`, {
  token: apiToken,
  body: { name: 'soak-api-key', type: 'api_key', value: 'sk_soak_0123456789abcdef' },
})
if (secret.status !== 201) throw new Error(`secret failed: ${secret.text}`)
const secretId = secret.body.id as string
const base = `/v1/orgs/${orgId}`
let counter = 0
const json = (body: () => unknown) => ({
  headers: { 'content-type': 'application/json', authorization: `Bearer ${apiToken}` },
  setupRequest: (request: autocannon.Request) => ({ ...request, body: JSON.stringify(body()) }),
})
const auth = { headers: { authorization: `Bearer ${apiToken}` } }

const samples: Sample[] = []
let requests = 0
const started = Date.now()
const probe = (): { liveHeap: number; heapTotal: number; wasm: number } => {
  try {
    return JSON.parse(readFileSync(probeFile, 'utf8')) as { liveHeap: number; heapTotal: number; wasm: number }
  } catch {
    return { liveHeap: Number.NaN, heapTotal: Number.NaN, wasm: Number.NaN }
  }
}
const sample = () => {
  const p = probe()
  const s: Sample = {
    t: Math.round((Date.now() - started) / 1000),
    rss: residentBytes(pid),
    heapUsed: p.liveHeap,
    heapTotal: p.heapTotal,
    wasm: p.wasm,
    wasmResident: wasmResidentBytes(pid),
    requests,
  }
  samples.push(s)
  if (OUT !== undefined) appendFileSync(OUT, `${JSON.stringify(s)}\n`)
  console.log(
    `${String(s.t).padStart(5)} s  RSS ${(s.rss / MiB).toFixed(1).padStart(7)} MiB  heap ${(s.heapUsed / MiB).toFixed(1).padStart(6)} of ${(s.heapTotal / MiB).toFixed(0).padStart(4)} MiB  wasm ${(s.wasm / MiB).toFixed(0).padStart(5)} MiB (resident ${(s.wasmResident / MiB).toFixed(0).padStart(4)})  ${requests} requests`,
  )
}
if (OUT !== undefined) writeFileSync(OUT, '')
sample()
const sampler = setInterval(sample, SAMPLE_SECONDS * 1000)

const options: autocannon.Options = {
  url: `https://127.0.0.1:${server.httpsPort}`,
  connections: CONNECTIONS,
  duration: MINUTES * 60,
  tlsOptions: { rejectUnauthorized: false },
  requests: [
    { method: 'POST', path: `${base}/secrets/${secretId}/reveal`, ...json(() => ({ reason: 'soak' })) },
    {
      method: 'POST',
      path: `${base}/records`,
      ...json(() => ({ subjectId: `subject-${counter++}`, dataClass: 'contact', payload: { email: 'x@soak.test' } })),
    },
    { method: 'GET', path: `${base}/audit/events`, ...auth },
    {
      method: 'POST',
      path: `${base}/secrets/${secretId}/versions`,
      ...json(() => ({ value: `sk_soak_${counter++}` })),
    },
    { method: 'GET', path: `${base}/secrets`, ...auth },
    { method: 'GET', path: base, ...auth },
  ],
}
const result = await new Promise<autocannon.Result>((resolve, reject) => {
  const instance = autocannon(options, (error: Error | null, done: autocannon.Result) => {
    if (error === null) resolve(done)
    else reject(error)
  })
  instance.on('response', () => {
    requests++
  })
})
clearInterval(sampler)
sample()
await server.stop()

const last = samples.slice(Math.floor((samples.length * 2) / 3))
const slope = (pick: (s: Sample) => number) =>
  slopePerMinute(last.map((s) => ({ t: s.t, y: pick(s) / MiB }))).toFixed(2)
const first = samples[0] as Sample
const end = samples.at(-1) as Sample
console.log(
  `\n${MINUTES} min, ${CONNECTIONS} connections: ${result.requests.total} requests (${result.requests.average.toFixed(0)} req/s), ${result.non2xx} non-2xx, ${result.errors} errors; p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms`,
)
console.log(
  `RSS ${(first.rss / MiB).toFixed(0)} → ${(end.rss / MiB).toFixed(0)} MiB (max ${(Math.max(...samples.map((s) => s.rss)) / MiB).toFixed(0)}); heap ${(first.heapUsed / MiB).toFixed(0)} → ${(end.heapUsed / MiB).toFixed(0)} MiB; wasm ${(first.wasm / MiB).toFixed(0)} → ${(end.wasm / MiB).toFixed(0)} MiB (resident ${(first.wasmResident / MiB).toFixed(0)} → ${(end.wasmResident / MiB).toFixed(0)})`,
)
console.log(
  `slope over the last third (${last.length} samples, ${(last[0] as Sample).t}–${end.t} s): RSS ${slope((s) => s.rss)} MiB/min, heap ${slope((s) => s.heapUsed)} MiB/min (reserved ${slope((s) => s.heapTotal)}), wasm ${slope((s) => s.wasm)} MiB/min (resident ${slope((s) => s.wasmResident)})`,
)
