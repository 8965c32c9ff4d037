import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { forEachEngine } from '../helpers/db.ts'
import { bootstrapProvider, createCustomerOrg, principalWithRole, useTestApp, type Org } from '../helpers/app.ts'

/**
 * Attack on "nobody reviews their own access" (P2.5): a member's own membership and a
 * holder's own API token are refused to them, but a service account's token (an admin one
 * holds reviews:decide) certified the service account's own item, and the review recorded
 * it as an ordinary certification.
 */
forEachEngine('attack: a service account certifies itself in an access review (P2.5)', (engine) => {
  const t = useTestApp(engine)
  let org: Org

  before(async () => {
    const provider = await bootstrapProvider(t())
    org = await createCustomerOrg(t(), provider, 'Selfie', 'owner@selfie.test')
  })

  it('a service account may not decide its own item; another reviewer decides it (P2.5)', async () => {
    const at = (path: string) => `/v1/orgs/${org.orgId}${path}`
    const robot = await principalWithRole(t(), org, 'admin')
    const started = await t().request({ method: 'POST', url: at('/access-reviews'), token: org.ownerToken })
    assert.equal(started.status, 201, started.text)
    const items = await t().request({
      method: 'GET',
      url: at(`/access-reviews/${started.body.id}/items?limit=500`),
      token: org.ownerToken,
    })
    assert.equal(items.status, 200, items.text)
    const item = (items.body.items as { id: string; kind: string; subjectId: string }[]).find(
      (i) => i.kind === 'service_account' && i.subjectId === robot.serviceAccountId,
    )
    assert.ok(item)
    const decision = `/access-reviews/${started.body.id}/items/${item.id}/decision`
    const self = await t().request({
      method: 'POST',
      url: at(decision),
      token: robot.token,
      body: { decision: 'certify', note: 'looks fine to me' },
    })
    assert.equal(self.status, 403, self.text)
    assert.equal(self.body.code, 'FORBIDDEN')
    // The org's owner, another reviewer, still decides it.
    const other = await t().request({
      method: 'POST',
      url: at(decision),
      token: org.ownerToken,
      body: { decision: 'certify' },
    })
    assert.equal(other.status, 200, other.text)
  })
})
