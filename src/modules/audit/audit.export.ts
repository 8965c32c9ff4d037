import { verifyChain, type SignedCheckpoint, type StoredChainEvent, type VerifyResult } from './audit.format.ts'
import { openKeptCheckpoints } from './audit.note.ts'

export interface ExportVerifyOptions {
  /** Keys from GET /v1/audit/keys, obtained separately (id -> raw public key, base64url). Absent: the file's own keys are used. */
  pinnedKeys?: ReadonlyMap<string, string> | undefined
  /** Checkpoint notes kept outside Custodian (witness copies); opened with the same keys. */
  keptNotes?: readonly string[] | undefined
  /** Accept an export that carries no signed checkpoint (by default it fails: nothing binds it to the key). */
  allowUnsigned?: boolean | undefined
}

/**
 * Verifies a JSON Lines export (docs/audit-format.md) with no access to Custodian: the
 * header names the org and the signing keys, then come the events in seq order, then
 * the signed checkpoints. Pass `pinnedKeys` (from GET /v1/audit/keys, obtained
 * separately) so that a forger cannot simply ship a key of their own in the header, and
 * `keptNotes` so that cutting the tail together with its checkpoints is seen.
 */
export async function verifyExport(
  text: string,
  options: ExportVerifyOptions = {},
): Promise<VerifyResult & { keysFrom: 'pinned' | 'file' }> {
  const { pinnedKeys } = options
  let org: string | undefined
  const fileKeys = new Map<string, string>()
  const fileRetiredUpTo = new Map<string, number>()
  const events: StoredChainEvent[] = []
  const checkpoints: SignedCheckpoint[] = []
  const lines = text.split('\n')
  for (const [index, line] of lines.entries()) {
    if (line.trim() === '') continue
    let record: Record<string, unknown>
    try {
      record = JSON.parse(line) as Record<string, unknown>
    } catch {
      throw new Error(`line ${index + 1}: not JSON`)
    }
    if (record.kind === 'header') {
      if (record.format !== 'custodian-audit-export/1')
        throw new Error(`line ${index + 1}: unknown format ${String(record.format)}`)
      org = String(record.org)
      for (const key of (record.keys as { keyId: string; publicKey: string; signedUpTo?: unknown }[] | undefined) ??
        []) {
        fileKeys.set(key.keyId, key.publicKey)
        // A retired key: no checkpoint above its bound (one that is not a whole number bounds everything).
        if (key.signedUpTo !== undefined)
          fileRetiredUpTo.set(key.keyId, Number.isSafeInteger(key.signedUpTo) ? (key.signedUpTo as number) : 0)
      }
    } else if (record.kind === 'event') {
      events.push({
        event: record.event as StoredChainEvent['event'],
        prevHash: String(record.prevHash),
        hash: String(record.hash),
      })
    } else if (record.kind === 'checkpoint') {
      checkpoints.push({
        checkpoint: record.checkpoint as SignedCheckpoint['checkpoint'],
        keyId: String(record.keyId),
        signature: String(record.signature),
        note: typeof record.note === 'string' ? record.note : undefined,
        rootHash: typeof record.rootHash === 'string' ? record.rootHash : undefined,
      })
    } else {
      throw new Error(`line ${index + 1}: unknown kind ${String(record.kind)}`)
    }
  }
  if (org === undefined) throw new Error('no header line: not a Custodian audit export')
  const keys = pinnedKeys ?? fileKeys
  const kept = options.keptNotes === undefined ? undefined : openKeptCheckpoints(options.keptNotes, keys.values())
  const result = await verifyChain(org, events, checkpoints, keys, {
    kept,
    requireCheckpoint: options.allowUnsigned === true ? 'never' : 'always',
    retiredUpTo: pinnedKeys === undefined ? fileRetiredUpTo : undefined,
  })
  return { ...result, keysFrom: pinnedKeys === undefined ? 'file' : 'pinned' }
}
