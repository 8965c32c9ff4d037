import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { withOrg } from '../../src/db/tenant.ts'
import { forEachEngine } from '../helpers/db.ts'
import { assertTimeInWords } from '../helpers/titles.ts'
import {
  auditActions,
  bootstrapProvider,
  createCustomerOrg,
  PASSWORD,
  testClock,
  useTestApp,
  type Org,
} from '../helpers/app.ts'

const MIN = 60_000
const HOUR = 60 * MIN
const DAY = 24 * HOUR

/** Incidents with playbooks and escalation (P6.1), plan review (P6.2), breach clocks per party (P6.3, P6.4). */
forEachEngine('incident response (P6.1–P6.4)', (engine) => {
  const time = testClock()
  const t = useTestApp(engine, {}, undefined, undefined, { clock: time.clock })
  let provider: Org
  let acme: Org
  let lead: { userId: string }
  let typeId = ''
  let incidentId = ''
  const url = (p: string) => `/v1/orgs/${acme.orgId}${p}`
  const call = (method: string, p: string, body?: unknown) =>
    t().request({ method, url: url(p), token: acme.ownerToken, body })
  const incident = async () => (await call('GET', `/incidents/${incidentId}`)).body
  const notices = async (kind = 'incident.notice') =>
    await t()
      .db.kysely.selectFrom('notifications')
      .select(['subject', 'recipient_user_id'])
      .where('org_id', '=', acme.orgId)
      .where('kind', '=', kind)
      .execute()

  before(async () => {
    provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', 'owner@acme.test')
    const invite = await call('POST', '/invitations', { email: 'lead@acme.test', role: 'member' })
    lead = (
      await t().request({
        method: 'POST',
        url: '/v1/invitations/accept',
        body: { token: invite.body.token, password: PASSWORD },
      })
    ).body as { userId: string }
  })

  it('keeps a versioned plan: types with playbooks, escalation, breach parties', async () => {
    const created = await call('POST', '/response-plan/types', {
      name: 'Credential leak',
      defaultSeverity: 'high',
      affectsThirdParties: true,
      playbook: ['Rotate the leaked credential', 'Find every use in the audit log', 'Decide whether it is a breach'],
    })
    assert.equal(created.status, 201, created.text)
    typeId = created.body.types[0].id
    await call('PUT', '/response-plan/escalation', {
      levels: [
        { afterMinutes: 60, notifyRoles: ['owner'], notifyUsers: [lead.userId] },
        { afterMinutes: 15, notifyRoles: ['owner', 'admin'], notifyUsers: [] },
      ],
    })
    const plan = await call('PUT', '/response-plan/parties', {
      parties: [
        { kind: 'customers', name: 'customers', deadlineHours: 72 },
        { kind: 'users', name: 'users', deadlineHours: 72 },
        { kind: 'third_party', name: 'Marketplace', deadlineHours: 24 },
      ],
    })
    assert.equal(plan.body.version, 3)
    assert.deepEqual(
      plan.body.escalation.map((l: { afterMinutes: number }) => l.afterMinutes),
      [15, 60],
    )
    assert.deepEqual(
      plan.body.versions.map((v: { change: string }) => v.change),
      ['type created: Credential leak', 'escalation policy changed', 'breach notification parties changed'],
    )
    assert.equal(
      new Date(plan.body.reviewDueAt).getTime() - new Date(plan.body.versions[0].createdAt).getTime(),
      183 * DAY,
    )
    const snapshot = await t()
      .db.kysely.selectFrom('response_plan_versions')
      .select('snapshot')
      .where('org_id', '=', acme.orgId)
      .where('version', '=', 1)
      .executeTakeFirstOrThrow()
    assert.equal((snapshot.snapshot.types as unknown[]).length, 1, 'each version keeps the whole plan as it was')
  })

  it('opens an incident with its playbook, and escalates level by level until acknowledged', async () => {
    const opened = await call('POST', '/incidents', { typeId, title: 'API key found in a public repository' })
    assert.equal(opened.status, 201, opened.text)
    incidentId = opened.body.id
    assert.equal(opened.body.severity, 'high')
    assert.deepEqual(
      opened.body.steps.map((s: { title: string }) => s.title),
      ['Rotate the leaked credential', 'Find every use in the audit log', 'Decide whether it is a breach'],
    )
    const { incidents } = t().app.services
    time.advance(14 * MIN)
    assert.equal((await incidents.watch()).escalated, 0)
    time.advance(2 * MIN)
    assert.equal((await incidents.watch()).escalated, 1)
    assert.equal((await incident()).escalationLevel, 1)
    time.advance(45 * MIN)
    assert.equal((await incidents.watch()).escalated, 1)
    assert.ok(
      (await notices()).some((n) => n.recipient_user_id === lead.userId && /level 2/.test(n.subject)),
      'level 2 reaches the named user',
    )
    assert.equal((await call('POST', `/incidents/${incidentId}/acknowledge`)).body.status, 'acknowledged')
    time.advance(2 * HOUR)
    assert.equal((await incidents.watch()).escalated, 0, 'acknowledged: no further escalation')
    const kinds = (await incident()).timeline.map((e: { kind: string }) => e.kind)
    assert.deepEqual(kinds, ['open', 'escalate', 'escalate', 'acknowledge'])
  })

  it('has roles held by members, steps, notes and linked alerts and audit events, all on its timeline', async () => {
    const stranger = await call('PATCH', `/incidents/${incidentId}`, {
      commander: '00000000-0000-4000-8000-000000000000',
    })
    assert.equal(stranger.status, 400)
    assert.equal(
      (await call('PATCH', `/incidents/${incidentId}`, { commander: acme.ownerId, communications: lead.userId }))
        .status,
      200,
    )
    assert.equal((await call('POST', `/incidents/${incidentId}/steps/0/complete`)).status, 200)
    assert.equal((await call('POST', `/incidents/${incidentId}/steps/0/complete`)).status, 404, 'a step is done once')
    await call('POST', `/incidents/${incidentId}/notes`, { text: 'Key rotated at 10:02; the old one is revoked.' })
    const alertId = await withOrg(
      t().db.kysely,
      acme.orgId,
      async (trx) =>
        (await t().app.services.alerts.raiseIn(trx, acme.orgId, 'breach_notification_missed', {
          key: 'x',
          title: 'linked alert',
          details: {},
        })) as string,
    )
    const event = (await auditActions(t(), acme.orgId))[0] as { action: string }
    const eventId = (
      await t()
        .db.kysely.selectFrom('audit_events')
        .select('event_id')
        .where('org_id', '=', acme.orgId)
        .orderBy('id')
        .limit(1)
        .executeTakeFirstOrThrow()
    ).event_id
    assert.ok(event !== undefined)
    await call('POST', `/incidents/${incidentId}/links`, { kind: 'alert', ref: alertId })
    await call('POST', `/incidents/${incidentId}/links`, { kind: 'audit_event', ref: eventId })
    const now = await incident()
    assert.deepEqual(now.roles, { commander: acme.ownerId, communications: lead.userId, scribe: null })
    assert.equal(now.links.length, 2)
    assert.equal((await call('GET', `/alerts/${alertId}`)).body.incidentId, incidentId)
    assert.deepEqual(now.timeline.map((e: { kind: string }) => e.kind).slice(4), [
      'update',
      'step',
      'note',
      'link',
      'link',
    ])
  })

  it('starts one clock per party when a breach is confirmed, with reminders, misses and late sends (test clock)', async () => {
    const confirmed = await call('POST', `/incidents/${incidentId}/breach`, {
      summary: 'The key read customer records for 3 hours.',
      parties: [{ kind: 'regulator', name: 'Data protection authority', deadlineHours: 72 }],
    })
    assert.equal(confirmed.status, 200, confirmed.text)
    const clocks = Object.fromEntries(
      confirmed.body.notifications.map((n: { party: { name: string }; dueAt: string }) => [
        n.party.name,
        new Date(n.dueAt).getTime() - new Date(confirmed.body.breach.confirmedAt).getTime(),
      ]),
    )
    assert.deepEqual(clocks, {
      Marketplace: 24 * HOUR,
      customers: 72 * HOUR,
      users: 72 * HOUR,
      'Data protection authority': 72 * HOUR,
    })
    assert.ok(
      (await notices()).some((n) => n.recipient_user_id === lead.userId && /Breach confirmed/.test(n.subject)),
      'the communications lead is told at once (P6.4)',
    )
    const { incidents } = t().app.services
    const byName = async (name: string) =>
      (await incident()).notifications.find((n: { party: { name: string } }) => n.party.name === name)

    time.advance(1 * HOUR)
    assert.equal((await incidents.watch()).reminded, 1, 'the 24-hour party: its first reminder')
    time.advance(20 * HOUR)
    assert.equal((await incidents.watch()).reminded, 1, 'then within four hours')
    const customers = await byName('customers')
    assert.equal(
      (
        await call('POST', `/incidents/${incidentId}/breach-notifications/${customers.id}/sent`, {
          channel: 'e-mail to every account owner',
          content: 'On 20 Nov an API key …',
        })
      ).status,
      200,
    )
    time.advance(4 * HOUR)
    assert.equal((await incidents.watch()).missed, 1)
    const marketplace = await byName('Marketplace')
    assert.equal(marketplace.status, 'missed')
    const missedAlerts = (await call('GET', '/alerts')).body.alerts.filter(
      (a: { rule: string; details: { party?: { name: string } } }) =>
        a.rule === 'breach_notification_missed' && a.details.party?.name === 'Marketplace',
    )
    assert.equal(missedAlerts[0].severity, 'critical')
    assertTimeInWords(missedAlerts[0].title)
    assert.equal(
      (
        await call('POST', `/incidents/${incidentId}/breach-notifications/${marketplace.id}/sent`, {
          channel: 'partner portal',
          content: 'Incident report #1',
        })
      ).status,
      200,
    )
    assert.equal((await byName('Marketplace')).late, true)
    time.advance(48 * HOUR)
    const last = await incidents.watch()
    assert.equal(last.missed, 2, 'users and the regulator were never notified')
    const final = Object.fromEntries(
      (await incident()).notifications.map((n: { party: { name: string }; status: string; late: boolean }) => [
        n.party.name,
        [n.status, n.late],
      ]),
    )
    assert.deepEqual(final, {
      Marketplace: ['sent', true],
      customers: ['sent', false],
      users: ['missed', false],
      'Data protection authority': ['missed', false],
    })
    assert.equal((await byName('customers')).content, 'On 20 Nov an API key …', 'what was sent is kept')
  })

  it('alerts when the plan’s six-monthly review is overdue, until a review is recorded (P6.2)', async () => {
    const { plan } = t().app.services
    assert.equal(await plan.watchReviews(), 0)
    time.advance(184 * DAY)
    assert.equal(await plan.watchReviews(), 1)
    assert.equal(await plan.watchReviews(), 0, 'not again within the week')
    assert.equal(
      (await call('GET', '/alerts')).body.alerts.filter((a: { rule: string }) => a.rule === 'plan_review_overdue')
        .length,
      1,
    )
    const reviewed = await call('POST', '/response-plan/reviews', {
      notes: 'Walked through with the on-call team; no changes.',
    })
    assert.equal(reviewed.status, 201)
    assert.equal(reviewed.body.reviewOverdue, false)
    assert.equal(reviewed.body.lastReview.version, 3)
    assert.deepEqual(reviewed.body.reviews, [reviewed.body.lastReview], 'the review history: this one')
    time.advance(8 * DAY)
    assert.equal(await plan.watchReviews(), 0, 'reviewed: due again in six months')
    const again = await call('POST', '/response-plan/reviews', { notes: 'Tabletop exercise: escalation worked.' })
    assert.equal(again.status, 201, again.text)
    assert.deepEqual(
      again.body.reviews.map((r: { notes: string; reviewedBy: string; version: number }) => [
        r.notes,
        r.reviewedBy,
        r.version,
      ]),
      [
        ['Tabletop exercise: escalation worked.', `user:${acme.ownerId}`, 3],
        ['Walked through with the on-call team; no changes.', `user:${acme.ownerId}`, 3],
      ],
      'every review, newest first, with who recorded it and the version reviewed',
    )
    assert.equal(
      new Date(again.body.reviewDueAt).getTime() - new Date(again.body.reviews[0].reviewedAt).getTime(),
      183 * DAY,
      'due six months after the last review',
    )
  })

  it('confirming a breach of an unacknowledged incident acknowledges it, on its timeline and in the audit log (issue 13)', async () => {
    const opened = await call('POST', '/incidents', { title: 'Exposed backup' })
    assert.equal(opened.status, 201, opened.text)
    const id = opened.body.id
    const confirmed = await call('POST', `/incidents/${id}/breach`, { summary: 'A backup was public for an hour.' })
    assert.equal(confirmed.status, 200, confirmed.text)
    assert.equal(confirmed.body.status, 'acknowledged')
    const timeline = (await call('GET', `/incidents/${id}`)).body.timeline as {
      kind: string
      details: Record<string, unknown>
    }[]
    assert.deepEqual(
      timeline.map((e) => e.kind),
      ['open', 'acknowledge', 'breach_confirmed'],
    )
    assert.deepEqual(timeline[1]?.details, { escalationLevel: 0, by: 'breach_confirmed' })
    const events = await call('GET', `/audit/events?target=${id}&limit=50`)
    const actions = (events.body.events as { action: string }[]).map((e) => e.action)
    assert.ok(actions.includes('incident.acknowledge'), actions.join(', '))
    // It is acknowledged now: acknowledging it again is refused.
    const again = await call('POST', `/incidents/${id}/acknowledge`)
    assert.equal(again.status, 409, again.text)
  })

  it('opens an incident from an alert', async () => {
    const alertId = await withOrg(
      t().db.kysely,
      acme.orgId,
      async (trx) =>
        (await t().app.services.alerts.raiseIn(trx, acme.orgId, 'plan_review_overdue', {
          key: 'y',
          title: 'from alert',
          details: {},
        })) as string,
    )
    const opened = await call('POST', `/alerts/${alertId}/incident`, { title: 'Investigate the alert' })
    assert.equal(opened.status, 201, opened.text)
    assert.deepEqual(opened.body.links, [{ kind: 'alert', ref: alertId }])
  })

  it('opens an incident from an alert at the severity chosen, and changes it later, each change audited with its before (P6.1, issue 13)', async () => {
    const alertId = await withOrg(
      t().db.kysely,
      acme.orgId,
      async (trx) =>
        (await t().app.services.alerts.raiseIn(trx, acme.orgId, 'plan_review_overdue', {
          key: 'severity',
          title: 'chosen severity',
          details: {},
        })) as string,
    )
    const opened = await call('POST', `/alerts/${alertId}/incident`, { title: 'Chosen severity', severity: 'low' })
    assert.equal(opened.status, 201, opened.text)
    assert.equal(opened.body.severity, 'low')
    // The people it names, as emails: only this org's members (issue 13).
    assert.deepEqual(opened.body.people, { [acme.ownerId]: 'owner@acme.test' })
    assert.equal((await call('GET', '/response-plan')).body.people[acme.ownerId], 'owner@acme.test')
    const changed = await call('PATCH', `/incidents/${opened.body.id}`, { severity: 'critical' })
    assert.equal(changed.status, 200, changed.text)
    assert.equal(changed.body.severity, 'critical')
    assert.equal((await call('GET', `/incidents/${opened.body.id}`)).body.severity, 'critical')
    const update = (await auditActions(t(), acme.orgId)).filter((e) => e.action === 'incident.update').at(-1)
    assert.equal((update?.details as { before: { severity: string } }).before.severity, 'low')
    assert.deepEqual((update?.details as { after: unknown }).after, { severity: 'critical' })
    const refused = await call('PATCH', `/incidents/${opened.body.id}`, { severity: 'urgent' })
    assert.equal(refused.status, 400)
    assert.equal(refused.body.errors[0].path, '/body/severity')
    assert.equal((await call('GET', `/incidents/${opened.body.id}`)).body.severity, 'critical', 'nothing changed')
  })
})
