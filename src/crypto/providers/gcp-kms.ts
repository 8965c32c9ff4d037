import { KeyManagementServiceClient } from '@google-cloud/kms'
import { DecryptionError } from '../aead.ts'
import { GCP_KMS_KEY_NAME, KmsUnavailableError, type KmsClient } from './kms.ts'

/**
 * The `gcp-kms` provider: a Cloud KMS symmetric key (purpose ENCRYPT_DECRYPT, software or
 * HSM protection level) wraps org keys with `encrypt` and unwraps them with `decrypt`,
 * the AAD passed as `additionalAuthenticatedData`, which Cloud KMS binds into its
 * AES-256-GCM ciphertext. Requests name the CryptoKey; Cloud KMS encrypts with its
 * primary version and answers that version's name, which becomes the key id's version,
 * and decrypts with whichever version the ciphertext names.
 *
 * The client speaks the REST transport (`fallback: true`): one HTTPS/JSON request per
 * call and no gRPC channel to keep open. Credentials are Application Default Credentials
 * (GOOGLE_APPLICATION_CREDENTIALS, workload identity, the metadata server); the role
 * needed is roles/cloudkms.cryptoKeyEncrypterDecrypter on this one key.
 */
export interface GcpKmsOptions {
  /** `projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>`. */
  keyName: string
  /** Another API endpoint (a private or regional one), `host[:port]`. */
  endpoint?: string | undefined
  /** The SDK's client options (authClient, protocol) — tests pass a static fake token. */
  client?: ConstructorParameters<typeof KeyManagementServiceClient>[0]
}

/** gRPC status codes (google.rpc.Code) by which Cloud KMS refuses a ciphertext. */
const INVALID_ARGUMENT = 3

export function createGcpKmsClient(options: GcpKmsOptions): KmsClient {
  if (!GCP_KMS_KEY_NAME.test(options.keyName)) throw new Error(`not a Cloud KMS key name: ${options.keyName}`)
  const [host, port] = (options.endpoint ?? '').split(':')
  const kms = new KeyManagementServiceClient({
    fallback: true,
    ...(host === undefined || host === '' ? {} : { apiEndpoint: host }),
    ...(port === undefined ? {} : { port: Number(port) }),
    ...options.client,
  })
  const retry = { retry: { retryCodes: [] as number[] }, timeout: 10_000 }

  async function send<T>(operation: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run()
    } catch (error) {
      const code = (error as { code?: number }).code
      if (operation === 'decrypt' && code === INVALID_ARGUMENT)
        throw new DecryptionError('Cloud KMS refused to decrypt (INVALID_ARGUMENT)')
      // UNAVAILABLE, DEADLINE_EXCEEDED, PERMISSION_DENIED, UNAUTHENTICATED, RESOURCE_EXHAUSTED,
      // FAILED_PRECONDITION (a disabled version), NOT_FOUND, or no answer: fail closed.
      throw new KmsUnavailableError(
        'gcp-kms',
        `${operation} failed (${code === undefined ? 'no answer' : `code ${code}`})`,
      )
    }
  }

  return {
    kind: 'gcp-kms',
    keyName: options.keyName,
    async encrypt(plaintext, aad) {
      const [out] = await send('encrypt', () =>
        kms.encrypt({ name: options.keyName, plaintext, additionalAuthenticatedData: Buffer.from(aad, 'utf8') }, retry),
      )
      const version = /\/cryptoKeyVersions\/([^/]+)$/.exec(out.name ?? '')?.[1]
      if (out.ciphertext === undefined || out.ciphertext === null || version === undefined)
        throw new KmsUnavailableError('gcp-kms', 'encrypt answered without a ciphertext or key version')
      if (!(out.name as string).startsWith(`${options.keyName}/`))
        throw new KmsUnavailableError('gcp-kms', 'encrypt answered for another key')
      return { ciphertext: Buffer.from(out.ciphertext as Uint8Array), version }
    },
    async decrypt(ciphertext, aad) {
      const [out] = await send('decrypt', () =>
        kms.decrypt(
          { name: options.keyName, ciphertext, additionalAuthenticatedData: Buffer.from(aad, 'utf8') },
          retry,
        ),
      )
      if (out.plaintext === undefined || out.plaintext === null)
        throw new KmsUnavailableError('gcp-kms', 'decrypt answered no plaintext')
      return Buffer.from(out.plaintext as Uint8Array)
    },
    close() {
      void kms.close()
    },
  }
}
