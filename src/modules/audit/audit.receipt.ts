import { canonicalJson, type ChainedEvent } from './audit.format.ts'
import { orgOfOrigin } from './audit.note.ts'
import { leafHash, verifyInclusion } from './merkle.ts'
import { openCheckpoint, verifierFromKey } from './tlog-checkpoint.ts'

/**
 * A receipt: proof, verifiable offline by anyone holding the log's verifier key, that one
 * event is in an org's audit log (issue 21; docs/transparency.md "Receipts"). It carries
 * the event as chained (its JCS bytes are the leaf), the RFC 9162 §2.1.3 inclusion proof of
 * leaf `seq − 1` in the tree of `size` events, and the signed checkpoint (C2SP signed note,
 * with any witness cosignatures) whose root that proof reaches.
 */
export interface AuditReceipt {
  type: typeof RECEIPT_TYPE
  event: ChainedEvent
  /** Tree size of `checkpoint`. */
  size: number
  /** Inclusion proof hashes, standard base64, leaf side first. */
  proof: string[]
  /** The C2SP signed note of the checkpoint (tlog-checkpoint), cosignatures included. */
  checkpoint: string
}

export const RECEIPT_TYPE = 'custodian.audit.receipt/v1'

export interface ReceiptCheck {
  ok: boolean
  /** What failed, in words; empty when ok. */
  problems: string[]
  org?: string | undefined
  seq?: number | undefined
  size?: number | undefined
  /** Witnesses (among those given) whose cosignature verified. */
  cosignedBy: string[]
}

/**
 * Verifies a receipt offline. `logKey` is the log's C2SP verifier key
 * (`<origin>+<hex key ID>+<base64(0x01 ‖ key)>`, from `GET …/audit/checkpoints/latest` or
 * `GET /v1/audit/keys`, obtained separately); `witnessKeys` are cosigner verifier keys
 * (type 0x04), of which at least `quorum` (default: all given) must have cosigned.
 *
 * Checks, in order: the shape; the note opens under `logKey` and its origin names the
 * event's org; the note's size equals `size` and covers the event's `seq`; the inclusion
 * proof of SHA-256(0x00 ‖ JCS(event)) at index `seq − 1` reaches the note's root (RFC 9162
 * §2.1.3.2); the witness quorum. Never throws on bad input: it reports it.
 */
export function verifyReceipt(
  input: unknown,
  logKey: string,
  witnessKeys: readonly string[] = [],
  quorum = witnessKeys.length,
): ReceiptCheck {
  const problems: string[] = []
  const fail = (problem: string, extra: Partial<ReceiptCheck> = {}): ReceiptCheck => ({
    ok: false,
    problems: [...problems, problem],
    cosignedBy: [],
    ...extra,
  })
  if (!isReceipt(input)) return fail(`not a receipt of type ${RECEIPT_TYPE}`)
  const receipt = input
  const event = receipt.event
  const size = receipt.size
  let log
  let witnesses
  try {
    log = verifierFromKey(logKey)
    witnesses = witnessKeys.map(verifierFromKey)
  } catch (error) {
    return fail(`bad verifier key: ${(error as Error).message}`)
  }
  let opened
  try {
    opened = openCheckpoint(receipt.checkpoint, log, witnesses)
  } catch (error) {
    return fail(`the checkpoint does not open under the log's key: ${(error as Error).message}`)
  }
  const facts = { org: event.org, seq: event.seq, size }
  if (orgOfOrigin(opened.checkpoint.origin) !== event.org)
    return fail(`the checkpoint is of log ${opened.checkpoint.origin}, not of org ${event.org}`, facts)
  if (opened.checkpoint.size !== size)
    return fail(`the checkpoint's size is ${opened.checkpoint.size}, the receipt says ${size}`, facts)
  if (!(event.seq >= 1 && event.seq <= size)) return fail(`seq ${event.seq} is not in a tree of size ${size}`, facts)
  const proof = receipt.proof.map((h) => Buffer.from(h, 'base64'))
  let leaf: Buffer
  try {
    leaf = leafHash(Buffer.from(canonicalJson(event), 'utf8'))
  } catch (error) {
    return fail(`the event cannot be put in canonical form (JCS): ${(error as Error).message}`, facts)
  }
  if (!verifyInclusion(event.seq - 1, size, leaf, proof, opened.checkpoint.rootHash))
    return fail('the inclusion proof does not lead from this event to the checkpoint’s root', facts)
  const cosignedBy = [...new Set(opened.cosignatures.map((c) => c.name))]
  if (cosignedBy.length < quorum)
    return {
      ok: false,
      problems: [`${cosignedBy.length} of the ${quorum} witness cosignatures required`],
      cosignedBy,
      ...facts,
    }
  return { ok: true, problems: [], cosignedBy, ...facts }
}

/** The shape of a receipt (values are checked by `verifyReceipt`). */
function isReceipt(value: unknown): value is AuditReceipt {
  const object = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
  if (!object(value) || !object(value.event)) return false
  return (
    value.type === RECEIPT_TYPE &&
    typeof value.checkpoint === 'string' &&
    Number.isSafeInteger(value.size) &&
    Array.isArray(value.proof) &&
    value.proof.every((h) => typeof h === 'string') &&
    Number.isSafeInteger(value.event.seq) &&
    typeof value.event.org === 'string'
  )
}
