import { createHash } from 'node:crypto'
import canonicalize from 'canonicalize'
import { verifyEd25519 } from '../../crypto/keys.ts'

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
}

export function canonicalJson(value: unknown): string {
  const text = canonicalize(value)
  if (text === undefined) throw new Error('value cannot be canonicalized')
  return text
}

export function chainHash(prevHash: Buffer, event: ChainedEvent): Buffer {
  return createHash('sha256').update(prevHash).update(canonicalJson(event), 'utf8').digest()
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
  | 'truncated' // the chain ends before a signed checkpoint: its tail was removed
  | 'unchained' // events not yet chained (informational; not tampering)

export interface VerifyProblem {
  kind: VerifyProblemKind
  seq: number | null
  message: string
}

export interface VerifyResult {
  ok: boolean
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

/**
 * Verifies one org's chain from seq 1, in seq order, against its signed checkpoints.
 * `keys` maps key ids to raw Ed25519 public keys (base64url). Stops collecting after
 * `maxProblems` so a wholesale rewrite does not produce an unbounded report.
 */
export async function verifyChain(
  org: string,
  events: AsyncIterable<StoredChainEvent> | Iterable<StoredChainEvent>,
  checkpoints: SignedCheckpoint[],
  keys: ReadonlyMap<string, string>,
  maxProblems = 100,
): Promise<VerifyResult> {
  const problems: VerifyProblem[] = []
  const report = (kind: VerifyProblemKind, seq: number | null, message: string) => {
    if (problems.length < maxProblems) problems.push({ kind, seq, message })
  }

  const checkpointAt = new Map<number, SignedCheckpoint>()
  for (const signed of checkpoints) {
    const { checkpoint } = signed
    const key = keys.get(signed.keyId)
    const valid =
      key !== undefined &&
      checkpoint.org === org &&
      verifyEd25519(key, checkpointMessage(checkpoint), Buffer.from(signed.signature, 'base64url'))
    if (!valid) {
      report('checkpoint_signature', checkpoint.seq, `checkpoint at seq ${checkpoint.seq} has an invalid signature or unknown key ${signed.keyId}`)
      continue
    }
    checkpointAt.set(checkpoint.seq, signed)
  }

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
    const recomputed = chainHash(Buffer.from(stored.prevHash, 'hex'), event)
    if (recomputed.toString('hex') !== stored.hash) {
      report('hash_mismatch', event.seq, `seq ${event.seq} was modified after it was chained`)
    }
    const signed = checkpointAt.get(event.seq)
    if (signed !== undefined && signed.checkpoint.hash !== stored.hash) {
      report('checkpoint_mismatch', event.seq, `seq ${event.seq} differs from its signed checkpoint`)
    }
    prev = Buffer.from(stored.hash, 'hex')
    expectedSeq = Math.max(expectedSeq, event.seq) + 1
    lastSeq = Math.max(lastSeq, event.seq)
  }

  const lastCheckpointSeq = checkpointAt.size > 0 ? Math.max(...checkpointAt.keys()) : null
  if (lastCheckpointSeq !== null && lastCheckpointSeq > lastSeq) {
    report('truncated', lastSeq + 1, `the chain ends at seq ${lastSeq} but a signed checkpoint covers seq ${lastCheckpointSeq}`)
  }
  return {
    ok: problems.length === 0,
    org,
    events: count,
    lastSeq,
    lastHash: count > 0 ? prev.toString('hex') : null,
    checkpoints: checkpointAt.size,
    lastCheckpointSeq,
    problems,
  }
}
