import {
  constants,
  createHash,
  createPublicKey,
  generateKeyPairSync,
  privateDecrypt,
  publicEncrypt,
  type KeyObject,
} from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { OAuth2Client } from 'google-auth-library'
import { createAwsKmsClient } from '../../src/crypto/providers/aws-kms.ts'
import { createAzureKeyVaultClient } from '../../src/crypto/providers/azure-keyvault.ts'
import { createGcpKmsClient } from '../../src/crypto/providers/gcp-kms.ts'
import type { KmsClient, KmsKind } from '../../src/crypto/providers/kms.ts'
import { createTransitClient } from '../../src/crypto/providers/transit.ts'
import {
  loadFixture,
  signPs256Digest,
  SimulatedKey,
  startReplay,
  type RecordedResponse,
  type ReplayServer,
  type Seen,
} from './kms-replay.ts'

/**
 * One KMS under test: the replay server (test/helpers/kms-replay.ts) answering as the
 * service documents, a client of the real SDK pointed at it with static fake credentials,
 * and the hooks a test needs — rotate the key, take the service down, refuse our
 * credentials. Nothing here reaches the real services.
 */
export interface KmsUnderTest {
  kind: KmsKind
  replay: ReplayServer
  /** What the provider's keyName is. */
  keyName: string
  /** A new client of the official SDK, pointed at the replay server. */
  client(): KmsClient
  /** Makes a new key version primary (a rotation in the KMS). */
  rotate(): void
  /** The service's documented answer when it is down or throttling, and when it refuses our credentials. */
  down: RecordedResponse
  denied: RecordedResponse
  /** Settings for a spawned `custodian` (absent where the SDK's credentials cannot be faked by environment). */
  env?: Record<string, string>
  /**
   * Makes the service ignore the AAD from now on (`true`) or bind it again (`false`), as a
   * key that is not an AEAD key would; absent where the AAD is not the service's to bind
   * (Azure: our own AES-GCM seal binds it).
   */
  ignoreAad?: (on: boolean) => void
  /** Transit: the key's `type` as `GET <mount>/keys/<name>` reports it (a non-AEAD type also ignores the AAD, as Vault does). */
  transitKeyType?: (type: string) => void
  /** Azure: the public half of a key version, all that an attacker with database access may know. */
  publicKey?: (version: string) => KeyObject
  /** Strings that must never appear in an error or a log: credentials. */
  secrets: string[]
  close(): Promise<void>
}

const FAKE_AWS = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' }
const b64 = (value: string) => Buffer.from(value, 'base64')

export async function startAwsKms(): Promise<KmsUnderTest> {
  const fixture = loadFixture('aws-kms')
  const keyArn = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab'
  const key = new SimulatedKey('1')
  let next = 1
  let ignoreAad = false
  const materialId = (version: string) => createHash('sha256').update(`material-${version}`).digest('hex')
  const replay = await startReplay(fixture, (seen, answer) => {
    const target = seen.headers['x-amz-target']
    const operation = target === 'TrentService.Encrypt' ? 'Encrypt' : 'Decrypt'
    const got = replay.expect(operation, seen)
    if (got.keyArn !== keyArn) return answer('AccessDeniedException', {})
    if (got.accessKeyId !== FAKE_AWS.accessKeyId || got.region !== 'eu-west-1')
      throw new Error('request not signed with the test credentials for the key region')
    const aad = ignoreAad ? Buffer.alloc(0) : Buffer.from(got.aad as string)
    if (operation === 'Encrypt')
      return answer('Encrypt', {
        ciphertext: key.encrypt(b64(got.plaintext as string), aad).toString('base64'),
        keyArn,
      })
    const opened = key.decrypt(b64(got.ciphertext as string), aad)
    if (opened === undefined) return answer('InvalidCiphertextException', {})
    return answer('Decrypt', {
      keyArn,
      plaintext: opened.plain.toString('base64'),
      keyMaterialId: materialId(opened.version),
    })
  })
  return {
    kind: 'aws-kms',
    replay,
    keyName: keyArn,
    client: () => createAwsKmsClient({ keyArn, endpoint: replay.url, client: { credentials: FAKE_AWS } }),
    rotate: () => key.rotate(String(++next)),
    ignoreAad: (on) => {
      ignoreAad = on
    },
    down: fixture.errors.KMSInternalException as RecordedResponse,
    denied: fixture.errors.AccessDeniedException as RecordedResponse,
    env: {
      CUSTODIAN_AWS_KMS_KEY_ARN: keyArn,
      CUSTODIAN_AWS_KMS_ENDPOINT: replay.url,
      AWS_ACCESS_KEY_ID: FAKE_AWS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: FAKE_AWS.secretAccessKey,
      AWS_CONFIG_FILE: '/nonexistent',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
    },
    secrets: [FAKE_AWS.secretAccessKey],
    close: () => replay.close(),
  }
}

/** CRC32C (Castagnoli), as Cloud KMS reports it beside a ciphertext. */
function crc32c(data: Buffer): string {
  let crc = 0xffffffff
  for (const byte of data) {
    crc ^= byte
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1
  }
  return String((crc ^ 0xffffffff) >>> 0)
}

export async function startGcpKms(): Promise<KmsUnderTest> {
  const fixture = loadFixture('gcp-kms')
  const keyName = 'projects/custodian-test/locations/europe-west1/keyRings/custodian/cryptoKeys/root'
  const token = 'ya29.test-only-access-token'
  const key = new SimulatedKey('1')
  let next = 1
  let ignoreAad = false
  const replay = await startReplay(fixture, (seen, answer) => {
    const operation = seen.path.includes(':encrypt') ? 'encrypt' : 'decrypt'
    const got = replay.expect(operation, seen)
    if (got.keyName !== keyName || got.token !== token) return answer('PERMISSION_DENIED', {})
    const aad = ignoreAad ? Buffer.alloc(0) : b64(got.aad as string)
    if (operation === 'encrypt') {
      const ciphertext = key.encrypt(b64(got.plaintext as string), aad)
      return answer('encrypt', {
        versionName: `${keyName}/cryptoKeyVersions/${key.primary}`,
        ciphertext: ciphertext.toString('base64'),
        ciphertextCrc32c: crc32c(ciphertext),
      })
    }
    const opened = key.decrypt(b64(got.ciphertext as string), aad)
    if (opened === undefined) return answer('INVALID_ARGUMENT', {})
    return answer('decrypt', {
      plaintext: opened.plain.toString('base64'),
      plaintextCrc32c: crc32c(opened.plain),
      usedPrimary: opened.version === key.primary,
    })
  })
  const client = () => {
    // A static access token through the SDK's own option (authClient): no token endpoint is called.
    const auth = new OAuth2Client()
    auth.setCredentials({ access_token: token, expiry_date: Date.now() + 3_600_000 })
    return createGcpKmsClient({
      keyName,
      endpoint: `127.0.0.1:${replay.port}`,
      client: { authClient: auth, protocol: 'http' },
    })
  }
  return {
    kind: 'gcp-kms',
    replay,
    keyName,
    client,
    rotate: () => key.rotate(String(++next)),
    ignoreAad: (on) => {
      ignoreAad = on
    },
    down: fixture.errors.UNAVAILABLE as RecordedResponse,
    denied: fixture.errors.PERMISSION_DENIED as RecordedResponse,
    secrets: [token],
    close: () => replay.close(),
  }
}

export async function startAzureKeyVault(): Promise<KmsUnderTest> {
  const fixture = loadFixture('azure-keyvault')
  const dir = mkdtempSync(path.join(tmpdir(), 'custodian-akv-'))
  const caFile = path.join(dir, 'ca.pem')
  const token = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.test-only.token'
  const versions = new Map<string, KeyObject>()
  let primary = ''
  const rotate = () => {
    primary = createHash('sha256').update(`${versions.size}-${Math.random()}`).digest('hex').slice(0, 32)
    versions.set(primary, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey)
  }
  rotate()
  const keyName = 'custodian-root'
  const oaep = { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }
  const replay = await startReplay(
    fixture,
    (seen: Seen, answer) => {
      if (seen.headers.authorization === undefined) {
        replay.expect('challenge', seen)
        return answer('challenge', {})
      }
      if (seen.method === 'GET') {
        const got = replay.expect('getKey', seen)
        const asked = /^\/keys\/[^/]+\/([^/?]*)/.exec(seen.path)?.[1] ?? ''
        const version = asked === '' ? primary : asked
        const privateKey = versions.get(version)
        if (got.token !== token || privateKey === undefined) return answer('Forbidden', {})
        const jwk = privateKey.export({ format: 'jwk' })
        return answer('getKey', {
          kid: `${replay.url}/keys/${keyName}/${version}`,
          n: jwk.n as string,
          e: jwk.e as string,
        })
      }
      const operation = seen.path.includes('/wrapkey') ? 'wrapKey' : seen.path.includes('/sign?') ? 'sign' : 'unwrapKey'
      const got = replay.expect(operation, seen)
      if (got.token !== token || got.keyName !== keyName) throw new Error('wrong token or key')
      const version = got.version === '' ? primary : (got.version as string)
      const privateKey = versions.get(version)
      if (privateKey === undefined) return answer('BadParameter', {})
      const kid = `${replay.url}/keys/${keyName}/${version}`
      if (operation === 'sign') {
        const digest = Buffer.from(got.value as string, 'base64url')
        if (digest.length !== 32) return answer('BadParameter', {})
        return answer('sign', { kid, result: signPs256Digest(privateKey, digest).toString('base64url') })
      }
      const value = Buffer.from(got.value as string, 'base64url')
      if (operation === 'wrapKey')
        return answer('wrapKey', {
          kid,
          result: publicEncrypt({ key: privateKey, ...oaep }, value).toString('base64url'),
        })
      try {
        return answer('unwrapKey', {
          kid,
          result: privateDecrypt({ key: privateKey, ...oaep }, value).toString('base64url'),
        })
      } catch {
        return answer('BadParameter', {})
      }
    },
    { caFile },
  )
  const { readFileSync } = await import('node:fs')
  const ca = readFileSync(caFile, 'utf8')
  const keyUrl = `${replay.url}/keys/${keyName}`
  return {
    kind: 'azure-keyvault',
    replay,
    keyName: keyUrl,
    client: () =>
      createAzureKeyVaultClient({
        keyId: keyUrl,
        // A static token through the SDK's TokenCredential interface: no identity endpoint is called.
        credential: { getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3_600_000 }) },
        // The test vault is 127.0.0.1, not *.vault.azure.net, and its CA is the test's own.
        client: { tlsOptions: { ca }, disableChallengeResourceVerification: true, retryOptions: { maxRetries: 0 } },
      }),
    rotate,
    publicKey: (version) => createPublicKey(versions.get(version) as KeyObject),
    down: fixture.errors.Throttled as RecordedResponse,
    denied: fixture.errors.Forbidden as RecordedResponse,
    secrets: [token],
    close: () => replay.close(),
  }
}

export async function startTransit(): Promise<KmsUnderTest> {
  const fixture = loadFixture('transit')
  const dir = mkdtempSync(path.join(tmpdir(), 'custodian-transit-'))
  const caFile = path.join(dir, 'ca.pem')
  const tokenFile = path.join(dir, 'token')
  const token = 'hvs.CAESITestOnlyTokenNeverRealAAAAAAAAAAAAAA'
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 })
  const key = new SimulatedKey('1')
  let next = 1
  const mount = 'transit'
  const keyName = 'custodian-root'
  const namespace = 'custodian/prod'
  let ignoreAad = false
  let type = 'aes256-gcm96'
  const replay = await startReplay(
    fixture,
    (seen, answer) => {
      const operation = seen.method === 'GET' ? 'readKey' : seen.path.includes('/encrypt/') ? 'encrypt' : 'decrypt'
      const got = replay.expect(operation, seen)
      if (got.token !== token || got.namespace !== namespace || got.mount !== mount || got.keyName !== keyName)
        return answer('permissionDenied', {})
      if (operation === 'readKey')
        return answer('readKey', {
          keyName,
          type,
          latestVersion: Number(key.primary),
          keys: Object.fromEntries([...key.versions.keys()].map((v) => [v, 1764720000])),
        })
      // Transit ignores associated_data for key types that are not AEAD (rsa-*, ecdsa-*…).
      const aad =
        ignoreAad || !['aes256-gcm96', 'chacha20-poly1305'].includes(type) ? Buffer.alloc(0) : b64(got.aad as string)
      if (operation === 'encrypt') {
        const ciphertext = `vault:v${key.primary}:${key.encrypt(b64(got.plaintext as string), aad).toString('base64')}`
        return answer('encrypt', { ciphertext, keyVersion: Number(key.primary) })
      }
      const match = /^vault:v(\d+):(.+)$/.exec(got.ciphertext as string)
      const opened = match === null ? undefined : key.decrypt(b64(match[2] as string), aad)
      if (opened === undefined || opened.version !== match?.[1]) return answer('authentication', {})
      return answer('decrypt', { plaintext: opened.plain.toString('base64') })
    },
    { caFile },
  )
  const settings = { address: replay.url, mount, keyName, tokenFile, namespace, caFile }
  return {
    kind: 'transit',
    replay,
    keyName: `${replay.url}/${mount}/${keyName}`,
    client: () => createTransitClient(settings),
    rotate: () => key.rotate(String(++next)),
    ignoreAad: (on) => {
      ignoreAad = on
    },
    transitKeyType: (value) => {
      type = value
    },
    down: fixture.errors.sealed as RecordedResponse,
    denied: fixture.errors.permissionDenied as RecordedResponse,
    env: {
      CUSTODIAN_TRANSIT_ADDR: replay.url,
      CUSTODIAN_TRANSIT_MOUNT: mount,
      CUSTODIAN_TRANSIT_KEY: keyName,
      CUSTODIAN_TRANSIT_TOKEN_FILE: tokenFile,
      CUSTODIAN_TRANSIT_NAMESPACE: namespace,
      CUSTODIAN_TRANSIT_CA_FILE: caFile,
    },
    secrets: [token],
    close: () => replay.close(),
  }
}

export const KMS_SERVICES: readonly (() => Promise<KmsUnderTest>)[] = [
  startAwsKms,
  startGcpKms,
  startAzureKeyVault,
  startTransit,
]
