import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { forEachEngine } from '../helpers/db.ts'
import { bootstrapProvider, createCustomerOrg, useTestApp, type Org } from '../helpers/app.ts'

/**
 * Attack on a grant's timeline in the console (P2.8, issue 13: "every use"): the grant page
 * (console/src/features/grants/api.ts, useGrantTimeline) reads one page of 500 events about
 * the grant and one page of 500 of the operator's events, and ignores `nextCursor`. Every
 * use is a `grant.use` event by the operator about the grant, so an operator who follows a
 * use they would rather not show (a reveal) with 500 cheap reads pushes it out of both
 * pages: the customer's timeline no longer lists it, and says nothing of more.
 *
 * Fixed: the timeline reads the events about the grant a page at a time ("Load earlier
 * events" follows `nextCursor`), and says when what the operator did in a page's span is
 * more than one read shows, linking to the audit log. This test makes the console's reads.
 */
forEachEngine('attack: a grant’s timeline flooded past one page (P2.8)', (engine) => {
  const t = useTestApp(engine, { CUSTODIAN_AUTH_RATE_LIMIT: '100000' })
  let provider: Org
  let acme: Org

  before(async () => {
    provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', 'owner@acme.test')
  })

  it('the console’s timeline pages still list the first use after 500 more (P2.8)', async () => {
    const asked = await t().request({
      method: 'POST',
      url: '/v1/operator/grants',
      token: provider.ownerToken,
      body: { orgId: acme.orgId, reason: 'ticket 9: sync failures', permissions: ['org:read', 'members:read'] },
    })
    assert.equal(asked.status, 201, asked.text)
    const grant = asked.body
    const approved = await t().request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/grants/${grant.id}/approve`,
      token: acme.ownerToken,
      body: {},
    })
    assert.equal(approved.status, 200, approved.text)
    const under = (url: string) =>
      t().request({ method: 'GET', url, token: provider.ownerToken, headers: { 'x-custodian-grant': grant.id } })
    // The use to hide: the org's members read.
    assert.equal((await under(`/v1/orgs/${acme.orgId}/members`)).status, 200)
    for (let i = 0; i < 501; i++) assert.equal((await under(`/v1/orgs/${acme.orgId}/grant-policy`)).status, 200)

    // The console's timeline (useGrantTimeline) as the org's owner: pages of events about the
    // grant, followed to the end by "Load earlier events" — every use is among them.
    const shown: { details: { route?: string; grant?: string } }[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const r = await t().request({
        method: 'GET',
        url: `/v1/orgs/${acme.orgId}/audit/events?target=${grant.id}&limit=200${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`,
        token: acme.ownerToken,
      })
      assert.equal(r.status, 200, r.text)
      shown.push(...r.body.events)
      cursor = r.body.nextCursor
      pages++
    } while (cursor !== null && pages < 10)
    assert.ok(pages > 1, 'the flood spans several pages')
    assert.ok(
      shown.some((e) => e.details.route === 'GET /v1/orgs/:orgId/members'),
      'the members read under the grant is on the timeline',
    )
  })
})
