import assert from 'node:assert/strict'
import { constants, createHash, generateKeyPairSync, publicEncrypt, randomBytes } from 'node:crypto'
import { inspect } from 'node:util'
import { after, afterEach, before, describe, it } from 'node:test'
import { DecryptionError, seal } from '../../src/crypto/aead.ts'
import { createAzureKeyVaultClient } from '../../src/crypto/providers/azure-keyvault.ts'
import { KmsUnavailableError, openKmsProvider, type KmsProvider } from '../../src/crypto/providers/kms.ts'
import { SealedError } from '../../src/crypto/providers/provider.ts'
import { signPs256Digest } from '../helpers/kms-replay.ts'
import { KMS_SERVICES, startAzureKeyVault, startTransit, type KmsUnderTest } from '../helpers/kms-services.ts'

// Contract tests on recorded request shapes (test/fixtures/kms/README.md): each provider
// drives its official SDK against a local replay server; none ran against the real service.
const NO_TIMERS = { retryMs: 3_600_000, checkMs: 3_600_000 }
const AAD = 'custodian/v1|purpose=org-kek|org=org-a|object=org-a|version=1'

for (const start of KMS_SERVICES) {
  let kms: KmsUnderTest
  let provider: KmsProvider

  describe(`root key in a KMS: ${start.name.replace(/^start/, '')}`, () => {
    before(async () => {
      kms = await start()
      provider = await openKmsProvider(kms.client(), NO_TIMERS)
    })
    afterEach(() => assert.deepEqual(kms.replay.mismatches.splice(0), [], 'every request matched its recorded shape'))
    after(async () => {
      provider.close()
      await kms.close()
    })

    it('wraps under the KMS key with the AAD bound; the key id names the key and its version', async () => {
      assert.equal(provider.sealed(), false, provider.unavailableReason() ?? '')
      assert.ok(provider.keyId().startsWith(`${kms.kind}:${kms.keyName}#`), provider.keyId())
      const key = Buffer.alloc(32, 7)
      const wrapped = await provider.wrap(key, AAD)
      const keyId = provider.keyId()
      assert.ok(!wrapped.includes(key), 'the org key is not in the wrapped bytes')
      assert.deepEqual(await provider.unwrap(wrapped, AAD, keyId), key)

      await assert.rejects(provider.unwrap(wrapped, AAD.replace('org-a', 'org-b'), keyId), DecryptionError)
      const tampered = Buffer.from(wrapped)
      tampered[tampered.length - 3] = (tampered[tampered.length - 3] as number) ^ 1
      await assert.rejects(provider.unwrap(tampered, AAD, keyId), DecryptionError)
      assert.equal(provider.sealed(), false, 'a refused ciphertext is not an outage')

      // Another key, or a version other than the one in the wrapped bytes: refused before any request.
      const before = kms.replay.seen.length
      await assert.rejects(provider.unwrap(wrapped, AAD, `${kms.kind}:another-key#1`), DecryptionError)
      await assert.rejects(provider.unwrap(wrapped, AAD, `${keyId}0`), DecryptionError)
      await assert.rejects(provider.unwrap(wrapped, AAD, 'local:0123456789abcdef'), DecryptionError)
      assert.equal(kms.replay.seen.length, before)
    })

    it('follows a rotation in the KMS: new wraps carry the new version, old ones still open', async () => {
      const key = Buffer.alloc(32, 1)
      const old = await provider.wrap(key, AAD)
      const oldId = provider.keyId()
      kms.rotate()
      assert.equal(await provider.probe(), true)
      const fresh = await provider.wrap(key, AAD)
      const newId = provider.keyId()
      assert.notEqual(newId, oldId)
      assert.equal(newId.split('#')[0], oldId.split('#')[0], 'the same KMS key')
      assert.deepEqual(await provider.unwrap(old, AAD, oldId), key)
      assert.deepEqual(await provider.unwrap(fresh, AAD, newId), key)
      await assert.rejects(
        provider.unwrap(old, AAD, newId),
        DecryptionError,
        'the stored id must match the wrapped version',
      )
    })

    it('fails closed while the KMS is down or refuses our credentials, without key material in errors, and recovers', async () => {
      const key = Buffer.alloc(32, 0x5a)
      const wrapped = await provider.wrap(key, AAD)
      const keyId = provider.keyId()
      for (const outage of [kms.down, kms.denied]) {
        kms.replay.outage = outage
        const errors: unknown[] = []
        await provider.wrap(key, AAD).catch((e: unknown) => errors.push(e))
        assert.equal(provider.sealed(), true)
        // Sealed: even an unwrap is refused without asking the KMS.
        await provider.unwrap(wrapped, AAD, keyId).catch((e: unknown) => errors.push(e))
        assert.equal(await provider.probe(), false)
        assert.equal(errors.length, 2)
        for (const error of errors) {
          assert.ok(error instanceof KmsUnavailableError && error instanceof SealedError, inspect(error))
          const text = inspect(error, { depth: 10 })
          for (const secret of [key.toString('base64'), key.toString('hex'), key.toString('base64url'), ...kms.secrets])
            assert.ok(!text.includes(secret), `the error does not carry ${secret.slice(0, 6)}…: ${text}`)
        }
        kms.replay.outage = undefined
        assert.equal(await provider.probe(), true, provider.unavailableReason() ?? '')
        assert.equal(provider.sealed(), false)
        assert.deepEqual(await provider.unwrap(wrapped, AAD, keyId), key)
      }
    })

    it('refuses a stored key version that could reach a URL or request path, before any request', async () => {
      const wrapped = await provider.wrap(Buffer.alloc(32, 3), AAD)
      const keyId = provider.keyId()
      const prefix = keyId.slice(0, keyId.indexOf('#') + 1)
      const body = wrapped.subarray(2 + (wrapped[1] as number))
      const before = kms.replay.seen.length
      for (const version of ['../../other-key/1', 'a/b', 'v1?x=1', '%2e%2e', 'v1 ', '']) {
        const label = Buffer.from(version)
        const forged = Buffer.concat([Buffer.from([1, label.length]), label, body])
        await assert.rejects(provider.unwrap(forged, AAD, `${prefix}${version}`), DecryptionError, version)
      }
      assert.equal(kms.replay.seen.length, before, 'no request was sent')
      assert.equal(provider.sealed(), false)
    })

    it('never unseals on a KMS that ignores the AAD: the probe requires a decrypt under another AAD to fail', {
      skip: start === startAzureKeyVault ? 'Azure: the AAD is bound by our own AES-GCM seal, not by Key Vault' : false,
    }, async () => {
      kms.ignoreAad?.(true)
      try {
        assert.equal(await provider.probe(), false)
        assert.equal(provider.sealed(), true)
        assert.match(provider.unavailableReason() ?? '', /another AAD/)
        await assert.rejects(provider.wrap(Buffer.alloc(32, 4), AAD), SealedError)
      } finally {
        kms.ignoreAad?.(false)
      }
      assert.equal(await provider.probe(), true, provider.unavailableReason() ?? '')
    })

    it('retries on its own after an outage at start', async () => {
      kms.replay.outage = kms.down
      const late = await openKmsProvider(kms.client(), { retryMs: 100, checkMs: 3_600_000 })
      try {
        assert.equal(late.sealed(), true)
        assert.match(late.unavailableReason() ?? '', new RegExp(`KMS \\(${kms.kind}\\) is unavailable`))
        kms.replay.outage = undefined
        const deadline = Date.now() + 60_000
        while (late.sealed() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
        assert.equal(late.sealed(), false, 'the retry probe found the KMS back')
      } finally {
        late.close()
      }
    })
  })
}

const u16 = (n: number) => {
  const b = Buffer.alloc(2)
  b.writeUInt16BE(n)
  return b
}

describe('root key in Azure Key Vault: only the vault can make an envelope the service accepts', () => {
  let kms: KmsUnderTest
  let provider: KmsProvider
  before(async () => {
    kms = await startAzureKeyVault()
    provider = await openKmsProvider(kms.client(), NO_TIMERS)
  })
  afterEach(() => assert.deepEqual(kms.replay.mismatches.splice(0), [], 'every request matched its recorded shape'))
  after(async () => {
    provider.close()
    await kms.close()
  })
  const unwrapRequests = () => kms.replay.seen.filter((r) => r.path.includes('/unwrapkey')).length
  const withVersion = (version: string, envelope: Buffer) =>
    Buffer.concat([Buffer.from([1, version.length]), Buffer.from(version), envelope])

  it('refuses an envelope made with only the public key (key substitution): no org key comes out', async () => {
    await provider.wrap(Buffer.alloc(32, 9), AAD)
    const keyId = provider.keyId()
    const version = keyId.slice(keyId.indexOf('#') + 1)
    const publicKey = kms.publicKey?.(version)
    assert.ok(publicKey !== undefined)
    // What anyone who can read the public key and write the database can build.
    const k = randomBytes(32)
    const wrappedK = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, k)
    const chosen = Buffer.alloc(32, 0x66)
    const sealed = seal(k, chosen, AAD)
    const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
    const forgeries = {
      'the unsigned envelope': Buffer.concat([u16(wrappedK.length), wrappedK, sealed]),
      'a random signature': Buffer.concat([
        Buffer.from([2]),
        u16(wrappedK.length),
        wrappedK,
        u16(256),
        randomBytes(256),
        sealed,
      ]),
      "the attacker's own PS256 key": Buffer.concat([
        Buffer.from([2]),
        u16(wrappedK.length),
        wrappedK,
        u16(256),
        signPs256Digest(attacker, createHash('sha256').update(sealed).digest()),
        sealed,
      ]),
      'an empty signature': Buffer.concat([Buffer.from([2]), u16(wrappedK.length), wrappedK, u16(0), sealed]),
    }
    const before = unwrapRequests()
    for (const [name, envelope] of Object.entries(forgeries)) {
      const got = await provider.unwrap(withVersion(version, envelope), AAD, keyId).then(
        (key) => key,
        (error: unknown) => error,
      )
      assert.ok(got instanceof DecryptionError, `${name}: ${inspect(got)}`)
    }
    assert.equal(unwrapRequests(), before, 'the signature is checked before Key Vault unwraps anything')
    assert.equal(provider.sealed(), false, 'a forgery is not an outage')
  })

  it('refuses a tampered signature, wrapped key, seal, format byte or AAD', async () => {
    const key = Buffer.alloc(32, 0x21)
    const wrapped = await provider.wrap(key, AAD)
    const keyId = provider.keyId()
    assert.deepEqual(await provider.unwrap(wrapped, AAD, keyId), key)
    const start = 2 + (wrapped[1] as number)
    assert.equal(wrapped[start], 2, 'the envelope starts with its format byte')
    const kLength = wrapped.readUInt16BE(start + 1)
    const sigAt = start + 3 + kLength
    const sigLength = wrapped.readUInt16BE(sigAt)
    const flip = (at: number) => {
      const copy = Buffer.from(wrapped)
      copy[at] = (copy[at] as number) ^ 1
      return copy
    }
    const cases = {
      format: flip(start),
      'wrapped key': flip(start + 3 + 5),
      signature: flip(sigAt + 2 + 7),
      'signature length': flip(sigAt + 1),
      seal: flip(wrapped.length - 20),
      truncated: wrapped.subarray(0, sigAt + 2 + sigLength),
    }
    for (const [name, tampered] of Object.entries(cases))
      await assert.rejects(provider.unwrap(tampered, AAD, keyId), DecryptionError, name)
    await assert.rejects(provider.unwrap(wrapped, AAD.replace('version=1', 'version=2'), keyId), DecryptionError)
    assert.equal(provider.sealed(), false)
  })

  it('refuses a key version that is not 32 hex digits, before any request', async () => {
    const wrapped = await provider.wrap(Buffer.alloc(32, 0x22), AAD)
    const keyId = provider.keyId()
    const prefix = keyId.slice(0, keyId.indexOf('#') + 1)
    const envelope = wrapped.subarray(2 + (wrapped[1] as number))
    const before = kms.replay.seen.length
    for (const version of ['0'.repeat(31), '0'.repeat(33), 'g'.repeat(32), `${'0'.repeat(31)}/`])
      await assert.rejects(provider.unwrap(withVersion(version, envelope), AAD, `${prefix}${version}`), DecryptionError)
    assert.equal(kms.replay.seen.length, before)
    assert.throws(() => createAzureKeyVaultClient({ keyId: `${kms.keyName}/latest` }), /not an Azure Key Vault key id/)
    assert.throws(
      () => createAzureKeyVaultClient({ keyId: `${kms.keyName}/${'0'.repeat(31)}` }),
      /not an Azure Key Vault key id/,
    )
  })
})

describe('root key in Transit: only an AEAD key can hold it', () => {
  let kms: KmsUnderTest
  before(async () => {
    kms = await startTransit()
  })
  afterEach(() => assert.deepEqual(kms.replay.mismatches.splice(0), [], 'every request matched its recorded shape'))
  after(() => kms.close())

  for (const type of ['rsa-2048', 'aes128-gcm96', 'ecdsa-p256', 'hmac'])
    it(`stays sealed on a Transit key of type ${type}, saying why`, async () => {
      kms.transitKeyType?.(type)
      const provider = await openKmsProvider(kms.client(), NO_TIMERS)
      try {
        assert.equal(provider.sealed(), true)
        assert.match(provider.unavailableReason() ?? '', new RegExp(`${type}.*aes256-gcm96 or chacha20-poly1305`))
        await assert.rejects(provider.wrap(Buffer.alloc(32, 5), AAD), SealedError)
        kms.transitKeyType?.('chacha20-poly1305')
        assert.equal(await provider.probe(), true, provider.unavailableReason() ?? '')
      } finally {
        provider.close()
        kms.transitKeyType?.('aes256-gcm96')
      }
    })
})
