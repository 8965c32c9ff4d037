import type { Command } from 'commander'
import type { SecretType } from '@custodian/client'
import { CliError, printJson, readHidden, withClient } from './remote.ts'
import { valueText } from './secret-env.ts'

const TYPES: readonly SecretType[] = ['generic', 'api_key', 'database_credential']

/**
 * `custodian secrets list|get|set|rm`, against the running service (`custodian login`).
 * A value is read from standard input or a prompt without echo — never an argument, which
 * the process list shows — and printed only by `get`, to standard output.
 */
export function registerSecrets(program: Command): void {
  const secrets = program.command('secrets').description('the org’s secrets, over the API (after `custodian login`)')

  secrets
    .command('list')
    .description('secrets (names and metadata, never values), by name')
    .option('--prefix <prefix>', 'only names that start with it')
    .option('--json', 'print the metadata as JSON')
    .action(async (options: { prefix?: string; json?: boolean }) => {
      const list = await withClient((client) =>
        client.secrets.list(options.prefix === undefined ? {} : { prefix: options.prefix }),
      )
      if (options.json === true) {
        printJson(list)
        return
      }
      if (list.length === 0) {
        process.stdout.write('No secrets.\n')
        return
      }
      const width = Math.max(4, ...list.map((s) => s.name.length))
      process.stdout.write(`${'NAME'.padEnd(width)}  TYPE                 VERSION  UPDATED\n`)
      for (const s of list) {
        const flags = [s.paused ? 'paused' : '', s.exposed ? 'exposed' : ''].filter((f) => f !== '').join(',')
        process.stdout.write(
          `${s.name.padEnd(width)}  ${s.type.padEnd(19)}  ${String(s.currentVersion).padStart(7)}  ${s.updatedAt}${flags === '' ? '' : `  ${flags}`}\n`,
        )
      }
    })

  secrets
    .command('get')
    .description('reveal a value to standard output (audited with the reason)')
    .argument('<name>', 'the secret’s name')
    .option('--reason <why>', 'recorded in the audit log', 'custodian secrets get (CLI)')
    .option('--version <n>', 'an older version')
    .option('--json', 'print the name, type, version and value as JSON')
    .action(async (name: string, options: { reason: string; version?: string; json?: boolean }) => {
      const version = options.version === undefined ? undefined : Number(options.version)
      if (version !== undefined && (!Number.isInteger(version) || version < 1))
        throw new CliError('--version: a version number, 1 or more')
      const revealed = await withClient((client) =>
        client.secrets.get(name, { reason: options.reason, ...(version === undefined ? {} : { version }) }),
      )
      if (options.json === true) printJson(revealed)
      else process.stdout.write(`${valueText(revealed.value)}\n`)
    })

  secrets
    .command('set')
    .description(
      'store a value under a name (a new secret, or its next version), read from standard input or asked for without echo',
    )
    .argument('<name>', 'the secret’s name (letters, digits, . _ / -)')
    .option('--type <type>', `for a new secret: ${TYPES.join(', ')} (default generic)`)
    .option('--description <text>', 'for a new secret')
    .option('--json-value', 'the value is JSON (a database credential: host, port, database, user, password, sslmode)')
    .action(async (name: string, options: { type?: string; description?: string; jsonValue?: boolean }) => {
      if (options.type !== undefined && !TYPES.includes(options.type as SecretType))
        throw new CliError(`--type: one of ${TYPES.join(', ')}`)
      const text = await readHidden(`Value of ${name}: `)
      if (text === '') throw new CliError('no value read (pipe it in, or type it at the prompt)')
      let value: string | Record<string, unknown> = text
      if (options.jsonValue === true) {
        try {
          value = JSON.parse(text) as Record<string, unknown>
        } catch {
          throw new CliError('--json-value: the value read is not JSON')
        }
      }
      const stored = await withClient((client) =>
        client.secrets.set(name, value as Parameters<typeof client.secrets.set>[1], {
          ...(options.type === undefined ? {} : { type: options.type as SecretType }),
          ...(options.description === undefined ? {} : { description: options.description }),
        }),
      )
      process.stdout.write(`Stored ${stored.name}, version ${stored.currentVersion}.\n`)
    })

  secrets
    .command('rm')
    .description('delete a secret: every version is destroyed (crypto-erasure)')
    .argument('<name>', 'the secret’s name')
    .option('--yes', 'confirm: the values cannot be recovered')
    .action(async (name: string, options: { yes?: boolean }) => {
      if (options.yes !== true) throw new CliError(`deleting ${name} destroys every version: add --yes to confirm`)
      await withClient((client) => client.secrets.remove(name))
      process.stdout.write(`Deleted ${name}.\n`)
    })
}
