import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Command } from 'commander'
import { verifyJws } from '../crypto/jws.ts'
import { LibraryUnavailable } from '../on-first-use.ts'
import { ed25519KeyId } from '../crypto/keys.ts'
import { SIGNATURE_TYPE, type SignedDocument } from '../modules/compliance/report.ts'

/**
 * `custodian verify-report`: checks a compliance report, a security policy or an evidence
 * bundle's manifest offline — no service, no database — against the Ed25519 public key
 * published at `GET /v1/audit/keys`: the detached signature (the `Custodian-Signature` header
 * saved to a file, or the bundle's `.jws`) must be a valid EdDSA JWS of type
 * `custodian-document+jws` whose payload names the file's SHA-256. Exits 1 on any failure.
 */
export function registerVerifyReport(program: Command): void {
  program
    .command('verify-report')
    .description(
      'verify a signed compliance report, security policy or evidence manifest offline; exits 1 if it does not verify',
    )
    .requiredOption('--file <path>', 'the document as downloaded (JSON, HTML or PDF), byte for byte')
    .requiredOption(
      '--signature <path>',
      'a file holding its detached signature: the Custodian-Signature header’s value (a compact JWS)',
    )
    .requiredOption('--public-key <base64url>', 'the Ed25519 public key to trust (from GET /v1/audit/keys)')
    .option('--json', 'print the signed statement as JSON')
    .action(async (options: { file: string; signature: string; publicKey: string; json?: boolean }) => {
      const fail = (message: string) => {
        process.stdout.write(options.json ? `${JSON.stringify({ ok: false, error: message })}\n` : `FAIL ${message}\n`)
        process.exitCode = 1
      }
      let bytes: Buffer
      let jws: string
      try {
        bytes = readFileSync(options.file)
        jws = readFileSync(options.signature, 'utf8').trim()
      } catch (error) {
        fail(`cannot read: ${(error as Error).message}`)
        return
      }
      const keys = new Map([[ed25519KeyId(Buffer.from(options.publicKey, 'base64url')), options.publicKey]])
      let verified: Awaited<ReturnType<typeof verifyJws>>
      try {
        verified = await verifyJws(jws, keys)
      } catch (error) {
        if (error instanceof LibraryUnavailable) throw error
        const message = (error as Error).message
        const given = ed25519KeyId(Buffer.from(options.publicKey, 'base64url'))
        fail(
          message.startsWith('signed by an unknown key')
            ? `the signature is not by the key given (${given}): ${message.replace('signed by an unknown key ', 'it names key ')}; take the public key of that id from GET /v1/audit/keys (the publicKey field, not verifierKey)`
            : `the signature does not verify: ${message}`,
        )
        return
      }
      if (verified.header.typ !== SIGNATURE_TYPE) {
        fail(`the signature is valid but is not a document signature (typ ${String(verified.header.typ)})`)
        return
      }
      const statement = verified.payload as Partial<SignedDocument>
      const digest = createHash('sha256').update(bytes).digest('hex')
      if (statement.sha256 !== digest) {
        fail(
          `the signature is valid, but for another document: the file’s SHA-256 is ${digest}, the signature names ${String(statement.sha256)}`,
        )
        return
      }
      let summary = ''
      if (statement.document === 'compliance-report' && statement.format === 'json') {
        const report = JSON.parse(bytes.toString('utf8')) as {
          summary?: { promises?: { met?: number; notMet?: number; notApplicable?: number } }
        }
        const p = report.summary?.promises
        if (p !== undefined)
          summary = `; promises met ${String(p.met)}, not met ${String(p.notMet)}, not applicable ${String(p.notApplicable)}`
      }
      if (statement.document === 'evidence-manifest' && statement.format === 'json') {
        const manifest = JSON.parse(bytes.toString('utf8')) as { files?: unknown[] }
        if (Array.isArray(manifest.files))
          summary = `; ${String(manifest.files.length)} files, each to check against its SHA-256 in the manifest`
      }
      if (options.json) process.stdout.write(`${JSON.stringify({ ok: true, ...statement }, null, 2)}\n`)
      else
        process.stdout.write(
          `OK   ${String(statement.document)} (${String(statement.format)}) ${String(statement.id)} of org ${String(statement.orgId)}, generated ${String(statement.generatedAt)}, signed by ${ed25519KeyId(Buffer.from(options.publicKey, 'base64url'))}${summary}\n`,
        )
    })
}
