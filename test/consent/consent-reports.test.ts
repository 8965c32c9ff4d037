import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { forEachEngine } from '../helpers/db.ts'
import {
  bootstrapProvider,
  createCustomerOrg,
  fingerprint,
  principalWithRole,
  testClock,
  useTestApp,
  type Org,
} from '../helpers/app.ts'

const DAY = 86_400_000

/** The console's consent reads (issue 22): a subject's timeline looked up by body, the report from the projection. */
forEachEngine('consent: a subject’s timeline and the consent report (P7.7)', (engine) => {
  const time = testClock()
  const t = useTestApp(engine, {}, undefined, undefined, { clock: time.clock })
  let provider: Org
  let acme: Org
  let other: Org
  let n = 0
  const as = (method: string, path: string, body?: unknown, org: Org = acme, token = org.ownerToken) =>
    t().request({ method, url: `/v1/orgs/${org.orgId}/consent${path}`, token, body })
  const record = async (subject: string, purpose: string, action: string, extra: Record<string, unknown> = {}) => {
    const recorded = await as('POST', '/events', {
      id: `rep-${engine}-${++n}`,
      subject,
      purpose,
      action,
      method: 'form',
      ...(action === 'grant' ? { noticeVersion: 1 } : {}),
      ...extra,
    })
    assert.equal(recorded.status, 201, recorded.text)
    return recorded.body
  }

  before(async () => {
    provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', 'owner@acme.test')
    other = await createCustomerOrg(t(), provider, 'Other', 'owner@other.test')
    for (const org of [acme, other]) {
      for (const body of [
        { key: 'newsletter', name: 'Newsletter', lawfulBasis: 'consent', directMarketing: true },
        { key: 'analytics', name: 'Analytics', lawfulBasis: 'consent', lifetimeDays: 30 },
        { key: 'fraud', name: 'Fraud prevention', lawfulBasis: 'legitimate_interests' },
      ]) {
        const created = await as('POST', '/purposes', body, org)
        assert.equal(created.status, 201, created.text)
      }
      const notice = await as(
        'POST',
        '/notices',
        { language: 'en', text: 'We email you news.', purposes: ['newsletter', 'analytics'], materialChange: false },
        org,
      )
      assert.equal(notice.status, 201, notice.text)
    }
  })

  it('answers a subject’s events newest first, the state per purpose as a check would, and the objections (P7.7)', async () => {
    const subject = 'timeline-ada-7731@example.test'
    const granted = await record(subject, 'newsletter', 'grant')
    await record(subject, 'analytics', 'grant')
    const withdrawn = await as('POST', '/withdraw', {
      subject,
      purposes: ['newsletter'],
      method: 'staff',
      actor: { type: 'staff', id: 'staff-1' },
    })
    assert.equal(withdrawn.status, 201, withdrawn.text)
    await record(subject, 'fraud', 'object')
    const timeline = await as('POST', '/timeline', { subject })
    assert.equal(timeline.status, 200, timeline.text)
    const body = timeline.body
    assert.equal(body.known, true)
    assert.equal(body.restricted, false)
    assert.equal(body.truncated, false)
    assert.deepEqual(
      body.events.map((e: { purpose: string; action: string }) => `${e.purpose}:${e.action}`),
      ['fraud:object', 'newsletter:withdraw', 'analytics:grant', 'newsletter:grant'],
    )
    const staff = body.events[1]
    assert.deepEqual(staff.actor, { type: 'staff', id: 'staff-1' })
    assert.equal(staff.method, 'staff')
    assert.equal(body.events[3].id, granted.event.id)
    assert.equal(body.events[3].noticeVersion, 1)
    assert.deepEqual(body.events[3].actor, { type: 'subject', id: null })
    const states = Object.fromEntries(
      body.states.map((s: { purpose: string; state: string; allowed: boolean; reason: string }) => [
        s.purpose,
        `${s.state}/${s.allowed}/${s.reason}`,
      ]),
    )
    assert.deepEqual(states, {
      analytics: 'granted/true/granted',
      fraud: 'objection_pending/false/objection_pending',
      newsletter: 'withdrawn/false/withdrawn',
    })
    assert.equal(body.objections.length, 1)
    assert.equal(body.objections[0].status, 'pending')
    assert.equal(body.objections[0].purpose, 'fraud')
    // The states agree with the check itself.
    const check = await as('POST', '/check', { subject, purpose: 'analytics' })
    assert.equal(check.body.allowed, true)
    // Lapsed: the analytics grant's 30 days pass.
    time.advance(31 * DAY)
    const later = await as('POST', '/timeline', { subject })
    const analytics = later.body.states.find((s: { purpose: string }) => s.purpose === 'analytics')
    assert.equal(analytics.allowed, false)
    assert.equal(analytics.reason, 'expired')
    time.advance(-31 * DAY)
  })

  it('answers an unknown subject as unknown, and another org’s subject as unknown to this org (P7.7)', async () => {
    await record('only-in-acme-1', 'newsletter', 'grant')
    const unknown = await as('POST', '/timeline', { subject: 'never-seen' })
    assert.equal(unknown.status, 200, unknown.text)
    assert.deepEqual(
      { known: unknown.body.known, states: unknown.body.states, events: unknown.body.events },
      { known: false, states: [], events: [] },
    )
    const elsewhere = await as('POST', '/timeline', { subject: 'only-in-acme-1' }, other)
    assert.equal(elsewhere.body.known, false)
    assert.equal(elsewhere.body.events.length, 0)
  })

  it('reports the consent rate per purpose and notice version from the current states, and the pending objections (P7.7)', async () => {
    // A fresh org: its figures are this test's alone.
    const org = await createCustomerOrg(t(), provider, 'Rates', 'owner@rates.test')
    const call = (method: string, path: string, body?: unknown) => as(method, path, body, org)
    assert.equal(
      (await call('POST', '/purposes', { key: 'newsletter', name: 'Newsletter', lawfulBasis: 'consent' })).status,
      201,
    )
    assert.equal(
      (await call('POST', '/purposes', { key: 'fraud', name: 'Fraud', lawfulBasis: 'legitimate_interests' })).status,
      201,
    )
    const publish = (materialChange: boolean) =>
      call('POST', '/notices', {
        language: 'en',
        text: `v ${materialChange}`,
        purposes: ['newsletter'],
        materialChange,
      })
    assert.equal((await publish(false)).status, 201)
    const event = async (subject: string, purpose: string, action: string, noticeVersion?: number) => {
      const r = await call('POST', '/events', {
        id: `rate-${engine}-${++n}`,
        subject,
        purpose,
        action,
        method: 'form',
        ...(noticeVersion === undefined ? {} : { noticeVersion }),
      })
      assert.equal(r.status, 201, r.text)
    }
    await event('r1', 'newsletter', 'grant', 1)
    await event('r2', 'newsletter', 'grant', 1)
    await event('r3', 'newsletter', 'grant', 1)
    await event('r4', 'newsletter', 'deny', 1)
    await event('r3', 'newsletter', 'withdraw')
    await event('r5', 'fraud', 'object')
    await event('r6', 'fraud', 'object')
    const report = await call('GET', '/report')
    assert.equal(report.status, 200, report.text)
    const newsletter = report.body.rates.filter((r: { purpose: string }) => r.purpose === 'newsletter')
    assert.deepEqual(
      newsletter.map((r: Record<string, unknown>) => [r.noticeVersion, r.granted, r.denied, r.withdrawn, r.rate]),
      [
        [1, 2, 1, 0, 2 / 3],
        [null, 0, 0, 1, null],
      ],
    )
    const fraud = report.body.rates.find((r: { purpose: string }) => r.purpose === 'fraud')
    assert.equal(fraud.objected, 2)
    assert.equal(fraud.rate, null, 'no consent rate for a basis other than consent')
    assert.equal(report.body.pendingObjections.total, 2)
    assert.equal(report.body.pendingObjections.items.length, 2)
    assert.ok(report.body.pendingObjections.items.every((o: { purpose: string }) => o.purpose === 'fraud'))
    // Decided, an objection leaves the pending list.
    const decided = await call('POST', `/objections/${report.body.pendingObjections.items[0].id}/decide`, {
      decision: 'rejected',
      grounds: 'Compelling legitimate grounds: fraud prevention.',
    })
    assert.equal(decided.status, 200, decided.text)
    // A material change: the earlier grants lapse (need re-consent) and the rate follows.
    assert.equal((await publish(true)).status, 201)
    const after = await call('GET', '/report')
    const v1 = after.body.rates.find((r: { purpose: string; noticeVersion: number }) => r.noticeVersion === 1)
    assert.deepEqual([v1.granted, v1.lapsed, v1.denied, v1.rate], [0, 2, 1, 0])
    assert.equal(after.body.pendingObjections.total, 1)
    // Another org's report holds none of this.
    const elsewhere = await as('GET', '/report', undefined, other)
    assert.ok(!elsewhere.body.rates.some((r: { denied: number }) => r.denied > 0))
    assert.equal(elsewhere.body.pendingObjections.total, 0)
  })

  it('keeps the report’s counters equal to the projection through grants, withdrawals, expiry, erasure and a returning subject (P7.7)', async () => {
    const org = await createCustomerOrg(t(), provider, 'Counted', 'owner@counted.test')
    const call = (method: string, path: string, body?: unknown) => as(method, path, body, org)
    assert.equal(
      (await call('POST', '/purposes', { key: 'news', name: 'News', lawfulBasis: 'consent', lifetimeDays: 1 })).status,
      201,
    )
    assert.equal(
      (await call('POST', '/notices', { language: 'en', text: 'counted', purposes: ['news'], materialChange: false }))
        .status,
      201,
    )
    const event = async (subject: string, action: string) => {
      const r = await call('POST', '/events', {
        id: `cnt-${engine}-${++n}`,
        subject,
        purpose: 'news',
        action,
        method: 'form',
        ...(action === 'grant' || action === 'deny' ? { noticeVersion: 1 } : {}),
      })
      assert.equal(r.status, 201, r.text)
    }
    // What the report says against what the projection holds, counted the slow way.
    const agree = async (label: string) => {
      const report = (await call('GET', '/report')).body.rates as Record<string, number | null>[]
      const fromReport = Object.fromEntries(
        report.map((r) => [
          String(r.noticeVersion),
          [r.granted, r.denied, r.withdrawn, r.lapsed].map((x) => Number(x)).join('/'),
        ]),
      )
      const rows = await t()
        .db.kysely.selectFrom('consent_state as s')
        .innerJoin('subject_keys as k', (j) =>
          j.onRef('k.org_id', '=', 's.org_id').onRef('k.subject_ref', '=', 's.subject_ref'),
        )
        .select(['s.notice_version', 's.state'])
        .where('s.org_id', '=', org.orgId)
        .whereRef('k.key_id', '=', 's.subject_key_id')
        .where('k.shredded_at', 'is', null)
        .execute()
      const slow: Record<string, number[]> = {}
      for (const r of rows) {
        const v = String(r.notice_version)
        const counts = (slow[v] ??= [0, 0, 0, 0])
        const i = ({ granted: 0, denied: 1, withdrawn: 2, expired: 3 } as Record<string, number>)[r.state]
        if (i !== undefined) counts[i] = (counts[i] ?? 0) + 1
      }
      assert.deepEqual(
        fromReport,
        Object.fromEntries(Object.entries(slow).map(([v, c]) => [v, c.join('/')])),
        `report and projection agree: ${label}`,
      )
      return fromReport
    }
    await event('c1', 'grant')
    await event('c2', 'grant')
    await event('c3', 'deny')
    assert.deepEqual(await agree('grants and a refusal'), { 1: '2/1/0/0' })
    await event('c2', 'withdraw')
    await event('c3', 'grant')
    assert.deepEqual(await agree('a withdrawal, a refusal turned grant'), { 1: '2/0/0/0', null: '0/0/1/0' })
    // The lifetime ends: once the expiry job has recorded it, the grant counts as lapsed.
    time.advance(2 * DAY)
    await t().app.services.consentJobs.run()
    assert.deepEqual(await agree('expired'), { 1: '0/0/0/2', null: '0/0/1/0' })
    // Erased: the subject leaves the counts; back with a new grant, it counts again once.
    const erase = await t().request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/privacy-requests`,
      token: org.ownerToken,
      body: { kind: 'erase', subjectId: 'c1', verification: { method: 'signed-in-account' } },
    })
    assert.equal(erase.status, 201, erase.text)
    const done = await t().request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/privacy-requests/${erase.body.id}/complete`,
      token: org.ownerToken,
      body: {},
    })
    assert.equal(done.status, 200, done.text)
    assert.deepEqual(await agree('erased'), { 1: '0/0/0/1', null: '0/0/1/0' })
    await event('c1', 'grant')
    assert.deepEqual(await agree('returned'), { 1: '1/0/0/1', null: '0/0/1/0' })
    // The counters are a few rows, whatever the number of subjects.
    const counters = await t()
      .db.kysely.selectFrom('consent_state_counts')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('org_id', '=', org.orgId)
      .executeTakeFirstOrThrow()
    assert.ok(Number(counters.n) <= 16 * 4, `${counters.n} counter rows`)
  })

  it('refuses without consent:read, and a malformed or oversized lookup with nothing changed (P2.1, P7.7)', async () => {
    const viewer = await principalWithRole(t(), acme, 'viewer')
    const auditor = await principalWithRole(t(), acme, 'auditor')
    for (const [method, path, body] of [
      ['POST', '/timeline', { subject: 'x' }],
      ['GET', '/report', undefined],
    ] as const) {
      const none = await t().request({ method, url: `/v1/orgs/${acme.orgId}/consent${path}`, body })
      assert.equal(none.status, 401, `${path}: ${none.text}`)
      const refused = await as(method, path, body, acme, viewer.token)
      assert.equal(refused.status, 403, refused.text)
      assert.equal(refused.body.permission, 'consent:read')
      assert.equal((await as(method, path, body, acme, auditor.token)).status, 200)
      const foreign = await as(method, path, body, other, acme.ownerToken)
      assert.equal(foreign.status, 404, `another org’s ${path}: ${foreign.text}`)
    }
    const before = await fingerprint(t())
    for (const body of [{}, { subject: '' }, { subject: 'x', extra: 1 }, { subject: 'x'.repeat(201) }]) {
      const bad = await as('POST', '/timeline', body)
      assert.equal(bad.status, 400, bad.text)
      assert.match(String(bad.headers['content-type']), /application\/problem\+json/)
      assert.ok(Array.isArray(bad.body.errors) && bad.body.errors[0].path.startsWith('/body'), bad.text)
    }
    const huge = await as('POST', '/timeline', { subject: 'x'.repeat(2_000_000) })
    assert.equal(huge.status, 413, huge.text)
    assert.match(String(huge.headers['content-type']), /application\/problem\+json/)
    assert.equal(await fingerprint(t()), before, 'nothing changed')
  })
})
