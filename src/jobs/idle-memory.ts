import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { performance } from 'node:perf_hooks'
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { bindNativeHeap, type NativeHeap, type NoNativeHeap, operatorsTrimThreshold } from './native-heap.ts'

/**
 * Gives the memory a burst of work left behind back to the system once the process is idle.
 *
 * V8 grows its young generation while a process allocates fast — a start, a burst of
 * requests — and keeps it grown (up to two 64 MiB semi-spaces on a machine with 24 GiB),
 * along with pages of the old generation emptied by the garbage it collected. An idle
 * service then holds tens to hundreds of MiB more than its live data needs
 * (docs/benchmarks.md, "memory given back when idle"). V8 shrinks them only in a collection
 * made to reduce memory (its "last resort" collection, which it runs itself only when an
 * allocation would otherwise fail). This runs one such collection:
 * - once when the start is done, before the service listens ({@link IdleMemoryReducer.reduce}), and
 * - when, for `idleMs`, no HTTP request has arrived or been in progress (Node's built-in
 *   `http.server.request.start` diagnostics channel: every listener of the process) and the
 *   event loop has stayed under {@link IDLE_UTILIZATION} (background jobs) — after work: a
 *   request since the last collection, or, since the last collection, a busy event loop (a
 *   sampling period at {@link IDLE_UTILIZATION} or more: a background job; the start's jobs
 *   count as one) and a young generation grown over {@link GROWN_YOUNG_MIB} and over twice
 *   what the last collection left. So an idle process
 *   is collected once, not over and over; and where a collection cannot shrink the young
 *   generation (a `--min-semi-space-size` floor, a V8 that ignores the option) it is not
 *   tried again until that has doubled. V8 may shrink the young generation by itself after
 *   a burst while keeping the pages the burst emptied: a request is work whatever it left.
 *   Health checks and metrics scrapes ({@link PROBES}) are neither work nor activity: a load
 *   balancer's or Prometheus's come every few seconds, and would keep a service from ever
 *   being idle; what they allocate grows the young generation slowly, with the event loop
 *   nearly idle, and is not work either (else it would be collected every few tens of
 *   seconds); a collection delays such a probe by its pause, well within a probe's timeout.
 *   The price: a job too short to keep a sample {@link IDLE_UTILIZATION} busy is not work,
 *   whatever it allocated, until a request or a busy period comes.
 *
 * A collection stops the process for 0.1–0.4 s on the 2-core test machine, more with a
 * larger heap (docs/benchmarks.md); a request that arrives meanwhile waits for it. `idleMs` 0
 * turns it all off (`CUSTODIAN_IDLE_MEMORY_MS`).
 *
 * After the collection, the C heap's free pages are given back too (glibc's `malloc_trim`,
 * src/jobs/native-heap.ts): what V8's collection freed of its native memory, and what
 * Node's socket buffers, TLS and compilers left free in glibc's arenas. When the job is
 * created (as early in the start as the configuration allows, before the database opens),
 * and again by the start's collection, glibc's trim threshold is set to
 * {@link TRIM_THRESHOLD_BYTES}, so that the arenas of V8's and libuv's threads give back what
 * is free at their tops as it is freed (`malloc_trim` does not reach it) — unless the operator
 * set it (`MALLOC_TRIM_THRESHOLD_`, `GLIBC_TUNABLES`), which the job then says once, at info.
 *
 * The collection is V8's `gc()` with `{ type: 'major', flavor: 'last-resort' }`. Node offers
 * no other way to ask for it and exposes `gc` only under `--expose-gc`; the flag is set for
 * the moment it takes to fetch the function from a new context, then cleared (no library
 * does this: the npm package expose-gc does the same two steps without the options).
 */
export interface IdleMemoryReducer {
  /** Starts watching for idle periods. */
  start(): void
  stop(): void
  /** One memory-reducing collection now; what it freed. */
  reduce(reason: 'started' | 'idle'): MemoryReduction
}

/** Figures of one collection, in MiB (1,048,576 bytes) and milliseconds. */
export interface MemoryReduction {
  reason: 'started' | 'idle'
  /** Resident set size before and after (`process.memoryUsage.rss()`). */
  rssBeforeMiB: number
  rssAfterMiB: number
  /** V8's young generation as committed before and after. */
  youngBeforeMiB: number
  youngAfterMiB: number
  /** Whether the C heap was trimmed after the collection (glibc only; src/jobs/native-heap.ts). */
  nativeHeapTrimmed: boolean
  /** Whether that trim released memory to the system (malloc_trim's result). */
  nativeHeapReleased: boolean
  ms: number
}

/** Below this event-loop utilization (0–1) over a sampling period, the process counts as idle. */
export const IDLE_UTILIZATION = 0.05

/** Above this size (MiB, committed), the young generation has grown since the last collection. */
export const GROWN_YOUNG_MIB = 8

/** Paths of the probes that are not requests for this purpose: health checks and metrics scrapes. */
export const PROBES: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics'])

/**
 * glibc's trim threshold set by the job, in bytes: glibc's own default (mallopt(3),
 * M_TRIM_THRESHOLD), held there instead of raised by glibc as large blocks are freed.
 */
export const TRIM_THRESHOLD_BYTES = 128 * 1024

/** The shortest `idleMs` (milliseconds) other than 0: the sampling period is at most `idleMs`. */
export const MIN_IDLE_MS = 1000

type Collect = () => void

/** V8's memory-reducing collection, or undefined where this Node cannot give it. */
function memoryReducingCollection(): Collect | undefined {
  type Gc = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void
  let gc = (globalThis as { gc?: Gc }).gc
  if (gc === undefined) {
    try {
      setFlagsFromString('--expose-gc')
      gc = runInNewContext('gc') as Gc | undefined
    } catch {
      gc = undefined
    } finally {
      setFlagsFromString('--no-expose-gc')
    }
  }
  if (typeof gc !== 'function') return undefined
  const collect = gc
  return () => collect({ type: 'major', execution: 'sync', flavor: 'last-resort' })
}

const MiB = 1_048_576
const youngGenerationBytes = (): number =>
  getHeapSpaceStatistics()
    .filter((space) => space.space_name === 'new_space' || space.space_name === 'new_large_object_space')
    .reduce((sum, space) => sum + space.space_size, 0)
const round = (bytes: number): number => Math.round((bytes / MiB) * 10) / 10

/** Node's built-in channel: one message per HTTP(S) request any server of the process receives. */
const REQUEST_START = 'http.server.request.start'

/**
 * @param options.idleMs how long the process must go without a request and with a quiet
 *   event loop before the collection runs, in milliseconds: 0 (never, not even after the
 *   start) or at least {@link MIN_IDLE_MS}
 * @param options.sampleMs how often the process is looked at (default 5,000 ms, at most `idleMs`)
 * @param options.log where each collection is reported (`idle: memory given back`, at info),
 *   a trim threshold the operator set (once, at info, when the job is created), and a Node
 *   that cannot run it, a glibc that cannot be bound, a trim threshold it refuses or a
 *   `malloc_trim` that fails (once each, at warn)
 * @param options.nativeHeap binds the C heap (default glibc's, {@link bindNativeHeap});
 *   called once, here, when `idleMs` is not 0 and this Node offers the collection (without
 *   it, neither the trim nor the trim threshold)
 * @param options.readings figures read instead of this process's (tests of the rules): the
 *   event loop's utilization (0–1) since the last sample, read by each sample; the young
 *   generation's committed size in bytes, read by each sample and by each collection (what it
 *   left, and the figures it logs)
 * @throws RangeError for an `idleMs` between 0 and {@link MIN_IDLE_MS}
 */
export function idleMemoryReducer(options: {
  idleMs: number
  sampleMs?: number
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void }
  nativeHeap?: () => NativeHeap | NoNativeHeap
  readings?: { utilization?: () => number; youngBytes?: () => number }
}): IdleMemoryReducer {
  if (options.idleMs !== 0 && !(options.idleMs >= MIN_IDLE_MS))
    throw new RangeError(`idleMs must be 0 or at least ${MIN_IDLE_MS}, got ${options.idleMs}`)
  const collect = options.idleMs > 0 ? memoryReducingCollection() : undefined
  if (options.idleMs > 0 && collect === undefined)
    options.log.warn({}, 'idle: this Node.js offers no memory-reducing collection; memory is not given back when idle')
  const sampleMs = Math.min(options.sampleMs ?? 5_000, options.idleMs)
  /** The C heap, or none here (or no longer: its trim failed). */
  let heap = collect === undefined ? null : bindHeap(options)
  let thresholdRefused = false
  /** Where the operator set glibc's trim threshold: said once, here, and left alone. */
  const setBy = heap === null ? [] : operatorsTrimThreshold(process.env)
  const operatorsThreshold = setBy.length > 0
  if (operatorsThreshold)
    options.log.info({ setBy }, "idle: glibc's trim threshold is the operator's; the service does not set its own")
  /**
   * Sets glibc's trim threshold, unless the operator did; warns once if glibc refuses it. Set
   * again by the start's collection: a `free` on another thread that raised it at the moment
   * it was set (glibc takes no lock for that raise) would have frozen the raised value.
   */
  const holdTrimThreshold = () => {
    if (heap === null || thresholdRefused || operatorsThreshold) return
    let refused: string | undefined
    try {
      if (!heap.setTrimThreshold(TRIM_THRESHOLD_BYTES)) refused = 'mallopt returned 0'
    } catch (error) {
      refused = error instanceof Error ? error.message : String(error)
    }
    if (refused === undefined) return
    thresholdRefused = true
    options.log.warn(
      { detail: refused },
      "idle: glibc's trim threshold could not be set; the tops of its threads' arenas are not given back",
    )
  }
  holdTrimThreshold()
  let timer: NodeJS.Timeout | undefined
  let last = performance.eventLoopUtilization()
  const youngBytes = options.readings?.youngBytes ?? youngGenerationBytes
  let idleFor = 0
  /** What the last collection left: the young generation must grow past twice this. */
  let youngLeft = 0
  let requests = 0
  let requestsSeen = 0
  let inProgress = 0
  /** A request (not a probe) since the last collection. */
  let asked = false
  /** A sampling period with the event loop busy (≥ IDLE_UTILIZATION) since the last collection. */
  let worked = false
  const onRequest = (message: unknown) => {
    const { request, response } = message as { request: IncomingMessage; response: ServerResponse }
    const url = request.url ?? ''
    const query = url.indexOf('?')
    if (PROBES.has(query === -1 ? url : url.slice(0, query))) return
    requests += 1
    inProgress += 1
    // 'close' comes for every response, answered or aborted.
    response.once('close', () => {
      inProgress -= 1
    })
  }

  function reduce(reason: 'started' | 'idle'): MemoryReduction {
    const rssBefore = process.memoryUsage.rss()
    const youngBefore = youngBytes()
    const started = performance.now()
    collect?.()
    if (reason === 'started') holdTrimThreshold()
    let released: boolean | undefined
    try {
      released = heap?.trim()
    } catch (error) {
      // Never again: the collections go on without it; the service is not stopped by it.
      heap = null
      options.log.warn(
        { detail: error instanceof Error ? error.message : String(error) },
        'idle: malloc_trim failed; the C heap is not given back from now on',
      )
    }
    youngLeft = youngBytes()
    asked = false
    worked = false
    const figures: MemoryReduction = {
      reason,
      rssBeforeMiB: round(rssBefore),
      rssAfterMiB: round(process.memoryUsage.rss()),
      youngBeforeMiB: round(youngBefore),
      youngAfterMiB: round(youngLeft),
      nativeHeapTrimmed: released !== undefined,
      nativeHeapReleased: released === true,
      ms: Math.round((performance.now() - started) * 10) / 10,
    }
    idleFor = 0
    // The collection's own time is not work: the next sample starts after it.
    last = performance.eventLoopUtilization()
    if (collect !== undefined) options.log.info(figures, 'idle: memory given back')
    return figures
  }

  function sample(): void {
    const now = performance.eventLoopUtilization()
    const utilization = options.readings?.utilization?.() ?? performance.eventLoopUtilization(now, last).utilization
    last = now
    const busy = requests !== requestsSeen || inProgress > 0
    requestsSeen = requests
    if (busy) asked = true
    if (busy || utilization >= IDLE_UTILIZATION) {
      if (utilization >= IDLE_UTILIZATION) worked = true
      idleFor = 0
      return
    }
    idleFor += sampleMs
    const young = youngBytes()
    const grown = young > GROWN_YOUNG_MIB * MiB && young > 2 * youngLeft
    if (idleFor >= options.idleMs && (asked || (worked && grown))) reduce('idle')
  }

  return {
    start() {
      if (collect === undefined || timer !== undefined) return
      subscribe(REQUEST_START, onRequest)
      last = performance.eventLoopUtilization()
      requestsSeen = requests
      // The start's background jobs begin before this is called: their work is not sampled.
      worked = true
      timer = setInterval(sample, sampleMs)
      timer.unref()
    },
    stop() {
      if (timer === undefined) return
      clearInterval(timer)
      timer = undefined
      unsubscribe(REQUEST_START, onRequest)
    },
    reduce,
  }
}

/**
 * Binds the C heap: the heap, or null where there is none. Warns, once, of a glibc that cannot
 * be bound (which never stops the service).
 */
function bindHeap(options: {
  log: { warn(obj: object, msg: string): void }
  nativeHeap?: () => NativeHeap | NoNativeHeap
}): NativeHeap | null {
  const bound = (options.nativeHeap ?? bindNativeHeap)()
  if (!('unavailable' in bound)) return bound
  if (bound.unavailable === 'failed')
    options.log.warn({ detail: bound.detail }, "idle: glibc's malloc could not be bound; the C heap is not given back")
  return null
}
