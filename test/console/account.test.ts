import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core'
import { ensureBuilt } from '../../scripts/console.ts'
import { PASSWORD } from '../helpers/app.ts'
import {
  CHROMIUM,
  freePort,
  refusalAlert,
  seriousViolations,
  startConsoleWorld,
  watchCsp,
  type ConsoleWorld,
} from '../helpers/console.ts'
import { httpsJson } from '../helpers/process.ts'
import { totpCode } from '../helpers/totp.ts'

/** The little of a <canvas> the test reads (this project's types have no DOM). */
interface CanvasLike {
  width: number
  height: number
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } }
}

/** Waits (up to 10 s) until the locator matches exactly `count` elements. */
async function untilCount(locator: Locator, count: number): Promise<void> {
  const until = Date.now() + 10_000
  while ((await locator.count()) !== count) {
    if (Date.now() > until) assert.fail(`expected ${count} matches, saw ${await locator.count()}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

// The console's account features (issue 12) in Debian's Chromium against a real server on
// PGlite. WebAuthn needs a host name for its RP ID (an IP address is not one): the server
// runs with CUSTODIAN_PUBLIC_URL=https://localhost:{port}, and Chromium maps localhost to
// 127.0.0.1, so the origin it reports is the one the API expects.
describe('web console: account', () => {
  let world: ConsoleWorld
  let browser: Browser
  let origin: string
  let page: Page
  let context: BrowserContext
  let csp: string[]
  let totpSecret = ''
  let passkeySignInAt = 0

  before(async () => {
    await ensureBuilt()
    const port = await freePort()
    world = await startConsoleWorld({
      CUSTODIAN_HTTPS_PORT: String(port),
      CUSTODIAN_PUBLIC_URL: `https://localhost:${port}`,
    })
    origin = `https://localhost:${port}`
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--host-resolver-rules=MAP localhost 127.0.0.1',
      ],
    })
    context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1200, height: 900 } })
    page = await context.newPage()
    csp = watchCsp(page)
    // A platform authenticator that keeps discoverable credentials and verifies the user.
    const cdp = await context.newCDPSession(page)
    await cdp.send('WebAuthn.enable')
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
      },
    })
  })
  after(async () => {
    await browser?.close()
    await world?.server.stop()
  })

  async function assertAccessible(where: string): Promise<void> {
    assert.deepEqual(await seriousViolations(page), [], `axe-core: serious or critical violations on ${where}`)
  }

  async function signInWithPassword(target: Page, email: string): Promise<void> {
    await target.goto(`${origin}/console/sign-in`)
    await target.getByLabel('Email').fill(email)
    await target.getByLabel(/^Password/).fill(PASSWORD)
    await target.getByRole('button', { name: 'Sign in' }).click()
    await target.getByRole('heading', { name: 'Choose an org' }).waitFor()
  }

  it('sessions: lists your sessions in the org, signs out one, then all the others', async () => {
    await signInWithPassword(page, world.customer.ownerEmail)
    // Two more sessions of the same person, from other browser profiles.
    const iPhone =
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1'
    const others = await Promise.all(
      [iPhone, 'curl/8.5.0'].map(async (userAgent) => {
        const other = await browser.newContext({ ignoreHTTPSErrors: true, userAgent })
        const login = await other.request.post(`${origin}/v1/login`, {
          data: { email: world.customer.ownerEmail, password: PASSWORD },
        })
        assert.equal(login.status(), 200, await login.text())
        return other
      }),
    )
    await page.getByRole('link', { name: 'Account' }).click()
    await page.getByRole('heading', { name: 'Your account' }).waitFor()
    const table = page.getByRole('table', { name: 'Your sessions' })
    await table.waitFor()
    assert.equal(await table.getByRole('row').count(), 4, 'a header row and three sessions')
    await table.getByRole('row').filter({ hasText: 'This session' }).waitFor()
    // Each device as a person names it (the header itself when no browser is recognised).
    await table.getByRole('row').filter({ hasText: 'Safari 17 on iOS (phone)' }).waitFor()
    await table.getByRole('row').filter({ hasText: 'curl/8.5.0' }).waitFor()
    assert.match(
      await table.getByRole('row').filter({ hasText: 'This session' }).innerText(),
      /Chrome \d+ on Linux/,
      'this browser: Debian’s Chromium, by name',
    )
    await assertAccessible('the account page')

    await table
      .getByRole('button', { name: /^Sign out the session/ })
      .first()
      .click()
    await untilCount(table.getByRole('row'), 3)
    await page.getByRole('button', { name: 'Sign out all other sessions' }).click()
    await untilCount(table.getByRole('row'), 2)
    assert.ok(await page.getByRole('button', { name: 'Sign out all other sessions' }).isDisabled())
    for (const other of others) {
      const me = await other.request.get(`${origin}/v1/me`)
      assert.equal(me.status(), 401, 'a signed-out session no longer answers')
      await other.close()
    }
    assert.deepEqual(csp, [])
  })

  it('TOTP enrolment: QR code drawn in the browser, confirmed with a code, recovery codes shown once and replaced', async () => {
    await page.getByRole('button', { name: 'Set up an authenticator app' }).click()
    const qr = page.getByRole('img', { name: 'QR code of the authenticator key' })
    await qr.waitFor()
    // The canvas holds a drawing: dark modules and a light background.
    const shades = await qr.evaluate((element) => {
      const canvas = element as unknown as CanvasLike
      const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data
      const seen = new Set<number>()
      for (let i = 0; i < pixels.length; i += 4) seen.add(pixels[i] as number)
      return [...seen]
    })
    assert.ok(shades.includes(0) && shades.includes(255), `black and white modules, saw ${shades.join(',')}`)
    totpSecret = ((await page.getByLabel('Authenticator key', { exact: true }).textContent()) ?? '').trim()
    assert.match(totpSecret, /^[A-Z2-7]{16,}$/)
    await assertAccessible('TOTP enrolment')

    await page.getByLabel('Code from the app').fill('000000')
    await page.getByRole('button', { name: 'Turn on' }).click()
    await refusalAlert(page, 'MFA_CODE_INVALID').waitFor()

    await page.getByLabel('Code from the app').fill(totpCode(totpSecret))
    await page.getByRole('button', { name: 'Turn on' }).click()
    const codes = page.getByRole('list', { name: 'Recovery code list' }).getByRole('listitem')
    await codes.first().waitFor()
    assert.equal(await codes.count(), 10)
    const first = (await codes.allTextContents()).map((c) => c.trim())
    await assertAccessible('the recovery codes')
    await page.getByRole('button', { name: 'I have saved them' }).click()
    await page.getByText('Recovery codes left: 10').waitFor()
    assert.equal(await page.getByRole('list', { name: 'Recovery code list' }).count(), 0, 'shown once')

    // New recovery codes, proven with one of the old ones.
    await page.getByLabel('Current code, for new recovery codes').fill(first[0] as string)
    await page.getByRole('button', { name: 'Replace recovery codes' }).click()
    await codes.first().waitFor()
    const second = (await codes.allTextContents()).map((c) => c.trim())
    assert.equal(second.length, 10)
    assert.equal(second.filter((c) => first.includes(c)).length, 0, 'the new codes are new')
    await page.getByRole('button', { name: 'I have saved them' }).click()
    assert.deepEqual(csp, [])
  })

  it('step-up: adding a passkey needs a recent second factor; the prompt asks for it (keyboard only) and the action goes ahead', async () => {
    // This session signed in with a password only and TOTP was enrolled since: registering
    // a passkey (a step-up action) answers STEP_UP_REQUIRED, and the prompt appears.
    await page.getByLabel('Passkey name').fill('Laptop')
    await page.getByLabel('Passkey name').press('Enter')
    const dialog = page.getByRole('dialog', { name: 'Confirm it is you' })
    await dialog.waitFor()
    await assertAccessible('the step-up prompt')
    // The code field has the focus: the keyboard alone completes it.
    const focused = await page.evaluate("document.activeElement?.getAttribute('autocomplete')")
    assert.equal(focused, 'one-time-code')
    await page.keyboard.type('000000')
    await page.keyboard.press('Enter')
    await refusalAlert(dialog, 'MFA_CODE_INVALID').waitFor()
    await page.keyboard.press('Control+A')
    await page.keyboard.type(totpCode(totpSecret, 1))
    await page.keyboard.press('Enter')
    await dialog.waitFor({ state: 'hidden' })
    // The refused registration was sent again, and the authenticator made the passkey.
    const passkeys = page.getByRole('table', { name: 'Your passkeys' })
    await passkeys.getByRole('cell', { name: 'Laptop', exact: true }).waitFor()
    await assertAccessible('the passkey list')

    await page.getByRole('button', { name: 'Rename Laptop' }).click()
    await page.getByLabel('New name').fill('Work laptop')
    await page.getByRole('button', { name: 'Save' }).click()
    await passkeys.getByRole('cell', { name: 'Work laptop', exact: true }).waitFor()
    assert.deepEqual(csp, [])
  })

  it('passwordless sign-in with the passkey on the sign-in page', async () => {
    await page.getByRole('button', { name: 'Sign out', exact: true }).click()
    await page.getByRole('heading', { name: 'Sign in to Custodian' }).waitFor()
    await assertAccessible('the sign-in page with passkey and SSO')
    await page.getByRole('button', { name: 'Use a passkey' }).click()
    await page.getByRole('heading', { name: 'Choose an org' }).waitFor()
    passkeySignInAt = Date.now()
    await page.getByRole('link', { name: 'Acme' }).waitFor()
    // The passkey's last use is recorded.
    await page.getByRole('link', { name: 'Account' }).click()
    const row = page.getByRole('table', { name: 'Your passkeys' }).getByRole('row').filter({ hasText: 'Work laptop' })
    await row.waitFor()
    assert.doesNotMatch((await row.textContent()) ?? '', /never/)
    assert.deepEqual(csp, [])
  })

  it('a second passkey on the same authenticator is refused by the browser, and said so', async () => {
    // The API's creation options exclude the credentials already registered.
    await page.getByLabel('Passkey name').fill('Same laptop')
    await page.getByRole('button', { name: 'Add a passkey' }).click()
    await page.getByRole('alert').filter({ hasText: 'already holds a passkey' }).waitFor()
    assert.equal(await page.getByRole('table', { name: 'Your passkeys' }).getByRole('row').count(), 2)
  })

  it('step-up with a passkey: past the window, removing a passkey prompts, and the prompt’s passkey button passes it', async () => {
    // The shortest window the policy allows (1 minute), then past it since the passkey sign-in.
    const policy = await httpsJson(world.server.httpsPort, 'PUT', `/v1/orgs/${world.customer.orgId}/security-policy`, {
      token: world.customer.ownerToken,
      body: { require2fa: false, stepUpMinutes: 1 },
    })
    assert.equal(policy.status, 200, policy.text)
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, passkeySignInAt + 62_000 - Date.now())))

    await page.getByRole('button', { name: 'Remove Work laptop' }).click()
    const dialog = page.getByRole('dialog', { name: 'Confirm it is you' })
    await dialog.waitFor()
    await dialog.getByRole('button', { name: 'Use a passkey' }).click()
    await dialog.waitFor({ state: 'hidden' })
    await page.getByText('No passkey yet.').waitFor()
    assert.deepEqual(csp, [])
  })

  it('SSO: the sign-in page sends the browser to the org’s start URL; a malformed org ID is refused on its field', async () => {
    const other = await browser.newContext({ ignoreHTTPSErrors: true })
    const sso = await other.newPage()
    await sso.goto(`${origin}/console/sign-in`)
    await sso.getByLabel('SSO org ID').fill('acme')
    await sso.getByRole('button', { name: 'Continue with single sign-on' }).click()
    await sso.getByText('An org ID looks like').waitFor()
    await sso.getByLabel('SSO org ID').fill(world.customer.orgId)
    const visited: string[] = []
    sso.on('request', (request) => visited.push(request.url()))
    await Promise.all([
      sso.waitForURL(`${origin}/console/sign-in?sso=failed&code=NOT_FOUND`),
      sso.getByRole('button', { name: 'Continue with single sign-on' }).click(),
    ])
    // Through the start URL (returnTo=console); Acme has no SSO configured, and the API
    // sends the browser back to the sign-in page, which says so (test/console/sso.test.ts has the rest).
    assert.ok(visited.some((url) => url.startsWith(`${origin}/v1/sso/${world.customer.orgId}/start?returnTo=console`)))
    await sso.getByRole('alert').filter({ hasText: 'This org has no single sign-on enabled' }).waitFor()
    await other.close()
  })

  it('idle timeout: a warning a minute before, with a button that keeps the session', async () => {
    const other = await browser.newContext({ ignoreHTTPSErrors: true })
    const viewer = await other.newPage()
    const violations = watchCsp(viewer)
    await viewer.clock.install()
    await signInWithPassword(viewer, world.customer.viewerEmail)
    // Every call of the page answered (the org's name is shown) before the clock jumps.
    await viewer.getByRole('link', { name: 'Acme' }).waitFor()
    await viewer.waitForLoadState('networkidle')
    const warning = viewer.getByRole('alert').filter({ hasText: 'Still there?' })
    assert.equal(await warning.count(), 0)
    // 30 minutes idle by default, less 30 s for the API's coarse last-use record: the
    // warning shows from 28:30 after the last answer to 29:30. The page's time is then held
    // fixed at 28:50 while its timers keep running, so that however slow the machine, no real
    // time passes on the page while the test looks at the warning (a running clock let a
    // loaded machine reach the sign-out).
    // An answer that still lands after the jump (a late refetch on a loaded machine) counts as
    // activity at the jumped time: then jump again from there, at most twice more.
    for (let jump = 0; jump < 3; jump++) {
      await viewer.clock.setFixedTime((await viewer.evaluate(() => Date.now())) + 28 * 60_000 + 50_000)
      const shown = await warning
        .waitFor({ timeout: 10_000 })
        .then(() => true)
        .catch(() => false)
      if (shown) break
    }
    await warning.waitFor()
    assert.match((await warning.textContent()) ?? '', /signed out for inactivity in \d+ seconds/)
    assert.deepEqual(await seriousViolations(viewer), [], 'axe-core on the idle warning')
    await warning.getByRole('button', { name: 'Stay signed in' }).click()
    await warning.waitFor({ state: 'hidden' })
    assert.deepEqual(violations, [])
    await other.close()
  })
})
