import { performance } from 'node:perf_hooks'
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/**
 * Gives the memory a burst of work left behind back to the system once the process is idle.
 *
 * V8 grows its young generation while a process allocates fast — a start, a burst of
 * requests — and keeps it grown (up to two 64 MiB semi-spaces on a machine with 24 GiB),
 * along with pages of the old generation emptied by the garbage it collected. An idle
 * service then holds 50–300 MiB more than its live data needs (docs/benchmarks.md, "idle
 * memory"). V8 shrinks them only in a collection made to reduce memory (its "last resort"
 * collection, which it runs itself only when an allocation would otherwise fail). This runs
 * one such collection:
 * - once when the start has completed ({@link IdleMemoryReducer.reduce}), and
 * - whenever the event loop has been idle (utilization under {@link IDLE_UTILIZATION}) for
 *   `idleMs` while the young generation is grown (over {@link GROWN_YOUNG_MIB}). A collection
 *   leaves it at about 1 MiB and only work (allocation that survives) grows it again, so an
 *   idle process is not collected over and over, whatever else keeps its event loop busy for
 *   a moment. (Utilization alone would not do: on a busy machine a moment's work is stretched
 *   by the CPU it waits for, and the collection's own aftermath would count as work.)
 *
 * A collection takes the process ≈100 ms (measured on the test machine, docs/benchmarks.md);
 * it runs only when nothing has been asked of the service for `idleMs`. `idleMs` 0 turns it
 * all off (`CUSTODIAN_IDLE_MEMORY_MS`).
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
  ms: number
}

/** Below this event-loop utilization (0–1) over a sampling period, the process counts as idle. */
export const IDLE_UTILIZATION = 0.05

/** Above this size (MiB, committed), the young generation has grown since the last collection. */
export const GROWN_YOUNG_MIB = 8

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

/**
 * @param options.idleMs how long the event loop must stay idle after work before the
 *   collection runs, in milliseconds; 0: never, not even after the start
 * @param options.sampleMs how often utilization is sampled (default 5,000 ms, at most `idleMs`)
 * @param options.log where each collection is reported (`idle: memory given back`, at info)
 */
export function idleMemoryReducer(options: {
  idleMs: number
  sampleMs?: number
  log: { info(obj: object, msg: string): void }
}): IdleMemoryReducer {
  const collect = options.idleMs > 0 ? memoryReducingCollection() : undefined
  const sampleMs = Math.max(1, Math.min(options.sampleMs ?? 5_000, options.idleMs))
  let timer: NodeJS.Timeout | undefined
  let last = performance.eventLoopUtilization()
  let idleFor = 0

  function reduce(reason: 'started' | 'idle'): MemoryReduction {
    const rssBefore = process.memoryUsage.rss()
    const youngBefore = youngGenerationBytes()
    const started = performance.now()
    collect?.()
    const figures: MemoryReduction = {
      reason,
      rssBeforeMiB: round(rssBefore),
      rssAfterMiB: round(process.memoryUsage.rss()),
      youngBeforeMiB: round(youngBefore),
      youngAfterMiB: round(youngGenerationBytes()),
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
    const { utilization } = performance.eventLoopUtilization(now, last)
    last = now
    if (utilization >= IDLE_UTILIZATION) {
      idleFor = 0
      return
    }
    idleFor += sampleMs
    if (idleFor >= options.idleMs && youngGenerationBytes() > GROWN_YOUNG_MIB * MiB) reduce('idle')
  }

  return {
    start() {
      if (collect === undefined || timer !== undefined) return
      last = performance.eventLoopUtilization()
      timer = setInterval(sample, sampleMs)
      timer.unref()
    },
    stop() {
      if (timer !== undefined) clearInterval(timer)
      timer = undefined
    },
    reduce,
  }
}
