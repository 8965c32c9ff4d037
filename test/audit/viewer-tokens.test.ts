import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { sql } from 'kysely'
import { forEachEngine } from '../helpers/db.ts'
import {
  auditActions,
  bootstrapProvider,
  createCustomerOrg,
  fingerprint,
  PASSWORD,
  principalWithRole,
  testClock,
  useTestApp,
  type Org,
  type TestApp,
  type TestResponse,
} from '../helpers/app.ts'
import { verifyReceipt } from '../../src/modules/audit/audit.receipt.ts'

/**
 * Issue 14 §1, the embeddable viewer's tokens: a host application's backend mints a
 * short-lived, read-only token for one org and one web origin; the token reads that org's
 * log within its scope through /v1/viewer/… and nothing else — "cannot read another org,
 * cannot write, expires, refused from another origin" (the issue's quality bar).
 */
forEachEngine('embedded audit viewer tokens (issue 14)', (engine) => {
  const clock = testClock()
  const t = useTestApp(engine, { CUSTODIAN_AUDIT_CHECKPOINT_EVERY: '1' }, undefined, undefined, { clock: clock.clock })
  const ORIGIN = 'https://app.acme.test'
  let provider: Org
  let acme: Org
  let other: Org
  /** The host application's backend: a service account whose role holds audit:viewer, audit:read, audit:export. */
  let backend: string
  let writer: string
  let member: string
  let viewerOnly: string
  let otherEvent: string

  const url = (org: Org, tail: string) => `/v1/orgs/${org.orgId}${tail}`
  const issue = (body: Record<string, unknown>, token = backend, org = acme) =>
    t().request({ method: 'POST', url: url(org, '/audit/viewer-tokens'), token, body })
  const mint = async (body: Record<string, unknown> = {}) => {
    const issued = await issue({ origin: ORIGIN, ...body })
    assert.equal(issued.status, 201, issued.text)
    return issued.body as { id: string; token: string; expiresAt: string; origin: string }
  }
  const view = (path: string, token: string, origin: string | undefined = ORIGIN, method = 'GET') =>
    t().request({ method, url: path, token, headers: origin === undefined ? {} : { origin } })
  const record = (id: string, action: string, actorId: string) =>
    t().request({
      method: 'POST',
      url: url(acme, '/audit/events'),
      token: writer,
      body: { id, action, actor: { id: actorId, type: 'user' }, targets: [{ type: 'document', id: 'doc_1' }] },
    })
  const assertProblem = (response: TestResponse, status: number, code: string) => {
    assert.equal(response.status, status, response.text)
    assert.match(String(response.headers['content-type']), /^application\/problem\+json/)
    assert.equal(response.body.code, code, response.text)
  }
  const viewerTokenRows = async (app: TestApp) =>
    Number(
      (
        await app.db.kysely
          .selectFrom('audit_viewer_tokens')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    )

  before(async () => {
    provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', 'owner@acme.test')
    other = await createCustomerOrg(t(), provider, 'Other', 'owner@other.test')
    const roles: [string, string[]][] = [
      ['host-backend', ['audit:viewer', 'audit:read', 'audit:export']],
      ['app-events', ['audit:write']],
      ['viewer-only', ['audit:viewer']],
    ]
    for (const [name, permissions] of roles) {
      const role = await t().request({
        method: 'POST',
        url: url(acme, '/roles'),
        token: acme.ownerToken,
        body: { name, description: name, permissions },
      })
      assert.equal(role.status, 201, role.text)
    }
    backend = (await principalWithRole(t(), acme, 'host-backend')).token
    writer = (await principalWithRole(t(), acme, 'app-events')).token
    viewerOnly = (await principalWithRole(t(), acme, 'viewer-only')).token
    member = (await principalWithRole(t(), acme, 'member')).token
    for (const [id, action, actor] of [
      ['e1', 'document.share', 'u_ada'],
      ['e2', 'document.delete', 'u_bob'],
      ['e3', 'billing.charge', 'u_ada'],
    ] as const)
      assert.equal((await record(id, action, actor)).status, 201)
    await t().app.sequencer.flush()
    otherEvent = (
      await t()
        .db.kysely.selectFrom('audit_events')
        .select('event_id')
        .where('org_id', '=', other.orgId)
        .orderBy('id')
        .limit(1)
        .executeTakeFirstOrThrow()
    ).event_id
  })

  it('issues a token once: 201 with its origin, scope and expiry; only a hash is stored, and the audit event names no secret', async () => {
    const issued = await issue({ origin: 'https://App.Acme.test:443', actions: ['document.*'], ttlSeconds: 120 })
    assert.equal(issued.status, 201, issued.text)
    const { token, id, expiresAt, origin, scope } = issued.body
    assert.match(token, /^cst_view_[0-9a-f]{32}_[A-Za-z0-9_-]{43}$/)
    assert.equal(origin, ORIGIN)
    assert.deepEqual(scope, { actions: ['document.*'], actorId: null })
    const ttl = Date.parse(expiresAt) - clock.clock().getTime()
    assert.ok(ttl > 110_000 && ttl <= 120_000, `expires in ${ttl} ms`)
    // Not in any table, as the whole token or as its secret.
    const secret = token.split('_').slice(3).join('_')
    const tables = await sql<{ table_name: string }>`
      SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`.execute(
      t().db.kysely,
    )
    for (const { table_name } of tables.rows) {
      const found = await sql<{ n: number }>`
        SELECT count(*)::int AS n FROM ${sql.table(table_name)} AS x WHERE to_jsonb(x)::text LIKE ${`%${secret}%`}`.execute(
        t().db.kysely,
      )
      assert.equal(found.rows[0]?.n, 0, `${table_name} holds the token's secret`)
    }
    const events = await auditActions(t(), acme.orgId)
    const issuedEvent = events.find((e) => e.action === 'audit.viewer_token.issue')
    assert.ok(issuedEvent !== undefined)
    assert.equal(issuedEvent.details.origin, ORIGIN)
    assert.deepEqual(issuedEvent.details.scope, { actions: ['document.*'], actorId: null })
    assert.equal(issuedEvent.details.expiresAt, expiresAt)
    assert.ok(!JSON.stringify(events).includes(secret))
    const listed = await t().request({ method: 'GET', url: url(acme, '/audit/viewer-tokens'), token: backend })
    assert.equal(listed.status, 200, listed.text)
    const row = listed.body.tokens.find((r: { id: string }) => r.id === id)
    assert.equal(row.origin, ORIGIN)
    assert.ok(!listed.text.includes(secret) && !('token' in row))
  })

  it('refuses a bad origin, ttl or scope with 400 problem+json naming the field, storing nothing', async () => {
    const before = await viewerTokenRows(t())
    const cases: [Record<string, unknown>, string][] = [
      [{ origin: 'https://app.acme.test/embed' }, '/body/origin'],
      [{ origin: 'https://*.acme.test' }, '/body/origin'],
      [{ origin: '*' }, '/body/origin'],
      [{ origin: 'http://app.acme.test' }, '/body/origin'],
      [{ origin: 'https://user:pw@app.acme.test' }, '/body/origin'],
      [{ origin: ORIGIN, ttlSeconds: 59 }, '/body/ttlSeconds'],
      [{ origin: ORIGIN, ttlSeconds: 901 }, '/body/ttlSeconds'],
      [{ origin: ORIGIN, actions: Array.from({ length: 51 }, (_, i) => `a.b${i}`) }, '/body/actions'],
      [{ origin: ORIGIN, actions: ['document.%'] }, '/body/actions/0'],
      [{ origin: ORIGIN, actions: [] }, '/body/actions'],
      [{ origin: ORIGIN, actorId: '' }, '/body/actorId'],
    ]
    for (const [body, pointer] of cases) {
      const response = await issue(body)
      assertProblem(response, 400, 'VALIDATION_FAILED')
      assert.ok(
        response.body.errors.some((e: { path: string }) => e.path === pointer),
        `${JSON.stringify(body)}: ${response.text}`,
      )
    }
    assert.equal(await viewerTokenRows(t()), before)
  })

  it('refuses the issue without credentials (401), without audit:viewer (403), beyond the issuer’s own reading (403) and in another org (404)', async () => {
    const before = await fingerprint(t())
    const rows = await viewerTokenRows(t())
    assertProblem(await issue({ origin: ORIGIN }, ''), 401, 'UNAUTHENTICATED')
    const forbidden = await issue({ origin: ORIGIN }, member)
    assertProblem(forbidden, 403, 'FORBIDDEN')
    assert.equal(forbidden.body.permission, 'audit:viewer')
    const beyond = await issue({ origin: ORIGIN }, viewerOnly)
    assertProblem(beyond, 403, 'EXCEEDS_OWN_PERMISSIONS')
    assert.deepEqual(beyond.body.missingPermissions, ['audit:export', 'audit:read'])
    assertProblem(await issue({ origin: ORIGIN }, other.ownerToken), 404, 'NOT_FOUND')
    assert.equal(await fingerprint(t()), before)
    assert.equal(await viewerTokenRows(t()), rows)
    const foreign = await mint()
    const revokeElsewhere = await t().request({
      method: 'DELETE',
      url: url(other, `/audit/viewer-tokens/${foreign.id}`),
      token: other.ownerToken,
    })
    assertProblem(revokeElsewhere, 404, 'NOT_FOUND')
    assert.equal(
      (
        await t()
          .db.kysely.selectFrom('audit_viewer_tokens')
          .select('revoked_at')
          .where('id', '=', foreign.id)
          .executeTakeFirstOrThrow()
      ).revoked_at,
      null,
    )
  })

  it('reads its own org’s events, with CORS headers for exactly its origin; another org’s event is a 404 and no org parameter exists', async () => {
    const { token } = await mint()
    const listed = await view('/v1/viewer/events?limit=500', token)
    assert.equal(listed.status, 200, listed.text)
    assert.equal(listed.headers['access-control-allow-origin'], ORIGIN)
    assert.match(String(listed.headers.vary), /Origin/)
    assert.equal(listed.headers['access-control-allow-credentials'], undefined)
    const origins = new Set(listed.body.events.map((e: { origin: string }) => e.origin))
    assert.deepEqual([...origins].sort(), ['application', 'custodian'], 'the app’s events and Custodian’s own')
    const ids = new Set(listed.body.events.map((e: { id: string }) => e.id))
    const acmeIds = await t()
      .db.kysely.selectFrom('audit_events')
      .select('event_id')
      .where('org_id', '=', acme.orgId)
      .execute()
    for (const id of ids)
      assert.ok(
        acmeIds.some((r) => r.event_id === id),
        'an event of another org',
      )
    assertProblem(await view(`/v1/viewer/events/${otherEvent}/receipt`, token), 404, 'NOT_FOUND')
    assertProblem(await view(`/v1/viewer/events?org=${other.orgId}`, token), 400, 'VALIDATION_FAILED')
    const session = await view('/v1/viewer/session', token)
    assert.equal(session.status, 200, session.text)
    assert.deepEqual(session.body.org, { id: acme.orgId, name: 'Acme' })
    assert.equal(session.body.origin, ORIGIN)
  })

  it('reads only its scope: actions and actor narrow every read, a filter outside it is an empty page, an event outside it a 404', async () => {
    const { token } = await mint({ actions: ['document.*'], actorId: 'u_ada' })
    const all = await view('/v1/viewer/events', token)
    assert.deepEqual(
      all.body.events.map((e: { action: string; actor: { id: string } }) => `${e.action} ${e.actor.id}`),
      ['document.share u_ada'],
    )
    for (const query of ['action=billing.*', 'action=billing.charge', 'actor=u_bob', 'action=auth.*'])
      assert.deepEqual((await view(`/v1/viewer/events?${query}`, token)).body.events, [], query)
    assert.equal((await view('/v1/viewer/events?action=document.share', token)).body.events.length, 1)
    const wide = await mint({ actions: ['document.share', 'billing.*'] })
    const both = await view('/v1/viewer/events', wide.token)
    assert.deepEqual(both.body.events.map((e: { action: string }) => e.action).sort(), [
      'billing.charge',
      'document.share',
    ])
    assert.deepEqual(
      (await view('/v1/viewer/events?action=document.*', wide.token)).body.events.map(
        (e: { action: string }) => e.action,
      ),
      ['document.share'],
    )
    // Paging across several patterns: pages of one give the same events, none twice.
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const page: TestResponse = await view(
        `/v1/viewer/events?limit=1${cursor === null ? '' : `&cursor=${cursor}`}`,
        wide.token,
      )
      seen.push(...page.body.events.map((e: { id: string }) => e.id))
      cursor = page.body.nextCursor
    } while (cursor !== null)
    assert.deepEqual(
      seen,
      both.body.events.map((e: { id: string }) => e.id),
    )
    const bob = await t()
      .db.kysely.selectFrom('audit_events')
      .select('event_id')
      .where('org_id', '=', acme.orgId)
      .where('action', '=', 'document.delete')
      .executeTakeFirstOrThrow()
    assertProblem(await view(`/v1/viewer/events/${bob.event_id}/receipt`, token), 404, 'NOT_FOUND')
    const ada = all.body.events[0].id as string
    const receipt = await view(`/v1/viewer/events/${ada}/receipt`, token)
    assert.equal(receipt.status, 200, receipt.text)
    const keys = await t().request({ method: 'GET', url: `/v1/audit/keys?org=${acme.orgId}` })
    assert.equal(keys.headers['access-control-allow-origin'], '*')
    assert.equal(verifyReceipt(receipt.body, keys.body.keys[0].verifierKey).ok, true)
  })

  it('exports its scope as JSON Lines, audited as an egress', async () => {
    const { token } = await mint({ actions: ['document.*'] })
    const exported = await view('/v1/viewer/export?action=document.share', token)
    assert.equal(exported.status, 200, exported.text)
    assert.equal(exported.headers['access-control-allow-origin'], ORIGIN)
    assert.match(String(exported.headers['content-disposition']), /attachment/)
    const lines = exported.text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { kind: string; event?: { action: string }; format?: string })
    assert.equal(lines[0]?.format, 'custodian-audit-viewer-export/1')
    assert.deepEqual(
      lines.slice(1).map((l) => l.event?.action),
      ['document.share'],
    )
    const egress = (await auditActions(t(), acme.orgId)).filter((e) => e.action === 'audit.viewer.export')
    assert.ok(egress.some((e) => (e.details as { scope: { actions: string[] } }).scope.actions[0] === 'document.*'))
  })

  it('records one audit.viewer.session at the token’s first use, however many reads follow', async () => {
    const { token, id } = await mint()
    for (let i = 0; i < 3; i++) assert.equal((await view('/v1/viewer/session', token)).status, 200)
    assert.equal((await view('/v1/viewer/events', token)).status, 200)
    const sessions = await t()
      .db.kysely.selectFrom('audit_events')
      .select(['actor_type', 'details'])
      .where('org_id', '=', acme.orgId)
      .where('action', '=', 'audit.viewer.session')
      .where('target_id', '=', id)
      .execute()
    assert.equal(sessions.length, 1)
    assert.equal(sessions[0]?.actor_type, 'anonymous')
    assert.equal((sessions[0]?.details as { origin: string }).origin, ORIGIN)
  })

  it('cannot write: other methods on the viewer routes are refused, and no other route takes the token (401)', async () => {
    const { token } = await mint()
    const before = await fingerprint(t())
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'])
      for (const path of ['/v1/viewer/events', '/v1/viewer/session', '/v1/viewer/export']) {
        const response = await t().request({ method, url: path, token, body: {}, headers: { origin: ORIGIN } })
        assert.ok(response.status === 404 || response.status === 405, `${method} ${path}: ${response.status}`)
      }
    assertProblem(await t().request({ method: 'GET', url: url(acme, '/audit/events'), token }), 401, 'UNAUTHENTICATED')
    assertProblem(
      await t().request({
        method: 'POST',
        url: url(acme, '/audit/events'),
        token,
        body: { id: 'forged', action: 'document.share', actor: { id: 'x', type: 'user' } },
      }),
      401,
      'UNAUTHENTICATED',
    )
    assertProblem(await issue({ origin: ORIGIN }, token), 401, 'UNAUTHENTICATED')
    // Every route the API documents that is not a viewer route or public: 401 for the viewer token.
    const doc = (await t().request({ method: 'GET', url: '/openapi.json' })).body as {
      paths: Record<string, Record<string, { security?: Record<string, unknown>[] }>>
    }
    let swept = 0
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const security = operation.security ?? []
        if (method === 'head' || security.length === 0 || security.some((s) => 'viewerToken' in s)) continue
        const concrete = path
          .replaceAll('{orgId}', acme.orgId)
          .replaceAll('{*}', 'x')
          .replace(/\{[^}]+\}/g, '00000000-0000-4000-8000-000000000000')
        const response = await t().request({
          method: method.toUpperCase(),
          url: concrete,
          token,
          ...(method === 'get' || method === 'delete' ? {} : { body: {} }),
        })
        assert.equal(response.status, 401, `${method.toUpperCase()} ${path}: ${response.text}`)
        swept++
      }
    }
    assert.ok(swept > 100, `only ${swept} routes swept`)
    assert.equal(await fingerprint(t()), before)
  })

  it('refuses a request from another origin with 403 before reading anything; answers the preflight for the viewer routes', async () => {
    const { token, id } = await mint()
    const refused = await view('/v1/viewer/events', token, 'https://evil.test')
    assertProblem(refused, 403, 'ORIGIN_NOT_ALLOWED')
    assert.equal(refused.headers['access-control-allow-origin'], ORIGIN)
    assert.ok(!refused.text.includes('document.share'))
    assertProblem(await view('/v1/viewer/session', token, 'http://127.0.0.1:9'), 403, 'ORIGIN_NOT_ALLOWED')
    const row = await t()
      .db.kysely.selectFrom('audit_viewer_tokens')
      .select('first_used_at')
      .where('id', '=', id)
      .executeTakeFirstOrThrow()
    assert.equal(row.first_used_at, null, 'the token was never used')
    const denied = (await auditActions(t(), acme.orgId)).filter(
      (e) => e.action === 'access.denied' && e.details.viewerToken === id,
    )
    assert.equal(denied.length, 2)
    assert.equal(denied[0]?.details.code, 'ORIGIN_NOT_ALLOWED')
    // Without an Origin header (the host's backend, curl): allowed.
    assert.equal((await view('/v1/viewer/session', token, undefined)).status, 200)
    const preflight = await t().request({
      method: 'OPTIONS',
      url: '/v1/viewer/events',
      headers: {
        origin: ORIGIN,
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      },
    })
    assert.equal(preflight.status, 204)
    assert.equal(preflight.headers['access-control-allow-origin'], ORIGIN)
    assert.equal(preflight.headers['access-control-allow-methods'], 'GET')
    assert.equal(preflight.headers['access-control-allow-headers'], 'authorization')
    assert.equal(preflight.headers['access-control-allow-credentials'], undefined)
  })

  it('refuses a time filter no clock can hold (a leap second) with 400 naming it, on the events and the export', async () => {
    const { token } = await mint()
    for (const [path, name] of [
      ['/v1/viewer/events?from=2016-12-31T23:59:60Z', 'from'],
      ['/v1/viewer/export?to=2016-12-31T23:59:60Z', 'to'],
    ] as const) {
      const refused = await view(path, token)
      assertProblem(refused, 400, 'VALIDATION_FAILED')
      assert.equal(refused.body.errors[0].path, `/query/${name}`, refused.text)
    }
  })

  it('ends with its issuer: a member removed or suspended, or a service account deleted, leaves its viewer tokens refused at once (P2.6)', async () => {
    // A service account, the usual host backend.
    const account = await principalWithRole(t(), acme, 'host-backend')
    const fromAccount = (await issue({ origin: ORIGIN }, account.token)).body.token as string
    assert.equal((await view('/v1/viewer/session', fromAccount)).status, 200)
    const deleted = await t().request({
      method: 'DELETE',
      url: url(acme, `/service-accounts/${account.serviceAccountId}`),
      token: acme.ownerToken,
    })
    assert.equal(deleted.status, 204, deleted.text)
    assertProblem(await view('/v1/viewer/events', fromAccount), 401, 'UNAUTHENTICATED')
    // A person: an auditor holds audit:viewer, audit:read and audit:export.
    const invited = await t().request({
      method: 'POST',
      url: url(acme, '/invitations'),
      token: acme.ownerToken,
      body: { email: 'auditor@acme.test', role: 'auditor' },
    })
    assert.equal(invited.status, 201, invited.text)
    const accepted = await t().request({
      method: 'POST',
      url: '/v1/invitations/accept',
      body: { token: invited.body.token, password: PASSWORD },
    })
    assert.equal(accepted.status, 201, accepted.text)
    const auditor = accepted.body as { apiToken: string; userId: string }
    const fromAuditor = (await issue({ origin: ORIGIN }, auditor.apiToken)).body.token as string
    assert.equal((await view('/v1/viewer/session', fromAuditor)).status, 200)
    const member = (action: string) =>
      t().request({ method: 'POST', url: url(acme, `/members/${auditor.userId}/${action}`), token: acme.ownerToken })
    assert.equal((await member('suspend')).status, 200)
    assertProblem(await view('/v1/viewer/events', fromAuditor), 401, 'UNAUTHENTICATED')
    assert.equal((await member('resume')).status, 200)
    assert.equal((await view('/v1/viewer/events', fromAuditor)).status, 200, 'resumed, as their own tokens are')
    const removed = await t().request({
      method: 'DELETE',
      url: url(acme, `/members/${auditor.userId}`),
      token: acme.ownerToken,
    })
    assert.equal(removed.status, 200, removed.text)
    assertProblem(await view('/v1/viewer/events', fromAuditor), 401, 'UNAUTHENTICATED')
  })

  it('expires: a 401 VIEWER_TOKEN_EXPIRED once its time is up (the service’s clock, checked at use)', async () => {
    const { token } = await mint({ ttlSeconds: 60 })
    assert.equal((await view('/v1/viewer/events', token)).status, 200)
    clock.advance(61_000)
    const expired = await view('/v1/viewer/events', token)
    assertProblem(expired, 401, 'VIEWER_TOKEN_EXPIRED')
    assert.equal(expired.headers['access-control-allow-origin'], ORIGIN, 'its page can read why')
    assertProblem(await view('/v1/viewer/export', token), 401, 'VIEWER_TOKEN_EXPIRED')
  })

  it('is revoked at once (401), audited, and listed as revoked', async () => {
    const { token, id } = await mint()
    assert.equal((await view('/v1/viewer/session', token)).status, 200)
    const revoked = await t().request({
      method: 'DELETE',
      url: url(acme, `/audit/viewer-tokens/${id}`),
      token: backend,
    })
    assert.equal(revoked.status, 200, revoked.text)
    assert.ok(revoked.body.revokedAt !== null)
    assertProblem(await view('/v1/viewer/session', token), 401, 'UNAUTHENTICATED')
    const again = await t().request({ method: 'DELETE', url: url(acme, `/audit/viewer-tokens/${id}`), token: backend })
    assert.equal(again.status, 200)
    const revokes = (await auditActions(t(), acme.orgId)).filter(
      (e) => e.action === 'audit.viewer_token.revoke' && JSON.stringify(e).includes(ORIGIN),
    )
    assert.ok(revokes.length >= 1)
    assertProblem(
      await view(
        '/v1/viewer/session',
        'cst_view_00000000000000000000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      ),
      401,
      'UNAUTHENTICATED',
    )
    assertProblem(await view('/v1/viewer/session', acme.ownerToken), 401, 'UNAUTHENTICATED')
  })
})
