import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { forEachEngine } from '../helpers/db.ts'
import {
  auditActions,
  bootstrapProvider,
  createCustomerOrg,
  fingerprint,
  PASSWORD,
  useTestApp,
  type Org,
} from '../helpers/app.ts'

/** P2.6: an admin can suspend a member without removing them; it takes effect at once. */
forEachEngine('suspending a member (P2.6)', (engine) => {
  const t = useTestApp(engine, { CUSTODIAN_AUTH_RATE_LIMIT: '1000' })
  let org: Org
  let bob: { userId: string; apiToken: string }
  let session: Record<string, string>
  const member = (verb: 'suspend' | 'resume', userId = bob.userId, token = org.ownerToken) =>
    t().request({ method: 'POST', url: `/v1/orgs/${org.orgId}/members/${userId}/${verb}`, token })

  before(async () => {
    const provider = await bootstrapProvider(t())
    org = await createCustomerOrg(t(), provider, 'Acme', 'owner@acme.test')
    const invite = await t().request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/invitations`,
      token: org.ownerToken,
      body: { email: 'bob@acme.test', role: 'admin' },
    })
    bob = (
      await t().request({
        method: 'POST',
        url: '/v1/invitations/accept',
        body: { token: invite.body.token, password: PASSWORD },
      })
    ).body as typeof bob
    const login = await t().app.inject({
      method: 'POST',
      url: '/v1/login',
      payload: { email: 'bob@acme.test', password: PASSWORD },
    })
    const cookie = login.cookies.find((c) => c.name === '__Host-custodian_session')
    session = { cookie: `${cookie?.name}=${cookie?.value}` }
  })

  it('stops every token and session of the member at once, and their sign-in', async () => {
    assert.equal((await t().request({ method: 'GET', url: `/v1/orgs/${org.orgId}`, token: bob.apiToken })).status, 200)
    const suspended = await member('suspend')
    assert.equal(suspended.status, 200, suspended.text)
    assert.ok(suspended.body.suspendedAt !== null)
    assert.equal((await t().request({ method: 'GET', url: `/v1/orgs/${org.orgId}`, token: bob.apiToken })).status, 401)
    assert.equal((await t().request({ method: 'GET', url: '/v1/me', headers: session })).status, 401)
    assert.equal(
      (await t().request({ method: 'POST', url: '/v1/login', body: { email: 'bob@acme.test', password: PASSWORD } }))
        .status,
      401,
    )
    const listed = await t().request({ method: 'GET', url: `/v1/orgs/${org.orgId}/members`, token: org.ownerToken })
    assert.ok(
      listed.body.members.find((m: { userId: string }) => m.userId === bob.userId).suspendedAt !== null,
      'still a member, shown suspended',
    )
  })

  it('restores access on resume, the same tokens and sessions included', async () => {
    assert.equal((await member('resume')).status, 200)
    assert.equal((await t().request({ method: 'GET', url: `/v1/orgs/${org.orgId}`, token: bob.apiToken })).status, 200)
    assert.equal((await t().request({ method: 'GET', url: '/v1/me', headers: session })).status, 200)
    const actions = (await auditActions(t(), org.orgId)).map((e) => e.action)
    assert.ok(actions.includes('member.suspend') && actions.includes('member.resume'))
  })

  it('never leaves the org without an active owner, and nobody suspends themselves', async () => {
    const before = await fingerprint(t())
    assert.equal((await member('suspend', org.ownerId, bob.apiToken)).status, 403, 'an admin cannot suspend an owner')
    const self = await member('suspend', bob.userId, bob.apiToken)
    assert.equal(self.status, 409)
    assert.equal(await fingerprint(t()), before)
    assert.equal(
      (
        await t().request({
          method: 'PATCH',
          url: `/v1/orgs/${org.orgId}/members/${bob.userId}`,
          token: org.ownerToken,
          body: { role: 'owner' },
        })
      ).status,
      200,
    )
    assert.equal((await member('suspend', org.ownerId, bob.apiToken)).status, 200, 'one owner suspends another')
    const last = await member('suspend', bob.userId, org.ownerToken)
    assert.equal(last.status, 401, 'the suspended owner is out')
    const lastOwner = await t().request({
      method: 'DELETE',
      url: `/v1/orgs/${org.orgId}/members/${bob.userId}`,
      token: bob.apiToken,
    })
    assert.equal(lastOwner.status, 409, 'a suspended owner does not count as the one that remains')
    assert.equal(lastOwner.body.code, 'LAST_OWNER')
  })
})
