import { readFileSync } from 'node:fs'
import type { Command } from 'commander'
import { Custodian } from '@custodian/client'
import { CliError, readHidden, removeLogin, saveLogin, withClient } from './remote.ts'

/**
 * `custodian login --url …`: checks an API token against the service (GET /v1/me) and
 * keeps it for the day-to-day commands (src/cli/remote.ts says where and how). The token
 * is read from standard input or a prompt that does not echo it — never from an argument,
 * which any user could read in the process list.
 */
export function registerLogin(program: Command): void {
  program
    .command('login')
    .description(
      'keep an API token for the day-to-day commands (read from standard input, or asked for without echo); stored mode 0600 in $XDG_CONFIG_HOME/custodian (~/.config/custodian)',
    )
    .requiredOption('--url <url>', 'the service, e.g. https://custodian.internal:8443')
    .option('--ca <file>', 'the CA (PEM) that signed its certificate, or its self-signed certificate')
    .option('--org <id>', 'the org to work in (default: the token’s own)')
    .action(async (options: { url: string; ca?: string; org?: string }) => {
      let ca: string | undefined
      if (options.ca !== undefined) {
        try {
          ca = readFileSync(options.ca, 'utf8')
        } catch (error) {
          throw new CliError(`--ca: cannot read ${options.ca} (${(error as NodeJS.ErrnoException).code ?? 'error'})`)
        }
        if (!ca.includes('-----BEGIN CERTIFICATE-----'))
          throw new CliError(`--ca: ${options.ca} holds no PEM certificate`)
      }
      const token = (await readHidden('API token: ')).trim()
      if (token === '') throw new CliError('no token read (pipe it in, or type it at the prompt)')
      const client = new Custodian({
        url: options.url,
        token,
        ...(ca === undefined ? {} : { ca }),
        ...(options.org === undefined ? {} : { orgId: options.org }),
        userAgent: 'custodian-cli',
      })
      try {
        const me = await client.me()
        const orgId = options.org ?? me.orgId
        const file = saveLogin({ url: new URL(options.url).origin, orgId, token, ...(ca === undefined ? {} : { ca }) })
        process.stdout.write(
          `Logged in to ${new URL(options.url).origin} as ${me.kind} ${me.id} (${me.role}) in org ${orgId}.\nToken kept in ${file} (mode 0600).\n`,
        )
      } finally {
        await client.close({ timeoutMs: 0 })
      }
    })

  program
    .command('logout')
    .description('forget the stored token; with --revoke, revoke it at the service first')
    .option('--revoke', 'also revoke the token (POST /v1/logout): it stops working everywhere')
    .action(async (options: { revoke?: boolean }) => {
      // Revoked first: should the service refuse, the token stays stored and the error says why.
      if (options.revoke === true) await withClient((client) => client.revokeToken())
      process.stdout.write(removeLogin() ? 'Logged out.\n' : 'Not logged in.\n')
    })
}
