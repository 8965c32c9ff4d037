import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core'
import { ensureBuilt } from '../../scripts/console.ts'
import {
  freePort,
  launchChromium,
  newConsoleContext,
  refusalAlert,
  seriousViolations,
  startConsoleWorld,
  watchCsp,
  type ConsoleWorld,
} from '../helpers/console.ts'
import { startOidcProvider, type OidcProvider } from '../helpers/oidc-provider.ts'
import { httpsJson } from '../helpers/process.ts'
import { totpCode } from '../helpers/totp.ts'

// Single sign-on from the console (issue 12), in Debian's Chromium against a real server
// and a real OpenID provider process (test/helpers/oidc-provider-process.ts: it signs in
// the account named by the login hint, which the console sends from the Email field).
// The server is https://127.0.0.1:{port}, the provider https://localhost:{port}: the
// provider's redirect back is a cross-site navigation, as with Google or Microsoft.
describe('web console: single sign-on', () => {
  let world: ConsoleWorld
  let op: OidcProvider
  let browser: Browser
  let origin: string
  let secretId: string

  before(async () => {
    await ensureBuilt()
    const port = await freePort()
    origin = `https://127.0.0.1:${port}`
    op = await startOidcProvider({
      redirectUri: `${origin}/v1/sso/callback`,
      dir: mkdtempSync(path.join(tmpdir(), 'custodian-console-sso-')),
    })
    world = await startConsoleWorld({
      CUSTODIAN_HTTPS_PORT: String(port),
      CUSTODIAN_PUBLIC_URL: origin,
      CUSTODIAN_EXTRA_CA_FILE: op.caFile,
      CUSTODIAN_OUTBOUND_ALLOW: '127.0.0.1/32,::1/128',
    })
    browser = await launchChromium()
    // Acme signs in through the provider; newcomers join just in time as members.
    const sso = await api('PUT', `/v1/orgs/${world.customer.orgId}/sso`, {
      preset: 'oidc',
      issuer: op.issuer,
      clientId: 'good',
      clientSecret: 'good-secret-value',
      allowedDomains: ['acme.test'],
      defaultRole: 'member',
    })
    assert.equal(sso.status, 200, sso.text)
    const secret = await api('POST', `/v1/orgs/${world.customer.orgId}/secrets`, {
      name: 'team/wiki-password',
      type: 'generic',
      value: 'wiki-password-value',
    })
    assert.equal(secret.status, 201, secret.text)
    secretId = secret.body.id
  })
  after(async () => {
    await browser?.close()
    await world?.server.stop()
    await op?.stop()
  })

  /** The owner's API call (its token). */
  function api(method: string, url: string, body?: unknown) {
    return httpsJson(world.server.httpsPort, method, url, {
      token: world.customer.ownerToken,
      ...(body === undefined ? {} : { body }),
    })
  }

  interface Browsing {
    page: Page
    context: BrowserContext
    csp: string[]
    /** Every address the page asked for (redirects included) or went to. */
    urls: string[]
  }

  async function browse(): Promise<Browsing> {
    const context = await newConsoleContext(browser)
    const page = await context.newPage()
    const urls: string[] = []
    page.on('request', (request) => urls.push(request.url()))
    page.on('framenavigated', (frame) => urls.push(frame.url()))
    return { page, context, csp: watchCsp(page), urls }
  }

  /** The sign-in page's SSO form, filled and sent with the mouse: the email is the provider's login hint. */
  async function ssoSignIn(page: Page, email: string, orgId: string): Promise<void> {
    await page.goto(`${origin}/console/sign-in`)
    await page.getByLabel('Email').fill(email)
    await page.getByLabel('SSO org ID').fill(orgId)
    await page.getByRole('button', { name: 'Continue with single sign-on' }).click()
  }

  async function assertAccessible(page: Page, where: string): Promise<void> {
    assert.deepEqual(await seriousViolations(page), [], `axe-core: serious or critical violations on ${where}`)
  }

  // Runs in the page (this project's types have no DOM, hence the cast).
  const isFocused = (locator: Locator) =>
    locator.evaluate(
      (el) => el === (globalThis as unknown as { document: { activeElement: unknown } }).document.activeElement,
    )

  const cookieNames = async (context: BrowserContext) => (await context.cookies(origin)).map((c) => c.name).sort()

  it('issue 12: the SSO button signs in at the org’s provider and lands in the console signed in; the CSRF token handed over works, its cookie gone', async () => {
    const { page, context, csp, urls } = await browse()
    try {
      await ssoSignIn(page, 'dora@acme.test', world.customer.orgId)
      await page.getByRole('heading', { name: 'Choose an org' }).waitFor()
      assert.equal(page.url(), `${origin}/console/orgs`)
      // Through the provider and back, by way of /console/sso-complete.
      assert.ok(
        urls.some((url) => url.startsWith(`${op.issuer}/`)),
        'went to the provider',
      )
      assert.ok(urls.includes(`${origin}/console/sso-complete`), urls.join('\n'))

      // The token was taken over and its cookie deleted at once; it never was in a URL.
      assert.deepEqual(await cookieNames(context), ['__Host-custodian_session'])
      const token = await page.evaluate(() => localStorage.getItem('custodian.csrf'))
      assert.ok(token !== null && token.length >= 20, 'the CSRF token is kept as after a password sign-in')
      assert.deepEqual(
        urls.filter((url) => url.includes(token)),
        [],
      )
      const me = (await page.evaluate(async () => (await fetch('/v1/me')).json())) as { id: string; role: string }
      assert.equal(me.role, 'member', 'joined just in time with the default role')
      await assertAccessible(page, 'the org picker after SSO')

      // A state-changing call (it needs X-CSRF-Token): report a secret exposed.
      await page.getByRole('link', { name: 'Acme' }).click()
      await page.getByRole('link', { name: 'team/wiki-password' }).click()
      await page.getByRole('heading', { level: 1, name: 'team/wiki-password' }).waitFor()
      await page.getByRole('button', { name: 'Report exposed' }).click()
      const dialog = page.getByRole('dialog', { name: 'Report team/wiki-password exposed?' })
      await dialog.getByLabel(/^Reason/).fill('shown on a shared screen')
      await dialog.getByRole('button', { name: 'Report exposed' }).click()
      await page.getByRole('status').filter({ hasText: 'Reported exposed' }).waitFor()

      const secret = await api('GET', `/v1/orgs/${world.customer.orgId}/secrets/${secretId}`)
      assert.equal(secret.body.exposed, true, secret.text)
      const events = await api('GET', `/v1/orgs/${world.customer.orgId}/audit/events?action=secret.exposed`)
      assert.deepEqual(
        events.body.events.map((e: { actor: { id: string } }) => e.actor.id),
        [me.id],
        'reported by the person signed in through SSO',
      )
      const logins = await api('GET', `/v1/orgs/${world.customer.orgId}/audit/events?action=auth.login&actor=${me.id}`)
      assert.equal(logins.body.events[0]?.details.method, 'sso', logins.text)
      assert.deepEqual(csp, [])
    } finally {
      await context.close()
    }
  })

  it('issue 12: a failed SSO comes back to the sign-in page, which says why in a sentence', async () => {
    const { page, context, csp } = await browse()
    try {
      // The provider vouches for an address outside the org's allowed domains.
      await ssoSignIn(page, 'mallory@evil.test', world.customer.orgId)
      await page.waitForURL(`${origin}/console/sign-in?sso=failed&code=SSO_EMAIL_NOT_ALLOWED`)
      const alert = refusalAlert(page, 'SSO_EMAIL_NOT_ALLOWED').filter({ hasText: 'Single sign-on failed' })
      await alert.waitFor()
      assert.equal(
        await alert.innerText(),
        'Single sign-on failed\nYour email address at the identity provider is not verified, or is not in a domain this org allows.',
      )
      await assertAccessible(page, 'the sign-in page after a failed SSO')
      assert.deepEqual(await cookieNames(context), [], 'no session, no hand-over cookie')
      const denied = await api('GET', `/v1/orgs/${world.customer.orgId}/audit/events?action=auth.login&outcome=denied`)
      assert.ok(
        denied.body.events.some(
          (e: { details: { reason?: string } }) => e.details.reason === 'email domain not allowed',
        ),
        denied.text,
      )

      // An org without SSO (the provider org): refused at the start, back the same way.
      await ssoSignIn(page, 'dora@acme.test', world.provider.orgId)
      await page.waitForURL(`${origin}/console/sign-in?sso=failed&code=NOT_FOUND`)
      await page.getByRole('alert').filter({ hasText: 'This org has no single sign-on enabled.' }).waitFor()

      // The org picker's "Sign in to …" names the org: the SSO form has it too.
      await page.goto(`${origin}/console/sign-in?org=${world.customer.orgId}`)
      assert.equal(await page.getByLabel('SSO org ID').inputValue(), world.customer.orgId)

      // A code the console does not know is not echoed unless it looks like one.
      await page.goto(`${origin}/console/sign-in?sso=failed&code=${encodeURIComponent('<b>Call 555</b>')}`)
      const generic = page.getByRole('alert').filter({ hasText: 'Single sign-on failed' })
      assert.equal(
        await generic.innerText(),
        'Single sign-on failed\nSingle sign-on did not complete. Try again, or ask your org’s admins.',
      )
      assert.deepEqual(csp, [])
    } finally {
      await context.close()
    }
  })

  it('issue 12: /sso-complete without a hand-over says so and offers the sign-in page (keyboard)', async () => {
    const { page, context, csp } = await browse()
    try {
      await page.goto(`${origin}/console/sso-complete`)
      await page.getByRole('alert').filter({ hasText: 'Sign-in not completed here' }).waitFor()
      await assertAccessible(page, 'sso-complete without a hand-over')
      const link = page.getByRole('link', { name: 'Go to the sign-in page' })
      for (let i = 0; i < 5 && !(await isFocused(link)); i++) await page.keyboard.press('Tab')
      assert.ok(await isFocused(link), 'Tab reaches the link')
      await page.keyboard.press('Enter')
      await page.getByRole('heading', { name: 'Sign in to Custodian' }).waitFor()
      assert.equal(page.url(), `${origin}/console/sign-in`)
      assert.deepEqual(csp, [])
    } finally {
      await context.close()
    }
  })

  it('issue 12: the keyboard alone signs in with SSO', async () => {
    const { page, context, csp } = await browse()
    try {
      await page.goto(`${origin}/console/sign-in`)
      const focused = (label: string) => isFocused(page.getByLabel(label))
      for (let i = 0; i < 3 && !(await focused('Email')); i++) await page.keyboard.press('Tab')
      assert.ok(await focused('Email'), 'Tab reaches the email field')
      await page.keyboard.type('dora@acme.test')
      for (let i = 0; i < 10 && !(await focused('SSO org ID')); i++) await page.keyboard.press('Tab')
      assert.ok(await focused('SSO org ID'), 'Tab reaches the SSO org ID')
      await page.keyboard.type(world.customer.orgId)
      await page.keyboard.press('Enter')
      await page.getByRole('heading', { name: 'Choose an org' }).waitFor()
      assert.deepEqual(await cookieNames(context), ['__Host-custodian_session'])
      assert.deepEqual(csp, [])
    } finally {
      await context.close()
    }
  })

  // Last: with 2FA required, the owner's own (unenrolled) token is refused too.
  it('issue 12: in an org that requires 2FA, a person without a second factor is taken to enrolment, told why', async () => {
    const policy = await api('PUT', `/v1/orgs/${world.customer.orgId}/security-policy`, {
      require2fa: true,
      stepUpMinutes: 15,
    })
    assert.equal(policy.status, 200, policy.text)
    const { page, context, csp, urls } = await browse()
    try {
      await ssoSignIn(page, 'erin@acme.test', world.customer.orgId)
      // The org picker's calls are allowed before enrolment; the org's own pages are not.
      await page.getByRole('heading', { name: 'Choose an org' }).waitFor()
      // The header's org name is refused before enrolment and named from the account's list;
      // that refusal is the header's own: the picker stays (the person may choose another org).
      await page
        .getByRole('navigation', { name: 'Console' })
        .getByText(/^Acme · /)
        .waitFor()
      assert.equal(page.url(), `${origin}/console/orgs`, 'still on the org picker')
      await page.getByRole('link', { name: 'Acme' }).click()
      const notice = page.getByRole('alert').filter({ hasText: 'Your org requires two-factor authentication' })
      await notice.waitFor()
      await page.waitForURL(`${origin}/console/orgs/${world.customer.orgId}/account?enrol=required`)
      assert.ok(urls.includes(`${origin}/console/orgs/${world.customer.orgId}/secrets`), 'by way of the secrets page')
      assert.equal(await page.locator('[data-code="MFA_ENROLMENT_REQUIRED"]').count(), 0, 'no refusal shown')
      // The header names the org (its record is refused until enrolment; the account's list is not).
      await page
        .getByRole('navigation', { name: 'Console' })
        .getByText(/^Acme · /)
        .waitFor()
      await assertAccessible(page, 'the enrolment notice')

      // Any org page sends the person back here, instead of showing the refusal.
      await page.getByRole('navigation', { name: 'Org pages' }).getByRole('link', { name: 'Secrets' }).click()
      await page.waitForURL(`${origin}/console/orgs/${world.customer.orgId}/account?enrol=required`)
      await notice.waitFor()
      assert.equal(await page.locator('[data-code="MFA_ENROLMENT_REQUIRED"]').count(), 0, 'no refusal shown')

      // Enrolment (a state-changing call as well), then the notice says it is done.
      await page.getByRole('button', { name: 'Set up an authenticator app' }).click()
      const key = (await page.getByLabel('Authenticator key', { exact: true }).innerText()).trim()
      await page.getByLabel('Code from the app').fill(totpCode(key))
      await page.getByRole('button', { name: 'Turn on' }).click()
      await page.getByRole('heading', { name: 'Your recovery codes' }).waitFor()
      await page.getByRole('button', { name: 'I have saved them' }).click()
      await page.getByRole('status').filter({ hasText: 'Two-factor authentication is set up' }).waitFor()
      assert.equal(await notice.count(), 0)
      const status = (await page.evaluate(async () => (await fetch('/v1/me/2fa')).json())) as { enabled: boolean }
      assert.equal(status.enabled, true)
      await assertAccessible(page, 'the enrolment notice, done')
      assert.deepEqual(csp, [])
    } finally {
      await context.close()
    }
  })
})
