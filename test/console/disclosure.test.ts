import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { ensureBuilt } from '../../scripts/console.ts'
import { PASSWORD } from '../helpers/app.ts'
import {
  launchChromium,
  newConsoleContext,
  seriousViolations,
  startConsoleWorld,
  watchCsp,
  type ConsoleWorld,
} from '../helpers/console.ts'
import { httpsJson } from '../helpers/process.ts'
import { unusedTotpCode } from '../helpers/totp.ts'

// The public vulnerability-report pages and the operators' report inbox (issue 13): a
// researcher reports with JavaScript disabled (plain HTML forms, an attachment), follows
// the report on the status page with their token, the security team acknowledges and
// answers in the console, and the researcher reads the answer — in Debian's Chromium
// against a real server on PGlite. Small limits, so an oversized file is quick to make.
const ATTACHMENT_MAX = 16 * 1024
const REPORT_MAX = 64 * 1024

describe('public report pages and the operators’ inbox', () => {
  let world: ConsoleWorld
  let browser: Browser

  const operatorCall = (method: string, url: string, body?: unknown) =>
    httpsJson(world.server.httpsPort, method, url, { token: world.provider.token, body })

  async function reportCount(): Promise<number> {
    const listed = await operatorCall('GET', '/v1/operator/vulnerability-reports?limit=500')
    assert.equal(listed.status, 200, listed.text)
    return listed.body.reports.length as number
  }

  before(async () => {
    await ensureBuilt()
    world = await startConsoleWorld({
      CUSTODIAN_REPORT_ATTACHMENT_MAX_BYTES: String(ATTACHMENT_MAX),
      CUSTODIAN_REPORT_MAX_BYTES: String(REPORT_MAX),
      CUSTODIAN_REPORT_RATE_LIMIT: '50',
    })
    browser = await launchChromium()
  })
  after(async () => {
    await browser?.close()
    await world?.server.stop()
  })

  interface Reporter {
    page: Page
    context: BrowserContext
    csp: string[]
    urls: string[]
  }

  /** A browser with JavaScript disabled: only the service's HTML and forms. */
  async function reporter(): Promise<Reporter> {
    const context = await browser.newContext({ javaScriptEnabled: false, ignoreHTTPSErrors: true })
    const page = await context.newPage()
    const urls: string[] = []
    page.on('request', (request) => urls.push(request.url()))
    page.on('response', (response) => {
      if (response.request().isNavigationRequest() && response.frame() === page.mainFrame())
        shown.set(page, response.text())
    })
    return { page, context, csp: watchCsp(page), urls }
  }

  /** The HTML of each page a JavaScript-less tab shows, for axe-core (which needs script to run). */
  const shown = new WeakMap<Page, Promise<string>>()

  /**
   * axe-core on `page`. A page without JavaScript cannot run axe-core, so the HTML it shows
   * (the service's own response) is shown again, at the same origin so its stylesheet and
   * CSP apply, in a tab that can: the public pages carry no script, so both render the same.
   */
  async function assertAccessible(page: Page, where: string): Promise<void> {
    let target = page
    let close = async () => {}
    const html = await shown.get(page)
    if (html !== undefined) {
      const context = await newConsoleContext(browser)
      target = await context.newPage()
      close = () => context.close()
      await target.route(`${world.origin}/report/axe-snapshot`, (route) =>
        route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html }),
      )
      await target.goto(`${world.origin}/report/axe-snapshot`)
    }
    try {
      assert.deepEqual(await seriousViolations(target), [], `axe-core: serious or critical violations on ${where}`)
    } finally {
      await close()
    }
  }

  /** Tabs until the element labelled `label` has the focus (the keyboard path through a form). */
  async function tabTo(page: Page, label: string | RegExp): Promise<void> {
    const id = await page.getByLabel(label).getAttribute('id')
    for (let i = 0; i < 30; i++) {
      await page.keyboard.press('Tab')
      if ((await page.locator(':focus').getAttribute('id')) === id) return
    }
    assert.fail(`Tab never reached ${String(label)}`)
  }

  it('issue 13: a report with a blank field or an oversized file is answered with a page saying what to fix, and nothing is stored', async () => {
    const { page, context, csp } = await reporter()
    try {
      const before = await reportCount()
      await page.goto(`${world.origin}/report`)
      await page.getByRole('heading', { level: 1, name: 'Report a vulnerability' }).waitFor()

      // Blank (spaces only, which the browser's `required` lets through): the server refuses it.
      await page.getByLabel(/^Title/).fill('XSS in the widget')
      await page.getByLabel(/^Where/).fill('   ')
      await page.getByLabel(/^Impact/).fill('Session theft')
      await page.getByLabel(/^Steps to reproduce/).fill('1. open 2. paste')
      const [blank] = await Promise.all([
        page.waitForResponse((r) => r.url().endsWith('/report') && r.request().method() === 'POST'),
        page.getByRole('button', { name: 'Send the report' }).click(),
      ])
      assert.equal(blank.status(), 400)
      const alert = page.getByRole('alert')
      await alert.getByRole('heading', { name: 'Please check the form' }).waitFor()
      assert.match(await alert.innerText(), /Where: must not be blank/)
      assert.match(await alert.innerText(), /Nothing was stored/)
      assert.equal(await page.getByLabel(/^Title/).inputValue(), 'XSS in the widget', 'what was typed is kept')
      await assertAccessible(page, 'the form with its errors')

      // A file over the per-file limit (within the request limit): 413, naming the file.
      await page.getByLabel(/^Where/).fill('https://app.example/widget')
      await page.getByLabel(/^Attachments/).setInputFiles({
        name: 'big.bin',
        mimeType: 'application/octet-stream',
        buffer: Buffer.alloc(ATTACHMENT_MAX + 1, 1),
      })
      const [big] = await Promise.all([
        page.waitForResponse((r) => r.url().endsWith('/report') && r.request().method() === 'POST'),
        page.getByRole('button', { name: 'Send the report' }).click(),
      ])
      assert.equal(big.status(), 413)
      await page.getByRole('alert').getByRole('heading', { name: 'Too large' }).waitFor()
      assert.match(await page.getByRole('alert').innerText(), /The file big\.bin is too large/)
      assert.match(await page.getByRole('alert').innerText(), /Each file may be at most 16 KiB/)

      // A request over the whole report's limit: refused, as a page too, with the fields —
      // those after the files in the form too — given back.
      await page.getByLabel(/^Your e-mail address/).fill('finder@example.org')
      await page.getByLabel(/^Attachments/).setInputFiles({
        name: 'huge.bin',
        mimeType: 'application/octet-stream',
        buffer: Buffer.alloc(REPORT_MAX + 1024, 1),
      })
      const [huge] = await Promise.all([
        page.waitForResponse((r) => r.url().endsWith('/report') && r.request().method() === 'POST'),
        page.getByRole('button', { name: 'Send the report' }).click(),
      ])
      assert.equal(huge.status(), 413)
      await page.getByRole('alert').getByRole('heading', { name: 'Too large' }).waitFor()
      assert.match(await page.getByRole('alert').innerText(), /The report is larger than we accept/)
      // What was typed comes back with the refusal; the files are asked for again.
      assert.equal(await page.getByLabel(/^Title/).inputValue(), 'XSS in the widget')
      assert.equal(await page.getByLabel(/^Where/).inputValue(), 'https://app.example/widget')
      assert.equal(await page.getByLabel(/^Steps to reproduce/).inputValue(), '1. open 2. paste')
      assert.match(await page.getByText(/attach them again/).innerText(), /files are not kept after an error/)
      assert.equal(await page.getByLabel(/^Your e-mail address/).inputValue(), 'finder@example.org')

      // Past four times the limit the body is not read further: refused, the connection closed.
      const flood = await context.request.post(`${world.origin}/report`, {
        multipart: {
          title: 'flood',
          attachments: {
            name: 'flood.bin',
            mimeType: 'application/octet-stream',
            buffer: Buffer.alloc(5 * REPORT_MAX, 1),
          },
        },
      })
      assert.equal(flood.status(), 413)
      assert.match(await flood.text(), /The report is larger than we accept/)

      // Missing fields altogether (a form posted without them): 400, each named by its label.
      const missing = await context.request.post(`${world.origin}/report`, {
        multipart: { title: 'only a title' },
      })
      assert.equal(missing.status(), 400)
      assert.match(missing.headers()['content-type'] ?? '', /^text\/html/)
      const text = await missing.text()
      for (const label of ['Where', 'Impact', 'Steps to reproduce'])
        assert.ok(text.includes(`${label}: is required`), `names ${label}`)

      // A wrong status token: 401, as a page asking for it again.
      await page.goto(`${world.origin}/report/status`)
      await page.getByLabel('Status token').fill('cst_vrs_not-a-real-token')
      const [wrong] = await Promise.all([
        page.waitForResponse((r) => r.url().endsWith('/report/status') && r.request().method() === 'POST'),
        page.getByRole('button', { name: 'Show the status' }).click(),
      ])
      assert.equal(wrong.status(), 401)
      await page.getByRole('alert').getByRole('heading', { name: 'That status token is not valid' }).waitFor()

      assert.equal(await reportCount(), before, 'no refused report was stored')
      const openapi = await operatorCall('GET', '/openapi.json')
      assert.deepEqual(
        Object.keys(openapi.body.paths).filter((p) => p.startsWith('/report')),
        [],
        'the report pages are not API routes',
      )
      assert.deepEqual(csp, [], 'no CSP violation')
    } finally {
      await context.close()
    }
  })

  it('issue 13: a report sent with JavaScript disabled (with an attachment) is answered by the team in the console, and the reporter reads the answer on the status page', async () => {
    const researcher = await reporter()
    const { page } = researcher
    let reference = ''
    let token = ''
    try {
      // security.txt points to the form.
      const txt = await researcher.context.request.get(`${world.origin}/.well-known/security.txt`)
      const contact = /^Contact: (.+)$/m.exec(await txt.text())?.[1] ?? ''
      assert.equal(contact, `${world.origin}/report`)
      await page.goto(contact)
      await page.getByRole('heading', { level: 1, name: 'Report a vulnerability' }).waitFor()
      await assertAccessible(page, 'the report form')
      const csp = (await researcher.context.request.get(`${world.origin}/report`)).headers()['content-security-policy']
      assert.match(csp ?? '', /default-src 'none'/)
      assert.ok(!(csp ?? '').includes('unsafe-inline'), 'no inline script or style allowed')

      // The keyboard path: Tab from field to field, Enter to send.
      await tabTo(page, /^Title/)
      await page.keyboard.type('Stored <script>alert(1)</script> in org names')
      await page.keyboard.press('Tab')
      await page.keyboard.type('https://app.example/orgs')
      await page.keyboard.press('Tab')
      await page.keyboard.type('Script runs in every operator’s browser.')
      await page.keyboard.press('Tab')
      await page.keyboard.type('1. Create an org named <script>…\n2. Open the overview.')
      await page.keyboard.press('Tab')
      assert.deepEqual(
        await page
          .getByLabel(/^Severity/)
          .locator('option')
          .allInnerTexts(),
        ['Not given', 'Low', 'Medium', 'High', 'Critical'],
        'the severities in words (issue 13)',
      )
      await page.keyboard.press('ArrowDown') // severity: low
      await page.keyboard.press('ArrowDown') // medium
      await page.keyboard.press('ArrowDown') // high
      await page.getByLabel(/^Attachments/).setInputFiles({
        name: 'poc (1).txt',
        mimeType: 'text/plain',
        buffer: Buffer.from('proof of concept ✓\n'),
      })
      await tabTo(page, /^Your e-mail address/)
      await page.keyboard.type('researcher@example.org')
      await page.keyboard.press('Tab')
      await page.keyboard.press('Space') // credit
      await page.keyboard.press('Tab')
      const [sent] = await Promise.all([
        page.waitForResponse((r) => r.url().endsWith('/report') && r.request().method() === 'POST'),
        page.keyboard.press('Enter'),
      ])
      assert.equal(sent.status(), 201)
      await page.getByRole('heading', { level: 1, name: 'Report received' }).waitFor()
      await assertAccessible(page, 'the receipt')
      const facts = await page.locator('dl.facts code').allInnerTexts()
      ;[reference = '', token = ''] = facts
      assert.match(reference, /^VR-[A-Z0-9]{10}$/)
      assert.match(token, /^cst_vrs_/)

      // Stored as the API would have: the title as text, the attachment under a safe name.
      const listed = await operatorCall('GET', '/v1/operator/vulnerability-reports')
      const summary = listed.body.reports.find((r: { reference: string }) => r.reference === reference)
      assert.ok(summary !== undefined, 'the report is in the inbox')
      assert.equal(summary.title, 'Stored <script>alert(1)</script> in org names')
      assert.equal(summary.reportedSeverity, 'high')
      const stored = await operatorCall('GET', `/v1/operator/vulnerability-reports/${summary.id}`)
      assert.deepEqual(
        stored.body.attachments.map((a: { filename: string; size: number; contentType: string }) => [
          a.filename,
          a.size,
          a.contentType,
        ]),
        [['poc _1_.txt', Buffer.byteLength('proof of concept ✓\n'), 'text/plain']],
      )
      assert.deepEqual(stored.body.reporter, { name: null, email: 'researcher@example.org', credit: true })

      // The status page, opened by posting the token (never in a URL).
      await page.getByRole('button', { name: 'Open the status page' }).click()
      await page.getByRole('heading', { level: 1, name: `Report ${reference}` }).waitFor()
      assert.match(await page.locator('dl.facts').innerText(), /Status\s+Received$/m)
      await page.getByText('No updates yet.').waitFor()
      await assertAccessible(page, 'the status page')

      // The security team, in the console: inbox from the operator overview, acknowledge, reply.
      const operator = await newConsoleContext(browser)
      const console = await operator.newPage()
      const consoleCsp = watchCsp(console)
      try {
        await console.goto(`${world.origin}/console/sign-in`)
        await console.getByLabel('Email').fill(world.provider.email)
        await console.getByLabel(/^Password/).fill(PASSWORD)
        await console.getByRole('button', { name: 'Sign in' }).click()
        await console.getByLabel('Authentication code').fill(await unusedTotpCode(world.provider.totpSecret))
        await console.getByRole('button', { name: 'Sign in' }).click()
        await console.getByRole('heading', { name: 'Choose an org' }).waitFor()
        await console.getByRole('link', { name: 'Operator overview' }).click()
        await console
          .getByRole('navigation', { name: 'Operator pages' })
          .getByRole('link', { name: 'Vulnerability reports' })
          .click()
        await console.getByRole('heading', { level: 1, name: 'Vulnerability reports' }).waitFor()
        const table = console.getByRole('table', { name: 'Vulnerability reports' })
        const row = table.getByRole('row').filter({ hasText: reference })
        await row.waitFor()
        assert.match(
          await row.innerText(),
          /Due .*\n?.*(business days? left|due today)/s,
          'the deadline with the business days left',
        )
        assert.match(await row.innerText(), /Stored <script>alert\(1\)<\/script> in org names/)
        await assertAccessible(console, 'the inbox')

        await row.getByRole('link', { name: reference }).click()
        await console
          .getByRole('heading', { level: 1, name: 'Stored <script>alert(1)</script> in org names' })
          .waitFor()
        await console.getByRole('link', { name: /Download poc _1_\.txt/ }).waitFor()
        await assertAccessible(console, 'the report')

        const ack = console.getByRole('region', { name: 'Acknowledge' })
        await ack.getByLabel(/^Message to the reporter/).fill('Thank you: we are looking into it.')
        await ack.getByRole('button', { name: 'Acknowledge' }).click()
        await console.getByRole('status').filter({ hasText: 'The report is acknowledged' }).waitFor()
        await console.getByRole('region', { name: 'Acknowledge' }).waitFor({ state: 'detached' })

        const reply = console.getByRole('region', { name: 'Reply or change status' })
        await reply.getByLabel('New status').selectOption('triaged')
        await reply.getByLabel('Message').fill('Confirmed. A fix is planned for the next release.')
        await reply.getByRole('button', { name: 'Send the update' }).click()
        await console.getByRole('status').filter({ hasText: 'The update is sent to the reporter.' }).waitFor()
        await console.getByLabel('Status: triaged').waitFor()
        // The team sees which operator wrote each message (issue 13); the reporter never does (below).
        await console
          .getByRole('region', { name: 'Conversation' })
          .getByText(`Team (${world.provider.email})`)
          .first()
          .waitFor()
        assert.deepEqual(consoleCsp, [], 'no CSP violation in the console')
      } finally {
        await operator.close()
      }
      const answered = await operatorCall('GET', `/v1/operator/vulnerability-reports/${summary.id}`)
      assert.equal(answered.body.status, 'triaged')
      assert.notEqual(answered.body.acknowledgedAt, null)
      assert.deepEqual(
        answered.body.messages.map((m: { from: string; status: string | null; message: string }) => [
          m.from,
          m.status,
          m.message,
        ]),
        [
          ['team', 'acknowledged', 'Thank you: we are looking into it.'],
          ['team', 'triaged', 'Confirmed. A fix is planned for the next release.'],
        ],
      )

      // The reporter comes back with the token, reads the answers and writes back.
      await page.goto(`${world.origin}/report/status`)
      await assertAccessible(page, 'the status token form')
      await tabTo(page, 'Status token')
      await page.keyboard.type(token)
      await page.keyboard.press('Enter')
      await page.getByRole('heading', { level: 1, name: `Report ${reference}` }).waitFor()
      const updates = page.getByRole('region', { name: 'Updates' })
      await updates.getByText('Thank you: we are looking into it.').waitFor()
      await updates.getByText('Confirmed. A fix is planned for the next release.').waitFor()
      assert.match(await page.locator('dl.facts').innerText(), /Status\s+Triaged$/m)
      await page.getByLabel('Message').fill('Thanks! Happy to test the fix.')
      const [answer] = await Promise.all([
        page.waitForResponse((r) => r.url().endsWith('/report/status/messages')),
        page.getByRole('button', { name: 'Send the message' }).click(),
      ])
      assert.equal(answer.status(), 201)
      await page.getByRole('status').filter({ hasText: 'Your message was sent' }).waitFor()
      await updates.getByText('Thanks! Happy to test the fix.').waitFor()
      const last = await operatorCall('GET', `/v1/operator/vulnerability-reports/${summary.id}`)
      assert.deepEqual(last.body.messages.at(-1).message, 'Thanks! Happy to test the fix.')
      assert.equal(last.body.messages.at(-1).from, 'reporter')

      const leaked = researcher.urls.filter((url) => url.includes(token) || url.includes(encodeURIComponent(token)))
      assert.deepEqual(leaked, [], 'the status token is in no URL')
      assert.deepEqual(researcher.csp, [], 'no CSP violation on the public pages')
    } finally {
      await researcher.context.close()
    }
  })
})
