import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { forEachEngine } from '../helpers/db.ts'
import { bootstrapProvider, createCustomerOrg, principalWithRole, useTestApp, type Org } from '../helpers/app.ts'

/**
 * Attack on the events page's `actorEmail` (issue 13, P5.2): a host application that writes
 * its own events (audit:write) names as actor the Custodian user id of the org's owner, or
 * of another org's person. If the page resolved that id, the app could make the log say
 * "owner@acme did it" — or learn an outsider's email. Only Custodian's own events are named.
 */
forEachEngine('attack: an application event names a Custodian user as its actor (P5.2)', (engine) => {
  const t = useTestApp(engine)
  let acme: Org
  let other: Org
  let writer = ''
  const as = (method: string, tail: string, body?: unknown, token = acme.ownerToken) =>
    t().request({ method, url: `/v1/orgs/${acme.orgId}${tail}`, token, body })

  before(async () => {
    const provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', `owner@${engine}.actor-spoof.test`)
    other = await createCustomerOrg(t(), provider, 'Other', `owner@${engine}.other-spoof.test`)
    const role = await as('POST', '/roles', { name: 'app-events', permissions: ['audit:write'] })
    assert.equal(role.status, 201, role.text)
    writer = (await principalWithRole(t(), acme, 'app-events')).token
  })

  it('attack: an application event with a member’s or an outsider’s user id is not named by email (P5.2)', async () => {
    for (const [id, actorId] of [
      ['spoof-owner', acme.ownerId],
      ['spoof-outsider', other.ownerId],
      ['spoof-prefixed', `user:${acme.ownerId}`],
    ] as const) {
      const recorded = await as(
        'POST',
        '/audit/events',
        {
          id,
          action: 'document.delete',
          actor: { id: actorId, type: 'user' },
          targets: [{ type: 'document', id: 'd1' }],
        },
        writer,
      )
      assert.equal(recorded.status, 201, recorded.text)
    }
    await t().app.sequencer.flush()
    const page = await as('GET', '/audit/events?action=document.delete&limit=50')
    assert.equal(page.status, 200, page.text)
    const events = page.body.events as { actorEmail: string | null; origin: string }[]
    assert.equal(events.length, 3, page.text)
    assert.ok(
      events.every((e) => e.actorEmail === null),
      JSON.stringify(events.map((e) => [e.origin, e.actorEmail])),
    )
    assert.ok(!page.text.includes(`owner@${engine}.other-spoof.test`), 'no outsider’s email')
  })
})
