import assert from 'node:assert/strict'
import { createHmac, generateKeyPairSync, sign, timingSafeEqual } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, it } from 'node:test'
import { verifyJws } from '../../src/crypto/jws.ts'
import { forEachEngine } from '../helpers/db.ts'
import {
  auditActions,
  bootstrapProvider,
  createCustomerOrg,
  principalWithRole,
  testClock,
  useTestApp,
  type Org,
} from '../helpers/app.ts'
import { startHttpsReceiver, type Received } from '../helpers/https-receiver.ts'
import { assertTimeInWords } from '../helpers/titles.ts'

const HOUR = 3_600_000
const dir = mkdtempSync(path.join(tmpdir(), 'custodian-propagation-'))
const caFile = path.join(dir, 'recipient-ca.pem')
/** Paths the receiver answers 503 on (the recipient is down), until a test brings them back. */
const down = new Set<string>()
let receiver: Awaited<ReturnType<typeof startHttpsReceiver>>
const env: Record<string, string> = {
  CUSTODIAN_WEBHOOK_MAX_ATTEMPTS: '4',
  CUSTODIAN_WEBHOOK_RETRY_BASE_MS: '1000',
  // The shred ring retires an erased subject's epoch at its next pass: the certificate follows.
  CUSTODIAN_SHRED_RING_GRACE_MS: '0',
  // Room for this file's acknowledgements; the last test runs into it.
  CUSTODIAN_CONSENT_ACK_RATE_LIMIT: '30',
}

before(async () => {
  receiver = await startHttpsReceiver(caFile, (received) => (down.has(received.path) ? 503 : 200))
  env.CUSTODIAN_EXTRA_CA_FILE = caFile
})
after(async () => {
  await receiver?.close()
})

interface Message {
  type: string
  delivery: string
  org: string
  action: string
  purposes: string[]
  subject: string
  stopProcessingBy: string
  issuedAt: string
  acknowledgement: { url: string; token: string }
}

/**
 * Standard Webhooks verification as a recipient writes it from the specification (not
 * Custodian's code): `v1,<base64 HMAC-SHA256(secret bytes, "<id>.<timestamp>.<body>")>`.
 */
function verifyStandardWebhook(secret: string, received: Received): boolean {
  const id = String(received.headers['webhook-id'])
  const timestamp = String(received.headers['webhook-timestamp'])
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64')
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${received.body}`).digest()
  return String(received.headers['webhook-signature'])
    .split(' ')
    .some((part) => {
      const [version, value] = part.split(',')
      const given = Buffer.from(value ?? '', 'base64')
      return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected)
    })
}

/**
 * Propagation to recipients (P7.7, GDPR Art. 19): withdrawals, objections and erasures
 * reach each registered recipient of the affected purposes as a Standard Webhooks message
 * through the webhook queue, against a real HTTPS receiver on 127.0.0.1; acknowledged by
 * token (signed where the recipient registered a key), an overdue one raises an alert,
 * and the erasure certificate lists the recipients told.
 */
forEachEngine('consent propagation to recipients (P7.7, Art. 19)', (engine) => {
  const time = testClock()
  const t = useTestApp(engine, env, undefined, undefined, { clock: time.clock })
  let acme: Org
  let other: Org
  let n = 0
  const mailerPath = `/mailer-${engine}`
  const adsPath = `/ads-${engine}`
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  const adsKey = publicKey.export({ format: 'jwk' }).x as string
  const secrets = new Map<string, string>()
  let mailerId = ''

  const as = (method: string, tail: string, body?: unknown, org: Org = acme, token = org.ownerToken) =>
    t().request({ method, url: `/v1/orgs/${org.orgId}${tail}`, token, body })
  const ack = (body: unknown) => t().request({ method: 'POST', url: '/v1/consent/acknowledgements', body })
  const record = async (subject: string, purpose: string, action: string) => {
    const recorded = await as('POST', '/consent/events', {
      id: `evt-${engine}-${++n}`,
      subject,
      purpose,
      action,
      method: 'form',
      ...(action === 'grant' ? { noticeVersion: 1 } : {}),
    })
    assert.equal(recorded.status, 201, recorded.text)
  }
  const withdraw = async (subject: string, purposes: string[]) => {
    const done = await as('POST', '/consent/withdraw', { subject, purposes })
    assert.equal(done.status, 201, done.text)
  }
  /** The messages a path received since `from` (an index into the receiver's log). */
  const messagesAt = (p: string, from = 0) => receiver.received.slice(from).filter((r) => r.path === p)
  const body = (r: Received) => JSON.parse(r.body) as Message
  /** Runs the webhook worker through the attempts due (the backoff skipped with the clock). */
  async function deliver(rounds = 1): Promise<void> {
    for (let i = 0; i < rounds; i++) {
      await t().app.services.webhooks.deliverDue()
      time.advance(HOUR)
    }
  }

  before(async () => {
    const provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', `owner@${engine}.propagation.test`)
    other = await createCustomerOrg(t(), provider, 'Other', `owner@${engine}.other-propagation.test`)
    const mailer = await as('POST', '/consent/recipients', {
      name: 'Mailer Ltd',
      url: `${receiver.url}${mailerPath}`,
      deadlineHours: 48,
    })
    assert.equal(mailer.status, 201, mailer.text)
    assert.match(mailer.body.secret, /^whsec_[A-Za-z0-9+/]{43}=$/)
    assert.equal(mailer.body.publicKey, null)
    secrets.set(mailerPath, mailer.body.secret)
    mailerId = mailer.body.id
    const ads = await as('POST', '/consent/recipients', {
      name: 'Ads Co',
      url: `${receiver.url}${adsPath}`,
      publicKey: adsKey,
      deadlineHours: 24,
    })
    assert.equal(ads.status, 201, ads.text)
    secrets.set(adsPath, ads.body.secret)
    for (const purpose of [
      {
        key: 'newsletter',
        name: 'Newsletter',
        lawfulBasis: 'consent',
        directMarketing: true,
        recipients: ['Mailer Ltd', 'Ads Co'],
      },
      { key: 'analytics', name: 'Analytics', lawfulBasis: 'consent', recipients: ['Mailer Ltd'] },
      {
        key: 'promotions',
        name: 'Promotions',
        lawfulBasis: 'legitimate_interests',
        directMarketing: true,
        recipients: ['Ads Co'],
      },
    ]) {
      const created = await as('POST', '/consent/purposes', purpose)
      assert.equal(created.status, 201, created.text)
    }
    const notice = await as('POST', '/consent/notices', {
      language: 'en',
      text: 'We e-mail you news and measure use. Withdraw any time.',
      purposes: ['newsletter', 'analytics'],
      materialChange: false,
    })
    assert.equal(notice.status, 201, notice.text)
  })

  it('keeps a registry of recipients: a purpose names only registered ones, the secret is shown once, audited (P7.7)', async () => {
    const listed = await as('GET', '/consent/recipients')
    assert.equal(listed.status, 200, listed.text)
    assert.deepEqual(
      listed.body.recipients.map((r: { name: string }) => r.name),
      ['Ads Co', 'Mailer Ltd'],
    )
    assert.ok(
      listed.body.recipients.every((r: Record<string, unknown>) => !('secret' in r)),
      'the secret is never listed',
    )
    const one = await as('GET', `/consent/recipients/${mailerId}`)
    assert.equal(one.body.deadlineHours, 48)
    assert.equal((await as('GET', `/consent/recipients/${mailerId}`, undefined, other)).status, 404)

    const unknown = await as('POST', '/consent/purposes', {
      key: 'surveys',
      name: 'Surveys',
      lawfulBasis: 'consent',
      recipients: ['Mailer Ltd', 'Nobody Inc'],
    })
    assert.equal(unknown.status, 400, unknown.text)
    assert.equal(unknown.body.code, 'VALIDATION_FAILED')
    assert.equal(unknown.body.errors[0].path, '/body/recipients/1')
    const http = await as('POST', '/consent/recipients', {
      name: 'Plain',
      url: 'http://plain.test/x',
      deadlineHours: 1,
    })
    assert.equal(http.status, 400)
    const taken = await as('POST', '/consent/recipients', {
      name: 'Mailer Ltd',
      url: `${receiver.url}/again`,
      deadlineHours: 1,
    })
    assert.equal(taken.status, 409)
    const named = await as('DELETE', `/consent/recipients/${mailerId}`)
    assert.equal(named.status, 409, 'a purpose still names it')
    const actions = (await auditActions(t(), acme.orgId)).map((e) => e.action)
    assert.equal(actions.filter((a) => a === 'consent.recipient.create').length, 2)
    const audited = JSON.stringify(await auditActions(t(), acme.orgId))
    for (const secret of secrets.values()) assert.ok(!audited.includes(secret.slice(6)), 'no secret in the audit log')
  })

  it('delivers a withdrawal to each recipient of the purpose with a valid Standard Webhooks signature (P7.7)', async () => {
    await record('subject-w', 'newsletter', 'grant')
    const from = receiver.received.length
    await withdraw('subject-w', ['newsletter'])
    await deliver()
    const [toMailer] = messagesAt(mailerPath, from)
    const [toAds] = messagesAt(adsPath, from)
    assert.ok(toMailer !== undefined && toAds !== undefined, 'one message each')
    assert.equal(messagesAt(mailerPath, from).length, 1)
    for (const [p, got] of [
      [mailerPath, toMailer],
      [adsPath, toAds],
    ] as const) {
      assert.ok(verifyStandardWebhook(secrets.get(p) ?? '', got), `a valid signature at ${p}`)
      assert.ok(!verifyStandardWebhook(secrets.get(p === mailerPath ? adsPath : mailerPath) ?? '', got))
      const message = body(got)
      assert.equal(got.headers['webhook-id'], message.delivery)
      assert.equal(message.type, 'consent.propagation')
      assert.equal(message.action, 'withdraw')
      assert.deepEqual(message.purposes, ['newsletter'])
      assert.ok(!got.body.includes('subject-w'), 'the subject’s id never leaves')
      assert.match(message.acknowledgement.token, /^cst_cpa_/)
      assert.equal(new URL(message.acknowledgement.url).pathname, '/v1/consent/acknowledgements')
      assert.ok(!message.acknowledgement.url.includes(message.acknowledgement.token), 'no token in a URL')
    }
    // Each recipient gets its own reference of the subject: they cannot join on it.
    assert.notEqual(body(toMailer).subject, body(toAds).subject)
    assert.equal(
      new Date(body(toMailer).stopProcessingBy).getTime() - new Date(body(toMailer).issuedAt).getTime(),
      48 * HOUR,
    )
    const pending = await as('GET', '/consent/propagations?state=pending')
    assert.equal(pending.status, 200, pending.text)
    assert.ok(pending.body.propagations.some((p: { id: string }) => p.id === body(toMailer).delivery))
  })

  it('records an acknowledgement with and without a signature; a wrong or unknown token is 404 (P7.7)', async () => {
    await record('subject-a', 'newsletter', 'grant')
    const from = receiver.received.length
    await withdraw('subject-a', ['newsletter'])
    await deliver()
    const mailer = body(messagesAt(mailerPath, from)[0] as Received)
    const ads = body(messagesAt(adsPath, from)[0] as Received)

    // Unsigned, from a recipient with no key.
    const unsigned = await ack({ token: mailer.acknowledgement.token })
    assert.equal(unsigned.status, 200, unsigned.text)
    assert.equal(unsigned.body.state, 'acknowledged')
    assert.equal(unsigned.body.signed, false)
    const again = await ack({ token: mailer.acknowledgement.token })
    assert.equal(again.body.acknowledgedAt, unsigned.body.acknowledgedAt, 'a retry changes nothing')

    // Wrong and unknown tokens: 404, the same answer whatever is wrong.
    const parts = /^(cst_cpa_[0-9a-f]{32}_)(.+)$/.exec(ads.acknowledgement.token) ?? []
    const wrongSecret = `${parts[1]}${'A'.repeat(43)}`
    for (const token of [wrongSecret, `cst_cpa_${'0'.repeat(32)}_${'B'.repeat(43)}`, 'not-a-token']) {
      const refused = await ack({ token })
      assert.equal(refused.status, 404, token)
      assert.equal(refused.body.code, 'NOT_FOUND')
    }

    // A recipient with a key must sign the message id; a bad signature is refused.
    const missing = await ack({ token: ads.acknowledgement.token })
    assert.equal(missing.status, 400)
    assert.equal(missing.body.errors[0].path, '/body/signature')
    const otherKey = generateKeyPairSync('ed25519').privateKey
    const forged = await ack({
      token: ads.acknowledgement.token,
      signature: sign(null, Buffer.from(ads.delivery), otherKey).toString('base64url'),
    })
    assert.equal(forged.status, 400)
    const signed = await ack({
      token: ads.acknowledgement.token,
      signature: sign(null, Buffer.from(ads.delivery), privateKey).toString('base64url'),
    })
    assert.equal(signed.status, 200, signed.text)
    assert.equal(signed.body.signed, true)

    const acknowledged = (await as('GET', '/consent/propagations?state=acknowledged')).body.propagations as {
      id: string
      signed: boolean
    }[]
    assert.deepEqual(
      acknowledged.filter((p) => p.id === ads.delivery || p.id === mailer.delivery).map((p) => [p.id, p.signed]),
      [
        [ads.delivery, true],
        [mailer.delivery, false],
      ],
    )
    const audited = (await auditActions(t(), acme.orgId)).filter((e) => e.action === 'consent.propagation.acknowledge')
    assert.ok(audited.length >= 2)
    assert.ok(!JSON.stringify(audited).includes(parts[2] ?? '???'), 'no token in the audit log')
  })

  it('an objection to direct marketing is told at once to the purpose’s recipients (P7.7)', async () => {
    const from = receiver.received.length
    await record('subject-o', 'promotions', 'object')
    await deliver()
    const got = messagesAt(adsPath, from)
    assert.equal(got.length, 1)
    assert.equal(body(got[0] as Received).action, 'object')
    assert.deepEqual(body(got[0] as Received).purposes, ['promotions'])
    assert.equal(messagesAt(mailerPath, from).length, 0, 'a recipient the purpose does not name is not told')
  })

  it('raises consent_propagation_overdue for a message unacknowledged past its deadline, once (P7.7)', async () => {
    await record('subject-late', 'analytics', 'grant')
    const from = receiver.received.length
    await withdraw('subject-late', ['analytics'])
    await deliver()
    const message = body(messagesAt(mailerPath, from)[0] as Received)
    time.advance(49 * HOUR)
    await t().app.services.consentJobs.run()
    await t().app.services.consentJobs.run()
    const alerts = (await as('GET', '/alerts?limit=500')).body.alerts as {
      rule: string
      title: string
      details: Record<string, unknown>
    }[]
    const mine = alerts.filter(
      (a) => a.rule === 'consent_propagation_overdue' && a.details.message === message.delivery,
    )
    assert.equal(mine.length, 1, 'one alert for the message')
    assert.equal(mine[0]?.details.recipient, 'Mailer Ltd')
    assertTimeInWords(mine[0]?.title ?? '')
    const overdue = (await as('GET', '/consent/propagations?state=overdue')).body.propagations as { id: string }[]
    assert.ok(overdue.some((p) => p.id === message.delivery))
    const bad = await as('GET', '/consent/propagations?state=late')
    assert.equal(bad.status, 400)
  })

  it('a recipient killed mid-propagation receives the withdrawal exactly once after it returns (P7.7)', async () => {
    await record('subject-k', 'analytics', 'grant')
    const from = receiver.received.length
    down.add(mailerPath)
    await withdraw('subject-k', ['analytics'])
    await deliver(2) // the recipient is down: two attempts fail
    down.delete(mailerPath)
    await deliver(2) // back: the next attempt is taken, nothing after it
    const attempts = messagesAt(mailerPath, from)
    assert.equal(attempts.length, 3, 'two failed attempts, one taken')
    // Every attempt is the same message: same webhook-id and body, each validly signed.
    assert.equal(new Set(attempts.map((a) => a.headers['webhook-id'])).size, 1)
    assert.equal(new Set(attempts.map((a) => a.body)).size, 1)
    assert.ok(attempts.every((a) => verifyStandardWebhook(secrets.get(mailerPath) ?? '', a)))
    // A recipient that applies each message by its webhook-id, as Standard Webhooks asks
    // (one that crashed after reading an attempt sees it again), applies the withdrawal once.
    const applied = new Map<string, number>()
    for (const a of attempts) applied.set(String(a.headers['webhook-id']), 1)
    assert.deepEqual([...applied.values()], [1])
    const message = body(attempts[0] as Received)
    const acked = await ack({ token: message.acknowledgement.token })
    assert.equal(acked.status, 200, acked.text)
    const delivery = await as('GET', `/webhook-deliveries/${message.delivery}`)
    assert.equal(delivery.body.status, 'delivered')
    assert.equal(delivery.body.attempts, 3)
    const all = (await as('GET', '/consent/propagations?limit=500')).body.propagations as {
      id: string
      state: string
    }[]
    assert.deepEqual(
      all.filter((p) => p.id === message.delivery).map((p) => p.state),
      ['acknowledged'],
      'one message, acknowledged once',
    )
  })

  it('an erasure tells each recipient once, for all the subject’s purposes, and its certificate lists them (P7.7)', async () => {
    const subject = 'subject-erase'
    await record(subject, 'newsletter', 'grant')
    await record(subject, 'analytics', 'grant')
    const from = receiver.received.length
    const request = await as('POST', '/privacy-requests', {
      kind: 'erase',
      subjectId: subject,
      verification: { method: 'signed-in-account' },
    })
    assert.equal(request.status, 201, request.text)
    const done = await as('POST', `/privacy-requests/${request.body.id}/complete`, {})
    assert.equal(done.status, 200, done.text)
    await deliver()
    const toMailer = messagesAt(mailerPath, from)
    const toAds = messagesAt(adsPath, from)
    assert.equal(toMailer.length, 1, 'one message, not one per withdrawn grant')
    assert.equal(toAds.length, 1)
    assert.equal(body(toMailer[0] as Received).action, 'erasure')
    assert.deepEqual(body(toMailer[0] as Received).purposes, ['analytics', 'newsletter'])
    assert.deepEqual(body(toAds[0] as Received).purposes, ['newsletter'])

    await t().app.services.shredding.pass()
    const certificates = (await as('GET', '/erasure-certificates')).body.certificates as {
      requestId: string
      jws: string
    }[]
    const certificate = certificates.find((c) => c.requestId === request.body.id)
    assert.ok(certificate !== undefined, 'the certificate is issued once the messages are settled')
    const keys = new Map<string, string>(
      (await t().request({ method: 'GET', url: '/v1/audit/keys' })).body.keys.map(
        (k: { keyId: string; publicKey: string }) => [k.keyId, k.publicKey],
      ),
    )
    const { payload } = await verifyJws(certificate.jws, keys)
    const told = (payload.systems as { system: string; action: string; toldAt?: string }[]).filter((s) =>
      s.system.startsWith('consent-recipient:'),
    )
    assert.deepEqual(told.map((s) => [s.system, s.action]).sort(), [
      ['consent-recipient:Ads Co', 'told'],
      ['consent-recipient:Mailer Ltd', 'told'],
    ])
    assert.ok(told.every((s) => typeof s.toldAt === 'string'))
  })

  it('a restriction, its lift and a rectification are told to every recipient of the org’s purposes (Art. 19)', async () => {
    const subject = 'subject-restricted'
    const writer = await principalWithRole(t(), acme, 'admin')
    const stored = await as(
      'POST',
      '/records',
      { subjectId: subject, dataClass: 'contact', payload: { city: 'Lyon' } },
      acme,
      writer.token,
    )
    assert.equal(stored.status, 201, stored.text)
    const complete = async (kind: string, body: unknown = {}) => {
      const request = await as('POST', '/privacy-requests', {
        kind,
        subjectId: subject,
        verification: { method: 'signed-in-account' },
      })
      assert.equal(request.status, 201, request.text)
      const from = receiver.received.length
      const done = await as('POST', `/privacy-requests/${request.body.id}/complete`, body)
      assert.equal(done.status, 200, done.text)
      await deliver()
      return { id: request.body.id as string, mailer: messagesAt(mailerPath, from), ads: messagesAt(adsPath, from) }
    }
    const restricted = await complete('restrict')
    // No consent state of this subject: the recipients are those the org's purposes name.
    assert.equal(restricted.mailer.length, 1)
    assert.equal(restricted.ads.length, 1)
    assert.equal(body(restricted.mailer[0] as Received).action, 'restrict')
    assert.deepEqual(body(restricted.mailer[0] as Received).purposes, ['analytics', 'newsletter'])
    assert.deepEqual(body(restricted.ads[0] as Received).purposes, ['newsletter', 'promotions'])
    assert.ok(verifyStandardWebhook(secrets.get(mailerPath) ?? '', restricted.mailer[0] as Received))
    assert.ok(!(restricted.mailer[0] as Received).body.includes(subject), 'the subject’s id never leaves')

    const lifted = await complete('lift_restriction')
    assert.deepEqual(
      [...lifted.mailer, ...lifted.ads].map((r) => body(r).action),
      ['lift_restriction', 'lift_restriction'],
    )
    const rectified = await complete('rectify', {
      corrections: [{ recordId: stored.body.id, payload: { city: 'Lille' } }],
    })
    assert.deepEqual(
      [...rectified.mailer, ...rectified.ads].map((r) => body(r).action),
      ['rectify', 'rectify'],
    )
    // The same subject, the same recipient: the same reference, so the processor can match them.
    assert.equal(body(rectified.mailer[0] as Received).subject, body(restricted.mailer[0] as Received).subject)

    const listed = (await as('GET', '/consent/propagations?limit=500')).body.propagations as {
      action: string
      requestId: string | null
    }[]
    assert.deepEqual(
      listed
        .filter((p) => [restricted.id, lifted.id, rectified.id].includes(p.requestId ?? ''))
        .map((p) => p.action)
        .sort(),
      ['lift_restriction', 'lift_restriction', 'rectify', 'rectify', 'restrict', 'restrict'],
    )
    const audited = (await auditActions(t(), acme.orgId)).filter((e) => e.action === 'privacy.request.restrict')
    assert.equal(audited.at(-1)?.details.recipients, 2)
  })

  it('a consent whose lifetime lapsed is told to the purpose’s recipients like a withdrawal (P7.7)', async () => {
    const created = await as('POST', '/consent/purposes', {
      key: 'trial',
      name: 'Trial',
      lawfulBasis: 'consent',
      lifetimeDays: 1,
      recipients: ['Mailer Ltd'],
    })
    assert.equal(created.status, 201, created.text)
    const notice = await as('POST', '/consent/notices', {
      language: 'en',
      text: 'We run a one-day trial with Mailer Ltd.',
      purposes: ['trial'],
      materialChange: false,
    })
    assert.equal(notice.status, 201, notice.text)
    const granted = await as('POST', '/consent/events', {
      id: `evt-${engine}-${++n}`,
      subject: 'subject-trial',
      purpose: 'trial',
      action: 'grant',
      method: 'form',
      noticeVersion: notice.body.version,
    })
    assert.equal(granted.status, 201, granted.text)
    const from = receiver.received.length
    time.advance(25 * HOUR)
    assert.ok((await t().app.services.consentJobs.expireDue()) >= 1)
    assert.equal(await t().app.services.consentJobs.expireDue(), 0, 'once')
    await deliver()
    const got = messagesAt(mailerPath, from)
    assert.equal(got.length, 1)
    assert.equal(body(got[0] as Received).action, 'expire')
    assert.deepEqual(body(got[0] as Received).purposes, ['trial'])
    assert.equal(messagesAt(adsPath, from).length, 0, 'a recipient the purpose does not name is not told')
    assert.equal(
      new Date(body(got[0] as Received).stopProcessingBy).getTime() -
        new Date(body(got[0] as Received).issuedAt).getTime(),
      48 * HOUR,
    )
  })

  it('a withdrawal collected before the grant that decides the state is not told; nor is a repeat (P7.7)', async () => {
    const subject = 'subject-late-withdrawal'
    const grantedAt = time.clock()
    const grant = await as('POST', '/consent/events', {
      id: `evt-${engine}-${++n}`,
      subject,
      purpose: 'analytics',
      action: 'grant',
      method: 'form',
      noticeVersion: 1,
      collectedAt: grantedAt.toISOString(),
    })
    assert.equal(grant.status, 201, grant.text)
    const from = receiver.received.length
    const late = await as('POST', '/consent/events', {
      id: `evt-${engine}-${++n}`,
      subject,
      purpose: 'analytics',
      action: 'withdraw',
      method: 'form',
      collectedAt: new Date(grantedAt.getTime() - HOUR).toISOString(),
    })
    assert.equal(late.status, 201, late.text)
    const check = await as('POST', '/consent/check', { subject, purpose: 'analytics' })
    assert.equal(check.status, 200, check.text)
    assert.equal(check.body.allowed, true, 'the later grant still decides')
    await deliver()
    assert.equal(messagesAt(mailerPath, from).length, 0, 'a late withdrawal tells no one to stop')

    // One that moves the state is told, once; a repeat leaves the state as it was.
    await withdraw(subject, ['analytics'])
    await withdraw(subject, ['analytics'])
    await deliver()
    assert.deepEqual(
      messagesAt(mailerPath, from).map((r) => body(r).action),
      ['withdraw'],
    )
  })

  it('gives the host application a subject’s reference for one recipient, as its messages carry it, audited without the subject (P7.7)', async () => {
    const subject = 'subject-referenced'
    await record(subject, 'newsletter', 'grant')
    const from = receiver.received.length
    await withdraw(subject, ['newsletter'])
    await deliver()
    const told = body(messagesAt(mailerPath, from)[0] as Received)
    const answered = await as('POST', `/consent/recipients/${mailerId}/subject-references`, { subjectId: subject })
    assert.equal(answered.status, 200, answered.text)
    assert.equal(answered.body.reference, told.subject, 'the processor can match the messages')
    const adsId = ((await as('GET', '/consent/recipients')).body.recipients as { id: string; name: string }[]).find(
      (r) => r.name === 'Ads Co',
    )?.id
    const forAds = await as('POST', `/consent/recipients/${adsId}/subject-references`, { subjectId: subject })
    assert.equal(forAds.body.reference, body(messagesAt(adsPath, from)[0] as Received).subject)
    assert.notEqual(forAds.body.reference, answered.body.reference, 'one reference per recipient')
    // A reader may ask; another org's recipient is not found.
    const reader = await principalWithRole(t(), acme, 'auditor')
    const asReader = await as(
      'POST',
      `/consent/recipients/${mailerId}/subject-references`,
      { subjectId: subject },
      acme,
      reader.token,
    )
    assert.equal(asReader.status, 200, asReader.text)
    const foreign = await as(
      'POST',
      `/consent/recipients/${mailerId}/subject-references`,
      { subjectId: subject },
      other,
    )
    assert.equal(foreign.status, 404)
    assert.equal(foreign.body.code, 'NOT_FOUND')
    const audited = (await auditActions(t(), acme.orgId)).filter(
      (e) => e.action === 'consent.recipient.subject_reference',
    )
    assert.ok(audited.length >= 3)
    assert.deepEqual(audited.at(-1)?.details, { recipient: mailerId })
    const log = JSON.stringify(audited)
    assert.ok(!log.includes(subject) && !log.includes(told.subject), 'neither the subject nor its reference is logged')
  })

  it('limits acknowledgements per client address: 429 problem+json with Retry-After (P7.7)', async () => {
    // Run last: it spends this address's budget for the minute.
    const answers = []
    for (let i = 0; i < 40; i++) {
      const answered = await ack({ token: `cst_cpa_${'0'.repeat(32)}_${'C'.repeat(43)}` })
      answers.push(answered)
      if (answered.status === 429) break
    }
    const refused = answers.at(-1)
    assert.ok(refused !== undefined && refused.status === 429, 'refused within the limit of 30 a minute')
    assert.ok(answers.slice(0, -1).every((a) => a.status === 404))
    assert.equal(refused.body.code, 'RATE_LIMITED')
    assert.match(String(refused.headers['content-type']), /^application\/problem\+json/)
    const retryAfter = Number(refused.headers['retry-after'])
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, String(retryAfter))
    // Another address has its own budget.
    const elsewhere = await t().request({
      method: 'POST',
      url: '/v1/consent/acknowledgements',
      body: { token: 'not-a-token' },
      remoteAddress: '127.0.0.2',
    })
    assert.equal(elsewhere.status, 404, elsewhere.text)
    // Signed-in routes keep their own budget.
    assert.equal((await as('GET', '/consent/propagations')).status, 200)
  })

  it('rotates a recipient’s signing secret: shown once, both sign for 24 hours, then only the new one', async () => {
    const oldSecret = secrets.get(mailerPath) ?? ''
    assert.equal((await as('POST', `/consent/recipients/${mailerId}/secret/rotate`, undefined, other)).status, 404)
    const rotated = await as('POST', `/consent/recipients/${mailerId}/secret/rotate`)
    assert.equal(rotated.status, 200, rotated.text)
    const newSecret = rotated.body.secret as string
    assert.match(newSecret, /^whsec_[A-Za-z0-9+/]{43}=$/)
    assert.notEqual(newSecret, oldSecret)
    assert.equal(rotated.body.name, 'Mailer Ltd')
    assert.equal(Date.parse(rotated.body.previousSecretUntil) - Date.parse(rotated.body.updatedAt), 24 * HOUR)
    const events = (await auditActions(t(), acme.orgId)).filter((e) => e.action === 'consent.recipient.secret.rotate')
    assert.equal(events.length, 1)
    assert.equal(events[0]?.details.version, 2)
    const audited = JSON.stringify(await auditActions(t(), acme.orgId))
    assert.ok(!audited.includes(newSecret.slice(6)), 'no secret in the audit log')
    assert.ok(!(await as('GET', `/consent/recipients/${mailerId}`)).text.includes(newSecret.slice(6)), 'shown once')

    await record('subject-r1', 'analytics', 'grant')
    let from = receiver.received.length
    await withdraw('subject-r1', ['analytics'])
    await deliver()
    const [during] = messagesAt(mailerPath, from)
    assert.ok(during !== undefined)
    assert.match(String(during.headers['webhook-signature']), /^v1,[A-Za-z0-9+/=]{44} v1,[A-Za-z0-9+/=]{44}$/)
    assert.ok(verifyStandardWebhook(oldSecret, during), 'a recipient still on the old secret accepts it')
    assert.ok(verifyStandardWebhook(newSecret, during), 'a recipient already on the new one accepts it')

    time.advance(24 * HOUR)
    await record('subject-r2', 'analytics', 'grant')
    from = receiver.received.length
    await withdraw('subject-r2', ['analytics'])
    await deliver()
    const [later] = messagesAt(mailerPath, from)
    assert.ok(later !== undefined)
    assert.match(String(later.headers['webhook-signature']), /^v1,[A-Za-z0-9+/=]{44}$/)
    assert.ok(verifyStandardWebhook(newSecret, later))
    assert.ok(!verifyStandardWebhook(oldSecret, later), 'after the overlap the old secret no longer verifies')
  })
})
