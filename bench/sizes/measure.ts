import { readFileSync } from 'node:fs'
import { request } from 'node:https'
import autocannon from 'autocannon'
import type pg from 'pg'

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100

/** CPU time (user + system) a process has used so far, in ticks; 0 once it is gone. */
export function ticks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(fields[11]) + Number(fields[12])
  } catch {
    return 0
  }
}

/**
 * The CPU a service uses: its process plus, on PostgreSQL, the backends serving its
 * connections (found in pg_stat_activity for the database, the sampler's own connection
 * excluded). A backend that starts during a window counts from zero; one that ends during
 * it is lost (pools keep their connections, so neither happens in a steady window).
 */
export class CpuSampler {
  readonly #pid: number
  readonly #admin: pg.Client | undefined

  /** `admin`: a connection to the service's database (PostgreSQL), or none (PGlite runs in the process). */
  constructor(pid: number, admin: pg.Client | undefined) {
    this.#pid = pid
    this.#admin = admin
  }

  async snapshot(): Promise<Map<number, number>> {
    const pids = [this.#pid]
    if (this.#admin !== undefined) {
      const result = await this.#admin.query<{ pid: number }>(
        'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
      )
      pids.push(...result.rows.map((row) => row.pid))
    }
    return new Map(pids.map((pid) => [pid, ticks(pid)]))
  }

  /** Milliseconds of CPU between two snapshots. */
  static ms(start: Map<number, number>, end: Map<number, number>): number {
    let total = 0
    for (const [pid, t] of end) total += Math.max(0, t - (start.get(pid) ?? 0))
    return (total * 1000) / TICKS_PER_SECOND
  }
}

export interface Target {
  url: string
  method: 'GET' | 'POST'
  token: string
  /** The body of the n-th request (writes). */
  body?: (n: number) => string
}

export interface Window {
  /** Each completed request's latency in ms. */
  latencies: number[]
  /** Responses by status code. */
  statuses: Map<number, number>
  cpuMs: number
  /** CPU the load generator (autocannon, in this process) used in the window, ms. */
  generatorCpuMs: number
}

/**
 * One fixed-duration window of load on `target` from autocannon (in this process, the
 * service in its own), with each response's latency, the service's CPU and the load
 * generator's (this process's).
 */
export async function loadWindow(
  target: Target,
  options: { connections: number; seconds: number; cpu: CpuSampler },
): Promise<Window> {
  let counter = 0
  const body = target.body
  const latencies: number[] = []
  const statuses = new Map<number, number>()
  const start = await options.cpu.snapshot()
  const generatorStart = process.cpuUsage()
  let finished: (error: Error | null) => void = () => undefined
  const done = new Promise<void>((resolve, reject) => {
    finished = (error) => (error === null ? resolve() : reject(error))
  })
  const instance = autocannon(
    {
      url: target.url,
      method: target.method,
      connections: options.connections,
      duration: options.seconds,
      timeout: 30,
      tlsOptions: { rejectUnauthorized: false },
      headers: {
        authorization: `Bearer ${target.token}`,
        ...(target.body ? { 'content-type': 'application/json' } : {}),
      },
      requests: [
        {
          setupRequest: (req) => (body === undefined ? req : { ...req, body: body(counter++) }),
        },
      ],
    },
    (error) => finished(error ?? null),
  )
  instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    latencies.push(ms)
    statuses.set(status, (statuses.get(status) ?? 0) + 1)
  })
  await done
  const generator = process.cpuUsage(generatorStart)
  const end = await options.cpu.snapshot()
  return {
    latencies,
    statuses,
    cpuMs: CpuSampler.ms(start, end),
    generatorCpuMs: (generator.user + generator.system) / 1000,
  }
}

/** One request whose body is counted and dropped but for its head (a whole-log export may not fit in a string). */
export function timedRequest(
  port: number,
  target: Omit<Target, 'url'> & { path: string },
  timeoutMs: number,
): Promise<{ status: number; ms: number; bytes: number; timedOut: boolean; head: string }> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const payload = target.body?.(0)
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: target.method,
        path: target.path,
        rejectUnauthorized: false,
        headers: {
          authorization: `Bearer ${target.token}`,
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
        },
      },
      (res) => {
        let bytes = 0
        let head = ''
        res.on('data', (chunk: Buffer) => {
          if (head.length < 300) head += chunk.toString('utf8', 0, 300 - head.length)
          bytes += chunk.length
        })
        res.on('end', () => {
          clearTimeout(timer)
          resolve({ status: res.statusCode ?? 0, ms: performance.now() - started, bytes, timedOut: false, head })
        })
        res.on('error', () => undefined)
      },
    )
    const timer = setTimeout(() => {
      req.destroy()
      resolve({ status: 0, ms: performance.now() - started, bytes: 0, timedOut: true, head: '' })
    }, timeoutMs)
    // After a timeout the destroyed request errors too: the promise is already settled then.
    req.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    req.end(payload)
  })
}

/** The q-quantile (0..1) of `values`, nearest rank; NaN for none. */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((x, y) => x - y)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number
}

/** A scenario's windows added up over interleaved rounds: 2xx requests, time, CPU, latencies, the rest as failures. */
export interface Totals {
  requests: number
  seconds: number
  cpuMs: number
  /** The load generator's CPU, ms. */
  generatorCpuMs: number
  latencies: number[]
  failures: number
}

export function emptyTotals(): Totals {
  return { requests: 0, seconds: 0, cpuMs: 0, generatorCpuMs: 0, latencies: [], failures: 0 }
}

/**
 * A 2 s warm-up window of each target, then `rounds` rounds of one `seconds`-long window of
 * each, in turn, added to `totals` under the target's name: the machine's noise falls on all
 * alike. Returns the totals, one per target.
 */
export async function interleavedRounds<Name extends string>(
  targets: Record<Name, { target: Target; cpu: CpuSampler }>,
  options: { connections: number; seconds: number; rounds: number },
): Promise<Record<Name, Totals>> {
  const entries = Object.entries(targets) as [Name, { target: Target; cpu: CpuSampler }][]
  const totals = Object.fromEntries(entries.map(([name]) => [name, emptyTotals()])) as Record<Name, Totals>
  for (const [, { target, cpu }] of entries)
    await loadWindow(target, { connections: options.connections, seconds: 2, cpu })
  for (let round = 0; round < options.rounds; round++)
    for (const [name, { target, cpu }] of entries)
      addWindow(
        totals[name],
        await loadWindow(target, { connections: options.connections, seconds: options.seconds, cpu }),
        options.seconds,
      )
  return totals
}

/** Adds one window of `seconds` to `totals`: its 2xx answers as requests, any other status as failures. */
export function addWindow(totals: Totals, window: Window, seconds: number): void {
  for (const [status, count] of window.statuses) {
    if (status >= 200 && status < 300) totals.requests += count
    else totals.failures += count
  }
  totals.seconds += seconds
  totals.cpuMs += window.cpuMs
  totals.generatorCpuMs += window.generatorCpuMs
  // One at a time: a fast window (the hello-world baseline) holds more latencies than a
  // spread's arguments may number.
  for (const latency of window.latencies) totals.latencies.push(latency)
}
