import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Browser, Page } from 'playwright-core'
import { ensureBuilt } from '../../scripts/console.ts'
import { PASSWORD } from '../helpers/app.ts'
import {
  assertAccessible,
  launchChromium,
  openPage,
  refusalAlert,
  signIn,
  startConsoleWorld,
  type ConsoleWorld,
} from '../helpers/console.ts'
import { httpsJson } from '../helpers/process.ts'
import { unusedTotpCode } from '../helpers/totp.ts'

// The web console (issue 12) in Debian's Chromium against a real server on PGlite.
describe('web console', () => {
  let world: ConsoleWorld
  let browser: Browser

  before(async () => {
    await ensureBuilt() // scripts/test.ts has built it once already: this only checks
    world = await startConsoleWorld()
    browser = await launchChromium()
  })
  after(async () => {
    await browser?.close()
    await world?.server.stop()
  })

  it('serves the console with its own CSP, index.html no-store, hashed assets immutable; the API keeps its CSP', async () => {
    const port = world.server.httpsPort
    const bare = await httpsJson(port, 'GET', '/console')
    assert.equal(bare.status, 301)
    assert.equal(bare.headers.location, '/console/')

    const index = await httpsJson(port, 'GET', '/console/')
    assert.equal(index.status, 200)
    assert.match(String(index.headers['content-type']), /^text\/html/)
    assert.equal(index.headers['cache-control'], 'no-store')
    const csp = String(index.headers['content-security-policy'])
    for (const directive of [
      "default-src 'self'",
      "script-src 'self'",
      "style-src 'self'",
      "connect-src 'self'",
      "frame-ancestors 'none'",
      "base-uri 'none'",
    ])
      assert.ok(csp.split('; ').includes(directive), `${directive} in ${csp}`)
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/)
    assert.doesNotMatch(index.text, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script in index.html')

    // A client route answers the same page, not a 404.
    const deep = await httpsJson(port, 'GET', `/console/orgs/${world.customer.orgId}/secrets`)
    assert.equal(deep.status, 200)
    assert.equal(deep.headers['cache-control'], 'no-store')
    assert.equal(deep.text, index.text)

    const scripts = [...index.text.matchAll(/src="(\/console\/assets\/[^"]+\.js)"/g)].map((m) => m[1] as string)
    assert.ok(scripts.length > 0, 'index.html loads a hashed script')
    for (const asset of scripts) {
      const response = await httpsJson(port, 'GET', asset)
      assert.equal(response.status, 200)
      assert.equal(response.headers['cache-control'], 'public, max-age=31536000, immutable')
      assert.match(String(response.headers['content-type']), /javascript/)
    }
    // Nothing outside the build is served, however the path is spelled.
    for (const escape of [
      '/console/assets/..%2f..%2f..%2fpackage.json',
      '/console/assets/%2e%2e/%2e%2e/%2e%2e/package.json',
      '/console/..%2f..%2fpackage.json',
    ]) {
      const response = await httpsJson(port, 'GET', escape)
      assert.doesNotMatch(response.text, /"name": "custodian"/, escape)
      assert.ok(response.status === 200 ? response.text === index.text : response.status >= 400, escape)
    }
    const missing = await httpsJson(port, 'GET', '/console/assets/nothing-here.js')
    assert.equal(missing.status, 404)
    assert.match(String(missing.headers['content-type']), /problem\+json/)
    assert.equal(missing.headers['cache-control'], 'no-store', 'a miss is never cached for a year')

    const apiAnswer = await httpsJson(port, 'GET', '/v1/me')
    assert.equal(
      apiAnswer.headers['content-security-policy'],
      "default-src 'none';frame-ancestors 'none';base-uri 'none';form-action 'none'",
    )
    const openapi = await httpsJson(port, 'GET', '/openapi.json')
    assert.ok(
      Object.keys(openapi.body.paths).every((p) => !p.startsWith('/console')),
      'the console is not an API route',
    )
  })

  it('signs in with password and TOTP, picks the org, creates a secret and sees it listed', async () => {
    const { page, csp, close } = await openPage(browser)
    try {
      await page.goto(`${world.origin}/console/`)
      await page.getByRole('heading', { name: 'Sign in to Custodian' }).waitFor()
      assert.match(page.url(), /\/console\/sign-in$/)
      await assertAccessible(page, 'the sign-in page')

      await page.getByLabel('Email').fill(world.provider.email)
      await page.getByLabel(/^Password/).fill(PASSWORD)
      await page.getByRole('button', { name: 'Sign in' }).click()
      const code = page.getByLabel('Authentication code')
      await code.waitFor()
      await assertAccessible(page, 'the second-factor step')
      // The next step's code: the one enrolment used is spent (replay protection).
      await code.fill(await unusedTotpCode(world.provider.totpSecret))
      await page.getByRole('button', { name: 'Sign in' }).click()

      await page.getByRole('heading', { name: 'Choose an org' }).waitFor()
      await page.getByRole('link', { name: 'Provider' }).waitFor()
      await assertAccessible(page, 'the org picker')
      await page.getByRole('link', { name: 'Provider' }).click()

      await page.getByRole('heading', { name: 'Secrets' }).waitFor()
      await page.getByText('No secrets yet.').waitFor()
      await assertAccessible(page, 'the secrets page')

      const value = 'sk_live_console_test_value_0123456789'
      await page.getByLabel(/^Name/).fill('payments/stripe-key')
      await page.getByRole('region', { name: 'New secret' }).getByLabel('Type').selectOption('api_key')
      await page.getByLabel(/^Value/).fill(value)
      await page.getByRole('button', { name: 'Store secret' }).click()
      await page.getByRole('status').filter({ hasText: 'payments/stripe-key is stored' }).waitFor()
      const row = page.getByRole('row').filter({ hasText: 'payments/stripe-key' })
      await row.waitFor()
      assert.match(await row.innerText(), /api_key/)
      assert.equal(await page.getByLabel(/^Value/).inputValue(), '', 'the value is cleared once stored')

      // A name the API refuses: its detail and the field it names are shown.
      await page.getByLabel(/^Name/).fill('-bad name')
      await page.getByLabel(/^Value/).fill('x')
      await page.getByRole('button', { name: 'Store secret' }).click()
      await refusalAlert(page, 'VALIDATION_FAILED').waitFor()
      assert.equal(await page.getByLabel(/^Name/).getAttribute('aria-invalid'), 'true')

      // The value is in no URL and no browser storage.
      const stored = await page.evaluate(() =>
        JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)]),
      )
      assert.ok(!stored.includes(value) && !page.url().includes(value))

      await page.getByRole('button', { name: 'Sign out' }).click()
      await page.getByRole('heading', { name: 'Sign in to Custodian' }).waitFor()
      await page.goto(`${world.origin}/console/orgs`)
      await page.getByRole('heading', { name: 'Sign in to Custodian' }).waitFor()
      assert.deepEqual(csp, [], 'no Content-Security-Policy refusal')
    } finally {
      await close()
    }
  })

  it('signs in with a recovery code in place of the authenticator’s code', async () => {
    const { page, close } = await openPage(browser)
    try {
      await signIn(page, world, world.provider.email, { code: world.provider.recoveryCodes[0] as string })
    } finally {
      await close()
    }
  })

  /** The page's session cookie, as a Cookie header for calls beside the browser. */
  async function sessionCookie(page: Page): Promise<string> {
    const cookies = await page.context().cookies(world.origin)
    const session = cookies.find((c) => c.name === '__Host-custodian_session')
    assert.ok(session !== undefined, 'a session cookie')
    return `${session.name}=${session.value}`
  }

  it('asks for the org when the account belongs to several, naming the field the API names', async () => {
    // An account that owns "Beta" and is a member of Acme.
    const port = world.server.httpsPort
    const email = 'both@beta.test'
    const beta = await httpsJson(port, 'POST', '/v1/orgs', {
      token: world.provider.token,
      body: { name: 'Beta', ownerEmail: email },
    })
    assert.equal(beta.status, 201, beta.text)
    const owner = await httpsJson(port, 'POST', '/v1/invitations/accept', {
      body: { token: beta.body.invitation.token, password: PASSWORD },
    })
    assert.equal(owner.status, 201, owner.text)
    const invitation = await httpsJson(port, 'POST', `/v1/orgs/${world.customer.orgId}/invitations`, {
      token: world.customer.ownerToken,
      body: { email, role: 'viewer' },
    })
    assert.equal(invitation.status, 201, invitation.text)
    const joined = await httpsJson(port, 'POST', '/v1/invitations/accept', {
      body: { token: invitation.body.token, password: PASSWORD },
    })
    assert.equal(joined.status, 201, joined.text)

    const { page, close } = await openPage(browser)
    try {
      await page.goto(`${world.origin}/console/sign-in`)
      await page.getByLabel('Email').fill(email)
      await page.getByLabel(/^Password/).fill(PASSWORD)
      await page.getByRole('button', { name: 'Sign in' }).click()
      const orgField = page.getByLabel(/^Org ID/)
      await orgField.waitFor()
      await page.getByRole('alert').filter({ hasText: 'several orgs' }).waitFor()
      assert.equal(await orgField.getAttribute('aria-invalid'), 'true', 'the field the problem names is marked')
      await page.getByText('required for this account').waitFor()
      await assertAccessible(page, 'the sign-in page asking for the org')
      await orgField.fill(beta.body.org.id)
      await page.getByRole('button', { name: 'Sign in' }).click()
      await page.getByRole('link', { name: 'Beta' }).waitFor()

      // Issue 12, the org picker: both orgs of the account (GET /v1/me/orgs), the current
      // one opens, the other is a new sign-in to it (this session ends first).
      const orgs = page.getByRole('list', { name: 'Your orgs' })
      assert.deepEqual(
        (await orgs.getByRole('listitem').allInnerTexts()).map((t) => t.split('\n')[0]),
        ['Beta', 'Acme'],
        'oldest membership first',
      )
      await orgs.getByText('signed in').waitFor()
      await assertAccessible(page, 'the org picker with two orgs')
      const before = await httpsJson(port, 'GET', '/v1/me/sessions', { cookie: await sessionCookie(page) })
      assert.equal(before.status, 200, before.text)
      await page.getByRole('button', { name: 'Sign in to Acme' }).focus()
      await page.keyboard.press('Enter')
      const dialog = page.getByRole('dialog', { name: 'Sign in to Acme?' })
      await dialog.waitFor()
      await assertAccessible(page, 'the switch dialog')
      const oldCookie = await sessionCookie(page)
      await dialog.getByRole('button', { name: 'Sign out and continue' }).click()
      await page.getByRole('heading', { name: 'Sign in to Custodian' }).waitFor()
      assert.equal(await page.getByLabel(/^Org ID/).inputValue(), world.customer.orgId, 'the org is named')
      await page.waitForFunction(() => localStorage.getItem('custodian.csrf') === null)
      const ended = await httpsJson(port, 'GET', '/v1/me', { cookie: oldCookie })
      assert.equal(ended.status, 401, 'the session of Beta has ended')
      await page.getByLabel('Email').fill(email)
      await page.getByLabel(/^Password/).fill(PASSWORD)
      await page.getByRole('button', { name: 'Sign in' }).click()
      await page.getByRole('link', { name: 'Acme' }).click()
      await page.getByRole('heading', { level: 1, name: 'Secrets' }).waitFor()
      const now = await httpsJson(port, 'GET', '/v1/me', { cookie: await sessionCookie(page) })
      assert.equal(now.body.orgId, world.customer.orgId)
      assert.equal(now.body.role, 'viewer')
    } finally {
      await close()
    }
  })

  it('shows the API’s refusal to a member without the permission', async () => {
    const { page, csp, close } = await openPage(browser)
    try {
      await signIn(page, world, world.customer.viewerEmail)
      await page.getByRole('link', { name: 'Acme' }).click()
      const refusal = page.getByRole('alert').filter({ hasText: 'secrets:read' })
      await refusal.waitFor()
      assert.match(await refusal.innerText(), /You cannot list this org’s secrets/)
      assert.equal(await page.getByRole('button', { name: 'Store secret' }).count(), 0)
      await assertAccessible(page, 'the secrets page, refused')
      assert.deepEqual(csp, [])
    } finally {
      await close()
    }
  })

  it('shows a wrong password’s refusal, then signs in with the keyboard alone', async () => {
    const { page, close } = await openPage(browser)
    try {
      await page.goto(`${world.origin}/console/sign-in`)
      await page.getByRole('heading', { name: 'Sign in to Custodian' }).waitFor()
      // Tab from the top of the page to the email field, type, Tab on, type, Enter.
      await page.keyboard.press('Tab')
      assert.ok(
        await page.getByLabel('Email').evaluate((el) => el.matches(':focus')),
        'Tab reaches the email field first',
      )
      await page.keyboard.type(world.customer.ownerEmail)
      await page.keyboard.press('Tab')
      await page.keyboard.type('not the password')
      await page.keyboard.press('Enter')
      await refusalAlert(page, 'LOGIN_FAILED').waitFor()

      await page.getByLabel(/^Password/).focus()
      await page.keyboard.press('ControlOrMeta+A')
      await page.keyboard.type(PASSWORD)
      await page.keyboard.press('Enter')
      const org = page.getByRole('link', { name: 'Acme' })
      await org.waitFor()
      // To the org with Tab, open it with Enter.
      for (let i = 0; i < 10 && !(await org.evaluate((el) => el.matches(':focus'))); i++)
        await page.keyboard.press('Tab')
      await page.keyboard.press('Enter')
      await page.getByRole('heading', { name: 'Secrets' }).waitFor()
      // On a signed-in page the first Tab offers to skip the header and the navigation (WCAG 2.4.1).
      await page.reload()
      await page.getByRole('heading', { name: 'Secrets' }).waitFor()
      await page.keyboard.press('Tab')
      await page.getByRole('link', { name: 'Skip to the page' }).and(page.locator(':focus')).waitFor()
      await page.keyboard.press('Enter')
      await page.locator('main#main:focus').waitFor()
      await page.keyboard.press('Tab')
      assert.equal((await page.locator('main :focus').count()) === 1, true, 'the next Tab is inside the page')
    } finally {
      await close()
    }
  })
})
