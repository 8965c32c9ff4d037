import assert from 'node:assert/strict'
import { createHash, createHmac, randomUUID } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, it } from 'node:test'
import { sql } from 'kysely'
import { verifyJws } from '../../src/crypto/jws.ts'
import { checkCertificateReceipt } from '../../src/modules/privacy/certificate-receipt.ts'
import { forEachEngine } from '../helpers/db.ts'
import {
  auditActions,
  bootstrapProvider,
  createCustomerOrg,
  fingerprint,
  principalWithRole,
  testClock,
  useTestApp,
  type Org,
} from '../helpers/app.ts'
import { startHttpsReceiver, type Received } from '../helpers/https-receiver.ts'
import { runToExit } from '../helpers/process.ts'

const HOUR = 3_600_000
const dir = mkdtempSync(path.join(tmpdir(), 'custodian-privacy-'))
const caFile = path.join(dir, 'receiver-ca.pem')
let receiver: Awaited<ReturnType<typeof startHttpsReceiver>>
// The CRM endpoint fails each delivery's first attempt, then confirms; the warehouse never does.
const seen = new Set<string>()
before(async () => {
  receiver = await startHttpsReceiver(caFile, (r: Received) => {
    if (r.path !== '/crm') return 500
    const delivery = String(r.headers['x-custodian-delivery'])
    if (seen.has(delivery)) return 200
    seen.add(delivery)
    return 503
  })
})
after(async () => {
  await receiver?.close()
})

/** Data-subject requests (P7.1, P7.2), erasure with webhooks and certificates, egress (P7.5, P7.6). */
forEachEngine('data-subject requests and erasure (P7.1, P7.2, P7.5, P7.6)', (engine) => {
  const time = testClock()
  const env: Record<string, string> = {
    CUSTODIAN_WEBHOOK_RETRY_BASE_MS: '1000',
    CUSTODIAN_WEBHOOK_MAX_ATTEMPTS: '3',
    CUSTODIAN_EXTRA_CA_FILE: caFile,
    CUSTODIAN_SHRED_RING_GRACE_MS: '0',
    // A checkpoint at every sequencer pass: a certificate's receipt is there at once.
    CUSTODIAN_AUDIT_CHECKPOINT_EVERY: '1',
  }
  const t = useTestApp(engine, env, undefined, undefined, { clock: time.clock })
  let acme: Org
  let other: Org
  let app: { token: string }
  let crmSecret = ''
  const url = (p: string) => `/v1/orgs/${acme.orgId}${p}`
  const as = (method: string, p: string, body?: unknown, token = acme.ownerToken) =>
    t().request({ method, url: url(p), token, body })
  const newRequest = async (kind: string, subjectId: string, verified = true) => {
    const created = await as('POST', '/privacy-requests', {
      kind,
      subjectId,
      requester: { name: 'Ada', email: 'ada@example.test', channel: 'support form' },
      ...(verified ? { verification: { method: 'signed-in-account', note: 'passport PX-55173 seen on call' } } : {}),
    })
    assert.equal(created.status, 201, created.text)
    return created.body as { id: string; dueAt: string; receivedAt: string }
  }
  const record = (subjectId: string, dataClass: string, payload: unknown) =>
    as('POST', '/records', { subjectId, dataClass, payload }, app.token)

  before(async () => {
    const provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', 'owner@acme.test')
    other = await createCustomerOrg(t(), provider, 'Other', 'owner@other.test')
    app = await principalWithRole(t(), acme, 'admin')
  })

  it('records a request due 72 hours after receipt, its requester sealed, completed only once identity is verified', async () => {
    const created = await newRequest('access', 'subject-a@example.test', false)
    assert.equal(new Date(created.dueAt).getTime() - new Date(created.receivedAt).getTime(), 72 * HOUR)
    const refused = await as('POST', `/privacy-requests/${created.id}/complete`, {})
    assert.equal(refused.status, 409)
    assert.equal(refused.body.code, 'VERIFICATION_REQUIRED')
    assert.equal(
      (
        await as('POST', `/privacy-requests/${created.id}/verify`, {
          method: 'document',
          note: 'passport PX-55173 seen on call',
        })
      ).status,
      200,
    )
    const tables = await sql<{
      tablename: string
    }>`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`.execute(t().db.kysely)
    for (const { tablename } of tables.rows) {
      for (const needle of ['subject-a@example.test', 'ada@example.test', 'PX-55173']) {
        const hit = await sql<{
          n: number
        }>`SELECT count(*)::int AS n FROM ${sql.table(tablename)} AS x WHERE x::text LIKE ${`%${needle}%`}`.execute(
          t().db.kysely,
        )
        assert.equal(hit.rows[0]?.n, 0, `${needle} in ${tablename}`)
      }
    }
    const view = await as('GET', `/privacy-requests/${created.id}`)
    assert.equal(view.body.subjectId, 'subject-a@example.test')
    assert.deepEqual(view.body.requester, { name: 'Ada', email: 'ada@example.test', channel: 'support form' })
    assert.equal(view.body.verification.method, 'document')
    assert.equal(
      view.body.verification.note,
      'passport PX-55173 seen on call',
      'the note reads back, though stored sealed',
    )
    assert.equal(view.body.history[0].event, 'received')
  })

  it('answers an access request with an export, downloadable by an authenticated caller until it expires (P7.6)', async () => {
    await record('subject-b', 'contact', { phone: '+1 555 0100' })
    await record('subject-b', 'usage', { logins: 4 })
    const request = await newRequest('access', 'subject-b')
    const done = await as('POST', `/privacy-requests/${request.id}/complete`, {})
    assert.equal(done.status, 200, done.text)
    assert.equal(done.body.status, 'completed')
    const download = await as('GET', `/privacy-exports/${done.body.exportId}`)
    assert.equal(download.status, 200)
    assert.match(String(download.headers['content-disposition']), /attachment/)
    assert.equal(download.body.subjectId, 'subject-b')
    assert.equal(download.body.records.length, 2)
    assert.ok(
      download.body.auditEvents.some(
        (e: { action: string; personal: { subject?: string } }) =>
          e.action === 'record.create' && e.personal.subject === 'subject-b',
      ),
    )
    assert.equal(
      (await t().request({ method: 'GET', url: url(`/privacy-exports/${done.body.exportId}`) })).status,
      401,
      'never without credentials',
    )
    const egress = (await auditActions(t(), acme.orgId)).find((e) => e.action === 'privacy.export.download')
    assert.deepEqual(Object.keys(egress?.details.destination as object).sort(), ['ip', 'userAgent'])
    time.advance(72 * HOUR + 1000)
    const expired = await as('GET', `/privacy-exports/${done.body.exportId}`)
    assert.equal(expired.status, 410)
    assert.equal(expired.body.code, 'EXPORT_EXPIRED')
    const row = await t()
      .db.kysely.selectFrom('privacy_exports')
      .select('sealed')
      .where('id', '=', done.body.exportId)
      .executeTakeFirstOrThrow()
    assert.equal(row.sealed, null, 'an expired export’s content is erased')
  })

  it('rectifies a subject’s records, and refuses corrections to someone else’s', async () => {
    const mine = await record('subject-c', 'contact', { city: 'Lyon' })
    const theirs = await record('subject-d', 'contact', { city: 'Oslo' })
    const request = await newRequest('rectify', 'subject-c')
    const before = await fingerprint(t())
    const wrong = await as('POST', `/privacy-requests/${request.id}/complete`, {
      corrections: [{ recordId: theirs.body.id, payload: { city: 'Paris' } }],
    })
    assert.equal(wrong.status, 400)
    assert.equal(wrong.body.errors[0].path, '/body/corrections/0/recordId')
    assert.equal(await fingerprint(t()), before)
    const done = await as('POST', `/privacy-requests/${request.id}/complete`, {
      corrections: [{ recordId: mine.body.id, payload: { city: 'Lille' } }],
    })
    assert.equal(done.status, 200, done.text)
    assert.deepEqual((await as('GET', `/records/${mine.body.id}`, undefined, app.token)).body.payload, {
      city: 'Lille',
    })
  })

  it('restricts processing until lifted: readers are refused in between, and so are new records (P7.1)', async () => {
    const rec = await record('subject-e', 'contact', { x: 1 })
    const restrict = await newRequest('restrict', 'subject-e')
    assert.equal((await as('POST', `/privacy-requests/${restrict.id}/complete`, {})).status, 200)
    const refused = await as('GET', `/records/${rec.body.id}`, undefined, app.token)
    assert.equal(refused.status, 409)
    assert.equal(refused.body.code, 'PROCESSING_RESTRICTED')
    assert.equal((await as('POST', '/records/search', { subjectId: 'subject-e' }, app.token)).status, 409)
    const count = async () =>
      Number(
        (
          await t()
            .db.kysely.selectFrom('data_records')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      )
    const before = await count()
    const added = await record('subject-e', 'contact', { x: 2 })
    assert.equal(added.status, 409, 'no new record for a restricted subject')
    assert.equal(added.body.code, 'PROCESSING_RESTRICTED')
    assert.equal(await count(), before)
    const lift = await newRequest('lift_restriction', 'subject-e')
    assert.equal((await as('POST', `/privacy-requests/${lift.id}/complete`, {})).status, 200)
    assert.equal((await as('GET', `/records/${rec.body.id}`, undefined, app.token)).status, 200)
    assert.equal((await record('subject-e', 'contact', { x: 3 })).status, 201, 'accepted again once lifted')
  })

  it('erases a subject everywhere, tells every webhook with retries, and certifies it once they settle', async () => {
    const crm = await as('POST', '/webhooks', {
      name: 'crm',
      url: `${receiver.url}/crm`,
      events: ['erasure.requested'],
    })
    assert.equal(crm.status, 201, crm.text)
    crmSecret = crm.body.secret
    assert.equal(
      (
        await as('POST', '/webhooks', {
          name: 'warehouse',
          url: `${receiver.url}/warehouse`,
          events: ['erasure.requested'],
        })
      ).status,
      201,
    )
    assert.equal(
      (await as('POST', '/webhooks', { name: 'plain', url: 'http://localhost/x', events: ['erasure.requested'] }))
        .status,
      400,
      'HTTPS only',
    )
    assert.doesNotMatch((await as('GET', '/webhooks')).text, new RegExp(crmSecret))

    await record('subject-z', 'contact', { email: 'z@example.test' })
    await record('subject-z', 'customer_data', { order: 42 })
    const request = await newRequest('erase', 'subject-z')
    const ref = (
      await t()
        .db.kysely.selectFrom('privacy_requests')
        .select('subject_ref')
        .where('id', '=', request.id)
        .executeTakeFirstOrThrow()
    ).subject_ref
    assert.ok(
      (await t().db.kysely.selectFrom('audit_personal').select('event_id').where('subject_ref', '=', ref).execute())
        .length >= 3,
    )

    const done = await as('POST', `/privacy-requests/${request.id}/complete`, {})
    assert.equal(done.status, 200, done.text)
    assert.equal(done.body.status, 'in_progress', 'the certificate waits for the webhooks')
    const salt = done.body.subjectSalt as string
    assert.equal(done.body.subjectId, null, 'the request’s own copy of the subject is erased too')
    assert.equal(
      (await t().db.kysely.selectFrom('data_records').select('id').where('subject_ref', '=', ref).execute()).length,
      0,
    )
    assert.equal(
      (await t().db.kysely.selectFrom('audit_personal').select('event_id').where('subject_ref', '=', ref).execute())
        .length,
      0,
    )
    const key = await t()
      .db.kysely.selectFrom('subject_keys')
      .selectAll()
      .where('subject_ref', '=', ref)
      .executeTakeFirstOrThrow()
    assert.equal(key.wrapped_key, null, 'the subject key is shredded')

    // Delivery 1: the CRM answers 503, the warehouse 500.
    await t().app.services.webhooks.deliverDue()
    const first = (await as('GET', `/webhook-deliveries?requestId=${request.id}`)).body.deliveries
    assert.deepEqual(
      first.map((d: { status: string; attempts: number }) => [d.status, d.attempts]),
      [
        ['pending', 1],
        ['pending', 1],
      ],
    )
    for (let i = 0; i < 3; i++) {
      time.advance(10 * 60_000)
      await t().app.services.webhooks.deliverDue()
    }
    const settled = (await as('GET', `/webhook-deliveries?requestId=${request.id}`)).body.deliveries
    const byName = Object.fromEntries(settled.map((d: { webhook: string }) => [d.webhook, d]))
    assert.equal(byName.crm.status, 'delivered')
    assert.equal(byName.crm.attempts, 2)
    assert.equal(byName.warehouse.status, 'failed', 'dead-lettered after the last attempt')
    assert.equal(byName.warehouse.attempts, 3)
    assert.equal(
      (
        await t()
          .db.kysely.selectFrom('webhook_deliveries')
          .select('sealed')
          .where('request_id', '=', request.id)
          .where('sealed', 'is not', null)
          .execute()
      ).length,
      0,
      'settled payloads are erased',
    )

    // The CRM got a signed request naming the subject.
    const delivered = receiver.received.filter((r) => r.path === '/crm').at(-1) as Received
    const [, t0, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(delivered.headers['x-custodian-signature'])) ?? []
    assert.equal(createHmac('sha256', crmSecret).update(`${t0}.${delivered.body}`).digest('hex'), v1)
    assert.equal(JSON.parse(delivered.body).subjectId, 'subject-z')

    assert.equal(
      (await as('GET', `/privacy-requests/${request.id}`)).body.status,
      'in_progress',
      'webhooks settled; the shred ring has not retired the key yet',
    )
    const shred = await t().app.services.shredding.pass()
    assert.deepEqual([shred.advanced, shred.retired], [1, 1])
    const completed = await as('GET', `/privacy-requests/${request.id}`)
    assert.equal(completed.body.status, 'completed')
    const certificates = (await as('GET', '/erasure-certificates')).body.certificates
    assert.equal(certificates.length, 1)
    const keys = new Map<string, string>(
      (await t().request({ method: 'GET', url: '/v1/audit/keys' })).body.keys.map(
        (k: { keyId: string; publicKey: string }) => [k.keyId, k.publicKey],
      ),
    )
    const { payload } = await verifyJws(certificates[0].jws, keys)
    assert.equal(
      (payload.subject as { commitment: string }).commitment,
      `sha256:${createHash('sha256').update(Buffer.from(salt, 'base64url')).update('subject-z').digest('hex')}`,
    )
    const systems = payload.systems as {
      system: string
      action: string
      count?: number
      dataClasses?: Record<string, number>
    }[]
    assert.deepEqual(systems.find((s) => s.system === 'custodian:records')?.dataClasses, {
      contact: 1,
      customer_data: 1,
    })
    assert.equal(systems.find((s) => s.system === 'webhook:crm')?.action, 'confirmed')
    assert.equal(systems.find((s) => s.system === 'webhook:warehouse')?.action, 'not-confirmed')
    assert.equal(systems.find((s) => s.system === 'custodian:backups')?.action, 'unreadable')

    // Every byte matters: any altered byte of header, payload or signature fails.
    const parts = (certificates[0].jws as string).split('.')
    for (const [segment, encoded] of parts.entries()) {
      const bytes = Buffer.from(encoded, 'base64url')
      for (let i = 0; i < bytes.length; i++) {
        const altered = Buffer.from(bytes)
        altered[i] = (altered[i] as number) ^ 0x01
        const forged = parts.map((p, j) => (j === segment ? altered.toString('base64url') : p)).join('.')
        await assert.rejects(verifyJws(forged, keys), `segment ${segment} byte ${i}`)
      }
    }
    // And offline, with the CLI and nothing else.
    const file = path.join(dir, `certificate-${engine}.jws`)
    writeFileSync(file, certificates[0].jws)
    const publicKey = [...keys.values()][0] as string
    const ok = await runToExit(
      [
        'bin/custodian.js',
        'verify-certificate',
        '--file',
        file,
        '--public-key',
        publicKey,
        '--subject',
        'subject-z',
        '--salt',
        salt,
      ],
      {},
    )
    assert.equal(ok.code, 0, ok.output)
    assert.match(ok.output, /; it names the subject given/)
    assert.doesNotMatch(ok.output, /subject-z/, 'the subject id is not echoed')
    const wrongSubject = await runToExit(
      [
        'bin/custodian.js',
        'verify-certificate',
        '--file',
        file,
        '--public-key',
        publicKey,
        '--subject',
        'subject-y',
        '--salt',
        salt,
      ],
      {},
    )
    assert.equal(wrongSubject.code, 1)
    // A character inside the signature (the last one may only carry padding bits), always changed.
    const jws = certificates[0].jws as string
    const at = jws.length - 10
    writeFileSync(file, `${jws.slice(0, at)}${jws[at] === 'A' ? 'B' : 'A'}${jws.slice(at + 1)}`)
    assert.equal(
      (await runToExit(['bin/custodian.js', 'verify-certificate', '--file', file, '--public-key', publicKey], {})).code,
      1,
    )
  })

  it('P7.2 serves an erasure certificate with the receipt of its own audit event, which verifies offline (issue 21)', async () => {
    const [listed] = (await as('GET', '/erasure-certificates')).body.certificates as {
      id: string
      jws: string
      auditEvent: { org: string; id: string }
    }[]
    assert.ok(listed !== undefined, 'the erasure above was certified')
    assert.equal(listed.auditEvent.org, acme.orgId, 'in the org’s own log')
    await t().app.sequencer.flush()
    const one = await as('GET', `/erasure-certificates/${listed.id}`)
    assert.equal(one.status, 200, one.text)
    assert.equal(one.body.jws, listed.jws)
    assert.ok(one.body.receipt !== null, 'a signed checkpoint covers the issuance')
    assert.equal(one.body.receipt.event.action, 'privacy.erasure.certificate')
    assert.deepEqual(one.body.receipt.event.target, { type: 'erasure_certificate', id: listed.id })
    assert.equal((await as('GET', `/erasure-certificates/${randomUUID()}`)).status, 404)

    const keys = (await t().request({ method: 'GET', url: `/v1/audit/keys?org=${acme.orgId}` })).body.keys as {
      keyId: string
      publicKey: string
      verifierKey: string
    }[]
    const { payload } = await verifyJws(listed.jws, new Map(keys.map((k) => [k.keyId, k.publicKey])))
    assert.deepEqual(payload.auditEvent, listed.auditEvent, 'the signed payload names the event')
    const { publicKey, verifierKey } = keys[0] as { publicKey: string; verifierKey: string }
    assert.equal(checkCertificateReceipt(payload, one.body.receipt, verifierKey).ok, true)
    // A receipt whose event was edited no longer proves into the signed root.
    const edited = { ...one.body.receipt, event: { ...one.body.receipt.event, details: { request: 'another' } } }
    const editedCheck = checkCertificateReceipt(payload, edited, verifierKey)
    assert.equal(editedCheck.ok, false)
    assert.match(editedCheck.problems.join('; '), /inclusion proof/)
    // A certificate that names no event (issued before receipts) has nothing to prove.
    assert.equal(
      checkCertificateReceipt({ ...payload, auditEvent: undefined }, one.body.receipt, verifierKey).ok,
      false,
    )

    // Offline, with the CLI: the API's answer saved as it came.
    const file = path.join(dir, `certificate-with-receipt-${engine}.json`)
    writeFileSync(file, JSON.stringify(one.body))
    const cli = (extra: string[], at = file) =>
      runToExit(['bin/custodian.js', 'verify-certificate', '--file', at, '--public-key', publicKey, ...extra], {})
    const ok = await cli(['--log-key', verifierKey])
    assert.equal(ok.code, 0, ok.output)
    assert.match(ok.output, /its issuance is event seq \d+ of the log of org /)
    const alone = path.join(dir, `certificate-without-receipt-${engine}.json`)
    writeFileSync(alone, JSON.stringify({ ...one.body, receipt: null }))
    const missing = await cli(['--log-key', verifierKey], alone)
    assert.equal(missing.code, 1)
    assert.match(missing.output, /holds no receipt/)
    writeFileSync(alone, JSON.stringify({ ...one.body, receipt: edited }))
    assert.equal((await cli(['--log-key', verifierKey], alone)).code, 1)
  })

  it('P7.2 completes a second erase request of an erased subject by naming the erasure and its certificate (newcomer finding)', async () => {
    // In Other, which has no erasure webhooks: the certificate waits only for the shred ring.
    const asOther = (method: string, p: string, body?: unknown) =>
      t().request({ method, url: `/v1/orgs/${other.orgId}${p}`, token: other.ownerToken, body })
    const open = async (kind: string) => {
      const created = await asOther('POST', '/privacy-requests', {
        kind,
        subjectId: 'twice-asked',
        requester: { name: 'Bo', email: 'bo@example.test', channel: 'support form' },
        verification: { method: 'signed-in-account', note: 'account login' },
      })
      assert.equal(created.status, 201, created.text)
      return created.body.id as string
    }
    const first = await open('erase')
    const second = await open('erase')
    const access = await open('access')
    const third = await open('erase')
    const erased = await asOther('POST', `/privacy-requests/${first}/complete`, {})
    assert.equal(erased.status, 200, erased.text)
    // While the first waits for its certificate, the second is told to wait.
    const early = await asOther('POST', `/privacy-requests/${second}/complete`, {})
    assert.equal(early.status, 409, early.text)
    assert.match(early.body.detail, /waits for its certificate/)
    await t().app.services.shredding.pass()
    const certified = (await asOther('GET', `/privacy-requests/${first}`)).body
    assert.equal(certified.status, 'completed')
    const certificate = certified.result.certificate as string
    const done = await asOther('POST', `/privacy-requests/${second}/complete`, {})
    assert.equal(done.status, 200, done.text)
    assert.equal(done.body.status, 'completed')
    assert.deepEqual(done.body.result, { alreadyErased: true, erasedBy: first, certificate })
    assert.equal('subjectSalt' in done.body, false, 'no new salt: the subject id is gone')
    const events = (await auditActions(t(), other.orgId)).filter(
      (e) => e.action === 'privacy.request.erase' && e.details.alreadyErased === true,
    )
    assert.deepEqual(
      events.map((e) => e.details),
      [{ kind: 'erase', alreadyErased: true, erasedBy: first, certificate }],
    )
    // Any other request of the erased subject has nothing left to act on: rejected, with why.
    const refused = await asOther('POST', `/privacy-requests/${access}/complete`, {})
    assert.equal(refused.status, 409, refused.text)
    assert.match(refused.body.detail, new RegExp(`erase request ${first}.*reject this request`))
    // Data of the subject again (attack finding): a third erase request opened before it came
    // back is never "done" by naming the old erasure; it says to record a new one.
    const back = await t().request({
      method: 'POST',
      url: `/v1/orgs/${other.orgId}/records`,
      token: other.ownerToken,
      body: { subjectId: 'twice-asked', dataClass: 'contact', payload: { email: 'back@example.test' } },
    })
    assert.equal(back.status, 201, back.text)
    const stale = await asOther('POST', `/privacy-requests/${third}/complete`, {})
    assert.equal(stale.status, 409, stale.text)
    assert.match(stale.body.detail, /has new data since its erasure.*record a new request/)
    assert.equal((await asOther('GET', `/privacy-requests/${third}`)).body.status, 'open')
  })

  it('keeps the audit chain verifiable after personal fields were erased', async () => {
    await t().app.sequencer.flush()
    const verified = await as('GET', '/audit/verify')
    assert.equal(verified.status, 200)
    assert.equal(verified.body.ok, true, JSON.stringify(verified.body.problems))
    const erased = (await auditActions(t(), acme.orgId)).filter(
      (e) => e.action === 'record.create' && typeof e.details.personal === 'string',
    )
    assert.ok(erased.length >= 2, 'events whose personal fields were erased keep their commitment')
  })

  it('notifies a request nearly due, then overdue, once a day (test clock)', async () => {
    // Older requests of this suite are long overdue: watch one pass settle them first.
    await t().app.services.privacyRequests.watchDeadlines()
    const request = await newRequest('access', 'subject-late')
    const notices = async (kind: string) =>
      (
        await t()
          .db.kysely.selectFrom('notifications')
          .select('data')
          .where('org_id', '=', acme.orgId)
          .where('kind', '=', kind)
          .execute()
      ).filter((n) => n.data.requestId === request.id).length
    const watch = () => t().app.services.privacyRequests.watchDeadlines()
    time.advance(59 * HOUR)
    await watch()
    assert.equal(await notices('privacy_request.due_soon'), 0, 'not yet: 13 hours left')
    time.advance(2 * HOUR)
    await watch()
    assert.equal(await notices('privacy_request.due_soon'), 1, '11 hours left')
    await watch()
    assert.equal(await notices('privacy_request.due_soon'), 1, 'once')
    time.advance(12 * HOUR)
    await watch()
    assert.equal(await notices('privacy_request.overdue'), 1)
    await watch()
    assert.equal(await notices('privacy_request.overdue'), 1, 'not again within the day')
    time.advance(24 * HOUR)
    await watch()
    assert.equal(await notices('privacy_request.overdue'), 2, 'again the next day')
    assert.equal((await as('GET', `/privacy-requests/${request.id}`)).body.overdue, true)
    assert.ok((await auditActions(t(), acme.orgId)).some((e) => e.action === 'privacy.request.overdue'))
  })

  it('lists the requests of one status, newest first, a page at a time (issue 13: the console’s filter)', async () => {
    const rejected = await newRequest('restrict', 'subject-filter-1')
    assert.equal(
      (await as('POST', `/privacy-requests/${rejected.id}/reject`, { reason: 'identity not confirmed' })).status,
      200,
    )
    time.advance(1000)
    const older = await newRequest('access', 'subject-filter-2')
    time.advance(1000)
    const newer = await newRequest('rectify', 'subject-filter-3')
    const all = (await as('GET', '/privacy-requests?limit=500')).body.requests as { id: string; status: string }[]
    for (const status of ['open', 'in_progress', 'completed', 'rejected']) {
      const listed = await as('GET', `/privacy-requests?status=${status}&limit=500`)
      assert.equal(listed.status, 200, listed.text)
      const ids = (listed.body.requests as { id: string; status: string }[]).map((r) => r.id)
      assert.deepEqual(
        ids,
        all.filter((r) => r.status === status).map((r) => r.id),
        `${status}: exactly the requests of that status, in the whole list's order`,
      )
    }
    // Paged: the open ones two at a time, the newest first, none twice.
    const first = await as('GET', '/privacy-requests?status=open&limit=1')
    assert.deepEqual(
      first.body.requests.map((r: { id: string }) => r.id),
      [newer.id],
    )
    const second = await as(
      'GET',
      `/privacy-requests?status=open&limit=1&cursor=${encodeURIComponent(first.body.nextCursor)}`,
    )
    assert.deepEqual(
      second.body.requests.map((r: { id: string }) => r.id),
      [older.id],
    )
    const rejectedOnly = (await as('GET', '/privacy-requests?status=rejected')).body.requests as { id: string }[]
    assert.ok(rejectedOnly.some((r) => r.id === rejected.id))
    const unknown = await as('GET', '/privacy-requests?status=overdue')
    assert.equal(unknown.status, 400, 'a status the API does not have')
    assert.equal(unknown.body.code, 'VALIDATION_FAILED')
    const viewer = await principalWithRole(t(), acme, 'viewer')
    const refused = await as('GET', '/privacy-requests?status=open', undefined, viewer.token)
    assert.equal(refused.status, 403)
    assert.equal(refused.body.permission, 'privacy:read')
    assert.equal(
      (await as('GET', '/privacy-requests?status=open', undefined, other.ownerToken)).status,
      404,
      'another org’s token: the org does not exist for it',
    )
    assert.equal(
      (await t().request({ method: 'GET', url: url('/privacy-requests?status=open') })).status,
      401,
      'never without credentials',
    )
  })
})
