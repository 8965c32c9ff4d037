import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { forEachEngine } from '../helpers/db.ts'
import { auditActions, bootstrapProvider, createCustomerOrg, fingerprint, PASSWORD, type Org } from '../helpers/app.ts'
import type { JsonBody } from '../helpers/json.ts'
import { useTestApp } from '../helpers/app.ts'

/*
 * Secrets by path and path-scoped role bindings (docs/secret-paths.md): a member, service
 * account or token limited to `payments/*` sees, lists, reads, reveals and writes only the
 * secrets under it; everything else answers as if absent (404), creating outside it is 403,
 * and nothing it makes reaches further than itself.
 */
forEachEngine('secrets by path, path-scoped permissions (P2.3)', (engine) => {
  const t = useTestApp(engine, { CUSTODIAN_AUTH_RATE_LIMIT: '1000' })
  let org: Org
  let other: Org
  /** An admin limited to payments/* (invited so), and its API token from the invitation. */
  let scoped: { userId: string; token: string }
  const ids: Record<string, string> = {}
  const base = () => `/v1/orgs/${org.orgId}`
  const NAMES = [
    'payments/stripe/api-key',
    'payments/adyen/key',
    'payments/p1',
    'payments/p2',
    'payments/p3',
    'payments-eu/key',
    'payments',
    'ops/db',
    'a_b/x',
    'axb/x',
  ]

  const send = (method: string, url: string, token: string, body?: unknown) =>
    t().request({ method, url: `${base()}${url}`, token, body })

  async function walk(token: string, query = ''): Promise<string[]> {
    const names: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const page = await send(
        'GET',
        `/secrets?limit=2${query}${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`,
        token,
      )
      assert.equal(page.status, 200, page.text)
      const secrets = page.body.secrets as JsonBody[]
      assert.ok(secrets.length <= 2)
      // A page is full unless it is the last: hidden secrets never take a place in it.
      if (page.body.nextCursor !== null) assert.equal(secrets.length, 2, 'a page before the last is full')
      names.push(...secrets.map((s) => s.name as string))
      cursor = page.body.nextCursor as string | null
      pages += 1
    } while (cursor !== null && pages < 50)
    return names
  }

  before(async () => {
    const provider = await bootstrapProvider(t())
    org = await createCustomerOrg(t(), provider, 'Paths Org', 'owner@paths.test')
    other = await createCustomerOrg(t(), provider, 'Other Org', 'owner@other-paths.test')
    for (const name of NAMES) {
      const created = await send('POST', '/secrets', org.ownerToken, {
        name,
        type: 'generic',
        value: `value of ${name}`,
      })
      assert.equal(created.status, 201, created.text)
      ids[name] = created.body.id as string
    }
    const otherSecret = await t().request({
      method: 'POST',
      url: `/v1/orgs/${other.orgId}/secrets`,
      token: other.ownerToken,
      body: { name: 'payments/elsewhere', type: 'generic', value: 'v' },
    })
    assert.equal(otherSecret.status, 201)
    const invited = await send('POST', '/invitations', org.ownerToken, {
      email: 'scoped@paths.test',
      role: 'admin',
      secretPaths: ['payments/*'],
    })
    assert.equal(invited.status, 201, invited.text)
    assert.deepEqual(invited.body.secretPaths, ['payments/*'])
    const accepted = await t().request({
      method: 'POST',
      url: '/v1/invitations/accept',
      body: { token: invited.body.token, password: PASSWORD },
    })
    assert.equal(accepted.status, 201, accepted.text)
    scoped = { userId: accepted.body.userId as string, token: accepted.body.apiToken as string }
  })

  it('P2.3 lists only the secrets in scope, a page at a time, with no hidden one in any page or cursor', async () => {
    assert.deepEqual(await walk(org.ownerToken), [...NAMES].sort())
    assert.deepEqual(await walk(scoped.token), [
      'payments/adyen/key',
      'payments/p1',
      'payments/p2',
      'payments/p3',
      'payments/stripe/api-key',
    ])
    const sources = await send('GET', '/data-sources', scoped.token)
    assert.equal(sources.status, 200)
    assert.deepEqual(sources.body.dataSources, [])
  })

  it('lists by prefix, literally (no LIKE wildcards), within the scope', async () => {
    assert.deepEqual(await walk(org.ownerToken, '&prefix=payments/'), [
      'payments/adyen/key',
      'payments/p1',
      'payments/p2',
      'payments/p3',
      'payments/stripe/api-key',
    ])
    assert.deepEqual(await walk(org.ownerToken, '&prefix=payments'), [
      'payments',
      'payments-eu/key',
      'payments/adyen/key',
      'payments/p1',
      'payments/p2',
      'payments/p3',
      'payments/stripe/api-key',
    ])
    assert.deepEqual(await walk(org.ownerToken, '&prefix=a_b/'), ['a_b/x'])
    assert.deepEqual(await walk(scoped.token, '&prefix=ops/'), [])
    assert.deepEqual(await walk(scoped.token, '&prefix=payments/stripe/'), ['payments/stripe/api-key'])
    const bad = await send('GET', '/secrets?prefix=%25', org.ownerToken)
    assert.equal(bad.status, 400)
  })

  it('P2.3 answers a secret outside the scope as absent (404) on every operation that names it, nothing changed', async () => {
    const id = ids['ops/db'] as string
    const absent = `/secrets/00000000-0000-4000-8000-000000000000`
    const credential = {
      host: 'db.example.test',
      port: 5432,
      database: 'app',
      user: 'u',
      password: 'p',
      sslmode: 'require',
    }
    const pg: Record<string, string> = {}
    for (const [name, user] of [
      ['payments/pg', 'app'],
      ['ops/pg-root', 'root'],
    ] as const) {
      const made = await send('POST', '/secrets', org.ownerToken, {
        name,
        type: 'database_credential',
        value: { ...credential, user },
      })
      assert.equal(made.status, 201, made.text)
      pg[name] = made.body.id as string
    }
    const before = await fingerprint(t())
    const cases: [string, string, unknown?][] = [
      ['GET', ''],
      ['GET', '/versions'],
      ['POST', '/versions', { value: 'overwritten' }],
      ['DELETE', '/versions/1'],
      ['DELETE', ''],
      ['POST', '/reveal', { reason: 'looking around' }],
      ['POST', '/pause'],
      ['POST', '/resume'],
      ['POST', '/check'],
      ['POST', '/report-exposed', { reason: 'looking around' }],
      ['GET', '/rotation'],
      ['DELETE', '/rotation'],
      ['POST', '/rotate'],
    ]
    for (const [method, suffix, body] of cases) {
      const hidden = await send(method, `/secrets/${id}${suffix}`, scoped.token, body)
      assert.equal(hidden.status, 404, `${method} …${suffix}: ${hidden.text}`)
      assert.equal(hidden.body.code, 'NOT_FOUND')
      const missing = await send(method, `${absent}${suffix}`, scoped.token, body)
      assert.equal(missing.status, 404, `${method} …${suffix} (absent)`)
      assert.equal(hidden.body.detail, missing.body.detail, `${method} …${suffix}: indistinguishable from absent`)
    }
    for (const [method, suffix, body] of [
      ['GET', ''],
      ['GET', '/versions'],
      ['POST', '/versions', { value: 'overwritten' }],
      ['POST', '/reveal', { reason: 'looking around' }],
    ] as const) {
      const hidden = await send(method, `/secrets/by-path${suffix}?path=ops/db`, scoped.token, body)
      const missing = await send(method, `/secrets/by-path${suffix}?path=ops/nothing`, scoped.token, body)
      assert.equal(hidden.status, 404, `by-path ${method} ${suffix}`)
      assert.equal(missing.status, 404)
      assert.equal(hidden.body.detail, missing.body.detail)
    }
    const rotation = await send('PUT', `/secrets/${pg['payments/pg']}/rotation`, scoped.token, {
      managingSecretId: pg['ops/pg-root'],
      intervalHours: 24,
    })
    assert.equal(rotation.status, 404, 'a managing credential outside the scope is absent too')
    assert.equal(rotation.body.detail, 'no such managing credential')
    assert.equal(await fingerprint(t()), before)
    for (const made of Object.values(pg)) await send('DELETE', `/secrets/${made}`, org.ownerToken)
  })

  it('P2.3 reads, reveals and writes inside the scope, by id and by path', async () => {
    const id = ids['payments/stripe/api-key'] as string
    const got = await send('GET', `/secrets/${id}`, scoped.token)
    assert.equal(got.status, 200)
    const byPath = await send('GET', '/secrets/by-path?path=payments/stripe/api-key', scoped.token)
    assert.equal(byPath.status, 200)
    assert.equal(byPath.body.id, id)
    const written = await send('POST', '/secrets/by-path/versions?path=payments/stripe/api-key', scoped.token, {
      value: 'second value',
    })
    assert.equal(written.status, 201, written.text)
    assert.equal(written.body.currentVersion, 2)
    const versions = await send('GET', '/secrets/by-path/versions?path=payments/stripe/api-key&limit=1', scoped.token)
    assert.equal(versions.status, 200)
    assert.deepEqual(
      (versions.body.versions as JsonBody[]).map((v) => v.version),
      [2],
    )
    assert.equal(versions.body.nextCursor, '2')
    const revealed = await send('POST', '/secrets/by-path/reveal?path=payments/stripe/api-key', scoped.token, {
      reason: 'charge a customer',
    })
    assert.equal(revealed.status, 200, revealed.text)
    assert.equal(revealed.body.value, 'second value')
    const event = (await auditActions(t(), org.orgId)).findLast((e) => e.action === 'secret.reveal')
    assert.deepEqual(event?.details, { name: 'payments/stripe/api-key', version: 2, reason: 'charge a customer' })
    const malformed = await send('GET', '/secrets/by-path?path=../etc', scoped.token)
    assert.equal(malformed.status, 400)
    assert.equal(malformed.body.code, 'VALIDATION_FAILED')
    const otherOrg = await send('GET', '/secrets/by-path?path=payments/elsewhere', org.ownerToken)
    assert.equal(otherOrg.status, 404, 'another org’s path is absent here')
  })

  it('P2.3 refuses to create a secret outside the scope (403 naming the path), and creates one inside', async () => {
    const before = await fingerprint(t())
    const refused = await send('POST', '/secrets', scoped.token, { name: 'ops/new', type: 'generic', value: 'v' })
    assert.equal(refused.status, 403)
    assert.equal(refused.body.code, 'FORBIDDEN')
    assert.equal(refused.body.permission, 'secrets:write')
    assert.deepEqual(refused.body.secretPaths, ['ops/new'])
    assert.equal(await fingerprint(t()), before)
    const inside = await send('POST', '/secrets', scoped.token, { name: 'payments/new', type: 'generic', value: 'v' })
    assert.equal(inside.status, 201)
    await send('DELETE', `/secrets/${inside.body.id}`, org.ownerToken)
  })

  it('P2.3 a token narrows its holder’s scope further; widening it is refused (403 EXCEEDS_OWN_PERMISSIONS)', async () => {
    const narrow = await send('POST', '/tokens', scoped.token, {
      name: 'stripe only',
      expiresInDays: 1,
      secretPaths: ['payments/stripe/*'],
    })
    assert.equal(narrow.status, 201, narrow.text)
    assert.deepEqual(narrow.body.secretPaths, ['payments/stripe/*'])
    assert.deepEqual(await walk(narrow.body.token as string), ['payments/stripe/api-key'])
    const adyen = await send('POST', `/secrets/${ids['payments/adyen/key']}/reveal`, narrow.body.token as string, {
      reason: 'not mine',
    })
    assert.equal(adyen.status, 404)
    const before = await fingerprint(t())
    for (const secretPaths of [['ops/*'], ['*'], null, ['payments/*', 'payments-eu/*']]) {
      const wider = await send('POST', '/tokens', scoped.token, { name: 'wider', expiresInDays: 1, secretPaths })
      assert.equal(wider.status, 403, JSON.stringify(secretPaths))
      assert.equal(wider.body.code, 'EXCEEDS_OWN_PERMISSIONS')
      assert.ok(Array.isArray(wider.body.secretPaths) && wider.body.secretPaths.length > 0)
    }
    // From the narrowed token: no wider than itself, even inside its holder's scope.
    const fromNarrow = await send('POST', '/tokens', narrow.body.token as string, {
      name: 'back to payments',
      expiresInDays: 1,
      secretPaths: ['payments/*'],
    })
    assert.equal(fromNarrow.status, 403)
    for (const secretPaths of [['a//b'], ['../x'], ['payments/*/x'], []]) {
      const bad = await send('POST', '/tokens', scoped.token, { name: 'bad', expiresInDays: 1, secretPaths })
      assert.equal(bad.status, 400, JSON.stringify(secretPaths))
    }
    const many = await send('POST', '/tokens', scoped.token, {
      name: 'many',
      expiresInDays: 1,
      secretPaths: Array.from({ length: 51 }, (_, i) => `payments/p${i}`),
    })
    assert.equal(many.status, 400)
    assert.equal(await fingerprint(t()), before)
    // Omitted from a narrowed token: its own scope carries over.
    const omitted = await send('POST', '/tokens', narrow.body.token as string, { name: 'same', expiresInDays: 1 })
    assert.equal(omitted.status, 201)
    assert.deepEqual(omitted.body.secretPaths, ['payments/stripe/*'])
  })

  it('P2.3 a scoped admin’s service accounts, invitations, role changes, resumptions and single sign-on stay within its scope', async () => {
    const sa = await send('POST', '/service-accounts', scoped.token, { name: 'billing', role: 'admin' })
    assert.equal(sa.status, 201, sa.text)
    assert.deepEqual(sa.body.secretPaths, ['payments/*'], 'omitted: the maker’s own scope')
    const unrestricted = await send('POST', '/service-accounts', scoped.token, {
      name: 'everything',
      role: 'admin',
      secretPaths: null,
    })
    assert.equal(unrestricted.status, 403)
    assert.equal(unrestricted.body.code, 'EXCEEDS_OWN_PERMISSIONS')
    const narrowed = await send('PATCH', `/service-accounts/${sa.body.id}`, scoped.token, {
      role: 'admin',
      secretPaths: ['payments/adyen/*'],
    })
    assert.equal(narrowed.status, 200, narrowed.text)
    assert.deepEqual(narrowed.body.secretPaths, ['payments/adyen/*'])
    const widened = await send('PATCH', `/service-accounts/${sa.body.id}`, scoped.token, {
      role: 'admin',
      secretPaths: ['*'],
    })
    assert.equal(widened.status, 403)
    const change = (await auditActions(t(), org.orgId)).findLast((e) => e.action === 'service_account.role_change')
    assert.deepEqual(change?.details.secretPaths, { from: ['payments/*'], to: ['payments/adyen/*'] })
    const invite = await send('POST', '/invitations', scoped.token, {
      email: 'wide@paths.test',
      role: 'member',
      secretPaths: ['ops/*'],
    })
    assert.equal(invite.status, 403)
    // A member who reaches every path, suspended by the owner: the scoped admin cannot give that back.
    const wide = await send('POST', '/invitations', org.ownerToken, { email: 'wide@paths.test', role: 'member' })
    assert.equal(wide.body.secretPaths, null)
    const joined = await t().request({
      method: 'POST',
      url: '/v1/invitations/accept',
      body: { token: wide.body.token, password: PASSWORD },
    })
    assert.equal(joined.status, 201)
    assert.equal((await send('POST', `/members/${joined.body.userId}/suspend`, org.ownerToken)).status, 200)
    const resumed = await send('POST', `/members/${joined.body.userId}/resume`, scoped.token)
    assert.equal(resumed.status, 403)
    assert.equal(resumed.body.code, 'EXCEEDS_OWN_PERMISSIONS')
    const sso = await send('PUT', '/sso', scoped.token, {
      preset: 'oidc',
      issuer: 'https://127.0.0.1:1',
      clientId: 'c',
      clientSecret: 's',
      allowedDomains: ['paths.test'],
      defaultRole: 'viewer',
      enabled: false,
    })
    assert.equal(sso.status, 403, 'members single sign-on makes would reach every path')
    assert.equal(sso.body.code, 'EXCEEDS_OWN_PERMISSIONS')
    // The owner (unrestricted) widens the service account, and its token follows.
    const saToken = await send('POST', '/tokens', org.ownerToken, {
      name: 'billing',
      expiresInDays: 1,
      serviceAccountId: sa.body.id,
    })
    assert.equal(saToken.status, 201)
    assert.equal(saToken.body.secretPaths, null)
    assert.deepEqual(await walk(saToken.body.token as string), ['payments/adyen/key'])
    const listed = await send('GET', '/service-accounts', org.ownerToken)
    assert.deepEqual((listed.body.serviceAccounts as JsonBody[]).find((s) => s.id === sa.body.id)?.secretPaths, [
      'payments/adyen/*',
    ])
    const members = await send('GET', '/members', org.ownerToken)
    assert.deepEqual((members.body.members as JsonBody[]).find((m) => m.userId === scoped.userId)?.secretPaths, [
      'payments/*',
    ])
  })

  it('P2.3 a session carries its membership’s scope, and the owner changes it with the role', async () => {
    const login = await t().app.inject({
      method: 'POST',
      url: '/v1/login',
      payload: { email: 'scoped@paths.test', password: PASSWORD, orgId: org.orgId },
    })
    assert.equal(login.statusCode, 200, login.body)
    const cookie = login.cookies.find((c) => c.name === '__Host-custodian_session')
    assert.ok(cookie)
    const session = await t().request({
      method: 'GET',
      url: `${base()}/secrets`,
      headers: { cookie: `${cookie.name}=${cookie.value}` },
    })
    assert.equal(session.status, 200)
    assert.ok((session.body.secrets as JsonBody[]).every((s) => (s.name as string).startsWith('payments/')))
    const changed = await send('PATCH', `/members/${scoped.userId}`, org.ownerToken, {
      role: 'admin',
      secretPaths: ['payments/*', 'ops/*'],
    })
    assert.equal(changed.status, 200, changed.text)
    assert.deepEqual(changed.body.secretPaths, ['ops/*', 'payments/*'])
    assert.ok((await walk(scoped.token)).includes('ops/db'), 'effective on the next request')
    const kept = await send('PATCH', `/members/${scoped.userId}`, org.ownerToken, { role: 'admin' })
    assert.deepEqual(kept.body.secretPaths, ['ops/*', 'payments/*'], 'omitted: unchanged')
    const restored = await send('PATCH', `/members/${scoped.userId}`, org.ownerToken, {
      role: 'admin',
      secretPaths: ['payments/*'],
    })
    assert.equal(restored.status, 200)
  })

  it('P2.3 the least-privilege report and an access review show each subject’s path scope', async () => {
    const report = await send('GET', '/least-privilege?limit=500', org.ownerToken)
    assert.equal(report.status, 200, report.text)
    const principals = report.body.principals as JsonBody[]
    assert.deepEqual(principals.find((p) => p.id === scoped.userId)?.secretPaths, ['payments/*'])
    assert.equal(principals.find((p) => p.id === org.ownerId)?.secretPaths, null)
    const review = await send('POST', '/access-reviews', org.ownerToken)
    assert.equal(review.status, 201, review.text)
    const items = await send('GET', `/access-reviews/${review.body.id}/items?limit=500`, org.ownerToken)
    assert.equal(items.status, 200, items.text)
    const all = items.body.items as JsonBody[]
    const member = all.find((i) => i.kind === 'member' && i.subjectId === scoped.userId)
    assert.deepEqual((member?.details as JsonBody).secretPaths, ['payments/*'])
    const token = all.find((i) => i.kind === 'api_token' && i.label === 'stripe only')
    assert.deepEqual((token?.details as JsonBody).secretPaths, ['payments/stripe/*'])
    const account = all.find((i) => i.kind === 'service_account' && i.label === 'billing')
    assert.deepEqual((account?.details as JsonBody).secretPaths, ['payments/adyen/*'])
  })
})
