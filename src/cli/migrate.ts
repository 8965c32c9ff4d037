import { Type } from '@sinclair/typebox'
import type { Command } from 'commander'
import { defineControlCommand } from '../control/control.command.ts'
import { migrateToLatest, printMigrationProgress } from '../db/migrate.ts'
import { runCommand } from './command-runner.ts'

/**
 * `custodian migrate`: pending migrations, each with its time. Beside a running service it
 * runs on the service's database: the service applied its migrations when it started, so
 * the schema is current unless another process changed it since.
 */
export const migrateCommand = defineControlCommand({
  name: 'migrate',
  input: Type.Object({}, { additionalProperties: false }),
  needs: 'database',
  printsOpening: () => true,
  async handler(_input, { database, out }) {
    const progress = printMigrationProgress((line) => out.stdout(`${line}\n`))
    const applied = await migrateToLatest(database.kysely, progress)
    if (applied.length === 0) out.stdout('Schema is current.\n')
  },
})

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations (the service also applies them at start)')
    .action(async () => {
      await runCommand(migrateCommand, {})
    })
}
