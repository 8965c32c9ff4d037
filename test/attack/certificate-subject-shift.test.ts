import assert from 'node:assert/strict'
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, describe, it } from 'node:test'
import { CompactSign } from 'jose'
import { checkSubject, verifyCertificateSignature } from '../../console/src/features/privacy/verify.ts'
import { ed25519KeyId } from '../../src/crypto/keys.ts'
import { runToExit } from '../helpers/process.ts'

/**
 * Attack on the erasure certificate's subject check (P7.2): the commitment is
 * SHA-256(salt || utf8(subjectId)) with no boundary between the two, and the verifiers (the
 * console's, in the browser, and `custodian verify-certificate`) took a salt of any length.
 * Moving the subject id's first bytes into the salt keeps the digest: a certificate issued
 * for subject "142" is "verified" as naming subject "42" with salt = salt || "1". The org
 * hands subject 42 another subject's certificate and the browser says it names them.
 */
describe('attack: an erasure certificate verified for another subject by a shifted salt (P7.2)', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const x = (publicKey.export({ format: 'jwk' }) as { x: string }).x
  const kid = ed25519KeyId(Buffer.from(x, 'base64url'))
  const salt = randomBytes(16)
  const commitment = `sha256:${createHash('sha256').update(salt).update('142', 'utf8').digest('hex')}`
  const shifted = Buffer.concat([salt, Buffer.from('1')]).toString('base64url')
  const dir = mkdtempSync(path.join(tmpdir(), 'cert-shift-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  async function certificate(): Promise<string> {
    const payload = {
      v: 1,
      type: 'erasure',
      id: 'c1',
      subject: { commitment, scheme: 'sha256(salt || utf8(subjectId)), hex' },
    }
    return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
      .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'custodian-erasure-certificate+jws' })
      .sign(privateKey)
  }

  it('the console’s check names only the subject it was issued for, with the 16-byte salt handed over', async () => {
    const verdict = await verifyCertificateSignature(await certificate(), [{ keyId: kid, publicKey: x }])
    assert.ok(verdict.ok, verdict.message)
    assert.equal((await checkSubject(verdict.payload, '142', salt.toString('base64url'))).ok, true)
    const forged = await checkSubject(verdict.payload, '42', shifted)
    assert.equal(forged.ok, false, forged.message)
  })

  it('the CLI refuses the shifted salt too', async () => {
    const file = path.join(dir, 'certificate.jws')
    writeFileSync(file, await certificate())
    const args = ['bin/custodian.js', 'verify-certificate', '--file', file, '--public-key', x]
    const genuine = await runToExit([...args, '--subject', '142', '--salt', salt.toString('base64url')], {})
    assert.equal(genuine.code, 0, genuine.output)
    const forged = await runToExit([...args, '--subject', '42', '--salt', shifted], {})
    assert.equal(forged.code, 1, forged.output)
  })
})
