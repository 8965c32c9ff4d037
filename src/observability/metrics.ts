import diagnosticsChannel from 'node:diagnostics_channel'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { Database, PoolStats } from '../db/connect.ts'
import {
  auditChained,
  authThrottled,
  jobRun,
  type AuditChainedMessage,
  type AuthThrottledMessage,
  type JobRunMessage,
} from './events.ts'
import { collectBacklog, QUEUES, type Backlog } from './metrics.queries.ts'

/**
 * The service's Prometheus metrics (prom-client), in one registry per app. Names follow
 * Prometheus's conventions (https://prometheus.io/docs/practices/naming/): the `custodian_`
 * prefix, base units (`_seconds`), `_total` on counters. No label value ever names an org,
 * a user, a secret or an address: routes are Fastify's route patterns (`/v1/orgs/:orgId/…`),
 * jobs and queues fixed names, statuses numbers. docs/operations.md lists every metric,
 * which ones are per process and which service-wide.
 *
 * Counters and histograms count what this process did (request hooks, diagnostics channels,
 * observability/events.ts). Gauges of the database's queues are read at scrape time by a few
 * bounded queries (metrics.queries.ts), so they cost the same whatever an org's history.
 */
export interface Metrics {
  readonly registry: Registry
  /** Records one answered request: its route pattern (undefined: no route matched), status, seconds. */
  observeRequest(method: string, route: string | undefined, status: number, seconds: number): void
  /** One request refused by @fastify/rate-limit. */
  rateLimited(route: string | undefined): void
  /** The exposition text (Prometheus text format 0.0.4), the database's gauges read first. */
  scrape(): Promise<string>
  /** The exposition's Content-Type. */
  readonly contentType: string
  /** Stops listening to the diagnostics channels. */
  close(): void
}

/** Latency buckets of requests, in seconds: 5 ms to 10 s. */
const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
/** Commit-to-chain delay buckets: the sequencer runs every 200 ms by default, so tens of ms to a minute. */
const CHAIN_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
const JOB_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300]
/** A scrape's database reads give up after this long (`custodian_database_up` 0), within Prometheus's 10 s default. */
const COLLECT_TIMEOUT_MS = 5000
/** The label of requests no route matched (404s of unknown paths): never the raw URL. */
export const UNMATCHED_ROUTE = 'unmatched'

/** `audit sequencer`, `webhook-delivery` → `audit_sequencer`, `webhook_delivery`: one spelling for every job's label. */
export function jobLabel(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_|_$/g, '')
}

export function createMetrics(deps: {
  database: Pick<Database, 'kysely' | 'engine' | 'poolStats'>
  /** Whether the root key is sealed (shamir provider before unseal, or after a seal). */
  sealed: () => boolean
  /**
   * Rollback detection (P8.1): whether it is armed, and the orgs this process refuses now by
   * state (`rolled_back`, `unchecked`, `missing`). Absent: the gauges are not registered.
   */
  rollback?: { armed: boolean; refusedByState: () => Record<'rolled_back' | 'unchecked' | 'missing', number> }
  log: { warn(obj: object, msg: string): void }
}): Metrics {
  const registry = new Registry()
  const registers = [registry]
  // Node's own process metrics (CPU, memory, event-loop lag, GC), under their usual names.
  collectDefaultMetrics({ register: registry })
  // These three are gauges named `_total`, against Prometheus's naming rules (promtool's lint
  // refuses them); the same counts stay as nodejs_active_handles, _requests and _resources.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'])
    registry.removeSingleMetric(name)

  const requests = new Counter({
    name: 'custodian_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status code.',
    labelNames: ['method', 'route', 'status'] as const,
    registers,
  })
  const duration = new Histogram({
    name: 'custodian_http_request_duration_seconds',
    help: 'Time from receiving a request to sending its answer, by method and route pattern.',
    labelNames: ['method', 'route'] as const,
    buckets: REQUEST_BUCKETS,
    registers,
  })
  const rateLimitRefusals = new Counter({
    name: 'custodian_rate_limit_refusals_total',
    help: 'Requests refused by the per-address rate limit (429), by route pattern.',
    labelNames: ['route'] as const,
    registers,
  })
  const throttled = new Counter({
    name: 'custodian_auth_throttled_total',
    help: 'Password or second-factor attempts refused because a brute-force delay is owed (accounts are never locked), by action.',
    labelNames: ['action'] as const,
    registers,
  })
  const jobRuns = new Counter({
    name: 'custodian_job_runs_total',
    help: 'Runs of each periodic job in this process, failed ones included.',
    labelNames: ['job_name'] as const,
    registers,
  })
  const jobFailures = new Counter({
    name: 'custodian_job_failures_total',
    help: 'Runs of each periodic job that failed (retried on the next tick).',
    labelNames: ['job_name'] as const,
    registers,
  })
  const jobDuration = new Histogram({
    name: 'custodian_job_duration_seconds',
    help: 'Wall time of each periodic job run.',
    labelNames: ['job_name'] as const,
    buckets: JOB_BUCKETS,
    registers,
  })
  const jobLastSuccess = new Gauge({
    name: 'custodian_job_last_success_timestamp_seconds',
    help: 'Unix time of the last run of each periodic job that succeeded in this process.',
    labelNames: ['job_name'] as const,
    registers,
  })
  const chainDelay = new Histogram({
    name: 'custodian_audit_chain_delay_seconds',
    help: 'Commit-to-chain delay of audit events: from an event being written to the sequencer chaining it (the window in which it is not yet tamper-evident).',
    buckets: CHAIN_BUCKETS,
    registers,
  })
  const unchained = new Gauge({
    name: 'custodian_audit_unchained_events',
    help: 'Audit events committed and not chained yet, service-wide (counted up to 10000).',
    registers,
  })
  const unchainedAge = new Gauge({
    name: 'custodian_audit_unchained_oldest_age_seconds',
    help: 'Age of the oldest audit event not chained yet, service-wide; 0 when none waits.',
    registers,
  })
  const queueDepth = new Gauge({
    name: 'custodian_queue_depth',
    help: 'Items waiting in a delivery queue, service-wide (counted up to 10000): webhook and mail deliveries, audit witness deliveries, audit events not yet acknowledged by SIEM destinations.',
    labelNames: ['queue'] as const,
    registers,
  })
  const queueLag = new Gauge({
    name: 'custodian_queue_lag_seconds',
    help: 'Age of the oldest due item of a delivery queue (how long it has been due), service-wide; 0 when none is due.',
    labelNames: ['queue'] as const,
    registers,
  })
  const databaseUp = new Gauge({
    name: 'custodian_database_up',
    help: '1 when this scrape read the database, 0 when its queries failed or timed out.',
    registers,
  })
  const databaseInfo = new Gauge({
    name: 'custodian_database_info',
    help: 'The database engine this process uses (value always 1).',
    labelNames: ['engine'] as const,
    registers,
  })
  databaseInfo.set({ engine: deps.database.engine }, 1)
  new Gauge({
    name: 'custodian_root_key_sealed',
    help: '1 while this process holds no root key (sealed: secret operations answer 503), else 0.',
    registers,
    collect() {
      this.set(deps.sealed() ? 1 : 0)
    },
  })
  const rollback = deps.rollback
  if (rollback !== undefined) {
    new Gauge({
      name: 'custodian_rollback_detection_armed',
      help: '1 when rollback detection is armed (a readable witness is configured: CUSTODIAN_AUDIT_WITNESS_FILE, CUSTODIAN_AUDIT_TLOG_WITNESSES), else 0 (a restored database cannot be told from the current one).',
      registers,
      collect() {
        this.set(rollback.armed ? 1 : 0)
      },
    })
    new Gauge({
      name: 'custodian_rollback_refused_orgs',
      help: 'Orgs this process refuses now after its last rollback check (P8.1): rolled_back (behind or forked from a witnessed checkpoint), unchecked (no witness answered), missing (a witness holds the log of an org the database does not have).',
      labelNames: ['state'] as const,
      registers,
      collect() {
        for (const [state, count] of Object.entries(rollback.refusedByState())) this.set({ state }, count)
      },
    })
  }
  const poolStats = deps.database.poolStats
  if (poolStats !== undefined) {
    const pool = (name: string, help: string, read: (s: PoolStats) => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read(poolStats()))
        },
      })
    pool('custodian_db_pool_connections', 'Open connections of this process to PostgreSQL.', (s) => s.total)
    pool('custodian_db_pool_idle_connections', 'Open connections of this process not in use.', (s) => s.idle)
    pool(
      'custodian_db_pool_waiting_clients',
      'Queries of this process waiting for a free connection (pool exhausted).',
      (s) => s.waiting,
    )
    pool('custodian_db_pool_max_connections', 'Pool size of this process (CUSTODIAN_DB_POOL_SIZE).', (s) => s.max)
  }

  // Children are looked up by a string key: prom-client's own lookup hashes the label object on every call.
  const requestChildren = new Map<string, Counter.Internal>()
  const durationChildren = new Map<string, Histogram.Internal<'method' | 'route'>>()
  const onJob = (message: unknown) => {
    const { name, seconds, failed } = message as JobRunMessage
    const job = jobLabel(name)
    jobRuns.inc({ job_name: job })
    jobDuration.observe({ job_name: job }, seconds)
    if (failed) jobFailures.inc({ job_name: job })
    else jobLastSuccess.set({ job_name: job }, Date.now() / 1000)
  }
  const onChained = (message: unknown) => {
    for (const delay of (message as AuditChainedMessage).delaysSeconds) chainDelay.observe(delay)
  }
  const onThrottled = (message: unknown) => {
    throttled.inc({ action: (message as AuthThrottledMessage).action })
  }
  diagnosticsChannel.subscribe(jobRun.name, onJob)
  diagnosticsChannel.subscribe(auditChained.name, onChained)
  diagnosticsChannel.subscribe(authThrottled.name, onThrottled)

  function setBacklog(backlog: Backlog): void {
    unchained.set(backlog.unchained)
    unchainedAge.set(backlog.unchainedAgeSeconds)
    for (const queue of QUEUES) {
      queueDepth.set({ queue }, backlog.queues[queue].depth)
      queueLag.set({ queue }, backlog.queues[queue].lagSeconds)
    }
  }

  let collecting: Promise<void> | undefined
  /** Reads the database's gauges; concurrent scrapes share one read. */
  function collect(): Promise<void> {
    collecting ??= (async () => {
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${COLLECT_TIMEOUT_MS} ms`)), COLLECT_TIMEOUT_MS)
      })
      try {
        setBacklog(await Promise.race([collectBacklog(deps.database.kysely), timeout]))
        databaseUp.set(1)
      } catch (error) {
        // The queue gauges disappear rather than repeat stale values; database_up says why.
        unchained.reset()
        unchainedAge.reset()
        queueDepth.reset()
        queueLag.reset()
        databaseUp.set(0)
        deps.log.warn({ err: error }, 'metrics: reading the queues for a scrape failed')
      } finally {
        clearTimeout(timer)
        collecting = undefined
      }
    })()
    return collecting
  }

  return {
    registry,
    contentType: registry.contentType,
    observeRequest(method, route, status, seconds) {
      const pattern = route ?? UNMATCHED_ROUTE
      const key = `${method} ${pattern}`
      let timing = durationChildren.get(key)
      if (timing === undefined) {
        timing = duration.labels(method, pattern)
        durationChildren.set(key, timing)
      }
      timing.observe(seconds)
      const countKey = `${key} ${status}`
      let count = requestChildren.get(countKey)
      if (count === undefined) {
        count = requests.labels(method, pattern, String(status))
        requestChildren.set(countKey, count)
      }
      count.inc()
    },
    rateLimited(route) {
      rateLimitRefusals.inc({ route: route ?? UNMATCHED_ROUTE })
    },
    async scrape() {
      await collect()
      return registry.metrics()
    },
    close() {
      diagnosticsChannel.unsubscribe(jobRun.name, onJob)
      diagnosticsChannel.unsubscribe(auditChained.name, onChained)
      diagnosticsChannel.unsubscribe(authThrottled.name, onThrottled)
    },
  }
}
