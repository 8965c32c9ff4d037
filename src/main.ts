import { ConfigError, loadConfig } from './config.ts'
import { startServer } from './server.ts'

/** `npm start`: configuration -> database -> app -> listen; stop cleanly on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  const config = loadConfig()
  const server = await startServer(config)
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
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`)
  } else {
    process.stderr.write(`custodian: ${(error as Error).message}\n`)
  }
  process.exit(1)
})
