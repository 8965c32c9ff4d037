import { verifyChain, type SignedCheckpoint, type StoredChainEvent, type VerifyResult } from './audit.format.ts'

/**
 * Verifies a JSON Lines export (docs/audit-format.md) with no access to Custodian: the
 * header names the org and the signing keys, then come the events in seq order, then
 * the signed checkpoints. Pass `pinnedKeys` (from GET /v1/audit/keys, obtained
 * separately) so that a forger cannot simply ship a key of their own in the header.
 */
export async function verifyExport(text: string, pinnedKeys?: ReadonlyMap<string, string>): Promise<VerifyResult & { keysFrom: 'pinned' | 'file' }> {
  let org: string | undefined
  const fileKeys = new Map<string, string>()
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
      if (record.format !== 'custodian-audit-export/1') throw new Error(`line ${index + 1}: unknown format ${String(record.format)}`)
      org = String(record.org)
      for (const key of (record.keys as { keyId: string; publicKey: string }[] | undefined) ?? []) fileKeys.set(key.keyId, key.publicKey)
    } else if (record.kind === 'event') {
      events.push({ event: record.event as StoredChainEvent['event'], prevHash: String(record.prevHash), hash: String(record.hash) })
    } else if (record.kind === 'checkpoint') {
      checkpoints.push({ checkpoint: record.checkpoint as SignedCheckpoint['checkpoint'], keyId: String(record.keyId), signature: String(record.signature) })
    } else {
      throw new Error(`line ${index + 1}: unknown kind ${String(record.kind)}`)
    }
  }
  if (org === undefined) throw new Error('no header line: not a Custodian audit export')
  const keys = pinnedKeys ?? fileKeys
  return { ...(await verifyChain(org, events, checkpoints, keys)), keysFrom: pinnedKeys === undefined ? 'file' : 'pinned' }
}
