/**
 * Shared by the console's audit page and the embedded viewer (console/src/embed/).
 *
 * Verifies a Custodian audit export (JSON Lines) in the browser, from the rules of
 * docs/audit-format.md ("Export (JSON Lines)", "Verifying") and nothing else: no call
 * asks the server whether the log is valid. WebCrypto only (`crypto.subtle`: SHA-256 and
 * Ed25519), so the same module runs in Chromium and in Node (its tests import this file).
 *
 * What it checks, in order:
 * - every checkpoint's Ed25519 signature over JCS(checkpoint) with a key published by
 *   GET /v1/audit/keys (the export's own header keys are never trusted), and, where the
 *   checkpoint carries its C2SP signed note, that the note opens with the same key, names
 *   the org, has the checkpoint's size and, as hash line, its Merkle root (`rootHash`,
 *   version 2) or chain head (`hash`, version 1);
 * - the events in order: `seq` 1, 2, 3… without gaps or repeats, `prevHash` of the first 64
 *   zeros and of each next one the previous `hash`, and `hash` = SHA-256(prevHash bytes ||
 *   JCS(event));
 * - the event at each valid checkpoint's `seq` has exactly its `hash` (and the tree of the
 *   events up to it exactly its `rootHash`);
 * - at least one valid checkpoint, and no valid checkpoint beyond the last event.
 */

/** A key as GET /v1/audit/keys publishes it: id and raw Ed25519 public key (base64url). */
export interface PublishedKey {
  keyId: string
  publicKey: string
}

export type ProblemKind =
  | 'format' // a line that is not a record of the export format
  | 'seq_gap' // an event is missing (deleted) or the chain does not start at 1
  | 'seq_duplicate' // two events claim one position (inserted)
  | 'prev_hash_mismatch' // the link to the previous event is broken
  | 'hash_mismatch' // the event is not what was chained (modified)
  | 'checkpoint_signature' // a checkpoint's signature or note does not verify, or its key is not published
  | 'checkpoint_mismatch' // a signed checkpoint disagrees with the event at its seq
  | 'truncated' // the chain ends before a signed checkpoint
  | 'unsigned' // no valid signed checkpoint at all

/** One problem found: what, at which `seq` (null when it concerns no one event), in words. */
export interface Problem {
  kind: ProblemKind
  seq: number | null
  message: string
}

export interface VerifyOutcome {
  /** True when no problem was found. */
  ok: boolean
  /** The org the header names (null without a header). */
  org: string | null
  /** Events read, and the highest `seq` among them. */
  events: number
  lastSeq: number
  /** Checkpoints whose signature (and note) verified under a published key. */
  validCheckpoints: number
  /** The last checkpoint that verified and agrees with the chain: `seq` and its RFC 3339 `time`; null if none. */
  verifiedUpTo: { seq: number; time: string } | null
  /** Every problem found, in the order found (the first is the one to show); at most 100. */
  problems: Problem[]
}

const MAX_PROBLEMS = 100
const ZERO_HASH = '0'.repeat(64)
const NOTE_SIGNATURE_PREFIX = '\u2014 '
const ORIGIN_ORG = /\/audit\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/

/**
 * JSON Canonicalization Scheme (RFC 8785) of a JSON value: keys sorted by UTF-16 code
 * units, no white space, numbers in their shortest ECMAScript form, strings as
 * ECMAScript's JSON.stringify writes them. Throws on a value JSON cannot hold.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error('a number JSON cannot hold')
    return JSON.stringify(value)
  }
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item)).join(',')}]`
  if (typeof value === 'object') {
    const record = value as Record<string, unknown>
    const members = Object.keys(record)
      .filter((key) => record[key] !== undefined)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`)
    return `{${members.join(',')}}`
  }
  throw new Error(`a ${typeof value} JSON cannot hold`)
}

const encoder = new TextEncoder()

export function bytesOfHex(hex: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^([0-9a-f]{2})*$/.test(hex)) return undefined
  const bytes = new Uint8Array(hex.length / 2)
  for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16)
  return bytes
}

export function hexOf(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

/** Standard base64 (RFC 4648 §4) or, with `url`, base64url without padding; undefined if malformed. */
export function bytesOfBase64(text: string, url = false): Uint8Array<ArrayBuffer> | undefined {
  const standard = url ? text.replace(/-/g, '+').replace(/_/g, '/') : text
  if (!(url ? /^[A-Za-z0-9+/]*$/ : /^[A-Za-z0-9+/]*={0,2}$/).test(standard)) return undefined
  try {
    const binary = atob(url ? standard.padEnd(Math.ceil(standard.length / 4) * 4, '=') : standard)
    const bytes = new Uint8Array(binary.length)
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
    return bytes
  } catch {
    return undefined
  }
}

function base64Of(bytes: Uint8Array): string {
  let binary = ''
  for (const b of bytes) binary += String.fromCharCode(b)
  return btoa(binary)
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

export async function sha256(...parts: Uint8Array[]): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', concat(...parts)))
}

async function ed25519Verify(key: CryptoKey, message: Uint8Array<ArrayBuffer>, signature: Uint8Array<ArrayBuffer>) {
  if (signature.length !== 64) return false
  try {
    return await crypto.subtle.verify('Ed25519', key, signature, message)
  } catch {
    return false
  }
}

/** RFC 9162 Merkle tree, appended a leaf at a time: the complete subtrees' roots, largest first. */
class MerkleAccumulator {
  private readonly stack: { hash: Uint8Array; size: number }[] = []

  async append(leafData: Uint8Array): Promise<void> {
    let node = { hash: await sha256(Uint8Array.of(0), leafData), size: 1 }
    for (let top = this.stack.at(-1); top !== undefined && top.size === node.size; top = this.stack.at(-1)) {
      this.stack.pop()
      node = { hash: await sha256(Uint8Array.of(1), top.hash, node.hash), size: top.size * 2 }
    }
    this.stack.push(node)
  }

  /** Hex root of the leaves appended so far (at least one). */
  async root(): Promise<string> {
    const [last, ...left] = [...this.stack].reverse()
    let root = last?.hash ?? (await sha256())
    for (const subtree of left) root = await sha256(Uint8Array.of(1), subtree.hash, root)
    return hexOf(root)
  }
}

interface Checkpoint {
  checkpoint: { v?: unknown; org?: unknown; seq?: unknown; hash?: unknown; time?: unknown }
  keyId: string
  signature: string
  note: string | undefined
  rootHash: string | undefined
}

interface ExportEvent {
  event: Record<string, unknown> & { seq?: unknown; org?: unknown }
  prevHash: string
  hash: string
}

/**
 * Opens a checkpoint's C2SP signed note with a raw Ed25519 key, as docs/audit-format.md
 * says: the text is everything before the last blank line plus a newline; a signature
 * line whose key name is the origin and whose first 4 bytes are the key hash must verify
 * over the text. Answers the origin's org, the size and the hash line (hex), or why not.
 */
export async function openNote(
  note: string,
  raw: Uint8Array<ArrayBuffer>,
  key: CryptoKey,
): Promise<{ org: string; size: number; hash: string } | string> {
  const split = note.lastIndexOf('\n\n')
  if (split < 0 || !note.endsWith('\n')) return 'the note has no blank line before its signatures'
  const text = note.slice(0, split + 1)
  const lines = text.slice(0, -1).split('\n')
  if (lines.length < 3) return 'the note is not a checkpoint (origin, size, hash lines)'
  const [origin = '', sizeLine = '', hashLine = ''] = lines
  if (!/^(0|[1-9][0-9]{0,15})$/.test(sizeLine)) return `the note's size "${sizeLine}" is not a decimal number`
  const hash = bytesOfBase64(hashLine)
  if (hash?.length !== 32 || base64Of(hash) !== hashLine) return 'the note’s hash line is not 32 bytes of base64'
  const org = ORIGIN_ORG.exec(origin)?.[1]
  if (org === undefined) return `the note's origin ${origin} is not <host>/audit/<org id>`
  const keyHash = (await sha256(encoder.encode(origin), Uint8Array.of(0x0a, 0x01), raw)).subarray(0, 4)
  const message = encoder.encode(text)
  for (const line of note.slice(split + 2, -1).split('\n')) {
    if (!line.startsWith(NOTE_SIGNATURE_PREFIX)) return 'the note has a malformed signature line'
    const [name, encoded, extra] = line.slice(NOTE_SIGNATURE_PREFIX.length).split(' ')
    if (name === undefined || encoded === undefined || extra !== undefined)
      return 'the note has a malformed signature line'
    if (name !== origin) continue // a witness's cosignature: not ours to check
    const bytes = bytesOfBase64(encoded)
    if (bytes?.length !== 68 || hexOf(bytes.subarray(0, 4)) !== hexOf(keyHash)) continue
    if (await ed25519Verify(key, message, bytes.slice(4))) return { org, size: Number(sizeLine), hash: hexOf(hash) }
  }
  return `the note has no valid signature by ${origin} under the published key`
}

function parse(text: string, report: (p: Problem) => void) {
  let org: string | null = null
  const events: ExportEvent[] = []
  const checkpoints: Checkpoint[] = []
  for (const [index, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue
    let record: Record<string, unknown>
    try {
      const parsed: unknown = JSON.parse(line)
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object')
      record = parsed as Record<string, unknown>
    } catch {
      report({ kind: 'format', seq: null, message: `line ${index + 1} is not a JSON object` })
      continue
    }
    if (record.kind === 'header' && org === null && index === 0) {
      if (record.format !== 'custodian-audit-export/1' || typeof record.org !== 'string')
        report({ kind: 'format', seq: null, message: `line 1: unknown format ${String(record.format)}` })
      else org = record.org
    } else if (
      record.kind === 'event' &&
      record.event !== null &&
      typeof record.event === 'object' &&
      typeof record.prevHash === 'string' &&
      typeof record.hash === 'string'
    ) {
      events.push({ event: record.event as ExportEvent['event'], prevHash: record.prevHash, hash: record.hash })
    } else if (
      record.kind === 'checkpoint' &&
      record.checkpoint !== null &&
      typeof record.checkpoint === 'object' &&
      typeof record.keyId === 'string' &&
      typeof record.signature === 'string'
    ) {
      checkpoints.push({
        checkpoint: record.checkpoint,
        keyId: record.keyId,
        signature: record.signature,
        note: typeof record.note === 'string' ? record.note : undefined,
        rootHash: typeof record.rootHash === 'string' ? record.rootHash : undefined,
      })
    } else {
      report({ kind: 'format', seq: null, message: `line ${index + 1} is not a header, event or checkpoint record` })
    }
  }
  return { org, events, checkpoints }
}

/**
 * Verifies an export's text against the keys published by GET /v1/audit/keys (obtained
 * separately: the keys in the export's header are ignored). Never throws for a bad file:
 * every defect is a problem in the outcome. `onProgress(done, total)` is called every 500
 * events.
 */
export async function verifyAuditExport(
  text: string,
  publishedKeys: readonly PublishedKey[],
  onProgress?: (done: number, total: number) => void,
): Promise<VerifyOutcome> {
  const problems: Problem[] = []
  const report = (problem: Problem) => {
    if (problems.length < MAX_PROBLEMS) problems.push(problem)
  }
  const { org, events, checkpoints } = parse(text, report)
  if (org === null) report({ kind: 'format', seq: null, message: 'no header line: not a Custodian audit export' })

  const keys = new Map<string, { raw: Uint8Array<ArrayBuffer>; key: CryptoKey }>()
  for (const published of publishedKeys) {
    const raw = bytesOfBase64(published.publicKey, true)
    if (raw?.length !== 32) continue
    try {
      keys.set(published.keyId, {
        raw,
        key: await crypto.subtle.importKey('raw', raw, { name: 'Ed25519' }, false, ['verify']),
      })
    } catch {
      // A key this browser cannot import verifies nothing: its checkpoints are reported.
    }
  }

  // 1. Checkpoints: signed by a published key, over JCS of the JSON form; the note agrees.
  const valid = new Map<number, Checkpoint>()
  for (const signed of checkpoints) {
    const { checkpoint } = signed
    const seq = typeof checkpoint.seq === 'number' && Number.isSafeInteger(checkpoint.seq) ? checkpoint.seq : null
    const fail = (why: string) =>
      report({ kind: 'checkpoint_signature', seq, message: `checkpoint at seq ${String(checkpoint.seq)}: ${why}` })
    const key = keys.get(signed.keyId)
    const signature = bytesOfBase64(signed.signature, true)
    if (seq === null || checkpoint.org !== org) {
      fail('it does not name this org and a seq')
      continue
    }
    if (key === undefined) {
      fail(`its key ${signed.keyId} is not among the published keys`)
      continue
    }
    let message: Uint8Array<ArrayBuffer>
    try {
      message = encoder.encode(canonicalJson(checkpoint))
    } catch {
      fail('it is not JSON the format allows')
      continue
    }
    if (signature === undefined || !(await ed25519Verify(key.key, message, signature))) {
      fail('its signature does not verify')
      continue
    }
    if (signed.note !== undefined) {
      const opened = await openNote(signed.note, key.raw, key.key)
      if (typeof opened === 'string') {
        fail(opened)
        continue
      }
      if (opened.org !== org || opened.size !== seq || opened.hash !== (signed.rootHash ?? checkpoint.hash)) {
        fail('its signed note says another org, size or hash')
        continue
      }
    }
    valid.set(seq, signed)
  }

  // 2. Events in seq order: positions, links, hashes; the tree's root where a checkpoint names one.
  const tree = new MerkleAccumulator()
  const agreed = new Set<number>()
  let expectedSeq = 1
  let prev = ZERO_HASH
  let lastSeq = 0
  for (const [index, stored] of events.entries()) {
    const { event } = stored
    const seq = typeof event.seq === 'number' && Number.isSafeInteger(event.seq) ? event.seq : null
    if (seq === null) {
      report({ kind: 'format', seq: null, message: `event ${index + 1} of the file has no integer seq` })
      continue
    }
    if (event.org !== org) report({ kind: 'hash_mismatch', seq, message: `seq ${seq} belongs to another org` })
    if (seq < expectedSeq)
      report({ kind: 'seq_duplicate', seq, message: `seq ${seq} appears again after seq ${expectedSeq - 1}` })
    else if (seq > expectedSeq)
      report({
        kind: 'seq_gap',
        seq: expectedSeq,
        message:
          seq === expectedSeq + 1 ? `event ${expectedSeq} is missing` : `events ${expectedSeq}–${seq - 1} are missing`,
      })
    if (stored.prevHash !== prev)
      report({ kind: 'prev_hash_mismatch', seq, message: `seq ${seq} does not link to the event before it` })
    // Recomputed from the stored link, so one changed event is reported once, not for every later one.
    const data = encoder.encode(canonicalJson(event))
    const link = bytesOfHex(stored.prevHash)
    const recomputed = link?.length === 32 ? hexOf(await sha256(link, data)) : undefined
    if (recomputed !== stored.hash)
      report({ kind: 'hash_mismatch', seq, message: `seq ${seq} was modified after it was chained` })
    await tree.append(data)
    const signed = valid.get(seq)
    if (signed !== undefined) {
      if (
        signed.checkpoint.hash !== stored.hash ||
        (signed.rootHash !== undefined && signed.rootHash !== (await tree.root()))
      )
        report({ kind: 'checkpoint_mismatch', seq, message: `seq ${seq} differs from its signed checkpoint` })
      else if (problems.length === 0) agreed.add(seq)
    }
    prev = stored.hash
    expectedSeq = Math.max(expectedSeq, seq) + 1
    lastSeq = Math.max(lastSeq, seq)
    if (onProgress !== undefined && (index + 1) % 500 === 0) onProgress(index + 1, events.length)
  }

  // 3. The chain reaches every signed checkpoint; at least one exists.
  const lastValid = valid.size > 0 ? Math.max(...valid.keys()) : null
  if (lastValid !== null && lastValid > lastSeq)
    report({
      kind: 'truncated',
      seq: lastSeq + 1,
      message: `the chain ends at seq ${lastSeq} but a signed checkpoint covers seq ${lastValid}`,
    })
  if (valid.size === 0)
    report({
      kind: 'unsigned',
      seq: null,
      message: 'no checkpoint verifies under a published key: nothing binds this log to the service’s key',
    })

  const upTo = agreed.size > 0 ? Math.max(...agreed) : null
  const time = upTo === null ? undefined : valid.get(upTo)?.checkpoint.time
  return {
    ok: problems.length === 0,
    org,
    events: events.length,
    lastSeq,
    validCheckpoints: valid.size,
    verifiedUpTo: upTo === null ? null : { seq: upTo, time: typeof time === 'string' ? time : '' },
    problems,
  }
}
