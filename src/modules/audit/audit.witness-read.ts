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
}

/**
 * Reads, for one org's log, the latest checkpoint each configured C2SP tlog witness has
 * cosigned, from the witness's monitoring path `GET <url>/<hex SHA-256(origin)>/checkpoint`
 * (the path `custodian witness serve` answers at its submission prefix), so that
 * `custodian audit verify --ask-witnesses` compares the chain with checkpoints kept outside
 * the database — which an attacker who rewrote the database, its checkpoints and its
 * witnessing state included, cannot change.
 *
 * Each note must open under one of the audit signing keys (`publicKeys`, raw Ed25519,
 * base64url) as the org's log and carry a cosignature by that witness's key; a witness
 * that holds no checkpoint of the log (404), cannot be reached, or answers anything else
 * is reported in `problems`, never silently skipped. `timeoutMs` bounds each request.
 */
export async function fetchWitnessedCheckpoints(deps: {
  fetch: OutboundFetch
  witnesses: readonly TlogWitnessConfig[]
  originHost: string
  publicKeys: readonly string[]
  orgId: string
  timeoutMs: number
}): Promise<WitnessedCheckpoints> {
  const origin = checkpointOrigin(deps.originHost, deps.orgId)
  const logs = deps.publicKeys.map((key) => ed25519NoteVerifier(origin, Buffer.from(key, 'base64url')))
  const path = createHash('sha256').update(origin, 'utf8').digest('hex')
  const out: WitnessedCheckpoints = { notes: [], problems: [] }
  for (const witness of deps.witnesses) {
    const fail = (message: string) => out.problems.push({ witness: witness.name, message })
    let response: Response
    try {
      response = await deps.fetch(`${witness.url.replace(/\/+$/, '')}/${path}/checkpoint`, {
        method: 'GET',
        headers: { accept: 'text/plain' },
        signal: AbortSignal.timeout(deps.timeoutMs),
        redirect: 'error',
      })
    } catch (error) {
      fail(`unreachable: ${(error as Error).message}`)
      continue
    }
    const body = await response.text()
    if (response.status === 404) {
      fail('holds no checkpoint of this log')
      continue
    }
    if (response.status !== 200) {
      fail(`answered ${response.status}`)
      continue
    }
    const cosigner = verifierFromKey(witness.verifierKey)
    const opened = logs
      .map((log) => {
        try {
          return openCheckpoint(body, log, [cosigner])
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
    out.notes.push(body)
  }
  return out
}
