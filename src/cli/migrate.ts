import type { Command } from 'commander'
import { loadConfig } from '../config.ts'
import { openDatabase } from '../db/connect.ts'
import { migrateToLatest } from '../db/migrate.ts'

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations (the service also applies them at start)')
    .action(async () => {
      const config = loadConfig()
      const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir })
      try {
        const applied = await migrateToLatest(database.kysely)
        process.stdout.write(applied.length === 0 ? 'Schema is current.\n' : `Applied: ${applied.join(', ')}\n`)
      } finally {
        await database.close()
      }
    })
}
