import { open, stat } from 'node:fs/promises'
import path from 'node:path'
import type { Trx } from '../../db/tenant.ts'
import { openCheckpointNote, orgOfOrigin, splitNotes } from './audit.note.ts'
import * as store from './audit.store.ts'
import { tileHashReader, treeHash } from './tlog-tiles.ts'

/**
 * Rollback detection (P8.1): the pieces that compare an org's chain in the database with
 * a checkpoint kept outside it. A checkpoint a witness holds was signed by this log, so the
 * database must hold a chain at least that long, with the same tree root at that size;
 * otherwise the database is older than the witness (restored from a backup, a snapshot, a
 * point in time) or another history (a fork).
 */

/** A checkpoint of one org's log that a witness holds: its size and hash line (hex). */
export interface WitnessedCheckpoint {
  /** `file`, or the tlog witness's name. */
  source: string
  size: number
  /** The note's hash line: the tree's root (notes signed before the tree: the chain head). */
  hash: string
}

/** How the chain compares with one witnessed checkpoint. */
export type Comparison =
  | { kind: 'consistent' }
  /** The witness holds a size beyond the chain: the database lost the events after `localSize`. */
  | { kind: 'behind'; localSize: number; localHash: string | null }
  /** The chain has another root at the witnessed size: another history. */
  | { kind: 'forked'; localSize: number; localHash: string | null }

/**
 * Compares the org's chain with a witnessed checkpoint, in the caller's transaction (owner
 * connection). Reads the head row and, below the head, the signed checkpoint at that size
 * or — if the database holds none there — the O(log n) stored tree hashes that make the
 * root at that size: the cost does not grow with the history, only with its logarithm.
 * Sizes beyond the built tree but within the chain (a tree still being built after an
 * upgrade) are compared with the chain head at that size only through a signed checkpoint;
 * with none there is nothing to compare yet, which is `consistent`.
 */
export async function compareWithChain(trx: Trx, orgId: string, witnessed: WitnessedCheckpoint): Promise<Comparison> {
  const head = await store.readHead(trx, orgId)
  const localSize = head?.seq ?? 0
  const localHash = head === undefined ? null : head.rootHash.toString('hex')
  if (witnessed.size === 0) return { kind: 'consistent' }
  if (head === undefined || witnessed.size > head.seq) return { kind: 'behind', localSize, localHash }
  const matches = (hashes: (string | undefined)[]) => hashes.includes(witnessed.hash)
  if (witnessed.size === head.treeSize) {
    // The head itself; a version 1 note named the chain head's hash instead of the root.
    if (matches([head.rootHash.toString('hex'), head.treeSize === head.seq ? head.hash.toString('hex') : undefined]))
      return { kind: 'consistent' }
  }
  const signed = await store.checkpointAt(trx, orgId, witnessed.size)
  if (signed !== undefined) {
    if (matches([signed.rootHash, signed.checkpoint.hash])) return { kind: 'consistent' }
    return { kind: 'forked', localSize, localHash }
  }
  if (witnessed.size > head.treeSize) return { kind: 'consistent' }
  const root = await treeHash(witnessed.size, tileHashReader(store.tileReader(trx, orgId)))
  if (root.toString('hex') === witnessed.hash) return { kind: 'consistent' }
  // A version 1 note at a size without a checkpoint row: the chain hash at that seq.
  const chained = await trx
    .selectFrom('audit_chain')
    .select('hash')
    .where('org_id', '=', orgId)
    .where('seq', '=', witnessed.size)
    .executeTakeFirst()
  if (chained !== undefined && Buffer.from(chained.hash).toString('hex') === witnessed.hash)
    return { kind: 'consistent' }
  return { kind: 'forked', localSize, localHash }
}

/** The size and hash line of a checkpoint note already verified (its first three lines). */
export function checkpointOfNote(source: string, note: string): WitnessedCheckpoint | undefined {
  const [, sizeLine, hashLine] = note.split('\n')
  if (sizeLine === undefined || hashLine === undefined || !/^(0|[1-9][0-9]{0,15})$/.test(sizeLine)) return undefined
  const hash = Buffer.from(hashLine, 'base64')
  if (hash.length !== 32) return undefined
  return { source, size: Number(sizeLine), hash: hash.toString('hex') }
}

/**
 * The operator's witness file (`CUSTODIAN_AUDIT_WITNESS_FILE`, appended by audit.witness.ts)
 * read back: per org, the largest checkpoint it holds that this log signed (a note that no
 * audit signing key opens is not counted: anyone who can append to the file could add one).
 * At equal sizes the later note counts.
 *
 * Read once whole, then only what was appended since (the offset of the last complete note
 * is kept): a periodic check costs what was written since the last one, not the file's
 * history. A file replaced or shortened (another inode, a smaller size: rotated) is read
 * again from its start. A missing file holds nothing (no checkpoint was delivered yet).
 */
export function createFileWitness(deps: { file: string; publicKeys: () => readonly string[] }) {
  let inode: number | undefined
  let offset = 0
  let partial = ''
  const newest = new Map<string, WitnessedCheckpoint>()

  function take(note: string): void {
    const org = orgOfOrigin(note.split('\n', 1)[0] ?? '')
    if (org === undefined) return
    for (const key of deps.publicKeys()) {
      try {
        const opened = openCheckpointNote(note, Buffer.from(key, 'base64url'))
        const held = newest.get(org)
        if (held === undefined || opened.size >= held.size)
          newest.set(org, { source: 'file', size: opened.size, hash: opened.hash })
        return
      } catch {
        // Not this key's: try the next.
      }
    }
  }

  return {
    /**
     * Reads what was appended since the last call. Throws when the file cannot be read: an
     * error other than a missing file; a file in which this process read checkpoints and that is gone
     * (deleted, or its volume unmounted — detection must not fall silent); a missing
     * directory (a typo or an unmounted volume, never a deployment that has not written a
     * checkpoint yet).
     */
    async refresh(): Promise<void> {
      let info
      try {
        info = await stat(deps.file)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
        if (newest.size > 0)
          throw new Error(`${deps.file} was read before and is gone: restore it (or its volume) to check against it`, {
            cause: error,
          })
        try {
          await stat(path.dirname(deps.file))
        } catch (missingDirectory) {
          throw new Error(`the directory of ${deps.file} does not exist (a typo, or a volume not mounted)`, {
            cause: missingDirectory,
          })
        }
        inode = undefined
        offset = 0
        partial = ''
        newest.clear()
        return
      }
      if (info.ino !== inode || info.size < offset) {
        inode = info.ino
        offset = 0
        partial = ''
        newest.clear()
      }
      if (info.size === offset) return
      const handle = await open(deps.file, 'r')
      try {
        const length = info.size - offset
        const buffer = Buffer.alloc(length)
        const { bytesRead } = await handle.read(buffer, 0, length, offset)
        offset += bytesRead
        const text = partial + buffer.subarray(0, bytesRead).toString('utf8')
        const end = lastNoteEnd(text)
        partial = end < 0 ? text : text.slice(end + 2)
        if (end >= 0) for (const note of splitNotes(text.slice(0, end + 2))) take(note)
      } finally {
        await handle.close()
      }
    },
    /** Every org the file holds a checkpoint of, as of the last refresh. */
    orgs(): string[] {
      return [...newest.keys()]
    },
    /** The org's largest checkpoint the file holds, as of the last refresh. */
    newest(orgId: string): WitnessedCheckpoint | undefined {
      return newest.get(orgId)
    },
  }
}

export type FileWitness = ReturnType<typeof createFileWitness>

/**
 * Where the last complete note ends: a note ends with its signature lines and a blank line
 * (audit.witness.ts writes `note\n`), and its text ends with a blank line too, so only a
 * blank line after a signature line (`— …`) counts. A tail after it may be a note still
 * being written: it is kept for the next read. -1: no complete note.
 */
function lastNoteEnd(text: string): number {
  for (let at = text.lastIndexOf('\n\n'); at >= 0; at = text.lastIndexOf('\n\n', at - 1)) {
    const lineStart = text.lastIndexOf('\n', at - 1) + 1
    if (text.startsWith('\u2014 ', lineStart)) return at
    if (at === 0) break
  }
  return -1
}
