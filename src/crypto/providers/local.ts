import { createHash, hkdfSync } from 'node:crypto'
import { DecryptionError, open, seal } from '../aead.ts'
import type { RootKeyProvider } from './provider.ts'

/**
 * The `local` provider: the root key is the 32-byte key file. Org keys are wrapped with
 * AES-256-GCM under a key derived from it for that purpose only.
 */
export function createLocalProvider(rootKey: Buffer): RootKeyProvider {
  const wrapKey = Buffer.from(hkdfSync('sha256', rootKey, Buffer.alloc(0), 'custodian root-wrap-v1', 32))
  const id = `local:${createHash('sha256').update(wrapKey).digest('hex').slice(0, 16)}`
  return {
    kind: 'local',
    keyId: () => id,
    sealed: () => false,
    async wrap(key, aad) {
      return seal(wrapKey, key, aad)
    },
    async unwrap(wrapped, aad, keyId) {
      if (keyId !== id) throw new DecryptionError(`key was wrapped by root key ${keyId}, not the configured ${id}`)
      return open(wrapKey, wrapped, aad)
    },
  }
}
