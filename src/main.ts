import { mkdirSync } from 'node:fs'
import { enableCompileCache } from 'node:module'
import path from 'node:path'

/**
 * Node's compile cache (https://nodejs.org/api/module.html#module-compile-cache) for the few
 * hundred modules a start loads: their type-stripped source and V8 code are kept under the
 * data directory and reused by the next start (about half a start's CPU on the test machine,
 * docs/benchmarks.md). Under the data directory, not the shared temporary directory: a cache
 * entry is code this process runs, so it lives where only the service's user can write
 * (the directory is created 0700 here, as the database would create it). Entries are
 * checksummed against their source: an edited, stale or torn entry is compiled again. A
 * `NODE_COMPILE_CACHE` set by the operator wins (Node enabled it before this runs); the cache
 * is an optimisation, so a directory it cannot use is ignored.
 */
function enableModuleCache(dataDir: string): void {
  if (process.env.NODE_COMPILE_CACHE !== undefined) return
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
    enableCompileCache(path.join(dataDir, 'compile-cache'))
  } catch {
    // A read-only data directory: start without the cache.
  }
}

/** `npm start`: configuration -> database -> app -> listen; stop cleanly on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  // Signals are handled from the first line that runs, before any module of the service is
  // loaded: one that arrives while starting (or just after "Listening:" is printed) stops the
  // service once it is up, instead of killing it mid-way; a second one while starting exits
  // at once.
  //
  // One listener per signal for the process's whole life. Removing the last listener of a
  // signal stops Node's watcher for it, and a signal the kernel had already delivered but the
  // event loop had not yet read is then dropped with the old watcher: a SIGTERM arriving as
  // the start finished was lost about one start in twelve, leaving a service that ignored it.
  let requested: string | undefined
  let stop: ((signal: string) => void) | undefined
  const onSignal = (signal: string) => {
    if (stop !== undefined) stop(signal)
    else if (requested !== undefined) process.exit(1)
    else {
      requested = signal
      process.stderr.write(
        `custodian: ${signal} while starting: stopping as soon as the start completes (send it again to exit at once)\n`,
      )
    }
  }
  process.on('SIGTERM', () => onSignal('SIGTERM'))
  process.on('SIGINT', () => onSignal('SIGINT'))
  const { ConfigError, loadConfig } = await import('./config.ts')
  let config: ReturnType<typeof loadConfig>
  try {
    config = loadConfig()
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    process.stderr.write(`${error.message}\n`)
    process.exit(1)
  }
  enableModuleCache(config.dataDir)
  // Tracing patches the PostgreSQL driver as it loads: it starts before the server's modules
  // are imported, and when off its module is never loaded.
  const tracing = config.tracing === 'otlp' ? (await import('./observability/tracing.ts')).startTracing() : undefined
  const { startServer } = await import('./server.ts')
  const server = await startServer(config, undefined, { tracing })
  let stopping = false
  stop = (signal: string) => {
    if (stopping) return
    stopping = true
    server.app.log.info({ signal }, 'shutting down: finishing in-flight requests and flushing the audit chain')
    const force = setTimeout(() => process.exit(1), 30_000)
    force.unref()
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        server.app.log.error({ err: error }, 'shutdown failed')
        process.exit(1)
      },
    )
  }
  if (requested !== undefined) stop(requested)
}

main().catch((error: unknown) => {
  process.stderr.write(`custodian: ${(error as Error).message}\n`)
  process.exit(1)
})
