import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { withOrg } from '../../src/db/tenant.ts'
import { forEachEngine } from '../helpers/db.ts'
import { bootstrapProvider, createCustomerOrg, principalWithRole, useTestApp, type Org } from '../helpers/app.ts'
import type { JsonBody } from '../helpers/json.ts'

/**
 * Issue 14 §1: an application event's personal fields are sealed with the data subject's
 * key like Custodian's own (the chain holds their commitment; a subject-access export
 * opens them; erasure makes them unreadable and the chain still verifies), and the alert
 * rules can watch application actions.
 */
forEachEngine('application events: personal fields and alerts (issue 14 §1)', (engine) => {
  const t = useTestApp(engine, { CUSTODIAN_AUDIT_CHECKPOINT_EVERY: '1', CUSTODIAN_ALERT_CHECK_MS: '600000' })
  let acme: Org
  let writer: string

  const url = (tail: string) => `/v1/orgs/${acme.orgId}${tail}`
  const as = (method: string, tail: string, body?: unknown, token = acme.ownerToken) =>
    t().request({ method, url: url(tail), token, body })
  const event = (id: string, subject: string, email: string) => ({
    id,
    action: 'document.share',
    actor: { id: 'u_42', type: 'user' },
    targets: [{ type: 'document', id: 'doc_9' }],
    metadata: { role: 'viewer' },
    subject,
    personal: { email, name: 'Ada Lovelace' },
  })
  const privacyRequest = async (kind: string, subjectId: string) => {
    const created = await as('POST', '/privacy-requests', {
      kind,
      subjectId,
      requester: { name: 'Ada', email: 'ada@example.test', channel: 'support form' },
      verification: { method: 'signed-in-account' },
    })
    assert.equal(created.status, 201, created.text)
    const done = await as('POST', `/privacy-requests/${created.body.id}/complete`, {})
    assert.equal(done.status, 200, done.text)
    return done.body
  }
  const accessExport = async (subjectId: string) => {
    const done = await privacyRequest('access', subjectId)
    const download = await as('GET', `/privacy-exports/${done.exportId}`)
    assert.equal(download.status, 200, download.text)
    return download.body.auditEvents as { eventId: string; action: string; personal: Record<string, unknown> }[]
  }

  before(async () => {
    const provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', 'owner@acme.test')
    writer = (await principalWithRole(t(), acme, 'admin')).token
  })

  it('seals personal fields with the subject’s key: the chain holds their commitment, an access export opens them, erasure makes them unreadable', async () => {
    const recorded = await as('POST', '/audit/events', event('sealed-1', 'cust_1', 'ada@example.test'), writer)
    assert.equal(recorded.status, 201, recorded.text)
    const eventId = recorded.body.id as string
    assert.match(recorded.body.details.personal, /^sha256:[0-9a-f]{64}$/)
    const row = await t()
      .db.kysely.selectFrom('audit_events')
      .selectAll()
      .where('event_id', '=', eventId)
      .executeTakeFirstOrThrow()
    const stored = JSON.stringify(row)
    for (const value of ['ada@example.test', 'Ada Lovelace', 'cust_1'])
      assert.ok(!stored.includes(value), `${value} is not in the log in clear`)

    const exported = await accessExport('cust_1')
    const mine = exported.find((e) => e.eventId === eventId)
    assert.deepEqual(mine?.personal, { email: 'ada@example.test', name: 'Ada Lovelace' })
    assert.equal(mine?.action, 'document.share')

    const sealed = await t()
      .db.kysely.selectFrom('audit_personal')
      .selectAll()
      .where('event_id', '=', eventId)
      .executeTakeFirstOrThrow()
    await privacyRequest('erase', 'cust_1')
    assert.equal(
      (await t().db.kysely.selectFrom('audit_personal').select('event_id').where('event_id', '=', eventId).execute())
        .length,
      0,
      'the sealed fields are deleted',
    )
    const key = await withOrg(t().db.kysely, acme.orgId, (trx) =>
      t().app.services.subjects.keyByRef(trx, acme.orgId, Buffer.from(sealed.subject_ref)),
    )
    assert.equal(key, undefined, 'and the key that sealed them is shredded: a copy of them opens no more')

    await t().app.sequencer.flush()
    const verified = await as('GET', '/audit/verify')
    assert.equal(verified.body.ok, true, JSON.stringify(verified.body.problems))
    const listed = await as('GET', '/audit/events?origin=application')
    const kept = (listed.body.events as JsonBody[]).find((e) => e.id === eventId)
    assert.equal(kept?.details.personal, recorded.body.details.personal, 'the chained event keeps its commitment')
  })

  it('seals with one key when two requests bring a new subject’s first events at once', async () => {
    for (let round = 0; round < 5; round++) {
      const subject = `cust_race_${round}`
      const sent = (side: string) =>
        as(
          'POST',
          '/audit/events/batch',
          { events: [1, 2].map((n) => event(`race-${round}-${side}${n}`, subject, `${side}${n}@x.test`)) },
          writer,
        )
      const [one, two] = await Promise.all([sent('a'), sent('b')])
      assert.equal(one.status, 200, one.text)
      assert.equal(two.status, 200, two.text)
      const exported = (await accessExport(subject)).filter((e) => e.action === 'document.share')
      assert.deepEqual(
        exported.map((e) => e.personal.email).sort(),
        ['a1@x.test', 'a2@x.test', 'b1@x.test', 'b2@x.test'],
        'every event’s fields open with the subject’s one key',
      )
    }
  })

  it('raises an alert when a watched application action is recorded, and only then', async () => {
    const refusedFamily = await as('PUT', '/alert-rules/application_action', {
      enabled: true,
      threshold: 1,
      windowSeconds: 300,
      dedupeSeconds: 3600,
      actions: ['auth.*'],
    })
    assert.equal(refusedFamily.status, 400)
    assert.equal(refusedFamily.body.errors[0].path, '/body/actions')
    const notThatRule = await as('PUT', '/alert-rules/reveal_burst', {
      enabled: true,
      threshold: 20,
      windowSeconds: 300,
      dedupeSeconds: 3600,
      actions: ['document.export'],
    })
    assert.equal(notThatRule.status, 400)

    const set = await as('PUT', '/alert-rules/application_action', {
      enabled: true,
      threshold: 1,
      windowSeconds: 300,
      dedupeSeconds: 3600,
      actions: ['document.export', 'billing.*'],
    })
    assert.equal(set.status, 200, set.text)
    assert.deepEqual(set.body.actions, ['document.export', 'billing.*'])
    const kept = await as('PUT', '/alert-rules/application_action', {
      enabled: true,
      threshold: 1,
      windowSeconds: 300,
      dedupeSeconds: 600,
    })
    assert.deepEqual(kept.body.actions, ['document.export', 'billing.*'], 'a change without actions keeps them')
    const rules = await as('GET', '/alert-rules')
    assert.deepEqual(rules.body.rules.find((r: { rule: string }) => r.rule === 'application_action').actions, [
      'document.export',
      'billing.*',
    ])

    const quiet = await as(
      'POST',
      '/audit/events',
      { id: 'alert-0', action: 'document.view', actor: { id: 'u_9', type: 'user' } },
      writer,
    )
    assert.equal(quiet.status, 201)
    const loud = await as(
      'POST',
      '/audit/events',
      {
        id: 'alert-1',
        action: 'document.export',
        actor: { id: 'u_9', type: 'user' },
        targets: [{ type: 'workspace', id: 'ws_1' }],
      },
      writer,
    )
    assert.equal(loud.status, 201)
    await t().app.sequencer.flush()
    await t().app.services.alerts.evaluate()
    const alerts = await as('GET', '/alerts')
    const raised = (alerts.body.alerts as JsonBody[]).filter((a) => a.rule === 'application_action')
    assert.equal(raised.length, 1, JSON.stringify(alerts.body.alerts))
    assert.deepEqual(raised[0]?.eventIds, [loud.body.id])
    assert.equal(raised[0]?.details.action, 'document.export')
    assert.deepEqual(raised[0]?.details.actor, { type: 'user', id: 'u_9' })
  })
})
