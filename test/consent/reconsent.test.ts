import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, it } from 'node:test'
import { forEachEngine } from '../helpers/db.ts'
import {
  bootstrapProvider,
  createCustomerOrg,
  principalWithRole,
  testClock,
  useTestApp,
  type Org,
} from '../helpers/app.ts'
import { startHttpsReceiver } from '../helpers/https-receiver.ts'

const DAY = 86_400_000
const caFile = path.join(mkdtempSync(path.join(tmpdir(), 'custodian-reconsent-')), 'hook-ca.pem')
let receiver: Awaited<ReturnType<typeof startHttpsReceiver>>
const env: Record<string, string> = {}

before(async () => {
  receiver = await startHttpsReceiver(caFile)
  env.CUSTODIAN_EXTRA_CA_FILE = caFile
})
after(async () => {
  await receiver?.close()
})

/** The subject's keyed reference as a decision token carries it (base64url). */
function tokenSubject(token: string): string {
  const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'))
  return payload.subject as string
}

/** Re-consent (P7.7; EDPB 05/2020 §4): a grace period after a material change, the list, the host told. */
forEachEngine('consent re-consent: grace period, affected subjects, webhook batches (P7.7)', (engine) => {
  const time = testClock()
  const t = useTestApp(engine, env, undefined, undefined, { clock: time.clock })
  let provider: Org
  let acme: Org
  let other: Org
  let n = 0
  const as = (method: string, tail: string, body?: unknown, org: Org = acme, token = org.ownerToken) =>
    t().request({ method, url: `/v1/orgs/${org.orgId}/consent${tail}`, token, body })
  const grant = async (subject: string, noticeVersion: number) => {
    const r = await as('POST', '/events', {
      id: `rc-${engine}-${++n}`,
      subject,
      purpose: 'letters',
      action: 'grant',
      method: 'form',
      noticeVersion,
    })
    assert.equal(r.status, 201, r.text)
  }
  const check = async (subject: string) => {
    const r = await as('POST', '/check', { subject, purpose: 'letters' })
    assert.equal(r.status, 200, r.text)
    return r.body
  }
  const publish = async (materialChange: boolean, org: Org = acme) => {
    const r = await as(
      'POST',
      '/notices',
      { language: 'en', text: `Notice ${++n}`, purposes: ['letters'], materialChange },
      org,
    )
    assert.equal(r.status, 201, r.text)
    return r.body.version as number
  }
  const list = async (query: string) => {
    const r = await as('GET', `/reconsent?purpose=letters&${query}`)
    assert.equal(r.status, 200, r.text)
    return r.body
  }

  before(async () => {
    provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', 'owner@acme.test')
    other = await createCustomerOrg(t(), provider, 'Other', 'owner@other.test')
    const made = await as('POST', '/purposes', {
      key: 'letters',
      name: 'Letters',
      lawfulBasis: 'consent',
      reconsentGraceDays: 10,
    })
    assert.equal(made.status, 201, made.text)
    assert.equal(made.body.reconsentGraceDays, 10)
    const hook = await t().request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/webhooks`,
      token: acme.ownerToken,
      body: { name: 'reconsent', url: `${receiver.url}/reconsent`, events: ['consent.reconsent_required'] },
    })
    assert.equal(hook.status, 201, hook.text)
    const mine = await as('POST', '/purposes', { key: 'theirs', name: 'Theirs', lawfulBasis: 'consent' }, other)
    assert.equal(mine.status, 201, mine.text)
  })

  it('keeps a superseded grant during the grace period, then answers reconsent_required; no second grace (P7.7)', async () => {
    const v1 = await publish(false)
    for (const s of ['ann', 'bob', 'cy']) await grant(s, v1)
    const refs = new Map<string, string>()
    for (const s of ['ann', 'bob', 'cy']) refs.set(s, tokenSubject((await check(s)).token))
    const v2 = await publish(true)
    const purpose = (await as('GET', '/purposes/letters')).body
    assert.equal(purpose.reconsentFromVersion, v2)
    const graceUntil = new Date(purpose.reconsentGraceUntil).getTime()
    assert.equal(graceUntil - new Date(purpose.reconsentSince).getTime(), 10 * DAY)
    const inGrace = await check('ann')
    assert.deepEqual([inGrace.allowed, inGrace.reason], [true, 'reconsent_grace'])
    assert.equal(new Date(inGrace.expiresAt).getTime(), graceUntil)
    await grant('cy', v2)
    assert.equal((await check('cy')).reason, 'granted')

    // The list: the two still on v1, by keyed reference, in pages.
    const whole = await list('reason=material_change')
    assert.deepEqual(
      whole.subjects.map((x: { subject: string }) => x.subject).sort(),
      [refs.get('ann'), refs.get('bob')].sort(),
    )
    for (const row of whole.subjects) {
      assert.equal(row.noticeVersion, v1)
      assert.equal(new Date(row.allowedUntil).getTime(), graceUntil)
    }
    assert.ok(!JSON.stringify(whole).includes('"ann"'), 'never the raw subject id')
    const first = await list('reason=material_change&limit=1')
    assert.equal(first.subjects.length, 1)
    const second = await list(`reason=material_change&limit=1&cursor=${first.nextCursor}`)
    assert.equal(second.subjects.length, 1)
    assert.equal(second.nextCursor, null)
    assert.notEqual(first.subjects[0].subject, second.subjects[0].subject)
    assert.equal((await list('reason=lifetime_ended')).subjects.length, 0)

    // The host app is told, in a batch, by reference only.
    assert.equal(await t().app.services.consentJobs.notifyReconsent(), 1)
    assert.equal(await t().app.services.consentJobs.notifyReconsent(), 0, 'a run is told once')
    await t().app.services.webhooks.deliverDue()
    const got = receiver.received.filter((r) => r.path === '/reconsent')
    assert.equal(got.length, 1)
    const body = JSON.parse(got[0]?.body ?? '{}')
    assert.equal(body.type, 'consent.reconsent_required')
    assert.equal(body.reason, 'material_change')
    assert.equal(body.purpose, 'letters')
    assert.deepEqual([...body.subjects].sort(), [refs.get('ann'), refs.get('bob')].sort())
    assert.ok(!/"(ann|bob|cy)"/.test(got[0]?.body ?? ''), 'no raw subject id in the webhook')

    // Past the grace: refused with reconsent_required.
    time.advance(11 * DAY)
    const past = await check('ann')
    assert.deepEqual([past.allowed, past.reason], [false, 'reconsent_required'])
    // A second material change: the grant under v2 gets a grace, the one under v1 none again.
    const v3 = await publish(true)
    assert.ok(v3 > v2)
    assert.equal((await check('cy')).reason, 'reconsent_grace')
    const again = await check('bob')
    assert.deepEqual([again.allowed, again.reason], [false, 'reconsent_required'])
    const relisted = await list('reason=material_change')
    const ann = relisted.subjects.find((x: { subject: string }) => x.subject === refs.get('ann'))
    assert.ok(new Date(ann.allowedUntil).getTime() < Date.now() + 12 * DAY, 'the v1 grant has no second grace')
  })

  it('guards the list: 401, 403, 404 for another org’s purpose, 400 for a malformed query (P7.7)', async () => {
    const anonymous = await t().request({
      method: 'GET',
      url: `/v1/orgs/${acme.orgId}/consent/reconsent?purpose=letters&reason=material_change`,
    })
    assert.equal(anonymous.status, 401)
    const noConsent = await principalWithRole(t(), acme, 'viewer')
    const viewer = await as(
      'GET',
      '/reconsent?purpose=letters&reason=material_change',
      undefined,
      acme,
      noConsent.token,
    )
    assert.ok([403].includes(viewer.status), viewer.text)
    const foreign = await as('GET', '/reconsent?purpose=theirs&reason=material_change')
    assert.equal(foreign.status, 404, foreign.text)
    for (const query of [
      'purpose=letters',
      'purpose=letters&reason=whenever',
      'purpose=BAD KEY&reason=material_change',
      'purpose=letters&reason=material_change&cursor=nope',
      'purpose=letters&reason=material_change&limit=501',
    ]) {
      const bad = await as('GET', `/reconsent?${query}`)
      assert.equal(bad.status, 400, `${query}: ${bad.text}`)
      assert.match(bad.headers['content-type'] as string, /problem\+json/)
    }
  })
})
