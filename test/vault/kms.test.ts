import assert from 'node:assert/strict'
import { inspect } from 'node:util'
import { after, afterEach, before, describe, it } from 'node:test'
import { DecryptionError } from '../../src/crypto/aead.ts'
import { KmsUnavailableError, openKmsProvider, type KmsProvider } from '../../src/crypto/providers/kms.ts'
import { SealedError } from '../../src/crypto/providers/provider.ts'
import { KMS_SERVICES, type KmsUnderTest } from '../helpers/kms-services.ts'

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
