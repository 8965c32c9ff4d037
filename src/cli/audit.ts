import { readFileSync, writeFileSync } from 'node:fs'
import { counted } from '../../console/src/lib/plural.ts'
import type { Command } from 'commander'
import { ed25519KeyId } from '../crypto/keys.ts'
import type { VerifyResult } from '../modules/audit/audit.format.ts'
import { verifyExport } from '../modules/audit/audit.export.ts'
import { orgOfOrigin, splitNotes } from '../modules/audit/audit.note.ts'
import { verifyReceipt } from '../modules/audit/audit.receipt.ts'
import { createOutboundFetch } from '../http/outbound.ts'
import { originHost } from '../modules/audit/index.ts'
import { createWitnessReader, type WitnessedCheckpoints } from '../modules/audit/audit.witness-read.ts'
import { Type, type Static } from '@sinclair/typebox'
import { defineControlCommand, type CommandOutput, type Services } from '../control/control.command.ts'
import { runCommand, terminal } from './command-runner.ts'
import { jsonText, printJson } from './context.ts'
import { registerAuditRollback } from './audit-rollback.ts'
import { databaseLabel } from '../db/database-url.ts'

interface VerifyOptions {
  org?: string
  file?: string
  publicKey?: string
  trustEmbeddedKey?: boolean
  allowUnsigned?: boolean
  checkpoint?: string[]
  askWitnesses?: boolean
  json?: boolean
}

/** A usage or input problem: said once on standard error, exit 1 (as a failed verification). */
class VerifyUsageError extends Error {}

export function registerAudit(program: Command): void {
  const audit = program.command('audit').description('the tamper-evident audit log')
  registerAuditRollback(audit)
  audit
    .command('verify')
    .description(
      'verify audit chains in the database (every org, or --org), or an exported file (--file), optionally against checkpoints kept elsewhere (--checkpoint); exits 1 on any problem',
    )
    .option('--org <id>', 'only this org')
    .option('--file <path>', 'verify a JSON Lines export offline instead of the database')
    .option(
      '--public-key <base64url>',
      'with --file: the Ed25519 public key to trust (from GET /v1/audit/keys, obtained separately); required unless --trust-embedded-key',
    )
    .option(
      '--trust-embedded-key',
      'with --file: trust the key named inside the file itself (proves only that the file is self-consistent, not who made it)',
    )
    .option('--allow-unsigned', 'with --file: accept an export that carries no signed checkpoint')
    .option(
      '--checkpoint <files...>',
      'checkpoints kept outside Custodian (signed notes: GET …/audit/checkpoints/latest, an audit.checkpoint webhook, the witness file); the chain must reach each one and agree with it',
    )
    .option(
      '--ask-witnesses',
      'also fetch, from each configured tlog witness (CUSTODIAN_AUDIT_TLOG_WITNESSES), the latest checkpoint it cosigned for each org and compare the chain with it; a witness that cannot vouch for an org fails it',
    )
    .option('--json', 'print the results as JSON')
    .action(async (options: VerifyOptions) => {
      let input: Static<typeof auditVerifyCommand.input>
      try {
        const keptNotes = checkedKeptNotes(options)
        if (options.file !== undefined) {
          if (report(await verifyFile(options.file, options, keptNotes), options.json === true, terminal) !== 0)
            process.exitCode = 1
          return
        }
        if (options.org !== undefined) requireKeptFor(options.org, keptNotes)
        input = { org: options.org, keptNotes, askWitnesses: options.askWitnesses, json: options.json }
      } catch (error) {
        if (!(error instanceof VerifyUsageError)) throw error
        process.stderr.write(`audit verify: ${error.message}\n`)
        process.exitCode = 1
        return
      }
      await runCommand(auditVerifyCommand, input)
    })

  audit
    .command('prove')
    .description(
      'write the receipt of one event (the event, its inclusion proof and the signed checkpoint) to standard output or --out; anyone can check it offline with `audit verify-receipt`',
    )
    .requiredOption('--event <id>', 'the event id (the `id` of an event in GET …/audit/events)')
    .option('--out <file>', 'write the receipt to this file instead of standard output')
    .action(async (options: { event: string; out?: string }) => {
      if (!UUID.test(options.event)) {
        process.stderr.write(`audit prove: --event ${JSON.stringify(options.event)} is not an event id (a UUID)\n`)
        process.exitCode = 1
        return
      }
      const receipt = await runCommand(auditProveCommand, { event: options.event })
      if (typeof receipt === 'string') {
        process.stderr.write(`audit prove: ${receipt}\n`)
        process.exitCode = 1
        return
      }
      const text = `${JSON.stringify(receipt, null, 2)}\n`
      if (options.out === undefined) process.stdout.write(text)
      else {
        writeFileSync(options.out, text, { mode: 0o600 })
        process.stdout.write(
          `receipt of event seq ${receipt.event.seq} in the log of size ${receipt.size} written to ${options.out}\n`,
        )
      }
    })

  audit
    .command('verify-receipt')
    .description(
      'check a receipt offline: the checkpoint is signed by --key, names the event’s org, and the inclusion proof leads from the event to its root; exits 1 otherwise',
    )
    .argument('<file>', 'the receipt (JSON, from `audit prove` or GET …/audit/events/{id}/receipt)')
    .requiredOption(
      '--key <vkey>',
      'the log’s verifier key, <origin>+<key id>+<base64> (verifierKey of GET …/audit/checkpoints/latest, obtained separately)',
    )
    .option('--witness <vkeys...>', 'witness verifier keys (cosignature/v1) whose cosignatures count')
    .option('--quorum <n>', 'how many of the --witness keys must have cosigned (default: all)')
    .option('--json', 'print the result as JSON')
    .action((file: string, options: { key: string; witness?: string[]; quorum?: string; json?: boolean }) => {
      let content: unknown
      try {
        content = JSON.parse(readFileSync(file, 'utf8'))
      } catch (error) {
        process.stderr.write(`audit verify-receipt: ${file}: ${(error as Error).message}\n`)
        process.exitCode = 1
        return
      }
      const witnesses = options.witness ?? []
      const quorum = options.quorum === undefined ? witnesses.length : Number(options.quorum)
      if (!Number.isSafeInteger(quorum) || quorum < 0 || quorum > witnesses.length) {
        process.stderr.write(`audit verify-receipt: --quorum must be between 0 and the number of --witness keys\n`)
        process.exitCode = 1
        return
      }
      const result = verifyReceipt(content, options.key, witnesses, quorum)
      if (options.json) printJson(result)
      else if (result.ok)
        process.stdout.write(
          `OK  event seq ${result.seq} of org ${result.org} is in the log of size ${result.size}${result.cosignedBy.length > 0 ? `, cosigned by ${result.cosignedBy.join(', ')}` : ''}\n    ${describeEvent(content)}\n`,
        )
      else process.stdout.write(`FAIL  ${result.problems.join('; ')}\n`)
      if (!result.ok) process.exitCode = 1
    })
}

/** What the receipt proves, in words: the event's id, action, time and outcome as verified. */
function describeEvent(receipt: unknown): string {
  const event = (receipt as { event: Record<string, unknown> }).event
  return `event ${String(event.id)}: ${String(event.action)} at ${String(event.time)}, ${String(event.outcome)}`
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** The options' org id checked, and the checkpoints of --checkpoint read (on the CLI's side: its files). */
function checkedKeptNotes(options: VerifyOptions): string[] | undefined {
  if (options.org !== undefined && !UUID.test(options.org)) {
    throw new VerifyUsageError(
      `--org ${JSON.stringify(options.org)} is not an org id (a UUID such as the orgId the API returns)`,
    )
  }
  return options.checkpoint === undefined ? undefined : options.checkpoint.flatMap(readKeptNotes)
}

/** `audit verify --file`: an export, offline; no database. */
async function verifyFile(
  file: string,
  options: VerifyOptions,
  keptNotes: string[] | undefined,
): Promise<VerifyResult[]> {
  if (options.publicKey === undefined && options.trustEmbeddedKey !== true) {
    throw new VerifyUsageError(
      'no pinned key: pass --public-key <publicKey from GET /v1/audit/keys, obtained separately>, or --trust-embedded-key to trust the key inside the file (which whoever made the file chose)',
    )
  }
  let pinned: Map<string, string> | undefined
  if (options.publicKey !== undefined) {
    const raw = Buffer.from(options.publicKey, 'base64url')
    if (raw.length !== 32) throw new VerifyUsageError('--public-key: not a raw 32-byte Ed25519 key in base64url')
    pinned = new Map([[ed25519KeyId(raw), options.publicKey]])
  }
  let result: VerifyResult
  try {
    result = await verifyExport(readFileSync(file, 'utf8'), {
      pinnedKeys: pinned,
      keptNotes,
      allowUnsigned: options.allowUnsigned === true,
    })
  } catch (error) {
    throw new VerifyUsageError(`${file}: ${(error as Error).message}`)
  }
  if (pinned === undefined && !options.json)
    process.stderr.write('note: trusting the signing key named in the file itself (--trust-embedded-key)\n')
  requireKeptFor(result.org, keptNotes)
  return [result]
}

/**
 * `custodian audit verify` on the database: every org's chain (or --org's), against the
 * checkpoints the CLI read from its --checkpoint files and, with --ask-witnesses, those the
 * configured witnesses cosigned. Prints as a local run always did; exit code 1 on a problem.
 */
export const auditVerifyCommand = defineControlCommand({
  name: 'audit verify',
  input: Type.Object(
    {
      org: Type.Optional(Type.String({ format: 'uuid' })),
      keptNotes: Type.Optional(Type.Array(Type.String())),
      askWitnesses: Type.Optional(Type.Boolean()),
      json: Type.Optional(Type.Boolean()),
    },
    { additionalProperties: false },
  ),
  needs: 'services',
  async handler(input, ctx) {
    let results: VerifyResult[]
    try {
      results = await verifyDatabase(input, ctx.services)
    } catch (error) {
      if (!(error instanceof VerifyUsageError)) throw error
      ctx.out.stderr(`audit verify: ${error.message}\n`)
      ctx.exitCode = 1
      return
    }
    // Which database was checked: a shell without the service's DATABASE_URL would otherwise
    // verify the data directory's embedded database and say OK about another deployment.
    // (Not with --json: its output is the results' array alone.)
    if (input.json !== true) ctx.out.stdout(`Database: ${databaseLabel(ctx.services.config)}\n`)
    const exitCode = report(results, input.json === true, ctx.out)
    if (exitCode !== 0) ctx.exitCode = exitCode
  },
})

/** `custodian audit prove --event ID`: the event's receipt, or why there is none (the CLI prints or writes it). */
export const auditProveCommand = defineControlCommand({
  name: 'audit prove',
  input: Type.Object({ event: Type.String({ format: 'uuid' }) }, { additionalProperties: false }),
  needs: 'services',
  async handler(input, { services }) {
    const module = services.audit
    await module.sequencer.flush()
    const orgId = await module.service.orgOfEvent(input.event)
    if (orgId === undefined) return 'no such event'
    try {
      return await module.service.receipt(orgId, input.event)
    } catch (error) {
      return (error as Error).message
    }
  },
})

/** Prints verification results (as JSON, or a line per org and problem); returns the exit code they call for. */
function report(results: VerifyResult[], json: boolean, out: Pick<CommandOutput, 'stdout'>): number {
  if (json) out.stdout(jsonText(results))
  else if (results.length === 0) out.stdout('No audit events yet.\n')
  else for (const r of results) out.stdout(resultText(r))
  return results.some((r) => !r.ok) ? 1 : 0
}

async function verifyDatabase(
  options: Static<typeof auditVerifyCommand.input>,
  services: Services,
): Promise<VerifyResult[]> {
  const { keptNotes } = options
  const { audit: module, config, runtime } = services
  await module.sequencer.flush()
  if (options.askWitnesses !== true) {
    if (options.org === undefined) return module.service.verifyAll({ keptNotes })
    requireKeptFor(options.org, keptNotes)
    return [await module.service.verify(options.org, { keptNotes })]
  }
  const witnesses = config.audit.tlogWitnesses
  if (witnesses.length === 0)
    throw new VerifyUsageError('--ask-witnesses: no witness is configured (CUSTODIAN_AUDIT_TLOG_WITNESSES)')
  if (options.org !== undefined) requireKeptFor(options.org, keptNotes)
  const orgIds =
    options.org !== undefined
      ? [options.org]
      : (await runtime.database.kysely.selectFrom('orgs').select('id').orderBy('id').execute()).map((o) => o.id)
  // The witnesses are the operator's own choice: any address, as for their deliveries.
  const reader = createWitnessReader({
    fetch: createOutboundFetch({ caFile: config.extraCaFile, allow: ['0.0.0.0/0', '::/0'] }),
    witnesses,
    originHost: originHost(config.publicUrl),
    publicKeys: module.service.publicKeys().map((k) => k.publicKey),
    timeoutMs: 10_000,
  })
  const asked = new Map<string, WitnessedCheckpoints>()
  for (const orgId of orgIds) asked.set(orgId, await reader.ask(orgId))
  const verifyWith = (orgId: string | undefined) => {
    const notes = [...(keptNotes ?? []), ...[...asked.values()].flatMap((a) => a.notes)]
    return orgId === undefined
      ? module.service.verifyAll({ keptNotes: notes })
      : module.service.verify(orgId, { keptNotes: notes }).then((r) => [r])
  }
  let results = await verifyWith(options.org)
  // Every log verified is asked about, also one whose org row is gone (the log outlives
  // it in a tampered database): the witnesses are the point of this option.
  const unasked = results.filter((r) => !asked.has(r.org)).map((r) => r.org)
  if (unasked.length > 0) {
    for (const orgId of unasked) asked.set(orgId, await reader.ask(orgId))
    results = await verifyWith(options.org)
  }
  return results.map((result) => {
    const problems = (asked.get(result.org)?.problems ?? []).map((p) => ({
      kind: 'witness' as const,
      seq: null,
      message: `witness ${p.witness}: ${p.message}`,
    }))
    return problems.length === 0 ? result : { ...result, ok: false, problems: [...result.problems, ...problems] }
  })
}

/** The notes of a kept-checkpoint file: signed notes one after another, or the JSON of GET …/checkpoints/latest. */
function readKeptNotes(file: string): string[] {
  let content: string
  try {
    content = readFileSync(file, 'utf8')
  } catch (error) {
    throw new VerifyUsageError(`--checkpoint ${file}: ${(error as Error).message}`)
  }
  if (content.trimStart().startsWith('{')) {
    const note = (JSON.parse(content) as { note?: unknown }).note
    if (typeof note !== 'string') throw new VerifyUsageError(`--checkpoint ${file}: JSON without a "note"`)
    content = note
  }
  const notes = splitNotes(content)
  if (notes.length === 0) throw new VerifyUsageError(`--checkpoint ${file}: no signed note in it`)
  for (const [index, note] of notes.entries()) {
    if (orgOfOrigin(note.split('\n', 1)[0] ?? '') === undefined)
      throw new VerifyUsageError(
        `--checkpoint ${file}: note ${index + 1} is not a Custodian audit checkpoint (origin <host>/audit/<org id>)`,
      )
  }
  return notes
}

/** A kept checkpoint that names no org being verified would check nothing: refuse rather than pass. */
function requireKeptFor(orgId: string, keptNotes: string[] | undefined): void {
  if (keptNotes === undefined) return
  if (!keptNotes.some((note) => orgOfOrigin(note.split('\n', 1)[0] ?? '') === orgId))
    throw new VerifyUsageError(`none of the kept checkpoints is for org ${orgId}`)
}

function resultText(result: VerifyResult): string {
  const kept =
    result.keptCheckpoints === undefined || result.keptCheckpoints === 0
      ? ''
      : `, ${counted(result.keptCheckpoints, 'kept checkpoint')}`
  const head = `org ${result.org}: ${counted(result.events, 'event')}, last seq ${result.lastSeq}, ${counted(result.checkpoints, 'signed checkpoint')}${kept}`
  if (result.ok) return `OK   ${head}\n`
  return `FAIL ${head}\n${result.problems.map((problem) => `     ${problem.kind}: ${problem.message}\n`).join('')}`
}
