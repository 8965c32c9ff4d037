import type { Command } from 'commander'
import { CliError, revealAll, withClient } from './remote.ts'
import { secretsToEnv, toDotenv } from './secret-env.ts'

/**
 * `custodian export --format dotenv|json`: the org's secrets (or those under a prefix) as
 * environment variables, written to standard output only — where they go next is the
 * caller's choice, and this command writes no file of its own.
 */
export function registerExport(program: Command): void {
  program
    .command('export')
    .description('print secrets as environment variables: dotenv or JSON (each reveal audited)')
    .option('--format <format>', 'dotenv or json', 'dotenv')
    .option('--prefix <prefix>', 'only secrets whose name starts with it; it is left out of the variable’s name')
    .option('--reason <why>', 'recorded in the audit log with each reveal', 'custodian export (CLI)')
    .option('--progress', 'show a progress bar on standard error while the secrets are read')
    .action(async (options: { format: string; prefix?: string; reason: string; progress?: boolean }) => {
      if (options.format !== 'dotenv' && options.format !== 'json') throw new CliError('--format: dotenv or json')
      const prefix = options.prefix ?? ''
      const revealed = await withClient((client) =>
        revealAll(client, {
          prefix,
          reason: options.reason,
          progress: options.progress === true || process.stderr.isTTY,
        }),
      )
      let text: string
      try {
        const variables = secretsToEnv(revealed, prefix)
        text =
          options.format === 'json'
            ? `${JSON.stringify(Object.fromEntries(variables), null, 2)}\n`
            : toDotenv(variables)
      } catch (error) {
        throw new CliError((error as Error).message)
      }
      process.stdout.write(text)
    })
}
