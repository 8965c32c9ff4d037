import { bytesOfBase64, canonicalJson, hexOf, openNote, sha256, type PublishedKey } from './audit-verify.ts'

/**
 * Verifies an audit event's receipt (docs/transparency.md "Receipts") in the browser, with
 * WebCrypto only and the keys of GET /v1/audit/keys — never by asking the server: the
 * checkpoint's C2SP signed note must carry a valid signature by the log's key (key name =
 * the note's origin `<host>/audit/<org id>`), name the event's org and the receipt's size,
 * and the RFC 9162 §2.1.3.2 inclusion proof of SHA-256(0x00 ‖ JCS(event)) at index
 * `seq − 1` must reach the note's root. `expected` (the event as a page showed it) must
 * agree with the receipt's event, so the verdict is about what the reader saw.
 */
export interface ReceiptVerdict {
  ok: boolean
  /** Why not, in words (empty when ok). */
  problem: string
  seq: number | null
  size: number | null
}

interface Receipt {
  type: string
  event: Record<string, unknown> & { org?: unknown; seq?: unknown }
  size: number
  proof: string[]
  checkpoint: string
}

/** The fields of an event that a page shows and its chained form carries alike. */
const SHOWN = ['id', 'time', 'actor', 'action', 'target', 'outcome', 'ip', 'userAgent', 'requestId', 'details'] as const

function isReceipt(value: unknown): value is Receipt {
  if (value === null || typeof value !== 'object') return false
  const r = value as Record<string, unknown>
  return (
    r.type === 'custodian.audit.receipt/v1' &&
    r.event !== null &&
    typeof r.event === 'object' &&
    typeof r.checkpoint === 'string' &&
    Number.isSafeInteger(r.size) &&
    Array.isArray(r.proof) &&
    r.proof.every((h) => typeof h === 'string')
  )
}

/** RFC 9162 §2.1.3.2: does `proof` lead from `leaf` at `index` to `root` in a tree of `size` leaves? */
async function inclusionReaches(
  index: number,
  size: number,
  leaf: Uint8Array,
  proof: readonly Uint8Array[],
  root: string,
): Promise<boolean> {
  if (index >= size) return false
  let fn = index
  let sn = size - 1
  let r = leaf
  for (const p of proof) {
    if (sn === 0) return false
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(Uint8Array.of(1), p, r)
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2)
          sn = Math.floor(sn / 2)
        }
      }
    } else {
      r = await sha256(Uint8Array.of(1), r, p)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 && hexOf(r) === root
}

/** Verifies one receipt against the published keys and the event as shown. Never throws. */
export async function verifyAuditReceipt(
  input: unknown,
  publishedKeys: readonly PublishedKey[],
  expected?: Record<string, unknown>,
): Promise<ReceiptVerdict> {
  const fail = (problem: string, seq: number | null = null, size: number | null = null): ReceiptVerdict => ({
    ok: false,
    problem,
    seq,
    size,
  })
  if (!isReceipt(input)) return fail('not a receipt')
  const { event, size } = input
  const seq = typeof event.seq === 'number' && Number.isSafeInteger(event.seq) ? event.seq : null
  if (seq === null || seq < 1 || seq > size)
    return fail('the event’s position is not in the checkpoint’s tree', seq, size)
  if (expected !== undefined)
    for (const field of SHOWN)
      if (canonicalJson(expected[field] ?? null) !== canonicalJson(event[field] ?? null))
        return fail(`the receipt’s event differs from the one shown (${field})`, seq, size)
  let opened: { org: string; size: number; hash: string } | string = 'no published key opens the checkpoint'
  for (const published of publishedKeys) {
    const raw = bytesOfBase64(published.publicKey, true)
    if (raw?.length !== 32) continue
    let key: CryptoKey
    try {
      key = await crypto.subtle.importKey('raw', raw, { name: 'Ed25519' }, false, ['verify'])
    } catch {
      continue
    }
    opened = await openNote(input.checkpoint, raw, key)
    if (typeof opened !== 'string') break
  }
  if (typeof opened === 'string') return fail(`the checkpoint does not verify: ${opened}`, seq, size)
  if (opened.org !== event.org) return fail('the checkpoint is another org’s log', seq, size)
  if (opened.size !== size) return fail('the checkpoint’s size is not the receipt’s', seq, size)
  const proof: Uint8Array[] = []
  for (const hash of input.proof) {
    const bytes = bytesOfBase64(hash)
    if (bytes?.length !== 32) return fail('the inclusion proof is malformed', seq, size)
    proof.push(bytes)
  }
  let leaf: Uint8Array
  try {
    leaf = await sha256(Uint8Array.of(0), new TextEncoder().encode(canonicalJson(event)))
  } catch {
    return fail('the event cannot be put in canonical form', seq, size)
  }
  if (!(await inclusionReaches(seq - 1, size, leaf, proof, opened.hash)))
    return fail('the inclusion proof does not lead from this event to the signed root', seq, size)
  return { ok: true, problem: '', seq, size }
}
