import type { Command } from 'commander'
import { printJson, withServices } from './context.ts'

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('create the data directory and root key, apply migrations, and print a one-time bootstrap token (valid 1 hour)')
    .option('--json', 'print {"bootstrapToken": "…"} for automation')
    .action(async (options: { json?: boolean }) => {
      await withServices({ createRootKey: true }, async ({ identity, config }) => {
        if (await identity.auth.isBootstrapped()) {
          if (options.json) printJson({ bootstrapped: true })
          else process.stdout.write('Already bootstrapped: nothing to do. Owners issue API tokens; see `custodian token create`.\n')
          return
        }
        const { token, expiresAt } = await identity.auth.issueBootstrapToken()
        if (options.json) {
          printJson({ bootstrapToken: token, expiresAt: expiresAt.toISOString() })
          return
        }
        process.stdout.write(
          `Initialized ${config.databaseUrl === undefined ? `embedded database in ${config.dataDir}` : 'PostgreSQL database'}; root key: ${config.rootKeyFile}\n` +
            `One-time bootstrap token (valid until ${expiresAt.toISOString()}):\n  ${token}\n` +
            'Start the service (`custodian serve`) and POST it to /v1/bootstrap with {"token", "orgName", "email", "password"}.\n',
        )
      })
    })
}
