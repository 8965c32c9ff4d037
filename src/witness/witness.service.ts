import { openNote, parseNote } from '../modules/audit/audit.note.ts'
import { EMPTY_TREE_HASH, verifyConsistency } from '../modules/audit/merkle.ts'
import { cosignCheckpoint, parseCheckpoint } from '../modules/audit/tlog-checkpoint.ts'
import type { WitnessKey } from './witness.key.ts'
import type { WitnessedLogs } from './witness.logs.ts'
import { formatSizeBody, parseAddCheckpointRequest } from '../modules/audit/tlog-witness-request.ts'
import type { WitnessStateStore } from './witness.state.ts'

/**
 * The server side of C2SP tlog-witness `add-checkpoint` (https://c2sp.org/tlog-witness),
 * in the order the spec gives its checks:
 *
 *   400  the body is malformed, or the old size is above the checkpoint's size
 *   404  the checkpoint's origin is not a log this witness is configured for
 *   403  no trusted key of that origin signed it, or a trusted key's signature fails
 *   409  the old size is not the size this witness last cosigned (body: that size)
 *   422  the consistency proof from (its size, its root) to the checkpoint fails — also a
 *        non-empty proof from 0, a size-0 checkpoint without the empty root, or the same
 *        size with another root (a fork)
 *   200  one cosignature line, after the new (size, root) is on disk
 *
 * Checking the old size and recording the new checkpoint happen under one per-origin lock,
 * so two requests never both pass against the same record (the spec's rollback race). The
 * witness therefore never cosigns a size smaller than, or a tree inconsistent with, one it
 * cosigned: every cosignature is from its recorded (size, root) by a verified proof.
 */
export interface WitnessResponse {
  status: number
  contentType: string
  body: string
  /** What to log: origin, sizes, outcome; never a key. */
  summary: Record<string, unknown>
}

export interface Witness {
  addCheckpoint(body: Uint8Array): Promise<WitnessResponse>
  /** The latest cosigned checkpoint of the origin with this hex SHA-256, or undefined. */
  latestCheckpoint(originHash: string): Promise<string | undefined>
}

export function createWitness(deps: {
  key: WitnessKey
  logs: WitnessedLogs
  state: WitnessStateStore
  /** POSIX seconds for the cosignature timestamp. */
  now: () => number
}): Witness {
  const { key, logs, state } = deps
  const queues = new Map<string, Promise<unknown>>()

  /** Runs `fn` after every earlier call for the same origin has finished. */
  function serialised<T>(origin: string, fn: () => Promise<T>): Promise<T> {
    const run = (queues.get(origin) ?? Promise.resolve()).then(fn)
    const tail = run.catch(() => undefined)
    queues.set(origin, tail)
    void tail.then(() => {
      if (queues.get(origin) === tail) queues.delete(origin)
    })
    return run
  }

  return {
    async addCheckpoint(body) {
      let request: ReturnType<typeof parseAddCheckpointRequest>
      let text: string
      try {
        request = parseAddCheckpointRequest(body)
        text = parseNote(request.note).text
      } catch (error) {
        return problem(400, 'WITNESS_MALFORMED_REQUEST', (error as Error).message, {})
      }
      const origin = text.slice(0, text.indexOf('\n'))
      const verifiers = logs.get(origin)
      if (verifiers === undefined)
        return problem(404, 'WITNESS_UNKNOWN_LOG', 'this witness does not witness a log of that origin', { origin })
      let opened: ReturnType<typeof openNote>
      try {
        opened = openNote(request.note, verifiers)
      } catch (error) {
        return problem(403, 'WITNESS_SIGNATURE_REFUSED', (error as Error).message, { origin })
      }
      let checkpoint: ReturnType<typeof parseCheckpoint>
      try {
        checkpoint = parseCheckpoint(opened.text)
      } catch (error) {
        return problem(400, 'WITNESS_MALFORMED_REQUEST', (error as Error).message, { origin })
      }
      const summary = { origin, oldSize: request.oldSize, size: checkpoint.size }
      if (request.oldSize > checkpoint.size)
        return problem(400, 'WITNESS_MALFORMED_REQUEST', 'the old size is larger than the checkpoint size', summary)

      return serialised(origin, async () => {
        const record = await state.read(origin)
        const size = record?.size ?? 0
        if (request.oldSize !== size)
          return {
            status: 409,
            contentType: 'text/x.tlog.size',
            body: formatSizeBody(size),
            summary: { ...summary, outcome: 'conflict', witnessSize: size },
          }
        if (checkpoint.size === 0 && !checkpoint.rootHash.equals(EMPTY_TREE_HASH))
          return problem(422, 'WITNESS_INCONSISTENT', 'a checkpoint of size 0 has the root of the empty tree', summary)
        const oldRoot = record?.rootHash ?? EMPTY_TREE_HASH
        // A checkpoint signed by the log at the size this witness cosigned, with another root:
        // a fork, proven by the log's own signatures — evidence kept in the witness's log.
        if (record !== undefined && checkpoint.size === record.size && !checkpoint.rootHash.equals(record.rootHash))
          return problem(
            422,
            'WITNESS_INCONSISTENT',
            'the checkpoint has the size this witness cosigned but another root hash',
            { ...summary, evidence: request.note },
          )
        // A proof that fails proves nothing against the log (anyone can send one): no evidence.
        if (
          (record !== undefined && checkpoint.size < record.size) ||
          !verifyConsistency(request.oldSize, checkpoint.size, oldRoot, checkpoint.rootHash, request.proof)
        )
          return problem(
            422,
            'WITNESS_INCONSISTENT',
            'the consistency proof does not show this checkpoint extends the one this witness cosigned',
            summary,
          )
        const timestamp = Math.max(1, Math.floor(deps.now()))
        const cosignature = cosignCheckpoint(
          opened.text,
          key.name,
          key.rawPublicKey,
          (message) => key.sign(message),
          timestamp,
        )
        const logLines = opened.verified.map((v) => v.signature.line)
        // The same tree again (a resubmission): cosigned anew, nothing to write.
        if (record === undefined || record.size !== checkpoint.size)
          await state.write({
            origin,
            size: checkpoint.size,
            rootHash: checkpoint.rootHash,
            note: `${opened.text}\n${[...logLines, cosignature].map((line) => `${line}\n`).join('')}`,
            cosignedAt: timestamp,
          })
        return {
          status: 200,
          contentType: 'text/plain; charset=utf-8',
          body: `${cosignature}\n`,
          summary: { ...summary, outcome: 'cosigned', timestamp },
        }
      })
    },
    async latestCheckpoint(hash) {
      return (await state.readByOriginHash(hash))?.note
    },
  }
}

function problem(status: number, code: string, detail: string, summary: Record<string, unknown>): WitnessResponse {
  return {
    status,
    contentType: 'application/problem+json',
    body: JSON.stringify({ type: 'about:blank', title: TITLES[status] ?? 'Error', status, code, detail }),
    summary: { ...summary, outcome: code, detail },
  }
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  422: 'Unprocessable Entity',
}
