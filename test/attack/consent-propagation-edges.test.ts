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

const HOUR = 3_600_000
const dir = mkdtempSync(path.join(tmpdir(), 'custodian-attack-propagation-'))
const caFile = path.join(dir, 'recipient-ca.pem')
let receiver: Awaited<ReturnType<typeof startHttpsReceiver>>
const env: Record<string, string> = {}

before(async () => {
  receiver = await startHttpsReceiver(caFile)
  env.CUSTODIAN_EXTRA_CA_FILE = caFile
})
after(async () => {
  await receiver?.close()
})

/**
 * Attacks on propagation to recipients (P7.7, Art. 19): a recipient is told only what
 * changes the state — a lapse of a consent already withdrawn, or of one renewed since, tells
 * no one to stop again — and a rectification or restriction message carries neither the
 * subject nor the corrected data (a malicious recipient learns a reference and an act).
 */
forEachEngine('attack: propagation told only of changes, without the data (P7.7)', (engine) => {
  const time = testClock()
  const t = useTestApp(engine, env, undefined, undefined, { clock: time.clock })
  let acme: Org
  let n = 0
  let noticeVersion = 1
  const mailerPath = `/attack-mailer-${engine}`
  const as = (method: string, tail: string, body?: unknown, token = acme.ownerToken) =>
    t().request({ method, url: `/v1/orgs/${acme.orgId}${tail}`, token, body })
  const told = (from: number) =>
    receiver.received
      .slice(from)
      .filter((r) => r.path === mailerPath)
      .map((r) => ({ raw: r.body, message: JSON.parse(r.body) as { action: string; purposes: string[] } }))
  async function deliver(): Promise<void> {
    await t().app.services.webhooks.deliverDue()
    time.advance(HOUR)
    await t().app.services.webhooks.deliverDue()
  }
  const grant = async (subject: string) => {
    const granted = await as('POST', '/consent/events', {
      id: `att-${engine}-${++n}`,
      subject,
      purpose: 'trial',
      action: 'grant',
      method: 'form',
      noticeVersion,
    })
    assert.equal(granted.status, 201, granted.text)
  }

  before(async () => {
    const provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', `owner@${engine}.attack-propagation.test`)
    const mailer = await as('POST', '/consent/recipients', {
      name: 'Mailer Ltd',
      url: `${receiver.url}${mailerPath}`,
      deadlineHours: 48,
    })
    assert.equal(mailer.status, 201, mailer.text)
    const purpose = await as('POST', '/consent/purposes', {
      key: 'trial',
      name: 'Trial',
      lawfulBasis: 'consent',
      lifetimeDays: 1,
      recipients: ['Mailer Ltd'],
    })
    assert.equal(purpose.status, 201, purpose.text)
    const notice = await as('POST', '/consent/notices', {
      language: 'en',
      text: 'We run a one-day trial with Mailer Ltd.',
      purposes: ['trial'],
      materialChange: false,
    })
    assert.equal(notice.status, 201, notice.text)
    noticeVersion = notice.body.version
  })

  it('attack: a consent withdrawn before it lapses is not told again as expired (P7.7)', async () => {
    await grant('subject-withdrew')
    const from = receiver.received.length
    const withdrawn = await as('POST', '/consent/withdraw', { subject: 'subject-withdrew', purposes: ['trial'] })
    assert.equal(withdrawn.status, 201, withdrawn.text)
    await deliver()
    time.advance(25 * HOUR)
    await t().app.services.consentJobs.expireDue()
    await deliver()
    assert.deepEqual(
      told(from).map((m) => m.message.action),
      ['withdraw'],
      'once, as a withdrawal',
    )
  })

  it('attack: a consent renewed before it lapses is not told as expired at the first grant’s lapse (P7.7)', async () => {
    await grant('subject-renewed')
    time.advance(20 * HOUR)
    await grant('subject-renewed')
    const from = receiver.received.length
    time.advance(5 * HOUR)
    await t().app.services.consentJobs.expireDue()
    await deliver()
    assert.deepEqual(
      told(from).map((m) => m.message.action),
      [],
      'renewed 5 hours ago: nothing lapsed',
    )
    const check = await as('POST', '/consent/check', { subject: 'subject-renewed', purpose: 'trial' })
    assert.equal(check.body.allowed, true, check.text)
  })

  it('attack: a rectification or restriction tells the recipient neither the subject nor the corrected data (P7.7)', async () => {
    const subject = `subject-rectified-${engine}`
    const writer = await principalWithRole(t(), acme, 'admin')
    const stored = await as(
      'POST',
      '/records',
      { subjectId: subject, dataClass: 'contact', payload: { city: 'Lyon-Before' } },
      writer.token,
    )
    assert.equal(stored.status, 201, stored.text)
    const from = receiver.received.length
    for (const [kind, body] of [
      ['restrict', {}],
      ['lift_restriction', {}],
      ['rectify', { corrections: [{ recordId: stored.body.id, payload: { city: 'Lille-After' } }] }],
    ] as const) {
      const request = await as('POST', '/privacy-requests', {
        kind,
        subjectId: subject,
        verification: { method: 'signed-in-account' },
      })
      assert.equal(request.status, 201, request.text)
      const done = await as('POST', `/privacy-requests/${request.body.id}/complete`, body)
      assert.equal(done.status, 200, done.text)
    }
    await deliver()
    const messages = told(from)
    assert.deepEqual(
      messages.map((m) => m.message.action),
      ['restrict', 'lift_restriction', 'rectify'],
    )
    for (const { raw } of messages) {
      for (const secret of [subject, 'Lyon-Before', 'Lille-After', stored.body.id as string]) {
        assert.ok(!raw.includes(secret), `a message carries ${secret}: ${raw}`)
      }
    }
  })
})
