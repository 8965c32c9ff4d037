import {
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  hkdfSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto'

/**
 * Keys derived from the root key with HKDF-SHA256, one per purpose, so that no key serves
 * two purposes and none has to be stored. (The vault's per-org key hierarchy will wrap
 * its own keys; these are the service's own.)
 */
export type KeyPurpose = 'audit-signing-v1' | 'audit-hmac-v1'

export function deriveKey(rootKey: Buffer, purpose: KeyPurpose): Buffer {
  return Buffer.from(hkdfSync('sha256', rootKey, Buffer.alloc(0), `custodian ${purpose}`, 32))
}

// PKCS#8 prefix for a raw 32-byte Ed25519 seed (RFC 8410).
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')

export interface Signer {
  /** Stable id of the public key: `ed25519:` + first 16 hex digits of SHA-256(raw public key). */
  readonly keyId: string
  /** Raw 32-byte public key, base64url. */
  readonly publicKey: string
  readonly publicKeyPem: string
  sign(message: Buffer): Buffer
}

export function ed25519FromSeed(seed: Buffer): Signer {
  const privateKey = createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  })
  const publicKey = createPublicKey(privateKey)
  const raw = rawEd25519PublicKey(publicKey)
  return {
    keyId: ed25519KeyId(raw),
    publicKey: raw.toString('base64url'),
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    sign: (message) => sign(null, message, privateKey),
  }
}

export function ed25519KeyId(rawPublicKey: Buffer): string {
  return `ed25519:${createHash('sha256').update(rawPublicKey).digest('hex').slice(0, 16)}`
}

export function rawEd25519PublicKey(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' })
  return Buffer.from(jwk.x as string, 'base64url')
}

/** Verifies an Ed25519 signature with a raw (base64url) public key. */
export function verifyEd25519(publicKeyBase64url: string, message: Buffer, signature: Buffer): boolean {
  try {
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publicKeyBase64url }, format: 'jwk' })
    return verify(null, message, key, signature)
  } catch {
    return false
  }
}

/** Keyed HMAC of a sensitive value, so audit details can show "the same value" without the value. */
export function hmacValue(key: Buffer, value: string): string {
  return `hmac-sha256:${createHmac('sha256', key).update(value, 'utf8').digest('base64url')}`
}
