import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { forEachEngine } from '../helpers/db.ts'
import { bootstrapProvider, createCustomerOrg, principalWithRole, useTestApp, type Org } from '../helpers/app.ts'

/**
 * Attack on an access review's `reduce` (P2.5): the decision named "reduce" takes any role but
 * owner and never compares it with the one held, so a reviewer raises a service account
 * (viewer → admin) and the review records it as a reduction.
 */
forEachEngine('attack: an access review reduce that raises (P2.5)', (engine) => {
  const t = useTestApp(engine)
  let org: Org

  before(async () => {
    const provider = await bootstrapProvider(t())
    org = await createCustomerOrg(t(), provider, 'Raise', 'owner@raise.test')
  })

  it('reduce refuses a role wider than the one a service account holds; its role is unchanged (P2.5)', async () => {
    const at = (path: string) => `/v1/orgs/${org.orgId}${path}`
    const robot = await principalWithRole(t(), org, 'viewer')
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
    const raised = await t().request({
      method: 'POST',
      url: at(`/access-reviews/${started.body.id}/items/${item.id}/decision`),
      token: org.ownerToken,
      body: { decision: 'reduce', role: 'admin' },
    })
    const accounts = await t().request({ method: 'GET', url: at('/service-accounts'), token: org.ownerToken })
    const role = accounts.body.serviceAccounts.find((a: { id: string }) => a.id === robot.serviceAccountId).role
    assert.equal(role, 'viewer', `a "reduce" made it ${role} (${raised.status} ${raised.body.outcome ?? ''})`)
    assert.equal(raised.status, 400, raised.text)
  })
})
