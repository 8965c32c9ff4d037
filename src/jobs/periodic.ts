import { jobRun, type JobRunMessage } from '../observability/events.ts'

/**
 * A background job run every `intervalMs` in each process: never two runs at once in one
 * process, errors logged and retried on the next tick, and `stop` waits for the run in
 * flight. Jobs that several processes share coordinate in PostgreSQL (advisory locks,
 * SKIP LOCKED), not here.
 */
export interface Periodic {
  start(): void
  stop(): Promise<void>
  /** Runs now (or joins the run in flight). */
  runOnce(): Promise<void>
}

export function periodic(
  name: string,
  intervalMs: number,
  run: () => Promise<void>,
  log: { error(obj: object, msg: string): void },
): Periodic {
  let timer: NodeJS.Timeout | undefined
  let inFlight: Promise<void> | undefined
  let stopped = true

  function runOnce(): Promise<void> {
    // Runs and failures are published for metrics (observability/events.ts); what the job does is unchanged.
    const started = performance.now()
    let failed = false
    inFlight ??= run()
      .catch((error: unknown) => {
        failed = true
        log.error({ err: error, job: name }, `${name} failed; retrying on the next tick`)
      })
      .finally(() => {
        inFlight = undefined
        if (jobRun.hasSubscribers)
          jobRun.publish({ name, seconds: (performance.now() - started) / 1000, failed } satisfies JobRunMessage)
      })
    return inFlight
  }

  function schedule(): void {
    if (stopped) return
    timer = setTimeout(() => void runOnce().finally(schedule), intervalMs)
    timer.unref()
  }

  return {
    start() {
      if (!stopped) return
      stopped = false
      schedule()
    },
    async stop() {
      stopped = true
      if (timer !== undefined) clearTimeout(timer)
      await inFlight
    },
    runOnce,
  }
}
