import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { forEachEngine } from '../helpers/db.ts'
import { auditActions, bootstrapProvider, createCustomerOrg, useTestApp, type Org } from '../helpers/app.ts'

forEachEngine('encryption as a service', (engine) => {
  const t = useTestApp(engine, { CUSTODIAN_AUTH_RATE_LIMIT: '1000' })
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
})
