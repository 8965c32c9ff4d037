/**
 * The body of a C2SP tlog-witness `add-checkpoint` request (https://c2sp.org/tlog-witness):
 *
 *   old <size>\n
 *   <base64 consistency proof hash>\n   (0 to 63 lines)
 *   \n
 *   <checkpoint note: origin, size, root hash, extension lines, blank line, signatures>
 *
 * Shared by the witness (parse) and the client (format), so both speak the same bytes.
 */
import { HASH_SIZE } from './merkle.ts'

/** The spec's limit: a client MUST NOT send more than 63 consistency proof lines. */
export const MAX_PROOF_LINES = 63

/** A parsed add-checkpoint request; the note is not yet opened. */
export interface AddCheckpointRequest {
  oldSize: number
  proof: Buffer[]
  /** The checkpoint note as sent (text, blank line, signature lines). */
  note: string
}

/** A request the witness answers 400 Bad Request; the message says what was wrong. */
export class MalformedRequest extends Error {
  override name = 'MalformedRequest'
}

/** Formats an add-checkpoint request body. Throws RangeError on a size, proof or note that cannot be sent. */
export function formatAddCheckpointRequest(request: {
  oldSize: number
  proof: readonly Uint8Array[]
  note: string
}): string {
  const { oldSize, proof, note } = request
  if (!Number.isSafeInteger(oldSize) || oldSize < 0) throw new RangeError('old size is a non-negative integer')
  if (proof.length > MAX_PROOF_LINES) throw new RangeError(`a consistency proof has at most ${MAX_PROOF_LINES} hashes`)
  if (proof.some((hash) => hash.length !== HASH_SIZE)) throw new RangeError('consistency proof hashes are 32 bytes')
  if (!note.endsWith('\n')) throw new RangeError('a signed note ends with a newline')
  const lines = [`old ${oldSize}`, ...proof.map((hash) => Buffer.from(hash).toString('base64')), '']
  return `${lines.map((line) => `${line}\n`).join('')}${note}`
}

/**
 * Parses an add-checkpoint request body (UTF-8). Throws MalformedRequest, saying why, when
 * the old size line, a proof line or the blank line before the note is missing or malformed.
 * The note itself is checked by the caller (signed-note and checkpoint parsing).
 */
export function parseAddCheckpointRequest(body: Uint8Array): AddCheckpointRequest {
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(body)
  } catch {
    throw new MalformedRequest('the body is not UTF-8')
  }
  const firstEnd = text.indexOf('\n')
  const oldLine = firstEnd < 0 ? text : text.slice(0, firstEnd)
  const match = /^old (0|[1-9][0-9]{0,15})$/.exec(oldLine)
  if (firstEnd < 0 || match === null || !Number.isSafeInteger(Number(match[1])))
    throw new MalformedRequest('the body starts with "old <size>" and a newline (decimal, no leading zeros)')
  const proof: Buffer[] = []
  let at = firstEnd + 1
  for (;;) {
    const end = text.indexOf('\n', at)
    if (end < 0) throw new MalformedRequest('no blank line between the consistency proof and the checkpoint')
    const line = text.slice(at, end)
    at = end + 1
    if (line === '') break
    if (proof.length === MAX_PROOF_LINES)
      throw new MalformedRequest(`more than ${MAX_PROOF_LINES} consistency proof lines`)
    const hash = Buffer.from(line, 'base64')
    if (hash.length !== HASH_SIZE || hash.toString('base64') !== line)
      throw new MalformedRequest(`consistency proof line ${proof.length + 1} is not 32 bytes of standard base64`)
    proof.push(hash)
  }
  const note = text.slice(at)
  if (note === '') throw new MalformedRequest('no checkpoint after the blank line')
  return { oldSize: Number(match[1]), proof, note }
}

/** The `text/x.tlog.size` body of a 409 Conflict: the witness's size in decimal and a newline. */
export function formatSizeBody(size: number): string {
  return `${size}\n`
}

/** Parses a `text/x.tlog.size` body; undefined unless it is a decimal size (no leading zeros) and a newline. */
export function parseSizeBody(body: string): number | undefined {
  const match = /^(0|[1-9][0-9]{0,15})\n$/.exec(body)
  if (match === null) return undefined
  const size = Number(match[1])
  return Number.isSafeInteger(size) ? size : undefined
}
