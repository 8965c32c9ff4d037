import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import { after, before, it } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { sql } from 'kysely'
import { loadConfig } from '../../src/config.ts'
import { createLocalProvider } from '../../src/crypto/providers/local.ts'
import { buildVaultListener } from '../../src/http/vault-listener.ts'
import { createLogger } from '../../src/logger.ts'
import { bootstrapProvider, createCustomerOrg, fingerprint, PASSWORD, useTestApp, type Org } from '../helpers/app.ts'
import { forEachEngine } from '../helpers/db.ts'

/*
 * Attacks on secrets by path, path-scoped bindings and the Vault-compatible listener
 * (docs/secret-paths.md, docs/vault-compat.md): each case is what an attacker sends and what
 * must come back — the same answer as an absent secret, a refusal in the right shape, and
 * nothing changed.
 */
type Body = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

forEachEngine('attack: secrets by path and the Vault-compatible listener', (engine) => {
  // The local provider with a switch to report it sealed (as a Shamir vault or an unreachable KMS does).
  let sealed = false
  const local = createLocalProvider(randomBytes(32))
  const t = useTestApp(engine, { CUSTODIAN_AUTH_RATE_LIMIT: '1000' }, undefined, async () => ({
    ...local,
    sealed: () => sealed,
  }))
  let listener: FastifyInstance
  let provider: Org
  let org: Org
  /** A service account limited to `payments/*`, with the admin role. */
  let scoped: string
  const ids: Record<string, string> = {}

  const native = (method: string, url: string, token: string, body?: unknown) =>
    t().request({ method, url: `/v1/orgs/${org.orgId}${url}`, token, ...(body === undefined ? {} : { body }) })
  const vault = async (
    method: string,
    url: string,
    token: string | undefined,
    options: { body?: unknown; payload?: string } = {},
  ) => {
    const headers: Record<string, string> = {}
    if (token !== undefined) headers['x-vault-token'] = token
    const payload = options.payload ?? (options.body === undefined ? undefined : JSON.stringify(options.body))
    if (payload !== undefined) headers['content-type'] = 'application/json'
    const response = await listener.inject({
      method: method as 'GET',
      url,
      headers,
      ...(payload === undefined ? {} : { payload }),
    })
    return {
      status: response.statusCode,
      text: response.body,
      body: (response.body === '' ? {} : JSON.parse(response.body)) as Body,
    }
  }

  before(async () => {
    provider = await bootstrapProvider(t())
    org = await createCustomerOrg(t(), provider, 'Attack Paths', 'owner@attack-paths.test')
    for (const name of ['payments/stripe', 'admin/root']) {
      const created = await native('POST', '/secrets', org.ownerToken, { name, type: 'api_key', value: `v-${name}` })
      assert.equal(created.status, 201, created.text)
      ids[name] = created.body.id as string
    }
    const account = await native('POST', '/service-accounts', org.ownerToken, {
      name: 'payments-bot',
      role: 'admin',
      secretPaths: ['payments/*'],
    })
    assert.equal(account.status, 201, account.text)
    const token = await native('POST', '/tokens', org.ownerToken, {
      name: 'payments-bot',
      expiresInDays: 1,
      serviceAccountId: account.body.id,
    })
    assert.equal(token.status, 201, token.text)
    scoped = token.body.token as string
    const config = loadConfig({ CUSTODIAN_LOG_LEVEL: 'silent' })
    listener = await buildVaultListener({
      config,
      logger: createLogger(config),
      modules: t().app.modules,
      rootKey: { sealed: () => sealed },
      engine,
    })
  })
  after(async () => listener.close())

  it('a version number beyond a 32-bit integer is refused (400), not a server error', async () => {
    const written = await vault('POST', '/v1/secret/data/payments/kv-huge', scoped, { body: { data: { a: '1' } } })
    assert.equal(written.status, 200, written.text)
    for (const version of ['2147483648', '99999999999']) {
      const read = await vault('GET', `/v1/secret/data/payments/kv-huge?version=${version}`, scoped)
      assert.equal(read.status, 400, read.text)
      assert.ok(Array.isArray(read.body.errors), 'Vault’s error shape')
    }
    const reveal = await native('POST', `/secrets/${ids['payments/stripe']}/reveal`, org.ownerToken, {
      reason: 'attack: huge version',
      version: 2147483648,
    })
    assert.equal(reveal.status, 400, reveal.text)
    const byPath = await native('POST', '/secrets/by-path/reveal?path=payments/stripe', org.ownerToken, {
      reason: 'attack: huge version',
      version: 99999999999,
    })
    assert.equal(byPath.status, 400, byPath.text)
    const destroy = await native('DELETE', `/secrets/${ids['payments/stripe']}/versions/2147483648`, org.ownerToken)
    assert.equal(destroy.status, 400, destroy.text)
  })

  it('a KV path with `.` or `..` segments is refused (Vault: no parent references), and nothing is made', async () => {
    const before = await fingerprint(t())
    // Encoded slashes keep the dots from URL normalisation: the service sees `payments/../admin/x`.
    for (const path of ['payments%2F..%2Fadmin%2Fx', 'payments/..%2Fadmin%2Fx', 'payments%2F.%2Fx']) {
      const written = await vault('POST', `/v1/secret/data/${path}`, scoped, { body: { data: { a: '1' } } })
      assert.equal(written.status, 400, `${path}: ${written.text}`)
      assert.match(String(written.body.errors[0]), /^path cannot contain parent references/)
    }
    // Normalised before routing: `admin/root`, outside the scope.
    const normalised = await vault('POST', '/v1/secret/data/payments/../admin/root', scoped, { body: { data: {} } })
    assert.equal(normalised.status, 403, normalised.text)
    const created = await native('POST', '/secrets', scoped, {
      name: 'payments/../admin/x',
      type: 'generic',
      value: 'v',
    })
    assert.equal(created.status, 400, created.text)
    assert.equal(await fingerprint(t()), before)
  })

  it('KV never reads, lists or describes a secret that is not a KV one, in scope or not', async () => {
    for (const path of ['payments/stripe', 'admin/root']) {
      const read = await vault('GET', `/v1/secret/data/${path}`, scoped)
      assert.equal(read.status, 404, read.text)
      assert.deepEqual(read.body, { errors: [] })
      const meta = await vault('GET', `/v1/secret/metadata/${path}`, scoped)
      assert.equal(meta.status, 404, meta.text)
      assert.ok(!read.text.includes('v-') && !meta.text.includes('v-'))
    }
    // Out of scope answers exactly as absent, whatever the caller's owner could see.
    const absent = await vault('GET', '/v1/secret/metadata/admin/nothing-here', scoped)
    const hidden = await vault('GET', '/v1/secret/metadata/admin/root', scoped)
    assert.deepEqual([hidden.status, hidden.body], [absent.status, absent.body])
    const list = await vault('GET', '/v1/secret/metadata/?list=true', scoped)
    assert.ok(!list.text.includes('admin'), list.text)
  })

  it('a soft-deleted KV version is refused by the native reveal, by id and by path', async () => {
    const path = 'payments/kv-deleted'
    assert.equal((await vault('POST', `/v1/secret/data/${path}`, scoped, { body: { data: { k: 'one' } } })).status, 200)
    assert.equal((await vault('POST', `/v1/secret/data/${path}`, scoped, { body: { data: { k: 'two' } } })).status, 200)
    assert.equal((await vault('POST', `/v1/secret/delete/${path}`, scoped, { body: { versions: [1, 2] } })).status, 204)
    const id = (await native('GET', `/secrets/by-path?path=${path}`, org.ownerToken)).body.id as string
    for (const body of [{ reason: 'attack: deleted', version: 1 }, { reason: 'attack: deleted current' }]) {
      const byId = await native('POST', `/secrets/${id}/reveal`, org.ownerToken, body)
      assert.equal(byId.status, 410, byId.text)
      assert.ok(!byId.text.includes('one') && !byId.text.includes('two'))
      const byPath = await native('POST', `/secrets/by-path/reveal?path=${path}`, org.ownerToken, body)
      assert.equal(byPath.status, 410, byPath.text)
    }
    const read = await vault('GET', `/v1/secret/data/${path}?version=1`, scoped)
    assert.equal(read.status, 404)
    assert.equal(read.body.data?.data ?? null, null)
  })

  it('narrowing a service account’s paths takes effect on its token’s very next KV request', async () => {
    const account = await native('POST', '/service-accounts', org.ownerToken, {
      name: 'narrowed-bot',
      role: 'admin',
      secretPaths: ['payments/*'],
    })
    const token = (
      await native('POST', '/tokens', org.ownerToken, {
        name: 'n',
        expiresInDays: 1,
        serviceAccountId: account.body.id,
      })
    ).body.token as string
    assert.equal(
      (await vault('POST', '/v1/secret/data/payments/narrow', token, { body: { data: { a: 'b' } } })).status,
      200,
    )
    const patched = await native('PATCH', `/service-accounts/${account.body.id}`, org.ownerToken, {
      role: 'admin',
      secretPaths: ['payments/other/*'],
    })
    assert.equal(patched.status, 200, patched.text)
    assert.equal((await vault('GET', '/v1/secret/data/payments/narrow', token)).status, 404)
    assert.equal((await vault('GET', '/v1/secret/metadata/payments/?list=true', token)).status, 404)
    const write = await vault('POST', '/v1/secret/data/payments/narrow', token, { body: { data: { a: 'c' } } })
    assert.equal(write.status, 403, write.text)
  })

  it('no token, a wrong token, a session or a Bearer token, another org’s namespace: refused in Vault’s shape', async () => {
    const login = await t().request({
      method: 'POST',
      url: '/v1/login',
      body: { email: 'owner@attack-paths.test', password: 'correct horse battery staple' },
    })
    const cookie = login.headers['set-cookie']
    const routes: [string, string, unknown?][] = [
      ['GET', '/v1/secret/data/payments/stripe'],
      ['POST', '/v1/secret/data/payments/x', { data: { a: 'b' } }],
      ['GET', '/v1/secret/metadata/?list=true'],
      ['POST', '/v1/secret/destroy/payments/stripe', { versions: [1] }],
      ['DELETE', '/v1/secret/metadata/payments/stripe'],
      ['POST', '/v1/transit/keys/k'],
      ['POST', '/v1/transit/encrypt/k', { plaintext: 'aGk=' }],
      ['GET', '/v1/auth/token/lookup-self'],
    ]
    const before = await fingerprint(t())
    for (const [method, url, body] of routes) {
      for (const headers of [
        {},
        { 'x-vault-token': 'cst_api_00000000000000000000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
        { authorization: `Bearer ${org.ownerToken}` },
        ...(typeof cookie === 'string' ? [{ cookie }] : Array.isArray(cookie) ? [{ cookie: cookie.join('; ') }] : []),
        { 'x-vault-token': scoped, 'x-vault-namespace': '00000000-0000-4000-8000-000000000000' },
      ]) {
        const response = await listener.inject({
          method: method as 'GET',
          url,
          headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
        })
        assert.equal(response.statusCode, 403, `${method} ${url} ${Object.keys(headers).join()}: ${response.body}`)
        assert.equal((JSON.parse(response.body) as Body).errors[0], 'permission denied')
      }
    }
    assert.equal(await fingerprint(t()), before)
  })

  it('an oversized KV write is 413 in Vault’s shape, and nothing changes', async () => {
    const before = await fingerprint(t())
    const big = 'x'.repeat(3 * 1024 * 1024)
    const response = await vault('POST', '/v1/secret/data/payments/big', scoped, {
      payload: JSON.stringify({ data: { big } }),
    })
    assert.equal(response.status, 413, response.text.slice(0, 200))
    assert.ok(Array.isArray(response.body.errors), response.text.slice(0, 200))
    assert.equal(await fingerprint(t()), before)
  })

  it('fails closed: with the audit log unavailable, a KV read returns no value and a write changes nothing', async () => {
    assert.equal(
      (await vault('POST', '/v1/secret/data/payments/audited', scoped, { body: { data: { pin: 'p-1234' } } })).status,
      200,
    )
    const k = t().db.kysely
    const before = await fingerprint(t())
    await sql`REVOKE INSERT ON audit_events FROM custodian_app`.execute(k)
    try {
      const read = await vault('GET', '/v1/secret/data/payments/audited', scoped)
      assert.equal(read.status, 503, read.text)
      assert.ok(!read.text.includes('p-1234'))
      const write = await vault('POST', '/v1/secret/data/payments/audited', scoped, { body: { data: { pin: 'x' } } })
      assert.equal(write.status, 503, write.text)
      const del = await vault('POST', '/v1/secret/delete/payments/audited', scoped, { body: { versions: [1] } })
      assert.equal(del.status, 503, del.text)
      const meta = await vault('POST', '/v1/secret/metadata/payments/audited', scoped, { body: { cas_required: true } })
      assert.equal(meta.status, 503, meta.text)
      const enc = await vault('POST', '/v1/transit/keys/audit-key', scoped)
      assert.equal(enc.status, 503, enc.text)
    } finally {
      await sql`GRANT INSERT ON audit_events TO custodian_app`.execute(k)
    }
    assert.equal(await fingerprint(t()), before)
  })

  it('Transit: a minimum decryption version holds through decrypt, rewrap and batches; signing needs a signing key', async () => {
    const owner = (await native('POST', '/tokens', org.ownerToken, { name: 'owner-t', expiresInDays: 1 })).body
      .token as string
    assert.equal((await vault('POST', '/v1/transit/keys/mdv', owner)).status, 200)
    const v1 = (await vault('POST', '/v1/transit/encrypt/mdv', owner, { body: { plaintext: 'c2VjcmV0' } })).body.data
      .ciphertext as string
    const hmacV1 = (await vault('POST', '/v1/transit/hmac/mdv', owner, { body: { input: 'c2VjcmV0' } })).body.data
      .hmac as string
    assert.match(hmacV1, /^vault:v1:/)
    assert.equal((await vault('POST', '/v1/transit/keys/mdv/rotate', owner)).status, 200)
    const cfg = await vault('POST', '/v1/transit/keys/mdv/config', owner, { body: { min_decryption_version: 2 } })
    assert.ok(cfg.status < 300, cfg.text)
    const probes: [string, unknown][] = [
      ['/v1/transit/decrypt/mdv', { ciphertext: v1 }],
      ['/v1/transit/rewrap/mdv', { ciphertext: v1 }],
      ['/v1/transit/rewrap/mdv', { ciphertext: v1, key_version: 2 }],
      ['/v1/transit/decrypt/mdv', { batch_input: [{ ciphertext: v1 }] }],
      ['/v1/transit/rewrap/mdv', { batch_input: [{ ciphertext: v1, key_version: 2 }] }],
      ['/v1/transit/encrypt/mdv', { plaintext: 'c2VjcmV0', key_version: 1 }],
      ['/v1/transit/hmac/mdv', { input: 'c2VjcmV0', key_version: 1 }],
    ]
    for (const [url, body] of probes) {
      const response = await vault('POST', url, owner, { body })
      assert.equal(response.status, 400, `${url} ${JSON.stringify(body)}: ${response.text}`)
      assert.ok(!response.text.includes('c2VjcmV0'), response.text)
    }
    for (const body of [{ input: 'c2VjcmV0', hmac: hmacV1 }, { batch_input: [{ input: 'c2VjcmV0', hmac: hmacV1 }] }]) {
      const verified = await vault('POST', '/v1/transit/verify/mdv', owner, { body })
      assert.ok(verified.status === 400 || verified.body.data?.valid === false, verified.text)
      assert.ok(!verified.text.includes('"valid":true'), verified.text)
    }
    const sign = await vault('POST', '/v1/transit/sign/mdv', owner, { body: { input: 'c2VjcmV0' } })
    assert.equal(sign.status, 400, sign.text)
    for (const url of [
      '/v1/transit/export/encryption-key/mdv',
      '/v1/transit/export/hmac-key/mdv/1',
      '/v1/transit/backup/mdv',
    ]) {
      const response = await vault('GET', url, owner)
      assert.ok(response.status === 400 || response.status === 404, `${url}: ${response.text}`)
      assert.ok(!/"keys"\s*:\s*\{/.test(response.text), response.text)
    }
    const rows = await t()
      .db.kysely.selectFrom('audit_events')
      .select(['action', 'details'])
      .where('org_id', '=', org.orgId)
      .where('action', 'like', 'transit.%')
      .execute()
    const all = JSON.stringify(rows)
    assert.ok(!all.includes('c2VjcmV0') && !all.includes('vault:v'), all)
  })

  it('fails closed while sealed: no KV value read, no KV version written, no Transit use', async () => {
    const path = 'payments/sealed'
    assert.equal(
      (await vault('POST', `/v1/secret/data/${path}`, scoped, { body: { data: { pin: 's-777' } } })).status,
      200,
    )
    // A first read warms whatever is cached.
    assert.equal((await vault('GET', `/v1/secret/data/${path}`, scoped)).status, 200)
    const before = await fingerprint(t())
    sealed = true
    try {
      const read = await vault('GET', `/v1/secret/data/${path}`, scoped)
      assert.equal(read.status, 503, read.text)
      assert.ok(!read.text.includes('s-777'))
      const write = await vault('POST', `/v1/secret/data/${path}`, scoped, { body: { data: { pin: 'x' } } })
      assert.equal(write.status, 503, write.text)
      const create = await vault('POST', '/v1/secret/data/payments/sealed-new', scoped, { body: { data: { a: 'b' } } })
      assert.equal(create.status, 503, create.text)
      const reveal = await native('POST', `/secrets/by-path/reveal?path=${path}`, org.ownerToken, { reason: 'sealed?' })
      assert.equal(reveal.status, 503, reveal.text)
    } finally {
      sealed = false
    }
    assert.equal(await fingerprint(t()), before)
  })

  it('check-and-set: of two concurrent writes with the same cas, exactly one is stored', async () => {
    const path = 'payments/cas-race'
    assert.equal((await vault('POST', `/v1/secret/data/${path}`, scoped, { body: { data: { n: '1' } } })).status, 200)
    const results = await Promise.all(
      ['a', 'b', 'c'].map((n) =>
        vault('POST', `/v1/secret/data/${path}`, scoped, { body: { data: { n }, options: { cas: 1 } } }),
      ),
    )
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 400, 400], results.map((r) => r.text).join('\n'))
    const meta = await vault('GET', `/v1/secret/metadata/${path}`, scoped)
    assert.equal(meta.body.data.current_version, 2)
    // Creating: cas 0 means "only if absent", raced too.
    const created = await Promise.all(
      ['a', 'b'].map((n) =>
        vault('POST', '/v1/secret/data/payments/cas-new', scoped, { body: { data: { n }, options: { cas: 0 } } }),
      ),
    )
    assert.deepEqual(created.map((r) => r.status).sort(), [200, 400], created.map((r) => r.text).join('\n'))
    const refused = created.find((r) => r.status === 400)
    assert.deepEqual(refused?.body.errors, ['check-and-set parameter did not match the current version'])
    // Without cas, concurrent first writes are all stored, one after the other, as Vault does.
    const unguarded = await Promise.all(
      ['a', 'b', 'c'].map((n) => vault('POST', '/v1/secret/data/payments/cas-free', scoped, { body: { data: { n } } })),
    )
    assert.deepEqual(
      unguarded.map((r) => r.status),
      [200, 200, 200],
      unguarded.map((r) => r.text).join('\n'),
    )
    assert.deepEqual(unguarded.map((r) => r.body.data.version).sort(), [1, 2, 3])
  })

  it('a path-scoped approver cannot open a diagnostic grant beyond its own paths (nothing derived exceeds its maker)', async () => {
    const invited = await native('POST', '/invitations', org.ownerToken, {
      email: 'approver@attack-paths.test',
      role: 'admin',
      secretPaths: ['payments/*'],
    })
    assert.equal(invited.status, 201, invited.text)
    const accepted = await t().request({
      method: 'POST',
      url: '/v1/invitations/accept',
      body: { token: invited.body.token, password: PASSWORD },
    })
    assert.equal(accepted.status, 201, accepted.text)
    const approver = accepted.body.apiToken as string
    const ask = async (permissions: string[], secretIds?: string[]) => {
      const asked = await t().request({
        method: 'POST',
        url: '/v1/operator/grants',
        token: provider.ownerToken,
        body: { orgId: org.orgId, reason: 'ticket 9: look at a key', permissions, ...(secretIds ? { secretIds } : {}) },
      })
      assert.equal(asked.status, 201, asked.text)
      return asked.body.id as string
    }
    const beyond = [
      await ask(['vault:reveal'], [ids['admin/root'] as string]),
      await ask(['vault:reveal'], [ids['payments/stripe'] as string, ids['admin/root'] as string]),
      // Under a grant, listing and metadata reach every path: more than `payments/*`.
      await ask(['secrets:read']),
      await ask(['secrets:check']),
    ]
    for (const grantId of beyond) {
      const before = await fingerprint(t())
      const approved = await native('POST', `/grants/${grantId}/approve`, approver, {})
      assert.equal(approved.status, 403, approved.text)
      assert.equal(approved.body.code, 'EXCEEDS_OWN_PERMISSIONS')
      assert.ok(!approved.text.includes('admin/root'), 'the refusal names no secret beyond the approver’s scope')
      assert.equal(await fingerprint(t()), before)
    }
    // Within: revealing one named secret in its scope, and permissions that are not about secrets.
    for (const grantId of [
      await ask(['vault:reveal'], [ids['payments/stripe'] as string]),
      await ask(['audit:read']),
    ]) {
      const approved = await native('POST', `/grants/${grantId}/approve`, approver, {})
      assert.equal(approved.status, 200, approved.text)
    }
    // The owner, unrestricted, approves what the scoped admin could not.
    assert.equal((await native('POST', `/grants/${beyond[0]}/approve`, org.ownerToken, {})).status, 200)
  })

  it('neither the request log nor the audit log holds a Vault token, a KV value or Transit plaintext', async () => {
    const lines: string[] = []
    const config = loadConfig({ CUSTODIAN_LOG_LEVEL: 'trace' })
    const logged = await buildVaultListener({
      config,
      logger: createLogger(
        config,
        new Writable({
          write(chunk, _encoding, done) {
            lines.push(String(chunk))
            done()
          },
        }),
      ),
      modules: t().app.modules,
      rootKey: { sealed: () => false },
      engine,
    })
    try {
      const send = (method: string, url: string, payload?: string) =>
        logged.inject({
          method: method as 'GET',
          url,
          headers: {
            'x-vault-token': scoped,
            ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(payload === undefined ? {} : { payload }),
        })
      assert.equal(
        (await send('POST', '/v1/secret/data/payments/logged', '{"data":{"pin":"kv-marker-4242"}}')).statusCode,
        200,
      )
      assert.equal((await send('GET', '/v1/secret/data/payments/logged?version=1')).statusCode, 200)
      assert.equal((await send('POST', '/v1/secret/data/payments/logged', '{"data":{"pin":')).statusCode, 400)
      assert.equal((await send('GET', '/v1/secret/data/admin/root')).statusCode, 404)
      // A credential pasted into the path by mistake: a KV path like any other, never logged.
      assert.equal((await send('GET', `/v1/secret/data/${scoped}`)).statusCode, 404)
      assert.equal((await send('GET', `/v1/no-such-route/${scoped}`)).statusCode, 404)
      assert.equal(
        (await send('POST', '/v1/transit/encrypt/nokey', '{"plaintext":"dHJhbnNpdC1tYXJrZXI="}')).statusCode,
        400,
      )
    } finally {
      await logged.close()
    }
    const log = lines.join('')
    assert.ok(lines.length > 0, 'requests were logged')
    const secretPart = scoped.slice(scoped.lastIndexOf('_') + 1)
    assert.ok(!log.includes(secretPart), 'no token in the request log')
    assert.ok(!log.includes('kv-marker-4242') && !log.includes('dHJhbnNpdC1tYXJrZXI='), log)
    const events = JSON.stringify(
      await t()
        .db.kysely.selectFrom('audit_events')
        .select(['action', 'details'])
        .where('org_id', '=', org.orgId)
        .execute(),
    )
    for (const marker of [secretPart, 'kv-marker-4242', 'p-1234', 's-777', 'dHJhbnNpdC1tYXJrZXI='])
      assert.ok(!events.includes(marker), `no ${marker} in the audit log`)
  })

  it('a path-scoped owner cannot narrow, demote, suspend or remove the last unrestricted owner (the org would lose its other secrets for good)', async () => {
    const lonely = await createCustomerOrg(t(), provider, 'Lockout Org', 'owner@lockout.test')
    const invited = await t().request({
      method: 'POST',
      url: `/v1/orgs/${lonely.orgId}/invitations`,
      token: lonely.ownerToken,
      body: { email: 'scoped-owner@lockout.test', role: 'owner', secretPaths: ['payments/*'] },
    })
    assert.equal(invited.status, 201, invited.text)
    const accepted = await t().request({
      method: 'POST',
      url: '/v1/invitations/accept',
      body: { token: invited.body.token, password: PASSWORD },
    })
    assert.equal(accepted.status, 201, accepted.text)
    const scopedOwner = accepted.body.apiToken as string
    const members = await t().request({
      method: 'GET',
      url: `/v1/orgs/${lonely.orgId}/members`,
      token: lonely.ownerToken,
    })
    const first = (members.body.members as Body[]).find((m) => m.email === 'owner@lockout.test')?.userId as string
    const before = await fingerprint(t())
    for (const [method, tail, body] of [
      ['PATCH', `/members/${first}`, { role: 'owner', secretPaths: ['payments/*'] }],
      ['PATCH', `/members/${first}`, { role: 'admin', secretPaths: ['payments/*'] }],
      ['POST', `/members/${first}/suspend`, {}],
      ['DELETE', `/members/${first}`, undefined],
    ] as const) {
      const response = await t().request({
        method,
        url: `/v1/orgs/${lonely.orgId}${tail}`,
        token: scopedOwner,
        ...(body === undefined ? {} : { body }),
      })
      assert.equal(response.status, 409, `${method} ${tail}: ${response.text}`)
      assert.equal(response.body.code, 'LAST_OWNER')
    }
    assert.equal(await fingerprint(t()), before)
  })
})
