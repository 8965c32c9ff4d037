import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { forEachEngine } from '../helpers/db.ts'
import { auditActions, bootstrapProvider, createCustomerOrg, PASSWORD, useTestApp, type Org } from '../helpers/app.ts'

forEachEngine('session management', (engine) => {
  const t = useTestApp(engine, { CUSTODIAN_AUTH_RATE_LIMIT: '1000' })
  let org: Org

  async function login(email: string): Promise<{ cookie: Record<string, string>; csrf: string }> {
    const response = await t().app.inject({ method: 'POST', url: '/v1/login', payload: { email, password: PASSWORD } })
    assert.equal(response.statusCode, 200, response.body)
    const cookie = response.cookies.find((c) => c.name === '__Host-custodian_session')
    return { cookie: { cookie: `${cookie?.name}=${cookie?.value}` }, csrf: JSON.parse(response.body).csrfToken }
  }

  before(async () => {
    const provider = await bootstrapProvider(t())
    org = await createCustomerOrg(t(), provider, 'Sessions Org', 'owner@sessions.test')
    const invite = await t().request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/invitations`,
      token: org.ownerToken,
      body: { email: 'member@sessions.test', role: 'member' },
    })
    await t().request({
      method: 'POST',
      url: '/v1/invitations/accept',
      body: { token: invite.body.token, password: PASSWORD },
    })
  })

  it('lists your own sessions and ends one, effective on its next request', async () => {
    const a = await login('member@sessions.test')
    const b = await login('member@sessions.test')
    const mine = await t().request({ method: 'GET', url: '/v1/me/sessions', headers: a.cookie })
    assert.equal(mine.status, 200)
    assert.equal(mine.body.sessions.length, 2)
    assert.equal(mine.body.sessions.filter((s: { current: boolean }) => s.current).length, 1)
    assert.ok(!mine.text.includes('cst_ses_'), 'no session secret is ever listed')
    const other = mine.body.sessions.find((s: { current: boolean }) => !s.current)
    const ended = await t().request({
      method: 'DELETE',
      url: `/v1/me/sessions/${other.id}`,
      headers: { ...a.cookie, 'x-csrf-token': a.csrf },
    })
    assert.equal(ended.status, 204)
    assert.equal((await t().request({ method: 'GET', url: '/v1/me', headers: b.cookie })).status, 401)
    assert.equal((await t().request({ method: 'GET', url: '/v1/me', headers: a.cookie })).status, 200)
  })

  it('lets an admin end a member’s session, but a member not someone else’s', async () => {
    const memberSession = await login('member@sessions.test')
    const ownerSession = await login('owner@sessions.test')
    const all = await t().request({ method: 'GET', url: `/v1/orgs/${org.orgId}/sessions`, token: org.ownerToken })
    assert.equal(all.status, 200)
    const ownersId = all.body.sessions.find((s: { email: string }) => s.email === 'owner@sessions.test').id
    const refused = await t().request({
      method: 'DELETE',
      url: `/v1/me/sessions/${ownersId}`,
      headers: { ...memberSession.cookie, 'x-csrf-token': memberSession.csrf },
    })
    assert.equal(refused.status, 404)
    assert.equal(
      (await t().request({ method: 'GET', url: `/v1/orgs/${org.orgId}/sessions`, headers: memberSession.cookie }))
        .status,
      403,
    )
    const membersId = all.body.sessions.find((s: { email: string }) => s.email === 'member@sessions.test').id
    assert.equal(
      (
        await t().request({
          method: 'DELETE',
          url: `/v1/orgs/${org.orgId}/sessions/${membersId}`,
          token: org.ownerToken,
        })
      ).status,
      204,
    )
    assert.equal((await t().request({ method: 'GET', url: '/v1/me', headers: memberSession.cookie })).status, 401)
    assert.equal((await t().request({ method: 'GET', url: '/v1/me', headers: ownerSession.cookie })).status, 200)
    assert.ok((await auditActions(t(), org.orgId)).some((e) => e.action === 'session.revoke'))
  })
})
