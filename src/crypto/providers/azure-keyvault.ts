import { constants, createHash, createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto'
import type { TokenCredential } from '@azure/core-auth'
import { DefaultAzureCredential } from '@azure/identity'
import { CryptographyClient, KeyClient, type CryptographyClientOptions } from '@azure/keyvault-keys'
import { DecryptionError, open, seal } from '../aead.ts'
import { AZURE_KEY_ID, AZURE_KEY_VERSION, isUnavailableStatus, KmsUnavailableError, type KmsClient } from './kms.ts'

/**
 * The `azure-keyvault` provider: an RSA key in Azure Key Vault (RSA-HSM in a Premium
 * vault, or RSA in Managed HSM) wraps with `wrapKey`/`unwrapKey` (RSA-OAEP-256) and signs
 * with `sign` (PS256).
 *
 * RSA-OAEP has no associated data, so the AAD is bound by an envelope: each wrap draws a
 * fresh 32-byte key K, has Key Vault wrap K, and seals the org key under K with
 * AES-256-GCM and the AAD (src/crypto/aead.ts). K is used for one seal only (so the random
 * GCM nonce never repeats under it) and is zeroed after use; the org key itself never goes
 * to Key Vault.
 *
 * RSA-OAEP encrypts with the PUBLIC key, so without more, anyone who can read that key and
 * write the database could build an envelope that opens to an org key of their choosing
 * (key substitution). Key Vault therefore signs every envelope with the same key's private
 * half (PS256: RSASSA-PSS, SHA-256, MGF1-SHA-256, 32-byte salt, RFC 7518 §3.5) over
 * {@link envelopeMessage} — a domain-separated string binding the key version, the wrapped
 * K, the seal and the AAD — and unwrap verifies that signature with the version's public
 * key (read from Key Vault, never from the database) before it asks Key Vault for K or
 * uses anything in the envelope. Forging an envelope needs the private key, which never
 * leaves Key Vault.
 *
 *   ciphertext = 0x02 ‖ u16 length ‖ RSA-wrapped K ‖ u16 length ‖ PS256 signature ‖ AES-GCM seal
 *
 * Any other first byte is refused (the unsigned envelope of earlier builds never shipped).
 *
 * Versions: every call names a key version explicitly (32 hex digits; anything else is
 * refused before a request, since it goes into the key URL), because the SDK does not
 * report which version Key Vault used for an unversioned key URL. With a versioned key id
 * the version is pinned (rotation = a new version in the setting, then `keys
 * rotate-root`); with an unversioned one, each probe reads the key's current version, so a
 * rotation in Key Vault is followed at the next check. Either way the key needs get (the
 * public key that verifies signatures), wrapKey, unwrapKey and sign (docs/operations.md).
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
const SIGNATURE = 'PS256'
const ENVELOPE = 0x02
const DOMAIN = Buffer.from('custodian/azure-keyvault/envelope/v2\0', 'utf8')

const u16 = (n: number) => {
  const b = Buffer.alloc(2)
  b.writeUInt16BE(n)
  return b
}
const u32 = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}

/**
 * The bytes Key Vault signs for one envelope (their SHA-256 digest is what goes to `sign`):
 * the domain string `custodian/azure-keyvault/envelope/v2` and a zero byte, then the key
 * version, the RSA-wrapped K, the AES-GCM seal and the AAD, each preceded by its length
 * (u32, big-endian), so no two tuples give the same bytes.
 */
export function envelopeMessage(version: string, wrappedK: Buffer, sealed: Buffer, aad: string): Buffer {
  const parts = [Buffer.from(version, 'utf8'), wrappedK, sealed, Buffer.from(aad, 'utf8')]
  return Buffer.concat([DOMAIN, ...parts.flatMap((part) => [u32(part.length), part])])
}

/** Splits an envelope, or undefined when it is not one (another format byte, lengths that do not add up). */
function parseEnvelope(data: Buffer): { wrappedK: Buffer; signature: Buffer; sealed: Buffer } | undefined {
  if (data.length < 5 || data[0] !== ENVELOPE) return undefined
  const kLength = data.readUInt16BE(1)
  const sigAt = 3 + kLength
  if (kLength === 0 || data.length < sigAt + 2) return undefined
  const sigLength = data.readUInt16BE(sigAt)
  const sealAt = sigAt + 2 + sigLength
  if (sigLength === 0 || data.length <= sealAt) return undefined
  return {
    wrappedK: data.subarray(3, sigAt),
    signature: data.subarray(sigAt + 2, sealAt),
    sealed: data.subarray(sealAt),
  }
}

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
  const keys = new KeyClient(vaultUrl, credential, clientOptions)
  const publicKeys = new Map<string, KeyObject>()
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

  /** The version's public key, read from Key Vault (get) once per process: what verifies its signatures. */
  async function publicKeyOf(version: string): Promise<KeyObject> {
    const known = publicKeys.get(version)
    if (known !== undefined) return known
    const { key } = await send('getKey', () => keys.getKey(name, { version }))
    if (key?.n === undefined || key.e === undefined || (key.kty !== 'RSA' && key.kty !== 'RSA-HSM'))
      throw new KmsUnavailableError('azure-keyvault', 'the key version is not an RSA key')
    const publicKey = createPublicKey({
      key: { kty: 'RSA', n: Buffer.from(key.n).toString('base64url'), e: Buffer.from(key.e).toString('base64url') },
      format: 'jwk',
    })
    publicKeys.set(version, publicKey)
    return publicKey
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
      if (pinned !== undefined) return
      const key = await send('getKey', () => keys.getKey(name))
      const version = key.properties.version
      if (version === undefined || !AZURE_KEY_VERSION.test(version) || key.properties.enabled === false)
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
        const sealed = seal(k, plaintext, aad)
        const digest = createHash('sha256')
          .update(envelopeMessage(version, wrappedK, sealed, aad))
          .digest()
        const signature = Buffer.from((await send('sign', () => clientFor(version).sign(SIGNATURE, digest))).result)
        if (wrappedK.length > 0xffff || signature.length > 0xffff)
          throw new KmsUnavailableError('azure-keyvault', 'Key Vault answered an oversized wrapped key or signature')
        const envelope = [
          Buffer.from([ENVELOPE]),
          u16(wrappedK.length),
          wrappedK,
          u16(signature.length),
          signature,
          sealed,
        ]
        return { ciphertext: Buffer.concat(envelope), version }
      } finally {
        k.fill(0)
      }
    },
    async decrypt(ciphertext, aad, version) {
      // The version goes into the key URL: nothing but Key Vault's 32 hex digits reaches a request.
      if (!AZURE_KEY_VERSION.test(version)) throw new DecryptionError('not a Key Vault key version')
      const envelope = parseEnvelope(ciphertext)
      if (envelope === undefined) throw new DecryptionError('unknown or malformed Key Vault envelope')
      // Only the vault's private key can have signed it; checked before K is asked for or the seal is read.
      const publicKey = await publicKeyOf(version)
      const message = envelopeMessage(version, envelope.wrappedK, envelope.sealed, aad)
      let genuine: boolean
      try {
        const pss = { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }
        genuine = verify('sha256', message, pss, envelope.signature)
      } catch {
        genuine = false
      }
      if (!genuine) throw new DecryptionError('the Key Vault envelope is not signed by the key version it names')
      const out = await send('unwrapKey', () => clientFor(version).unwrapKey(ALGORITHM, envelope.wrappedK))
      const k = Buffer.from(out.result)
      try {
        if (k.length !== 32) throw new DecryptionError('Key Vault unwrapped a key of the wrong size')
        return open(k, envelope.sealed, aad)
      } finally {
        k.fill(0)
      }
    },
  }
}
