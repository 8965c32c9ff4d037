import { createHash, randomUUID } from 'node:crypto'
import { mkdirSync, readdirSync, unlinkSync } from 'node:fs'
import { open, readFile, rename, unlink } from 'node:fs/promises'
import path from 'node:path'
import { HASH_SIZE } from '../modules/audit/merkle.ts'

/**
 * What a witness remembers of each log (C2SP tlog-witness: "the latest checkpoint it
 * observed and verified"): per origin, the size and root hash it last cosigned, and that
 * checkpoint as a note with the log's signature and the witness's cosignature.
 *
 * One file per origin, `state/<SHA-256(origin) hex>.json`, replaced atomically: written to
 * a temporary file, fsynced, renamed over the old one, then the directory fsynced. A crash
 * at any point leaves either the old record or the new one, never a mix and never nothing;
 * the witness answers only after the directory is synced, so an acknowledged cosignature's
 * state is on disk. A record that cannot be read is an error, never "size 0": a witness
 * that forgot a log would cosign a rolled-back or forked tree.
 */
export interface WitnessRecord {
  origin: string
  size: number
  rootHash: Buffer
  /** The cosigned checkpoint: text, the log's verified signature lines, the witness's cosignature. */
  note: string
  /** The cosignature's timestamp (POSIX seconds). */
  cosignedAt: number
}

export interface WitnessStateStore {
  /** The record of an origin, or undefined if the witness never cosigned for it. Throws on an unreadable record. */
  read(origin: string): Promise<WitnessRecord | undefined>
  /** The record for an origin given as the hex SHA-256 of its name (the monitoring path), if any. */
  readByOriginHash(originHash: string): Promise<WitnessRecord | undefined>
  /** Replaces an origin's record durably; resolves only once it is on disk. */
  write(record: WitnessRecord): Promise<void>
}

/** Lowercase hex SHA-256 of an origin line: the tlog-witness monitoring path element. */
export function originHash(origin: string): string {
  return createHash('sha256').update(origin, 'utf8').digest('hex')
}

/** A record that exists but cannot be trusted: the witness refuses to act on that origin. */
export class StateUnreadable extends Error {
  override name = 'StateUnreadable'
}

/** The file-backed state under `<dir>/state`, read through a cache (one process owns the directory: see `lockDirectory`). */
export function openStateStore(dir: string): WitnessStateStore {
  const stateDir = path.join(dir, 'state')
  mkdirSync(stateDir, { recursive: true, mode: 0o700 })
  // Temporary files of writes a crash interrupted: never renamed, so never acknowledged.
  for (const name of readdirSync(stateDir)) if (name.endsWith('.tmp')) unlinkSync(path.join(stateDir, name))
  const cache = new Map<string, WitnessRecord | undefined>()

  async function load(hash: string): Promise<WitnessRecord | undefined> {
    if (cache.has(hash)) return cache.get(hash)
    let text: string
    try {
      text = await readFile(path.join(stateDir, `${hash}.json`), 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
      cache.set(hash, undefined)
      return undefined
    }
    const record = decodeRecord(text, hash)
    cache.set(hash, record)
    return record
  }

  return {
    read: (origin) => load(originHash(origin)),
    readByOriginHash: async (hash) => (/^[0-9a-f]{64}$/.test(hash) ? load(hash) : undefined),
    async write(record) {
      const hash = originHash(record.origin)
      const file = path.join(stateDir, `${hash}.json`)
      const temporary = path.join(stateDir, `${hash}.${randomUUID()}.tmp`)
      const json = `${JSON.stringify({
        origin: record.origin,
        size: record.size,
        rootHash: record.rootHash.toString('base64'),
        note: record.note,
        cosignedAt: record.cosignedAt,
      })}\n`
      // Whatever happens below, the cache no longer speaks for the disk: read it again.
      cache.delete(hash)
      try {
        const handle = await open(temporary, 'wx', 0o600)
        try {
          await handle.writeFile(json, 'utf8')
          await handle.sync()
        } finally {
          await handle.close()
        }
        await rename(temporary, file)
      } catch (error) {
        await unlink(temporary).catch(() => undefined)
        throw error
      }
      // The rename is durable only once the directory entry is.
      const directory = await open(stateDir, 'r')
      try {
        await directory.sync()
      } finally {
        await directory.close()
      }
      cache.set(hash, { ...record, rootHash: Buffer.from(record.rootHash) })
    },
  }
}

function decodeRecord(text: string, hash: string): WitnessRecord {
  let value: Record<string, unknown>
  try {
    value = JSON.parse(text) as Record<string, unknown>
  } catch {
    throw new StateUnreadable(`state file ${hash}.json is not JSON`)
  }
  const { origin, size, rootHash, note, cosignedAt } = value
  const root = typeof rootHash === 'string' ? Buffer.from(rootHash, 'base64') : Buffer.alloc(0)
  if (
    typeof origin !== 'string' ||
    originHash(origin) !== hash ||
    typeof size !== 'number' ||
    !Number.isSafeInteger(size) ||
    size < 0 ||
    root.length !== HASH_SIZE ||
    typeof note !== 'string' ||
    typeof cosignedAt !== 'number'
  )
    throw new StateUnreadable(`state file ${hash}.json is not a witness record for its origin`)
  return { origin, size, rootHash: root, note, cosignedAt }
}

/**
 * Takes `<dir>/witness.lock` for this process, so that two witnesses never serve one state
 * directory (each would check against a record the other is replacing). A lock left by a
 * process that no longer runs (a crash, kill -9) is taken over. Returns its release.
 */
export async function lockDirectory(dir: string): Promise<() => Promise<void>> {
  const file = path.join(dir, 'witness.lock')
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(file, 'wx', 0o600)
      await handle.writeFile(`${process.pid}\n`)
      await handle.sync()
      await handle.close()
      return async () => {
        await unlink(file).catch(() => undefined)
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const holder = Number((await readFile(file, 'utf8').catch(() => '')).trim())
      if (Number.isSafeInteger(holder) && holder > 0 && holder !== process.pid && isRunning(holder))
        throw new Error(`another witness (pid ${holder}) serves ${dir}; stop it first`, { cause: error })
      await unlink(file).catch(() => undefined)
    }
  }
  throw new Error(`could not take ${file}`)
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
