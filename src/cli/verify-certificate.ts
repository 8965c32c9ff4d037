import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Command } from 'commander'
import { verifyJws } from '../crypto/jws.ts'
import { ed25519KeyId } from '../crypto/keys.ts'

/**
 * `custodian verify-certificate`: checks an erasure or offboarding certificate offline —
 * no service, no database — against the Ed25519 public key published at
 * `GET /v1/audit/keys`. With `--subject` and `--salt`, also checks that an erasure
 * certificate names that data subject. Exits 1 on any failure.
 */
export function registerVerifyCertificate(program: Command): void {
  program
    .command('verify-certificate')
    .description('verify a signed erasure or offboarding certificate offline; exits 1 if it does not verify')
    .requiredOption(
      '--file <path>',
      'the certificate: a compact JWS (the `jws` field the API returns), or a JSON file holding one in `jws`',
    )
    .requiredOption('--public-key <base64url>', 'the Ed25519 public key to trust (from GET /v1/audit/keys)')
    .option('--subject <id>', 'with --salt: check that the certificate names this data subject')
    .option('--salt <base64url>', 'the salt handed over with the certificate')
    .option('--json', 'print the verified payload as JSON')
    .action(async (options: { file: string; publicKey: string; subject?: string; salt?: string; json?: boolean }) => {
      const text = readFileSync(options.file, 'utf8').trim()
      const field = text.startsWith('{') ? (JSON.parse(text) as { jws?: unknown }).jws : text
      const jws = typeof field === 'string' ? field : ''
      const keys = new Map([[ed25519KeyId(Buffer.from(options.publicKey, 'base64url')), options.publicKey]])
      let payload: Record<string, unknown>
      try {
        payload = (await verifyJws(jws, keys)).payload
      } catch (error) {
        process.stdout.write(`FAIL the certificate does not verify: ${(error as Error).message}\n`)
        process.exitCode = 1
        return
      }
      if (options.subject !== undefined || options.salt !== undefined) {
        if (options.subject === undefined || options.salt === undefined) {
          process.stdout.write('FAIL --subject and --salt go together\n')
          process.exitCode = 1
          return
        }
        const expected = `sha256:${createHash('sha256').update(Buffer.from(options.salt, 'base64url')).update(options.subject, 'utf8').digest('hex')}`
        if ((payload.subject as { commitment?: unknown } | undefined)?.commitment !== expected) {
          process.stdout.write(
            'FAIL the signature is valid, but the certificate does not name that subject (or the salt is wrong)\n',
          )
          process.exitCode = 1
          return
        }
      }
      if (options.json) process.stdout.write(`${JSON.stringify(payload, null, 2)}\n`)
      else
        process.stdout.write(
          `OK   ${String(payload.type)} certificate ${String(payload.id)} for org ${String(payload.org)}, issued ${String(payload.issuedAt)}, signed by ${ed25519KeyId(Buffer.from(options.publicKey, 'base64url'))}\n`,
        )
    })
}
