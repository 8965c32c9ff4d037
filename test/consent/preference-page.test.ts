import assert from 'node:assert/strict'
import { before, it } from 'node:test'
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
  type TestResponse,
} from '../helpers/app.ts'

const COOKIE = '__Host-custodian_consent_page'
const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

/** The hosted preference page (issue 22): links, the cookie they become, forms with CSRF, GPC, receipts. */
forEachEngine('consent: the hosted preference page and its links (P7.7)', (engine) => {
  const time = testClock()
  const t = useTestApp(engine, {}, undefined, undefined, { clock: time.clock })
  let provider: Org
  let acme: Org
  let other: Org
  const api = (method: string, path: string, body?: unknown, org: Org = acme, token = org.ownerToken) =>
    t().request({ method, url: `/v1/orgs/${org.orgId}/consent${path}`, token, body })

  /** Mints a link for `subject` and opens it: the session cookie's value. */
  const open = async (subject: string, org: Org = acme): Promise<string> => {
    const minted = await api('POST', '/page-links', { subject }, org)
    assert.equal(minted.status, 201, minted.text)
    const first = await t().request({ method: 'GET', url: pathOf(minted.body.url) })
    assert.equal(first.status, 303, first.text)
    return cookieOf(first)
  }
  const pathOf = (url: string) => {
    const u = new URL(url)
    return `${u.pathname}${u.search}`
  }
  const cookieOf = (response: TestResponse): string => {
    const header = response.headers['set-cookie']
    const line = (Array.isArray(header) ? header : [String(header)]).find((c) => c.startsWith(`${COOKIE}=`))
    assert.ok(line !== undefined, 'the first load sets the page cookie')
    return line.slice(COOKIE.length + 1).split(';')[0] as string
  }
  const page = (cookie: string, headers: Record<string, string> = {}) =>
    t().request({ method: 'GET', url: '/consent/page', headers: { cookie: `${COOKIE}=${cookie}`, ...headers } })
  const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? ''
  const post = (path: string, cookie: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
    t().request({
      method: 'POST',
      url: path,
      headers: { ...FORM, cookie: `${COOKIE}=${cookie}`, 'user-agent': 'PageTest/1.0', ...headers },
      payload: new URLSearchParams(fields).toString(),
    })
  const check = async (subject: string, purpose: string) => {
    const answered = await api('POST', '/check', { subject, purpose })
    assert.equal(answered.status, 200, answered.text)
    return answered.body
  }

  before(async () => {
    provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', 'owner@acme.test')
    other = await createCustomerOrg(t(), provider, 'Other', 'owner@other.test')
    for (const org of [acme, other]) {
      // A purpose names registered recipients (docs/consent.md#propagation-to-recipients).
      const registered = await api(
        'POST',
        '/recipients',
        { name: 'Mailer Ltd', url: 'https://mailer.example.test/consent', deadlineHours: 72 },
        org,
      )
      assert.equal(registered.status, 201, registered.text)
      for (const body of [
        {
          key: 'newsletter',
          name: 'Newsletter',
          lawfulBasis: 'consent',
          directMarketing: true,
          gpcEffect: 'opt_out',
          recipients: ['Mailer Ltd'],
        },
        { key: 'analytics', name: 'Product analytics', lawfulBasis: 'consent' },
        { key: 'billing', name: 'Billing', lawfulBasis: 'contract' },
      ]) {
        const created = await api('POST', '/purposes', body, org)
        assert.equal(created.status, 201, created.text)
      }
      const notice = await api(
        'POST',
        '/notices',
        {
          language: 'en',
          text: 'We send a monthly newsletter <b>and</b> measure how the product is used.',
          purposes: ['newsletter', 'analytics'],
          materialChange: false,
        },
        org,
      )
      assert.equal(notice.status, 201, notice.text)
    }
  })

  it('mints a short-lived link that opens once and becomes a cookie; the link is in no URL after, no row and no log (P7.7)', async () => {
    const minted = await api('POST', '/page-links', { subject: 'user-link', ttlSeconds: 120 })
    assert.equal(minted.status, 201, minted.text)
    const link = new URL(minted.body.url).searchParams.get('link') ?? ''
    assert.match(link, /^cst_cpl_[0-9a-f]{32}_/)
    assert.equal(Date.parse(minted.body.expiresAt) - time.clock().getTime() <= 120_000, true)

    const first = await t().request({ method: 'GET', url: pathOf(minted.body.url) })
    assert.equal(first.status, 303)
    assert.equal(first.headers.location, '/consent/page', 'the address bar loses the link')
    const setCookie = String(first.headers['set-cookie'])
    assert.match(setCookie, /HttpOnly/)
    assert.match(setCookie, /Secure/)
    assert.match(setCookie, /SameSite=Lax/)
    assert.match(setCookie, /Path=\//)
    const cookie = cookieOf(first)
    assert.match(cookie, /^cst_cps_/)

    const again = await t().request({ method: 'GET', url: pathOf(minted.body.url) })
    assert.equal(again.status, 401, 'a link opens once')
    assert.match(again.headers['content-type'] as string, /text\/html/)
    assert.match(again.text, /expired or was already used/)
    // The browser that opened it may reload the first address: its session stands.
    const reload = await t().request({
      method: 'GET',
      url: pathOf(minted.body.url),
      headers: { cookie: `${COOKIE}=${cookie}` },
    })
    assert.equal(reload.status, 303)

    const shown = await page(cookie)
    assert.equal(shown.status, 200, shown.text)

    const rows = await t().db.kysely.selectFrom('consent_page_links').selectAll().execute()
    const dump = JSON.stringify(rows, (_k, v) => (v?.type === 'Buffer' ? Buffer.from(v.data).toString('latin1') : v))
    // The secret is base64url and may itself hold '_': take everything after the id, never a fragment.
    const secretOf = (token: string) => token.replace(/^cst_cp[ls]_[0-9a-f]{32}_/, '')
    for (const secret of [link, secretOf(link), secretOf(cookie), 'user-link'])
      assert.ok(!dump.includes(secret), 'no secret and no subject id in the table')
    const audit = JSON.stringify(await auditActions(t(), acme.orgId))
    assert.ok(audit.includes('consent.page_link.issue') && audit.includes('consent.page.open'))
    for (const secret of [link, cookie, 'user-link']) assert.ok(!audit.includes(secret), 'none in the audit log')
  })

  it('refuses an expired link, an expired session, a made-up cookie (401 pages)', async () => {
    const minted = await api('POST', '/page-links', { subject: 'user-late', ttlSeconds: 60 })
    time.advance(61_000)
    assert.equal((await t().request({ method: 'GET', url: pathOf(minted.body.url) })).status, 401)
    const cookie = await open('user-late')
    time.advance(31 * 60_000)
    assert.equal((await page(cookie)).status, 401, 'the session lasts 30 minutes')
    assert.equal((await page(`cst_cps_${'0'.repeat(32)}_${'A'.repeat(43)}`)).status, 401)
    assert.equal((await t().request({ method: 'GET', url: '/consent/page' })).status, 401)
    assert.equal(
      (await t().request({ method: 'GET', url: '/consent/page?link=cst_cpl_nonsense' })).status,
      401,
      'a malformed link is refused like an unknown one',
    )
  })

  it('shows the notice, each purpose with its state and history; grants (method form, under the notice shown) and withdraws in one step (P7.7)', async () => {
    const cookie = await open('user-1')
    const shown = await page(cookie)
    assert.equal(shown.status, 200)
    assert.match(shown.headers['content-security-policy'] as string, /default-src 'none'/)
    assert.ok(!/<script/i.test(shown.text), 'no script: the page works without JavaScript')
    assert.match(shown.text, /Notice version 1/)
    assert.match(shown.text, /We send a monthly newsletter &lt;b&gt;and&lt;\/b&gt;/, 'the notice text, escaped')
    assert.match(shown.text, /Give consent to Newsletter/)
    assert.match(shown.text, /does not rely on your consent/, 'billing (contract) takes no grant')
    const csrf = csrfOf(shown.text)
    assert.ok(csrf.length > 20)

    const granted = await post('/consent/page/grant', cookie, { csrf, purpose: 'newsletter', noticeVersion: '1' })
    assert.equal(granted.status, 303, granted.text)
    assert.equal(granted.headers.location, '/consent/page?done=granted')
    const decision = await check('user-1', 'newsletter')
    assert.equal(decision.allowed, true)
    assert.equal(decision.noticeVersion, 1)
    const grants = (await auditActions(t(), acme.orgId)).filter((e) => e.action === 'consent.grant')
    const last = grants.at(-1)
    assert.equal(last?.details.method, 'form')
    assert.deepEqual(last?.details.notice, { version: 1, sha256: (await api('GET', '/notices/1')).body.sha256 })
    assert.equal(last?.details.actorType, 'subject')
    assert.ok(!JSON.stringify(last).includes('user-1'), 'the subject id is sealed, not in the details')

    const after = await t().request({
      method: 'GET',
      url: '/consent/page?done=granted',
      headers: { cookie: `${COOKIE}=${cookie}` },
    })
    assert.match(after.text, /Your consent was recorded/)
    assert.match(after.text, /Withdraw consent to Newsletter/)
    assert.match(after.text, /Consent given<\/span> on a form/)

    const withdrawn = await post('/consent/page/withdraw', cookie, { csrf, purpose: 'newsletter' })
    assert.equal(withdrawn.status, 303)
    assert.equal((await check('user-1', 'newsletter')).reason, 'withdrawn')
    const withdrawals = (await auditActions(t(), acme.orgId)).filter((e) => e.action === 'consent.withdraw')
    assert.equal(withdrawals.at(-1)?.details.method, 'form')
  })

  it('refuses a form without the session’s CSRF token, or without a session, and changes nothing (403/401/400/413)', async () => {
    const cookie = await open('user-csrf')
    const csrf = csrfOf((await page(cookie)).text)
    const otherCookie = await open('user-csrf-2')
    const otherCsrf = csrfOf((await page(otherCookie)).text)
    const before = await fingerprint(t())
    const wrong = await post('/consent/page/grant', cookie, {
      csrf: otherCsrf,
      purpose: 'newsletter',
      noticeVersion: '1',
    })
    assert.equal(wrong.status, 403, 'another session’s token')
    assert.match(wrong.headers['content-type'] as string, /text\/html/)
    assert.equal((await post('/consent/page/withdraw', cookie, { purpose: 'newsletter' })).status, 400)
    const noSession = await t().request({
      method: 'POST',
      url: '/consent/page/grant',
      headers: FORM,
      payload: new URLSearchParams({ csrf, purpose: 'newsletter', noticeVersion: '1' }).toString(),
    })
    assert.equal(noSession.status, 401)
    const unknownPurpose = await post('/consent/page/grant', cookie, { csrf, purpose: 'nope', noticeVersion: '1' })
    assert.equal(unknownPurpose.status, 400)
    const badVersion = await post('/consent/page/grant', cookie, { csrf, purpose: 'newsletter', noticeVersion: '0' })
    assert.equal(badVersion.status, 400)
    const extra = await post('/consent/page/grant', cookie, {
      csrf,
      purpose: 'newsletter',
      noticeVersion: '1',
      subject: 'someone-else',
    })
    assert.equal(extra.status, 400, 'the subject comes from the session only')
    const huge = await post('/consent/page/withdraw', cookie, { csrf, purpose: 'newsletter', pad: 'x'.repeat(5000) })
    assert.equal(huge.status, 413)
    // The objection form (Art. 21) holds to the same rules; a contract takes no objection.
    const objections: [number, Record<string, string>][] = [
      [403, { csrf: otherCsrf, purpose: 'billing' }],
      [400, { purpose: 'billing' }],
      [400, { csrf, purpose: 'billing', subject: 'someone-else' }],
      [413, { csrf, purpose: 'billing', pad: 'x'.repeat(5000) }],
      [409, { csrf, purpose: 'billing' }],
    ]
    for (const [status, fields] of objections)
      assert.equal((await post('/consent/page/object', cookie, fields)).status, status, JSON.stringify(fields))
    const objectWithoutSession = await t().request({
      method: 'POST',
      url: '/consent/page/object',
      headers: FORM,
      payload: new URLSearchParams({ csrf, purpose: 'billing' }).toString(),
    })
    assert.equal(objectWithoutSession.status, 401)
    assert.equal(await fingerprint(t()), before, 'nothing changed')
  })

  it('applies a Sec-GPC: 1 it sees (method gpc, never a grant); a later explicit opt-in is flagged and stands (P7.7)', async () => {
    const cookie = await open('user-gpc')
    const csrf = csrfOf((await page(cookie)).text)
    await post('/consent/page/grant', cookie, { csrf, purpose: 'newsletter', noticeVersion: '1' })
    assert.equal((await check('user-gpc', 'newsletter')).allowed, true)

    const signalled = await page(cookie, { 'sec-gpc': '1' })
    assert.equal(signalled.status, 200)
    assert.match(signalled.text, /Your browser sends a Global Privacy Control signal/)
    assert.match(signalled.text, /It was just recorded for: Newsletter/)
    assert.equal((await check('user-gpc', 'newsletter')).reason, 'withdrawn')
    const gpcEvents = (await auditActions(t(), acme.orgId)).filter(
      (e) => e.action === 'consent.withdraw' && e.details.method === 'gpc',
    )
    assert.equal(gpcEvents.length, 1)
    assert.equal((await check('user-gpc', 'analytics')).allowed, false, 'the signal never grants')

    const optIn = await post(
      '/consent/page/grant',
      cookie,
      { csrf, purpose: 'newsletter', noticeVersion: '1' },
      { 'sec-gpc': '1' },
    )
    assert.equal(optIn.status, 303)
    const flagged = (await auditActions(t(), acme.orgId)).filter((e) => e.action === 'consent.grant').at(-1)
    assert.equal(flagged?.details.gpcConflict, true, 'the event is flagged')
    assert.equal((await check('user-gpc', 'newsletter')).allowed, true)
    assert.match(
      (await page(cookie, { 'sec-gpc': '1' })).text,
      /given while your browser sent a Global Privacy Control signal/,
    )

    // A new link, the signal still on: the explicit opt-in given against it stands.
    const later = await open('user-gpc')
    assert.equal((await page(later, { 'sec-gpc': '1' })).status, 200)
    assert.equal((await check('user-gpc', 'newsletter')).allowed, true)
  })

  it('offers the receipt of each of the subject’s events, and nobody else’s (404)', async () => {
    const cookie = await open('user-receipt')
    const csrf = csrfOf((await page(cookie)).text)
    await post('/consent/page/grant', cookie, { csrf, purpose: 'analytics', noticeVersion: '1' })
    const eventId = (await check('user-receipt', 'analytics')).eventId as string
    // The receipt needs a checkpoint over the event.
    await t().app.sequencer.flush()
    const receipt = await t().request({
      method: 'GET',
      url: `/consent/page/receipts/${eventId}`,
      headers: { cookie: `${COOKIE}=${cookie}` },
    })
    assert.equal(receipt.status, 200, receipt.text)
    // The signed consent receipt (consent.receipts.ts), with its audit event's inclusion proof.
    assert.equal(receipt.body.eventId, eventId)
    assert.match(receipt.body.jws, /^[\w-]+\.[\w-]+\.[\w-]+$/)
    assert.equal(receipt.body.receipt.event.id, eventId)
    const someoneElse = await open('user-someone')
    const refused = await t().request({
      method: 'GET',
      url: `/consent/page/receipts/${eventId}`,
      headers: { cookie: `${COOKIE}=${someoneElse}` },
    })
    assert.equal(refused.status, 404)
    assert.equal(
      (await t().request({ method: 'GET', url: `/consent/page/receipts/${eventId}` })).status,
      401,
      'no session',
    )
  })

  it('mints links only with consent:record in the org (401, 403, 404, 400, 413)', async () => {
    const auditor = await principalWithRole(t(), acme, 'auditor')
    const before = await fingerprint(t())
    assert.equal(
      (await t().request({ method: 'POST', url: `/v1/orgs/${acme.orgId}/consent/page-links`, body: { subject: 'x' } }))
        .status,
      401,
    )
    const forbidden = await api('POST', '/page-links', { subject: 'x' }, acme, auditor.token)
    assert.equal(forbidden.status, 403)
    assert.equal(forbidden.body.permission, 'consent:record')
    const foreign = await api('POST', '/page-links', { subject: 'x' }, other, acme.ownerToken)
    assert.equal(foreign.status, 404)
    const bad = await api('POST', '/page-links', { subject: 'x', ttlSeconds: 5 })
    assert.equal(bad.status, 400)
    assert.equal(bad.body.errors[0].path, '/body/ttlSeconds')
    assert.equal((await api('POST', '/page-links', { subject: '' })).status, 400)
    assert.equal((await api('POST', '/page-links', { subject: 'x', url: 'https://evil.example' })).status, 400)
    const huge = await t().request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/consent/page-links`,
      token: acme.ownerToken,
      payload: JSON.stringify({ subject: 'x'.repeat(2_000_000) }),
      headers: { 'content-type': 'application/json' },
    })
    assert.equal(huge.status, 413)
    assert.equal(huge.headers['content-type'], 'application/problem+json; charset=utf-8')
    assert.equal(await fingerprint(t()), before, 'the refusals changed nothing')
  })

  it('a link of one org shows that org’s purposes only, and its subject is another org’s stranger', async () => {
    const cookie = await open('user-other', other)
    const shown = await page(cookie)
    assert.match(shown.text, /with Other/)
    const csrf = csrfOf(shown.text)
    await post('/consent/page/grant', cookie, { csrf, purpose: 'newsletter', noticeVersion: '1' })
    assert.equal((await check('user-other', 'newsletter')).reason, 'unknown_subject', 'not granted in Acme')
  })

  it('serves /.well-known/gpc.json (Global Privacy Control support resource)', async () => {
    const answered = await t().request({ method: 'GET', url: '/.well-known/gpc.json' })
    assert.equal(answered.status, 200)
    assert.equal(answered.body.gpc, true)
    assert.match(answered.body.lastUpdate, /^\d{4}-\d{2}-\d{2}$/)
    assert.match(answered.headers['content-type'] as string, /application\/json/)
  })
})
