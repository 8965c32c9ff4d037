import assert from 'node:assert/strict'
import { createPublicKey, randomBytes, verify } from 'node:crypto'
import { describe, it } from 'node:test'
import { hmacMatches, hmacOf, materialOf, publicKeyPem, signatureMatches, signatureOf } from './vault.transit.keys.ts'

describe('transit key material derived from a version’s secret', () => {
  it('derives the same keys from the same secret, and keys apart for each use and each secret', () => {
    const secret = randomBytes(32)
    const one = materialOf('ed25519', Buffer.from(secret))
    const again = materialOf('ed25519', Buffer.from(secret))
    assert.equal(publicKeyPem(one), publicKeyPem(again))
    assert.deepEqual(one.hmacKey, again.hmacKey)
    assert.notDeepEqual(one.hmacKey, secret, 'the HMAC key is not the secret')
    const ecdsa = materialOf('ecdsa-p256', Buffer.from(secret))
    assert.deepEqual(ecdsa.hmacKey, one.hmacKey, 'HMAC depends on the secret, not the type')
    assert.notEqual(publicKeyPem(materialOf('ed25519', randomBytes(32))), publicKeyPem(one))
    assert.equal(publicKeyPem(materialOf('aes256-gcm96', secret)), null)
  })

  it('signs so that node:crypto verifies against the public key, and refuses altered messages', () => {
    const message = Buffer.from('release 1.4.2')
    for (const type of ['ed25519', 'ecdsa-p256'] as const) {
      const material = materialOf(type, randomBytes(32))
      const publicKey = createPublicKey(publicKeyPem(material) as string)
      for (const marshaling of ['asn1', 'jws'] as const) {
        const options = { hash: 'sha2-256' as const, marshaling }
        const signature = signatureOf(type, material, options, message)
        const dsaEncoding = marshaling === 'jws' ? 'ieee-p1363' : 'der'
        assert.ok(verify(type === 'ed25519' ? null : 'sha256', message, { key: publicKey, dsaEncoding }, signature))
        assert.ok(signatureMatches(type, material, options, message, signature))
        assert.ok(!signatureMatches(type, material, options, Buffer.from('release 1.4.3'), signature))
        assert.ok(!signatureMatches(type, material, options, message, Buffer.from('not a signature')))
      }
    }
  })

  it('HMACs per algorithm, and matches only the same HMAC', () => {
    const material = materialOf('aes256-gcm96', randomBytes(32))
    const input = Buffer.from('webhook')
    const mac = hmacOf(material, 'sha2-256', input)
    assert.equal(mac.length, 32)
    assert.equal(hmacOf(material, 'sha3-512', input).length, 64)
    assert.ok(hmacMatches(material, 'sha2-256', input, mac))
    assert.ok(!hmacMatches(material, 'sha2-384', input, mac))
    assert.ok(!hmacMatches(material, 'sha2-256', input, mac.subarray(0, 16)))
  })
})
