import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { withOrg } from '../../src/db/tenant.ts'
import { forEachEngine } from '../helpers/db.ts'
import { auditActions, bootstrapProvider, createCustomerOrg, testClock, useTestApp, type Org } from '../helpers/app.ts'

const DAY = 86_400_000

/** The consent jobs (P7.7): expire events when a lifetime ends; objection deadlines on the clocks. */
forEachEngine('consent jobs: expiry and objection deadlines (P7.7, Art. 12(3), 21)', (engine) => {
  const time = testClock()
  const t = useTestApp(engine, {}, undefined, undefined, { clock: time.clock })
  let provider: Org
  let acme: Org
  let n = 0
  let notice = 0
  const as = (method: string, tail: string, body?: unknown) =>
    t().request({ method, url: `/v1/orgs/${acme.orgId}/consent${tail}`, token: acme.ownerToken, body })
  const event = async (body: Record<string, unknown>) => {
    const r = await as('POST', '/events', { id: `job-${engine}-${++n}`, method: 'form', ...body })
    assert.equal(r.status, 201, r.text)
    return r.body
  }
  const jobs = () => t().app.services.consentJobs

  before(async () => {
    provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', 'owner@acme.test')
    for (const body of [
      { key: 'trial', name: 'Trial', lawfulBasis: 'consent', lifetimeDays: 1 },
      { key: 'fraud', name: 'Fraud', lawfulBasis: 'legitimate_interests' },
    ]) {
      const r = await as('POST', '/purposes', body)
      assert.equal(r.status, 201, r.text)
    }
    const published = await as('POST', '/notices', {
      language: 'en',
      text: 'A one-day trial.',
      purposes: ['trial'],
      materialChange: false,
    })
    notice = published.body.version
  })

  it('records one expire event per lapsed grant, with its audit event, once; the check refuses before it runs (P7.7)', async () => {
    for (const subject of ['e1', 'e2'])
      await event({ subject, purpose: 'trial', action: 'grant', noticeVersion: notice })
    await event({ subject: 'e3', purpose: 'trial', action: 'grant', noticeVersion: notice })
    await as('POST', '/withdraw', { subject: 'e3', purposes: ['trial'] })
    assert.equal(await jobs().expireDue(), 0, 'nothing lapsed yet')
    time.advance(2 * DAY)
    const before = await as('POST', '/check', { subject: 'e1', purpose: 'trial' })
    assert.deepEqual([before.body.allowed, before.body.reason], [false, 'expired'])
    assert.equal(await jobs().expireDue(), 2, 'the withdrawn grant is not expired')
    assert.equal(await jobs().expireDue(), 0, 'idempotent')
    const events = await withOrg(t().db.kysely, acme.orgId, (trx) =>
      trx.selectFrom('consent_events').select(['id', 'action', 'actor_type']).where('action', '=', 'expire').execute(),
    )
    assert.equal(events.length, 2)
    const audited = await t()
      .db.kysely.selectFrom('audit_events')
      .select(['event_id', 'action'])
      .where(
        'event_id',
        'in',
        events.map((e) => e.id),
      )
      .execute()
    assert.deepEqual(
      audited.map((a) => a.action),
      ['consent.expire', 'consent.expire'],
    )
    const after = await as('POST', '/check', { subject: 'e1', purpose: 'trial' })
    assert.deepEqual([after.body.allowed, after.body.reason], [false, 'expired'])
    const lapsed = await as('GET', '/reconsent?purpose=trial&reason=lifetime_ended')
    assert.equal(lapsed.status, 200, lapsed.text)
    assert.equal(lapsed.body.subjects.length, 2)
    // Granting again takes the subject off the list.
    await event({ subject: 'e1', purpose: 'trial', action: 'grant', noticeVersion: notice })
    const relisted = await as('GET', '/reconsent?purpose=trial&reason=lifetime_ended')
    assert.equal(relisted.body.subjects.length, 1)
    assert.equal((await as('POST', '/check', { subject: 'e1', purpose: 'trial' })).body.allowed, true)
  })

  it('reminds before an objection is due, flags it overdue every day until decided, and lists it (Art. 12(3))', async () => {
    const opened = await event({ subject: 'objector', purpose: 'fraud', action: 'object' })
    const id = opened.event.objectionId as string
    assert.deepEqual(await jobs().watchObjections(), { dueSoon: 0, overdue: 0 })
    time.advance(25 * DAY)
    assert.deepEqual(await jobs().watchObjections(), { dueSoon: 1, overdue: 0 })
    assert.deepEqual(await jobs().watchObjections(), { dueSoon: 0, overdue: 0 }, 'reminded once')
    const pending = await as('GET', '/objections?due=pending')
    assert.equal(pending.status, 200, pending.text)
    assert.deepEqual(
      pending.body.objections.map((o: { id: string; overdue: boolean }) => [o.id, o.overdue]),
      [[id, false]],
    )
    assert.equal((await as('GET', '/objections?due=overdue')).body.objections.length, 0)
    time.advance(7 * DAY)
    assert.deepEqual(await jobs().watchObjections(), { dueSoon: 0, overdue: 1 })
    assert.deepEqual(await jobs().watchObjections(), { dueSoon: 0, overdue: 0 })
    const overdue = await as('GET', '/objections?due=overdue')
    assert.deepEqual(
      overdue.body.objections.map((o: { id: string; overdue: boolean }) => [o.id, o.overdue]),
      [[id, true]],
    )
    time.advance(DAY)
    assert.deepEqual(await jobs().watchObjections(), { dueSoon: 0, overdue: 1 }, 'flagged again a day later')
    const notified = await withOrg(t().db.kysely, acme.orgId, (trx) =>
      trx.selectFrom('notifications').select(['kind', 'body']).where('kind', 'like', 'consent.objection.%').execute(),
    )
    assert.deepEqual(notified.map((x) => x.kind).sort(), [
      'consent.objection.due_soon',
      'consent.objection.overdue',
      'consent.objection.overdue',
    ])
    assert.ok(
      notified.every((x) => !x.body.includes('objector')),
      'no subject id in a notification',
    )
    const actions = (await auditActions(t(), acme.orgId)).map((a) => a.action)
    assert.equal(actions.filter((a) => a === 'consent.objection.overdue').length, 2)
    const decided = await as('POST', `/objections/${id}/decide`, { decision: 'rejected', grounds: 'Fraud prevention.' })
    assert.equal(decided.status, 200, decided.text)
    time.advance(2 * DAY)
    assert.deepEqual(await jobs().watchObjections(), { dueSoon: 0, overdue: 0 }, 'decided: no more reminders')
    assert.equal((await as('GET', '/objections?due=pending')).body.objections.length, 0)
    assert.equal((await as('GET', '/objections?due=soon')).status, 400)
  })
})
