import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { forEachEngine } from '../helpers/db.ts'
import { bootstrapProvider, createCustomerOrg, useTestApp, type Org } from '../helpers/app.ts'

/**
 * Attack on the grant policy (P2.8): a request kept the policy of the moment it was made
 * (approvers needed, its duration checked against the longest grant), and an approval read
 * nothing else. An org that tightens its policy — two approvers, 7 days at most — while a
 * request is pending still had it opened by one approver, for 21 days.
 */
forEachEngine('attack: a pending grant approved under the policy it was asked under (P2.8)', (engine) => {
  const t = useTestApp(engine)
  let provider: Org
  let acme: Org

  before(async () => {
    provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', 'owner@acme.test')
  })

  const ask = async () => {
    const asked = await t().request({
      method: 'POST',
      url: '/v1/operator/grants',
      token: provider.ownerToken,
      body: { orgId: acme.orgId, reason: 'ticket 7: sync failures', permissions: ['org:read'], durationDays: 21 },
    })
    assert.equal(asked.status, 201, asked.text)
    return asked.body.id as string
  }
  const policy = async (maxDays: number, requiredApprovals: number) => {
    const set = await t().request({
      method: 'PUT',
      url: `/v1/orgs/${acme.orgId}/grant-policy`,
      token: acme.ownerToken,
      body: { maxDays, requiredApprovals },
    })
    assert.equal(set.status, 200, set.text)
  }
  const approve = (id: string) =>
    t().request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/grants/${id}/approve`,
      token: acme.ownerToken,
      body: {},
    })

  it('two approvers required since the request: one approval opens nothing (P2.8)', async () => {
    await policy(21, 1)
    const id = await ask()
    await policy(21, 2)
    const approved = await approve(id)
    assert.equal(approved.status, 200, approved.text)
    assert.equal(approved.body.status, 'pending', 'one approval opened a grant the org now wants two people for')
    assert.equal(approved.body.requiredApprovals, 2)
  })

  it('a shorter longest grant since the request: approving it is refused, it stays pending (P2.8)', async () => {
    await policy(21, 1)
    const id = await ask()
    await policy(7, 1)
    const approved = await approve(id)
    assert.equal(approved.status, 409, `${approved.status}: ${approved.body.status} until ${approved.body.expiresAt}`)
    const grant = await t().request({
      method: 'GET',
      url: `/v1/orgs/${acme.orgId}/grants/${id}`,
      token: acme.ownerToken,
    })
    assert.equal(grant.body.status, 'pending')
  })
})
