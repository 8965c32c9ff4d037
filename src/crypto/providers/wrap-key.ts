import { createHash, hkdfSync, timingSafeEqual } from 'node:crypto'
import { DecryptionError, open, seal } from '../aead.ts'

/**
 * The software wrap used by the `local` and `shamir` providers: AES-256-GCM under a key
 * derived from the root key for this purpose only. The key id is a check value (64 bits
 * of SHA-256 of the derived key): it names the root key without revealing it, and lets
 * an unseal confirm that the shares rebuilt the right key.
 */
export interface WrapKey {
  keyId: string
  wrap(key: Buffer, aad: string): Buffer
  unwrap(wrapped: Uint8Array, aad: string, keyId: string): Buffer
  destroy(): void
}

export function wrapKeyFrom(rootKey: Uint8Array, prefix: 'local' | 'shamir'): WrapKey {
  const derived = Buffer.from(hkdfSync('sha256', rootKey, Buffer.alloc(0), 'custodian root-wrap-v1', 32))
  const keyId = keyIdOf(derived, prefix)
  return {
    keyId,
    wrap: (key, aad) => seal(derived, key, aad),
    unwrap(wrapped, aad, id) {
      if (id !== keyId) throw new DecryptionError(`key was wrapped by root key ${id}, not the configured ${keyId}`)
      return open(derived, wrapped, aad)
    },
    destroy: () => derived.fill(0),
  }
}

export function keyIdOf(derived: Buffer, prefix: string): string {
  return `${prefix}:${createHash('sha256').update(derived).digest('hex').slice(0, 16)}`
}

export function sameKeyId(a: string, b: string): boolean {
  const left = Buffer.from(a)
  const right = Buffer.from(b)
  return left.length === right.length && timingSafeEqual(left, right)
}
