/**
 * The consent pages of `npm run console:screenshots` (scripts/console-screenshots.ts; issue
 * 22): purposes, a notice version being published, a subject's timeline, the report, and the
 * recipients with what waits for their acknowledgement. Pictures 65–69. Every state is made
 * through the API, in an org of its own ("Hooli": an owner with no second factor, so no
 * step-up prompt stands in front of a page).
 */
import type { Browser, Page } from 'playwright-core'
import { PASSWORD } from '../test/helpers/app.ts'
import { newConsoleContext, type ConsoleWorld } from '../test/helpers/console.ts'
import { httpsJson } from '../test/helpers/process.ts'

type Shot = (page: Page, name: string) => Promise<void>

/** Fails with the API's answer unless the call succeeded (2xx). */
function expectOk(answer: { status: number; text: string }, what: string): void {
  if (answer.status < 200 || answer.status > 299) throw new Error(`${what}: HTTP ${answer.status} ${answer.text}`)
}

export async function shootConsent(world: ConsoleWorld, browser: Browser, shot: Shot): Promise<void> {
  const port = world.server.httpsPort
  const made = await httpsJson(port, 'POST', '/v1/orgs', {
    token: world.provider.token,
    body: { name: 'Hooli', ownerEmail: 'owner@hooli.test' },
  })
  expectOk(made, 'Hooli')
  const created = made.body as { org: { id: string }; invitation: { token: string } }
  const orgId = created.org.id
  const accepted = await httpsJson(port, 'POST', '/v1/invitations/accept', {
    body: { token: created.invitation.token, password: PASSWORD },
  })
  expectOk(accepted, 'Hooli’s owner')
  const token = accepted.body.apiToken as string
  const api = async (method: string, tail: string, body?: unknown) => {
    const answer = await httpsJson(port, method, `/v1/orgs/${orgId}/consent${tail}`, { token, body })
    expectOk(answer, `${method} ${tail}`)
    return answer.body
  }

  // A purpose names registered recipients (docs/consent.md#propagation-to-recipients).
  for (const name of ['Mailer Ltd', 'Metrics GmbH'])
    await api('POST', '/recipients', { name, url: 'https://127.0.0.1:9/consent', deadlineHours: 72 })
  await api('POST', '/purposes', {
    key: 'newsletter',
    name: 'Newsletter',
    description: 'A monthly e-mail about new features.',
    lawfulBasis: 'consent',
    directMarketing: true,
    gpcEffect: 'opt_out',
    recipients: ['Mailer Ltd'],
    dataCategories: ['email'],
  })
  await api('POST', '/purposes', {
    key: 'analytics',
    name: 'Product analytics',
    lawfulBasis: 'consent',
    lifetimeDays: 365,
    recipients: ['Metrics GmbH'],
  })
  await api('POST', '/purposes', { key: 'fraud', name: 'Fraud prevention', lawfulBasis: 'legitimate_interests' })
  await api('POST', '/purposes', { key: 'billing', name: 'Billing', lawfulBasis: 'contract' })
  await api('POST', '/notices', {
    language: 'en',
    text: 'We e-mail you news once a month and measure how the product is used. You may withdraw at any time.',
    purposes: ['newsletter', 'analytics'],
    materialChange: false,
  })
  let n = 0
  const event = (subject: string, purpose: string, action: string, method = 'form') =>
    api('POST', '/events', {
      id: `shot-${++n}`,
      subject,
      purpose,
      action,
      method,
      ...(action === 'object' || action === 'withdraw' ? {} : { noticeVersion: 1 }),
    })
  for (let i = 0; i < 7; i++) await event(`cust_${i}`, 'newsletter', i < 5 ? 'grant' : 'deny')
  for (let i = 0; i < 4; i++) await event(`cust_${i}`, 'analytics', i < 3 ? 'grant' : 'deny', 'button')
  await event('cust_1', 'newsletter', 'withdraw', 'button')
  await event('cust_0', 'fraud', 'object')
  await event('cust_4', 'fraud', 'object')

  const page = await (await newConsoleContext(browser)).newPage()
  await page.goto(`${world.origin}/console/sign-in`)
  await page.getByLabel('Email').fill('owner@hooli.test')
  await page.getByLabel(/^Password/).fill(PASSWORD)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('heading', { name: 'Choose an org' }).waitFor({ timeout: 120_000 })
  const base = `${world.origin}/console/orgs/${orgId}/consent`

  await page.goto(`${base}/purposes`)
  await page
    .getByRole('table', { name: 'Purposes' })
    .getByRole('row', { name: /Billing/ })
    .waitFor()
  await shot(page, '65-consent-purposes')

  await page.goto(`${base}/notices`)
  await page.getByRole('button', { name: 'Publish a new version' }).click()
  const publish = page.getByRole('dialog', { name: 'Publish a new notice version' })
  await publish
    .getByLabel(/^Text/)
    .fill('We e-mail you news once a month and share usage figures with Metrics GmbH. You may withdraw at any time.')
  await publish.getByRole('checkbox', { name: 'Newsletter (newsletter)' }).check()
  await publish.getByRole('checkbox', { name: 'Product analytics (analytics)' }).check()
  await publish.getByRole('checkbox', { name: 'This version is a material change' }).check()
  await publish.getByText('Subjects will be asked again').waitFor()
  await shot(page, '66-consent-notice-publish')
  await page.keyboard.press('Escape')

  await page.goto(`${base}/subjects`)
  await page.getByLabel(/^Subject id/).fill('cust_0')
  await page.getByRole('button', { name: 'Show timeline' }).click()
  await page.getByRole('button', { name: 'Withdraw consent to Product analytics' }).click()
  await page.getByText('Consent to Product analytics is withdrawn, on behalf by staff.').waitFor()
  await shot(page, '67-consent-subject-timeline')

  await page.goto(`${base}/reports`)
  await page.getByRole('table', { name: 'Pending objections' }).waitFor()
  await shot(page, '68-consent-reports')

  // The withdrawal above was told to Mailer Ltd: it waits for its acknowledgement.
  await page.goto(`${base}/recipients`)
  await page
    .getByRole('table', { name: 'Unacknowledged propagations' })
    .getByRole('row', { name: /Mailer Ltd/ })
    .waitFor()
  await shot(page, '69-consent-recipients')
}
