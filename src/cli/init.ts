import { existsSync, mkdirSync } from 'node:fs'
import path from 'node:path'
import { Type } from '@sinclair/typebox'
import type { Command } from 'commander'
import { loadConfig } from '../config.ts'
import { defineControlCommand } from '../control/control.command.ts'
import { initShamir } from '../crypto/providers/shamir.ts'
import { refuseBesideService, runCommand } from './command-runner.ts'
import { jsonText } from './context.ts'

/**
 * `custodian init`: never beside a running service — the service made the directory, its
 * keys and database when it started, and a second root key must not be split for it.
 */
export const initCommand = defineControlCommand({
  name: 'init',
  input: Type.Object(
    {
      json: Type.Optional(Type.Boolean()),
      threshold: Type.String(),
      /** The unseal shares made just before (shamir, first init): printed once, here. */
      unsealShares: Type.Optional(Type.Array(Type.String())),
    },
    { additionalProperties: false },
  ),
  needs: 'services',
  createRootKey: true,
  besideService:
    'it is initialized already (the service made its database and keys); for a new bootstrap token run `custodian bootstrap-token`',
  printsOpening: (input) => input.json !== true,
  async handler(input, { services, out }) {
    const { identity, config } = services
    const { unsealShares } = input
    const bootstrapped = await identity.auth.isBootstrapped()
    const issued = bootstrapped ? undefined : await identity.auth.issueBootstrapToken()
    if (input.json === true) {
      out.stdout(
        jsonText({
          ...(issued === undefined
            ? { bootstrapped: true }
            : { bootstrapToken: issued.token, expiresAt: issued.expiresAt.toISOString() }),
          ...(unsealShares === undefined ? {} : { unsealShares }),
        }),
      )
      return
    }
    if (unsealShares !== undefined) {
      out.stdout(
        `Root key split into ${unsealShares.length} unseal shares; any ${input.threshold} unseal the vault. They are shown now and never again:\n` +
          unsealShares.map((s, i) => `  share ${i + 1}: ${s}\n`).join('') +
          'Give each to a different person. The service starts sealed; unseal it with `custodian unseal`.\n',
      )
    }
    if (issued === undefined) {
      out.stdout('Already bootstrapped. Owners issue API tokens; see `custodian token create`.\n')
      return
    }
    out.stdout(
      `Initialized ${config.databaseUrl === undefined ? `embedded database in ${config.dataDir}` : 'PostgreSQL database'}.\n` +
        `One-time bootstrap token (valid until ${issued.expiresAt.toISOString()}):\n  ${issued.token}\n` +
        'Start the service (`custodian serve`) and POST it to /v1/bootstrap with {"token", "orgName", "email", "password"}.\n',
    )
  },
})

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
      // Before any key is split: a running service refuses the command anyway.
      refuseBesideService(initCommand, config)
      let unsealShares: string[] | undefined
      if (config.rootKeyProvider === 'shamir' && !existsSync(config.shamirFile)) {
        mkdirSync(path.dirname(config.shamirFile), { recursive: true, mode: 0o700 })
        unsealShares = (await initShamir(config.shamirFile, Number(options.shares), Number(options.threshold))).shares
      }
      await runCommand(initCommand, { json: options.json, threshold: options.threshold, unsealShares })
    })
}
