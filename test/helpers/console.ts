import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import AxeBuilder from '@axe-core/playwright'
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core'
import { PASSWORD } from './app.ts'
import { bootstrapOverHttps, httpsJson, spawnServer, type ServerProcess } from './process.ts'

/** Debian's Chromium (apt package `chromium`; scripts/prerequisites.ts installs it). Never a downloaded browser. */
export const CHROMIUM = '/usr/bin/chromium'

/**
 * Headless Debian Chromium driven by playwright-core. The flags keep it off the network
 * (no background requests, updates or sync); playwright gives it a fresh profile.
 */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
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
    ],
  })
}

/**
 * A port free on 127.0.0.1 now, so the server's public URL (WebAuthn's origin, SSO's
 * redirect URI) can name it before the server starts.
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address()
      probe.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0))
    })
  })
}

/** A browser context that accepts the server's self-signed certificate. */
export async function newConsoleContext(browser: Browser): Promise<BrowserContext> {
  return browser.newContext({
    ignoreHTTPSErrors: true,
    viewport: { width: 1200, height: 800 },
    reducedMotion: 'reduce',
  })
}

/** Content-Security-Policy refusals the page reported on its console (none expected). */
export function watchCsp(page: Page): string[] {
  const violations: string[] = []
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text())
  })
  return violations
}

/** A page in a fresh console context: the CSP refusals it reports and every address it asked for or went to. */
export interface ConsolePage {
  context: BrowserContext
  page: Page
  csp: string[]
  urls: string[]
  close: () => Promise<void>
}

/** A new console context (prepared by `setup`, e.g. permissions or a clock) and a page in it, watched. */
export async function openPage(
  browser: Browser,
  setup?: (context: BrowserContext) => Promise<void>,
): Promise<ConsolePage> {
  const context = await newConsoleContext(browser)
  await setup?.(context)
  const page = await context.newPage()
  const urls: string[] = []
  page.on('request', (request) => urls.push(request.url()))
  page.on('framenavigated', (frame) => urls.push(frame.url()))
  return { context, page, csp: watchCsp(page), urls, close: () => context.close() }
}

/**
 * Signs in on the console's sign-in page with test/helpers/app.ts's PASSWORD (then the
 * authentication code, when given) and waits for the org picker; with `org`, opens that
 * org and waits for its first page (Secrets).
 */
export async function signIn(
  page: Page,
  at: { origin: string },
  email: string,
  options: { code?: string; org?: string } = {},
): Promise<void> {
  await page.goto(`${at.origin}/console/sign-in`)
  await page.getByLabel('Email').fill(email)
  await page.getByLabel(/^Password/).fill(PASSWORD)
  await page.getByRole('button', { name: 'Sign in' }).click()
  if (options.code !== undefined) {
    await page.getByLabel('Authentication code').fill(options.code)
    await page.getByRole('button', { name: 'Sign in' }).click()
  }
  await page.getByRole('heading', { name: 'Choose an org' }).waitFor()
  if (options.org !== undefined) {
    await page.getByRole('link', { name: options.org }).click()
    await page.getByRole('heading', { level: 1, name: 'Secrets' }).waitFor()
  }
}

/** openPage, then signIn: a member's own signed-in page. */
export async function openSignedIn(
  browser: Browser,
  at: { origin: string },
  email: string,
  options: { code?: string; org?: string; setup?: (context: BrowserContext) => Promise<void> } = {},
): Promise<ConsolePage> {
  const session = await openPage(browser, options.setup)
  await signIn(session.page, at, email, options)
  return session
}

/** A UUID anywhere in a text: what a page a person reads must not show (issue 13, words not ids). */
export const ANY_UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i

/**
 * The alert showing the API's refusal with this code, within `scope`: the console says the
 * refusal in words and keeps the code off the screen, on the alert as `data-code` (issue 13).
 */
export function refusalAlert(scope: Page | Locator, code: string): Locator {
  return scope.getByRole('alert').and(scope.locator(`[data-code="${code}"]`))
}

/** Fails on axe-core's serious or critical violations, after a dialog's fade-in (or axe measures contrast mid-animation). */
export async function assertAccessible(page: Page, where: string): Promise<void> {
  if ((await page.getByRole('dialog').count()) > 0) await page.waitForTimeout(500)
  assert.deepEqual(await seriousViolations(page), [], `axe-core: serious or critical violations on ${where}`)
}

/**
 * The value is in no page text, no URL the page asked for or went to, and no browser
 * storage; `forms` adds other spellings of it (e.g. base64) looked for in URLs and storage.
 */
export async function assertNowhere(
  session: ConsolePage,
  value: string,
  when: string,
  forms: string[] = [],
): Promise<void> {
  const { page } = session
  const spellings = [value, ...forms]
  assert.ok(!(await page.content()).includes(value), `the value is not in the DOM ${when}`)
  const stored = await page.evaluate(() =>
    JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)]),
  )
  for (const form of spellings)
    assert.ok(!stored.includes(form), `the value is not in localStorage/sessionStorage ${when}`)
  const leaked = session.urls.filter(
    (url) => url.includes(encodeURIComponent(value)) || spellings.some((form) => url.includes(form)),
  )
  assert.deepEqual(leaked, [], `the value is in no URL ${when}`)
}

/** Invites `email` to the customer org (Acme) with `role` and accepts with PASSWORD: the accept's body (userId, apiToken). */
export async function joinCustomer(
  world: ConsoleWorld,
  email: string,
  role: string,
): Promise<{ userId: string; apiToken: string }> {
  const port = world.server.httpsPort
  const invitation = await httpsJson(port, 'POST', `/v1/orgs/${world.customer.orgId}/invitations`, {
    token: world.customer.ownerToken,
    body: { email, role },
  })
  assert.equal(invitation.status, 201, invitation.text)
  const accepted = await httpsJson(port, 'POST', '/v1/invitations/accept', {
    body: { token: invitation.body.token, password: PASSWORD },
  })
  assert.equal(accepted.status, 201, accepted.text)
  return { userId: accepted.body.userId, apiToken: accepted.body.apiToken }
}

/**
 * axe-core's serious and critical violations on the page as it is now, as `id: help` lines.
 *
 * Every rule runs, on the page and its same-origin frames (the console has no other kind).
 * Two settings change what a scan costs, not what it finds (same violations, with and
 * without them, on a page given a nameless button, an image without alt and a same-origin
 * frame holding another): `setLegacyMode` runs `axe.run` in the page, where the default
 * opens a blank tab per scan, injects axe-core into it too and hands it every partial
 * result; `resultTypes: ['violations']` keeps one example node of each passing or
 * inapplicable rule instead of all of them. Together ≈0.75 s of CPU a scan instead of
 * ≈2.1 s (docs/benchmarks.md, "Test suite time").
 */
export async function seriousViolations(page: Page): Promise<string[]> {
  const result = await new AxeBuilder({ page })
    .setLegacyMode()
    .options({ resultTypes: ['violations'] })
    .analyze()
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`)
}

export interface ConsoleWorld {
  server: ServerProcess
  origin: string
  provider: { orgId: string; email: string; totpSecret: string; recoveryCodes: string[]; token: string }
  customer: { orgId: string; ownerEmail: string; ownerToken: string; viewerEmail: string }
}

/**
 * A real server process on PGlite (a fresh data dir, removed when the process exits), with the provider org (owner enrolled
 * in TOTP), a customer org "Acme" with its owner, and a viewer there (no secrets:read).
 * Every password is test/helpers/app.ts's PASSWORD. `env` adds or overrides the server's
 * settings (e.g. a fixed port and CUSTODIAN_PUBLIC_URL, for WebAuthn's origin).
 */
export async function startConsoleWorld(env: Record<string, string> = {}): Promise<ConsoleWorld> {
  // The data directory (its root key, its database) goes with the server process.
  const dataDir = mkdtempSync(path.join(tmpdir(), 'custodian-console-'))
  const remove = () => rmSync(dataDir, { recursive: true, force: true })
  let server: ServerProcess
  try {
    server = await spawnServer({ CUSTODIAN_DATA_DIR: dataDir, CUSTODIAN_AUTH_RATE_LIMIT: '100', ...env })
  } catch (error) {
    remove()
    throw error
  }
  server.child.once('exit', remove)
  const port = server.httpsPort
  const email = 'owner@provider.test'
  const boot = await bootstrapOverHttps(port, server.bootstrapToken, { orgName: 'Provider', email })
  if (boot.status !== 201) throw new Error(`bootstrap failed: ${boot.text}`)
  const token = boot.body.apiToken as string
  const ownerEmail = 'owner@acme.test'
  const org = await httpsJson(port, 'POST', '/v1/orgs', { token, body: { name: 'Acme', ownerEmail } })
  if (org.status !== 201) throw new Error(`org create failed: ${org.text}`)
  const owner = await httpsJson(port, 'POST', '/v1/invitations/accept', {
    body: { token: org.body.invitation.token, password: PASSWORD },
  })
  if (owner.status !== 201) throw new Error(`accept failed: ${owner.text}`)
  const customerOrgId = org.body.org.id as string
  const viewerEmail = 'viewer@acme.test'
  const invitation = await httpsJson(port, 'POST', `/v1/orgs/${customerOrgId}/invitations`, {
    token: owner.body.apiToken,
    body: { email: viewerEmail, role: 'viewer' },
  })
  if (invitation.status !== 201) throw new Error(`invitation failed: ${invitation.text}`)
  const viewer = await httpsJson(port, 'POST', '/v1/invitations/accept', {
    body: { token: invitation.body.token, password: PASSWORD },
  })
  if (viewer.status !== 201) throw new Error(`viewer accept failed: ${viewer.text}`)
  return {
    server,
    origin: `https://127.0.0.1:${port}`,
    provider: {
      orgId: boot.body.orgId,
      email,
      totpSecret: boot.body.totpSecret,
      recoveryCodes: boot.body.recoveryCodes,
      token,
    },
    customer: { orgId: customerOrgId, ownerEmail, ownerToken: owner.body.apiToken, viewerEmail },
  }
}
