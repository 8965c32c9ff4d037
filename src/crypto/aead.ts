import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

/**
 * AES-256-GCM envelope, versioned so the format can change without ambiguity:
 *
 *   byte 0      format version (1)
 *   bytes 1-12  96-bit random nonce
 *   bytes 13-   ciphertext, then the 16-byte tag
 *
 * The AAD is never stored: the caller rebuilds it from what the ciphertext must belong
 * to (org, object, version, purpose), so a ciphertext moved to another row, org or
 * purpose fails to open.
 */
const FORMAT_V1 = 1
const NONCE_BYTES = 12
const TAG_BYTES = 16

export class DecryptionError extends Error {
  constructor(message = 'ciphertext does not authenticate: wrong key, wrong context, or altered') {
    super(message)
    this.name = 'DecryptionError'
  }
}

export function seal(key: Buffer, plaintext: Buffer, aad: string): Buffer {
  if (key.length !== 32) throw new Error('AES-256-GCM needs a 32-byte key')
  const nonce = randomBytes(NONCE_BYTES)
  const cipher = createCipheriv('aes-256-gcm', key, nonce)
  cipher.setAAD(Buffer.from(aad, 'utf8'))
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()])
  return Buffer.concat([Buffer.from([FORMAT_V1]), nonce, body, cipher.getAuthTag()])
}

export function open(key: Buffer, sealed: Uint8Array, aad: string): Buffer {
  const data = Buffer.from(sealed)
  if (data.length < 1 + NONCE_BYTES + TAG_BYTES || data[0] !== FORMAT_V1)
    throw new DecryptionError('unknown ciphertext format')
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(1, 1 + NONCE_BYTES))
    decipher.setAAD(Buffer.from(aad, 'utf8'))
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES))
    return Buffer.concat([decipher.update(data.subarray(1 + NONCE_BYTES, data.length - TAG_BYTES)), decipher.final()])
  } catch {
    throw new DecryptionError()
  }
}

/** The AAD binding a ciphertext to where it belongs. Fields are fixed and ordered. */
export function contextAad(fields: { purpose: string; org: string; object: string; version: number }): string {
  return `custodian/v1|purpose=${fields.purpose}|org=${fields.org}|object=${fields.object}|version=${fields.version}`
}
