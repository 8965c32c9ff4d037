import { createHash } from 'node:crypto'
import type { TlogWitnessConfig } from '../../config.ts'
import type { OutboundFetch } from '../../http/outbound.ts'
import { checkpointOrigin, ed25519NoteVerifier } from './audit.note.ts'
import { openCheckpoint, verifierFromKey } from './tlog-checkpoint.ts'

/** What the configured witnesses hold for one org's log. */
export interface WitnessedCheckpoints {
  /** The notes each witness cosigned, verified: the log's signature and that witness's cosignature. */
  notes: string[]
  /** Witnesses that answered with nothing usable, each with why (unreachable, no checkpoint, bad cosignature). */
  problems: { witness: string; message: string }[]
  /**
   * Each witness that answered for this log: its verified note, or null when it said it
   * holds no checkpoint of the log (404) — an answer too, unlike an unreachable witness.
   */
  held: { witness: string; note: string | null }[]
}

/** A checkpoint note is a few hundred bytes; an answer beyond this is not one (and is not read on). */
export const MAX_CHECKPOINT_BYTES = 64 * 1024

export interface WitnessReader {
  /** The checkpoints the configured witnesses hold for one org's log (see createWitnessReader). */
  ask(orgId: string): Promise<WitnessedCheckpoints>
}

/**
 * Reads, for one org's log at a time, the latest checkpoint each configured C2SP tlog
 * witness has cosigned, from the witness's monitoring path
 * `GET <url>/<hex SHA-256(origin)>/checkpoint` (the path `custodian witness serve` answers
 * at its submission prefix), so that `custodian audit verify --ask-witnesses` compares the
 * chain with checkpoints kept outside the database — which an attacker who rewrote the
 * database, its checkpoints and its witnessing state included, cannot change.
 *
 * Each note must open under one of the audit signing keys (`publicKeys`, raw Ed25519,
 * base64url) as the org's log and carry a cosignature by that witness's key. Anything else
 * is a problem of that witness for that org, never a silent skip: no checkpoint of the log
 * (404), another status, an answer over MAX_CHECKPOINT_BYTES, no answer within
 * `timeoutMs` (headers and body together), an unreachable witness. A witness that did not
 * answer in time or could not be reached is not asked again during this reader's life:
 * each later org gets the problem at once, so one slow witness costs one timeout, not one
 * per org.
 */
export function createWitnessReader(deps: {
  fetch: OutboundFetch
  witnesses: readonly TlogWitnessConfig[]
  originHost: string
  publicKeys: readonly string[]
  timeoutMs: number
}): WitnessReader {
  const down = new Map<string, string>()
  return {
    async ask(orgId) {
      const origin = checkpointOrigin(deps.originHost, orgId)
      const logs = deps.publicKeys.map((key) => ed25519NoteVerifier(origin, Buffer.from(key, 'base64url')))
      const path = createHash('sha256').update(origin, 'utf8').digest('hex')
      const out: WitnessedCheckpoints = { notes: [], problems: [], held: [] }
      for (const witness of deps.witnesses) {
        const fail = (message: string) => out.problems.push({ witness: witness.name, message })
        const earlier = down.get(witness.name)
        if (earlier !== undefined) {
          fail(`not asked: ${earlier} for an earlier org`)
          continue
        }
        const answer = await get(`${witness.url.replace(/\/+$/, '')}/${path}/checkpoint`)
        if (answer.kind === 'down') {
          down.set(witness.name, answer.message)
          fail(answer.message)
          continue
        }
        if (answer.kind === 'refused') {
          if (answer.status === 404) out.held.push({ witness: witness.name, note: null })
          fail(answer.message)
          continue
        }
        const cosigner = verifierFromKey(witness.verifierKey)
        const opened = logs
          .map((log) => {
            try {
              return openCheckpoint(answer.body, log, [cosigner])
            } catch {
              return undefined
            }
          })
          .find((o) => o !== undefined)
        if (opened === undefined) {
          fail('its checkpoint is not signed by this log’s audit key')
          continue
        }
        if (!opened.cosignatures.some((c) => c.name === cosigner.name)) {
          fail('its checkpoint carries no cosignature of its own key')
          continue
        }
        out.notes.push(answer.body)
        out.held.push({ witness: witness.name, note: answer.body })
      }
      return out
    },
  }

  /** One GET, its status checked before its body, the body read up to the cap, all within the timeout. */
  async function get(
    url: string,
  ): Promise<
    | { kind: 'ok'; body: string }
    | { kind: 'refused'; status?: number; message: string }
    | { kind: 'down'; message: string }
  > {
    const signal = AbortSignal.timeout(deps.timeoutMs)
    try {
      const response = await deps.fetch(url, {
        method: 'GET',
        headers: { accept: 'text/plain' },
        signal,
        redirect: 'error',
      })
      if (response.status !== 200) {
        await response.body?.cancel().catch(() => undefined)
        return {
          kind: 'refused',
          status: response.status,
          message: response.status === 404 ? 'holds no checkpoint of this log' : `answered ${response.status}`,
        }
      }
      const chunks: Buffer[] = []
      let size = 0
      // Leaving the loop early cancels the body: nothing more is read from the witness.
      for await (const chunk of (response.body ?? []) as AsyncIterable<Uint8Array>) {
        size += chunk.byteLength
        if (size > MAX_CHECKPOINT_BYTES)
          return { kind: 'refused', message: `answered more than ${MAX_CHECKPOINT_BYTES} bytes: not a checkpoint` }
        chunks.push(Buffer.from(chunk))
      }
      return { kind: 'ok', body: Buffer.concat(chunks).toString('utf8') }
    } catch (error) {
      if (signal.aborted) return { kind: 'down', message: `no answer within ${deps.timeoutMs} ms` }
      const cause = (error as { cause?: { message?: string; code?: string } }).cause
      const detail = cause?.code ?? cause?.message
      return {
        kind: 'down',
        message: `unreachable: ${(error as Error).message}${detail === undefined ? '' : ` (${detail})`}`,
      }
    }
  }
}
