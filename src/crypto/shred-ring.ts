import { createHash, randomBytes } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs'
import path from 'node:path'
import type { DB } from '../db/schema.ts'
import { contextAad, open, seal } from './aead.ts'

/**
 * The shred ring: what makes erasing a data subject reach database backups (P7.2, P7.3).
 *
 * A subject's key lives in the database, wrapped by its org key, so a dump taken before
 * an erasure still holds it — and with the root key, would still open it. The ring adds
 * a layer the database does not hold: each subject key is also sealed with one of
 * {@link BUCKETS} bucket keys (chosen by the subject's ref), kept in a file outside the
 * database. Erasing a subject advances its bucket to a new epoch: the bucket's other
 * subject keys are resealed under the new epoch, and the old epoch's key is deleted from
 * the file. From then on, no dump taken before the erasure can open that subject's data,
 * whatever else it holds. (Nor can it open the other subjects of the bucket — about one
 * in a thousand: the price of not rewriting every subject at every erasure.)
 *
 * The file holds raw keys and is mode 0600, like root.key; it is not enough on its own
 * (a subject key is still wrapped by the org key under the root key). Keep it out of
 * long-lived backups: an old copy of the ring restores what an erasure destroyed.
 * Processes of one deployment must share the file; writes are crash-safe (temporary
 * file, fsync, rename) and made by one process at a time (the caller holds a database
 * advisory lock); readers notice a newer file by its modification time.
 */
export const BUCKETS = 1024

export class ShredRingError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ShredRingError'
  }
}

interface RingFile {
  format: 'custodian-shred-ring/1'
  /** bucket -> epoch -> raw key, base64url */
  buckets: Record<string, Record<string, string>>
}

export interface ShredRing {
  readonly file: string
  exists(): boolean
  bucketOf(subjectRef: Uint8Array): number
  /** The bucket's newest epoch (the one new keys are sealed under). */
  current(bucket: number): number
  epochs(bucket: number): number[]
  seal(bucket: number, epoch: number, plaintext: Buffer, object: string): Buffer
  open(bucket: number, epoch: number, sealed: Uint8Array, object: string): Buffer
  /** Creates the file with epoch 1 of every bucket; refuses to overwrite one. */
  create(): void
  /** Adds a new epoch to a bucket; returns it. The old epochs stay until retired. */
  advance(bucket: number): number
  /** Deletes an epoch's key for good. */
  retire(bucket: number, epoch: number): void
}

export function createShredRing(file: string): ShredRing {
  let cache: { mtimeMs: number; size: number; ring: RingFile } | undefined
  const aad = (bucket: number, epoch: number, object: string) =>
    contextAad({ purpose: 'shred-ring', org: `bucket-${bucket}`, object, version: epoch })

  function load(): RingFile {
    let stat: ReturnType<typeof statSync>
    try {
      stat = statSync(file)
    } catch {
      throw new ShredRingError(
        `the shred ring ${file} does not exist; it is created at the first start (and must never be lost while the database holds personal data)`,
      )
    }
    if ((stat.mode & 0o077) !== 0)
      throw new ShredRingError(`the shred ring ${file} is readable by group or others; run chmod 600 on it`)
    if (cache !== undefined && cache.mtimeMs === stat.mtimeMs && cache.size === stat.size) return cache.ring
    const ring = JSON.parse(readFileSync(file, 'utf8')) as RingFile
    if ((ring.format as unknown) !== 'custodian-shred-ring/1') throw new ShredRingError(`${file} is not a shred ring`)
    cache = { mtimeMs: stat.mtimeMs, size: stat.size, ring }
    return ring
  }

  function keyOf(bucket: number, epoch: number): Buffer {
    const encoded = load().buckets[String(bucket)]?.[String(epoch)]
    if (encoded === undefined) {
      throw new ShredRingError(
        `epoch ${epoch} of shred-ring bucket ${bucket} is not in ${file}: it was retired by an erasure (its data is gone by design), or this process does not share the deployment's ring file`,
      )
    }
    return Buffer.from(encoded, 'base64url')
  }

  function write(ring: RingFile): void {
    const next = `${file}.next`
    const fd = openSync(next, 'w', 0o600)
    try {
      writeSync(fd, JSON.stringify(ring))
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(next, file)
    const dir = openSync(path.dirname(file), 'r')
    try {
      fsyncSync(dir)
    } finally {
      closeSync(dir)
    }
    cache = undefined
  }

  const newKey = () => randomBytes(32).toString('base64url')

  function epochs(bucket: number): number[] {
    const found = Object.keys(load().buckets[String(bucket)] ?? {}).map(Number)
    if (found.length === 0) throw new ShredRingError(`shred-ring bucket ${bucket} has no key in ${file}`)
    return found.sort((a, b) => a - b)
  }

  return {
    file,
    exists: () => existsSync(file),

    bucketOf(subjectRef) {
      // The ref is an HMAC already; hashing again keeps the bucket independent of its layout.
      return createHash('sha256').update(subjectRef).digest().readUInt16BE(0) % BUCKETS
    },

    current: (bucket) => Math.max(...epochs(bucket)),
    epochs,

    seal(bucket, epoch, plaintext, object) {
      return seal(keyOf(bucket, epoch), plaintext, aad(bucket, epoch, object))
    },

    open(bucket, epoch, sealed, object) {
      return open(keyOf(bucket, epoch), sealed, aad(bucket, epoch, object))
    },

    create() {
      if (existsSync(file)) throw new ShredRingError(`${file} exists already`)
      const buckets: RingFile['buckets'] = {}
      for (let b = 0; b < BUCKETS; b++) buckets[String(b)] = { '1': newKey() }
      write({ format: 'custodian-shred-ring/1', buckets })
    },

    advance(bucket) {
      cache = undefined
      const ring = load()
      const epochs = ring.buckets[String(bucket)] ?? {}
      const next = Math.max(0, ...Object.keys(epochs).map(Number)) + 1
      ring.buckets[String(bucket)] = { ...epochs, [String(next)]: newKey() }
      write(ring)
      return next
    },

    retire(bucket, epoch) {
      cache = undefined
      const ring = load()
      const epochs = { ...(ring.buckets[String(bucket)] ?? {}) }
      if (Object.keys(epochs).length <= 1 && epochs[String(epoch)] !== undefined)
        throw new ShredRingError(`epoch ${epoch} is the only one of bucket ${bucket}`)
      ring.buckets[String(bucket)] = Object.fromEntries(Object.entries(epochs).filter(([e]) => e !== String(epoch)))
      write(ring)
    },
  }
}

/**
 * At start: creates the ring if there is none — unless the database already holds keys
 * sealed by one, in which case the ring was lost (or this process does not see the
 * deployment's ring file) and starting would make those subjects' data unreadable.
 * Serialized across processes by the ring's advisory lock.
 */
export async function ensureShredRing(ring: ShredRing, db: Kysely<DB>): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(hashtext('custodian:shred-ring'))`.execute(trx)
    if (ring.exists()) return
    const sealed = await sql<{
      n: number
    }>`SELECT count(*)::int AS n FROM subject_keys WHERE ring_epoch IS NOT NULL`.execute(trx)
    if (Number(sealed.rows[0]?.n ?? 0) > 0) {
      throw new ShredRingError(
        `the shred ring ${ring.file} is missing, but the database holds subject keys sealed by it; restore the file (CUSTODIAN_SHRED_RING_FILE) — without it that personal data cannot be read`,
      )
    }
    ring.create()
  })
}
