import { enableModuleCache } from './module-cache.ts'

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
  enableModuleCache(config.dataDir, config.compileCacheSeed)
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
