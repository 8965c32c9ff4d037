import {
  createECDH,
  createHmac,
  createPrivateKey,
  createPublicKey,
  hkdfSync,
  sign as signWith,
  timingSafeEqual,
  verify as verifyWith,
  type KeyObject,
} from 'node:crypto'
import type { TransitKeyType } from './vault.tables.ts'

/*
 * A transit key version's material, derived from the one 32-byte secret each version
 * stores wrapped under the org key (the same row and the same org-key rotation path for
 * every key type). HKDF-SHA256 (RFC 5869) with a distinct label per use keeps the uses
 * apart, as Vault derives a separate HMAC key per version:
 *
 * - aes256-gcm96: the secret itself is the AES-256 key (the keys made before key types).
 * - HMAC (every type): HKDF(secret, info "custodian/transit/hmac"), 32 bytes.
 * - ed25519: the RFC 8032 private key (seed) is HKDF(secret, info "custodian/transit/ed25519").
 * - ecdsa-p256: the scalar d = (HKDF(secret, info "custodian/transit/ecdsa-p256", 48 bytes)
 *   mod (n − 1)) + 1, FIPS 186-5 A.2.1's extra-bits method, so d is uniform in [1, n − 1].
 */

/** Vault's key types that sign. */
export const SIGNING_TYPES: ReadonlySet<TransitKeyType> = new Set(['ed25519', 'ecdsa-p256'])

/** Vault's hash names (HMAC, ECDSA) and node:crypto's. */
export const HASH_ALGORITHMS = {
  'sha2-224': 'sha224',
  'sha2-256': 'sha256',
  'sha2-384': 'sha384',
  'sha2-512': 'sha512',
  'sha3-224': 'sha3-224',
  'sha3-256': 'sha3-256',
  'sha3-384': 'sha3-384',
  'sha3-512': 'sha3-512',
} as const

export type HashAlgorithm = keyof typeof HASH_ALGORITHMS

export const isHashAlgorithm = (name: string): name is HashAlgorithm => Object.hasOwn(HASH_ALGORITHMS, name)

/** Vault's `marshaling_algorithm` for ECDSA: DER (`asn1`) or r‖s (`jws`, RFC 7518 §3.4). */
export type Marshaling = 'asn1' | 'jws'

/** The material of one key version, kept in the transit cache; zeroed when dropped. */
export interface VersionMaterial {
  /** The stored secret: the AES-256-GCM key of an aes256-gcm96 key. */
  secret: Buffer
  hmacKey: Buffer
  /** The private key of a signing type. */
  signingKey?: KeyObject
}

const P256_N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551')
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')

const derive = (secret: Buffer, label: string, bytes: number) =>
  Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), `custodian/transit/${label}`, bytes))

function ecdsaP256(secret: Buffer): KeyObject {
  const wide = derive(secret, 'ecdsa-p256', 48)
  const d = (BigInt(`0x${wide.toString('hex')}`) % (P256_N - 1n)) + 1n
  wide.fill(0)
  const scalar = Buffer.from(d.toString(16).padStart(64, '0'), 'hex')
  const ecdh = createECDH('prime256v1')
  ecdh.setPrivateKey(scalar)
  const point = ecdh.getPublicKey()
  const key = createPrivateKey({
    key: {
      kty: 'EC',
      crv: 'P-256',
      d: scalar.toString('base64url'),
      x: point.subarray(1, 33).toString('base64url'),
      y: point.subarray(33, 65).toString('base64url'),
    },
    format: 'jwk',
  })
  scalar.fill(0)
  return key
}

function ed25519(secret: Buffer): KeyObject {
  const seed = derive(secret, 'ed25519', 32)
  const der = Buffer.concat([ED25519_PKCS8_PREFIX, seed])
  const key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })
  seed.fill(0)
  der.fill(0)
  return key
}

/** Derives a version's material from its (unwrapped) secret; the secret is kept, not copied. */
export function materialOf(type: TransitKeyType, secret: Buffer): VersionMaterial {
  const hmacKey = derive(secret, 'hmac', 32)
  if (type === 'ed25519') return { secret, hmacKey, signingKey: ed25519(secret) }
  if (type === 'ecdsa-p256') return { secret, hmacKey, signingKey: ecdsaP256(secret) }
  return { secret, hmacKey }
}

/** The SubjectPublicKeyInfo PEM of a signing type's version (null for aes256-gcm96). */
export function publicKeyPem(material: VersionMaterial): string | null {
  if (material.signingKey === undefined) return null
  return createPublicKey(material.signingKey).export({ type: 'spki', format: 'pem' }).toString()
}

/** HMAC of `input` with the version's HMAC key. */
export function hmacOf(material: VersionMaterial, algorithm: HashAlgorithm, input: Buffer): Buffer {
  return createHmac(HASH_ALGORITHMS[algorithm], material.hmacKey).update(input).digest()
}

/** Constant-time: whether `mac` is the HMAC of `input`. */
export function hmacMatches(material: VersionMaterial, algorithm: HashAlgorithm, input: Buffer, mac: Buffer): boolean {
  const expected = hmacOf(material, algorithm, input)
  return expected.length === mac.length && timingSafeEqual(expected, mac)
}

/**
 * Signs `input`: Ed25519 over the message itself (RFC 8032, no prehash); ECDSA P-256 over
 * the message hashed with `hash` (FIPS 186-5), DER or r‖s per `marshaling`.
 */
export function signatureOf(
  type: TransitKeyType,
  material: VersionMaterial,
  options: { hash: HashAlgorithm; marshaling: Marshaling },
  input: Buffer,
): Buffer {
  if (material.signingKey === undefined) throw new Error(`a ${type} key does not sign`)
  if (type === 'ed25519') return signWith(null, input, material.signingKey)
  return signWith(HASH_ALGORITHMS[options.hash], input, {
    key: material.signingKey,
    dsaEncoding: options.marshaling === 'jws' ? 'ieee-p1363' : 'der',
  })
}

/** Whether `signature` is a valid signature of `input` by the version's key (false for any malformed one). */
export function signatureMatches(
  type: TransitKeyType,
  material: VersionMaterial,
  options: { hash: HashAlgorithm; marshaling: Marshaling },
  input: Buffer,
  signature: Buffer,
): boolean {
  if (material.signingKey === undefined) throw new Error(`a ${type} key does not sign`)
  const publicKey = createPublicKey(material.signingKey)
  try {
    if (type === 'ed25519') return verifyWith(null, input, publicKey, signature)
    return verifyWith(
      HASH_ALGORITHMS[options.hash],
      input,
      { key: publicKey, dsaEncoding: options.marshaling === 'jws' ? 'ieee-p1363' : 'der' },
      signature,
    )
  } catch {
    return false
  }
}
