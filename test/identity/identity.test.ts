import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { sql } from 'kysely'
import { totpCode } from '../helpers/totp.ts'
import { forEachEngine } from '../helpers/db.ts'
import {
  auditActions,
  bootstrapProvider,
  createCustomerOrg,
  fingerprint,
  PASSWORD,
  principalWithRole,
  useTestApp,
  type Org,
} from '../helpers/app.ts'

forEachEngine('bootstrap, no default credentials (P2.4)', (engine) => {
  const t = useTestApp(engine)

  it('has no way in before bootstrap but the one-time token', async () => {
    const response = await t().request({
      method: 'GET',
      url: '/v1/me',
      token: 'cst_api_00000000000000000000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    })
    assert.equal(response.status, 401)
    assert.equal(response.body.code, 'UNAUTHENTICATED')
  })

  it('creates the provider org and its owner once; the token then stops working', async () => {
    const { token } = await t().app.services.auth.issueBootstrapToken()
    const first = await t().request({
      method: 'POST',
      url: '/v1/bootstrap',
      body: { token, orgName: 'Provider', email: 'owner@p.test', password: PASSWORD },
    })
    assert.equal(first.status, 201)
    assert.match(first.body.apiToken, /^cst_api_/)
    const me = await t().request({ method: 'GET', url: '/v1/me', token: first.body.apiToken })
    assert.equal(me.status, 200)
    assert.equal(me.body.role, 'owner')
    assert.equal(me.body.orgKind, 'provider')

    const before = await fingerprint(t())
    const again = await t().request({
      method: 'POST',
      url: '/v1/bootstrap',
      body: { token, orgName: 'Evil', email: 'evil@p.test', password: PASSWORD },
    })
    assert.equal(again.status, 403)
    assert.equal(again.body.code, 'BOOTSTRAP_TOKEN_INVALID')
    assert.equal(await fingerprint(t()), before)
    await assert.rejects(
      t().app.services.auth.issueBootstrapToken(),
      (e: { code?: string }) => e.code === 'ALREADY_BOOTSTRAPPED',
    )
  })

  it('stores only a hash of API tokens', async () => {
    const rows = await sql<{ h: string }>`SELECT encode(secret_hash, 'hex') AS h FROM api_tokens`.execute(t().db.kysely)
    assert.ok(rows.rows.length > 0)
    for (const row of rows.rows) assert.equal(row.h.length, 64)
    const hashes = await sql<{ password_hash: string }>`SELECT password_hash FROM users`.execute(t().db.kysely)
    for (const row of hashes.rows) assert.match(row.password_hash, /^\$argon2id\$/)
  })
})

forEachEngine('bootstrap token lifetime', (engine) => {
  const t = useTestApp(engine)

  it('refuses an expired bootstrap token and one replaced by a newer token', async () => {
    const old = await t().app.services.auth.issueBootstrapToken()
    const fresh = await t().app.services.auth.issueBootstrapToken()
    const replaced = await t().request({
      method: 'POST',
      url: '/v1/bootstrap',
      body: { token: old.token, orgName: 'P', email: 'o@p.test', password: PASSWORD },
    })
    assert.equal(replaced.status, 403)
    await sql`UPDATE bootstrap_tokens SET expires_at = now() - interval '1 second'`.execute(t().db.kysely)
    const expired = await t().request({
      method: 'POST',
      url: '/v1/bootstrap',
      body: { token: fresh.token, orgName: 'P', email: 'o@p.test', password: PASSWORD },
    })
    assert.equal(expired.status, 403)
    assert.equal(expired.body.code, 'BOOTSTRAP_TOKEN_INVALID')
  })
})

forEachEngine('customer orgs, members and revocation (P2.2, P2.6)', (engine) => {
  const t = useTestApp(engine, { CUSTODIAN_LOGIN_FREE_FAILURES: '3' })
  let provider: Org
  let customer: Org

  before(async () => {
    provider = await bootstrapProvider(t())
    customer = await createCustomerOrg(t(), provider, 'Customer', 'owner@customer.test')
  })

  it('gives provider principals no access inside a customer org (P2.7)', async () => {
    const response = await t().request({
      method: 'GET',
      url: `/v1/orgs/${customer.orgId}/members`,
      token: provider.ownerToken,
    })
    assert.equal(response.status, 404)
    assert.equal(response.body.code, 'NOT_FOUND')
  })

  it('lets only the provider org create orgs', async () => {
    const response = await t().request({
      method: 'POST',
      url: '/v1/orgs',
      token: customer.ownerToken,
      body: { name: 'X', ownerEmail: 'x@x.test' },
    })
    assert.equal(response.status, 403)
    assert.equal(response.body.permission, 'orgs:create')
  })

  it('revokes a removed member’s tokens and sessions at once', async () => {
    const invite = await t().request({
      method: 'POST',
      url: `/v1/orgs/${customer.orgId}/invitations`,
      token: customer.ownerToken,
      body: { email: 'bob@customer.test', role: 'admin' },
    })
    assert.equal(invite.status, 201)
    const joined = await t().request({
      method: 'POST',
      url: '/v1/invitations/accept',
      body: { token: invite.body.token, password: PASSWORD },
    })
    assert.equal(joined.status, 201)
    assert.equal(joined.body.orgId, customer.orgId)
    assert.equal(joined.body.email, 'bob@customer.test', 'the accept names the email the account signs in with')
    const login = await t().app.inject({
      method: 'POST',
      url: '/v1/login',
      payload: { email: 'bob@customer.test', password: PASSWORD },
    })
    assert.equal(login.statusCode, 200)
    const cookie = login.cookies.find((c) => c.name === '__Host-custodian_session')
    assert.ok(cookie?.httpOnly && cookie.secure && cookie.sameSite === 'Strict')
    const cookieHeader = { cookie: `${cookie.name}=${cookie.value}` }

    assert.equal(
      (await t().request({ method: 'GET', url: `/v1/orgs/${customer.orgId}/members`, token: joined.body.apiToken }))
        .status,
      200,
    )
    assert.equal(
      (await t().request({ method: 'GET', url: `/v1/orgs/${customer.orgId}/members`, headers: cookieHeader })).status,
      200,
    )

    const removed = await t().request({
      method: 'DELETE',
      url: `/v1/orgs/${customer.orgId}/members/${joined.body.userId}`,
      token: customer.ownerToken,
    })
    assert.equal(removed.status, 200)
    assert.deepEqual(removed.body, { revokedTokens: 1, revokedSessions: 1 })

    assert.equal(
      (await t().request({ method: 'GET', url: `/v1/orgs/${customer.orgId}/members`, token: joined.body.apiToken }))
        .status,
      401,
    )
    assert.equal(
      (await t().request({ method: 'GET', url: `/v1/orgs/${customer.orgId}/members`, headers: cookieHeader })).status,
      401,
    )
    const actions = (await auditActions(t(), customer.orgId)).map((e) => e.action)
    assert.ok(actions.includes('member.remove'))
  })

  it('takes a role change into effect on the next request', async () => {
    const sa = await principalWithRole(t(), customer, 'admin')
    assert.equal(
      (await t().request({ method: 'GET', url: `/v1/orgs/${customer.orgId}/tokens`, token: sa.token })).status,
      200,
    )
    await sql`UPDATE service_accounts SET role = 'viewer' WHERE id = ${sa.serviceAccountId}`.execute(t().db.kysely)
    const after = await t().request({ method: 'GET', url: `/v1/orgs/${customer.orgId}/tokens`, token: sa.token })
    assert.equal(after.status, 403)
    assert.equal(after.body.permission, 'tokens:read')
  })

  it('keeps at least one owner', async () => {
    const response = await t().request({
      method: 'DELETE',
      url: `/v1/orgs/${customer.orgId}/members/${customer.ownerId}`,
      token: customer.ownerToken,
    })
    assert.equal(response.status, 409)
    assert.equal(response.body.code, 'LAST_OWNER')
  })

  it('refuses to let an admin grant ownership', async () => {
    const admin = await principalWithRole(t(), customer, 'admin')
    const response = await t().request({
      method: 'POST',
      url: `/v1/orgs/${customer.orgId}/invitations`,
      token: admin.token,
      body: { email: 'x@customer.test', role: 'owner' },
    })
    assert.equal(response.status, 403)
  })

  it('scopes a token to a subset of its holder’s permissions, never more', async () => {
    const scoped = await t().request({
      method: 'POST',
      url: `/v1/orgs/${customer.orgId}/tokens`,
      token: customer.ownerToken,
      body: { name: 'ro', expiresInDays: 1, scopes: ['members:read'] },
    })
    assert.equal(scoped.status, 201)
    assert.equal(
      (await t().request({ method: 'GET', url: `/v1/orgs/${customer.orgId}/members`, token: scoped.body.token }))
        .status,
      200,
    )
    const refused = await t().request({
      method: 'GET',
      url: `/v1/orgs/${customer.orgId}/tokens`,
      token: scoped.body.token,
    })
    assert.equal(refused.status, 403)

    const viewer = await principalWithRole(t(), customer, 'viewer')
    const escalate = await t().request({
      method: 'POST',
      url: `/v1/orgs/${customer.orgId}/tokens`,
      token: customer.ownerToken,
      body: { name: 'x', expiresInDays: 1, scopes: ['audit:read'], serviceAccountId: viewer.serviceAccountId },
    })
    assert.equal(escalate.status, 400)
    assert.equal(escalate.body.code, 'VALIDATION_FAILED')
  })

  it('refuses an expired or revoked token', async () => {
    const made = await t().request({
      method: 'POST',
      url: `/v1/orgs/${customer.orgId}/tokens`,
      token: customer.ownerToken,
      body: { name: 'short', expiresInDays: 1 },
    })
    await sql`UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = ${made.body.id}`.execute(
      t().db.kysely,
    )
    assert.equal(
      (await t().request({ method: 'GET', url: `/v1/orgs/${customer.orgId}`, token: made.body.token })).status,
      401,
    )
    const other = await t().request({
      method: 'POST',
      url: `/v1/orgs/${customer.orgId}/tokens`,
      token: customer.ownerToken,
      body: { name: 'rev', expiresInDays: 1 },
    })
    assert.equal(
      (
        await t().request({
          method: 'DELETE',
          url: `/v1/orgs/${customer.orgId}/tokens/${other.body.id}`,
          token: customer.ownerToken,
        })
      ).status,
      204,
    )
    assert.equal(
      (await t().request({ method: 'GET', url: `/v1/orgs/${customer.orgId}`, token: other.body.token })).status,
      401,
    )
  })

  it('limits credential attempts per address (429, problem+json)', async () => {
    const statuses = []
    for (let i = 0; i < 12; i++)
      statuses.push(
        (
          await t().request({
            method: 'POST',
            url: '/v1/invitations/accept',
            body: { token: 'cst_inv_nope', password: PASSWORD },
          })
        ).status,
      )
    assert.ok(statuses.includes(429), `statuses: ${statuses.join(', ')}`)
  })

  it('slows an address after repeated failed logins instead of locking the account, and audits each failure', async () => {
    const attacker = '198.51.100.66'
    const attempts = []
    for (let i = 0; i < 3; i++)
      attempts.push(
        await t().request({
          method: 'POST',
          url: '/v1/login',
          remoteAddress: attacker,
          body: { email: 'owner@customer.test', password: 'wrong password!!' },
        }),
      )
    assert.deepEqual(
      attempts.map((a) => a.status),
      [401, 401, 401],
    )
    const slowed = await t().request({
      method: 'POST',
      url: '/v1/login',
      remoteAddress: attacker,
      body: { email: 'owner@customer.test', password: PASSWORD },
    })
    assert.equal(slowed.status, 429)
    assert.equal(slowed.body.code, 'RATE_LIMITED')
    assert.ok(Number(slowed.headers['retry-after']) > 0)
    const owner = await t().request({
      method: 'POST',
      url: '/v1/login',
      remoteAddress: '203.0.113.5',
      body: { email: 'owner@customer.test', password: PASSWORD },
    })
    assert.equal(owner.status, 200, 'the owner, from elsewhere, is not locked out')
    const failures = (await auditActions(t(), customer.orgId)).filter(
      (e) => e.action === 'auth.login' && e.outcome === 'denied',
    )
    assert.equal(failures.length, 4)
  })

  it('requires the CSRF token for state changes made with a session cookie', async () => {
    // The next step's code: the one of this step was spent confirming enrolment.
    const login = await t().app.inject({
      method: 'POST',
      url: '/v1/login',
      payload: { email: 'owner@provider.test', password: PASSWORD, code: totpCode(provider.totpSecret as string, 1) },
    })
    assert.equal(login.statusCode, 200)
    const cookie = login.cookies.find((c) => c.name === '__Host-custodian_session')
    const headers = { cookie: `${cookie?.name}=${cookie?.value}` }
    const before = await fingerprint(t())
    const refused = await t().request({
      method: 'PATCH',
      url: `/v1/orgs/${provider.orgId}`,
      headers,
      body: { name: 'Renamed' },
    })
    assert.equal(refused.status, 403)
    assert.equal(refused.body.code, 'CSRF_FAILED')
    assert.equal(await fingerprint(t()), before)
    const accepted = await t().request({
      method: 'PATCH',
      url: `/v1/orgs/${provider.orgId}`,
      headers: { ...headers, 'x-csrf-token': JSON.parse(login.body).csrfToken },
      body: { name: 'Renamed' },
    })
    assert.equal(accepted.status, 200)
    assert.equal(accepted.body.name, 'Renamed')
  })
})
