import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { bootstrapProvider, createCustomerOrg, startTestApp, type Org, type TestApp } from '../helpers/app.ts'
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts'
import { launchChromium, seriousViolations, watchCsp } from '../helpers/console.ts'

/**
 * The hosted consent preference page in Debian's Chromium (issue 22): a host application's
 * page links its signed-in user to a freshly minted link; the page opens, the link leaves
 * the address bar, and the user gives and withdraws consent with the keyboard alone — with
 * JavaScript on, and again with JavaScript off. axe-core finds nothing serious; a browser
 * sending Global Privacy Control sees it applied. Custodian runs in-process (PGlite).
 */
describe('hosted consent preference page in Chromium', () => {
  let db: TestDatabase
  let app: TestApp
  let custodian: string
  let browser: Browser
  let acme: Org
  let hostServer: Server
  let hostOrigin: string
  let nextLink = ''

  const api = (method: string, path: string, body?: unknown) =>
    app.request({ method, url: `/v1/orgs/${acme.orgId}/consent${path}`, token: acme.ownerToken, body })
  /** A link for `subject`, its path on the in-process server (the minted URL names the public URL). */
  const mint = async (subject: string) => {
    const minted = await api('POST', '/page-links', { subject })
    assert.equal(minted.status, 201, minted.text)
    const url = new URL(minted.body.url)
    return `${custodian}${url.pathname}${url.search}`
  }
  const check = async (subject: string, purpose: string) => (await api('POST', '/check', { subject, purpose })).body

  /** The host app's page: its backend minted `nextLink` for the signed-in user. */
  async function openFromHost(context: BrowserContext): Promise<Page> {
    const page = await context.newPage()
    await page.goto(`${hostOrigin}/`)
    // Keyboard: the host page's only link, then Enter.
    await page.keyboard.press('Tab')
    await page.keyboard.press('Enter')
    await page.getByRole('heading', { level: 1, name: 'Your privacy choices with Acme' }).waitFor()
    return page
  }

  /** The focused element's text (a locator: it works with the page's JavaScript off too). */
  const focused = async (page: Page) => ((await page.locator('*:focus').textContent()) ?? '').trim()

  /** Tabs until the focused element has `name`, at most `max` times. */
  async function tabTo(page: Page, name: string, max = 40): Promise<void> {
    for (let i = 0; i < max; i++) {
      await page.keyboard.press('Tab')
      if ((await focused(page)) === name) return
    }
    assert.fail(`no focusable “${name}” within ${max} tabs`)
  }

  before(async () => {
    db = await createTestDatabase('pglite')
    app = await startTestApp('pglite', db, {})
    await app.app.listen({ port: 0, host: '127.0.0.1' })
    custodian = `http://127.0.0.1:${(app.app.server.address() as AddressInfo).port}`
    const provider = await bootstrapProvider(app)
    acme = await createCustomerOrg(app, provider, 'Acme', 'owner@acme.test')
    // A purpose names registered recipients (docs/consent.md#propagation-to-recipients).
    const registered = await api('POST', '/recipients', {
      name: 'Mailer Ltd',
      url: 'https://mailer.example.test/consent',
      deadlineHours: 72,
    })
    assert.equal(registered.status, 201, registered.text)
    for (const body of [
      {
        key: 'newsletter',
        name: 'Newsletter',
        description: 'A monthly e-mail about new features.',
        lawfulBasis: 'consent',
        directMarketing: true,
        gpcEffect: 'opt_out',
        recipients: ['Mailer Ltd'],
        dataCategories: ['email'],
      },
      { key: 'analytics', name: 'Product analytics', lawfulBasis: 'consent', lifetimeDays: 365 },
      { key: 'billing', name: 'Billing', lawfulBasis: 'contract', dataCategories: ['payment'] },
      { key: 'fraud', name: 'Fraud prevention', lawfulBasis: 'legitimate_interests' },
    ])
      assert.equal((await api('POST', '/purposes', body)).status, 201)
    const notice = await api('POST', '/notices', {
      language: 'en',
      text: 'We send a monthly newsletter and measure how the product is used.\n\nYou may withdraw at any time, here.',
      purposes: ['newsletter', 'analytics'],
      materialChange: false,
    })
    assert.equal(notice.status, 201, notice.text)
    hostServer = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      response.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Host app</title></head>
<body><main><h1>Account</h1><a href="${nextLink}">Privacy settings</a></main></body></html>`)
    })
    await new Promise<void>((resolve) => hostServer.listen(0, '127.0.0.1', resolve))
    hostOrigin = `http://127.0.0.1:${(hostServer.address() as AddressInfo).port}`
    browser = await launchChromium()
  })
  after(async () => {
    await browser?.close()
    await new Promise((resolve) => hostServer?.close(resolve))
    await app?.app.close()
    await db?.close()
  })

  it('opens from the host app, drops the link from the address bar, and passes axe-core', async () => {
    nextLink = await mint('browser-user-1')
    const secret = new URL(nextLink).searchParams.get('link') ?? ''
    const context = await browser.newContext()
    try {
      const page = await openFromHost(context)
      const csp = watchCsp(page)
      assert.equal(new URL(page.url()).pathname, '/consent/page')
      assert.equal(new URL(page.url()).search, '', 'no link in the address bar')
      assert.ok(!(await page.content()).includes(secret), 'nor in the page')
      await page.getByText('Notice version 1, published').waitFor()
      assert.deepEqual(await seriousViolations(page), [])
      // Reloading is harmless: the cookie holds the session.
      await page.reload()
      await page.getByRole('heading', { level: 1, name: 'Your privacy choices with Acme' }).waitFor()
      assert.deepEqual(csp, [])
    } finally {
      await context.close()
    }
  })

  for (const javaScriptEnabled of [true, false]) {
    it(`gives and withdraws consent with the keyboard alone (JavaScript ${javaScriptEnabled ? 'on' : 'off'})`, async () => {
      const subject = `browser-keys-${String(javaScriptEnabled)}`
      nextLink = await mint(subject)
      const context = await browser.newContext({ javaScriptEnabled })
      try {
        const page = await openFromHost(context)
        // The skip link first, then into the choices.
        await page.keyboard.press('Tab')
        assert.equal(await focused(page), 'Skip to your choices')
        await tabTo(page, 'Give consent to Newsletter')
        await page.keyboard.press('Enter')
        await page.getByRole('status').filter({ hasText: 'Your consent was recorded.' }).waitFor()
        assert.equal((await check(subject, 'newsletter')).allowed, true)
        // axe-core runs as a script in the page: only where the page may run one.
        if (javaScriptEnabled) assert.deepEqual(await seriousViolations(page), [])

        await tabTo(page, 'Withdraw consent to Newsletter')
        await page.keyboard.press('Enter')
        await page.getByRole('status').filter({ hasText: 'Your consent was withdrawn' }).waitFor()
        assert.equal((await check(subject, 'newsletter')).reason, 'withdrawn', 'one step, effective at once')

        await tabTo(page, 'History of Newsletter')
        await page.keyboard.press('Enter')
        await page.getByText('Consent withdrawn on a form').waitFor()
        await page.getByRole('link', { name: 'Consent receipt of this event' }).first().waitFor()
      } finally {
        await context.close()
      }
    })
  }

  for (const javaScriptEnabled of [true, false]) {
    it(`objects (Art. 21) to a purpose under legitimate interests with the keyboard alone (JavaScript ${javaScriptEnabled ? 'on' : 'off'}); none is offered under a contract`, async () => {
      const subject = `browser-object-${String(javaScriptEnabled)}`
      nextLink = await mint(subject)
      const context = await browser.newContext({ javaScriptEnabled })
      try {
        const page = await openFromHost(context)
        assert.equal(
          await page.getByRole('button', { name: 'Object to Billing' }).count(),
          0,
          'a contract: no objection',
        )
        await tabTo(page, 'Object to Fraud prevention')
        await page.keyboard.press('Enter')
        await page.getByRole('status').filter({ hasText: 'Your objection was recorded.' }).waitFor()
        const decision = await check(subject, 'fraud')
        assert.deepEqual([decision.allowed, decision.reason], [false, 'objection_pending'], 'not processed meanwhile')
        await page.getByText('Your objection stands').waitFor()
        assert.equal(await page.getByRole('button', { name: 'Object to Fraud prevention' }).count(), 0)
        if (javaScriptEnabled) assert.deepEqual(await seriousViolations(page), [])
        const pending = (await api('GET', '/objections?due=pending')).body.objections as { purpose: string }[]
        assert.ok(
          pending.some((o) => o.purpose === 'fraud'),
          'a review is open for the org',
        )
      } finally {
        await context.close()
      }
    })
  }

  it('applies a browser’s Global Privacy Control and flags an opt-in against it', async () => {
    nextLink = await mint('browser-gpc')
    const context = await browser.newContext({ extraHTTPHeaders: { 'Sec-GPC': '1' } })
    try {
      const page = await openFromHost(context)
      await page.getByRole('heading', { name: 'Global Privacy Control' }).waitFor()
      assert.equal((await check('browser-gpc', 'newsletter')).reason, 'denied', 'the signal opts out, never grants')
      await page.getByRole('button', { name: 'Give consent to Newsletter' }).click()
      await page.getByRole('status').filter({ hasText: 'Your consent was recorded.' }).waitFor()
      await page.getByText('History of Newsletter').click()
      await page.getByText('given while your browser sent a Global Privacy Control signal').waitFor()
      assert.deepEqual(await seriousViolations(page), [])
      const gpc = await app.request({ method: 'GET', url: '/.well-known/gpc.json' })
      assert.equal(gpc.body.gpc, true)
    } finally {
      await context.close()
    }
  })

  it('says so when the link was already used', async () => {
    nextLink = await mint('browser-twice')
    const first = await browser.newContext()
    const second = await browser.newContext()
    try {
      await openFromHost(first)
      const page = await second.newPage()
      const answer = await page.goto(nextLink)
      assert.equal(answer?.status(), 401)
      await page.getByRole('heading', { name: 'This link has expired or was already used' }).waitFor()
      assert.deepEqual(await seriousViolations(page), [])
    } finally {
      await first.close()
      await second.close()
    }
  })
})
