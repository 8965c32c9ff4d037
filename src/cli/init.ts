import { existsSync, mkdirSync } from 'node:fs'
import path from 'node:path'
import type { Command } from 'commander'
import { loadConfig } from '../config.ts'
import { initShamir } from '../crypto/providers/shamir.ts'
import { printJson, withServices } from './context.ts'
import { printMigrationProgress } from '../db/migrate.ts'

export function registerInit(program: Command): void {
  program
    .command('init')
    .description(
      'create the data directory and keys, apply migrations, and print a one-time bootstrap token (valid 1 hour); with CUSTODIAN_ROOT_KEY_PROVIDER=shamir, split a new root key and print its unseal shares once',
    )
    .option('--json', 'print {"bootstrapToken": "…"} (and "unsealShares") for automation')
    .option('--shares <m>', 'shamir: how many unseal shares to make', '5')
    .option('--threshold <n>', 'shamir: how many shares unseal the vault', '3')
    .action(async (options: { json?: boolean; shares: string; threshold: string }) => {
      const config = loadConfig()
      let unsealShares: string[] | undefined
      if (config.rootKeyProvider === 'shamir' && !existsSync(config.shamirFile)) {
        mkdirSync(path.dirname(config.shamirFile), { recursive: true, mode: 0o700 })
        unsealShares = (await initShamir(config.shamirFile, Number(options.shares), Number(options.threshold))).shares
      }
      // Migration progress on stdout, so a first start's minute is not silent; --json keeps stdout to the JSON.
      const progress = options.json ? undefined : printMigrationProgress((line) => process.stdout.write(`${line}\n`))
      await withServices({ createRootKey: true, progress }, async ({ identity }) => {
        const bootstrapped = await identity.auth.isBootstrapped()
        const issued = bootstrapped ? undefined : await identity.auth.issueBootstrapToken()
        if (options.json) {
          printJson({
            ...(issued === undefined
              ? { bootstrapped: true }
              : { bootstrapToken: issued.token, expiresAt: issued.expiresAt.toISOString() }),
            ...(unsealShares === undefined ? {} : { unsealShares }),
          })
          return
        }
        if (unsealShares !== undefined) {
          process.stdout.write(
            `Root key split into ${unsealShares.length} unseal shares; any ${options.threshold} unseal the vault. They are shown now and never again:\n` +
              unsealShares.map((s, i) => `  share ${i + 1}: ${s}\n`).join('') +
              'Give each to a different person. The service starts sealed; unseal it with `custodian unseal`.\n',
          )
        }
        if (issued === undefined) {
          process.stdout.write('Already bootstrapped. Owners issue API tokens; see `custodian token create`.\n')
          return
        }
        process.stdout.write(
          `Initialized ${config.databaseUrl === undefined ? `embedded database in ${config.dataDir}` : 'PostgreSQL database'}.\n` +
            `One-time bootstrap token (valid until ${issued.expiresAt.toISOString()}):\n  ${issued.token}\n` +
            'Start the service (`custodian serve`) and POST it to /v1/bootstrap with {"token", "orgName", "email", "password"}.\n',
        )
      })
    })
}
