import assert from 'node:assert/strict'
import { after, before, it } from 'node:test'
import { forEachEngine } from '../helpers/db.ts'
import { bootstrapProvider, createCustomerOrg, useTestApp, type Org } from '../helpers/app.ts'

/** K8: a status answers what it says — the chained head stays the chained head while newer events wait. */
forEachEngine('audit status with events waiting to be chained (P5.2, K8)', (engine) => {
  const t = useTestApp(engine, { CUSTODIAN_AUDIT_CHECKPOINT_EVERY: '5' })
  let org: Org
  let provider: Org

  before(async () => {
    provider = await bootstrapProvider(t())
    org = await createCustomerOrg(t(), provider, 'status', 'owner@status.test')
    for (let i = 0; i < 12; i++) {
      const r = await t().request({
        method: 'POST',
        url: `/v1/orgs/${org.orgId}/service-accounts`,
        token: org.ownerToken,
        body: { name: `sa-${i}`, role: 'viewer' },
      })
      assert.equal(r.status, 201)
    }
    await t().app.sequencer.flush()
  })
  after(() => t().app.sequencer.start())

  const status = async () => {
    const r = await t().request({ method: 'GET', url: `/v1/orgs/${org.orgId}/audit/status`, token: org.ownerToken })
    assert.equal(r.status, 200, r.text)
    return r.body
  }

  it('reports the chained head, not the newest event, and counts what waits (K8)', async () => {
    const settled = await status()
    assert.ok(settled.headSeq >= 12)
    assert.equal(settled.unchained, 0)
    assert.equal(settled.oldestUnchainedAt, null)

    await t().app.sequencer.stop()
    const sent = new Date()
    for (let i = 0; i < 3; i++) {
      const r = await t().request({
        method: 'POST',
        url: `/v1/orgs/${org.orgId}/service-accounts`,
        token: org.ownerToken,
        body: { name: `late-${i}`, role: 'viewer' },
      })
      assert.equal(r.status, 201)
    }
    const pending = await status()
    // The status request itself is not audited, so the head is exactly where the sequencer left it.
    assert.ok(pending.headSeq >= settled.headSeq, 'the chained head does not go back to 0')
    assert.match(String(pending.headHash), /^[0-9a-f]{64}$/)
    const head = await t()
      .db.kysely.selectFrom('audit_chain')
      .select(['seq', 'hash'])
      .where('org_id', '=', org.orgId)
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirstOrThrow()
    assert.equal(pending.headSeq, Number(head.seq))
    assert.equal(pending.headHash, Buffer.from(head.hash).toString('hex'))
    assert.ok(pending.unchained >= 3)
    assert.ok(pending.oldestUnchainedAt !== null && Date.parse(pending.oldestUnchainedAt) >= sent.getTime() - 1000)
    assert.ok(pending.lastCheckpointSeq > 0 && pending.lastCheckpointSeq <= pending.headSeq)

    // The operator's view of the same chain tells the same truth (K8 sweep: every status).
    const listed = await t().request({ method: 'GET', url: '/v1/operator/orgs?limit=500', token: provider.ownerToken })
    assert.equal(listed.status, 200, listed.text)
    const health = (listed.body.orgs as { id: string; audit: { headSeq: number; unchained: number } }[]).find(
      (o) => o.id === org.orgId,
    )
    assert.equal(health?.audit.headSeq, pending.headSeq)
    assert.ok((health?.audit.unchained ?? 0) >= 3)

    await t().app.sequencer.flush()
    const after = await status()
    assert.equal(after.unchained, 0)
    assert.ok(after.headSeq >= pending.headSeq + 3)
  })
})
