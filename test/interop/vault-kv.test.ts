import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { connect } from 'node:tls'
import path from 'node:path'
import { promisify } from 'node:util'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { sql } from 'kysely'
import { Agent, fetch } from 'undici'
import createVaultClient from 'node-vault'
import { createLocalProvider } from '../../src/crypto/providers/local.ts'
import {
  auditActions,
  bootstrapProvider,
  createCustomerOrg,
  principalWithRole,
  useTestApp,
  type Org,
} from '../helpers/app.ts'
import { forEachEngine } from '../helpers/db.ts'
import { startVaultListener, type VaultListenerUnderTest } from '../helpers/vault-listener.ts'

// KV version 2 on Custodian's Vault-compatible listener (docs/vault-compat.md), with unmodified
// clients: Debian's python3-hvac (scripts/prerequisites.ts installs it) and the node-vault npm package.
const PYTHON = '/usr/bin/python3'
const HVAC_KV_SCRIPT = path.join(import.meta.dirname, 'vault', 'hvac_kv.py')
const run = promisify(execFile)
type Body = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

forEachEngine('Vault-compatible API: KV version 2', (engine) => {
  const rootKey = createLocalProvider(randomBytes(32))
  const t = useTestApp(engine, { CUSTODIAN_AUTH_RATE_LIMIT: '1000' }, undefined, async () => rootKey)
  let vault: VaultListenerUnderTest
  let dispatcher: Agent
  let ca: string
  let org: Org
  let other: Org
  let admin: { token: string; serviceAccountId: string }
  let otherAdmin: string
  let auditor: string
  let viewer: string

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
    return { status: response.status, body: (text === '' ? {} : JSON.parse(text)) as Body }
  }
  const native = (method: string, url: string, body?: unknown) =>
    t().request({
      method,
      url: `/v1/orgs/${org.orgId}${url}`,
      token: org.ownerToken,
      ...(body === undefined ? {} : { body }),
    })
  /** The org's secrets and versions, as stored: what a refused request must leave as it was. */
  const vaultState = async () =>
    JSON.stringify(
      (
        await sql<{ s: string }>`SELECT coalesce(string_agg(x, ',' ORDER BY x), '') AS s FROM (
          SELECT (to_jsonb(s) - 'last_revealed_at')::text AS x FROM secrets s
          UNION ALL SELECT to_jsonb(v)::text FROM secret_versions v) rows`.execute(t().db.kysely)
      ).rows,
    )
  const secretNamed = async (name: string) => {
    const list = await native('GET', '/secrets?limit=500')
    return (list.body.secrets as Body[]).find((s) => s.name === name)
  }

  before(async () => {
    vault = await startVaultListener(t(), rootKey)
    ca = readFileSync(vault.caFile, 'utf8')
    dispatcher = new Agent({ connect: { ca } })
    const provider = await bootstrapProvider(t())
    org = await createCustomerOrg(t(), provider, 'KV Clients', 'owner@kv-clients.test')
    other = await createCustomerOrg(t(), provider, 'KV Other', 'owner@kv-other.test')
    admin = await principalWithRole(t(), org, 'admin')
    otherAdmin = (await principalWithRole(t(), other, 'admin')).token
    auditor = (await principalWithRole(t(), org, 'auditor')).token
    viewer = (await principalWithRole(t(), org, 'viewer')).token
  })
  after(async () => {
    await dispatcher.close()
    await vault.close()
  })

  it('runs python3-hvac, unmodified: write with check-and-set, read, delete, undelete, destroy, metadata, list, delete all', async () => {
    await run(PYTHON, [HVAC_KV_SCRIPT], {
      env: {
        PATH: process.env.PATH ?? '',
        VAULT_ADDR: vault.address,
        VAULT_TOKEN: admin.token,
        VAULT_CACERT: vault.caFile,
        KV_PATH: 'apps/payments/db',
      },
      timeout: 120_000,
    })
    // The native API sees the same secret: a generic secret in KV format, its versions, its value.
    const secret = await secretNamed('apps/payments/db')
    assert.ok(secret !== undefined)
    assert.equal(secret.type, 'generic')
    assert.deepEqual(secret.metadata, { format: 'kv', cas_required: true, custom_metadata: { owner: 'payments' } })
    assert.equal(secret.currentVersion, 3)
    const versions = await native('GET', `/secrets/${secret.id}/versions`)
    assert.deepEqual(
      (versions.body.versions as Body[]).map((v) => [v.version, v.destroyedAt !== null, v.deletedAt !== null]),
      [
        [3, false, false],
        [2, false, false],
        // Deleted, then destroyed: the undelete that followed could not bring it back.
        [1, true, true],
      ],
    )
    const revealed = await native('POST', `/secrets/${secret.id}/reveal`, { reason: 'cross-check the KV value' })
    assert.equal(revealed.status, 200, JSON.stringify(revealed.body))
    assert.equal(revealed.body.value, '{"password":"s3cr3t-three","user":"app"}')
    assert.equal(await secretNamed('apps/payments/nested/deeper'), undefined, 'deleted with its metadata')

    const events = (await auditActions(t(), org.orgId)).filter((e) => e.actor_id === admin.serviceAccountId)
    for (const action of [
      'secret.create',
      'secret.version.create',
      'secret.reveal',
      'secret.version.delete',
      'secret.version.undelete',
      'secret.version.destroy',
      'secret.metadata.update',
      'secret.delete',
    ])
      assert.ok(
        events.some((e) => e.action === action),
        `${action} recorded`,
      )
    const reveals = events.filter((e) => e.action === 'secret.reveal')
    assert.ok(reveals.every((e) => e.details.reason === 'Vault API read (KV version 2)'))
    const log = JSON.stringify(await auditActions(t(), org.orgId))
    assert.ok(!log.includes('s3cr3t') && !log.includes(admin.token), 'no value or token in the log')
  })

  it('runs node-vault, unmodified: write, read, versions, delete, undelete, destroy, metadata, list, delete all', async () => {
    const client = createVaultClient({
      endpoint: vault.address,
      token: admin.token,
      noCustomHTTPVerbs: true,
      requestOptions: { ca },
    })
    const written = (await client.write('secret/data/node/app', { data: { apiKey: 'node-one' } })).data
    assert.equal(written.version, 1)
    await client.write('secret/data/node/app', { data: { apiKey: 'node-two', region: 'eu' }, options: { cas: 1 } })
    await assert.rejects(
      client.write('secret/data/node/app', { data: { apiKey: 'stale' }, options: { cas: 1 } }),
      (error: { response: { statusCode: number; body: { errors: string[] } } }) =>
        error.response.statusCode === 400 &&
        error.response.body.errors[0] === 'check-and-set parameter did not match the current version',
    )
    const read = (await client.read('secret/data/node/app')).data
    assert.deepEqual(read.data, { apiKey: 'node-two', region: 'eu' })
    assert.equal(read.metadata.version, 2)
    assert.deepEqual((await client.read('secret/data/node/app?version=1')).data.data, { apiKey: 'node-one' })

    await client.delete('secret/data/node/app')
    await assert.rejects(
      client.read('secret/data/node/app'),
      (error: { response: { statusCode: number; body: Body } }) =>
        error.response.statusCode === 404 &&
        error.response.body.data.data === null &&
        error.response.body.data.metadata.deletion_time !== '',
    )
    await client.write('secret/undelete/node/app', { versions: [2] })
    assert.equal((await client.read('secret/data/node/app')).data.data.apiKey, 'node-two')
    await client.write('secret/destroy/node/app', { versions: [1] })
    const metadata = (await client.read('secret/metadata/node/app')).data
    assert.equal(metadata.current_version, 2)
    assert.equal(metadata.versions['1'].destroyed, true)
    assert.equal(metadata.versions['2'].deletion_time, '')

    await client.write('secret/data/node/other', { data: { k: 'v' } })
    assert.deepEqual((await client.list('secret/metadata/node')).data.keys, ['app', 'other'])
    assert.ok((await client.list('secret/metadata/')).data.keys.includes('node/'))
    await client.delete('secret/metadata/node/other')
    await assert.rejects(
      client.read('secret/metadata/node/other'),
      (error: { response: { statusCode: number; body: Body } }) =>
        error.response.statusCode === 404 && error.response.body.errors.length === 0,
    )
  })

  it('answers the LIST method, which Node.js’s HTTP parser refuses, with a 400 in Vault’s shape that says what to send', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: 'localhost', port: Number(new URL(vault.address).port), ca }, () => {
        socket.write(`LIST /v1/secret/metadata/ HTTP/1.1\r\nHost: localhost\r\nX-Vault-Token: ${admin.token}\r\n\r\n`)
      })
      let text = ''
      socket.on('data', (chunk: Buffer) => (text += chunk.toString()))
      socket.on('close', () => resolve(text))
      socket.on('error', reject)
    })
    assert.match(answer, /^HTTP\/1\.1 400 /)
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as Body
    assert.deepEqual(body, { errors: ['unsupported HTTP method: for LIST, send GET with ?list=true'] })
  })

  it('refuses a read of a soft-deleted version on the native API too (410 SECRET_VERSION_DELETED), shows it in the version view', async () => {
    await call('POST', '/v1/secret/data/native/view', { token: admin.token, body: { data: { a: '1' } } })
    await call('DELETE', '/v1/secret/data/native/view', { token: admin.token })
    const secret = await secretNamed('native/view')
    const refused = await native('POST', `/secrets/${secret?.id}/reveal`, { reason: 'read it anyway' })
    assert.equal(refused.status, 410)
    assert.equal(refused.body.code, 'SECRET_VERSION_DELETED')
    const versions = await native('GET', `/secrets/${secret?.id}/versions`)
    assert.equal(typeof versions.body.versions[0].deletedAt, 'string')
    // A native version must stay a JSON object for the KV API to read it.
    const bad = await native('POST', `/secrets/${secret?.id}/versions`, { value: 'not json' })
    assert.equal(bad.status, 400)
    assert.equal(bad.body.code, 'VALIDATION_FAILED')
    const good = await native('POST', `/secrets/${secret?.id}/versions`, { value: '{"a":"2"}' })
    assert.equal(good.status, 201)
    assert.deepEqual(good.body.metadata, { format: 'kv' })
    const read = await call('GET', '/v1/secret/data/native/view', { token: admin.token })
    assert.deepEqual(read.body.data.data, { a: '2' })
  })

  it('P2.3: keeps a token within its secret path scope — reads, writes, deletes and listings outside it answer as absent', async () => {
    for (const name of ['scoped/pay/one', 'scoped/pay/deep/two', 'scoped/hr/payroll'])
      assert.equal(
        (await call('POST', `/v1/secret/data/${name}`, { token: admin.token, body: { data: { v: name } } })).status,
        200,
      )
    const issued = await native('POST', '/tokens', {
      name: 'kv scoped',
      expiresInDays: 1,
      secretPaths: ['scoped/pay/*'],
    })
    assert.equal(issued.status, 201, JSON.stringify(issued.body))
    const scoped = issued.body.token as string
    assert.equal(
      (await call('GET', '/v1/secret/data/scoped/pay/one', { token: scoped })).body.data?.data?.v,
      'scoped/pay/one',
    )
    const before = await vaultState()
    // Exactly what a path with no secret gets: 404 for reads and metadata, 204 (no change, as Vault) for deletes.
    for (const [method, url, body, status] of [
      ['GET', '/v1/secret/data/scoped/hr/payroll', undefined, 404],
      ['GET', '/v1/secret/metadata/scoped/hr/payroll', undefined, 404],
      ['POST', '/v1/secret/delete/scoped/hr/payroll', { versions: [1] }, 204],
      ['POST', '/v1/secret/destroy/scoped/hr/payroll', { versions: [1] }, 204],
      ['DELETE', '/v1/secret/data/scoped/hr/payroll', undefined, 204],
      ['DELETE', '/v1/secret/metadata/scoped/hr/payroll', undefined, 204],
      ['POST', '/v1/secret/metadata/scoped/hr/payroll', { custom_metadata: { a: 'b' } }, 404],
    ] as const) {
      const answer = await call(method, url, { token: scoped, ...(body === undefined ? {} : { body }) })
      const absent = await call(method, url.replace('hr/payroll', 'pay/absent'), {
        token: scoped,
        ...(body === undefined ? {} : { body }),
      })
      assert.equal(answer.status, status, `${method} ${url}: ${JSON.stringify(answer.body)}`)
      assert.deepEqual([answer.status, answer.body], [absent.status, absent.body], `${method} ${url}`)
    }
    const write = await call('POST', '/v1/secret/data/scoped/hr/new', { token: scoped, body: { data: { a: 'b' } } })
    assert.equal(write.status, 403, JSON.stringify(write.body))
    assert.equal(await vaultState(), before)
    const root = await call('GET', '/v1/secret/metadata/scoped/?list=true', { token: scoped })
    assert.deepEqual(root.body.data?.keys, ['pay/'])
    const pay = await call('GET', '/v1/secret/metadata/scoped/pay/?list=true', { token: scoped })
    assert.deepEqual(pay.body.data?.keys, ['deep/', 'one'])
    assert.equal((await call('GET', '/v1/secret/metadata/scoped/hr/?list=true', { token: scoped })).status, 404)
  })

  it('keeps the native refusals: a paused secret is not read (400, audited as denied); X-Custodian-Reason is the audited reason', async () => {
    await call('POST', '/v1/secret/data/refusals/paused', { token: admin.token, body: { data: { a: 'b' } } })
    const secret = await secretNamed('refusals/paused')
    assert.equal((await native('POST', `/secrets/${secret?.id}/pause`)).status, 204)
    const refused = await call('GET', '/v1/secret/data/refusals/paused', { token: admin.token })
    assert.equal(refused.status, 400)
    assert.deepEqual(Object.keys(refused.body), ['errors'])
    const denied = (await auditActions(t(), org.orgId)).filter(
      (e) => e.action === 'secret.reveal' && e.outcome === 'denied',
    )
    assert.equal(denied.at(-1)?.details.error, 'SECRET_PAUSED')
    await native('POST', `/secrets/${secret?.id}/resume`)
    const read = await call('GET', '/v1/secret/data/refusals/paused', {
      token: admin.token,
      headers: { 'x-custodian-reason': 'deploy of release 42' },
    })
    assert.equal(read.status, 200)
    const last = (await auditActions(t(), org.orgId)).filter((e) => e.action === 'secret.reveal').at(-1)
    assert.equal(last?.details.reason, 'deploy of release 42')
    // A native secret of another type is not on the KV mount, and its name is not taken over.
    await native('POST', '/secrets', { name: 'refusals/api-key', type: 'api_key', value: 'k-123' })
    assert.equal((await call('GET', '/v1/secret/data/refusals/api-key', { token: admin.token })).status, 404)
    const overwrite = await call('POST', '/v1/secret/data/refusals/api-key', {
      token: admin.token,
      body: { data: { a: 'b' } },
    })
    assert.equal(overwrite.status, 400)
    assert.deepEqual(
      (await call('GET', '/v1/secret/metadata/refusals?list=true', { token: admin.token })).body.data.keys,
      ['paused'],
    )
  })

  describe('access control, the same as the native API', () => {
    const ROUTES: { method: string; url: string; body?: unknown; permission: string }[] = [
      { method: 'GET', url: '/v1/secret/data/acl/one', permission: 'vault:reveal' },
      { method: 'POST', url: '/v1/secret/data/acl/one', body: { data: { x: 'y' } }, permission: 'secrets:write' },
      { method: 'PUT', url: '/v1/secret/data/acl/one', body: { data: { x: 'y' } }, permission: 'secrets:write' },
      { method: 'DELETE', url: '/v1/secret/data/acl/one', permission: 'secrets:delete' },
      { method: 'POST', url: '/v1/secret/delete/acl/one', body: { versions: [1] }, permission: 'secrets:delete' },
      { method: 'POST', url: '/v1/secret/undelete/acl/one', body: { versions: [1] }, permission: 'secrets:write' },
      { method: 'POST', url: '/v1/secret/destroy/acl/one', body: { versions: [1] }, permission: 'secrets:delete' },
      { method: 'GET', url: '/v1/secret/metadata/acl/one', permission: 'secrets:read' },
      { method: 'GET', url: '/v1/secret/metadata/acl?list=true', permission: 'secrets:read' },
      { method: 'POST', url: '/v1/secret/metadata/acl/one', body: { cas_required: true }, permission: 'secrets:write' },
      { method: 'DELETE', url: '/v1/secret/metadata/acl/one', permission: 'secrets:delete' },
    ]

    it('refuses every KV route without a token, with a wrong one, to a role without the permission, in another org’s namespace: 403 in Vault’s shape, audited, nothing changed', async () => {
      await call('POST', '/v1/secret/data/acl/one', { token: admin.token, body: { data: { x: 'kept' } } })
      const state = await vaultState()
      const deniedBefore = (await auditActions(t(), org.orgId)).filter((e) => e.action === 'access.denied').length
      let forbidden = 0
      for (const route of ROUTES) {
        for (const token of [undefined, 'cst_api_wrong', `cst_api_${'0'.repeat(32)}_${'A'.repeat(43)}`]) {
          const refused = await call(route.method, route.url, { token, body: route.body })
          assert.equal(refused.status, 403, `${route.method} ${route.url} ${String(token)}`)
          assert.equal(refused.body.errors[0], 'permission denied')
          assert.deepEqual(Object.keys(refused.body), ['errors'])
        }
        // The auditor holds secrets:read: the routes it may call.
        for (const token of route.permission === 'secrets:read' ? [viewer] : [viewer, auditor]) {
          const refused = await call(route.method, route.url, { token, body: route.body })
          assert.equal(refused.status, 403, `${route.method} ${route.url}`)
          assert.deepEqual(refused.body.errors, ['permission denied', `this needs the ${route.permission} permission`])
          forbidden++
        }
        const elsewhere = await call(route.method, route.url, {
          token: admin.token,
          body: route.body,
          headers: { 'x-vault-namespace': other.orgId },
        })
        assert.equal(elsewhere.status, 403, `${route.method} ${route.url} in another namespace`)
        assert.equal(elsewhere.body.errors[0], 'permission denied')
      }
      assert.equal(await vaultState(), state, 'no secret or version changed')
      const denied = (await auditActions(t(), org.orgId)).filter((e) => e.action === 'access.denied')
      assert.ok(denied.length - deniedBefore >= forbidden, 'each refused role is in the org’s log')
    })

    it('keeps each org’s KV apart: another org’s admin finds nothing at the path, and changes nothing', async () => {
      await call('POST', '/v1/secret/data/acl/mine', { token: admin.token, body: { data: { x: 'mine' } } })
      const state = await vaultState()
      assert.equal((await call('GET', '/v1/secret/data/acl/mine', { token: otherAdmin })).status, 404)
      assert.equal((await call('GET', '/v1/secret/metadata/acl/mine', { token: otherAdmin })).status, 404)
      assert.equal((await call('GET', '/v1/secret/metadata/acl?list=true', { token: otherAdmin })).status, 404)
      for (const [method, url, body] of [
        ['DELETE', '/v1/secret/data/acl/mine', undefined],
        ['POST', '/v1/secret/destroy/acl/mine', { versions: [1] }],
        ['DELETE', '/v1/secret/metadata/acl/mine', undefined],
      ] as const)
        assert.equal((await call(method, url, { token: otherAdmin, body })).status, 204, 'Vault: no change, no error')
      const metadata = await call('POST', '/v1/secret/metadata/acl/mine', {
        token: otherAdmin,
        body: { cas_required: true },
      })
      assert.equal(metadata.status, 404)
      assert.equal(await vaultState(), state)
      assert.deepEqual((await call('GET', '/v1/secret/data/acl/mine', { token: admin.token })).body.data.data, {
        x: 'mine',
      })
    })
  })

  it('answers malformed and oversized requests 400/413 in Vault’s shape, nothing changed', async () => {
    await call('POST', '/v1/secret/data/input/ok', { token: admin.token, body: { data: { a: 'b' } } })
    const state = await vaultState()
    const cases: [string, string, { body?: unknown; payload?: string }][] = [
      ['POST', '/v1/secret/data/input/ok', { payload: '{"data":' }],
      ['POST', '/v1/secret/data/input/ok', { body: { data: 'not an object' } }],
      ['POST', '/v1/secret/data/input/ok', { body: {} }],
      ['POST', '/v1/secret/data/input/ok', { body: { data: { a: 'c' }, options: { cas: -1 } } }],
      ['POST', '/v1/secret/data/input/ok', { body: { data: { a: 'c' }, options: { cas: 7 } } }],
      ['POST', '/v1/secret/data/input//double', { body: { data: { a: 'c' } } }],
      ['POST', '/v1/secret/data/input/trailing/', { body: { data: { a: 'c' } } }],
      ['POST', '/v1/secret/data/input/sp%20ace', { body: { data: { a: 'c' } } }],
      ['POST', `/v1/secret/data/${'x'.repeat(129)}`, { body: { data: { a: 'c' } } }],
      ['GET', '/v1/secret/data/input/ok?version=-1', {}],
      ['GET', '/v1/secret/data/input/ok?version=abc', {}],
      ['GET', '/v1/secret/metadata/input?list=maybe', {}],
      ['POST', '/v1/secret/delete/input/ok', { body: { versions: [] } }],
      ['POST', '/v1/secret/delete/input/ok', { body: { versions: ['one'] } }],
      ['POST', '/v1/secret/destroy/input/ok', { body: {} }],
      ['POST', '/v1/secret/undelete/input/ok', { body: { versions: [0] } }],
      ['POST', '/v1/secret/metadata/input/ok', { body: { max_versions: 3 } }],
      ['POST', '/v1/secret/metadata/input/ok', { body: { delete_version_after: '1h' } }],
      ['POST', '/v1/secret/metadata/input/ok', { body: { cas_required: 'yes' } }],
      ['POST', '/v1/secret/metadata/input/ok', { body: { custom_metadata: { k: 1 } } }],
      ['POST', '/v1/secret/metadata/input/ok', { body: { custom_metadata: { k: 'v'.repeat(513) } } }],
    ]
    for (const [method, url, options] of cases) {
      const refused = await call(method, url, { token: admin.token, ...options })
      assert.equal(refused.status, 400, `${method} ${url} ${JSON.stringify(options)}: ${JSON.stringify(refused.body)}`)
      assert.deepEqual(Object.keys(refused.body), ['errors'])
      assert.equal(typeof refused.body.errors[0], 'string')
    }
    // No HEAD on data: it would be a reveal with nothing shown.
    const revealsBefore = (await auditActions(t(), org.orgId)).filter((e) => e.action === 'secret.reveal').length
    assert.equal((await call('HEAD', '/v1/secret/data/input/ok', { token: admin.token })).status, 404)
    const revealsAfter = (await auditActions(t(), org.orgId)).filter((e) => e.action === 'secret.reveal').length
    assert.equal(revealsAfter, revealsBefore)
    const missing = await call('GET', '/v1/secret/data/input/none', { token: admin.token })
    assert.equal(missing.status, 404)
    assert.deepEqual(missing.body, { errors: [] })
    assert.equal((await call('GET', '/v1/secret/data/input/ok?version=9', { token: admin.token })).status, 404)
    // Over CUSTODIAN_BODY_LIMIT (64 KiB): refused before it is read whole.
    const oversized = await call('POST', '/v1/secret/data/input/big', {
      token: admin.token,
      payload: JSON.stringify({ data: { blob: 'x'.repeat(70_000) } }),
    })
    assert.equal(oversized.status, 413, JSON.stringify(oversized.body))
    assert.deepEqual(Object.keys(oversized.body), ['errors'])
    assert.equal(await vaultState(), state)
  })
})
