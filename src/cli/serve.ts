import type { Command } from 'commander'
import { loadConfig } from '../config.ts'
import { startServer } from '../server.ts'

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the service (HTTPS, the redirect-only HTTP port, the audit sequencer)')
    .action(async () => {
      const config = loadConfig()
      // Here `pg` is already loaded by the other admin commands: requests are traced, their
      // queries are not (node src/main.ts traces both; docs/operations.md).
      const tracing =
        config.tracing === 'otlp' ? (await import('../observability/tracing.ts')).startTracing() : undefined
      const server = await startServer(config, undefined, { tracing })
      await new Promise<void>((resolve) => {
        const stop = () => resolve()
        process.once('SIGTERM', stop)
        process.once('SIGINT', stop)
      })
      await server.close()
    })
}
