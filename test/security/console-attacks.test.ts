import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Browser, Page } from 'playwright-core'
import { ensureBuilt } from '../../scripts/console.ts'
import { PASSWORD } from '../helpers/app.ts'
import {
  launchChromium,
  newConsoleContext,
  openSignedIn,
  signIn,
  startConsoleWorld,
  watchCsp,
  type ConsoleWorld,
} from '../helpers/console.ts'
import { httpsJson } from '../helpers/process.ts'

// Attacks on the web console (security review, branch `attack`): hostile values stored
// through the API and rendered by the pages, the console's headers (CSP, framing, caching),
// open redirects through the sign-in page and the app's paths, and what the browser keeps.
describe('security: the web console under attack', () => {
  let world: ConsoleWorld
  let browser: Browser
  // Markup and template syntax that would run, or show as elements, if any page rendered it as HTML.
  const HOSTILE = `"><img src=x id=xss-img onerror="window.__xss=1"><svg id=xss-svg onload="window.__xss=2">{{7*7}}`
  let port: number

  before(async () => {
    await ensureBuilt()
    world = await startConsoleWorld({ CUSTODIAN_AUDIT_CHECKPOINT_EVERY: '1' })
    browser = await launchChromium()
    port = world.server.httpsPort
    const { orgId } = world.customer
    const token = world.customer.ownerToken
    const renamed = await httpsJson(port, 'PATCH', `/v1/orgs/${orgId}`, { token, body: { name: `Acme ${HOSTILE}` } })
    assert.equal(renamed.status, 200, renamed.text)
    const role = await httpsJson(port, 'POST', `/v1/orgs/${orgId}/roles`, {
      token,
      body: { name: 'hostile', description: HOSTILE, permissions: ['org:read'] },
    })
    assert.equal(role.status, 201, role.text)
    const changed = await httpsJson(port, 'PUT', `/v1/orgs/${orgId}/roles/hostile`, {
      token,
      body: { description: `${HOSTILE} changed`, permissions: ['org:read', 'secrets:read'] },
    })
    assert.equal(changed.status, 200, changed.text)
    const tokenMade = await httpsJson(port, 'POST', `/v1/orgs/${orgId}/tokens`, {
      token,
      body: { name: HOSTILE, expiresInDays: 1 },
    })
    assert.equal(tokenMade.status, 201, tokenMade.text)
    const secret = await httpsJson(port, 'POST', `/v1/orgs/${orgId}/secrets`, {
      token,
      body: { name: 'app/db-password', type: 'generic', value: { v: 'plain' }, description: HOSTILE },
    })
    // A description is optional in the API: a 400 here only means the field does not exist.
    assert.ok([201, 400].includes(secret.status), secret.text)
  })
  after(async () => {
    await browser?.close()
    await world?.server.stop()
  })

  /** The hostile value shows as text, never as elements, and nothing ran. */
  async function assertInert(page: Page, where: string): Promise<void> {
    await page.waitForTimeout(300)
    assert.equal(await page.locator('#xss-img, #xss-svg, img[src="x"]').count(), 0, `markup injected on ${where}`)
    assert.equal(await page.evaluate(() => (globalThis as unknown as { __xss?: number }).__xss), undefined, where)
  }

  it('attack: org names, role descriptions, token names and audit details with markup render as text on every page', async () => {
    const { page, csp, close } = await openSignedIn(browser, world, world.customer.ownerEmail)
    await page.getByText('{{7*7}}', { exact: false }).first().waitFor()
    await assertInert(page, 'the org picker')
    const { orgId } = world.customer
    for (const path of ['roles', 'tokens', 'audit', 'members', 'secrets', 'notifications', 'security']) {
      await page.goto(`${world.origin}/console/orgs/${orgId}/${path}`)
      await page.getByRole('heading', { level: 1 }).first().waitFor()
      await page.waitForLoadState('networkidle')
      await assertInert(page, path)
    }
    await page.goto(`${world.origin}/console/orgs/${orgId}/roles`)
    await page.getByText(`${HOSTILE} changed`).first().waitFor()
    await assertInert(page, 'roles, the description shown')
    assert.deepEqual(csp, [], 'no CSP refusals (nothing inline was attempted)')
    await close()
  })

  it('attack: the console is never framed, index.html is no-store, assets immutable, no traversal out of assets', async () => {
    const context = await newConsoleContext(browser)
    const index = await context.request.get(`${world.origin}/console/`)
    assert.equal(index.status(), 200)
    const headers = index.headers()
    assert.match(headers['content-security-policy'] ?? '', /frame-ancestors 'none'/)
    assert.match(headers['content-security-policy'] ?? '', /script-src 'self'(;|$)/)
    assert.equal(headers['cache-control'], 'no-store')
    assert.equal(headers['x-content-type-options'], 'nosniff')
    const asset = /\/console\/assets\/[^"]+\.js/.exec(await index.text())?.[0]
    assert.ok(asset !== undefined)
    const js = await context.request.get(`${world.origin}${asset}`)
    assert.equal(js.status(), 200)
    assert.match(js.headers()['cache-control'] ?? '', /immutable/)
    for (const path of [
      '/console/assets/..%2f..%2fpackage.json',
      '/console/assets/%2e%2e/%2e%2e/package.json',
      '/console/..%2f..%2fpackage.json',
      '/console/assets/..%2F..%2F..%2Fsrc%2Fconfig.ts',
    ]) {
      const response = await context.request.get(`${world.origin}${path}`)
      assert.ok(!(await response.text()).includes('"name": "custodian"'), `${path} served the repository`)
    }
    // A framing page: the console refuses to load inside it.
    const page = await context.newPage()
    const csp = watchCsp(page)
    await page.setContent(`<iframe id="f" src="${world.origin}/console/sign-in" width="600" height="400"></iframe>`)
    await page.waitForTimeout(1500)
    const framed = page.frames().find((f) => f.url().includes('/console/'))
    const inside = framed === undefined ? 0 : await framed.getByText('Sign in to Custodian').count()
    assert.equal(inside, 0, 'the console rendered inside a frame')
    assert.ok(
      csp.some((m) => /frame-ancestors/.test(m)),
      `the refusal names frame-ancestors: ${csp.join(' | ')}`,
    )
    await context.close()
  })

  it('a missing asset answers 404 with no-store, never a year-long immutable cache-control', async () => {
    const context = await newConsoleContext(browser)
    const missing = await context.request.get(`${world.origin}/console/assets/index-doesnotexist.js`)
    assert.equal(missing.status(), 404)
    assert.doesNotMatch(missing.headers()['cache-control'] ?? '', /immutable|max-age=31536000/)
    await context.close()
  })

  it('attack: ?org= and odd paths never send the browser off this origin, and ?org= only prefills an org id', async () => {
    const context = await newConsoleContext(browser)
    const page = await context.newPage()
    const csp = watchCsp(page)
    const gone: string[] = []
    page.on('framenavigated', (frame) => {
      if (!frame.url().startsWith(world.origin) && frame.url() !== 'about:blank') gone.push(frame.url())
    })
    for (const query of [
      'org=https%3A%2F%2Fevil.example%2F',
      'org=%2F%2Fevil.example',
      'org=javascript%3Aalert(1)',
      'next=https%3A%2F%2Fevil.example&redirect=%2F%2Fevil.example&returnTo=https%3A%2F%2Fevil.example',
    ]) {
      await page.goto(`${world.origin}/console/sign-in?${query}`)
      await page.getByRole('heading', { name: 'Sign in to Custodian' }).waitFor()
      assert.equal(await page.getByLabel('Org ID', { exact: true }).count(), 0, `${query}: a non-id was prefilled`)
    }
    for (const path of ['/console//evil.example/', '/console/%2F%2Fevil.example', '/console/\\evil.example']) {
      await page.goto(`${world.origin}${path}`)
      await page.waitForTimeout(500)
      assert.ok(page.url().startsWith(world.origin), `${path} went to ${page.url()}`)
    }
    // Signed in from a link with hostile parameters: the console lands on its own org picker.
    await page.goto(`${world.origin}/console/sign-in?next=https%3A%2F%2Fevil.example`)
    await page.getByLabel('Email').fill(world.customer.ownerEmail)
    await page.getByLabel(/^Password/).fill(PASSWORD)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL(`${world.origin}/console/orgs`)
    assert.deepEqual(gone, [])
    assert.deepEqual(csp, [])
    await context.close()
  })

  it('attack: the browser keeps only the CSRF token, shared by its tabs, and forgets it (and the session) at sign-out', async () => {
    const context = await newConsoleContext(browser)
    const page = await context.newPage()
    const urls: string[] = []
    page.on('request', (r) => urls.push(r.url()))
    await signIn(page, world, world.customer.ownerEmail)
    const stored = await page.evaluate(() => ({
      local: Object.keys(localStorage),
      session: Object.keys(sessionStorage),
      cookie: (globalThis as unknown as { document: { cookie: string } }).document.cookie,
    }))
    // In localStorage, like the cookie it goes with, shared by the origin's tabs: a second tab
    // of the same session can make changes too (in sessionStorage it could not).
    assert.deepEqual(stored.local, ['custodian.csrf'])
    assert.deepEqual(stored.session, [])
    assert.equal(stored.cookie, '', 'the session cookie is HttpOnly')
    const cookies = await context.cookies()
    const session = cookies.find((c) => c.name === '__Host-custodian_session')
    assert.ok(session !== undefined)
    assert.equal(session.httpOnly, true)
    assert.equal(session.secure, true)
    assert.equal(session.sameSite, 'Strict')
    assert.equal(session.path, '/')
    // A cross-site page cannot use the session: a form POST from elsewhere carries no cookie
    // (SameSite=Strict) and no CSRF header; the API answers 401 or 403, never acts.
    const forged = await context.request.fetch(`${world.origin}/v1/orgs/${world.customer.orgId}/roles`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: 'https://evil.example' },
      data: { name: 'forged', description: '', permissions: ['org:read'] },
    })
    assert.equal(forged.status(), 403, await forged.text())
    assert.equal((await forged.json()).code, 'CSRF_FAILED')
    // A second tab, opened on an address: it stores a secret (a state-changing request).
    const second = await context.newPage()
    await second.goto(`${world.origin}/console/orgs/${world.customer.orgId}/secrets`)
    const form = second.getByRole('region', { name: 'New secret' })
    await form.getByLabel(/^Name/).fill('second-tab')
    await form.getByLabel(/^Value/).fill('second-tab-value')
    await form.getByRole('button', { name: 'Store secret' }).click()
    await second.getByRole('status').filter({ hasText: 'second-tab is stored' }).waitFor()
    // A tab drawn for this session, left open while another person signs in in another tab
    // (attack finding): it loads again as the session now is, and never acts for the old one.
    await second.goto(`${world.origin}/console/orgs/${world.customer.orgId}/secrets`)
    await second.getByRole('heading', { level: 1, name: 'Secrets' }).waitFor()
    await second
      .getByRole('navigation', { name: 'Console' })
      .getByText(/ · owner$/)
      .waitFor()
    const third = await context.newPage()
    await third.goto(`${world.origin}/console/orgs`)
    await third.getByRole('heading', { name: 'Choose an org' }).waitFor()
    await third.getByRole('button', { name: 'Sign out' }).click()
    await third.waitForURL(/\/console\/sign-in/)
    await second.waitForURL(/\/console\/sign-in/)
    // The other tabs load again when the new session's token lands (a CI run navigated the
    // second tab while its reload was under way): wait for those reloads before using them.
    const reloads = [second, page].map((tab) => tab.waitForEvent('load'))
    await signIn(third, world, world.customer.viewerEmail)
    await Promise.all(reloads)
    await second.goto(`${world.origin}/console/orgs/${world.customer.orgId}/secrets`)
    await second
      .getByRole('navigation', { name: 'Console' })
      .getByText(/ · viewer$/)
      .waitFor()
    await third.close()
    await second.close()
    await signIn(page, world, world.customer.ownerEmail)
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.waitForURL(/\/console\/sign-in/)
    assert.deepEqual(await page.evaluate(() => [...Object.keys(localStorage), ...Object.keys(sessionStorage)]), [])
    const afterwards = await context.request.get(`${world.origin}/v1/me`, {
      headers: { cookie: `__Host-custodian_session=${session.value}` },
    })
    assert.equal(afterwards.status(), 401, 'the signed-out session is dead on the server too')
    assert.ok(!urls.some((u) => /csrf|token=|cst_/i.test(u)), `a credential in a URL: ${urls.join(' ')}`)
    await context.close()
  })

  it('P5.2 the audit page refuses another org’s genuine export, naming whose log it is', async () => {
    const provider = world.provider
    const api = (url: string) => httpsJson(port, 'GET', url, { token: provider.token })
    // Until the provider org's log is chained and a signed checkpoint covers its head.
    const deadline = Date.now() + 20_000
    for (;;) {
      const status = await api(`/v1/orgs/${provider.orgId}/audit/status`)
      assert.equal(status.status, 200, status.text)
      if (status.body.unchained === 0 && status.body.lastCheckpointSeq === status.body.headSeq) break
      if (Date.now() > deadline) throw new Error(`no checkpoint covers the head: ${status.text}`)
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    const context = await newConsoleContext(browser)
    const exported = await context.request.get(`${world.origin}/v1/orgs/${provider.orgId}/audit/export`, {
      headers: { authorization: `Bearer ${provider.token}` },
    })
    assert.equal(exported.status(), 200)
    const page = await context.newPage()
    await signIn(page, world, world.customer.ownerEmail)
    await page.goto(`${world.origin}/console/orgs/${world.customer.orgId}/audit`)
    await page.locator('#audit-verify-file').setInputFiles({
      name: 'audit-acme.jsonl',
      mimeType: 'application/x-ndjson',
      buffer: await exported.body(),
    })
    const result = page.locator('.audit-verified, [role="alert"]').filter({ hasText: 'audit-acme.jsonl' })
    await result.first().waitFor()
    const text = (await result.first().textContent()) ?? ''
    // Acme's page must not call the Provider org's log "Verified" without saying whose it is.
    assert.doesNotMatch(text, /verified up to checkpoint/, `another org's export shown as Acme's: ${text}`)
    assert.ok(text.includes(provider.orgId), `the refusal names whose log it is: ${text}`)
    await context.close()
  })
})
