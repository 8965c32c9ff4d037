import { ConfigError, loadConfig } from './config.ts'

/** `npm start`: configuration -> database -> app -> listen; stop cleanly on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  const config = loadConfig()
  // Signals are handled from the start: one that arrives while starting (or just after
  // "Listening:" is printed) stops the service once it is up, instead of killing it
  // mid-way; a second one while starting exits at once.
  let requested: string | undefined
  const early = (signal: string) => {
    if (requested !== undefined) process.exit(1)
    requested = signal
  }
  const earlyTerm = () => early('SIGTERM')
  const earlyInt = () => early('SIGINT')
  process.on('SIGTERM', earlyTerm)
  process.on('SIGINT', earlyInt)
  // Tracing patches the PostgreSQL driver as it loads: it starts before the server's modules
  // are imported, and when off its module is never loaded.
  const tracing = config.tracing === 'otlp' ? (await import('./observability/tracing.ts')).startTracing() : undefined
  const { startServer } = await import('./server.ts')
  const server = await startServer(config, undefined, { tracing })
  process.off('SIGTERM', earlyTerm)
  process.off('SIGINT', earlyInt)
  let stopping = false
  const stop = (signal: string) => {
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
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
  if (requested !== undefined) stop(requested)
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`)
  } else {
    process.stderr.write(`custodian: ${(error as Error).message}\n`)
  }
  process.exit(1)
})
