import assert from 'node:assert/strict'
import { createPublicKey, randomBytes, verify } from 'node:crypto'
import { before, it } from 'node:test'
import { createLocalProvider } from '../../src/crypto/providers/local.ts'
import { forEachEngine } from '../helpers/db.ts'
import {
  auditActions,
  bootstrapProvider,
  createCustomerOrg,
  fingerprint,
  principalWithRole,
  useTestApp,
  type Org,
} from '../helpers/app.ts'

forEachEngine('encryption as a service', (engine) => {
  // The local provider, with a switch to report it sealed (as a Shamir vault or an unreachable KMS does).
  let sealed = false
  const local = createLocalProvider(randomBytes(32))
  const t = useTestApp(engine, { CUSTODIAN_AUTH_RATE_LIMIT: '1000' }, undefined, async () => ({
    ...local,
    sealed: () => sealed,
  }))
  let a: Org
  let b: Org
  const data = Buffer.from('customer record: account 42').toString('base64')
  const call = (org: Org, path: string, body?: unknown) =>
    t().request({ method: 'POST', url: `/v1/orgs/${org.orgId}/transit/keys${path}`, token: org.ownerToken, body })

  before(async () => {
    const provider = await bootstrapProvider(t())
    a = await createCustomerOrg(t(), provider, 'Transit A', 'owner@ta.test')
    b = await createCustomerOrg(t(), provider, 'Transit B', 'owner@tb.test')
    for (const org of [a, b]) assert.equal((await call(org, '', { name: 'records' })).status, 201)
  })

  it('encrypts and decrypts with a context; another context, org or a changed byte does not decrypt', async () => {
    const sealed = (await call(a, '/records/encrypt', { plaintext: data, context: 'tenant-42' })).body
    assert.match(sealed.ciphertext, /^cst:v1:[A-Za-z0-9_-]+$/)
    assert.ok(!sealed.ciphertext.includes(data))
    const opened = await call(a, '/records/decrypt', { ciphertext: sealed.ciphertext, context: 'tenant-42' })
    assert.equal(opened.body.plaintext, data)
    for (const [org, context, ciphertext] of [
      [a, 'tenant-43', sealed.ciphertext],
      [a, undefined, sealed.ciphertext],
      [b, 'tenant-42', sealed.ciphertext],
      [a, 'tenant-42', `${sealed.ciphertext.slice(0, -2)}${sealed.ciphertext.endsWith('A') ? 'B' : 'A'}A`],
    ] as const) {
      const refused = await call(org, '/records/decrypt', { ciphertext, ...(context === undefined ? {} : { context }) })
      assert.equal(refused.status, 400)
      assert.equal(refused.body.code, 'DECRYPTION_FAILED')
    }
    const malformed = await call(a, '/records/decrypt', { ciphertext: 'vault:v1:abc' })
    assert.equal(malformed.body.code, 'VALIDATION_FAILED')
    assert.equal((await call(a, '/missing/encrypt', { plaintext: data })).status, 404)
  })

  it('rotates a key: old ciphertexts still decrypt, rewrap moves them to the newest version', async () => {
    const v1 = (await call(a, '/records/encrypt', { plaintext: data })).body.ciphertext
    assert.equal((await call(a, '/records/rotate')).body.currentVersion, 2)
    assert.match((await call(a, '/records/encrypt', { plaintext: data })).body.ciphertext, /^cst:v2:/)
    assert.equal((await call(a, '/records/decrypt', { ciphertext: v1 })).body.plaintext, data)
    const rewrapped = (await call(a, '/records/rewrap', { ciphertext: v1 })).body
    assert.equal(rewrapped.version, 2)
    assert.equal((await call(a, '/records/decrypt', { ciphertext: rewrapped.ciphertext })).body.plaintext, data)
    const events = (await auditActions(t(), a.orgId)).filter((e) => e.action.startsWith('transit.'))
    assert.deepEqual([...new Set(events.map((e) => e.action))].sort(), [
      'transit.decrypt',
      'transit.encrypt',
      'transit.key.create',
      'transit.key.rotate',
      'transit.rewrap',
    ])
    assert.ok(!JSON.stringify(events).includes(data), 'no data in the audit log')
  })

  it('survives an org-key rotation: transit keys are rewrapped and the old org key retired', async () => {
    const sealed = (await call(a, '/records/encrypt', { plaintext: data })).body.ciphertext
    await t().request({ method: 'POST', url: `/v1/orgs/${a.orgId}/keys/rotate`, token: a.ownerToken })
    while ((await t().app.services.rotation.rewrapBatch(a.orgId)).remaining > 0);
    const keys = (await t().request({ method: 'GET', url: `/v1/orgs/${a.orgId}/keys`, token: a.ownerToken })).body
    assert.deepEqual(
      keys.versions.map((v: { state: string }) => v.state),
      ['active', 'retired'],
    )
    assert.equal((await call(a, '/records/decrypt', { ciphertext: sealed })).body.plaintext, data)
  })

  const b64 = (text: string) => Buffer.from(text).toString('base64')
  const read = (org: Org, name: string) =>
    t().request({ method: 'GET', url: `/v1/orgs/${org.orgId}/transit/keys/${name}`, token: org.ownerToken })

  it('signs with Ed25519 and ECDSA P-256: signatures verify here and with node:crypto against the public key read', async () => {
    for (const type of ['ed25519', 'ecdsa-p256'] as const) {
      const name = `signer-${type}`
      const created = await call(a, '', { name, type })
      assert.equal(created.status, 201, created.text)
      assert.equal(created.body.type, type)
      const key = (await read(a, name)).body
      const pem = key.versions[0].publicKey as string
      assert.match(pem, /^-----BEGIN PUBLIC KEY-----/)
      const inputs = [b64('invoice 1042'), b64('invoice 1043')]
      const marshalings = type === 'ecdsa-p256' ? (['asn1', 'jws'] as const) : (['asn1'] as const)
      for (const marshalingAlgorithm of marshalings) {
        const signed = await call(a, `/${name}/sign`, { inputs, marshalingAlgorithm })
        assert.equal(signed.status, 200, signed.text)
        assert.equal(signed.body.version, 1)
        for (const [i, signature] of (signed.body.signatures as string[]).entries()) {
          assert.match(signature, /^cst:v1:[A-Za-z0-9_-]+$/)
          const bytes = Buffer.from(signature.slice('cst:v1:'.length), 'base64url')
          const message = Buffer.from(inputs[i] as string, 'base64')
          const independent =
            type === 'ed25519'
              ? verify(null, message, createPublicKey(pem), bytes)
              : verify(
                  'sha256',
                  message,
                  { key: createPublicKey(pem), dsaEncoding: marshalingAlgorithm === 'jws' ? 'ieee-p1363' : 'der' },
                  bytes,
                )
          assert.ok(independent, `${type} ${marshalingAlgorithm}: node:crypto verifies`)
        }
        const [first] = signed.body.signatures as string[]
        const checked = await call(a, `/${name}/verify`, {
          kind: 'signature',
          marshalingAlgorithm,
          items: [
            { input: inputs[0], value: first },
            { input: b64('invoice 9999'), value: first },
          ],
        })
        assert.equal(checked.status, 200, checked.text)
        assert.deepEqual(checked.body.results, [{ valid: true }, { valid: false }])
      }
      // A signing key does not encrypt; an AES key does not sign.
      const refused = await call(a, `/${name}/encrypt`, { plaintext: data })
      assert.equal(refused.status, 400)
      assert.equal(refused.body.code, 'VALIDATION_FAILED')
    }
    const aesSign = await call(a, '/records/sign', { inputs: [data] })
    assert.equal(aesSign.status, 400)
    assert.equal(aesSign.body.code, 'VALIDATION_FAILED')
    // ECDSA over SHA-384: node:crypto agrees.
    const p384 = await call(a, '/signer-ecdsa-p256/sign', { inputs: [data], hashAlgorithm: 'sha2-384' })
    const pem = (await read(a, 'signer-ecdsa-p256')).body.versions[0].publicKey as string
    const bytes = Buffer.from((p384.body.signatures[0] as string).slice(7), 'base64url')
    assert.ok(verify('sha384', Buffer.from(data, 'base64'), createPublicKey(pem), bytes))
    // The other org has no such key.
    assert.equal((await call(b, '/signer-ed25519/sign', { inputs: [data] })).status, 404)
  })

  it('HMACs with every key type; verify says valid or not, and old versions stop verifying past min_decryption_version', async () => {
    await call(a, '', { name: 'macs' })
    const one = await call(a, '/macs/hmac', { inputs: [data, b64('other')] })
    assert.equal(one.status, 200, one.text)
    const [mac, otherMac] = one.body.hmacs as string[]
    assert.match(mac as string, /^cst:v1:/)
    assert.notEqual(mac, otherMac)
    assert.equal(Buffer.from((mac as string).slice(7), 'base64url').length, 32)
    const sha512 = await call(a, '/macs/hmac', { inputs: [data], algorithm: 'sha2-512' })
    assert.equal(Buffer.from((sha512.body.hmacs[0] as string).slice(7), 'base64url').length, 64)
    // Deterministic for a version: the same input, the same HMAC.
    assert.equal((await call(a, '/macs/hmac', { inputs: [data] })).body.hmacs[0], mac)
    const ed = await call(a, '/signer-ed25519/hmac', { inputs: [data] })
    assert.equal(ed.status, 200)
    assert.notEqual(ed.body.hmacs[0], mac, 'each key has its own HMAC key')
    const verifyMacs = (items: { input: string; value: string }[], algorithm?: string) =>
      call(a, '/macs/verify', { kind: 'hmac', items, ...(algorithm === undefined ? {} : { hashAlgorithm: algorithm }) })
    assert.deepEqual((await verifyMacs([{ input: data, value: mac as string }])).body.results, [{ valid: true }])
    assert.deepEqual((await verifyMacs([{ input: b64('other'), value: mac as string }])).body.results, [
      { valid: false },
    ])
    assert.deepEqual((await verifyMacs([{ input: data, value: mac as string }], 'sha2-512')).body.results, [
      { valid: false },
    ])
    assert.deepEqual((await verifyMacs([{ input: data, value: sha512.body.hmacs[0] }], 'sha2-512')).body.results, [
      { valid: true },
    ])

    await call(a, '/macs/rotate')
    const v2 = (await call(a, '/macs/hmac', { inputs: [data] })).body.hmacs[0] as string
    assert.match(v2, /^cst:v2:/)
    assert.deepEqual((await verifyMacs([{ input: data, value: mac as string }])).body.results, [{ valid: true }])
    const configured = await call(a, '/macs/config', { minDecryptionVersion: 2 })
    assert.equal(configured.status, 200, configured.text)
    assert.equal(configured.body.minDecryptionVersion, 2)
    assert.deepEqual(
      (
        await verifyMacs([
          { input: data, value: mac as string },
          { input: data, value: v2 },
        ])
      ).body.results,
      [{ valid: false, code: 'TRANSIT_VERSION_TOO_OLD' }, { valid: true }],
    )
    const tooOld = await call(a, '/macs/hmac', { inputs: [data], keyVersion: 1 })
    assert.equal(tooOld.status, 400)
    assert.equal(tooOld.body.code, 'TRANSIT_VERSION_TOO_OLD')
  })

  it('makes data keys: plaintext and wrapped, of 128, 256 or 512 bits, the wrapped one decrypting to the plaintext one', async () => {
    for (const bits of [128, 256, 512]) {
      const made = await call(a, '/records/datakey/plaintext', { bits })
      assert.equal(made.status, 200, made.text)
      const plaintext = Buffer.from(made.body.plaintext as string, 'base64')
      assert.equal(plaintext.length, bits / 8)
      const opened = await call(a, '/records/decrypt', { ciphertext: made.body.ciphertext })
      assert.equal(opened.body.plaintext, made.body.plaintext)
    }
    const wrapped = await call(a, '/records/datakey/wrapped', {})
    assert.equal(wrapped.status, 200)
    assert.deepEqual(Object.keys(wrapped.body).sort(), ['ciphertext', 'version'])
    assert.equal(
      Buffer.from((await call(a, '/records/decrypt', { ciphertext: wrapped.body.ciphertext })).body.plaintext, 'base64')
        .length,
      32,
    )
    for (const body of [{ bits: 64 }, { bits: '256' }, { plaintext: true }]) {
      const refused = await call(a, '/records/datakey/plaintext', body)
      assert.equal(refused.status, 400, JSON.stringify(body))
    }
    assert.equal((await call(a, '/records/datakey/other', {})).status, 400)
    assert.equal((await call(a, '/signer-ed25519/datakey/wrapped', {})).status, 400)
  })

  it('keeps minimum versions: old ciphertexts refused below min_decryption_version, encryption at a chosen version within bounds, export never', async () => {
    await call(a, '', { name: 'versions' })
    const v1 = (await call(a, '/versions/encrypt', { plaintext: data })).body.ciphertext as string
    await call(a, '/versions/rotate')
    await call(a, '/versions/rotate')
    const atOne = await call(a, '/versions/encrypt', { plaintext: data, keyVersion: 1 })
    assert.match(atOne.body.ciphertext, /^cst:v1:/)
    const higher = await call(a, '/versions/encrypt', { plaintext: data, keyVersion: 4 })
    assert.equal(higher.status, 400)
    const before = await fingerprint(t())
    for (const body of [
      { exportable: true },
      { minDecryptionVersion: 4 },
      { minDecryptionVersion: 0 },
      { minEncryptionVersion: 4 },
      { minDecryptionVersion: 3, minEncryptionVersion: 2 },
      { deletionAllowed: true },
    ]) {
      const refused = await call(a, '/versions/config', body)
      assert.equal(refused.status, 400, JSON.stringify(body))
    }
    assert.equal(await fingerprint(t()), before, 'nothing changed')
    const set = await call(a, '/versions/config', { minDecryptionVersion: 2, minEncryptionVersion: 3 })
    assert.equal(set.status, 200, set.text)
    assert.deepEqual([set.body.minDecryptionVersion, set.body.minEncryptionVersion, set.body.exportable], [2, 3, false])
    for (const path of ['/versions/decrypt', '/versions/rewrap']) {
      const refused = await call(a, path, { ciphertext: v1 })
      assert.equal(refused.status, 400)
      assert.equal(refused.body.code, 'TRANSIT_VERSION_TOO_OLD')
    }
    const belowMin = await call(a, '/versions/encrypt', { plaintext: data, keyVersion: 2 })
    assert.equal(belowMin.body.code, 'TRANSIT_VERSION_TOO_OLD')
    assert.match((await call(a, '/versions/encrypt', { plaintext: data, keyVersion: 3 })).body.ciphertext, /^cst:v3:/)
    // Lowering the minimum again opens the old ciphertext (the version was never destroyed).
    await call(a, '/versions/config', { minDecryptionVersion: 1, minEncryptionVersion: 0 })
    assert.equal((await call(a, '/versions/decrypt', { ciphertext: v1 })).body.plaintext, data)
  })

  it('audits every new operation with key, version and counts, never data, keys, HMACs or signatures', async () => {
    const mac = (await call(a, '/records/hmac', { inputs: [data, data] })).body.hmacs[0] as string
    const signature = (await call(a, '/signer-ed25519/sign', { inputs: [data] })).body.signatures[0] as string
    const made = (await call(a, '/records/datakey/plaintext', {})).body
    await call(a, '/records/verify', { kind: 'hmac', items: [{ input: data, value: mac }] })
    const events = (await auditActions(t(), a.orgId)).filter((e) => e.action.startsWith('transit.'))
    const hmac = events.findLast((e) => e.action === 'transit.hmac')
    assert.deepEqual(hmac?.details, { version: 2, algorithm: 'sha2-256', count: 2 })
    assert.deepEqual(events.findLast((e) => e.action === 'transit.verify')?.details, {
      kind: 'hmac',
      count: 1,
      valid: 1,
    })
    assert.deepEqual(events.findLast((e) => e.action === 'transit.datakey')?.details, {
      version: 2,
      bits: 256,
      plaintextReturned: true,
    })
    for (const action of ['transit.sign', 'transit.key.configure', 'transit.key.create'])
      assert.ok(
        events.some((e) => e.action === action),
        action,
      )
    const log = JSON.stringify(events)
    for (const secret of [data, mac.slice(7), signature.slice(7), made.plaintext, made.ciphertext.slice(7)])
      assert.ok(!log.includes(secret), 'nothing secret in the audit log')
  })

  it('needs transit:sign to sign and HMAC, transit:verify to verify: other roles are refused', async () => {
    const auditor = (await principalWithRole(t(), a, 'auditor')).token
    for (const [path, body] of [
      ['/records/hmac', { inputs: [data] }],
      ['/signer-ed25519/sign', { inputs: [data] }],
      ['/records/verify', { kind: 'hmac', items: [{ input: data, value: 'cst:v1:AAAA' }] }],
      ['/records/datakey/plaintext', {}],
      ['/records/config', { minDecryptionVersion: 1 }],
    ] as const) {
      const refused = await t().request({
        method: 'POST',
        url: `/v1/orgs/${a.orgId}/transit/keys${path}`,
        token: auditor,
        body,
      })
      assert.equal(refused.status, 403, path)
    }
    // The auditor reads keys (keys:read), public keys included.
    const readable = await t().request({
      method: 'GET',
      url: `/v1/orgs/${a.orgId}/transit/keys/signer-ed25519`,
      token: auditor,
    })
    assert.equal(readable.status, 200)
  })

  it('fails closed while sealed: signing, HMAC, verify and data keys refused with 503 though their keys are cached', async () => {
    // Warm the cache first.
    assert.equal((await call(a, '/signer-ecdsa-p256/sign', { inputs: [data] })).status, 200)
    sealed = true
    try {
      for (const [path, body] of [
        ['/signer-ecdsa-p256/sign', { inputs: [data] }],
        ['/records/hmac', { inputs: [data] }],
        ['/records/verify', { kind: 'hmac', items: [{ input: data, value: 'cst:v2:AAAA' }] }],
        ['/records/datakey/wrapped', {}],
        ['/records/encrypt', { plaintext: data }],
      ] as const) {
        const refused = await call(a, path, body)
        assert.equal(refused.status, 503, `${path}: ${refused.text}`)
        assert.equal(refused.body.code, 'VAULT_SEALED')
      }
    } finally {
      sealed = false
    }
    assert.equal((await call(a, '/signer-ecdsa-p256/sign', { inputs: [data] })).status, 200)
  })
})
