import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { sql } from 'kysely'
import { verifyJws } from '../../src/crypto/jws.ts'
import { withOrg } from '../../src/db/tenant.ts'
import { forEachEngine } from '../helpers/db.ts'
import { bootstrapProvider, createCustomerOrg, testClock, useTestApp, type Org } from '../helpers/app.ts'

const DAY = 86_400_000

/** Consent (P7.7): purposes, notices, events kept as proof, the fail-closed check, objection, GPC. */
forEachEngine('consent: purposes, notices, events and the fail-closed check (P7.7)', (engine) => {
  const time = testClock()
  const t = useTestApp(engine, {}, undefined, undefined, { clock: time.clock })
  let provider: Org
  let acme: Org
  let other: Org
  let n = 0
  /** The newest notice version covering the newsletter (a material change moves it). */
  let notice = 1
  const as = (method: string, path: string, body?: unknown, org: Org = acme, headers?: Record<string, string>) =>
    t().request({
      method,
      url: `/v1/orgs/${org.orgId}/consent${path}`,
      token: org.ownerToken,
      body,
      ...(headers === undefined ? {} : { headers }),
    })
  const nextId = () => `evt-${engine}-${++n}`
  const grant = async (subject: string, purpose: string, org: Org = acme, extra: Record<string, unknown> = {}) => {
    const recorded = await as(
      'POST',
      '/events',
      { id: nextId(), subject, purpose, action: 'grant', method: 'form', noticeVersion: notice, ...extra },
      org,
    )
    assert.equal(recorded.status, 201, recorded.text)
    return recorded.body
  }
  const check = async (subject: string, purpose: string, org: Org = acme) => {
    const answered = await as('POST', '/check', { subject, purpose }, org)
    assert.equal(answered.status, 200, answered.text)
    return answered.body
  }
  const purpose = async (org: Org, body: Record<string, unknown>) => {
    const created = await as('POST', '/purposes', { name: `Purpose ${String(body.key)}`, ...body }, org)
    assert.equal(created.status, 201, created.text)
    return created.body
  }

  before(async () => {
    provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', 'owner@acme.test')
    other = await createCustomerOrg(t(), provider, 'Other', 'owner@other.test')
    for (const org of [acme, other]) {
      // A purpose names registered recipients (docs/consent.md#propagation-to-recipients).
      const registered = await as(
        'POST',
        '/recipients',
        { name: 'Mailer Ltd', url: 'https://mailer.example.test/consent', deadlineHours: 72 },
        org,
      )
      assert.equal(registered.status, 201, registered.text)
      await purpose(org, {
        key: 'newsletter',
        lawfulBasis: 'consent',
        directMarketing: true,
        gpcEffect: 'opt_out',
        recipients: ['Mailer Ltd'],
        dataCategories: ['email'],
      })
      await purpose(org, { key: 'analytics', lawfulBasis: 'consent', lifetimeDays: 30 })
      await purpose(org, { key: 'billing', lawfulBasis: 'contract' })
      await purpose(org, { key: 'fraud', lawfulBasis: 'legitimate_interests' })
      await purpose(org, {
        key: 'ads',
        lawfulBasis: 'legitimate_interests',
        directMarketing: true,
        gpcEffect: 'opt_out',
      })
      const notice = await as(
        'POST',
        '/notices',
        {
          language: 'en',
          text: 'We email you news. You may withdraw at any time.',
          purposes: ['newsletter', 'analytics'],
          materialChange: false,
        },
        org,
      )
      assert.equal(notice.status, 201, notice.text)
    }
  })

  it('declares purposes with a lawful basis that never switches; a basis other than consent takes no grant (P7.7)', async () => {
    const listed = await as('GET', '/purposes')
    assert.deepEqual(
      listed.body.purposes.map((p: { key: string }) => p.key),
      ['ads', 'analytics', 'billing', 'fraud', 'newsletter'],
    )
    const one = await as('GET', '/purposes/newsletter')
    assert.equal(one.body.lawfulBasis, 'consent')
    assert.deepEqual(one.body.recipients, ['Mailer Ltd'])
    const switched = await as('PATCH', '/purposes/billing', { lawfulBasis: 'consent' })
    assert.equal(switched.status, 409)
    assert.equal(switched.body.code, 'CONSENT_BASIS_MISMATCH')
    const renamed = await as('PATCH', '/purposes/billing', { name: 'Invoicing', lawfulBasis: 'contract' })
    assert.equal(renamed.status, 200, renamed.text)
    assert.equal(renamed.body.name, 'Invoicing')
    const gpcOnContract = await as('PATCH', '/purposes/billing', { gpcEffect: 'opt_out' })
    assert.equal(gpcOnContract.status, 400)
    assert.equal(gpcOnContract.body.errors[0].path, '/body/gpcEffect')
    const grantOnContract = await as('POST', '/events', {
      id: nextId(),
      subject: 'never-known',
      purpose: 'billing',
      action: 'grant',
      method: 'form',
      noticeVersion: 1,
    })
    assert.equal(grantOnContract.status, 409)
    assert.equal(grantOnContract.body.code, 'CONSENT_BASIS_MISMATCH')
    assert.equal((await as('GET', '/purposes/nope')).status, 404)
    assert.equal((await as('POST', '/purposes', { key: 'fraud', name: 'again', lawfulBasis: 'contract' })).status, 409)
  })

  it('publishes notice versions with the SHA-256 of their exact text, immutable once published (P7.7)', async () => {
    const text = 'Analytics notice, version two.'
    const published = await as('POST', '/notices', {
      language: 'en-GB',
      text,
      purposes: ['analytics'],
      materialChange: false,
    })
    assert.equal(published.status, 201, published.text)
    assert.equal(published.body.version, 2)
    const { createHash } = await import('node:crypto')
    assert.equal(published.body.sha256, createHash('sha256').update(text, 'utf8').digest('hex'))
    const read = await as('GET', '/notices/2')
    assert.equal(read.body.text, text)
    const listed = await as('GET', '/notices')
    assert.deepEqual(
      listed.body.notices.map((x: { version: number }) => x.version),
      [2, 1],
    )
    assert.equal(listed.body.notices[0].text, undefined, 'the list leaves the text out')
    const unknown = await as('POST', '/notices', {
      language: 'en',
      text: 'x',
      purposes: ['nope'],
      materialChange: false,
    })
    assert.equal(unknown.status, 400)
    assert.equal(unknown.body.errors[0].path, '/body/purposes/0')
    // The database itself refuses to change a published version, or an event, for the app role.
    for (const statement of [
      sql`UPDATE consent_notices SET text = 'changed'`,
      sql`DELETE FROM consent_notices`,
      sql`UPDATE consent_events SET action = 'grant'`,
      sql`DELETE FROM consent_events`,
    ])
      await assert.rejects(
        withOrg(t().db.kysely, acme.orgId, (trx) => statement.execute(trx)),
        /permission denied/,
      )
  })

  it('records a grant with its audit event in the same transaction, evidence sealed, subject never in clear (P7.7)', async () => {
    const subject = 'subject-ada-5521@example.test'
    const recorded = await grant(subject, 'newsletter', acme, {
      evidence: { ip: '203.0.113.9', userAgent: 'Mozilla/5.0 marker-ua-8812', formId: 'signup-form' },
    })
    assert.equal(recorded.status, 'recorded')
    const event = recorded.event
    assert.equal(event.action, 'grant')
    assert.equal(event.noticeVersion, 1)
    assert.match(event.noticeSha256, /^[0-9a-f]{64}$/)
    const audit = await t()
      .db.kysely.selectFrom('audit_events')
      .selectAll()
      .where('event_id', '=', event.id)
      .executeTakeFirstOrThrow()
    assert.equal(audit.action, 'consent.grant')
    assert.equal(audit.org_id, acme.orgId)
    const details = audit.details
    assert.equal(details.purpose, 'newsletter')
    assert.deepEqual(details.notice, { version: 1, sha256: event.noticeSha256 })
    assert.match(String(details.personal), /^sha256:/)
    // Neither the subject id nor the evidence is in clear in any table.
    if (engine === 'pglite') await sql`CHECKPOINT`.execute(t().db.kysely)
    const tables = await sql<{
      tablename: string
    }>`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`.execute(t().db.kysely)
    for (const { tablename } of tables.rows) {
      const dump = await sql<{ row: string }>`SELECT t::text AS row FROM ${sql.table(tablename)} t`.execute(
        t().db.kysely,
      )
      for (const { row } of dump.rows) {
        assert.ok(!row.includes('subject-ada-5521'), `subject id in clear in ${tablename}`)
        assert.ok(!row.includes('marker-ua-8812'), `evidence in clear in ${tablename}`)
      }
    }
    const decision = await check(subject, 'newsletter')
    assert.equal(decision.allowed, true)
    assert.equal(decision.reason, 'granted')
    assert.equal(decision.basis, 'consent')
    assert.equal(decision.eventId, event.id)
    assert.equal(decision.noticeVersion, 1)
    // The decision token verifies offline with the published key.
    const keys = await t().request({ method: 'GET', url: '/v1/audit/keys' })
    const verified = await verifyJws(
      decision.token,
      new Map(keys.body.keys.map((k: { keyId: string; publicKey: string }) => [k.keyId, k.publicKey])),
    )
    assert.equal(verified.header.typ, 'custodian-consent-decision+jws')
    assert.equal(verified.payload.allowed, true)
    assert.equal(verified.payload.purpose, 'newsletter')
    assert.equal(verified.payload.event, event.id)
    assert.equal(verified.payload.org, acme.orgId)
    assert.ok(!JSON.stringify(verified.payload).includes(subject))
    assert.ok(Number(verified.payload.exp) - Number(verified.payload.iat) <= 300)
  })

  it('is idempotent by the host’s event id: same body answers the first event, another body is a 409 (P7.7)', async () => {
    const body = {
      id: 'host-42',
      subject: 'subject-idem',
      purpose: 'newsletter',
      action: 'grant',
      method: 'button',
      noticeVersion: 1,
    }
    const first = await as('POST', '/events', body)
    assert.equal(first.status, 201, first.text)
    const again = await as('POST', '/events', body)
    assert.equal(again.status, 200, again.text)
    assert.equal(again.body.status, 'duplicate')
    assert.equal(again.body.event.id, first.body.event.id)
    const count = async () =>
      Number(
        (
          await t()
            .db.kysely.selectFrom('consent_events')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      )
    const before = await count()
    const changed = await as('POST', '/events', { ...body, action: 'deny' })
    assert.equal(changed.status, 409)
    assert.equal(changed.body.code, 'CONSENT_EVENT_CONFLICT')
    assert.equal(await count(), before, 'nothing recorded')
    // Concurrent retries of a new id: one event.
    const concurrent = { ...body, id: 'host-43', subject: 'subject-idem-2' }
    const answers = await Promise.all([1, 2, 3, 4].map(() => as('POST', '/events', concurrent)))
    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 200, 200, 201])
    assert.equal(new Set(answers.map((a) => a.body.event.id)).size, 1)
  })

  it('a check sweep always denies: expired, withdrawn, restricted, objection pending, basis not consent, unknown purpose, another org’s subject, re-consent past its grace (P7.7)', async () => {
    // Expired: a grant under a purpose with a 30-day lifetime, 31 days later.
    await grant('sweep-expired', 'analytics')
    assert.equal((await check('sweep-expired', 'analytics')).allowed, true)
    // Re-consent past its grace: a grant a material change superseded, 7 days' grace, 31 days later.
    await purpose(acme, { key: 'survey', lawfulBasis: 'consent', reconsentGraceDays: 7 })
    const surveyNotice = async (materialChange: boolean) =>
      (await as('POST', '/notices', { language: 'en', text: 'Surveys.', purposes: ['survey'], materialChange })).body
        .version as number
    await grant('sweep-reconsent', 'survey', acme, { noticeVersion: await surveyNotice(false) })
    await surveyNotice(true)
    assert.equal((await check('sweep-reconsent', 'survey')).reason, 'reconsent_grace')
    time.advance(31 * DAY)
    // Withdrawn.
    await grant('sweep-withdrawn', 'newsletter')
    const withdrawn = await as('POST', '/withdraw', { subject: 'sweep-withdrawn', purposes: ['newsletter'] })
    assert.equal(withdrawn.status, 201, withdrawn.text)
    // Restricted: the privacy module's restriction of the subject.
    await grant('sweep-restricted', 'newsletter')
    const restrict = await t().request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/privacy-requests`,
      token: acme.ownerToken,
      body: { kind: 'restrict', subjectId: 'sweep-restricted', verification: { method: 'signed-in-account' } },
    })
    assert.equal(restrict.status, 201, restrict.text)
    const restricted = await t().request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/privacy-requests/${restrict.body.id}/complete`,
      token: acme.ownerToken,
      body: {},
    })
    assert.equal(restricted.status, 200, restricted.text)
    // Objection pending: legitimate interests, not direct marketing — under review.
    await grant('sweep-objection', 'newsletter')
    const objected = await as('POST', '/events', {
      id: nextId(),
      subject: 'sweep-objection',
      purpose: 'fraud',
      action: 'object',
      method: 'form',
    })
    assert.equal(objected.status, 201, objected.text)
    // Basis not consent: a refused grant leaves the subject unknown.
    const refused = await as('POST', '/events', {
      id: nextId(),
      subject: 'sweep-basis',
      purpose: 'billing',
      action: 'grant',
      method: 'form',
      noticeVersion: 1,
    })
    assert.equal(refused.status, 409)
    // Another org's subject: granted there, asked here.
    await grant('sweep-elsewhere', 'newsletter', other)
    assert.equal((await check('sweep-elsewhere', 'newsletter', other)).allowed, true)

    const cases: [string, string, string][] = [
      ['sweep-expired', 'analytics', 'expired'],
      ['sweep-withdrawn', 'newsletter', 'withdrawn'],
      ['sweep-restricted', 'newsletter', 'restricted'],
      ['sweep-objection', 'fraud', 'objection_pending'],
      ['sweep-basis', 'billing', 'unknown_subject'],
      ['sweep-withdrawn', 'no-such-purpose', 'unknown_purpose'],
      ['sweep-elsewhere', 'newsletter', 'unknown_subject'],
      ['nobody-at-all', 'newsletter', 'unknown_subject'],
      ['sweep-objection', 'analytics', 'no_consent'],
      ['sweep-reconsent', 'survey', 'reconsent_required'],
    ]
    const batch = await as('POST', '/check', { checks: cases.map(([subject, p]) => ({ subject, purpose: p })) })
    assert.equal(batch.status, 200, batch.text)
    cases.forEach(([subject, p, reason], i) => {
      const decision = batch.body.decisions[i]
      assert.equal(decision.allowed, false, `${subject}/${p} must be denied`)
      assert.equal(decision.reason, reason, `${subject}/${p}`)
      assert.equal(typeof decision.token, 'string')
    })
    // A batch is read in one statement: each answer is the one its item gets alone, in order,
    // allowed ones among denied ones and the same item twice included.
    await grant('batch-order', 'newsletter')
    const mixed = [
      ['batch-order', 'newsletter'],
      ...cases.map(([subject, p]) => [subject, p]),
      ['batch-order', 'newsletter'],
      ['batch-order', 'analytics'],
    ] as [string, string][]
    const together = await as('POST', '/check', { checks: mixed.map(([subject, p]) => ({ subject, purpose: p })) })
    assert.equal(together.status, 200, together.text)
    for (const [i, [subject, p]] of mixed.entries()) {
      const alone = await check(subject, p)
      const decision = together.body.decisions[i]
      assert.equal(decision.purpose, p)
      assert.deepEqual(
        [decision.allowed, decision.reason, decision.eventId],
        [alone.allowed, alone.reason, alone.eventId],
        `${subject}/${p}`,
      )
    }
    assert.deepEqual(together.body.decisions.map((d: { allowed: boolean }) => d.allowed).filter(Boolean).length, 2)
    const tooMany = await as('POST', '/check', {
      checks: Array.from({ length: 101 }, () => ({ subject: 's', purpose: 'newsletter' })),
    })
    assert.equal(tooMany.status, 400)
  })

  it('a material change of the notice supersedes earlier grants until the subject consents again (P7.7)', async () => {
    await grant('reconsent-1', 'newsletter')
    assert.equal((await check('reconsent-1', 'newsletter')).allowed, true)
    const material = await as('POST', '/notices', {
      language: 'en',
      text: 'We now also share your email with partners.',
      purposes: ['newsletter'],
      materialChange: true,
    })
    assert.equal(material.status, 201, material.text)
    const superseded = await check('reconsent-1', 'newsletter')
    assert.equal(superseded.allowed, false)
    assert.equal(superseded.reason, 'reconsent_required', 'no grace period declared: refused at once')
    notice = material.body.version as number
    await grant('reconsent-1', 'newsletter')
    assert.equal((await check('reconsent-1', 'newsletter')).allowed, true)
  })

  it('an objection to direct marketing takes effect at once; another opens a one-month review decided with grounds (P7.7)', async () => {
    assert.equal((await check('objector', 'fraud')).reason, 'unknown_subject')
    await grant('objector', 'newsletter')
    assert.equal((await check('objector', 'fraud')).allowed, true, 'legitimate interests, no objection')
    const direct = await as('POST', '/events', {
      id: nextId(),
      subject: 'objector',
      purpose: 'ads',
      action: 'object',
      method: 'button',
    })
    assert.equal(direct.status, 201, direct.text)
    assert.equal(direct.body.event.objectionId, null, 'no review for direct marketing')
    const stopped = await check('objector', 'ads')
    assert.equal(stopped.allowed, false)
    assert.equal(stopped.reason, 'objected')
    const opened = await as('POST', '/events', {
      id: nextId(),
      subject: 'objector',
      purpose: 'fraud',
      action: 'object',
      method: 'form',
    })
    assert.equal(opened.status, 201, opened.text)
    const objectionId = opened.body.event.objectionId as string
    assert.ok(objectionId)
    const twice = await as('POST', '/events', {
      id: nextId(),
      subject: 'objector',
      purpose: 'fraud',
      action: 'object',
      method: 'form',
    })
    assert.equal(twice.status, 409, 'one pending objection at a time')
    const listed = await as('GET', '/objections')
    const pending = listed.body.objections.find((o: { id: string }) => o.id === objectionId)
    assert.equal(pending.status, 'pending')
    const opened_ = new Date(pending.openedAt)
    const due = new Date(pending.dueAt)
    assert.ok(due.getTime() - opened_.getTime() >= 28 * DAY && due.getTime() - opened_.getTime() <= 31 * DAY)
    assert.equal((await check('objector', 'fraud')).reason, 'objection_pending')
    const upheld = await as('POST', `/objections/${objectionId}/decide`, {
      decision: 'upheld',
      grounds: 'No compelling legitimate grounds override the subject’s interests.',
    })
    assert.equal(upheld.status, 200, upheld.text)
    assert.equal(upheld.body.status, 'upheld')
    assert.equal((await check('objector', 'fraud')).reason, 'objected')
    const again = await as('POST', `/objections/${objectionId}/decide`, { decision: 'rejected', grounds: 'x' })
    assert.equal(again.status, 409)
    const decisionEvent = await t()
      .db.kysely.selectFrom('audit_events')
      .select(['action', 'details'])
      .where('event_id', '=', upheld.body.decisionEventId)
      .executeTakeFirstOrThrow()
    assert.equal(decisionEvent.action, 'consent.objection_upheld')
    assert.match(String(decisionEvent.details.grounds), /compelling/)
    // Rejected: processing on legitimate interests goes on.
    const second = await as('POST', '/events', {
      id: nextId(),
      subject: 'objector-2',
      purpose: 'fraud',
      action: 'object',
      method: 'form',
    })
    const rejected = await as('POST', `/objections/${second.body.event.objectionId}/decide`, {
      decision: 'rejected',
      grounds: 'Fraud prevention is a compelling legitimate ground (Recital 47).',
    })
    assert.equal(rejected.status, 200, rejected.text)
    const goesOn = await check('objector-2', 'fraud')
    assert.equal(goesOn.allowed, true)
    assert.equal(goesOn.reason, 'lawful_basis')
    const notApplicable = await as('POST', '/events', {
      id: nextId(),
      subject: 'objector',
      purpose: 'billing',
      action: 'object',
      method: 'form',
    })
    assert.equal(notApplicable.status, 409)
    assert.equal(notApplicable.body.code, 'CONSENT_BASIS_MISMATCH')
  })

  it('applies each purpose’s GPC effect on a Sec-GPC: 1 record call, method gpc, never as consent (P7.7)', async () => {
    await grant('gpc-user', 'newsletter')
    assert.equal((await check('gpc-user', 'newsletter')).allowed, true)
    const recorded = await as(
      'POST',
      '/events',
      { id: nextId(), subject: 'gpc-user', purpose: 'analytics', action: 'deny', method: 'form' },
      acme,
      { 'sec-gpc': '1' },
    )
    assert.equal(recorded.status, 201, recorded.text)
    const gpc = recorded.body.gpcEvents as { purpose: string; action: string; method: string }[]
    assert.deepEqual(gpc.map((e) => [e.purpose, e.action, e.method]).sort(), [
      ['ads', 'object', 'gpc'],
      ['newsletter', 'withdraw', 'gpc'],
    ])
    assert.equal((await check('gpc-user', 'newsletter')).reason, 'withdrawn')
    assert.equal((await check('gpc-user', 'ads')).reason, 'objected')
    // An explicit opt-in sent with the signal is recorded, and flagged as conflicting with it.
    const optIn = await as(
      'POST',
      '/events',
      {
        id: nextId(),
        subject: 'gpc-user',
        purpose: 'newsletter',
        action: 'grant',
        method: 'form',
        noticeVersion: notice,
      },
      acme,
      { 'sec-gpc': '1' },
    )
    assert.equal(optIn.status, 201, optIn.text)
    assert.equal(optIn.body.event.gpcConflict, true)
    assert.ok(optIn.body.gpcEvents.every((e: { action: string }) => e.action !== 'grant'))
  })

  it('withdrawal in one step is effective for every check that starts after its commit (P7.7)', async () => {
    const subject = 'race-subject'
    await grant(subject, 'newsletter')
    let committedAt = Number.POSITIVE_INFINITY
    const late: boolean[] = []
    let running = true
    const client = async () => {
      while (running) {
        const startedAt = performance.now()
        const answer = await as('POST', '/check', { subject, purpose: 'newsletter' })
        assert.equal(answer.status, 200)
        if (startedAt > committedAt) late.push(answer.body.allowed as boolean)
      }
    }
    const clients = [client(), client(), client(), client()]
    await new Promise((resolve) => setTimeout(resolve, 50))
    const withdrawn = await as('POST', '/withdraw', { id: 'race-1', subject, purposes: ['newsletter'] })
    assert.equal(withdrawn.status, 201, withdrawn.text)
    committedAt = performance.now()
    await new Promise((resolve) => setTimeout(resolve, 200))
    running = false
    await Promise.all(clients)
    assert.ok(late.length > 0, 'checks ran after the withdrawal')
    assert.deepEqual(
      late.filter((allowed) => allowed),
      [],
      'no check that started after the withdrawal answered allowed',
    )
    const retry = await as('POST', '/withdraw', { id: 'race-1', subject, purposes: ['newsletter'] })
    assert.equal(retry.status, 200)
    assert.equal(retry.body.status, 'duplicate')
  })

  it('keeps each org’s consent rows to itself under row-level security (P2.1, P7.7)', async () => {
    for (const table of [
      'consent_purposes',
      'consent_notices',
      'consent_events',
      'consent_state',
      'consent_objections',
    ] as const) {
      const all = await t().db.kysely.selectFrom(table).select('org_id').distinct().execute()
      assert.ok(all.length >= 2 || table === 'consent_objections', `${table}: both orgs have rows`)
      const seen = await withOrg(t().db.kysely, acme.orgId, (trx) =>
        sql<{ org_id: string }>`SELECT DISTINCT org_id FROM ${sql.table(table)}`.execute(trx),
      )
      assert.deepEqual(
        seen.rows.map((r) => r.org_id),
        [acme.orgId],
        `${table}: another org's row leaked`,
      )
    }
  })

  it('after erasure the evidence no longer opens, the hashes stay, and every check denies (P7.7)', async () => {
    const subject = 'erase-me-9090'
    const recorded = await grant(subject, 'newsletter', acme, { evidence: { ip: '198.51.100.7', formId: 'f-1' } })
    const eventId = recorded.event.id as string
    const before = await t()
      .db.kysely.selectFrom('audit_personal')
      .select('event_id')
      .where('event_id', '=', eventId)
      .execute()
    assert.equal(before.length, 1, 'the evidence is sealed among the event’s personal fields')
    const request = await t().request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/privacy-requests`,
      token: acme.ownerToken,
      body: { kind: 'erase', subjectId: subject, verification: { method: 'signed-in-account' } },
    })
    assert.equal(request.status, 201, request.text)
    const done = await t().request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/privacy-requests/${request.body.id}/complete`,
      token: acme.ownerToken,
      body: {},
    })
    assert.equal(done.status, 200, done.text)
    const after = await t()
      .db.kysely.selectFrom('audit_personal')
      .select('event_id')
      .where('event_id', '=', eventId)
      .execute()
    assert.equal(after.length, 0, 'the sealed evidence is gone')
    const key = await withOrg(t().db.kysely, acme.orgId, (trx) =>
      t().app.services.subjects.key(trx, acme.orgId, subject, { create: false }),
    )
    assert.equal(key, undefined, 'the subject’s key is shredded: nothing sealed with it opens')
    const kept = await t()
      .db.kysely.selectFrom('consent_events')
      .select(['evidence_commitment', 'notice_sha256'])
      .where('id', '=', eventId)
      .executeTakeFirstOrThrow()
    assert.match(String(kept.evidence_commitment), /^sha256:/, 'the commitment stays')
    const audit = await t()
      .db.kysely.selectFrom('audit_events')
      .select('details')
      .where('event_id', '=', eventId)
      .executeTakeFirstOrThrow()
    assert.equal(audit.details.personal, kept.evidence_commitment)
    assert.equal((await check(subject, 'newsletter')).reason, 'erased')
    // The subject comes back (a new key): the earlier grant never counts again.
    await t().request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/records`,
      token: acme.ownerToken,
      body: { subjectId: subject, dataClass: 'contact', payload: { back: true } },
    })
    const back = await check(subject, 'newsletter')
    assert.equal(back.allowed, false)
    assert.equal(back.reason, 'erased')
    await t().app.sequencer.flush()
    const verified = await t().request({
      method: 'GET',
      url: `/v1/orgs/${acme.orgId}/audit/verify`,
      token: acme.ownerToken,
    })
    assert.equal(verified.body.ok, true, verified.text)
  })
})
