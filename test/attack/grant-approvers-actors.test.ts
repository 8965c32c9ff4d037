import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { forEachEngine } from '../helpers/db.ts'
import { bootstrapProvider, createCustomerOrg, PASSWORD, useTestApp, type Org } from '../helpers/app.ts'
import { enrolTotp } from '../helpers/totp.ts'

const OPERATOR = 'owner@provider.test'
const ORIGIN = 'https://app.acme.test'

/**
 * Attacks on what landed for issues 13 and 22 around diagnostic access grants (P2.8): who
 * else may approve (`otherApprovers`) is told only to those who may approve the grant; an
 * operator reads only their own grants by id; the org's events page and the embedded
 * viewer never name the operator (outside the org) by email.
 */
forEachEngine('attack: grant approvers, own grants and actor emails (P2.8)', (engine) => {
  const t = useTestApp(engine, { CUSTODIAN_AUTH_RATE_LIMIT: '1000' })
  let provider: Org
  let acme: Org
  let lite = ''
  let secondOperator = ''

  const call = (method: string, tail: string, token: string, extra: { body?: unknown; grant?: string } = {}) =>
    t().request({
      method,
      url: `/v1/orgs/${acme.orgId}${tail}`,
      token,
      body: extra.body,
      headers: extra.grant === undefined ? {} : { 'x-custodian-grant': extra.grant },
    })
  const ask = async (permissions: string[]) => {
    const asked = await t().request({
      method: 'POST',
      url: '/v1/operator/grants',
      token: provider.ownerToken,
      body: { orgId: acme.orgId, reason: 'ticket 9001: attack review', permissions },
    })
    assert.equal(asked.status, 201, asked.text)
    return asked.body.id as string
  }

  before(async () => {
    provider = await bootstrapProvider(t(), OPERATOR)
    acme = await createCustomerOrg(t(), provider, 'Acme', 'owner@acme.test')
    const role = await call('POST', '/roles', acme.ownerToken, {
      body: { name: 'approver-lite', permissions: ['grants:approve', 'grants:read'] },
    })
    assert.equal(role.status, 201, role.text)
    const invite = await call('POST', '/invitations', acme.ownerToken, {
      body: { email: 'lite@acme.test', role: 'approver-lite' },
    })
    assert.equal(invite.status, 201, invite.text)
    const joined = await t().request({
      method: 'POST',
      url: '/v1/invitations/accept',
      body: { token: invite.body.token, password: PASSWORD },
    })
    assert.equal(joined.status, 201, joined.text)
    lite = joined.body.apiToken
    // A second operator of the provider org, enrolled as operators must be.
    const op = await t().request({
      method: 'POST',
      url: `/v1/orgs/${provider.orgId}/invitations`,
      token: provider.ownerToken,
      body: { email: 'second@provider.test', role: 'admin' },
    })
    assert.equal(op.status, 201, op.text)
    const opJoined = await t().request({
      method: 'POST',
      url: '/v1/invitations/accept',
      body: { token: op.body.token, password: PASSWORD },
    })
    assert.equal(opJoined.status, 201, opJoined.text)
    secondOperator = opJoined.body.apiToken
    await enrolTotp((method, url, body) => t().request({ method, url, token: secondOperator, body }))
  })

  it('attack: an approver who may not approve a grant is not told who else may (P2.8)', async () => {
    const grantId = await ask(['org:read'])
    // approver-lite holds grants:approve but not org:read: it may not open what it lacks.
    const refused = await call('POST', `/grants/${grantId}/approve`, lite, { body: {} })
    assert.equal(refused.status, 403, refused.text)
    const seen = await call('GET', `/grants/${grantId}`, lite)
    assert.equal(seen.status, 200, seen.text)
    assert.equal(
      'otherApprovers' in seen.body,
      false,
      `told to one who may not approve: ${JSON.stringify(seen.body.otherApprovers)}`,
    )
    const listed = await call('GET', '/grants', lite)
    const row = listed.body.grants.find((g: { id: string }) => g.id === grantId)
    assert.equal('otherApprovers' in row, false, 'nor in the list')
    assert.equal((await call('POST', `/grants/${grantId}/deny`, acme.ownerToken, { body: {} })).status, 200)
  })

  it('attack: another operator, or a customer, reads an operator’s grant by id (P2.8)', async () => {
    const grantId = await ask(['org:read'])
    const byOther = await t().request({ method: 'GET', url: `/v1/operator/grants/${grantId}`, token: secondOperator })
    assert.equal(byOther.status, 404, byOther.text)
    assert.ok(!byOther.text.includes('ticket 9001'))
    const byCustomer = await t().request({
      method: 'GET',
      url: `/v1/operator/grants/${grantId}`,
      token: acme.ownerToken,
    })
    assert.ok([403, 404].includes(byCustomer.status), byCustomer.text)
    assert.ok(!byCustomer.text.includes('ticket 9001'))
    const withdrawn = await t().request({
      method: 'POST',
      url: `/v1/operator/grants/${grantId}/withdraw`,
      token: secondOperator,
      body: {},
    })
    assert.equal(withdrawn.status, 404, 'another operator cannot withdraw it either')
    const mine = await t().request({ method: 'GET', url: `/v1/operator/grants/${grantId}`, token: provider.ownerToken })
    assert.equal(mine.status, 200, mine.text)
    assert.equal('otherApprovers' in mine.body, false)
    assert.ok(!mine.text.includes('owner@acme.test') && !mine.text.includes('lite@acme.test'))
  })

  it('attack: an operator acting under a grant is never named by email to the org, nor in the viewer (P2.8)', async () => {
    const grantId = await ask(['audit:read', 'grants:read'])
    assert.equal((await call('POST', `/grants/${grantId}/approve`, acme.ownerToken, { body: {} })).status, 200)
    // The operator uses the grant: reads the org's events and its grants.
    const read = await call('GET', '/audit/events?limit=50', provider.ownerToken, { grant: grantId })
    assert.equal(read.status, 200, read.text)
    const grants = await call('GET', `/grants/${grantId}`, provider.ownerToken, { grant: grantId })
    assert.equal(grants.status, 200, grants.text)
    assert.equal('otherApprovers' in grants.body, false, 'a grant never carries grants:approve')
    // A pending one, under the grant: still nobody who may approve is named to the operator.
    const pending = await ask(['org:read'])
    const pendingSeen = await call('GET', `/grants/${pending}`, provider.ownerToken, { grant: grantId })
    assert.equal(pendingSeen.status, 200, pendingSeen.text)
    assert.equal('otherApprovers' in pendingSeen.body, false)

    // The org's page: every event of the operator is there, none names them by email.
    const page = await call('GET', `/audit/events?actor=${provider.ownerId}&limit=500`, acme.ownerToken)
    assert.equal(page.status, 200, page.text)
    const events = page.body.events as { action: string; actorEmail: string | null }[]
    assert.ok(events.some((e) => e.action === 'grant.use'))
    assert.ok(
      events.every((e) => e.actorEmail === null),
      JSON.stringify(events.map((e) => e.actorEmail)),
    )
    const whole = await call('GET', '/audit/events?limit=500', acme.ownerToken)
    assert.ok(
      (whole.body.events as { actorEmail: string | null }[]).every((e) => e.actorEmail !== OPERATOR),
      'no event names the operator',
    )
    // A secret id given in a path under the grant is recorded only by its shape.
    const probe = await call('GET', '/secrets/not-a-uuid%20owner@acme.test', provider.ownerToken, { grant: grantId })
    assert.ok(probe.status >= 400)
    const uses = (await t()
      .db.kysely.selectFrom('audit_events')
      .select(['details'])
      .where('org_id', '=', acme.orgId)
      .where('action', '=', 'grant.use')
      .execute()) as { details: Record<string, unknown> }[]
    assert.ok(uses.length > 0)
    assert.ok(!JSON.stringify(uses).includes('not-a-uuid'), 'nothing but an id’s shape from the path')

    // The embedded viewer: no actorEmail at all, and no operator email.
    const issued = await call('POST', '/audit/viewer-tokens', acme.ownerToken, { body: { origin: ORIGIN } })
    assert.equal(issued.status, 201, issued.text)
    const viewed = await t().request({
      method: 'GET',
      url: '/v1/viewer/events?limit=500',
      token: issued.body.token,
      headers: { origin: ORIGIN },
    })
    assert.equal(viewed.status, 200, viewed.text)
    assert.ok(viewed.body.events.length > 0)
    assert.ok(!viewed.text.includes('actorEmail'), 'the viewer’s API carries no actorEmail')
    const naming = (viewed.body.events as { action: string; details?: unknown }[])
      .filter((e) => JSON.stringify(e).includes(OPERATOR))
      .map((e) => e.action)
    assert.deepEqual(
      [...new Set(naming)],
      ['grant.request'],
      'the operator’s email only where the org is told who asked (grant.request details.grantee)',
    )
  })
})
