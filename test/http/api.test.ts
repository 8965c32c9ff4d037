import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import { registerAccessControl } from '../../src/http/access-control.ts'
import { forEachEngine } from '../helpers/db.ts'
import { bootstrapProvider, createCustomerOrg, PASSWORD, useTestApp, type Org } from '../helpers/app.ts'
import type { JsonBody } from '../helpers/json.ts'

forEachEngine('API description, audit queries, logs', (engine) => {
  const t = useTestApp(engine, { CUSTODIAN_AUTH_RATE_LIMIT: '1000' })
  let provider: Org
  let customer: Org

  before(async () => {
    provider = await bootstrapProvider(t())
    customer = await createCustomerOrg(t(), provider, 'Customer', 'owner@c.test')
  })

  it('serves a complete OpenAPI 3.1 document: every operation with its errors as problem+json', async () => {
    const doc = (await t().request({ method: 'GET', url: '/openapi.json' })).body
    assert.equal(doc.openapi, '3.1.0')
    assert.ok(doc.components.schemas.Problem ?? doc.components.schemas['def-0'], 'Problem schema present')
    for (const [path, ops] of Object.entries(doc.paths as Record<string, JsonBody>)) {
      for (const [method, op] of Object.entries(ops)) {
        const label = `${method.toUpperCase()} ${path}`
        assert.ok(op.summary, `${label}: summary`)
        const codes = Object.keys(op.responses)
        assert.ok(
          codes.some((c) => c.startsWith('2') || c === '302'),
          `${label}: a success response (or, for the SSO start, its redirect)`,
        )
        if (op.security.length > 0) {
          for (const code of ['400', '401', '403', '413', '500', '503'])
            assert.ok(codes.includes(code), `${label}: documents ${code}`)
          assert.ok(
            op['x-permission'] ||
              ['/v1/me', '/v1/logout', '/v1/permissions'].includes(path) ||
              path.startsWith('/v1/me/') ||
              // An embedded viewer's routes take a viewer token only: its scope is what it may read.
              path.startsWith('/v1/viewer/'),
            `${label}: names its permission`,
          )
        }
      }
    }
  })

  it('refuses to register a route that does not declare its access (deny by default)', async () => {
    const app = Fastify()
    registerAccessControl(app, { auth: t().app.services.auth, audit: t().app.services.audit })
    assert.throws(() => app.get('/v1/unguarded', async () => ({ ok: true })), /declares no access/)
  })

  it('queries the audit log by actor, action and outcome, newest first, with cursor paging', async () => {
    for (let i = 0; i < 5; i++)
      await t().request({
        method: 'POST',
        url: `/v1/orgs/${customer.orgId}/service-accounts`,
        token: customer.ownerToken,
        body: { name: `q-${i}`, role: 'viewer' },
      })
    await t().request({
      method: 'GET',
      url: `/v1/orgs/${customer.orgId}/tokens`,
      token: 'cst_api_00000000000000000000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    })
    const url = `/v1/orgs/${customer.orgId}/audit/events`
    const first = await t().request({
      method: 'GET',
      url: `${url}?action=service_account.create&limit=2`,
      token: customer.ownerToken,
    })
    assert.equal(first.status, 200)
    assert.equal(first.body.events.length, 2)
    assert.ok(first.body.nextCursor)
    const second = await t().request({
      method: 'GET',
      url: `${url}?action=service_account.create&limit=2&cursor=${first.body.nextCursor}`,
      token: customer.ownerToken,
    })
    const third = await t().request({
      method: 'GET',
      url: `${url}?action=service_account.create&limit=2&cursor=${second.body.nextCursor}`,
      token: customer.ownerToken,
    })
    const names = [...first.body.events, ...second.body.events, ...third.body.events].map(
      (e: { details: { name: string } }) => e.details.name,
    )
    assert.deepEqual(names, ['q-4', 'q-3', 'q-2', 'q-1', 'q-0'])
    assert.equal(third.body.nextCursor, null)

    const byActor = await t().request({
      method: 'GET',
      url: `${url}?actor=${customer.ownerId}&action=service_account.*`,
      token: customer.ownerToken,
    })
    assert.equal(byActor.body.events.length, 5)
    const denied = await t().request({ method: 'GET', url: `${url}?outcome=denied`, token: customer.ownerToken })
    assert.ok(denied.body.events.every((e: { outcome: string }) => e.outcome === 'denied'))
    const bad = await t().request({ method: 'GET', url: `${url}?cursor=forged`, token: customer.ownerToken })
    assert.equal(bad.status, 400)
    const future = await t().request({
      method: 'GET',
      url: `${url}?from=2999-01-01T00:00:00Z`,
      token: customer.ownerToken,
    })
    assert.equal(future.body.events.length, 0)
  })

  it('names a member who acted by email, and no one else (a service account, a host application’s user)', async () => {
    const url = `/v1/orgs/${customer.orgId}/audit/events`
    const made = await t().request({
      method: 'POST',
      url: `/v1/orgs/${customer.orgId}/service-accounts`,
      token: customer.ownerToken,
      body: { name: 'namer', role: 'admin' },
    })
    assert.equal(made.status, 201, made.text)
    const own = await t().request({
      method: 'GET',
      url: `${url}?actor=${customer.ownerId}&action=service_account.create`,
      token: customer.ownerToken,
    })
    assert.equal(own.status, 200, own.text)
    assert.ok(own.body.events.length > 0)
    for (const e of own.body.events) assert.equal(e.actorEmail, 'owner@c.test')
    // The provider's owner is a person too, but not a member here: never named in this org.
    const all = await t().request({ method: 'GET', url: `${url}?limit=500`, token: customer.ownerToken })
    const emails = new Set(all.body.events.map((e: { actorEmail: string | null }) => e.actorEmail))
    assert.deepEqual(
      [...emails].filter((e) => e !== null),
      ['owner@c.test'],
    )
    for (const e of all.body.events as { actor: { type: string }; actorEmail: string | null }[])
      if (e.actor.type !== 'user') assert.equal(e.actorEmail, null)
  })

  it('ends a session or a token on logout', async () => {
    const made = await t().request({
      method: 'POST',
      url: `/v1/orgs/${customer.orgId}/tokens`,
      token: customer.ownerToken,
      body: { name: 'to-logout', expiresInDays: 1 },
    })
    assert.equal((await t().request({ method: 'POST', url: '/v1/logout', token: made.body.token })).status, 204)
    assert.equal((await t().request({ method: 'GET', url: '/v1/me', token: made.body.token })).status, 401)
  })
})

forEachEngine('logged errors keep driver parameters out', (engine) => {
  it('logs a failed statement without the values bound to it', async () => {
    const { serializeError } = await import('../../src/logger.ts')
    const { createTestDatabase } = await import('../helpers/db.ts')
    const { sql } = await import('kysely')
    const db = await createTestDatabase(engine)
    try {
      const error = await sql`SELECT ${'secret-parameter-value'}::int`.execute(db.kysely).then(
        () => undefined,
        (e: unknown) => e,
      )
      assert.ok(error instanceof Error, 'the statement failed')
      const logged = JSON.stringify(serializeError(error))
      assert.ok(!logged.includes('secret-parameter-value'), logged)
      assert.match(logged, /"code":"22P02"/, 'the SQLSTATE stays for diagnosis')
    } finally {
      await db.close()
    }
  })
})

forEachEngine('logs keep secrets out', (engine) => {
  it('never writes a password, token or cookie to the log', async () => {
    const lines: string[] = []
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(chunk.toString())
        done()
      },
    })
    const { createLogger } = await import('../../src/logger.ts')
    const logger = createLogger({ logLevel: 'trace' }, sink)
    const { createTestDatabase } = await import('../helpers/db.ts')
    const { startTestApp } = await import('../helpers/app.ts')
    const db = await createTestDatabase(engine)
    const t = await startTestApp(engine, db, {}, logger)
    try {
      const provider = await bootstrapProvider(t)
      await t.request({ method: 'POST', url: '/v1/login', body: { email: 'owner@provider.test', password: PASSWORD } })
      await t.request({
        method: 'GET',
        url: `/v1/orgs/${provider.orgId}`,
        token: provider.ownerToken,
        headers: { cookie: '__Host-custodian_session=cst_ses_secretcookie' },
      })
      logger.info({ password: 'leaky', token: 'leaky', req: { headers: { authorization: 'Bearer leaky' } } }, 'probe')
      const all = lines.join('')
      assert.ok(lines.length > 5, 'the app logged')
      assert.ok(!all.includes(PASSWORD))
      assert.ok(!all.includes(provider.ownerToken))
      assert.ok(!all.includes('secretcookie'))
      assert.ok(!all.includes('leaky'))
    } finally {
      await t.app.close()
      await db.close()
    }
  })
})
