import { DecryptCommand, EncryptCommand, KMSClient, type KMSClientConfig } from '@aws-sdk/client-kms'
import { DecryptionError } from '../aead.ts'
import { AWS_KMS_KEY_ARN, KmsUnavailableError, type KmsClient } from './kms.ts'

/**
 * The `aws-kms` provider: a symmetric AWS KMS key (SYMMETRIC_DEFAULT, AES-256-GCM inside
 * KMS) wraps the org keys with Encrypt and unwraps them with Decrypt. The AAD travels as
 * the encryption context `{"custodian:aad": <aad>}`: KMS binds it cryptographically and
 * CloudTrail records it (it names an org, a purpose and a version — never a secret).
 * Decrypt names the key (KeyId), so a ciphertext from any other key is refused by KMS.
 *
 * Version: KMS keeps the same ARN across rotations; the key material that served a call
 * is `KeyMaterialId` in the Decrypt response. Each wrap is therefore checked with a
 * Decrypt of what Encrypt returned, which confirms the round trip and tells the version
 * to store (`current` where KMS does not report one).
 *
 * Credentials come from the SDK's default chain (environment, web identity, instance or
 * task role); the policy needs kms:Encrypt and kms:Decrypt on this one key only.
 */
export interface AwsKmsOptions {
  /** `arn:aws:kms:<region>:<account>:key/<key id>`; the region is taken from it. */
  keyArn: string
  /** A VPC or FIPS endpoint, or a local replay server in tests. */
  endpoint?: string | undefined
  /** The SDK's client settings (credentials, retries) — tests pass static fake ones. */
  client?: Partial<KMSClientConfig>
}

/** Error names by which KMS says the ciphertext or its context does not match. */
const REJECTED = new Set(['InvalidCiphertextException', 'IncorrectKeyException'])

export function createAwsKmsClient(options: AwsKmsOptions): KmsClient {
  const region = AWS_KMS_KEY_ARN.exec(options.keyArn)?.[1]
  if (region === undefined) throw new Error(`not an AWS KMS key ARN: ${options.keyArn}`)
  const kms = new KMSClient({
    region,
    maxAttempts: 2,
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...options.client,
  })
  const context = (aad: string) => ({ 'custodian:aad': aad })

  async function send<T>(operation: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run()
    } catch (error) {
      const name = error instanceof Error ? error.name : 'error'
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode
      if (REJECTED.has(name)) throw new DecryptionError(`AWS KMS refused to decrypt (${name})`)
      // Anything else — no answer, throttling, AccessDenied, a disabled or deleted key —
      // leaves the root key out of reach: fail closed until a probe succeeds.
      throw new KmsUnavailableError('aws-kms', `${operation} failed (${name}${status ? `, HTTP ${status}` : ''})`)
    }
  }

  async function decrypt(ciphertext: Buffer, aad: string) {
    const out = await send('Decrypt', () =>
      kms.send(
        new DecryptCommand({
          CiphertextBlob: ciphertext,
          KeyId: options.keyArn,
          EncryptionContext: context(aad),
          EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
        }),
      ),
    )
    if (out.Plaintext === undefined) throw new KmsUnavailableError('aws-kms', 'Decrypt answered no plaintext')
    return { plaintext: Buffer.from(out.Plaintext), version: out.KeyMaterialId ?? 'current' }
  }

  return {
    kind: 'aws-kms',
    keyName: options.keyArn,
    async encrypt(plaintext, aad) {
      const out = await send('Encrypt', () =>
        kms.send(
          new EncryptCommand({
            KeyId: options.keyArn,
            Plaintext: plaintext,
            EncryptionContext: context(aad),
            EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
          }),
        ),
      )
      if (out.CiphertextBlob === undefined) throw new KmsUnavailableError('aws-kms', 'Encrypt answered no ciphertext')
      if (out.KeyId !== undefined && out.KeyId !== options.keyArn)
        throw new KmsUnavailableError('aws-kms', `Encrypt used key ${out.KeyId}, not the configured key`)
      const ciphertext = Buffer.from(out.CiphertextBlob)
      const check = await decrypt(ciphertext, aad)
      const same = check.plaintext.equals(plaintext)
      check.plaintext.fill(0)
      if (!same) throw new KmsUnavailableError('aws-kms', 'Decrypt did not give back what Encrypt was given')
      return { ciphertext, version: check.version }
    },
    async decrypt(ciphertext, aad, version) {
      const out = await decrypt(ciphertext, aad)
      if (version !== 'current' && out.version !== 'current' && out.version !== version) {
        out.plaintext.fill(0)
        throw new DecryptionError(`the ciphertext is from key material ${out.version}, not ${version}`)
      }
      return out.plaintext
    },
    close() {
      kms.destroy()
    },
  }
}
