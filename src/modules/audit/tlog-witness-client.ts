import type { OutboundFetch } from '../../http/outbound.ts'
import { addSignatureLines, NOTE_SIGNATURE_TYPE, openNote, parseNote, parseVerifierKey } from './audit.note.ts'
import { cosignatureVerifier, parseCheckpoint } from './tlog-checkpoint.ts'
import { formatAddCheckpointRequest, parseSizeBody } from './tlog-witness-request.ts'

/**
 * The client side of C2SP tlog-witness (https://c2sp.org/tlog-witness): asks one witness to
 * cosign a checkpoint, `POST <submission prefix>/add-checkpoint` with the old size the
 * caller believes the witness has, the consistency proof from that size, and the note.
 *
 * Sent like the other witness deliveries (audit.witness.ts): through the caller's
 * OutboundFetch (destination guard, CUSTODIAN_EXTRA_CA_FILE), HTTPS only, redirects not
 * followed, a timeout. The answer is checked, never trusted: a 200 counts only when it
 * carries a cosignature by the configured witness key over this very checkpoint, with a
 * non-zero timestamp; cosignature lines by other keys are ignored, as the spec requires.
 */
export type AddCheckpointResult =
  /** 200 and at least one valid cosignature by the witness key. */
  | {
      kind: 'cosigned'
      /** The witness's verified cosignature lines (without newline), each with its timestamp (POSIX seconds). */
      cosignatures: { line: string; timestamp: number }[]
      /** The note given, with those lines added. */
      note: string
    }
  /**
   * 409: the witness has cosigned up to `witnessSize`, not `oldSize`. Resend with
   * oldSize = witnessSize and the consistency proof from that size (when witnessSize is
   * above the checkpoint's size, the witness has seen a larger tree than this log signed).
   */
  | { kind: 'conflict'; witnessSize: number }
  /** 422: the witness found the proof or the checkpoint inconsistent with what it cosigned. */
  | { kind: 'inconsistent'; message: string }
  /** Any other status (400, 403, 404, 413, 5xx, a redirect): the witness said no. */
  | { kind: 'refused'; status: number; message: string }
  /** The witness answered 200 or 409 with a body that does not hold what the spec requires. */
  | { kind: 'invalid-response'; status: number; message: string }
  /** No HTTP answer: the destination was refused, the connection failed or timed out. */
  | { kind: 'transport-error'; message: string }

export interface AddCheckpointOptions {
  /** The witness's submission prefix, `https://…` without credentials; the request goes to `<url>/add-checkpoint`. */
  url: string
  /** The witness's C2SP cosigner verifier key, `<name>+<hex key ID>+base64(0x04 || Ed25519 public key)`. */
  witnessVerifierKey: string
  /** The checkpoint as a signed note (text, blank line, the log's signature lines). */
  note: string
  /** The tree size the caller believes the witness last cosigned (0 if none). */
  oldSize: number
  /** The consistency proof from `oldSize` to the checkpoint's size (RFC 9162 §2.1.4; empty from 0). At most 63 hashes. */
  proof: readonly Uint8Array[]
  fetch: OutboundFetch
  /** Milliseconds before the request is abandoned (default 10,000). */
  timeoutMs?: number
}

/** The most of a witness's answer that is read; a cosignature response is a few hundred bytes. */
const MAX_RESPONSE_BYTES = 64 * 1024

/**
 * Submits a checkpoint to a witness and classifies its answer (see AddCheckpointResult).
 * Never throws for what the witness or the network does; throws TypeError for arguments
 * that cannot make a request (a URL that is not https, a key that is not a cosigner key, a
 * note that is not a signed note, more than 63 proof hashes, an old size above the
 * checkpoint's).
 */
export async function addCheckpoint(options: AddCheckpointOptions): Promise<AddCheckpointResult> {
  const { witnessVerifierKey, note, oldSize, proof } = options
  const endpoint = submissionUrl(options.url)
  const key = parseVerifierKey(witnessVerifierKey)
  if (key.type !== NOTE_SIGNATURE_TYPE.cosignatureV1)
    throw new TypeError(`witness key ${key.name} is not a tlog-cosignature/v1 key (type 0x04)`)
  const verifier = cosignatureVerifier(key.name, key.publicKey)
  let text: string
  let size: number
  try {
    text = parseNote(note).text
    size = parseCheckpoint(text).size
  } catch (error) {
    throw new TypeError(`the note is not a signed checkpoint: ${(error as Error).message}`, { cause: error })
  }
  if (oldSize > size) throw new TypeError(`old size ${oldSize} is above the checkpoint size ${size}`)
  let body: string
  try {
    body = formatAddCheckpointRequest({ oldSize, proof, note })
  } catch (error) {
    throw new TypeError((error as Error).message, { cause: error })
  }

  let response: Response
  let answer: string
  try {
    response = await options.fetch(endpoint, {
      method: 'POST',
      redirect: 'manual',
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
      headers: { 'content-type': 'text/plain; charset=utf-8', 'user-agent': 'Custodian-Witness/1' },
      body,
    })
    answer = await readLimited(response)
  } catch (cause) {
    return { kind: 'transport-error', message: transportMessage(cause) }
  }

  switch (response.status) {
    case 200: {
      let opened: ReturnType<typeof openNote>
      try {
        opened = openNote(`${text}\n${answer}`, [verifier])
      } catch (error) {
        return { kind: 'invalid-response', status: 200, message: `no valid cosignature: ${(error as Error).message}` }
      }
      const cosignatures = opened.verified.map(({ signature }) => ({
        line: signature.line,
        timestamp: Number(signature.signature.readBigUInt64BE(0)),
      }))
      if (cosignatures.some((c) => c.timestamp === 0))
        return { kind: 'invalid-response', status: 200, message: 'a cosignature has no timestamp' }
      return {
        kind: 'cosigned',
        cosignatures,
        note: addSignatureLines(
          note,
          cosignatures.map((c) => c.line),
        ),
      }
    }
    case 409: {
      const witnessSize = parseSizeBody(answer)
      const type = response.headers.get('content-type')?.split(';')[0]?.trim().toLowerCase()
      if (witnessSize === undefined || type !== 'text/x.tlog.size')
        return { kind: 'invalid-response', status: 409, message: 'a 409 without a text/x.tlog.size body' }
      return { kind: 'conflict', witnessSize }
    }
    case 422:
      return { kind: 'inconsistent', message: describe(answer) }
    default:
      return { kind: 'refused', status: response.status, message: describe(answer) }
  }
}

function submissionUrl(url: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new TypeError('the witness URL is not a URL')
  }
  if (parsed.protocol !== 'https:' || parsed.username !== '' || parsed.password !== '')
    throw new TypeError('the witness URL must be https:// without credentials')
  if (parsed.search !== '' || parsed.hash !== '')
    throw new TypeError('the witness URL is a prefix: no query or fragment')
  return `${parsed.href.replace(/\/+$/, '')}/add-checkpoint`
}

/** Reads at most MAX_RESPONSE_BYTES of the body as UTF-8; the rest is cancelled. */
async function readLimited(response: Response): Promise<string> {
  if (response.body === null) return ''
  const reader = response.body.getReader() as ReadableStreamDefaultReader<Uint8Array>
  const chunks: Uint8Array[] = []
  let length = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    chunks.push(value)
    length += value.length
    if (length > MAX_RESPONSE_BYTES) {
      await reader.cancel()
      break
    }
  }
  return Buffer.concat(chunks).subarray(0, MAX_RESPONSE_BYTES).toString('utf8')
}

/** A short message for a refusal: a problem's detail, else the start of the text. */
function describe(answer: string): string {
  try {
    const problem = JSON.parse(answer) as { detail?: unknown; title?: unknown }
    if (typeof problem.detail === 'string') return problem.detail.slice(0, 200)
    if (typeof problem.title === 'string') return problem.title.slice(0, 200)
  } catch {
    // not JSON: the text itself
  }
  return answer.trim().slice(0, 200)
}

function transportMessage(cause: unknown): string {
  const error = cause as { name?: string; message?: string; cause?: { code?: string; message?: string } }
  if (error.name === 'TimeoutError') return 'the witness did not answer in time'
  return (error.cause?.code ?? error.cause?.message ?? error.message ?? 'network error').slice(0, 200)
}
