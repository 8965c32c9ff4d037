import { existsSync } from 'node:fs'
import path from 'node:path'
import type { Command } from 'commander'
import { loadConfig } from '../config.ts'
import { openDatabase } from '../db/connect.ts'
import { migrateToLatest, printMigrationProgress } from '../db/migrate.ts'

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations (the service also applies them at start)')
    .action(async () => {
      const config = loadConfig()
      const progress = printMigrationProgress((line) => process.stdout.write(`${line}\n`))
      const pgdata = path.join(config.dataDir, 'pgdata')
      const creating = config.databaseUrl === undefined && !existsSync(pgdata)
      const started = performance.now()
      if (creating) progress({ kind: 'creating', where: pgdata })
      const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir })
      if (creating) progress({ kind: 'created', ms: Math.round(performance.now() - started) })
      try {
        const applied = await migrateToLatest(database.kysely, progress)
        if (applied.length === 0) process.stdout.write('Schema is current.\n')
      } finally {
        await database.close()
      }
    })
}
