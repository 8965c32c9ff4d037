import type { RootKeyProvider } from './provider.ts'
import { wrapKeyFrom } from './wrap-key.ts'

/** The `local` provider: the root key is the 32-byte key file; never sealed. */
export function createLocalProvider(rootKey: Buffer): RootKeyProvider {
  const wrapKey = wrapKeyFrom(rootKey, 'local')
  return {
    kind: 'local',
    keyId: () => wrapKey.keyId,
    keyName: () => wrapKey.keyId,
    sealed: () => false,
    async wrap(key, aad) {
      return wrapKey.wrap(key, aad)
    },
    async unwrap(wrapped, aad, keyId) {
      return wrapKey.unwrap(wrapped, aad, keyId)
    },
  }
}
