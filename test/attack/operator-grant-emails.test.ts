import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { forEachEngine } from '../helpers/db.ts'
import { bootstrapProvider, createCustomerOrg, useTestApp, type Org } from '../helpers/app.ts'

/**
 * Attack on the people maps' rule (src/db/people.ts: "never another org's people"; the
 * offboarding gives operators no requester email): an operator's own grant list
 * (`GET /v1/operator/grants`, the provider org's principal) answers each approval with the
 * customer member's email, copied when they approved — another org's people.
 */
forEachEngine('attack: a customer approver’s email in the operator’s grant list (P2.8)', (engine) => {
  const t = useTestApp(engine)
  let provider: Org
  let acme: Org

  before(async () => {
    provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', 'owner@acme.test')
  })

  it('the operator’s list names no customer member by email (P2.8)', async () => {
    const asked = await t().request({
      method: 'POST',
      url: '/v1/operator/grants',
      token: provider.ownerToken,
      body: { orgId: acme.orgId, reason: 'ticket 1: sync failures', permissions: ['org:read'] },
    })
    assert.equal(asked.status, 201, asked.text)
    const approved = await t().request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/grants/${asked.body.id}/approve`,
      token: acme.ownerToken,
      body: {},
    })
    assert.equal(approved.status, 200, approved.text)
    const mine = await t().request({ method: 'GET', url: '/v1/operator/grants', token: provider.ownerToken })
    assert.equal(mine.status, 200, mine.text)
    const grant = mine.body.grants.find((g: { id: string }) => g.id === asked.body.id)
    assert.ok(grant)
    assert.ok(!JSON.stringify(grant).includes('owner@acme.test'), JSON.stringify(grant.approvals))
  })
})
