import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { forEachEngine } from '../helpers/db.ts'
import { bootstrapProvider, createCustomerOrg, PASSWORD, useTestApp, type Org } from '../helpers/app.ts'

interface AccountOrg {
  orgId: string
  name: string
  kind: string
  role: string
  joinedAt: string
  suspendedAt: string | null
  current: boolean
}

// GET /v1/me/orgs (issue 12, the console's org picker): the orgs an account belongs to.
forEachEngine('the orgs of an account', (engine) => {
  const t = useTestApp(engine, { CUSTODIAN_AUTH_RATE_LIMIT: '1000' })
  let provider: Org
  let alpha: Org
  let beta: Org
  let gamma: Org
  const shared = 'shared@orgs.test'

  async function signIn(email: string, orgId: string): Promise<Record<string, string>> {
    const response = await t().app.inject({
      method: 'POST',
      url: '/v1/login',
      payload: { email, password: PASSWORD, orgId },
    })
    assert.equal(response.statusCode, 200, response.body)
    const cookie = response.cookies.find((c) => c.name === '__Host-custodian_session')
    return { cookie: `${cookie?.name}=${cookie?.value}` }
  }

  async function join(org: Org, email: string, role: string): Promise<string> {
    const invite = await t().request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/invitations`,
      token: org.ownerToken,
      body: { email, role },
    })
    assert.equal(invite.status, 201, invite.text)
    const accepted = await t().request({
      method: 'POST',
      url: '/v1/invitations/accept',
      body: { token: invite.body.token, password: PASSWORD },
    })
    assert.equal(accepted.status, 201, accepted.text)
    return accepted.body.userId
  }

  before(async () => {
    provider = await bootstrapProvider(t())
    alpha = await createCustomerOrg(t(), provider, 'Alpha', 'owner@alpha.test')
    beta = await createCustomerOrg(t(), provider, 'Beta', 'owner@beta.test')
    gamma = await createCustomerOrg(t(), provider, 'Gamma', 'owner@gamma.test')
    await join(alpha, shared, 'admin')
    await join(beta, shared, 'member')
    const userId = await join(gamma, shared, 'viewer')
    const suspended = await t().request({
      method: 'POST',
      url: `/v1/orgs/${gamma.orgId}/members/${userId}/suspend`,
      token: gamma.ownerToken,
    })
    assert.equal(suspended.status, 200, suspended.text)
  })

  it('lists every org of a session’s account, oldest membership first, with role, suspension and the current org', async () => {
    const session = await signIn(shared, beta.orgId)
    const listed = await t().request({ method: 'GET', url: '/v1/me/orgs', headers: session })
    assert.equal(listed.status, 200, listed.text)
    const orgs: AccountOrg[] = listed.body.orgs
    assert.deepEqual(
      orgs.map((o) => [o.name, o.kind, o.role, o.current, o.suspendedAt !== null]),
      [
        ['Alpha', 'customer', 'admin', false, false],
        ['Beta', 'customer', 'member', true, false],
        ['Gamma', 'customer', 'viewer', false, true],
      ],
    )
    assert.deepEqual(
      orgs.map((o) => o.orgId),
      [alpha.orgId, beta.orgId, gamma.orgId],
    )
    assert.equal(listed.body.nextCursor, null)
    // Another account's orgs never show: the owner of Alpha sees Alpha alone.
    const owner = await signIn('owner@alpha.test', alpha.orgId)
    const own = await t().request({ method: 'GET', url: '/v1/me/orgs', headers: owner })
    assert.deepEqual(
      own.body.orgs.map((o: AccountOrg) => o.orgId),
      [alpha.orgId],
    )
  })

  it('pages with a cursor, each org once', async () => {
    const session = await signIn(shared, alpha.orgId)
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const url: string = `/v1/me/orgs?limit=1${cursor === null ? '' : `&cursor=${cursor}`}`
      const page = await t().request({ method: 'GET', url, headers: session })
      assert.equal(page.status, 200, page.text)
      assert.ok(page.body.orgs.length <= 1)
      seen.push(...page.body.orgs.map((o: AccountOrg) => o.orgId))
      cursor = page.body.nextCursor
    } while (cursor !== null)
    assert.deepEqual(seen, [alpha.orgId, beta.orgId, gamma.orgId])
  })

  it('lists only its own org to an API token, a user’s or a service account’s', async () => {
    const mine = await t().request({ method: 'GET', url: '/v1/me/orgs', token: alpha.ownerToken })
    assert.equal(mine.status, 200, mine.text)
    assert.deepEqual(
      mine.body.orgs.map((o: AccountOrg) => [o.orgId, o.role, o.current]),
      [[alpha.orgId, 'owner', true]],
    )
    const account = await t().request({
      method: 'POST',
      url: `/v1/orgs/${beta.orgId}/service-accounts`,
      token: beta.ownerToken,
      body: { name: 'ci', role: 'viewer' },
    })
    assert.equal(account.status, 201, account.text)
    const token = await t().request({
      method: 'POST',
      url: `/v1/orgs/${beta.orgId}/tokens`,
      token: beta.ownerToken,
      body: { name: 'ci token', expiresInDays: 1, serviceAccountId: account.body.id },
    })
    assert.equal(token.status, 201, token.text)
    const its = await t().request({ method: 'GET', url: '/v1/me/orgs', token: token.body.token })
    assert.equal(its.status, 200, its.text)
    assert.deepEqual(
      its.body.orgs.map((o: AccountOrg) => [o.orgId, o.name, o.role, o.current, o.suspendedAt]),
      [[beta.orgId, 'Beta', 'viewer', true, null]],
    )
  })

  it('answers 401 without credentials and 400 (problem+json, naming the field) to a bad cursor or limit', async () => {
    const none = await t().request({ method: 'GET', url: '/v1/me/orgs' })
    assert.equal(none.status, 401)
    const session = await signIn(shared, alpha.orgId)
    for (const [query, field] of [
      ['cursor=not-a-cursor', '/query/cursor'],
      ['limit=0', '/query/limit'],
      ['limit=100000', '/query/limit'],
      ['unknown=1', 'unknown field \\"unknown\\"'],
    ] as const) {
      const bad = await t().request({ method: 'GET', url: `/v1/me/orgs?${query}`, headers: session })
      assert.equal(bad.status, 400, `${query}: ${bad.text}`)
      assert.match(String(bad.headers['content-type']), /application\/problem\+json/)
      assert.ok(JSON.stringify(bad.body).includes(field), `${query} names ${field}: ${bad.text}`)
    }
  })
})
