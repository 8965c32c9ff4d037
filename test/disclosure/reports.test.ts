import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, it } from 'node:test'
import { sql } from 'kysely'
import { addBusinessDays, parseWeekend } from '../../src/modules/disclosure/business-days.ts'
import { forEachEngine } from '../helpers/db.ts'
import {
  auditActions,
  bootstrapProvider,
  createCustomerOrg,
  fingerprint,
  testClock,
  useTestApp,
  type Org,
} from '../helpers/app.ts'
import { startSmtpServer } from '../helpers/smtp-server.ts'
import { assertTimeInWords } from '../helpers/titles.ts'

const HOUR = 3_600_000
const DAY = 24 * HOUR
const dir = mkdtempSync(path.join(tmpdir(), 'custodian-disclosure-'))
const smtpCa = path.join(dir, 'smtp-ca.pem')
let smtp: Awaited<ReturnType<typeof startSmtpServer>>

/** The next two weekdays after today (UTC), as holidays: the deadline must step over them. */
function nextWeekdays(count: number): string[] {
  const out: string[] = []
  for (let day = Math.floor(Date.now() / DAY) * DAY + DAY; out.length < count; day += DAY) {
    const weekday = new Date(day).getUTCDay()
    if (weekday !== 0 && weekday !== 6) out.push(new Date(day).toISOString().slice(0, 10))
  }
  return out
}
const holidays = nextWeekdays(2)
const env: Record<string, string> = {
  CUSTODIAN_SMTP_FROM: 'Security <security@provider.test>',
  CUSTODIAN_HOLIDAYS: holidays.join(','),
  CUSTODIAN_REPORT_MAX_BYTES: '65536',
  CUSTODIAN_REPORT_ATTACHMENT_MAX_BYTES: '4096',
  CUSTODIAN_REPORT_RATE_LIMIT: '3',
}
before(async () => {
  smtp = await startSmtpServer({ caFile: smtpCa, mode: 'starttls' })
  Object.assign(env, { CUSTODIAN_SMTP_URL: `smtp://localhost:${smtp.port}`, CUSTODIAN_EXTRA_CA_FILE: smtpCa })
})
after(async () => smtp?.stop())

const report = (overrides: Record<string, unknown> = {}) => ({
  title: 'Session fixation on the login form',
  location: 'POST /v1/login, version 0.1.0',
  impact: 'An attacker who plants a cookie can ride the victim’s session.',
  steps: '1. Set the session cookie to a known value.\n2. Have the victim sign in.\n3. Reuse the cookie.',
  severity: 'high',
  reporter: { name: 'Alice Finder', email: 'alice@finder.test', credit: true },
  attachments: [
    {
      filename: 'poc.txt',
      contentType: 'text/plain',
      data: Buffer.from('curl -H "Cookie: s=known" …').toString('base64'),
    },
  ],
  ...overrides,
})

forEachEngine('vulnerability reports (P9.1)', (engine) => {
  const time = testClock()
  const t = useTestApp(engine, env, undefined, undefined, { clock: time.clock })
  let provider: Org
  let customer: Org
  let address = 0
  /** Each test its own client address: the intake's per-address limit stays out of the way. */
  const from = () => `10.9.${engine === 'pglite' ? 1 : 2}.${++address}`
  const submit = (body: unknown, remoteAddress = from()) =>
    t().request({ method: 'POST', url: '/v1/vulnerability-reports', body, remoteAddress })
  const team = (method: string, url: string, body?: unknown) =>
    t().request({ method, url: `/v1/operator/vulnerability-reports${url}`, token: provider.ownerToken, body })
  const asReporter = (token: string | undefined, method = 'GET', body?: unknown) =>
    t().request({ method, url: `/v1/vulnerability-reports/status${method === 'POST' ? '/messages' : ''}`, token, body })
  const deliver = () => t().app.services.delivery.deliverMail()

  before(async () => {
    provider = await bootstrapProvider(t())
    customer = await createCustomerOrg(t(), provider, 'Acme', 'owner@acme.test')
  })

  let first: { reference: string; statusToken: string; id: string }

  it('takes a report without an account: a reference, a status token, a deadline in business days', async () => {
    const received = await submit(
      report({ reporter: { name: 'Alice Finder', email: `alice@${engine}.finder.test`, credit: true } }),
    )
    assert.equal(received.status, 201, received.text)
    assert.match(received.body.reference, /^VR-[A-Z0-9]{10}$/)
    assert.match(received.body.statusToken, /^cst_vrs_[0-9a-f]{32}_[A-Za-z0-9_-]{43}$/)
    const calendar = { timeZone: 'UTC', weekend: parseWeekend('sat,sun') as Set<number> }
    const receivedAt = new Date(received.body.receivedAt)
    assert.equal(
      received.body.acknowledgementDueAt,
      addBusinessDays(receivedAt, 5, { ...calendar, holidays: new Set(holidays) }).toISOString(),
    )
    assert.ok(
      new Date(received.body.acknowledgementDueAt).getTime() >
        addBusinessDays(receivedAt, 5, { ...calendar, holidays: new Set() }).getTime(),
      'the configured holidays are skipped',
    )
    const row = await t()
      .db.kysely.selectFrom('vulnerability_reports')
      .selectAll()
      .where('reference', '=', received.body.reference)
      .executeTakeFirstOrThrow()
    first = { reference: received.body.reference, statusToken: received.body.statusToken, id: row.id }

    // Sealed at rest: neither the details, the attachment nor the reporter's address in clear.
    const stored = Buffer.concat([
      row.details_sealed,
      row.contact_sealed as Buffer,
      ...(await t().db.kysely.selectFrom('vulnerability_report_attachments').select('sealed').execute()).map(
        (a) => a.sealed,
      ),
    ]).toString('latin1')
    for (const clear of ['Session fixation', 'alice@', 'curl -H'])
      assert.ok(!stored.includes(clear), `${clear} is not stored in clear`)
    assert.ok(
      !row.token_hash.toString('latin1').includes(first.statusToken.split('_').slice(3).join('_')),
      'only a hash of the token',
    )

    const events = await auditActions(t(), provider.orgId)
    const receipt = events.find((e) => e.action === 'disclosure.report.receive')
    assert.equal(receipt?.details.reference, first.reference)
    assert.match(
      String(receipt?.details.personal),
      /^sha256:/,
      'the reporter’s contact is a personal field: only its commitment is chained',
    )
    assert.ok(!JSON.stringify(events).includes('alice@'), 'no address in the audit details')

    await deliver()
    const mail = await smtp.to(`alice@${engine}.finder.test`, 1)
    assert.equal(mail.length, 1, 'the reporter is told it arrived')
    assert.match(mail[0]?.data ?? '', new RegExp(`${first.reference}[\\s\\S]*acknowledge it by`))
    assert.doesNotMatch(mail[0]?.data ?? '', /cst_vrs_/, 'the token is never mailed')
    const notices = await t()
      .db.kysely.selectFrom('notifications')
      .selectAll()
      .where('org_id', '=', provider.orgId)
      .where('kind', '=', 'disclosure.team')
      .execute()
    assert.equal(notices.length, 1, 'the provider’s owner is told')
    assert.doesNotMatch(
      `${notices[0]?.subject} ${notices[0]?.body}`,
      /Session fixation|alice/,
      'nothing the reporter wrote is in the team’s notice',
    )
  })

  it('shows the reporter the status with the token, and nothing without it', async () => {
    const view = await asReporter(first.statusToken)
    assert.equal(view.status, 200, view.text)
    assert.deepEqual(
      { reference: view.body.reference, status: view.body.status, updates: view.body.updates },
      { reference: first.reference, status: 'received', updates: [] },
    )
    assert.equal(view.body.title, undefined, 'the reporter’s view does not echo the details')
    for (const token of [
      undefined,
      'cst_vrs_x',
      `${first.statusToken.slice(0, -1)}${first.statusToken.endsWith('A') ? 'B' : 'A'}`,
      first.statusToken.replace('cst_vrs_', 'cst_api_'),
    ]) {
      const refused = await asReporter(token)
      assert.equal(refused.status, 401, `${token}: ${refused.text}`)
      assert.equal(refused.body.code, 'UNAUTHENTICATED')
    }
    const before = await fingerprint(t())
    const reply = await asReporter(
      first.statusToken.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')),
      'POST',
      { message: 'let me in' },
    )
    assert.equal(reply.status, 401)
    assert.equal(await fingerprint(t()), before, 'a reply without a valid token changes nothing')
  })

  it('gives the provider’s team the whole report, auditing each read, and keeps customers out', async () => {
    const list = await team('GET', '')
    assert.equal(list.status, 200, list.text)
    assert.deepEqual(
      list.body.reports.map((r: { reference: string; title: string; overdue: boolean }) => [
        r.reference,
        r.title,
        r.overdue,
      ]),
      [[first.reference, 'Session fixation on the login form', false]],
    )
    const full = await team('GET', `/${first.id}`)
    assert.equal(full.status, 200, full.text)
    assert.equal(full.body.steps.startsWith('1. Set the session cookie'), true)
    assert.deepEqual(full.body.reporter, { name: 'Alice Finder', email: `alice@${engine}.finder.test`, credit: true })
    assert.equal(full.body.reportedSeverity, 'high')
    assert.equal(full.body.attachments[0].filename, 'poc.txt')
    const file = await team('GET', `/${first.id}/attachments/0`)
    assert.equal(file.status, 200)
    assert.equal(file.text, 'curl -H "Cookie: s=known" …')
    assert.equal(file.headers['content-type'], 'application/octet-stream')
    assert.equal(file.headers['content-disposition'], 'attachment; filename="poc.txt"')
    assert.equal((await team('GET', `/${first.id}/attachments/1`)).status, 404)
    const actions = (await auditActions(t(), provider.orgId)).map((e) => e.action)
    assert.ok(actions.includes('disclosure.report.read') && actions.includes('disclosure.report.attachment_read'))
    const outsider = await t().request({
      method: 'GET',
      url: `/v1/operator/vulnerability-reports/${first.id}`,
      token: customer.ownerToken,
    })
    assert.equal(outsider.status, 403, 'a customer org’s owner is not the provider’s security team')
  })

  it('keeps the reporter informed: acknowledgement, updates, internal notes, replies', async () => {
    const reporter = `alice@${engine}.finder.test`
    const acknowledged = await team('POST', `/${first.id}/acknowledge`, {
      message: 'Thanks — we can reproduce it and are on it.',
    })
    assert.equal(acknowledged.status, 200, acknowledged.text)
    assert.equal(acknowledged.body.status, 'acknowledged')
    assert.equal((await team('POST', `/${first.id}/acknowledge`, { message: 'again' })).body.code, 'CONFLICT')
    assert.equal(
      (
        await team('POST', `/${first.id}/updates`, {
          message: 'Root cause: the cookie is not rotated at sign-in.',
          internal: true,
        })
      ).status,
      200,
    )
    const fixing = await team('POST', `/${first.id}/updates`, {
      status: 'fixing',
      severity: 'high',
      message: 'A fix is under review: https://github.com/example/custodian/pull/1',
    })
    assert.equal(fixing.status, 200, fixing.text)
    assert.equal((await team('POST', `/${first.id}/updates`, {})).body.code, 'VALIDATION_FAILED')

    const view = (await asReporter(first.statusToken)).body
    assert.equal(view.status, 'fixing')
    assert.deepEqual(
      view.updates.map((u: { from: string; status: string | null }) => [u.from, u.status]),
      [
        ['team', 'acknowledged'],
        ['team', 'fixing'],
      ],
      'internal notes are not shown',
    )
    assert.match(view.updates[1].message, /pull\/1/, 'the reporter reads the team’s words in full')

    await deliver()
    const mails = (await smtp.to(reporter, 3)).map((m) => m.data)
    assert.equal(mails.length, 3)
    assert.match(mails[1] ?? '', /we can reproduce it/)
    assert.doesNotMatch(mails[2] ?? '', /https?:\/\//, 'a message with a link is not mailed as is (P3.5)…')
    assert.match(mails[2] ?? '', /Read it with your status token/, '…the mail points to the status instead')
    assert.ok(!mails.some((m) => /Root cause/.test(m)), 'internal notes never reach the reporter')

    const replied = await asReporter(first.statusToken, 'POST', { message: 'Happy to test the fix.' })
    assert.equal(replied.status, 201, replied.text)
    const full = await team('GET', `/${first.id}`)
    assert.deepEqual(
      full.body.messages.map((m: { from: string; internal: boolean }) => [m.from, m.internal]),
      [
        ['team', false],
        ['team', true],
        ['team', false],
        ['reporter', false],
      ],
    )
    const resolved = await team('POST', `/${first.id}/updates`, {
      status: 'resolved',
      message: 'Fixed in 0.1.1. Thank you!',
    })
    assert.notEqual(resolved.body.closedAt, null)
    assert.deepEqual((await team('GET', '?open=true')).body.reports, [])
  })

  it('reminds the team a day before the deadline and raises an alert when it passes unanswered', async () => {
    const received = await submit(report({ reporter: undefined, attachments: undefined, title: 'Open redirect' }))
    assert.equal(received.status, 201, received.text)
    const { vulnerabilityReports } = t().app.services
    const due = new Date(received.body.acknowledgementDueAt).getTime()
    assert.deepEqual(await vulnerabilityReports.watch(), { reminded: 0, overdue: 0 })
    time.advance(due - time.clock().getTime() - 12 * HOUR)
    assert.deepEqual(await vulnerabilityReports.watch(), { reminded: 1, overdue: 0 })
    assert.deepEqual(await vulnerabilityReports.watch(), { reminded: 0, overdue: 0 }, 'once')
    time.advance(13 * HOUR)
    assert.deepEqual(await vulnerabilityReports.watch(), { reminded: 0, overdue: 1 })
    assert.deepEqual(await vulnerabilityReports.watch(), { reminded: 0, overdue: 0 })
    const alerts = (
      await t().request({ method: 'GET', url: `/v1/orgs/${provider.orgId}/alerts`, token: provider.ownerToken })
    ).body.alerts
    const overdue = alerts.filter((a: { rule: string }) => a.rule === 'disclosure_ack_overdue')
    assert.equal(overdue.length, 1)
    assert.equal(overdue[0].severity, 'high')
    assert.equal(overdue[0].details.reference, received.body.reference)
    assertTimeInWords(overdue[0].title) // the disclosure calendar's zone: UTC by default
    const row = (await team('GET', '')).body.reports.find(
      (r: { reference: string }) => r.reference === received.body.reference,
    )
    assert.equal(row.overdue, true)
    await team('POST', `/${row.id}/acknowledge`, { message: 'Sorry for the delay; looking now.' })
    const events = await auditActions(t(), provider.orgId)
    assert.equal(
      events.find(
        (e) => e.action === 'disclosure.report.acknowledge' && e.details.reference === received.body.reference,
      )?.details.late,
      true,
    )
  })

  it('refuses malformed and oversized reports with a clear error, keeping nothing', async () => {
    const before = await fingerprint(t())
    const cases: [string, unknown, number, RegExp][] = [
      ['no title', { ...report(), title: undefined }, 400, /title/],
      ['blank steps', report({ steps: '   ' }), 400, /steps/],
      [
        'a path as file name',
        report({ attachments: [{ filename: '../../etc/passwd', contentType: 'text/plain', data: 'AAAA' }] }),
        400,
        /filename/,
      ],
      [
        'not base64',
        report({ attachments: [{ filename: 'a.bin', contentType: 'application/octet-stream', data: 'not base64!' }] }),
        400,
        /attachments\/0\/data/,
      ],
      [
        'six attachments',
        report({
          attachments: Array.from({ length: 6 }, (_, i) => ({
            filename: `a${i}.txt`,
            contentType: 'text/plain',
            data: 'AAAA',
          })),
        }),
        400,
        /attachments/,
      ],
      ['a bad address', report({ reporter: { email: 'not an address' } }), 400, /email/],
      ['an unknown field', report({ cvss: 9.8 }), 400, /cvss/],
      [
        'an attachment over its limit',
        report({
          attachments: [
            {
              filename: 'big.bin',
              contentType: 'application/octet-stream',
              data: Buffer.alloc(4097).toString('base64'),
            },
          ],
        }),
        413,
        /4097 bytes; each may be at most 4096/,
      ],
      ['a request over the limit', report({ steps: 'x'.repeat(70_000) }), 413, /.+/],
    ]
    for (const [label, body, status, detail] of cases) {
      const refused = await submit(body)
      assert.equal(refused.status, status, `${label}: ${refused.text}`)
      assert.match(String(refused.headers['content-type']), /^application\/problem\+json/, label)
      assert.match(
        `${refused.body.detail} ${JSON.stringify(refused.body.errors ?? [])}`,
        detail,
        `${label}: says what is wrong`,
      )
    }
    const broken = await t().request({
      method: 'POST',
      url: '/v1/vulnerability-reports',
      payload: '{"title": ',
      remoteAddress: from(),
    })
    assert.equal(broken.status, 400)
    assert.equal(await fingerprint(t()), before, 'nothing was kept')
  })

  it('limits reports per address', async () => {
    const address = from()
    for (let i = 0; i < 3; i++)
      assert.equal((await submit(report({ reporter: undefined, attachments: undefined }), address)).status, 201)
    const limited = await submit(report({ reporter: undefined, attachments: undefined }), address)
    assert.equal(limited.status, 429)
    assert.equal(limited.body.code, 'RATE_LIMITED')
    assert.ok(Number(limited.headers['retry-after']) > 0, 'says when to try again')
    // The window's remaining time, the same in the header and the body — never a fixed figure.
    assert.equal(Number(limited.headers['retry-after']), limited.body.retryAfter)
    assert.ok(limited.body.retryAfter <= 3600)
    assert.equal(
      (await submit(report({ reporter: undefined, attachments: undefined }), from())).status,
      201,
      'another address is not affected',
    )
  })

  it('erases a reporter who asks, keeping the report; no more mail goes to them (P7.1)', async () => {
    const reporter = `bob@${engine}.finder.test`
    const received = await submit(report({ reporter: { email: reporter } }))
    const id = (
      await t()
        .db.kysely.selectFrom('vulnerability_reports')
        .select('id')
        .where('reference', '=', received.body.reference)
        .executeTakeFirstOrThrow()
    ).id
    const erase = await t().request({
      method: 'POST',
      url: `/v1/orgs/${provider.orgId}/privacy-requests`,
      token: provider.ownerToken,
      body: {
        kind: 'erase',
        subjectId: `vulnerability-reporter:${reporter}`,
        verification: { method: 'reply-from-address' },
      },
    })
    assert.equal(erase.status, 201, erase.text)
    const done = await t().request({
      method: 'POST',
      url: `/v1/orgs/${provider.orgId}/privacy-requests/${erase.body.id}/complete`,
      token: provider.ownerToken,
      body: {},
    })
    assert.equal(done.status, 200, done.text)
    const full = await team('GET', `/${id}`)
    assert.equal(full.body.reporter, null)
    assert.equal(full.body.reporterErased, true)
    assert.equal(full.body.title, 'Session fixation on the login form', 'the report itself stays')
    await team('POST', `/${id}/acknowledge`, { message: 'Thanks.' })
    await deliver()
    const outbox = await t()
      .db.kysely.selectFrom('notifications')
      .select(['status', 'last_error'])
      .where('recipient_ref', '=', `vulnerability-report:${id}`)
      .execute()
    assert.ok(
      outbox.length >= 1 && outbox.every((n) => n.status === 'skipped' && /no address/.test(n.last_error ?? '')),
      JSON.stringify(outbox),
    )
    assert.ok(!smtp.messages.some((m) => m.to.includes(reporter) && /acknowledged/.test(m.data)))
  })

  it('still opens reports after the provider org key is rotated and the old one retired', async () => {
    const rotated = await t().request({
      method: 'POST',
      url: `/v1/orgs/${provider.orgId}/keys/rotate`,
      token: provider.ownerToken,
    })
    assert.equal(rotated.status, 200, rotated.text)
    while ((await t().app.services.rotation.rewrapBatch(provider.orgId)).remaining > 0);
    const versions = await sql<{
      n: number
    }>`SELECT count(*)::int AS n FROM vulnerability_reports WHERE kek_version = 1`.execute(t().db.kysely)
    assert.equal(versions.rows[0]?.n, 0, 'every report key was rewrapped')
    assert.equal((await team('GET', `/${first.id}`)).body.title, 'Session fixation on the login form')
  })
})
