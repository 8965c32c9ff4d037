import { createHash, randomBytes } from 'node:crypto'
import { closeSync, createReadStream, openSync, readSync, rmSync, statSync } from 'node:fs'
import { link, open, unlink, type FileHandle } from 'node:fs/promises'
import path from 'node:path'
import { Transform, Writable, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { CHUNK_BYTES, decryptStream, encryptStream, PAYLOAD_NONCE_BYTES, payloadKey } from './backup.stream.ts'
import type { BackupManifest } from './backup.manifest.ts'

/**
 * A backup file (docs/backup-format.md):
 *
 *   16 bytes   "CUSTODIAN-BKP-v1" (ASCII)
 *   n bytes    the payload: STREAM chunks of AES-256-GCM (backup.stream.ts)
 *   m bytes    the manifest, a compact JWS (ASCII)
 *   8 bytes    m, unsigned big-endian
 *   16 bytes   "CUSTODIAN-BKPEND" (ASCII)
 *
 * The manifest comes last because it signs the payload's SHA-256, known only at the end.
 * A file is written under a temporary name of its own and takes its name only once complete
 * and flushed to disk ({@link writeBackupFile}), so a crash mid-write leaves no file under a
 * backup's name, and a file without its end marker is refused.
 */
export const HEADER = Buffer.from('CUSTODIAN-BKP-v1', 'ascii')
export const TRAILER = Buffer.from('CUSTODIAN-BKPEND', 'ascii')
export const BACKUP_SUFFIX = '.cbk'
const LENGTH_BYTES = 8
const MAX_MANIFEST_BYTES = 16 * 1024 * 1024

/** The file is not a complete backup, or its payload is not what its manifest signed. */
export class BackupFileError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'BackupFileError'
  }
}

/** Every code a {@link BackupRefusedError} carries (each documented in docs/errors.md, "Backup refusals"). */
export const BACKUP_REFUSAL_CODES = [
  'BACKUP_NOT_FOUND',
  'BACKUP_EXISTS',
  'BACKUP_ENGINE_MISMATCH',
  'BACKUP_TARGET_IN_USE',
  'BACKUP_TARGET_NOT_EMPTY',
  'BACKUP_REGION_MISMATCH',
] as const

/**
 * A backup was refused before anything changed; `code` is stable (docs/errors.md, "Backup
 * refusals"), the message says what to do.
 */
export class BackupRefusedError extends Error {
  readonly code: (typeof BACKUP_REFUSAL_CODES)[number]
  constructor(code: BackupRefusedError['code'], message: string) {
    super(message)
    this.name = 'BackupRefusedError'
    this.code = code
  }
}

/**
 * Encrypts `plaintext` into `file`; `finish` receives the payload's figures and returns the
 * signed manifest to write after it. Returns the file's size in bytes.
 *
 * Several runs may aim at one name at once (a scheduled run and `backup create` in the same
 * second), so a run only ever touches what it created:
 * - it writes to its own temporary file, `<file>.<random>.partial`, created with O_EXCL, and
 *   writes everything (header, payload, manifest, trailer) through that one handle;
 * - it flushes the file, then publishes it with `link()`, which fails when the name exists —
 *   atomically, so a file that took the name meanwhile is never replaced (`rename()` would
 *   replace it, and Node has no `renameat2(RENAME_NOREPLACE)`); then it removes its temporary
 *   name and flushes the directory;
 * - it reports success only once the file under the name is the one it wrote (same inode)
 *   and is complete (size, frame);
 * - on failure it removes its temporary file, and the published name only while that is
 *   still its own inode.
 *
 * Throws {@link BackupRefusedError} `BACKUP_EXISTS` when the name is taken; a filesystem
 * without hard links (some network or FUSE mounts) fails with a message saying so.
 */
export async function writeBackupFile(
  file: string,
  plaintext: Readable,
  fileKey: Buffer,
  finish: (payload: BackupManifest['payload']) => Promise<string>,
): Promise<{ bytes: number }> {
  const partial = `${file}.${randomBytes(8).toString('hex')}.partial`
  const nonce = randomBytes(PAYLOAD_NONCE_BYTES)
  const key = payloadKey(fileKey, nonce)
  const hash = createHash('sha256')
  let ciphertextBytes = 0
  const measure = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk)
      ciphertextBytes += chunk.length
      done(null, chunk)
    },
  })
  let handle: FileHandle | undefined
  let written: { ino: number } | undefined
  let published = false
  try {
    handle = await open(partial, 'wx', 0o600)
    const out = handle
    await writeAll(out, HEADER)
    // Our own sink, not a WriteStream on the handle: a stream destroyed on error closes its fd
    // by itself, while here only this function ever closes the handle (after pending writes).
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        writeAll(out, chunk).then(() => done(), done)
      },
    })
    await pipeline(plaintext, encryptStream(key), measure, sink)
    const manifest = Buffer.from(
      await finish({
        cipher: 'AES-256-GCM-STREAM',
        chunkBytes: CHUNK_BYTES,
        nonce: nonce.toString('base64url'),
        ciphertextBytes,
        ciphertextSha256: hash.digest('hex'),
      }),
      'ascii',
    )
    const length = Buffer.alloc(LENGTH_BYTES)
    length.writeBigUInt64BE(BigInt(manifest.length))
    for (const part of [manifest, length, TRAILER]) await writeAll(out, part)
    await out.sync()
    const expected = HEADER.length + ciphertextBytes + manifest.length + LENGTH_BYTES + TRAILER.length
    const stat = await out.stat()
    written = { ino: stat.ino }
    await out.close()
    handle = undefined
    if (stat.size !== expected)
      throw new BackupFileError(`${partial} holds ${stat.size} bytes where ${expected} were written`)
    await publish(partial, file)
    published = true
    await unlink(partial)
    await syncDirectory(path.dirname(file))
    const final = statSync(file)
    if (final.ino !== written.ino || final.size !== expected)
      throw new BackupFileError(`${file} is not the file this backup wrote`)
    const frame = readBackupFrame(file)
    if (frame.payloadEnd - frame.payloadStart !== ciphertextBytes)
      throw new BackupFileError(`${file} does not frame the payload this backup wrote`)
    return { bytes: expected }
  } catch (error) {
    await handle?.close().catch(() => undefined)
    rmSync(partial, { force: true }) // ours: its random name was created with O_EXCL
    if (published && written !== undefined && sameInode(file, written.ino)) rmSync(file, { force: true })
    throw error
  } finally {
    key.fill(0)
  }
}

async function writeAll(handle: FileHandle, bytes: Buffer): Promise<void> {
  let done = 0
  while (done < bytes.length) done += (await handle.write(bytes, done, bytes.length - done, null)).bytesWritten
}

/** Gives `partial` the name `file`, refusing when the name exists (atomically: `link()`). */
async function publish(partial: string, file: string): Promise<void> {
  try {
    await link(partial, file)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EEXIST')
      throw new BackupRefusedError(
        'BACKUP_EXISTS',
        `${file} was created by someone else while this backup was written; it was not replaced and this backup was discarded: choose another name`,
      )
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS')
      throw new Error(
        `${path.dirname(file)} does not support hard links (${code}), which a backup needs to take its name without replacing another file: write backups to a local filesystem`,
        { cause: error },
      )
    throw error
  }
}

/** Flushes a directory's entries (the new name, the removed temporary name) to disk. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

function sameInode(file: string, ino: number): boolean {
  try {
    return statSync(file).ino === ino
  } catch {
    return false
  }
}

/** A backup file's parts: its signed manifest (not yet verified) and where its payload lies. */
export interface BackupFileParts {
  manifestJws: string
  payloadStart: number
  /** Exclusive. */
  payloadEnd: number
}

/** Reads a backup file's frame: header, trailer and manifest; throws {@link BackupFileError}. */
export function readBackupFrame(file: string): BackupFileParts {
  const size = statSync(file).size
  const fd = openSync(file, 'r')
  try {
    const read = (position: number, length: number) => {
      const buffer = Buffer.alloc(length)
      const n = readSync(fd, buffer, 0, length, position)
      return buffer.subarray(0, n)
    }
    if (size < HEADER.length + LENGTH_BYTES + TRAILER.length || !read(0, HEADER.length).equals(HEADER))
      throw new BackupFileError(`${file} is not a Custodian backup`)
    if (!read(size - TRAILER.length, TRAILER.length).equals(TRAILER))
      throw new BackupFileError(`${file} is incomplete: its end marker is missing (truncated or still being written)`)
    const length = read(size - TRAILER.length - LENGTH_BYTES, LENGTH_BYTES).readBigUInt64BE()
    const payloadEnd = size - TRAILER.length - LENGTH_BYTES - Number(length)
    if (length > BigInt(MAX_MANIFEST_BYTES) || payloadEnd < HEADER.length)
      throw new BackupFileError(`${file}: the manifest's length is out of bounds`)
    const manifestJws = read(payloadEnd, Number(length)).toString('ascii')
    return { manifestJws, payloadStart: HEADER.length, payloadEnd }
  } finally {
    closeSync(fd)
  }
}

/** Checks that the payload is the one the (verified) manifest signs: size and SHA-256. */
export async function checkPayloadHash(file: string, parts: BackupFileParts, manifest: BackupManifest): Promise<void> {
  const bytes = parts.payloadEnd - parts.payloadStart
  if (bytes !== manifest.payload.ciphertextBytes)
    throw new BackupFileError(
      `the payload is ${bytes} bytes where the manifest signs ${manifest.payload.ciphertextBytes}: the file was altered`,
    )
  const hash = createHash('sha256')
  if (bytes > 0) {
    for await (const chunk of createReadStream(file, { start: parts.payloadStart, end: parts.payloadEnd - 1 }))
      hash.update(chunk as Buffer)
  }
  if (hash.digest('hex') !== manifest.payload.ciphertextSha256)
    throw new BackupFileError('the payload’s SHA-256 differs from the one the manifest signs: the file was altered')
}

/** The decrypted payload as a stream; it errors on the first chunk that does not authenticate. */
export function decryptPayload(
  file: string,
  parts: BackupFileParts,
  manifest: BackupManifest,
  fileKey: Buffer,
): Readable {
  const key = payloadKey(fileKey, Buffer.from(manifest.payload.nonce, 'base64url'))
  const source = createReadStream(file, {
    start: parts.payloadStart,
    end: Math.max(parts.payloadStart, parts.payloadEnd - 1),
  })
  const decrypt = decryptStream(key)
  source.on('error', (error) => decrypt.destroy(error))
  return source.pipe(decrypt)
}
