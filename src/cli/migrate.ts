import type { Command } from 'commander'
import { loadConfig } from '../config.ts'
import { migrateToLatest, printMigrationProgress } from '../db/migrate.ts'
import { openEmbeddedOrPostgres } from '../runtime.ts'

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations (the service also applies them at start)')
    .action(async () => {
      const config = loadConfig()
      const progress = printMigrationProgress((line) => process.stdout.write(`${line}\n`))
      const database = await openEmbeddedOrPostgres(config, progress)
      try {
        const applied = await migrateToLatest(database.kysely, progress)
        if (applied.length === 0) process.stdout.write('Schema is current.\n')
      } finally {
        await database.close()
      }
    })
}
