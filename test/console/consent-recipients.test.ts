import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { sql } from 'kysely'
import type { Browser, Locator, Page } from 'playwright-core'
import { ensureBuilt } from '../../scripts/console.ts'
import { withOwner } from '../../src/db/tenant.ts'
import {
  assertAccessible,
  assertNowhere,
  joinCustomer,
  launchChromium,
  openSignedIn,
  startConsoleWorld,
  type ConsoleWorld,
} from '../helpers/console.ts'
import { createTestDatabase, postgresAvailable, type TestDatabase } from '../helpers/db.ts'
import { httpsJson } from '../helpers/process.ts'

/** Subject ids that must never show on the propagations panel. */
const WITHDRAWN = 'grace-recipients-7301@example.test'
const OBJECTOR = 'linus-recipients-7302@example.test'

// The console's consent recipients (issue 22, P7.7, GDPR Art. 19), in Debian's Chromium
// against a real server: with none registered the purpose form links to the Recipients page,
// where one is registered with the keyboard alone (the outbound URL rules' refusal on its
// field, the signing secret shown once and kept nowhere); the purpose form picks recipients
// among the registered ones; removing one a purpose names is refused in the API's words; and
// the messages not acknowledged are listed with the recipient, what they told in words and
// the time left — an overdue one marked — never the subject. Recipients' endpoints are on
// loopback (nothing listens: deliveries wait in the queue). The server runs on PostgreSQL
// when TEST_DATABASE_URL is set (else PGlite); it has no clock, so the overdue case moves a
// deadline back in that database.
describe('web console: consent recipients', () => {
  let world: ConsoleWorld
  let browser: Browser
  let database: TestDatabase | undefined
  const auditorEmail = 'auditor-recipients@acme.test'
  /** Mailer Ltd's secret as registered (the rotation must answer another). */
  let firstSecret = ''

  const call = (method: string, url: string, body?: unknown) =>
    httpsJson(world.server.httpsPort, method, `/v1/orgs/${world.customer.orgId}/consent${url}`, {
      token: world.customer.ownerToken,
      body,
    })
  const ok = async (method: string, url: string, body?: unknown) => {
    const answered = await call(method, url, body)
    assert.ok(answered.status < 300, `${method} ${url}: ${answered.text}`)
    return answered.body
  }

  before(async () => {
    await ensureBuilt()
    if (postgresAvailable()) database = await createTestDatabase('postgres')
    world = await startConsoleWorld({
      CUSTODIAN_OUTBOUND_ALLOW: '127.0.0.1/32',
      ...(database === undefined ? {} : { DATABASE_URL: database.url as string }),
    })
    browser = await launchChromium()
    await joinCustomer(world, auditorEmail, 'auditor')
    await ok('POST', '/purposes', {
      key: 'newsletter',
      name: 'Newsletter',
      lawfulBasis: 'consent',
      directMarketing: true,
    })
    await ok('POST', '/notices', {
      language: 'en',
      text: 'We email you news. You may withdraw at any time.',
      purposes: ['newsletter'],
      materialChange: false,
    })
  })
  after(async () => {
    await browser?.close()
    await world?.server.stop()
    await database?.close()
  })

  const signedIn = (email: string) => openSignedIn(browser, world, email, { org: 'Acme' })

  async function openConsent(page: Page, tab: string): Promise<void> {
    await page.getByRole('navigation', { name: 'Org pages' }).getByRole('link', { name: 'Consent' }).click()
    await page.getByRole('heading', { level: 1, name: 'Consent' }).waitFor()
    await page.getByRole('navigation', { name: 'Consent pages' }).getByRole('link', { name: tab }).click()
  }

  /**
   * Presses Tab until `target` has the focus (at most 160 times: each recipient's row holds
   * two buttons now, Rotate and Remove); fails otherwise.
   */
  async function tabTo(page: Page, target: Locator): Promise<void> {
    await target.waitFor()
    for (let i = 0; i < 160; i++) {
      if (await target.evaluate((el) => el.matches(':focus'))) return
      await page.keyboard.press('Tab')
    }
    assert.fail(`Tab never reached ${target.toString()}`)
  }

  it('none registered: the purpose form links to the Recipients page, where one is registered with the keyboard; its secret shown once', async () => {
    const session = await signedIn(world.customer.ownerEmail)
    const { page, csp, close } = session
    try {
      await openConsent(page, 'Purposes')
      await page.getByRole('button', { name: 'Edit the purpose newsletter' }).click()
      const edit = page.getByRole('dialog', { name: 'Edit newsletter' })
      await edit.getByText('No recipient is registered yet.').waitFor()
      await edit.getByRole('link', { name: 'Register a recipient' }).click()
      await page.getByRole('table', { name: 'Recipients' }).or(page.getByText('No recipient registered yet.')).waitFor()
      assert.match(page.url(), /\/consent\/recipients$/)
      await page.getByText('Every recipient has acknowledged.').waitFor()
      await assertAccessible(page, 'the recipients, none yet')

      // The keyboard alone; a destination the outbound rules refuse is said on its field.
      await tabTo(page, page.getByLabel(/^Recipient name/))
      await page.keyboard.type('Mailer Ltd')
      await page.keyboard.press('Tab')
      await page.keyboard.type('http://127.0.0.1:9/consent')
      await page.keyboard.press('Enter')
      const url = page.getByLabel(/^Endpoint URL/)
      await page.getByText('must be an https:// URL without credentials').first().waitFor()
      assert.equal(await url.getAttribute('aria-invalid'), 'true')
      await url.fill('https://127.0.0.1:9/consent')
      await page.getByLabel(/^Must acknowledge within/).fill('48')
      await page.getByLabel(/^Must acknowledge within/).press('Enter')

      const shown = page.getByRole('dialog', { name: 'The recipient’s signing secret' })
      const field = shown.getByLabel('Signing secret of Mailer Ltd')
      await field.waitFor()
      const secret = await field.inputValue()
      assert.match(secret, /^whsec_/)
      firstSecret = secret
      await shown.getByRole('button', { name: 'Copy secret' }).waitFor()
      await assertAccessible(page, 'the signing secret shown once')
      await shown.getByRole('button', { name: 'Done' }).click()
      await shown.waitFor({ state: 'hidden' })
      const row = page.getByRole('table', { name: 'Recipients' }).getByRole('row', { name: /Mailer Ltd/ })
      assert.match(await row.innerText(), /127\.0\.0\.1:9\s+48 hours \(2 days\)\s+by token\s/)
      await assertNowhere(session, secret, 'once the secret’s dialog is closed')
      const listed = await ok('GET', '/recipients')
      assert.deepEqual(
        listed.recipients.map((r: { name: string; deadlineHours: number }) => [r.name, r.deadlineHours]),
        [['Mailer Ltd', 48]],
      )
      assert.deepEqual(csp, [], 'no CSP violation')
    } finally {
      await close()
    }
  })

  it('the purpose form picks among the registered recipients; removing one a purpose names is refused in words', async () => {
    await ok('POST', '/recipients', { name: 'Analytics BV', url: 'https://127.0.0.1:9/analytics', deadlineHours: 24 })
    const { page, csp, close } = await signedIn(world.customer.ownerEmail)
    try {
      await openConsent(page, 'Purposes')
      await page.getByRole('button', { name: 'Edit the purpose newsletter' }).click()
      const edit = page.getByRole('dialog', { name: 'Edit newsletter' })
      const mailer = edit.getByRole('checkbox', { name: 'Mailer Ltd' })
      await mailer.waitFor()
      assert.equal(await edit.getByRole('checkbox', { name: 'Analytics BV' }).isChecked(), false)
      assert.equal(await edit.getByText('No recipient is registered yet.').count(), 0)
      await tabTo(page, mailer)
      await page.keyboard.press('Space')
      assert.equal(await mailer.isChecked(), true)
      await assertAccessible(page, 'the purpose form with its recipients')
      await edit.getByRole('button', { name: 'Save purpose' }).click()
      await page.getByText('Newsletter (newsletter) is saved.').waitFor()
      assert.deepEqual((await ok('GET', '/purposes/newsletter')).recipients, ['Mailer Ltd'])

      await page.getByRole('navigation', { name: 'Consent pages' }).getByRole('link', { name: 'Recipients' }).click()
      await tabTo(page, page.getByRole('button', { name: 'Remove the recipient Mailer Ltd' }))
      await page.keyboard.press('Enter')
      const confirm = page.getByRole('dialog', { name: 'Remove the recipient Mailer Ltd?' })
      await confirm.getByRole('button', { name: 'Remove recipient' }).click()
      const refusal = confirm.getByRole('alert')
      await refusal.waitFor()
      assert.match(await refusal.innerText(), /the purposes newsletter name Mailer Ltd: remove it from them first/)
      await assertAccessible(page, 'a removal refused')
      await confirm.getByRole('button', { name: 'Cancel' }).click()

      await page.getByRole('button', { name: 'Remove the recipient Analytics BV' }).click()
      await page
        .getByRole('dialog', { name: 'Remove the recipient Analytics BV?' })
        .getByRole('button', { name: 'Remove recipient' })
        .click()
      await page.getByText('The recipient Analytics BV is removed; its signing secret is erased.').waitFor()
      assert.equal(await page.getByRole('row', { name: /Analytics BV/ }).count(), 0)
      assert.deepEqual(
        (await ok('GET', '/recipients')).recipients.map((r: { name: string }) => r.name),
        ['Mailer Ltd'],
      )
      assert.deepEqual(csp, [], 'no CSP violation')
    } finally {
      await close()
    }
  })

  it('rotates a recipient’s signing secret with the keyboard: the 24-hour overlap said first, the new secret shown once', async () => {
    const session = await signedIn(world.customer.ownerEmail)
    const { page, csp, close } = session
    try {
      await openConsent(page, 'Recipients')
      await tabTo(page, page.getByRole('button', { name: 'Rotate signing secret of Mailer Ltd' }))
      await page.keyboard.press('Enter')
      const confirm = page.getByRole('dialog', { name: 'Rotate the signing secret of Mailer Ltd?' })
      await confirm.getByText(/For 24 hours every message is signed with both/).waitFor()
      await assertAccessible(page, 'the rotation’s confirm dialog')
      const rotate = confirm.getByRole('button', { name: 'Rotate signing secret' })
      await tabTo(page, rotate)
      await page.keyboard.press('Enter')

      const shown = page.getByRole('dialog', { name: 'The recipient’s signing secret' })
      const field = shown.getByLabel('Signing secret of Mailer Ltd')
      await field.waitFor()
      const secret = await field.inputValue()
      assert.match(secret, /^whsec_/)
      assert.notEqual(secret, firstSecret, 'a new secret')
      await shown.getByText(/messages are signed with the previous secret as well/).waitFor()
      await assertAccessible(page, 'the rotated secret shown once')
      await tabTo(page, shown.getByRole('button', { name: 'Done' }))
      await page.keyboard.press('Enter')
      await shown.waitFor({ state: 'hidden' })
      await assertNowhere(session, secret, 'once the rotated secret’s dialog is closed')
      assert.deepEqual(csp, [], 'no CSP violation')
    } finally {
      await close()
    }
  })

  it('unacknowledged propagations: recipient, what they told in words, deadline and time left, overdue marked; never the subject', async () => {
    let n = 0
    const record = (subject: string, action: string) =>
      ok('POST', '/events', {
        id: `recipients-${++n}`,
        subject,
        purpose: 'newsletter',
        action,
        method: 'form',
        ...(action === 'grant' ? { noticeVersion: 1 } : {}),
      })
    await record(WITHDRAWN, 'grant')
    await ok('POST', '/withdraw', { id: 'recipients-withdraw', subject: WITHDRAWN, purposes: ['newsletter'] })
    // Direct marketing: an objection takes effect at once and is told to the recipient.
    await record(OBJECTOR, 'object')
    const told = (await ok('GET', '/propagations?state=pending')).propagations as { action: string }[]
    assert.deepEqual(told.map((p) => p.action).sort(), ['object', 'withdraw'])
    if (database !== undefined)
      await withOwner(database.kysely, async (trx) => {
        await sql`UPDATE consent_propagations SET deadline_at = now() - interval '2 hours' WHERE org_id = ${world.customer.orgId} AND action = 'withdraw'`.execute(
          trx,
        )
      })

    const session = await signedIn(world.customer.ownerEmail)
    const { page, csp, close } = session
    try {
      await openConsent(page, 'Recipients')
      const table = page.getByRole('table', { name: 'Unacknowledged propagations' })
      const withdrawal = table.getByRole('row', { name: /withdrawal/ })
      const objection = table.getByRole('row', { name: /objection/ })
      await withdrawal.waitFor()
      assert.match(await objection.innerText(), /^Mailer Ltd\s+objection\s+newsletter/)
      assert.match(await objection.getByRole('timer').innerText(), /^47 h \d+ min \d+ s left$/)
      if (database !== undefined) {
        assert.match(await withdrawal.innerText(), /^Mailer Ltd\s*Overdue\s+withdrawal\s+newsletter/)
        assert.match(await withdrawal.getByRole('timer').innerText(), /^overdue by [12] h/)
        // Overdue first.
        assert.match(await table.getByRole('row').nth(1).innerText(), /withdrawal/)
      } else assert.match(await withdrawal.innerText(), /^Mailer Ltd\s+withdrawal\s+newsletter/)
      await assertAccessible(page, 'the unacknowledged propagations')
      for (const subject of [WITHDRAWN, OBJECTOR]) await assertNowhere(session, subject, 'on the recipients page')
      assert.deepEqual(csp, [], 'no CSP violation')
    } finally {
      await close()
    }
  })

  it('an auditor (consent:read alone) reads the recipients and is told why nothing can be changed; a viewer is refused', async () => {
    const auditor = await signedIn(auditorEmail)
    try {
      const { page } = auditor
      await openConsent(page, 'Recipients')
      await page
        .getByRole('table', { name: 'Recipients' })
        .getByRole('row', { name: /Mailer Ltd/ })
        .waitFor()
      await page
        .getByText(/Registering or removing a recipient needs the permission “Declare purposes and their lawful basis/)
        .waitFor()
      assert.equal(
        await page
          .getByRole('button', { name: /Register recipient|Remove the recipient|Rotate signing secret/ })
          .count(),
        0,
      )
      await page.getByRole('table', { name: 'Unacknowledged propagations' }).waitFor()
      await assertAccessible(page, 'the recipients, read-only')
    } finally {
      await auditor.close()
    }
    const viewer = await signedIn(world.customer.viewerEmail)
    try {
      const { page } = viewer
      await openConsent(page, 'Recipients')
      const refusal = page.getByRole('alert').filter({ hasText: 'consent:read' }).first()
      await refusal.waitFor()
      assert.equal(await page.getByRole('button', { name: 'Register recipient' }).count(), 0)
      await assertAccessible(page, 'the recipients, refused')
    } finally {
      await viewer.close()
    }
  })
})
