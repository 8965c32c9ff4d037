import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { AppError } from '../../errors.ts'
import {
  contextOfAssociatedData,
  decodeVaultBase64,
  fromVaultMarked,
  healthStatus,
  toCustodianCiphertext,
  toVaultCiphertext,
  toVaultMarked,
  vaultErrorsOf,
  vaultStatusOf,
} from './vault-compat.ts'

describe('Vault shapes onto Custodian’s', () => {
  it('writes and reads HMACs and signatures as vault:vN:<base64>, base64url for JWS, refusing other shapes', () => {
    const bytes = Buffer.from([0xfb, 0xff, 0xfe, 0x00])
    assert.equal(toVaultMarked(3, bytes), `vault:v3:${bytes.toString('base64')}`)
    assert.deepEqual(fromVaultMarked(toVaultMarked(3, bytes), 'hmac'), { version: 3, value: bytes })
    assert.deepEqual(fromVaultMarked(toVaultMarked(3, bytes, true), 'signature', true), { version: 3, value: bytes })
    for (const [bad, urlSafe] of [
      ['vault:v0:AAAA', false],
      ['vault:v1:AA-_', false],
      ['vault:v1:AAAA==', true],
      ['cst:v1:AAAA', false],
      ['vault:v1:', false],
    ] as const)
      assert.throws(
        () => fromVaultMarked(bad, 'signature', urlSafe),
        (e: AppError) => e.code === 'VALIDATION_FAILED',
        bad,
      )
  })

  it('maps vault:vN:<base64> to cst:vN:<base64url> and back, byte for byte', () => {
    const bytes = Buffer.from([0xfb, 0xff, 0xfe, 0x00, 0x3e, 0x3f, 0x01])
    const cst = `cst:v12:${bytes.toString('base64url')}`
    const vault = toVaultCiphertext(cst)
    assert.equal(vault, `vault:v12:${bytes.toString('base64')}`)
    assert.equal(toCustodianCiphertext(vault), cst)
  })

  it('refuses ciphertexts and base64 that are not Vault’s exact shape (400)', () => {
    for (const bad of ['vault:v0:AAAA', 'vault:v1:AAA', 'vault:v1:AA-_', 'cst:v1:AAAA', 'vault:1:AAAA', 'vault:v1:'])
      assert.throws(
        () => toCustodianCiphertext(bad),
        (e: AppError) => e.code === 'VALIDATION_FAILED',
        bad,
      )
    for (const bad of ['abc', 'ab=c', 'YQ', 'a b=', 'YQ-_'])
      assert.throws(
        () => decodeVaultBase64(bad, 'plaintext'),
        (e: AppError) => e.code === 'VALIDATION_FAILED',
        bad,
      )
    assert.deepEqual(decodeVaultBase64('', 'plaintext'), Buffer.alloc(0))
  })

  it('binds associated_data as its base64 text; empty or absent binds nothing', () => {
    assert.equal(contextOfAssociatedData('dGVuYW50'), 'dGVuYW50')
    assert.equal(contextOfAssociatedData(''), undefined)
    assert.equal(contextOfAssociatedData(undefined), undefined)
  })

  it('answers health with Vault’s codes, overridable', () => {
    assert.equal(healthStatus({ initialized: true, sealed: false }, {}), 200)
    assert.equal(healthStatus({ initialized: true, sealed: true }, {}), 503)
    assert.equal(healthStatus({ initialized: false, sealed: true }, {}), 501)
    assert.equal(healthStatus({ initialized: true, sealed: true }, { sealedcode: 200 }), 200)
  })

  it('answers a missing credential 403 “permission denied”, a sealed vault 503', () => {
    const unauthenticated = new AppError('UNAUTHENTICATED', 'no token')
    assert.equal(vaultStatusOf(unauthenticated), 403)
    assert.deepEqual(vaultErrorsOf(unauthenticated, 403), ['permission denied', 'no token'])
    const sealed = new AppError('VAULT_SEALED', 'sealed')
    assert.equal(vaultStatusOf(sealed), 503)
    assert.equal(vaultErrorsOf(sealed, 503)[0], 'Vault is sealed')
    assert.deepEqual(vaultErrorsOf(new AppError('INTERNAL', 'a stack'), 500), ['internal error'])
  })
})
