import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto'
import { Transform, type TransformCallback } from 'node:stream'

/**
 * Chunked AEAD for backup payloads: the STREAM construction (Hoang, Reyhanitabar, Rogaway,
 * Vizár, "Online Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance", CRYPTO
 * 2015), as age (age-encryption.org/v1) and Tink's streaming AEAD use it, over AES-256-GCM.
 *
 * - The payload key is HKDF-SHA256(file key, salt = 16-byte payload nonce, info
 *   {@link PAYLOAD_INFO}); the file key is fresh per backup, so nonces never repeat.
 * - The plaintext is cut into chunks of {@link CHUNK_BYTES}; chunk i is sealed with the nonce
 *   `uint88_be(i) || flag`, where flag is 0x01 on the last chunk and 0x00 otherwise, and no
 *   AAD. Every chunk but the last holds exactly CHUNK_BYTES; the last holds 0…CHUNK_BYTES
 *   (an empty payload is one empty last chunk).
 * - So a reordered chunk fails (its counter differs), a truncated stream fails (the chunk
 *   that ends it was not sealed as the last), and bytes after the last chunk fail.
 *
 * Written here because node:crypto offers AES-GCM one message at a time and no maintained
 * npm library implements a streaming AEAD over Node streams (openpgp's SEIPDv2 would, in a
 * packet format of its own that we would then wrap anyway); the construction is small and
 * documented in docs/backup-format.md so a third party can decrypt without our code.
 */
export const CHUNK_BYTES = 64 * 1024
export const TAG_BYTES = 16
export const PAYLOAD_NONCE_BYTES = 16
export const PAYLOAD_INFO = 'custodian-backup/v1 payload'

/** The payload does not authenticate: altered, reordered, truncated or extended, or the wrong key. */
export class PayloadIntegrityError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'PayloadIntegrityError'
  }
}

/** The payload key from the backup's file key and payload nonce (HKDF-SHA256, RFC 5869). */
export function payloadKey(fileKey: Buffer, payloadNonce: Buffer): Buffer {
  if (fileKey.length !== 32) throw new Error('a backup file key is 32 bytes')
  return Buffer.from(hkdfSync('sha256', fileKey, payloadNonce, PAYLOAD_INFO, 32))
}

function chunkNonce(counter: number, last: boolean): Buffer {
  const nonce = Buffer.alloc(12)
  // 88-bit counter; a JavaScript number counts 2^53 chunks (≈ 590 PB at 64 KiB), far beyond any backup.
  nonce.writeUIntBE(Math.floor(counter / 2 ** 40), 3, 3)
  nonce.writeUIntBE(counter % 2 ** 40, 6, 5)
  nonce[11] = last ? 1 : 0
  return nonce
}

function sealChunk(key: Buffer, counter: number, last: boolean, plaintext: Buffer): Buffer {
  const cipher = createCipheriv('aes-256-gcm', key, chunkNonce(counter, last))
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()])
}

function openChunk(key: Buffer, counter: number, last: boolean, sealed: Buffer): Buffer | undefined {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, chunkNonce(counter, last))
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES))
    return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)), decipher.final()])
  } catch {
    return undefined
  }
}

/**
 * A Transform that encrypts its input as a STREAM payload. It holds one chunk back, since
 * only at the end is it known which chunk is the last.
 */
export function encryptStream(key: Buffer): Transform {
  let pending: Buffer = Buffer.alloc(0)
  let counter = 0
  return new Transform({
    transform(data: Buffer, _encoding, done: TransformCallback) {
      pending = pending.length === 0 ? data : Buffer.concat([pending, data])
      // Keep at least one byte back: a full chunk is sealed as non-last only once more follows.
      while (pending.length > CHUNK_BYTES) {
        this.push(sealChunk(key, counter++, false, pending.subarray(0, CHUNK_BYTES)))
        pending = pending.subarray(CHUNK_BYTES)
      }
      done()
    },
    flush(done: TransformCallback) {
      this.push(sealChunk(key, counter++, true, pending))
      done()
    },
  })
}

/**
 * A Transform that decrypts a STREAM payload; it fails with {@link PayloadIntegrityError}
 * on the first chunk that does not open, and at the end when the last chunk is missing.
 * Plaintext is released only once its chunk has authenticated.
 */
export function decryptStream(key: Buffer): Transform {
  const sealedBytes = CHUNK_BYTES + TAG_BYTES
  let pending: Buffer = Buffer.alloc(0)
  let counter = 0
  let ended = false
  return new Transform({
    transform(data: Buffer, _encoding, done: TransformCallback) {
      if (ended) {
        done(new PayloadIntegrityError('data after the last chunk of the backup payload'))
        return
      }
      pending = pending.length === 0 ? data : Buffer.concat([pending, data])
      // A full-size sealed chunk with more behind it is a middle chunk.
      while (pending.length > sealedBytes) {
        const plain = openChunk(key, counter, false, pending.subarray(0, sealedBytes))
        if (plain === undefined) {
          done(new PayloadIntegrityError(`chunk ${counter} of the backup payload does not authenticate`))
          return
        }
        this.push(plain)
        counter++
        pending = pending.subarray(sealedBytes)
      }
      done()
    },
    flush(done: TransformCallback) {
      if (pending.length < TAG_BYTES) {
        done(new PayloadIntegrityError('the backup payload is truncated'))
        return
      }
      const plain = openChunk(key, counter, true, pending)
      if (plain === undefined) {
        // A full-size chunk that opens as a middle chunk means the stream was cut after it.
        const middle = pending.length === sealedBytes && openChunk(key, counter, false, pending) !== undefined
        done(
          new PayloadIntegrityError(
            middle
              ? 'the backup payload is truncated: its last chunk is missing'
              : `chunk ${counter} of the backup payload does not authenticate`,
          ),
        )
        return
      }
      ended = true
      this.push(plain)
      done()
    },
  })
}
