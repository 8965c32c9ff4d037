import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { after, before, describe, it } from 'node:test'
import { Agent, fetch } from 'undici'
import createVaultClient from 'node-vault'
import { createLocalProvider } from '../../src/crypto/providers/local.ts'
import { createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto'
import {
  auditActions,
  bootstrapProvider,
  createCustomerOrg,
  fingerprint,
  principalWithRole,
  useTestApp,
  type Org,
} from '../helpers/app.ts'
import { forEachEngine } from '../helpers/db.ts'
import { startVaultListener, type VaultListenerUnderTest } from '../helpers/vault-listener.ts'

// Unmodified Vault clients against Custodian's Vault-compatible listener (docs/vault-compat.md):
// Debian's python3-hvac (scripts/prerequisites.ts installs it) and the node-vault npm package.
const PYTHON = '/usr/bin/python3'
const HVAC_SCRIPT = path.join(import.meta.dirname, 'vault', 'hvac_operations.py')
const run = promisify(execFile)
const b64 = (text: string) => Buffer.from(text).toString('base64')
/** A Vault public key as node:crypto's: Ed25519 raw (base64) in an RFC 8410 SubjectPublicKeyInfo, ECDSA PEM as is. */
const publicKeyOf = (type: string, value: string): KeyObject =>
  type === 'ed25519'
    ? createPublicKey({
        key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(value, 'base64')]),
        format: 'der',
        type: 'spki',
      })
    : createPublicKey(value)
/** node:crypto's verdict on a `vault:vN:<base64>` signature (ECDSA: SHA-256, DER). */
const verifiedIndependently = (type: string, publicKey: string, message: Buffer, signature: string) =>
  verify(
    type === 'ed25519' ? null : 'sha256',
    message,
    publicKeyOf(type, publicKey),
    Buffer.from(signature.split(':')[2] as string, 'base64'),
  )

forEachEngine('Vault-compatible API (issue 17)', (engine) => {
  const rootKey = createLocalProvider(randomBytes(32))
  const t = useTestApp(engine, { CUSTODIAN_AUTH_RATE_LIMIT: '1000' }, undefined, async () => rootKey)
  let vault: VaultListenerUnderTest
  let dispatcher: Agent
  let org: Org
  let other: Org
  let admin: { token: string; serviceAccountId: string }
  let auditor: string
  let viewer: string
  let uninitialized: { status: number; body: Record<string, unknown> }

  /** A raw request to the Vault listener (what a client without a library sends). */
  const call = async (
    method: string,
    url: string,
    options: { token?: string; body?: unknown; payload?: string; headers?: Record<string, string> } = {},
  ) => {
    const headers: Record<string, string> = { ...options.headers }
    if (options.token !== undefined) headers['x-vault-token'] = options.token
    const payload = options.payload ?? (options.body === undefined ? undefined : JSON.stringify(options.body))
    if (payload !== undefined) headers['content-type'] ??= 'application/json'
    const response = await fetch(`${vault.address}${url}`, {
      method,
      headers,
      ...(payload === undefined ? {} : { body: payload }),
      dispatcher,
    })
    const text = await response.text()
    return { status: response.status, body: (text === '' ? {} : JSON.parse(text)) as Record<string, any> } // eslint-disable-line @typescript-eslint/no-explicit-any
  }

  before(async () => {
    vault = await startVaultListener(t(), rootKey)
    dispatcher = new Agent({ connect: { ca: readFileSync(vault.caFile, 'utf8') } })
    uninitialized = await call('GET', '/v1/sys/health')
    const provider = await bootstrapProvider(t())
    org = await createCustomerOrg(t(), provider, 'Vault Clients', 'owner@vault-clients.test')
    other = await createCustomerOrg(t(), provider, 'Vault Other', 'owner@vault-other.test')
    admin = await principalWithRole(t(), org, 'admin')
    auditor = (await principalWithRole(t(), org, 'auditor')).token
    viewer = (await principalWithRole(t(), org, 'viewer')).token
  })
  after(async () => {
    await dispatcher.close()
    await vault.close()
  })

  it('answers sys/health as Vault does: 501 before bootstrap, 200 active after, HEAD too, codes overridable', async () => {
    assert.equal(uninitialized.status, 501)
    assert.equal(uninitialized.body.initialized, false)
    const health = await call('GET', '/v1/sys/health')
    assert.equal(health.status, 200)
    assert.deepEqual(
      { ...health.body, server_time_utc: 0 },
      {
        initialized: true,
        sealed: false,
        standby: false,
        performance_standby: false,
        replication_performance_mode: 'disabled',
        replication_dr_mode: 'disabled',
        server_time_utc: 0,
        version: '0.1.0',
        cluster_name: 'custodian',
        cluster_id: '',
      },
    )
    assert.equal((await call('HEAD', '/v1/sys/health')).status, 200)
    assert.equal((await call('GET', '/v1/sys/health?activecode=204')).status, 204)
    const bad = await call('GET', '/v1/sys/health?activecode=abc')
    assert.equal(bad.status, 400)
    assert.ok(Array.isArray(bad.body.errors))
    const seal = await call('GET', '/v1/sys/seal-status')
    assert.equal(seal.status, 200)
    assert.equal(seal.body.sealed, false)
    assert.equal(seal.body.type, 'local')
    assert.equal(seal.body.storage_type, engine)
  })

  it('runs python3-hvac, unmodified: keys, encrypt/decrypt with associated_data, rotate, rewrap, batch, data keys, HMAC, Ed25519 and ECDSA P-256 sign/verify, min_decryption_version, export refused, sys, lookup-self, a wrong token refused', async () => {
    const { stdout } = await run(PYTHON, [HVAC_SCRIPT], {
      env: {
        PATH: process.env.PATH ?? '',
        VAULT_ADDR: vault.address,
        VAULT_TOKEN: admin.token,
        VAULT_CACERT: vault.caFile,
        WRONG_TOKEN: `cst_api_${'0'.repeat(32)}_${'A'.repeat(43)}`,
        KEY_NAME: 'hvac-records',
      },
      timeout: 120_000,
    })
    const out = JSON.parse(stdout.trim().split('\n').at(-1) as string) as {
      ciphertext: string
      associated_data: string
      message: string
      signed: Record<string, { public_key: string; signature: string }>
    }
    // hvac's signatures verify with node:crypto against the public keys hvac read; not another message.
    assert.deepEqual(Object.keys(out.signed).sort(), ['ecdsa-p256', 'ed25519'])
    for (const [type, { public_key, signature }] of Object.entries(out.signed)) {
      assert.ok(verifiedIndependently(type, public_key, Buffer.from(out.message, 'base64'), signature), type)
      assert.ok(!verifiedIndependently(type, public_key, Buffer.from('other'), signature), type)
    }
    // The same key through the native API: the Vault ciphertext is Custodian's, associated_data its context.
    const native = await t().request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/transit/keys/hvac-records/decrypt`,
      token: org.ownerToken,
      body: {
        ciphertext: `cst:v1:${Buffer.from(out.ciphertext.slice('vault:v1:'.length), 'base64').toString('base64url')}`,
        context: out.associated_data,
      },
    })
    assert.equal(native.status, 200, JSON.stringify(native.body))
    assert.equal(Buffer.from(native.body.plaintext as string, 'base64').toString(), 'card 4111 1111 1111 1111')
  })

  it('runs node-vault, unmodified: the same operations', async () => {
    const client = createVaultClient({
      endpoint: vault.address,
      token: admin.token,
      requestOptions: { ca: readFileSync(vault.caFile, 'utf8') },
    })
    const health = await client.health()
    assert.equal(health.initialized, true)
    assert.equal(health.sealed, false)
    assert.equal((await client.status()).sealed, false)
    assert.equal((await client.tokenLookupSelf()).data.entity_id, admin.serviceAccountId)

    await client.transitCreateKey({ name: 'node-records' })
    const key = (await client.transitReadKey({ name: 'node-records' })).data
    assert.equal(key.type, 'aes256-gcm96')
    assert.equal(key.latest_version, 1)
    assert.equal(key.derived, false)
    assert.equal(key.min_decryption_version, 1)
    assert.deepEqual(Object.keys(key.keys), ['1'])
    assert.ok(Math.abs(key.keys['1'] - Date.now() / 1000) < 300)

    const ad = b64('tenant=7')
    const sealed = (
      await client.encryptData({ name: 'node-records', plaintext: b64('node secret'), associated_data: ad })
    ).data
    assert.match(sealed.ciphertext, /^vault:v1:[A-Za-z0-9+/]+=*$/)
    assert.equal(sealed.key_version, 1)
    const opened = (
      await client.decryptData({ name: 'node-records', ciphertext: sealed.ciphertext, associated_data: ad })
    ).data
    assert.equal(Buffer.from(opened.plaintext, 'base64').toString(), 'node secret')
    await assert.rejects(
      client.decryptData({ name: 'node-records', ciphertext: sealed.ciphertext, associated_data: b64('tenant=8') }),
      (error: { response: { statusCode: number; body: { errors: string[] } } }) =>
        error.response.statusCode === 400 &&
        error.response.body.errors.length === 1 &&
        // In the Vault API's own terms: associated_data, not the native API's context.
        (error.response.body.errors[0] ?? '').includes('associated_data') &&
        !(error.response.body.errors[0] ?? '').includes('context'),
    )

    await client.write('transit/keys/node-records/rotate', {})
    assert.equal((await client.transitReadKey({ name: 'node-records' })).data.latest_version, 2)
    const rewrapped = (
      await client.rewrapData({ name: 'node-records', ciphertext: sealed.ciphertext, associated_data: ad })
    ).data
    assert.equal(rewrapped.key_version, 2)
    assert.match(rewrapped.ciphertext, /^vault:v2:/)
    assert.equal(
      Buffer.from(
        (await client.decryptData({ name: 'node-records', ciphertext: rewrapped.ciphertext, associated_data: ad })).data
          .plaintext,
        'base64',
      ).toString(),
      'node secret',
    )

    // Data keys, HMAC, sign and verify through node-vault's generic write (it has no named methods for them).
    const made = (await client.write('transit/datakey/plaintext/node-records', { bits: 128 })).data
    assert.equal(Buffer.from(made.plaintext, 'base64').length, 16)
    assert.equal(
      (await client.decryptData({ name: 'node-records', ciphertext: made.ciphertext })).data.plaintext,
      made.plaintext,
    )
    const wrapped = (await client.write('transit/datakey/wrapped/node-records', {})).data
    assert.deepEqual(Object.keys(wrapped).sort(), ['ciphertext', 'key_version'])
    const mac = (await client.write('transit/hmac/node-records/sha2-512', { input: b64('node payload') })).data.hmac
    assert.match(mac, /^vault:v2:/)
    const macVerdict = (input: string) =>
      client.write('transit/verify/node-records/sha2-512', { input: b64(input), hmac: mac })
    assert.equal((await macVerdict('node payload')).data.valid, true)
    assert.equal((await macVerdict('node forged')).data.valid, false)
    for (const type of ['ed25519', 'ecdsa-p256']) {
      const signer = `node-${type}`
      await client.transitCreateKey({ name: signer, type })
      const info = (await client.transitReadKey({ name: signer })).data
      assert.equal(info.type, type)
      const message = Buffer.from(`node release ${type}`)
      const signed = (await client.write(`transit/sign/${signer}`, { input: message.toString('base64') })).data
      assert.equal(signed.key_version, 1)
      assert.ok(verifiedIndependently(type, info.keys['1'].public_key, message, signed.signature), type)
      const checked = await client.write(`transit/verify/${signer}`, {
        batch_input: [
          { input: message.toString('base64'), signature: signed.signature },
          { input: b64('tampered'), signature: signed.signature },
        ],
      })
      assert.deepEqual(
        checked.data.batch_results.map((r: { valid: boolean }) => r.valid),
        [true, false],
      )
    }
    // min_decryption_version: the v1 ciphertext is refused in Vault's words; export refused.
    await client.write('transit/keys/node-records/config', { min_decryption_version: 2 })
    await assert.rejects(
      client.decryptData({ name: 'node-records', ciphertext: sealed.ciphertext, associated_data: ad }),
      (error: { response: { statusCode: number; body: { errors: string[] } } }) =>
        error.response.statusCode === 400 &&
        error.response.body.errors[0] === 'ciphertext or signature version is disallowed by policy (too old)',
    )
    await assert.rejects(
      client.read('transit/export/encryption-key/node-records'),
      (error: { response: { statusCode: number; body: { errors: string[] } } }) =>
        error.response.statusCode === 400 && error.response.body.errors[0] === 'private key material is not exportable',
    )

    const stranger = createVaultClient({
      endpoint: vault.address,
      token: 'cst_api_not-a-token',
      requestOptions: { ca: readFileSync(vault.caFile, 'utf8') },
    })
    await assert.rejects(
      stranger.tokenLookupSelf(),
      (error: { response: { statusCode: number; body: { errors: string[] } } }) =>
        error.response.statusCode === 403 && error.response.body.errors[0] === 'permission denied',
    )
  })

  describe('access control, the same as the native API', () => {
    const ROUTES: { method: string; url: string; body?: unknown; permission: string }[] = [
      { method: 'GET', url: '/v1/auth/token/lookup-self', permission: '(any token)' },
      { method: 'POST', url: '/v1/transit/keys/acl-key', body: {}, permission: 'transit:manage' },
      { method: 'GET', url: '/v1/transit/keys/acl-key', permission: 'keys:read' },
      { method: 'POST', url: '/v1/transit/keys/acl-key/rotate', body: {}, permission: 'transit:manage' },
      {
        method: 'POST',
        url: '/v1/transit/encrypt/acl-key',
        body: { plaintext: b64('x') },
        permission: 'transit:encrypt',
      },
      {
        method: 'POST',
        url: '/v1/transit/decrypt/acl-key',
        body: { ciphertext: 'vault:v1:AAAA' },
        permission: 'transit:decrypt',
      },
      {
        method: 'POST',
        url: '/v1/transit/rewrap/acl-key',
        body: { ciphertext: 'vault:v1:AAAA' },
        permission: 'transit:encrypt',
      },
      {
        method: 'POST',
        url: '/v1/transit/keys/acl-key/config',
        body: { min_decryption_version: 1 },
        permission: 'transit:manage',
      },
      { method: 'POST', url: '/v1/transit/datakey/plaintext/acl-key', body: {}, permission: 'transit:encrypt' },
      { method: 'POST', url: '/v1/transit/hmac/acl-key', body: { input: b64('x') }, permission: 'transit:sign' },
      { method: 'POST', url: '/v1/transit/sign/acl-key', body: { input: b64('x') }, permission: 'transit:sign' },
      {
        method: 'POST',
        url: '/v1/transit/verify/acl-key',
        body: { input: b64('x'), hmac: 'vault:v1:AAAA' },
        permission: 'transit:verify',
      },
      { method: 'GET', url: '/v1/transit/export/encryption-key/acl-key', permission: 'keys:read' },
    ]

    it('refuses every route without a token, with a wrong one, and to a role without the permission: 403 in Vault’s shape, audited', async () => {
      const deniedBefore = (await auditActions(t(), org.orgId)).filter((e) => e.action === 'access.denied').length
      for (const route of ROUTES) {
        for (const token of [undefined, 'cst_api_wrong', `cst_api_${'0'.repeat(32)}_${'A'.repeat(43)}`]) {
          const refused = await call(route.method, route.url, { token, body: route.body })
          assert.equal(refused.status, 403, `${route.method} ${route.url} ${String(token)}`)
          assert.equal(refused.body.errors[0], 'permission denied')
          assert.deepEqual(Object.keys(refused.body), ['errors'])
        }
        if (route.permission === '(any token)') continue
        // The auditor holds keys:read: the one route it may call.
        for (const token of route.permission === 'keys:read' ? [viewer] : [viewer, auditor]) {
          const refused = await call(route.method, route.url, { token, body: route.body })
          assert.equal(refused.status, 403, `${route.method} ${route.url}`)
          assert.deepEqual(refused.body.errors, ['permission denied', `this needs the ${route.permission} permission`])
        }
      }
      // Only X-Vault-Token: a valid token as Authorization: Bearer is no credential here.
      const bearer = await call('GET', '/v1/auth/token/lookup-self', {
        headers: { authorization: `Bearer ${admin.token}` },
      })
      assert.equal(bearer.status, 403)
      const denied = (await auditActions(t(), org.orgId)).filter((e) => e.action === 'access.denied')
      // Each refused role once: the viewer for every route, the auditor for all but keys:read's.
      const forbidden = ROUTES.reduce(
        (sum, r) => sum + (r.permission === '(any token)' ? 0 : r.permission === 'keys:read' ? 1 : 2),
        0,
      )
      assert.equal(denied.length - deniedBefore, forbidden, 'each refused role is in the org’s log')
      assert.ok(denied.slice(-1)[0]?.details.permission !== undefined)
    })

    it('acts in the token’s org; X-Vault-Namespace naming it works, naming another org is refused', async () => {
      const own = await call('POST', '/v1/transit/keys/ns-key', {
        token: admin.token,
        body: {},
        headers: { 'x-vault-namespace': `${org.orgId}/` },
      })
      assert.equal(own.status, 200, JSON.stringify(own.body))
      const elsewhere = await call('GET', '/v1/transit/keys/ns-key', {
        token: admin.token,
        headers: { 'x-vault-namespace': other.orgId },
      })
      assert.equal(elsewhere.status, 403)
      assert.equal(elsewhere.body.errors[0], 'permission denied')
      // The other org has no such key: keys are the org's own.
      const otherAdmin = await principalWithRole(t(), other, 'admin')
      assert.equal((await call('GET', '/v1/transit/keys/ns-key', { token: otherAdmin.token })).status, 404)
    })
  })

  it('answers malformed requests 400 in Vault’s shape, before anything runs', async () => {
    await call('POST', '/v1/transit/keys/bad-input', { token: admin.token, body: {} })
    const cases: [string, string, { body?: unknown; payload?: string }][] = [
      ['POST', '/v1/transit/encrypt/bad-input', { payload: '{"plaintext":' }],
      ['POST', '/v1/transit/encrypt/bad-input', { body: { plaintext: 'not base64!' } }],
      ['POST', '/v1/transit/encrypt/bad-input', { body: { plaintext: 42 } }],
      ['POST', '/v1/transit/encrypt/bad-input', { body: {} }],
      ['POST', '/v1/transit/encrypt/bad-input', { body: { plaintext: b64('x'), associated_data: '***' } }],
      ['POST', '/v1/transit/encrypt/bad-input', { body: { batch_input: 'x' } }],
      ['POST', '/v1/transit/encrypt/bad-input', { body: { plaintext: b64('x'), context: b64('c') } }],
      ['POST', '/v1/transit/encrypt/bad-input', { body: { plaintext: b64('x'), key_version: 7 } }],
      ['POST', '/v1/transit/decrypt/bad-input', { body: { ciphertext: 'cst:v1:AAAA' } }],
      ['POST', '/v1/transit/decrypt/bad-input', { body: { ciphertext: 'vault:v1:%%%' } }],
      ['POST', '/v1/transit/decrypt/bad-input', { body: {} }],
      ['POST', '/v1/transit/rewrap/bad-input', { body: { ciphertext: 'vault:v0:AAAA' } }],
      ['POST', '/v1/transit/keys/other-type', { body: { type: 'rsa-2048' } }],
      ['POST', '/v1/transit/keys/derived-key', { body: { derived: true } }],
      ['POST', '/v1/transit/keys/Not_A_Name', { body: {} }],
      ['POST', '/v1/transit/encrypt/no-such-key', { body: { plaintext: b64('x') } }],
      ['POST', '/v1/transit/datakey/plaintext/bad-input', { body: { bits: 100 } }],
      ['POST', '/v1/transit/datakey/other/bad-input', { body: {} }],
      ['POST', '/v1/transit/datakey/wrapped/bad-input', { body: { nonce: b64('n') } }],
      ['POST', '/v1/transit/hmac/bad-input', { body: { input: b64('x'), algorithm: 'md5' } }],
      ['POST', '/v1/transit/hmac/bad-input/sha1', { body: { input: b64('x') } }],
      ['POST', '/v1/transit/hmac/bad-input', { body: {} }],
      ['POST', '/v1/transit/hmac/bad-input', { body: { input: b64('x'), key_version: 9 } }],
      ['POST', '/v1/transit/sign/bad-input', { body: { input: b64('x') } }],
      ['POST', '/v1/transit/sign/bad-input', { body: { input: b64('x'), prehashed: true } }],
      ['POST', '/v1/transit/sign/bad-input', { body: { input: b64('x'), marshaling_algorithm: 'pem' } }],
      ['POST', '/v1/transit/verify/bad-input', { body: { input: b64('x'), hmac: 'vault:v1:%%%' } }],
      ['POST', '/v1/transit/verify/bad-input', { body: { input: b64('x') } }],
      [
        'POST',
        '/v1/transit/verify/bad-input',
        { body: { input: b64('x'), hmac: 'vault:v1:AAAA', signature: 'vault:v1:AAAA' } },
      ],
      ['POST', '/v1/transit/keys/bad-input/config', { body: { exportable: true } }],
      ['POST', '/v1/transit/keys/bad-input/config', { body: { deletion_allowed: true } }],
      ['POST', '/v1/transit/keys/bad-input/config', { body: { min_decryption_version: 5 } }],
      ['POST', '/v1/transit/keys/bad-input/config', { body: { min_encryption_version: 'two' } }],
      ['GET', '/v1/transit/export/encryption-key/bad-input', {}],
      ['GET', '/v1/transit/export/hmac-key/bad-input/latest', {}],
      ['GET', '/v1/transit/export/public-key/bad-input', {}],
      ['GET', '/v1/transit/export/everything/bad-input', {}],
    ]
    for (const [method, url, options] of cases) {
      const refused = await call(method, url, { token: admin.token, ...options })
      assert.equal(refused.status, 400, `${url} ${JSON.stringify(options)}: ${JSON.stringify(refused.body)}`)
      assert.deepEqual(Object.keys(refused.body), ['errors'])
      assert.equal(typeof refused.body.errors[0], 'string')
    }
    assert.equal((await call('GET', '/v1/transit/keys/no-such-key', { token: admin.token })).status, 404)
    // Oversized: over CUSTODIAN_BODY_LIMIT (64 KiB), refused before it is read whole, nothing created.
    const before = await fingerprint(t())
    const oversized = await call('POST', '/v1/transit/keys/too-big', {
      token: admin.token,
      payload: JSON.stringify({ exportable: false, name: 'x'.repeat(70_000) }),
    })
    assert.equal(oversized.status, 413, JSON.stringify(oversized.body))
    assert.deepEqual(Object.keys(oversized.body), ['errors'])
    assert.equal(await fingerprint(t()), before)
    const unknown = await call('GET', '/v1/kv/data/x', { token: admin.token })
    assert.equal(unknown.status, 404)
    assert.ok(Array.isArray(unknown.body.errors))
    // A batch with one bad item: 400, and the good item's result with it, in order.
    const mixed = await call('POST', '/v1/transit/encrypt/bad-input', {
      token: admin.token,
      body: {
        batch_input: [
          { plaintext: b64('ok'), reference: 'a' },
          { plaintext: '!', reference: 'b' },
        ],
      },
    })
    assert.equal(mixed.status, 400)
    assert.match(mixed.body.data.batch_results[0].ciphertext, /^vault:v1:/)
    assert.equal(mixed.body.data.batch_results[0].reference, 'a')
    assert.equal(typeof mixed.body.data.batch_results[1].error, 'string')
  })

  it('records every operation in the org’s audit log, by the token’s principal, like the native API', async () => {
    await call('POST', '/v1/transit/keys/audited', { token: admin.token, body: {} })
    const sealed = await call('POST', '/v1/transit/encrypt/audited', {
      token: admin.token,
      body: { plaintext: b64('audited data'), associated_data: b64('ad') },
    })
    await call('POST', '/v1/transit/decrypt/audited', {
      token: admin.token,
      body: { ciphertext: sealed.body.data.ciphertext, associated_data: b64('ad') },
    })
    await call('POST', '/v1/transit/keys/audited/rotate', { token: admin.token })
    await call('POST', '/v1/transit/rewrap/audited', {
      token: admin.token,
      body: { ciphertext: sealed.body.data.ciphertext, associated_data: b64('ad') },
    })
    const mac = await call('POST', '/v1/transit/hmac/audited', { token: admin.token, body: { input: b64('mac me') } })
    await call('POST', '/v1/transit/verify/audited', {
      token: admin.token,
      body: { input: b64('mac me'), hmac: mac.body.data.hmac },
    })
    const made = await call('POST', '/v1/transit/datakey/plaintext/audited', { token: admin.token, body: {} })
    await call('POST', '/v1/transit/keys/audited-signer', { token: admin.token, body: { type: 'ed25519' } })
    const signed = await call('POST', '/v1/transit/sign/audited-signer', {
      token: admin.token,
      body: { input: b64('sign me') },
    })
    await call('POST', '/v1/transit/keys/audited/config', {
      token: admin.token,
      body: { min_decryption_version: 2 },
    })
    const events = (await auditActions(t(), org.orgId)).filter(
      (e) => e.action.startsWith('transit.') && e.actor_id === admin.serviceAccountId,
    )
    for (const action of [
      'transit.key.create',
      'transit.encrypt',
      'transit.decrypt',
      'transit.key.rotate',
      'transit.rewrap',
      'transit.hmac',
      'transit.verify',
      'transit.datakey',
      'transit.sign',
      'transit.key.configure',
    ])
      assert.ok(
        events.some((e) => e.action === action),
        `${action} recorded`,
      )
    const log = JSON.stringify(await auditActions(t(), org.orgId))
    assert.ok(!log.includes(b64('audited data')) && !log.includes(admin.token), 'no data or token in the log')
    for (const secret of [
      mac.body.data.hmac.split(':')[2],
      signed.body.data.signature.split(':')[2],
      made.body.data.plaintext,
      b64('mac me'),
    ])
      assert.ok(!log.includes(secret), 'no HMAC, signature, data key or input in the log')
  })
})
