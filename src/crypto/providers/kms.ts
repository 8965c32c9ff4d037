import { randomBytes, timingSafeEqual } from 'node:crypto'
import { DecryptionError } from '../aead.ts'
import { SealedError, type RootKeyProvider } from './provider.ts'

/**
 * The common half of the cloud KMS root-key providers (`aws-kms`, `gcp-kms`,
 * `azure-keyvault`, `transit`). The root key is a key in the KMS that never leaves it:
 * wrapping an org key is one KMS encrypt call with the AAD bound in, unwrapping one
 * decrypt call. Each provider supplies a {@link KmsClient}; this file adds what they
 * share — the stored format, the key id, and failing closed while the KMS cannot answer.
 *
 * Key id: `<kind>:<key name>#<version>`, the KMS key (ARN, resource name, key URL,
 * Transit mount and key) and the key version that made the ciphertext, so a rotation in
 * the KMS shows in the `root_key_id` stored beside every wrapped key. Unwrap accepts only
 * key ids that name the configured key (any of its versions); another key is refused
 * before any call, not left for the KMS to judge.
 *
 * Wrapped format: byte 0x01, one length byte, the version (UTF-8), then the KMS's own
 * ciphertext. The version travels inside the wrapped bytes too, because some KMSs need
 * it to decrypt (Azure Key Vault) and it must agree with the stored key id.
 *
 * Availability: a KMS that cannot be reached, refuses our credentials or throttles us
 * makes the provider report itself sealed — secret operations answer 503 and /readyz is
 * not ready — and it probes again every `retryMs` until an encrypt/decrypt round trip
 * succeeds and a decrypt of the same ciphertext under another AAD fails (a KMS or key that
 * ignores the AAD never unseals the provider). While available it probes every `checkMs`
 * too: org keys are cached for a few minutes (vault.keyring.ts), so without the check an
 * outage, or a key disabled in the KMS, would go unnoticed until a cache miss. A sealed
 * provider refuses cached keys too.
 */
export type KmsKind = 'aws-kms' | 'gcp-kms' | 'azure-keyvault' | 'transit'

export const KMS_KINDS: readonly KmsKind[] = ['aws-kms', 'gcp-kms', 'azure-keyvault', 'transit']

/** `arn:<partition>:kms:<region>:<account>:key/<key id>` (group 1: the region). Aliases are refused: they can be repointed. */
export const AWS_KMS_KEY_ARN = /^arn:aws(?:-[a-z]+)*:kms:([a-z0-9-]+):\d{12}:key\/[0-9a-zA-Z-]+$/
/** A Cloud KMS CryptoKey resource name (not a version: Cloud KMS picks the primary). */
export const GCP_KMS_KEY_NAME = /^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+$/
/** An Azure Key Vault or Managed HSM key URL: a name of letters, digits and dashes, and optionally a version (32 hex digits). */
export const AZURE_KEY_ID = /^https:\/\/[^/?#]+\/keys\/[0-9a-zA-Z-]{1,127}(?:\/[0-9a-fA-F]{32})?$/
/** An Azure Key Vault key version: 32 hex digits. */
export const AZURE_KEY_VERSION = /^[0-9a-fA-F]{32}$/

/** What a KMS does for us: encrypt and decrypt under one named key. */
export interface KmsClient {
  readonly kind: KmsKind
  /** The key without its version (ARN, resource name, key URL, `<mount>/<key>`). */
  readonly keyName: string
  /**
   * Encrypts under the key's current (primary) version.
   * @returns the KMS ciphertext and the version that made it
   * @throws KmsUnavailableError when the KMS does not answer or refuses the call
   */
  encrypt(plaintext: Buffer, aad: string): Promise<{ ciphertext: Buffer; version: string }>
  /**
   * @throws DecryptionError when the KMS rejects the ciphertext or the AAD
   * @throws KmsUnavailableError when the KMS does not answer or refuses the call
   */
  decrypt(ciphertext: Buffer, aad: string, version: string): Promise<Buffer>
  /** Learns what the next encrypt needs (Azure: the key's current version); called by every probe. */
  refresh?(): Promise<void>
  close?(): void
}

/**
 * The KMS could not serve a call: unreachable, a server error, throttling, or our
 * credentials refused. A {@link SealedError}, so every secret operation maps it to 503.
 * Its message names the KMS and the kind of failure, never a key, a token or a payload;
 * the SDK's error is deliberately not kept as `cause`, since SDK errors carry the request.
 */
export class KmsUnavailableError extends SealedError {
  constructor(kind: KmsKind, reason: string) {
    super(`the root key's KMS (${kind}) is unavailable: ${reason}; secret operations are refused until it answers`)
    this.name = 'KmsUnavailableError'
  }
}

export interface KmsProvider extends RootKeyProvider {
  readonly kind: KmsKind
  /** Why the provider is sealed (the last failure), or `undefined` when it is available. */
  unavailableReason(): string | undefined
  /**
   * An encrypt/decrypt round trip with a throwaway key, and a decrypt under another AAD
   * that must fail (a KMS or key that ignores the AAD is never used): learns the key's
   * current version and marks the provider available (true) or unavailable (false).
   * Never throws.
   */
  probe(): Promise<boolean>
  close(): void
}

const FORMAT = 1
const PROBE_AAD = 'custodian/v1|purpose=kms-probe'
const PROBE_OTHER_AAD = 'custodian/v1|purpose=kms-probe-other'
/**
 * What a key version may look like in the wrapped bytes and the key id (AWS: a key
 * material id, Cloud KMS: a number, Key Vault: 32 hex digits, Transit: `vN`). The version
 * is read back from the database, and some providers put it into a URL: a stored value with
 * `/`, `?`, `%`, `.` or a space is refused before any request. Each provider checks its own,
 * narrower shape as well.
 */
const VERSION_LABEL = /^[A-Za-z0-9_-]{1,128}$/

/**
 * Opens a KMS provider: runs the first probe and returns whether or not it succeeded
 * (an unreachable KMS at start leaves the service up but sealed, retrying).
 * @param options.retryMs between probes while the KMS is unavailable (ms, default 5,000)
 * @param options.checkMs between probes while it is available (ms, default 60,000)
 */
export async function openKmsProvider(
  client: KmsClient,
  options: { retryMs?: number; checkMs?: number } = {},
): Promise<KmsProvider> {
  const retryMs = options.retryMs ?? 5000
  const checkMs = options.checkMs ?? 60_000
  const prefix = `${client.kind}:${client.keyName}#`
  let version: string | undefined
  let failure: string | undefined = 'not probed yet'
  let timer: NodeJS.Timeout | undefined
  let closed = false

  const scheduleProbe = () => {
    if (closed) return
    if (timer !== undefined) clearTimeout(timer)
    timer = setTimeout(
      () => {
        timer = undefined
        void provider.probe()
      },
      failure === undefined ? checkMs : retryMs,
    )
    timer.unref()
  }
  const unavailable = (error: KmsUnavailableError): never => {
    failure = error.message
    scheduleProbe()
    throw error
  }

  const provider: KmsProvider = {
    kind: client.kind,
    keyId: () => `${prefix}${version ?? 'unknown'}`,
    keyName: () => prefix.slice(0, -1),
    sealed: () => failure !== undefined,
    unavailableReason: () => failure,
    async probe() {
      const plain = randomBytes(32)
      try {
        await client.refresh?.()
        const made = await client.encrypt(plain, PROBE_AAD)
        if (!VERSION_LABEL.test(made.version))
          throw new KmsUnavailableError(client.kind, 'the KMS reported a key version that is not a plain label')
        const back = await client.decrypt(made.ciphertext, PROBE_AAD, made.version)
        const same = back.length === plain.length && timingSafeEqual(back, plain)
        back.fill(0)
        if (!same) throw new KmsUnavailableError(client.kind, 'the KMS returned another plaintext than it was given')
        await requireAadBound(client, made)
        version = made.version
        failure = undefined
        scheduleProbe()
        return true
      } catch (error) {
        failure =
          error instanceof KmsUnavailableError
            ? error.message
            : `the probe failed (${error instanceof Error ? error.name : 'error'})`
        scheduleProbe()
        return false
      } finally {
        plain.fill(0)
      }
    },
    async wrap(key, aad) {
      if (failure !== undefined) throw new KmsUnavailableError(client.kind, 'the last call failed; retrying')
      try {
        const made = await client.encrypt(key, aad)
        if (!VERSION_LABEL.test(made.version))
          throw new KmsUnavailableError(client.kind, 'the KMS reported a key version that is not a plain label')
        version = made.version
        const label = Buffer.from(made.version, 'utf8')
        return Buffer.concat([Buffer.from([FORMAT, label.length]), label, made.ciphertext])
      } catch (error) {
        if (error instanceof KmsUnavailableError) return unavailable(error)
        throw error
      }
    },
    async unwrap(wrapped, aad, keyId) {
      if (!keyId.startsWith(prefix))
        throw new DecryptionError(`key was wrapped by root key ${keyId}, not by the configured ${prefix}*`)
      const data = Buffer.from(wrapped)
      const length = data[1] ?? 0
      if (data.length < 3 + length || data[0] !== FORMAT) throw new DecryptionError('unknown wrapped-key format')
      const made = data.subarray(2, 2 + length).toString('utf8')
      if (!VERSION_LABEL.test(made)) throw new DecryptionError('the wrapped key names no valid key version')
      if (made !== keyId.slice(prefix.length))
        throw new DecryptionError(`the wrapped key names version ${made}, its key id another`)
      if (failure !== undefined) throw new KmsUnavailableError(client.kind, 'the last call failed; retrying')
      try {
        return await client.decrypt(data.subarray(2 + length), aad, made)
      } catch (error) {
        if (error instanceof KmsUnavailableError) return unavailable(error)
        throw error
      }
    },
    close() {
      closed = true
      if (timer !== undefined) clearTimeout(timer)
      client.close?.()
    },
  }
  await provider.probe()
  return provider
}

/**
 * Decrypts the probe's ciphertext under another AAD, which must fail: a key that is not
 * an AEAD key (a Transit RSA key ignores `associated_data`), or a KMS that drops the
 * context, would otherwise unwrap org keys under any AAD without anyone noticing.
 * @throws KmsUnavailableError when the KMS decrypts it anyway, or cannot answer
 */
async function requireAadBound(client: KmsClient, made: { ciphertext: Buffer; version: string }): Promise<void> {
  let opened: Buffer
  try {
    opened = await client.decrypt(made.ciphertext, PROBE_OTHER_AAD, made.version)
  } catch (error) {
    if (error instanceof DecryptionError) return
    throw error
  }
  opened.fill(0)
  throw new KmsUnavailableError(
    client.kind,
    'the KMS decrypted under another AAD than the one it was given: the key does not bind associated data; refusing to use it',
  )
}

/**
 * Sorts an HTTP status from a KMS: 400/404/422 about the ciphertext are decryption
 * failures; 401/403 (credentials), 408, 429 and 5xx make the KMS unavailable.
 */
export function isUnavailableStatus(status: number | undefined): boolean {
  return status === undefined || status === 401 || status === 403 || status === 408 || status === 429 || status >= 500
}
