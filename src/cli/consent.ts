import { readFileSync } from 'node:fs'
import type { Command } from 'commander'
import { verifyConsentReceipt } from '../modules/consent/consent.receipts.ts'

/**
 * `custodian consent verify-receipt FILE`: checks a consent receipt offline — no service,
 * no database — as `GET /v1/orgs/{orgId}/consent/receipts/{eventId}` answered it: the
 * signature against the Ed25519 public key of `GET /v1/audit/keys`, the inclusion proof of
 * its audit event against a checkpoint signed by the org log's verifier key, and that the
 * two say the same thing (verifyConsentReceipt). Exits 1 on any failure.
 */
export function registerConsent(program: Command): void {
  const consent = program.command('consent').description('consent (P7.7): offline checks')
  consent
    .command('verify-receipt')
    .description('verify a consent receipt offline (signature and inclusion proof); exits 1 if it does not verify')
    .argument('<file>', 'the receipt as the API answers it (JSON with `jws` and `receipt`)')
    .requiredOption('--public-key <base64url>', 'the Ed25519 public key to trust (publicKey of GET /v1/audit/keys)')
    .requiredOption(
      '--log-key <vkey>',
      'the verifier key of the org’s audit log (verifierKey of GET /v1/audit/keys?org=<org id>)',
    )
    .option('--witness <vkeys...>', 'witness verifier keys whose cosignatures count')
    .option('--quorum <n>', 'how many of the --witness keys must have cosigned (default: all)')
    .option('--json', 'print the verified receipt payload as JSON')
    .action(async (file: string, options: VerifyReceiptOptions) => {
      const fail = (message: string) => {
        process.stdout.write(`FAIL ${message}\n`)
        process.exitCode = 1
      }
      let document: unknown
      try {
        document = JSON.parse(readFileSync(file, 'utf8'))
      } catch (error) {
        fail(`${file} is not a JSON file: ${(error as Error).message}`)
        return
      }
      const witnessKeys = options.witness ?? []
      const quorum = options.quorum === undefined ? witnessKeys.length : Number(options.quorum)
      if (!Number.isSafeInteger(quorum) || quorum < 0 || quorum > witnessKeys.length) {
        fail(`--quorum must be a whole number from 0 to ${witnessKeys.length}`)
        return
      }
      const check = await verifyConsentReceipt(document, {
        publicKey: options.publicKey,
        logKey: options.logKey,
        witnessKeys,
        quorum,
      })
      if (!check.ok || check.payload === undefined) {
        fail(`the consent receipt does not verify: ${check.problems.join('; ')}`)
        return
      }
      const p = check.payload
      if (options.json) process.stdout.write(`${JSON.stringify(p, null, 2)}\n`)
      else
        process.stdout.write(
          `OK   consent receipt ${p.consentReceiptID}: ${p.action} of ${p.purposes[0]?.purpose ?? ''} (${p.purposes[0]?.lawfulBasis ?? ''}) for org ${p.event.org}, collected ${p.collectedAt}; event seq ${String(check.seq)} of the org’s log (size ${String(check.size)}${check.cosignedBy.length > 0 ? `, cosigned by ${check.cosignedBy.join(', ')}` : ''})\n`,
        )
    })
}

interface VerifyReceiptOptions {
  publicKey: string
  logKey: string
  witness?: string[]
  quorum?: string
  json?: boolean
}
