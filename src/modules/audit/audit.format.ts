import { createHash, hash as oneShotHash } from 'node:crypto'
import canonicalize from 'canonicalize'
import { verifyEd25519 } from '../../crypto/keys.ts'
import { openCheckpointNote, type KeptCheckpoints } from './audit.note.ts'
import { HASH_SIZE, MerkleAccumulator } from './merkle.ts'

/**
 * The audit chain's wire format, exactly as docs/audit-format.md specifies it. Pure: the
 * same functions verify a live database and an exported file, so what we check is what a
 * third party checks.
 *
 *   hash_1 = SHA-256(32 zero bytes || JCS(event_1))
 *   hash_n = SHA-256(hash_{n-1}   || JCS(event_n))
 *
 * JCS is the JSON Canonicalization Scheme (RFC 8785).
 */
export const FORMAT_VERSION = 1
export const GENESIS_HASH = Buffer.alloc(32)

export interface ChainedEvent {
  v: 1
  org: string
  seq: number
  id: string
  time: string
  actor: { type: string; id: string | null }
  action: string
  target: { type: string; id: string | null } | null
  outcome: 'success' | 'denied' | 'failure'
  ip: string | null
  userAgent: string | null
  requestId: string | null
  details: Record<string, unknown>
  /**
   * Present only on the host application's events, always `application`
   * (docs/application-events.md); an event without it is Custodian's own. Absent rather than
   * `custodian` so that every event chained before application events existed keeps its hash.
   */
  origin?: 'application'
}

export interface CheckpointPayload {
  v: 1
  org: string
  seq: number
  /** Hex SHA-256 of the event at `seq`. */
  hash: string
  time: string
}

export interface SignedCheckpoint {
  checkpoint: CheckpointPayload
  keyId: string
  /** Ed25519 signature over JCS(checkpoint), base64url. */
  signature: string
  /**
   * The same checkpoint as a C2SP signed note (audit.note.ts), signed by the same key;
   * absent on checkpoints signed before notes existed.
   */
  note?: string | undefined
  /**
   * Hex Merkle tree root (RFC 9162) of the org's first `seq` events: the note's hash line
   * (version 2). Absent on checkpoints signed before the tree, whose note's hash line is
   * the chain head (version 1).
   */
  rootHash?: string | undefined
}

export function canonicalJson(value: unknown): string {
  const text = canonicalize(value)
  if (text === undefined) throw new Error('value cannot be canonicalized')
  return text
}

/**
 * JCS (RFC 8785) of a chained event whose fields are exactly those of {@link ChainedEvent},
 * each of its declared type (`toChainedEvent` of a stored row): the text `canonicalJson`
 * gives, and the same errors, without its generic walk — the keys are written in their
 * sorted order and `details` by {@link canonicalJsonOfParsed}. Any other shape (an extra or
 * a missing key) is handed to `canonicalJson` whole. Tested against it
 * (audit.canonical.test.ts).
 */
export function chainedEventJson(event: ChainedEvent): string {
  const loose = event as unknown as Record<string, unknown>
  if (
    Object.keys(loose).length !== (loose.origin === undefined ? 13 : 14) ||
    loose.v !== 1 ||
    !isIdAndType(loose.actor) ||
    (loose.target !== null && !isIdAndType(loose.target)) ||
    (loose.origin !== undefined && loose.origin !== 'application')
  )
    return canonicalJson(event)
  try {
    return fixedEventJson(event)
  } catch (error) {
    if (error === NOT_PARSED_JSON) return canonicalJson(event)
    throw error
  }
}

function fixedEventJson(event: ChainedEvent): string {
  const { target } = event
  return (
    `{"action":${jcsString(event.action)},"actor":{"id":${jcsNullable(event.actor.id)},"type":${jcsString(event.actor.type)}}` +
    `,"details":${jcsParsed(event.details, 0)},"id":${jcsString(event.id)},"ip":${jcsNullable(event.ip)}` +
    `,"org":${jcsString(event.org)}${event.origin === undefined ? '' : ',"origin":"application"'}` +
    `,"outcome":${jcsString(event.outcome)},"requestId":${jcsNullable(event.requestId)},"seq":${jcsNumber(event.seq)}` +
    `,"target":${target === null ? 'null' : `{"id":${jcsNullable(target.id)},"type":${jcsString(target.type)}}`}` +
    `,"time":${jcsString(event.time)},"userAgent":${jcsNullable(event.userAgent)},"v":1}`
  )
}

/**
 * JCS (RFC 8785) of a value as `JSON.parse` returns it (a stored jsonb column): the text
 * and errors of `canonicalJson`, written directly. A value `JSON.parse` cannot return (an
 * `undefined`, a function, a `toJSON`, a class instance, nesting beyond 256) goes to
 * `canonicalJson` whole.
 */
export function canonicalJsonOfParsed(value: unknown): string {
  try {
    return jcsParsed(value, 0)
  } catch (error) {
    if (error === NOT_PARSED_JSON) return canonicalJson(value)
    throw error
  }
}

/** `{ id, type }` and nothing else (an actor, a target). */
function isIdAndType(value: unknown): boolean {
  return (
    typeof value === 'object' && value !== null && Object.keys(value).length === 2 && 'id' in value && 'type' in value
  )
}

class NotParsedJson extends Error {}
/** Thrown inside the direct JCS writers when the value is not what they handle: the caller falls back to `canonicalJson`. */
const NOT_PARSED_JSON = new NotParsedJson('not a JSON.parse value')

function jcsParsed(value: unknown, depth: number): string {
  if (value === null) return 'null'
  switch (typeof value) {
    case 'string':
      return jcsString(value)
    case 'number':
      return jcsNumber(value)
    case 'boolean':
      return value ? 'true' : 'false'
    case 'object': {
      if (depth > 256) throw NOT_PARSED_JSON
      if (Array.isArray(value)) {
        let out = '['
        for (let i = 0; i < value.length; i++) {
          if (!(i in value)) throw NOT_PARSED_JSON
          out += (i === 0 ? '' : ',') + jcsParsed((value as unknown[])[i], depth + 1)
        }
        return `${out}]`
      }
      const proto: unknown = Object.getPrototypeOf(value)
      if (
        (proto !== Object.prototype && proto !== null) ||
        typeof (value as { toJSON?: unknown }).toJSON === 'function'
      )
        throw NOT_PARSED_JSON
      const record = value as Record<string, unknown>
      // Sorted by UTF-16 code units, as JCS orders keys (and Array#sort compares strings).
      const keys = Object.keys(record).sort()
      let out = '{'
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i] as string
        out += `${i === 0 ? '' : ','}${jcsString(key)}:${jcsParsed(record[key], depth + 1)}`
      }
      return `${out}}`
    }
    case 'bigint':
    case 'function':
    case 'symbol':
    case 'undefined':
      break
  }
  throw NOT_PARSED_JSON
}

/** A JCS string: ECMAScript's JSON string, and no lone surrogate (as `canonicalize` refuses one). */
function jcsString(value: string): string {
  if (typeof value !== 'string') throw NOT_PARSED_JSON
  if (!value.isWellFormed()) throw new Error('Lone surrogate is not allowed')
  return JSON.stringify(value)
}

function jcsNullable(value: string | null): string {
  return value === null ? 'null' : jcsString(value)
}

/** A JCS number: ECMAScript's shortest form; NaN and the infinities refused as `canonicalize` refuses them. */
function jcsNumber(value: number): string {
  if (typeof value !== 'number') throw NOT_PARSED_JSON
  if (Number.isNaN(value)) throw new Error('NaN is not allowed')
  if (!Number.isFinite(value)) throw new Error('Infinity is not allowed')
  return JSON.stringify(value)
}

export function chainHash(prevHash: Buffer, event: ChainedEvent): Buffer {
  return chainHashOfJson(prevHash, Buffer.from(canonicalJson(event), 'utf8'))
}

/** `chainHash` of an event already in its JCS bytes (the sequencer hashes them twice: chain and tree leaf). */
export function chainHashOfJson(prevHash: Buffer, eventJcs: Buffer): Buffer {
  return createHash('sha256').update(prevHash).update(eventJcs).digest()
}

export function checkpointMessage(checkpoint: CheckpointPayload): Buffer {
  return Buffer.from(canonicalJson(checkpoint), 'utf8')
}

export type VerifyProblemKind =
  | 'seq_gap' // an event is missing (deleted) or the chain does not start at 1
  | 'seq_duplicate' // two events claim one position (inserted)
  | 'prev_hash_mismatch' // the link to the previous event is broken (reordered, inserted)
  | 'hash_mismatch' // the event's content is not what was chained (modified)
  | 'checkpoint_signature' // a checkpoint's signature does not verify or its key is unknown
  | 'checkpoint_mismatch' // a signed checkpoint disagrees with the event at its seq
  | 'truncated' // the chain ends before a signed checkpoint (or one kept elsewhere): its tail was removed
  | 'kept_checkpoint_mismatch' // a checkpoint kept outside Custodian disagrees with the chain at its size
  | 'unsigned' // no signed checkpoint at all: nothing binds the chain to the signing key
  | 'unchained' // events not yet chained (informational; not tampering)
  | 'witness' // asked to (--ask-witnesses), a configured witness could not vouch for the log: unreachable, nothing cosigned, a bad cosignature

export interface VerifyProblem {
  kind: VerifyProblemKind
  seq: number | null
  message: string
}

export interface VerifyResult {
  ok: boolean
  /** Checkpoints kept outside Custodian that the chain was compared with. */
  keptCheckpoints?: number
  org: string
  events: number
  lastSeq: number
  lastHash: string | null
  checkpoints: number
  lastCheckpointSeq: number | null
  problems: VerifyProblem[]
  /** Events committed but not yet chained: not tampering, just not yet covered. */
  unchained?: number
}

export interface StoredChainEvent {
  event: ChainedEvent
  prevHash: string
  hash: string
}

export interface VerifyOptions {
  /**
   * Checkpoints kept outside Custodian (witnesses, a customer's copy), already opened with
   * the trusted key: the chain must reach each one's size and have exactly its hash there.
   */
  kept?: KeptCheckpoints | undefined
  /**
   * When the absence of any valid signed checkpoint is a problem: `always` (an export: an
   * empty or stripped file proves nothing), `if-events` (a live chain: the sequencer signs
   * with the first events it chains), `never`.
   */
  requireCheckpoint?: 'always' | 'if-events' | 'never' | undefined
  maxProblems?: number | undefined
  /**
   * Keys of `keys` retired after a loss (key id → the highest checkpoint seq of this org it
   * signed before its retirement; 0: none): a checkpoint one of them signed at a higher seq
   * is refused, whatever its date (a retired key may be in other hands).
   */
  retiredUpTo?: ReadonlyMap<string, number> | undefined
}

/**
 * One link of a chain as the verifier walks it: the event's position, org and id, the
 * links stored with it (32-byte SHA-256 values as stored; another length never matches),
 * and the event's JCS text — built from what is stored, never taken from a stored copy.
 */
export interface ChainLink {
  seq: number
  org: string
  /** The event's id (its `id` field), for messages. */
  eventId: string
  prevHash: Buffer
  hash: Buffer
  /** JCS (RFC 8785) of the chained event: what both the chain and the tree hash. */
  eventJson: string
}

/**
 * Verifies one org's chain from seq 1, in seq order, against its signed checkpoints and
 * any checkpoints kept elsewhere. `keys` maps key ids to raw Ed25519 public keys
 * (base64url). Stops collecting after `maxProblems` so a wholesale rewrite does not
 * produce an unbounded report. The events of an export (or any source of
 * {@link StoredChainEvent}s); a database walk reads {@link ChainLink}s with
 * {@link verifyChainLinks}, which makes the same checks.
 */
export async function verifyChain(
  org: string,
  events: AsyncIterable<StoredChainEvent> | Iterable<StoredChainEvent>,
  checkpoints: SignedCheckpoint[],
  keys: ReadonlyMap<string, string>,
  options: VerifyOptions = {},
): Promise<VerifyResult> {
  return verifyChainLinks(org, linksOfStored(events), checkpoints, keys, options)
}

/** Stored events as one-link batches: each event's JCS by the generic canonicalizer (an export's event may carry any key, and each is hashed). */
async function* linksOfStored(
  events: AsyncIterable<StoredChainEvent> | Iterable<StoredChainEvent>,
): AsyncGenerator<ChainLink[]> {
  for await (const { event, prevHash, hash } of events) {
    yield [
      {
        seq: event.seq,
        org: event.org,
        eventId: event.id,
        prevHash: strictHex(prevHash),
        hash: strictHex(hash),
        eventJson: canonicalJson(event),
      },
    ]
  }
}

/** A hex string's bytes; anything but lowercase hex of whole bytes (which the old string compare refused) gives no bytes, matching nothing. */
function strictHex(text: unknown): Buffer {
  if (typeof text !== 'string') return Buffer.alloc(0)
  const bytes = Buffer.from(text, 'hex')
  return bytes.toString('hex') === text ? bytes : Buffer.alloc(0)
}

/**
 * {@link verifyChain} over batches of {@link ChainLink}s, in seq order (a database walk
 * reads them a page at a time). Holds one batch at a time and O(log n) hashes of the tree
 * besides the checkpoints and at most `maxProblems` problems: its memory does not grow with
 * the number of events. Each event is hashed twice from one scratch buffer (its chain hash
 * and its tree leaf), with one-shot SHA-256.
 */
export async function verifyChainLinks(
  org: string,
  batches: AsyncIterable<readonly ChainLink[]> | Iterable<readonly ChainLink[]>,
  checkpoints: SignedCheckpoint[],
  keys: ReadonlyMap<string, string>,
  options: VerifyOptions = {},
): Promise<VerifyResult> {
  const maxProblems = options.maxProblems ?? 100
  const kept = (options.kept?.opened ?? []).filter((k) => k.org === org)
  // By size, so a long witness file costs a lookup per event, not a scan.
  const keptAt = new Map<number, string[]>()
  for (const k of kept) keptAt.set(k.size, [...(keptAt.get(k.size) ?? []), k.hash])
  const problems: VerifyProblem[] = []
  const report = (kind: VerifyProblemKind, seq: number | null, message: string) => {
    if (problems.length < maxProblems) problems.push({ kind, seq, message })
  }

  for (const rejected of options.kept?.rejected ?? []) {
    if (rejected.org === org)
      report(
        'checkpoint_signature',
        null,
        `a checkpoint kept elsewhere does not verify under the trusted key: ${rejected.reason}`,
      )
  }

  const checkpointAt = new Map<number, SignedCheckpoint>()
  for (const signed of checkpoints) {
    const { checkpoint } = signed
    const key = keys.get(signed.keyId)
    const valid =
      key !== undefined &&
      checkpoint.org === org &&
      verifyEd25519(key, checkpointMessage(checkpoint), Buffer.from(signed.signature, 'base64url')) &&
      (signed.note === undefined || noteAgrees(signed.note, Buffer.from(key, 'base64url'), checkpoint, signed.rootHash))
    if (!valid) {
      report(
        'checkpoint_signature',
        checkpoint.seq,
        `checkpoint at seq ${checkpoint.seq} has an invalid signature or unknown key ${signed.keyId}`,
      )
      continue
    }
    const upTo = options.retiredUpTo?.get(signed.keyId)
    if (upTo !== undefined && !(checkpoint.seq <= upTo)) {
      report(
        'checkpoint_signature',
        checkpoint.seq,
        `checkpoint at seq ${checkpoint.seq} is signed by key ${signed.keyId}, retired after signing this org's checkpoints up to seq ${upTo}: a retired key verifies only what it signed before its retirement`,
      )
      continue
    }
    checkpointAt.set(checkpoint.seq, signed)
  }

  // The Merkle tree (version 2 checkpoints): its root is needed only at the sizes a
  // checkpoint signed or kept elsewhere names.
  const tree = new MerkleAccumulator()
  const rootsNeeded = new Set<number>(kept.map((k) => k.size))
  for (const signed of checkpointAt.values()) if (signed.rootHash !== undefined) rootsNeeded.add(signed.checkpoint.seq)
  let expectedSeq = 1
  let prev: Buffer = GENESIS_HASH
  let count = 0
  let lastSeq = 0
  // [1..32] the stored previous hash, [32] 0x00, [33..] the event's UTF-8 JCS: the leaf
  // hashes [32..], then the stored link goes over the 0x00 and the chain hashes [1..].
  let scratch = Buffer.allocUnsafe(64 * 1024)
  for await (const batch of batches) {
    for (const link of batch) {
      count++
      const { seq } = link
      if (link.org !== org) {
        report('hash_mismatch', seq, `event ${link.eventId} belongs to org ${link.org}`)
      }
      if (seq < expectedSeq) {
        report('seq_duplicate', seq, `seq ${seq} appears again after seq ${expectedSeq - 1}`)
      } else if (seq > expectedSeq) {
        report('seq_gap', expectedSeq, `events ${expectedSeq}..${seq - 1} are missing`)
      }
      if (!link.prevHash.equals(prev)) {
        report('prev_hash_mismatch', seq, `seq ${seq} does not link to the event before it`)
      }
      // UTF-8 takes at most 3 bytes per UTF-16 code unit.
      const most = 33 + link.eventJson.length * 3
      if (scratch.length < most) scratch = Buffer.allocUnsafe(most * 2)
      const end = 33 + scratch.write(link.eventJson, 33, 'utf8')
      scratch[32] = 0x00
      const leaf = oneShotHash('sha256', scratch.subarray(32, end), 'buffer')
      // Recompute from the stored link, so one broken event is reported once, not for
      // every event after it.
      let recomputed: Buffer
      if (link.prevHash.length === HASH_SIZE) {
        link.prevHash.copy(scratch, 1)
        recomputed = oneShotHash('sha256', scratch.subarray(1, end), 'buffer')
      } else {
        recomputed = createHash('sha256').update(link.prevHash).update(scratch.subarray(33, end)).digest()
      }
      if (!recomputed.equals(link.hash)) {
        report('hash_mismatch', seq, `seq ${seq} was modified after it was chained`)
      }
      tree.append(leaf)
      const root = rootsNeeded.has(seq) ? tree.root().toString('hex') : undefined
      const signed = checkpointAt.get(seq)
      const keptHashes = keptAt.get(seq)
      if (signed !== undefined || keptHashes !== undefined) {
        const storedHash = link.hash.toString('hex')
        if (
          signed !== undefined &&
          (signed.checkpoint.hash !== storedHash || (signed.rootHash !== undefined && signed.rootHash !== root))
        ) {
          report('checkpoint_mismatch', seq, `seq ${seq} differs from its signed checkpoint`)
        }
        for (const hash of keptHashes ?? []) {
          // A kept note's hash line is the tree's root (version 2) or, for notes signed before
          // the tree, the chain head (version 1): both commit to every event up to its size.
          if (hash !== root && hash !== storedHash)
            report(
              'kept_checkpoint_mismatch',
              seq,
              `seq ${seq} differs from a checkpoint kept elsewhere (hash ${hash})`,
            )
        }
      }
      prev = link.hash
      expectedSeq = Math.max(expectedSeq, seq) + 1
      lastSeq = Math.max(lastSeq, seq)
    }
  }

  const lastCheckpointSeq = checkpointAt.size > 0 ? Math.max(...checkpointAt.keys()) : null
  if (lastCheckpointSeq !== null && lastCheckpointSeq > lastSeq) {
    report(
      'truncated',
      lastSeq + 1,
      `the chain ends at seq ${lastSeq} but a signed checkpoint covers seq ${lastCheckpointSeq}`,
    )
  }
  const keptBeyond = kept.filter((k) => k.size > lastSeq).sort((x, y) => y.size - x.size)[0]
  if (keptBeyond !== undefined) {
    report(
      'truncated',
      lastSeq + 1,
      `the chain ends at seq ${lastSeq} but a checkpoint kept elsewhere covers seq ${keptBeyond.size}`,
    )
  }
  const require = options.requireCheckpoint ?? 'never'
  if (checkpointAt.size === 0 && (require === 'always' || (require === 'if-events' && count > 0))) {
    report(
      'unsigned',
      null,
      'no valid signed checkpoint: nothing binds this chain to the signing key (it may have been cut or replaced)',
    )
  }
  return {
    ok: problems.length === 0,
    keptCheckpoints: kept.length,
    org,
    events: count,
    lastSeq,
    lastHash: count > 0 ? prev.toString('hex') : null,
    checkpoints: checkpointAt.size,
    lastCheckpointSeq,
    problems,
  }
}

/**
 * Whether a checkpoint's note is signed by `key` and says what its JSON form says: its
 * size, and as hash line the tree root (version 2) or the chain head (version 1).
 */
function noteAgrees(note: string, key: Buffer, checkpoint: CheckpointPayload, rootHash: string | undefined): boolean {
  try {
    const opened = openCheckpointNote(note, key)
    return (
      opened.org === checkpoint.org && opened.size === checkpoint.seq && opened.hash === (rootHash ?? checkpoint.hash)
    )
  } catch {
    return false
  }
}
