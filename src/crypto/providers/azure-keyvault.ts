import { randomBytes } from 'node:crypto'
import type { TokenCredential } from '@azure/core-auth'
import { DefaultAzureCredential } from '@azure/identity'
import { CryptographyClient, KeyClient, type CryptographyClientOptions } from '@azure/keyvault-keys'
import { DecryptionError, open, seal } from '../aead.ts'
import { AZURE_KEY_ID, isUnavailableStatus, KmsUnavailableError, type KmsClient } from './kms.ts'

/**
 * The `azure-keyvault` provider: an RSA key in Azure Key Vault (RSA-HSM in a Premium
 * vault, or RSA in Managed HSM) wraps with `wrapKey`/`unwrapKey` and RSA-OAEP-256.
 *
 * RSA-OAEP has no associated data, so the AAD is bound by an envelope: each wrap draws a
 * fresh 32-byte key K, has Key Vault wrap K, and seals the org key under K with
 * AES-256-GCM and the AAD (src/crypto/aead.ts). Unwrapping asks Key Vault for K and opens
 * the seal, which fails unless the AAD is the same. K is used for one seal only (so the
 * random GCM nonce never repeats under it) and is zeroed after use; the org key itself
 * never goes to Key Vault.
 *
 *   ciphertext = u16 length of the RSA-wrapped K ‖ RSA-wrapped K ‖ AES-GCM seal
 *
 * Versions: every wrap names a key version explicitly, because the SDK does not report
 * which version Key Vault used for an unversioned key URL. With a versioned key id the
 * version is pinned (rotation = a new version in the setting, then `keys rotate-root`),
 * and the key needs only wrapKey and unwrapKey. With an unversioned one, each probe reads
 * the key's current version (Get Key) — so a rotation in Key Vault is followed at the next
 * check — and the key needs get as well: the built-in role "Key Vault Crypto Service
 * Encryption User" (keys read, wrap, unwrap) or an access policy with get, wrapKey,
 * unwrapKey. Unwrapping always calls the version stored with the wrapped key.
 * Credentials are DefaultAzureCredential's (environment AZURE_*, workload identity,
 * managed identity).
 */
export interface AzureKeyVaultOptions {
  /** `https://<vault>.vault.azure.net/keys/<name>` (latest version) or `.../<name>/<version>` (pinned). */
  keyId: string
  /** Tests pass a static credential; otherwise DefaultAzureCredential. */
  credential?: TokenCredential
  /** The SDK's pipeline options (TLS trust, retries, challenge verification in tests). */
  client?: CryptographyClientOptions
}

const ALGORITHM = 'RSA-OAEP-256'

export function createAzureKeyVaultClient(options: AzureKeyVaultOptions): KmsClient {
  if (!AZURE_KEY_ID.test(options.keyId)) throw new Error(`not an Azure Key Vault key id: ${options.keyId}`)
  const parts = options.keyId.split('/')
  const pinned = parts.length === 6 ? parts[5] : undefined
  const keyName = parts.slice(0, 5).join('/')
  const credential = options.credential ?? new DefaultAzureCredential()
  const clientOptions: CryptographyClientOptions = { retryOptions: { maxRetries: 1 }, ...options.client }
  const clients = new Map<string, CryptographyClient>()
  const vaultUrl = parts.slice(0, 3).join('/')
  const name = parts[4] as string
  const keys = pinned === undefined ? new KeyClient(vaultUrl, credential, clientOptions) : undefined
  let current = pinned
  const clientFor = (version: string) => {
    const id = `${keyName}/${version}`
    let client = clients.get(id)
    if (client === undefined) {
      client = new CryptographyClient(id, credential, clientOptions)
      clients.set(id, client)
    }
    return client
  }

  async function send<T>(operation: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run()
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode
      const code = (error as { code?: string }).code
      if (operation === 'unwrapKey' && status !== undefined && !isUnavailableStatus(status) && status !== 404)
        throw new DecryptionError(`Azure Key Vault refused to unwrap (HTTP ${status})`)
      throw new KmsUnavailableError(
        'azure-keyvault',
        `${operation} failed (${status === undefined ? (code ?? (error instanceof Error ? error.name : 'error')) : `HTTP ${status}${code ? ` ${code}` : ''}`})`,
      )
    }
  }

  return {
    kind: 'azure-keyvault',
    keyName,
    async refresh() {
      if (keys === undefined) return
      const key = await send('getKey', () => keys.getKey(name))
      const version = key.properties.version
      if (version === undefined || version === '' || key.properties.enabled === false)
        throw new KmsUnavailableError('azure-keyvault', 'the key has no enabled current version')
      current = version
    },
    async encrypt(plaintext, aad) {
      const version = current
      if (version === undefined)
        throw new KmsUnavailableError('azure-keyvault', 'the current key version is not known yet')
      const k = randomBytes(32)
      try {
        const out = await send('wrapKey', () => clientFor(version).wrapKey(ALGORITHM, k))
        const wrappedK = Buffer.from(out.result)
        const length = Buffer.alloc(2)
        length.writeUInt16BE(wrappedK.length)
        return { ciphertext: Buffer.concat([length, wrappedK, seal(k, plaintext, aad)]), version }
      } finally {
        k.fill(0)
      }
    },
    async decrypt(ciphertext, aad, version) {
      const length = ciphertext.length >= 2 ? ciphertext.readUInt16BE(0) : 0
      if (length === 0 || ciphertext.length <= 2 + length) throw new DecryptionError('malformed Key Vault envelope')
      const out = await send('unwrapKey', () =>
        clientFor(version).unwrapKey(ALGORITHM, ciphertext.subarray(2, 2 + length)),
      )
      const k = Buffer.from(out.result)
      try {
        if (k.length !== 32) throw new DecryptionError('Key Vault unwrapped a key of the wrong size')
        return open(k, ciphertext.subarray(2 + length), aad)
      } finally {
        k.fill(0)
      }
    },
  }
}
