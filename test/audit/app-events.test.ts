import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { sql } from 'kysely'
import { forEachEngine } from '../helpers/db.ts'
import {
  auditActions,
  bootstrapProvider,
  createCustomerOrg,
  fingerprint,
  principalWithRole,
  useTestApp,
  type Org,
  type TestApp,
} from '../helpers/app.ts'
import { verifyExport } from '../../src/modules/audit/audit.export.ts'
import { verifyReceipt } from '../../src/modules/audit/audit.receipt.ts'
import type { JsonBody } from '../helpers/json.ts'

/**
 * Issue 14 §1: the host application records its own events into the org's chain, marked
 * as application events, idempotent by its own event id (retries and concurrent clients
 * alike), checked against the provider's event schema, never in Custodian's own action
 * families — and under everything Custodian's events are under: query, export,
 * verification, checkpoints and receipts.
 */
forEachEngine('application events in the audit chain (issue 14 §1)', (engine) => {
  const t = useTestApp(engine, { CUSTODIAN_AUDIT_CHECKPOINT_EVERY: '1', CUSTODIAN_APP_EVENTS_BATCH_MAX: '50' })
  let provider: Org
  let acme: Org
  let other: Org
  /** The host application: a service account whose custom role holds only audit:write. */
  let writer: string
  let reader: string

  const url = (org: Org, tail: string) => `/v1/orgs/${org.orgId}${tail}`
  const record = (body: unknown, token = writer, org = acme) =>
    t().request({ method: 'POST', url: url(org, '/audit/events'), token, body })
  const batch = (events: unknown[], token = writer, org = acme) =>
    t().request({ method: 'POST', url: url(org, '/audit/events/batch'), token, body: { events } })
  const appRows = async (app: TestApp, orgId: string) =>
    app.db.kysely
      .selectFrom('audit_events')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('origin', '=', 'application')
      .orderBy('id')
      .execute()
  const share = (id: string, extra: Record<string, unknown> = {}) => ({
    id,
    action: 'document.share',
    actor: { id: 'u_42', type: 'user', name: 'Ada' },
    targets: [
      { type: 'document', id: 'doc_9', name: 'Q3 plan' },
      { type: 'user', id: 'u_7' },
    ],
    outcome: 'success',
    occurredAt: '2026-12-01T10:00:00.000Z',
    ip: '203.0.113.9',
    userAgent: 'Mozilla/5.0 (test)',
    metadata: { role: 'viewer' },
    ...extra,
  })

  before(async () => {
    provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', 'owner@acme.test')
    other = await createCustomerOrg(t(), provider, 'Other', 'owner@other.test')
    const role = await t().request({
      method: 'POST',
      url: url(acme, '/roles'),
      token: acme.ownerToken,
      body: { name: 'app-events', description: 'the host application', permissions: ['audit:write'] },
    })
    assert.equal(role.status, 201, role.text)
    writer = (await principalWithRole(t(), acme, 'app-events')).token
    reader = (await principalWithRole(t(), acme, 'auditor')).token
  })

  it('records an application event, marked as such, with what the application said and who recorded it', async () => {
    const created = await record(share('evt-1'))
    assert.equal(created.status, 201, created.text)
    const event = created.body
    assert.equal(event.origin, 'application')
    assert.deepEqual(event.actor, { type: 'user', id: 'u_42' })
    assert.deepEqual(event.target, { type: 'document', id: 'doc_9' })
    assert.equal(event.action, 'document.share')
    assert.equal(event.ip, '203.0.113.9')
    assert.equal(event.userAgent, 'Mozilla/5.0 (test)')
    assert.equal(event.details.eventId, 'evt-1')
    assert.equal(event.details.occurredAt, '2026-12-01T10:00:00.000Z')
    assert.equal(event.details.actorName, 'Ada')
    assert.equal(event.details.targets.length, 2)
    assert.deepEqual(event.details.metadata, { role: 'viewer' })
    assert.equal(event.details.recordedBy.type, 'service_account')
    assert.equal(created.headers['x-request-id'], event.requestId)

    const listed = async (query: string) =>
      (await t().request({ method: 'GET', url: url(acme, `/audit/events?${query}`), token: reader })).body
        .events as JsonBody[]
    assert.deepEqual(
      (await listed('origin=application')).map((e) => e.id),
      [event.id],
    )
    assert.ok((await listed('origin=custodian')).every((e) => e.origin === 'custodian'))
    assert.ok((await listed('origin=custodian')).length > 0)
    assert.deepEqual(
      (await listed('action=document.*')).map((e) => e.id),
      [event.id],
    )
    assert.deepEqual(
      (await listed('actor=u_42')).map((e) => e.id),
      [event.id],
    )
    // Another org sees none of it.
    const theirs = await t().request({
      method: 'GET',
      url: url(other, '/audit/events?origin=application'),
      token: other.ownerToken,
    })
    assert.deepEqual(theirs.body.events, [])
  })

  it('chains it: verified, exported with origin "application", and proved by a receipt that verifies offline', async () => {
    const created = await record(share('evt-chain'))
    assert.equal(created.status, 201, created.text)
    await t().app.sequencer.flush()
    const verified = await t().request({ method: 'GET', url: url(acme, '/audit/verify'), token: acme.ownerToken })
    assert.equal(verified.body.ok, true, JSON.stringify(verified.body.problems))

    const exported = await t().request({ method: 'GET', url: url(acme, '/audit/export'), token: acme.ownerToken })
    const line = exported.text.split('\n').find((l) => l.includes('"evt-chain"'))
    assert.ok(line !== undefined)
    const chained = JSON.parse(line).event
    assert.equal(chained.origin, 'application')
    assert.equal(chained.details.eventId, 'evt-chain')
    const custodianLine = exported.text.split('\n').find((l) => l.includes('"action":"org.created"'))
    assert.ok(
      custodianLine !== undefined && !('origin' in JSON.parse(custodianLine).event),
      'Custodian’s own events carry no origin key',
    )
    const keys = new Map([
      [
        t().app.services.audit.publicKeys()[0]?.keyId as string,
        t().app.services.audit.publicKeys()[0]?.publicKey as string,
      ],
    ])
    const offline = await verifyExport(exported.text, { pinnedKeys: keys })
    assert.equal(offline.ok, true, JSON.stringify(offline.problems))

    const receipt = await t().request({
      method: 'GET',
      url: url(acme, `/audit/events/${created.body.id}/receipt`),
      token: reader,
    })
    assert.equal(receipt.status, 200, receipt.text)
    assert.equal(receipt.body.event.origin, 'application')
    const latest = await t().request({
      method: 'GET',
      url: url(acme, '/audit/checkpoints/latest'),
      token: reader,
    })
    assert.deepEqual(verifyReceipt(receipt.body, latest.body.verifierKey).problems, [])
    // Changing the marker breaks the proof: it is in the leaf.
    const forged = { ...receipt.body, event: { ...receipt.body.event, origin: undefined } }
    assert.equal(verifyReceipt(JSON.parse(JSON.stringify(forged)), latest.body.verifierKey).ok, false)
  })

  it('answers a retry with the original event, and refuses the same id with other content, changing nothing', async () => {
    const first = await record(share('evt-retry'))
    assert.equal(first.status, 201)
    const again = await record(share('evt-retry'))
    assert.equal(again.status, 200, again.text)
    assert.equal(again.body.id, first.body.id)
    const before = (await appRows(t(), acme.orgId)).length
    const conflict = await record(share('evt-retry', { outcome: 'failure' }))
    assert.equal(conflict.status, 409, conflict.text)
    assert.equal(conflict.body.code, 'APP_EVENT_CONFLICT')
    assert.equal(conflict.body.errors[0].path, '/body/id')
    assert.equal((await appRows(t(), acme.orgId)).length, before)
    // The same id is another event in another org.
    const role = await t().request({
      method: 'POST',
      url: url(other, '/roles'),
      token: other.ownerToken,
      body: { name: 'app-events', permissions: ['audit:write'] },
    })
    assert.equal(role.status, 201, role.text)
    const otherWriter = (await principalWithRole(t(), other, 'app-events')).token
    const elsewhere = await record(share('evt-retry', { outcome: 'failure' }), otherWriter, other)
    assert.equal(elsewhere.status, 201, elsewhere.text)
  })

  it('records a batch in order, all or nothing, answering duplicates with their first event', async () => {
    const done = await batch([share('b-1'), share('b-2'), share('evt-1'), share('b-1')])
    assert.equal(done.status, 200, done.text)
    const answers = done.body.events as { id: string; eventId: string; status: string }[]
    assert.deepEqual(
      answers.map((a) => [a.id, a.status]),
      [
        ['b-1', 'recorded'],
        ['b-2', 'recorded'],
        ['evt-1', 'duplicate'],
        ['b-1', 'recorded'],
      ],
    )
    assert.equal(answers[0]?.eventId, answers[3]?.eventId, 'a repeat within the batch is the same event')
    const before = await fingerprint(t())
    const count = (await appRows(t(), acme.orgId)).length
    const refused = await batch([share('b-3'), share('b-4'), share('b-5', { action: 'secret.reveal' })])
    assert.equal(refused.status, 400, refused.text)
    assert.equal(refused.body.errors[0].path, '/body/events/2/action')
    const conflicting = await batch([share('b-6'), share('b-6', { outcome: 'denied' })])
    assert.equal(conflicting.status, 409)
    assert.equal(conflicting.body.errors[0].path, '/body/events/1/id')
    const againConflicting = await batch([share('b-7'), share('b-2', { outcome: 'denied' })])
    assert.equal(againConflicting.status, 409)
    const tooMany = await batch(Array.from({ length: 51 }, (_, i) => share(`many-${i}`)))
    assert.equal(tooMany.status, 400)
    assert.equal((await appRows(t(), acme.orgId)).length, count, 'nothing of a refused batch is kept')
    assert.equal(await fingerprint(t()), before)
  })

  it('gives one event per id when two clients send the same ids at once (no duplicate, no deadlock)', async () => {
    for (let round = 0; round < 3; round++) {
      const ids = Array.from({ length: 20 }, (_, i) => `race-${round}-${i}`)
      const events = ids.map((id) => share(id))
      // The second client sends them in another order: the claims must not deadlock.
      const [one, two, three] = await Promise.all([batch(events), batch([...events].reverse()), record(events[7])])
      assert.equal(one.status, 200, one.text)
      assert.equal(two.status, 200, two.text)
      assert.ok(three.status === 200 || three.status === 201, three.text)
      const byId = new Map((one.body.events as { id: string; eventId: string }[]).map((e) => [e.id, e.eventId]))
      for (const e of two.body.events as { id: string; eventId: string }[]) assert.equal(byId.get(e.id), e.eventId)
      assert.equal(byId.get(ids[7] as string), three.body.id)
      const stored = await t()
        .db.kysely.selectFrom('audit_events')
        .select((eb) => [sql<string>`details->>'eventId'`.as('app_id'), eb.fn.countAll<number>().as('n')])
        .where('org_id', '=', acme.orgId)
        .where(sql<string>`details->>'eventId'`, 'in', ids)
        .groupBy(sql`details->>'eventId'`)
        .execute()
      assert.equal(stored.length, 20)
      assert.ok(
        stored.every((r) => Number(r.n) === 1),
        JSON.stringify(stored.filter((r) => Number(r.n) !== 1)),
      )
    }
  })

  it('refuses Custodian’s own action families and malformed facts, recording nothing', async () => {
    const before = (await appRows(t(), acme.orgId)).length
    for (const action of ['auth.login', 'secret.reveal', 'member.role_change', 'audit.export', 'org.sso.update']) {
      const refused = await record(share(`res-${action}`, { action }))
      assert.equal(refused.status, 400, action)
      assert.equal(refused.body.code, 'VALIDATION_FAILED')
      assert.equal(refused.body.errors[0].path, '/body/action')
    }
    const cases: [Record<string, unknown>, string][] = [
      [{ ip: 'not-an-address' }, '/body/ip'],
      [{ occurredAt: new Date(Date.now() + 3_600_000).toISOString() }, '/body/occurredAt'],
      // RFC 3339 allows a leap second, which no JavaScript Date holds: a 400, never a 500.
      [{ occurredAt: '2016-12-31T23:59:60Z' }, '/body/occurredAt'],
      [{ personal: { email: 'ada@example.test' } }, '/body/subject'],
      [{ subject: 'cust_1' }, '/body/personal'],
      [{ action: 'Document.Share' }, '/body/action'],
      [{ actor: { id: 'u', type: 'user', extra: 1 } }, '/body/actor'],
    ]
    for (const [extra, path] of cases) {
      const refused = await record(share('bad', extra))
      assert.equal(refused.status, 400, `${path}: ${refused.text}`)
      assert.equal(refused.body.errors[0].path, path, refused.text)
    }
    const infinite = await t().request({
      method: 'POST',
      url: url(acme, '/audit/events'),
      token: writer,
      payload: JSON.stringify(share('inf', { metadata: { n: 0 } })).replace('"n":0', '"n":1e400'),
    })
    assert.equal(infinite.status, 400, infinite.text)
    assert.equal(infinite.body.errors[0].path, '/body/metadata/n')
    const huge = await record(share('huge', { metadata: { a: 'x'.repeat(20_000), b: 'y'.repeat(20_000) } }))
    assert.equal(huge.status, 413, huge.text)
    assert.equal(huge.body.code, 'PAYLOAD_TOO_LARGE')
    assert.equal((await appRows(t(), acme.orgId)).length, before)
  })

  it('fails closed: if the events cannot be written, nothing of the request is kept and the caller gets 503', async () => {
    const before = await fingerprint(t())
    await sql`REVOKE INSERT ON audit_events FROM custodian_app`.execute(t().db.kysely)
    try {
      const refused = await batch([
        share('closed-1', { subject: 'cust_closed', personal: { email: 'closed@example.test' } }),
        share('closed-2'),
      ])
      assert.equal(refused.status, 503, refused.text)
      assert.equal(refused.body.code, 'AUDIT_UNAVAILABLE')
      assert.equal(await fingerprint(t()), before, 'no id claimed, no subject key made')
    } finally {
      await sql`GRANT INSERT ON audit_events TO custodian_app`.execute(t().db.kysely)
    }
    assert.equal((await batch([share('closed-1'), share('closed-2')])).status, 200, 'the ids are free again')
  })

  it("fails closed as the database's unavailability when the session ends at the events' insert (a failover): SERVICE_UNAVAILABLE", async () => {
    const before = await fingerprint(t())
    const k = t().db.kysely
    await sql`CREATE FUNCTION test_session_ends() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'terminating connection due to administrator command' USING ERRCODE = '57P01'; END $$`.execute(
      k,
    )
    await sql`CREATE TRIGGER test_session_ends BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION test_session_ends()`.execute(
      k,
    )
    try {
      const refused = await batch([share('ended-1'), share('ended-2')])
      assert.equal(refused.status, 503, refused.text)
      assert.equal(refused.body.code, 'SERVICE_UNAVAILABLE')
      assert.ok(!refused.text.includes('administrator'), 'no driver message leaks')
      assert.equal(await fingerprint(t()), before, 'nothing of the request kept')
    } finally {
      await sql`DROP TRIGGER test_session_ends ON audit_events`.execute(k)
      await sql`DROP FUNCTION test_session_ends()`.execute(k)
    }
  })

  it('needs audit:write, from a token scoped to it too; another org’s principal gets 404', async () => {
    const denied = await record(share('perm-1'), reader)
    assert.equal(denied.status, 403)
    assert.equal(denied.body.permission, 'audit:write')
    const anonymous = await t().request({ method: 'POST', url: url(acme, '/audit/events'), body: share('perm-2') })
    assert.equal(anonymous.status, 401)
    assert.equal((await record(share('perm-3'), other.ownerToken)).status, 404)
    const scoped = await t().request({
      method: 'POST',
      url: url(acme, '/tokens'),
      token: acme.ownerToken,
      body: { name: 'events only', expiresInDays: 1, scopes: ['audit:write'] },
    })
    assert.equal(scoped.status, 201, scoped.text)
    const ok = await record(share('perm-4'), scoped.body.token)
    assert.equal(ok.status, 201, ok.text)
    assert.equal(ok.body.details.recordedBy.type, 'user')
    const refusals = (await auditActions(t(), acme.orgId)).filter((e) => e.action === 'access.denied')
    assert.ok(
      refusals.some((e) => e.details.permission === 'audit:write'),
      'the refusal is in the log',
    )
  })

  it('checks events against the provider’s schema, which only the provider declares, audited', async () => {
    const read = await t().request({ method: 'GET', url: url(acme, '/audit/event-schema'), token: reader })
    assert.equal(read.status, 200, read.text)
    assert.equal(read.body.version, 0)
    assert.equal(read.body.schema.unknownActions, 'accept')

    const schema = {
      unknownActions: 'refuse',
      unknownKeys: 'refuse',
      actions: {
        'document.share': {
          description: 'a document was shared',
          metadata: { role: { type: 'string', required: true } },
          personal: { email: { type: 'string' } },
        },
      },
    }
    const byCustomer = await t().request({
      method: 'PUT',
      url: url(acme, '/audit/event-schema'),
      token: acme.ownerToken,
      body: schema,
    })
    assert.equal(byCustomer.status, 403, 'audit:schema is the provider org’s')
    const reserved = await t().request({
      method: 'PUT',
      url: url(provider, '/audit/event-schema'),
      token: provider.ownerToken,
      body: { ...schema, actions: { 'auth.login': {} } },
    })
    assert.equal(reserved.status, 400)
    assert.equal(reserved.body.errors[0].path, '/body/actions/auth.login')
    const put = await t().request({
      method: 'PUT',
      url: url(provider, '/audit/event-schema'),
      token: provider.ownerToken,
      body: schema,
    })
    assert.equal(put.status, 200, put.text)
    assert.equal(put.body.version, 1)
    const change = (await auditActions(t(), provider.orgId)).find((e) => e.action === 'audit.event_schema.update')
    assert.equal(change?.details.version, 1)
    assert.match(String(change?.details.sha256), /^[0-9a-f]{64}$/)

    // It applies to every org's application events at once.
    const seen = await t().request({ method: 'GET', url: url(acme, '/audit/event-schema'), token: reader })
    assert.deepEqual(seen.body.schema, schema)
    const before = (await appRows(t(), acme.orgId)).length
    const refusals: [Record<string, unknown>, string][] = [
      [{ action: 'document.delete' }, '/body/action'],
      [{ metadata: { role: 'viewer', extra: 1 } }, '/body/metadata/extra'],
      [{ metadata: { role: 7 } }, '/body/metadata/role'],
      [{ metadata: {} }, '/body/metadata'],
      [{ metadata: { role: 'viewer', email: 'ada@example.test' } }, '/body/metadata/email'],
    ]
    for (const [extra, path] of refusals) {
      const refused = await record(share('schema-bad', extra))
      assert.equal(refused.status, 400, `${path}: ${refused.text}`)
      assert.equal(refused.body.errors[0].path, path)
    }
    assert.equal((await appRows(t(), acme.orgId)).length, before)
    const ok = await record(share('schema-ok', { subject: 'cust_1', personal: { email: 'ada@example.test' } }))
    assert.equal(ok.status, 201, ok.text)

    const open = await t().request({
      method: 'PUT',
      url: url(provider, '/audit/event-schema'),
      token: provider.ownerToken,
      body: { ...schema, unknownActions: 'accept' },
    })
    assert.equal(open.body.version, 2)
    assert.equal((await record(share('schema-open', { action: 'document.delete' }))).status, 201)
  })
})
