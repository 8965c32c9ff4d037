import { readFileSync } from 'node:fs'
import type { Command } from 'commander'
import { ed25519KeyId } from '../crypto/keys.ts'
import type { VerifyResult } from '../modules/audit/audit.format.ts'
import { verifyExport } from '../modules/audit/audit.export.ts'
import { printJson, withServices } from './context.ts'

export function registerAudit(program: Command): void {
  const audit = program.command('audit').description('the tamper-evident audit log')
  audit
    .command('verify')
    .description('verify audit chains in the database (every org, or --org), or an exported file (--file); exits 1 on any problem')
    .option('--org <id>', 'only this org')
    .option('--file <path>', 'verify a JSON Lines export offline instead of the database')
    .option('--public-key <base64url>', 'with --file: the Ed25519 public key to trust (from GET /v1/audit/keys), instead of the file’s own')
    .option('--json', 'print the results as JSON')
    .action(async (options: { org?: string; file?: string; publicKey?: string; json?: boolean }) => {
      let results: VerifyResult[]
      if (options.file !== undefined) {
        const pinned = options.publicKey === undefined ? undefined : new Map([[ed25519KeyId(Buffer.from(options.publicKey, 'base64url')), options.publicKey]])
        const result = await verifyExport(readFileSync(options.file, 'utf8'), pinned)
        if (result.keysFrom === 'file' && !options.json) {
          process.stderr.write('note: trusting the signing key named in the file itself; pin it with --public-key for a third-party check\n')
        }
        results = [result]
      } else {
        results = await withServices({ createRootKey: false }, async ({ audit: module }) => {
          await module.sequencer.flush()
          return options.org === undefined ? module.service.verifyAll() : [await module.service.verify(options.org)]
        })
      }
      if (options.json) printJson(results)
      else if (results.length === 0) process.stdout.write('No audit events yet.\n')
      else for (const r of results) printResult(r)
      if (results.some((r) => !r.ok)) process.exitCode = 1
    })
}

function printResult(result: VerifyResult): void {
  const head = `org ${result.org}: ${result.events} events, last seq ${result.lastSeq}, ${result.checkpoints} signed checkpoints`
  if (result.ok) {
    process.stdout.write(`OK   ${head}\n`)
    return
  }
  process.stdout.write(`FAIL ${head}\n`)
  for (const problem of result.problems) process.stdout.write(`     ${problem.kind}: ${problem.message}\n`)
}
