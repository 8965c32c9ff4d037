import { createHash, randomBytes } from 'node:crypto'
import {
  closeSync,
  createReadStream,
  createWriteStream,
  fsyncSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs'
import { Transform, type Readable, type Writable } from 'node:stream'
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
 * A file is written as `<name>.partial` and renamed once complete and flushed to disk, so a
 * crash mid-write leaves no file under a backup's name, and a file without its end marker
 * is refused.
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

/**
 * Encrypts `plaintext` into `file` (through `file.partial`); `finish` receives the payload's
 * figures and returns the signed manifest to write after it.
 */
export async function writeBackupFile(
  file: string,
  plaintext: Readable,
  fileKey: Buffer,
  finish: (payload: BackupManifest['payload']) => Promise<string>,
): Promise<{ bytes: number }> {
  const partial = `${file}.partial`
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
  const out = createWriteStream(partial, { mode: 0o600, flags: 'wx' })
  try {
    out.write(HEADER)
    await pipeline(plaintext, encryptStream(key), measure, out as Writable)
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
    const fd = openSync(partial, 'a')
    try {
      for (const part of [manifest, length, TRAILER]) {
        let written = 0
        while (written < part.length) written += writeSync(fd, part, written, part.length - written)
      }
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(partial, file)
    return { bytes: statSync(file).size }
  } catch (error) {
    out.destroy()
    rmSync(partial, { force: true })
    throw error
  } finally {
    key.fill(0)
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
