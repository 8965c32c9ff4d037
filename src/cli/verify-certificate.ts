import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Command } from 'commander'
import { verifyJws } from '../crypto/jws.ts'
import { LibraryUnavailable } from '../on-first-use.ts'
import { ed25519KeyId } from '../crypto/keys.ts'
import { checkCertificateReceipt } from '../modules/privacy/certificate-receipt.ts'
import { CERTIFICATE_TYPE } from '../modules/privacy/certificates.ts'
import { OFFBOARDING_CERTIFICATE_TYPE } from '../modules/privacy/offboarding.service.ts'

/**
 * The JWS `typ` of each certificate and the payload `type` it carries. The same key signs
 * compliance documents, consent receipts and decision tokens: a valid signature is not
 * enough, it must be a certificate's (RFC 8725 §3.11, explicit typing).
 */
const CERTIFICATE_TYPES: ReadonlyMap<string, string> = new Map([
  [CERTIFICATE_TYPE, 'erasure'],
  [OFFBOARDING_CERTIFICATE_TYPE, 'offboarding'],
])

/**
 * `custodian verify-certificate`: checks an erasure or offboarding certificate offline —
 * no service, no database — against the Ed25519 public key published at
 * `GET /v1/audit/keys`. With `--subject` and `--salt`, also checks that an erasure
 * certificate names that data subject; with `--log-key`, that the receipt served with it
 * proves its issuance is in the audit log (checkCertificateReceipt). Exits 1 on any failure.
 */
export function registerVerifyCertificate(program: Command): void {
  program
    .command('verify-certificate')
    .description('verify a signed erasure or offboarding certificate offline; exits 1 if it does not verify')
    .requiredOption(
      '--file <path>',
      'the certificate: a compact JWS, or the JSON the API returns for one (its `jws` or `certificate` field, and its `receipt`)',
    )
    .requiredOption('--public-key <base64url>', 'the Ed25519 public key to trust (from GET /v1/audit/keys)')
    .option('--subject <id>', 'with --salt: check that the certificate names this data subject')
    .option('--salt <base64url>', 'the salt handed over with the certificate')
    .option(
      '--log-key <vkey>',
      'also check the receipt in the file: the verifier key of the log holding the certificate’s event (verifierKey of GET /v1/audit/keys?org=<the auditEvent’s org>)',
    )
    .option('--witness <vkeys...>', 'with --log-key: witness verifier keys whose cosignatures count')
    .option('--quorum <n>', 'with --log-key: how many of the --witness keys must have cosigned (default: all)')
    .option('--json', 'print the verified payload as JSON')
    .action(async (options: VerifyCertificateOptions) => {
      const fail = (message: string) => {
        process.stdout.write(`FAIL ${message}\n`)
        process.exitCode = 1
      }
      const text = readFileSync(options.file, 'utf8').trim()
      let document: { jws?: unknown; certificate?: unknown; receipt?: unknown } = {}
      if (text.startsWith('{')) {
        try {
          document = JSON.parse(text) as typeof document
        } catch (error) {
          fail(`${options.file} is not JSON: ${(error as Error).message}`)
          return
        }
      }
      const field = text.startsWith('{') ? (document.jws ?? document.certificate) : text
      const jws = typeof field === 'string' ? field : ''
      const keys = new Map([[ed25519KeyId(Buffer.from(options.publicKey, 'base64url')), options.publicKey]])
      let payload: Record<string, unknown>
      try {
        const verified = await verifyJws(jws, keys)
        const kind = CERTIFICATE_TYPES.get(String(verified.header.typ))
        if (kind === undefined || verified.payload.type !== kind) {
          fail(`the signature is valid but is not a certificate (typ ${String(verified.header.typ)})`)
          return
        }
        payload = verified.payload
      } catch (error) {
        if (error instanceof LibraryUnavailable) throw error
        fail(`the certificate does not verify: ${(error as Error).message}`)
        return
      }
      if (options.subject !== undefined || options.salt !== undefined) {
        if (options.subject === undefined || options.salt === undefined) {
          fail('--subject and --salt go together')
          return
        }
        // Exactly the service's 16-byte salt (requests.service.ts, `erase`): the commitment has
        // no boundary between salt and subject id, so a longer salt could carry the first bytes
        // of another subject's id (subject 142's certificate "naming" 42 with salt + "1").
        if (!/^[A-Za-z0-9_-]{22}$/.test(options.salt)) {
          fail('--salt is not the salt the service hands over (22 base64url characters, 16 bytes)')
          return
        }
        const expected = `sha256:${createHash('sha256').update(Buffer.from(options.salt, 'base64url')).update(options.subject, 'utf8').digest('hex')}`
        if ((payload.subject as { commitment?: unknown } | undefined)?.commitment !== expected) {
          fail('the signature is valid, but the certificate does not name that subject (or the salt is wrong)')
          return
        }
      }
      const named = options.subject === undefined ? '' : '; it names the subject given (--subject, --salt)'
      let logged = ''
      if (options.logKey !== undefined) {
        if (document.receipt === undefined || document.receipt === null) {
          fail('--log-key given, but the file holds no receipt (ask again once a signed checkpoint covers the event)')
          return
        }
        const witnesses = options.witness ?? []
        const quorum = options.quorum === undefined ? witnesses.length : Number(options.quorum)
        if (!Number.isSafeInteger(quorum) || quorum < 0 || quorum > witnesses.length) {
          fail(`--quorum must be a whole number from 0 to ${witnesses.length}`)
          return
        }
        const check = checkCertificateReceipt(payload, document.receipt, options.logKey, witnesses, quorum)
        if (!check.ok) {
          fail(
            `the signature is valid, but the receipt does not prove the certificate is logged: ${check.problems.join('; ')}`,
          )
          return
        }
        logged = `; its issuance is event seq ${String(check.seq)} of the log of org ${String(check.auditEvent?.org)} (size ${String(check.size)}${check.cosignedBy.length > 0 ? `, cosigned by ${check.cosignedBy.join(', ')}` : ''})`
      } else if (document.receipt !== undefined && document.receipt !== null) {
        logged = '; the receipt in the file was not checked (pass --log-key)'
      }
      if (options.json) process.stdout.write(`${JSON.stringify(payload, null, 2)}\n`)
      else
        process.stdout.write(
          `OK   ${String(payload.type)} certificate ${String(payload.id)} for org ${String(payload.org)}, issued ${String(payload.issuedAt)}, signed by ${ed25519KeyId(Buffer.from(options.publicKey, 'base64url'))}${named}${logged}\n`,
        )
    })
}

interface VerifyCertificateOptions {
  file: string
  publicKey: string
  subject?: string
  salt?: string
  logKey?: string
  witness?: string[]
  quorum?: string
  json?: boolean
}
