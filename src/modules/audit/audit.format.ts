import { createHash } from 'node:crypto'
import canonicalize from 'canonicalize'
import { verifyEd25519 } from '../../crypto/keys.ts'
import { openCheckpointNote, type KeptCheckpoints } from './audit.note.ts'
import { leafHash, MerkleAccumulator } from './merkle.ts'

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
}

/**
 * Verifies one org's chain from seq 1, in seq order, against its signed checkpoints and
 * any checkpoints kept elsewhere. `keys` maps key ids to raw Ed25519 public keys
 * (base64url). Stops collecting after `maxProblems` so a wholesale rewrite does not
 * produce an unbounded report.
 */
export async function verifyChain(
  org: string,
  events: AsyncIterable<StoredChainEvent> | Iterable<StoredChainEvent>,
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
    checkpointAt.set(checkpoint.seq, signed)
  }

  // The Merkle tree (version 2 checkpoints): its root is needed only at the sizes a
  // checkpoint signed or kept elsewhere names.
  const tree = new MerkleAccumulator()
  const rootsNeeded = new Set<number>(kept.map((k) => k.size))
  for (const signed of checkpointAt.values()) if (signed.rootHash !== undefined) rootsNeeded.add(signed.checkpoint.seq)
  let expectedSeq = 1
  let prev = GENESIS_HASH
  let count = 0
  let lastSeq = 0
  for await (const stored of events) {
    const { event } = stored
    count++
    if (event.org !== org) {
      report('hash_mismatch', event.seq, `event ${event.id} belongs to org ${event.org}`)
    }
    if (event.seq < expectedSeq) {
      report('seq_duplicate', event.seq, `seq ${event.seq} appears again after seq ${expectedSeq - 1}`)
    } else if (event.seq > expectedSeq) {
      report('seq_gap', expectedSeq, `events ${expectedSeq}..${event.seq - 1} are missing`)
    }
    if (stored.prevHash !== prev.toString('hex')) {
      report('prev_hash_mismatch', event.seq, `seq ${event.seq} does not link to the event before it`)
    }
    // Recompute from the stored link, so one broken event is reported once, not for
    // every event after it.
    const json = Buffer.from(canonicalJson(event), 'utf8')
    const recomputed = chainHashOfJson(Buffer.from(stored.prevHash, 'hex'), json)
    if (recomputed.toString('hex') !== stored.hash) {
      report('hash_mismatch', event.seq, `seq ${event.seq} was modified after it was chained`)
    }
    tree.append(leafHash(json))
    const root = rootsNeeded.has(event.seq) ? tree.root().toString('hex') : undefined
    const signed = checkpointAt.get(event.seq)
    if (
      signed !== undefined &&
      (signed.checkpoint.hash !== stored.hash || (signed.rootHash !== undefined && signed.rootHash !== root))
    ) {
      report('checkpoint_mismatch', event.seq, `seq ${event.seq} differs from its signed checkpoint`)
    }
    for (const hash of keptAt.get(event.seq) ?? []) {
      // A kept note's hash line is the tree's root (version 2) or, for notes signed before
      // the tree, the chain head (version 1): both commit to every event up to its size.
      if (hash !== root && hash !== stored.hash)
        report(
          'kept_checkpoint_mismatch',
          event.seq,
          `seq ${event.seq} differs from a checkpoint kept elsewhere (hash ${hash})`,
        )
    }
    prev = Buffer.from(stored.hash, 'hex')
    expectedSeq = Math.max(expectedSeq, event.seq) + 1
    lastSeq = Math.max(lastSeq, event.seq)
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
