import { Type } from '@sinclair/typebox'
import type { Command } from 'commander'
import { cliMeta, defineControlCommand } from '../control/control.command.ts'
import { runCommand } from './command-runner.ts'
import { jsonText } from './context.ts'

/** `custodian bootstrap-token`: a new one-time bootstrap token, retiring any unused one. */
export const bootstrapTokenCommand = defineControlCommand({
  name: 'bootstrap-token',
  input: Type.Object({ json: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
  needs: 'services',
  createRootKey: true,
  async handler(input, { services, out }) {
    const { token, expiresAt } = await services.identity.auth.issueBootstrapToken()
    if (input.json === true) out.stdout(jsonText({ bootstrapToken: token, expiresAt: expiresAt.toISOString() }))
    else out.stdout(`One-time bootstrap token (valid until ${expiresAt.toISOString()}):\n  ${token}\n`)
  },
})

/** `custodian token create`: break-glass API token for a member or service account, audited as `system:cli`. */
export const tokenCreateCommand = defineControlCommand({
  name: 'token create',
  input: Type.Object(
    {
      org: Type.String(),
      email: Type.Optional(Type.String()),
      serviceAccount: Type.Optional(Type.String()),
      name: Type.String(),
      expiresDays: Type.String(),
      scopes: Type.Optional(Type.String()),
      json: Type.Optional(Type.Boolean()),
    },
    { additionalProperties: false },
  ),
  needs: 'services',
  async handler(input, { services, out, origin }) {
    if ((input.email === undefined) === (input.serviceAccount === undefined)) {
      throw new Error('give exactly one of --email and --service-account')
    }
    const days = Number(input.expiresDays)
    if (!Number.isInteger(days) || days < 1)
      throw new Error('--expires-days must be a whole number of days, at least 1')
    const created = await services.identity.identity.createTokenAsAdmin({
      orgId: input.org,
      email: input.email,
      serviceAccount: input.serviceAccount,
      name: input.name,
      expiresInDays: days,
      scopes: input.scopes
        ?.split(',')
        .map((s) => s.trim())
        .filter((s) => s !== ''),
      meta: cliMeta(origin),
    })
    if (input.json === true) out.stdout(jsonText(created))
    else out.stdout(`API token ${created.id} (expires ${created.expiresAt}); shown once:\n  ${created.token}\n`)
  },
})

/** Break-glass administration over the owner connection; every action is audited as `system:cli`. */
export function registerAdmin(program: Command): void {
  program
    .command('bootstrap-token')
    .description('issue a new one-time bootstrap token (valid 1 hour), retiring any unused one; only before bootstrap')
    .option('--json', 'print {"bootstrapToken": "…"}')
    .action(async (options: { json?: boolean }) => {
      await runCommand(bootstrapTokenCommand, options)
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
        await runCommand(tokenCreateCommand, options)
      },
    )
}
