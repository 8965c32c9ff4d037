import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import type { Browser, Page } from 'playwright-core'
import { ensureBuilt } from '../../scripts/console.ts'
import {
  bootstrapProvider,
  createCustomerOrg,
  principalWithRole,
  startTestApp,
  testClock,
  type Org,
  type TestApp,
} from '../helpers/app.ts'
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts'
import { launchChromium, seriousViolations, watchCsp } from '../helpers/console.ts'

/**
 * The embedded audit-log viewer in a host page (issue 14): a host page on 127.0.0.1
 * (origin A, its own strict CSP) loads /embed/audit-log.js from Custodian (another origin)
 * and hands `<custodian-audit-log>` a token minted for origin A. In Debian's Chromium: it
 * lists application and Custodian events, filters, opens one, exports, verifies every shown
 * event's receipt in the browser and refuses a tampered one; from origin B the same token
 * shows the refusal and no event; after expiry (the server's clock) it says so.
 * Custodian runs in-process (PGlite) so the test can move its clock.
 */
describe('embedded audit-log viewer in a host page', () => {
  const clock = testClock()
  let db: TestDatabase
  let app: TestApp
  let custodian: string
  let browser: Browser
  let acme: Org
  let writer: string
  const hosts: Server[] = []
  let originA: string
  let originB: string

  const hostPage = (custodianUrl: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Host app — audit log</title>
<script src="${custodianUrl}/embed/audit-log.js"></script>
<script src="/host.js"></script></head>
<body><main><h1>Your organisation’s audit log</h1><custodian-audit-log url="${custodianUrl}"></custodian-audit-log></main></body></html>`
  // The host app's script: fetches a token from its own backend (here: the test's) and sets it as a property.
  const hostScript = `fetch('/viewer-token').then(r => r.text()).then(t => { document.querySelector('custodian-audit-log').token = t })`

  let currentToken = ''
  async function host(): Promise<string> {
    const server = createServer((request, response) => {
      const csp = `default-src 'none'; script-src 'self' ${custodian}; connect-src 'self' ${custodian}; style-src 'self'`
      if (request.url === '/') {
        response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': csp })
        response.end(hostPage(custodian))
      } else if (request.url === '/host.js') {
        response.writeHead(200, { 'content-type': 'text/javascript' })
        response.end(hostScript)
      } else if (request.url === '/viewer-token') {
        response.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' })
        response.end(currentToken)
      } else {
        response.writeHead(404)
        response.end()
      }
    })
    hosts.push(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  }

  const mint = async (origin: string, body: Record<string, unknown> = {}) => {
    const issued = await app.request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/audit/viewer-tokens`,
      token: acme.ownerToken,
      body: { origin, ...body },
    })
    assert.equal(issued.status, 201, issued.text)
    return issued.body.token as string
  }

  async function open(origin: string, token: string): Promise<{ page: Page; csp: string[] }> {
    currentToken = token
    const context = await browser.newContext({ acceptDownloads: true })
    const page = await context.newPage()
    const csp = watchCsp(page)
    await page.goto(`${origin}/`)
    return { page, csp }
  }

  before(async () => {
    await ensureBuilt()
    db = await createTestDatabase('pglite')
    app = await startTestApp('pglite', db, { CUSTODIAN_AUDIT_CHECKPOINT_EVERY: '1' }, undefined, undefined, clock.clock)
    await app.app.listen({ port: 0, host: '127.0.0.1' })
    custodian = `http://127.0.0.1:${(app.app.server.address() as AddressInfo).port}`
    const provider = await bootstrapProvider(app)
    acme = await createCustomerOrg(app, provider, 'Acme', 'owner@acme.test')
    const role = await app.request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/roles`,
      token: acme.ownerToken,
      body: { name: 'app-events', description: 'host app', permissions: ['audit:write'] },
    })
    assert.equal(role.status, 201, role.text)
    writer = (await principalWithRole(app, acme, 'app-events')).token
    for (const [id, action] of [
      ['e1', 'document.share'],
      ['e2', 'document.delete'],
      ['e3', 'billing.charge'],
    ])
      assert.equal(
        (
          await app.request({
            method: 'POST',
            url: `/v1/orgs/${acme.orgId}/audit/events`,
            token: writer,
            body: { id, action, actor: { id: 'u_ada', type: 'user' } },
          })
        ).status,
        201,
      )
    await app.app.sequencer.flush()
    browser = await launchChromium()
    originA = await host()
    originB = await host()
  })
  after(async () => {
    await browser?.close()
    for (const server of hosts) server.close()
    await app?.app.close()
    await db?.close()
  })

  it('serves the script cross-origin with an ETag', async () => {
    const first = await app.request({ method: 'GET', url: '/embed/audit-log.js' })
    assert.equal(first.status, 200)
    assert.equal(first.headers['cross-origin-resource-policy'], 'cross-origin')
    assert.match(String(first.headers['content-type']), /javascript/)
    const etag = String(first.headers.etag)
    const again = await app.request({ method: 'GET', url: '/embed/audit-log.js', headers: { 'if-none-match': etag } })
    assert.equal(again.status, 304)
  })

  it('lists application and Custodian events in scope, filters, opens one, exports and verifies every shown event in the browser; accessible and CSP-clean', async () => {
    const { page, csp } = await open(originA, await mint(originA, { actions: ['document.*', 'member.*', 'audit.*'] }))
    await page.getByRole('heading', { name: 'Audit log — Acme' }).waitFor()
    const table = page.getByRole('table', { name: 'Events, newest first' })
    await table.getByRole('cell', { name: 'document.share', exact: true }).waitFor()
    assert.equal(await table.getByRole('cell', { name: 'billing.charge', exact: true }).count(), 0, 'out of scope')
    assert.ok((await table.getByRole('cell', { name: 'Application', exact: true }).count()) >= 2)
    assert.ok((await table.getByRole('cell', { name: 'Custodian', exact: true }).count()) >= 1)
    // Filter (keyboard only: type, Enter).
    await page.getByLabel('Action').fill('document.delete')
    await page.getByLabel('Action').press('Enter')
    await page.getByRole('status').filter({ hasText: '1 event shown.' }).waitFor()
    assert.equal(await table.getByRole('cell', { name: 'document.share', exact: true }).count(), 0)
    // Open it with the keyboard; details get the focus; close returns it.
    const openButton = page.getByRole('button', { name: /Open details of document\.delete/ })
    await openButton.focus()
    await page.keyboard.press('Enter')
    const details = page.getByRole('region', { name: 'Event details' })
    await details.getByText('"action": "document.delete"').waitFor()
    await page.getByRole('button', { name: 'Close details' }).click()
    assert.equal(await openButton.evaluate((b) => b.matches(':focus')), true)
    // Export.
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Export' }).click(),
    ])
    const lines = readFileSync(await download.path(), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    assert.equal(lines[0].format, 'custodian-audit-viewer-export/1')
    assert.deepEqual(
      lines.slice(1).map((l: { event: { action: string } }) => l.event.action),
      ['document.delete'],
    )
    // Verify everything in scope.
    await page.getByRole('button', { name: 'Reset' }).click()
    await table.getByRole('cell', { name: 'document.share', exact: true }).waitFor()
    await app.app.sequencer.flush()
    await page.getByRole('button', { name: 'Verify shown events' }).click()
    const summary = page.getByRole('status').filter({ hasText: 'Verification:' })
    await summary.waitFor()
    const text = (await summary.textContent()) ?? ''
    assert.match(text, / 0 failed, 0 not yet checkpointed/, text)
    assert.equal(await table.getByText('Not verified').count(), 0)
    assert.ok((await table.getByText('Verified', { exact: true }).count()) >= 3)
    assert.deepEqual(await seriousViolations(page), [])
    assert.deepEqual(csp, [])
    await page.context().close()
  })

  it('refuses a receipt changed by a byte', async () => {
    const { page } = await open(originA, await mint(originA, { actions: ['document.share'] }))
    await page.getByRole('cell', { name: 'document.share', exact: true }).waitFor()
    await page.route('**/v1/viewer/events/*/receipt', async (route) => {
      const response = await route.fetch()
      const body = (await response.text()).replace('document.share', 'document.shard')
      await route.fulfill({ response, body })
    })
    await page.getByRole('button', { name: 'Verify shown events' }).click()
    await page.getByText(/Not verified:/).waitFor()
    assert.equal(await page.getByText('Verified', { exact: true }).count(), 0)
    await page.context().close()
  })

  it('from another origin, the same token shows the refusal and no event', async () => {
    const { page } = await open(originB, await mint(originA))
    await page
      .getByRole('alert')
      .filter({ hasText: /refused this page/ })
      .waitFor()
    assert.equal(await page.getByRole('cell', { name: 'document.share', exact: true }).count(), 0)
    await page.context().close()
  })

  it('after expiry (the server’s clock), says the token expired', async () => {
    const { page } = await open(originA, await mint(originA, { ttlSeconds: 60 }))
    await page.getByRole('cell', { name: 'document.share', exact: true }).first().waitFor()
    clock.advance(61_000)
    await page.getByRole('button', { name: 'Search' }).click()
    await page.getByRole('alert').filter({ hasText: 'This viewer token has expired' }).waitFor()
    assert.equal(await page.getByRole('cell', { name: 'document.share', exact: true }).count(), 0)
    assert.deepEqual(await seriousViolations(page), [])
    await page.context().close()
  })
})
