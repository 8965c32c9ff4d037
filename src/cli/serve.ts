import type { Command } from 'commander'
import { loadConfig } from '../config.ts'
import { startServer } from '../server.ts'

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the service (HTTPS, the redirect-only HTTP port, the audit sequencer)')
    .action(async () => {
      const server = await startServer(loadConfig())
      await new Promise<void>((resolve) => {
        const stop = () => resolve()
        process.once('SIGTERM', stop)
        process.once('SIGINT', stop)
      })
      await server.close()
    })
}
