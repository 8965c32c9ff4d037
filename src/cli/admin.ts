import type { Command } from 'commander'
import { printJson, withServices } from './context.ts'

/** Break-glass administration over the owner connection; every action is audited as `system:cli`. */
export function registerAdmin(program: Command): void {
  program
    .command('bootstrap-token')
    .description('issue a new one-time bootstrap token (valid 1 hour), retiring any unused one; only before bootstrap')
    .option('--json', 'print {"bootstrapToken": "…"}')
    .action(async (options: { json?: boolean }) => {
      await withServices({ createRootKey: true }, async ({ identity }) => {
        const { token, expiresAt } = await identity.auth.issueBootstrapToken()
        if (options.json) printJson({ bootstrapToken: token, expiresAt: expiresAt.toISOString() })
        else process.stdout.write(`One-time bootstrap token (valid until ${expiresAt.toISOString()}):\n  ${token}\n`)
      })
    })

  const token = program.command('token').description('API tokens')
  token
    .command('create')
    .description('issue an API token for a member (--email) or a service account (--service-account) of an org')
    .requiredOption('--org <id>', 'org id')
    .option('--email <email>', 'a member of the org')
    .option('--service-account <name>', 'a service account of the org')
    .requiredOption('--name <name>', 'what the token is for')
    .option('--expires-days <days>', 'lifetime in days', '90')
    .option('--scopes <list>', 'comma-separated permissions (default: all of the holder’s)')
    .option('--json', 'print the token and its metadata as JSON')
    .action(
      async (options: {
        org: string
        email?: string
        serviceAccount?: string
        name: string
        expiresDays: string
        scopes?: string
        json?: boolean
      }) => {
        if ((options.email === undefined) === (options.serviceAccount === undefined)) {
          throw new Error('give exactly one of --email and --service-account')
        }
        const days = Number(options.expiresDays)
        if (!Number.isInteger(days) || days < 1)
          throw new Error('--expires-days must be a whole number of days, at least 1')
        await withServices({ createRootKey: false }, async ({ identity }) => {
          const created = await identity.identity.createTokenAsAdmin({
            orgId: options.org,
            email: options.email,
            serviceAccount: options.serviceAccount,
            name: options.name,
            expiresInDays: days,
            scopes: options.scopes
              ?.split(',')
              .map((s) => s.trim())
              .filter((s) => s !== ''),
          })
          if (options.json) printJson(created)
          else
            process.stdout.write(
              `API token ${created.id} (expires ${created.expiresAt}); shown once:\n  ${created.token}\n`,
            )
        })
      },
    )
}
