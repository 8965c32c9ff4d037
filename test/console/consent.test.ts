import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import type { Browser, Locator, Page } from 'playwright-core'
import { ensureBuilt } from '../../scripts/console.ts'
import {
  assertAccessible,
  joinCustomer,
  launchChromium,
  openSignedIn,
  startConsoleWorld,
  type ConsoleWorld,
} from '../helpers/console.ts'
import { httpsJson } from '../helpers/process.ts'

/** A subject id that must never reach a URL, the history or browser storage. */
const SUBJECT = 'ada-console-4411@example.test'

// The console's consent pages (issue 22), in Debian's Chromium against a real server:
// purposes declared and edited (the basis fixed, the API's refusals on their fields),
// notice versions published (material change explained, SHA-256 shown, read-only once
// published), a subject's timeline looked up by a body (the id in no URL or storage),
// withdrawn in one step on the subject's behalf and an objection decided, and the report;
// each page with axe-core and a keyboard path; an auditor (consent:read alone) told why
// nothing can be changed, a viewer (no consent:read) refused naming the permission.
describe('web console: consent', () => {
  let world: ConsoleWorld
  let browser: Browser
  const auditorEmail = 'auditor@acme.test'

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
    // Recipients' endpoints on loopback (nothing listens there: deliveries wait in the queue).
    world = await startConsoleWorld({ CUSTODIAN_OUTBOUND_ALLOW: '127.0.0.1/32' })
    browser = await launchChromium()
    await joinCustomer(world, auditorEmail, 'auditor')
    // A purpose names registered recipients (docs/consent.md#propagation-to-recipients).
    for (const name of ['Mailer Ltd', 'Fraud Check GmbH'])
      await ok('POST', '/recipients', { name, url: 'https://127.0.0.1:9/consent', deadlineHours: 72 })
    await ok('POST', '/purposes', {
      key: 'newsletter',
      name: 'Newsletter',
      lawfulBasis: 'consent',
      directMarketing: true,
      recipients: ['Mailer Ltd'],
    })
    await ok('POST', '/purposes', { key: 'fraud', name: 'Fraud prevention', lawfulBasis: 'legitimate_interests' })
    await ok('POST', '/notices', {
      language: 'en',
      text: 'We email you news. You may withdraw at any time.',
      purposes: ['newsletter'],
      materialChange: false,
    })
    let n = 0
    const event = (subject: string, purpose: string, action: string) =>
      ok('POST', '/events', {
        id: `console-${++n}`,
        subject,
        purpose,
        action,
        method: 'form',
        ...(action === 'object' ? {} : { noticeVersion: 1 }),
      })
    await event(SUBJECT, 'newsletter', 'grant')
    await event(SUBJECT, 'fraud', 'object')
    await event('someone-else', 'newsletter', 'deny')
  })
  after(async () => {
    await browser?.close()
    await world?.server.stop()
  })

  const signedIn = (email: string) => openSignedIn(browser, world, email, { org: 'Acme' })

  async function openConsent(page: Page, tab?: string): Promise<void> {
    await page.getByRole('navigation', { name: 'Org pages' }).getByRole('link', { name: 'Consent' }).click()
    await page.getByRole('heading', { level: 1, name: 'Consent' }).waitFor()
    if (tab !== undefined)
      await page.getByRole('navigation', { name: 'Consent pages' }).getByRole('link', { name: tab }).click()
  }

  /** Presses `key` until `target` has the focus (at most 80 times); fails otherwise. */
  async function tabTo(page: Page, target: Locator, key = 'Tab'): Promise<void> {
    await target.waitFor()
    for (let i = 0; i < 80; i++) {
      if (await target.evaluate((el) => el.matches(':focus'))) return
      await page.keyboard.press(key)
    }
    assert.fail(`${key} never reached ${target.toString()}`)
  }

  it('purposes: declared with the keyboard alone, refusals on their fields, the basis fixed on edit', async () => {
    const { page, csp, close } = await signedIn(world.customer.ownerEmail)
    try {
      await openConsent(page)
      const table = page.getByRole('table', { name: 'Purposes' })
      await table.getByRole('row', { name: /Newsletter/ }).waitFor()
      assert.match(
        await table.getByRole('row', { name: /Newsletter/ }).innerText(),
        /Consent \(Art\. 6\(1\)\(a\)\)[\s\S]*Mailer Ltd/,
      )
      await assertAccessible(page, 'the purposes')

      await tabTo(page, page.getByRole('button', { name: 'Declare a purpose' }))
      await page.keyboard.press('Enter')
      const dialog = page.getByRole('dialog', { name: 'Declare a purpose' })
      await dialog.getByLabel(/^Key/).waitFor()
      assert.ok(await dialog.getByLabel(/^Key/).evaluate((el) => el.matches(':focus')), 'the key field has the focus')
      await page.keyboard.type('Bad Key')
      await page.keyboard.press('Tab')
      await page.keyboard.type('Analytics')
      await assertAccessible(page, 'the purpose dialog')
      await dialog.getByRole('button', { name: 'Declare purpose' }).focus()
      await page.keyboard.press('Enter')
      // The API's refusal of the key shows on the key's field.
      await dialog.getByRole('alert').waitFor()
      assert.equal(await dialog.getByLabel(/^Key/).getAttribute('aria-invalid'), 'true')
      await dialog.getByLabel(/^Key/).fill('analytics')
      await dialog.getByLabel('Lawful basis').selectOption('contract')
      await dialog.getByLabel('Effect of a Global Privacy Control signal').selectOption('opt_out')
      await dialog.getByRole('button', { name: 'Declare purpose' }).click()
      await dialog
        .getByText(/a GPC signal cannot opt out of processing under contract/)
        .first()
        .waitFor()
      assert.equal(
        await dialog.getByLabel('Effect of a Global Privacy Control signal').getAttribute('aria-invalid'),
        'true',
      )
      await dialog.getByLabel('Lawful basis').selectOption('consent')
      await dialog.getByLabel('A grant lasts until withdrawn').uncheck()
      await dialog.getByLabel('A grant lasts (days)').fill('90')
      await dialog.getByRole('button', { name: 'Declare purpose' }).click()
      await page.getByText('Analytics (analytics) is declared.').waitFor()
      const created = await ok('GET', '/purposes/analytics')
      assert.deepEqual([created.lawfulBasis, created.gpcEffect, created.lifetimeDays], ['consent', 'opt_out', 90])

      await page.getByRole('button', { name: 'Edit the purpose fraud' }).click()
      const edit = page.getByRole('dialog', { name: 'Edit fraud' })
      await edit
        .getByText(/Legitimate interests \(Art\. 6\(1\)\(f\)\) — fixed: a purpose’s basis never changes/)
        .waitFor()
      assert.equal(await edit.getByRole('combobox', { name: 'Lawful basis' }).count(), 0, 'no basis to choose')
      // Recipients are picked among the registered ones (consent-recipients.test.ts covers the page).
      await edit.getByRole('checkbox', { name: 'Fraud Check GmbH' }).check()
      await edit.getByRole('button', { name: 'Save purpose' }).click()
      await page.getByText('Fraud prevention (fraud) is saved.').waitFor()
      assert.deepEqual((await ok('GET', '/purposes/fraud')).recipients, ['Fraud Check GmbH'])
      assert.deepEqual(csp, [], 'no CSP violation')
    } finally {
      await close()
    }
  })

  it('notices: newest first with their SHA-256, a material change explained, a published version read-only', async () => {
    const { page, csp, close } = await signedIn(world.customer.ownerEmail)
    try {
      await openConsent(page, 'Notices')
      const table = page.getByRole('table', { name: 'Notice versions' })
      await table.getByRole('row', { name: /v1/ }).waitFor()
      await assertAccessible(page, 'the notices')
      await page.getByRole('button', { name: 'Publish a new version' }).click()
      const dialog = page.getByRole('dialog', { name: 'Publish a new notice version' })
      const text = 'We email you news and measure how you use the site.\nWithdraw at any time.'
      await dialog.getByLabel(/^Text/).fill(text)
      const sha = createHash('sha256').update(text, 'utf8').digest('hex')
      await dialog.getByText(sha).waitFor()
      await dialog.getByRole('checkbox', { name: 'Newsletter (newsletter)' }).check()
      await dialog.getByRole('checkbox', { name: 'Analytics (analytics)' }).check()
      await dialog.getByRole('checkbox', { name: 'This version is a material change' }).check()
      await dialog
        .getByText(/grants given under earlier versions for the purposes it covers no longer count/)
        .first()
        .waitFor()
      await dialog
        .getByText(/Publishing this version makes the grants under earlier versions of Newsletter, Analytics lapse/)
        .waitFor()
      await assertAccessible(page, 'the publish dialog')
      await dialog.getByRole('button', { name: 'Publish version' }).click()
      await page.getByText('Version 2 is published; it can no longer change.').waitFor()
      const rows = table.getByRole('row')
      assert.match(await rows.nth(1).innerText(), /v2[\s\S]*yes: earlier grants need re-consent/)
      // The purposes by name, the hash by its start (the whole one is in Read; newcomer, issue 13).
      assert.match(await rows.nth(1).innerText(), new RegExp(`Newsletter, Analytics[\\s\\S]*${sha.slice(0, 16)}…`))
      assert.doesNotMatch(await rows.nth(1).innerText(), new RegExp(sha))
      assert.match(await rows.nth(2).innerText(), /v1/)
      // Reading a version, with the keyboard: no field to change, Escape closes it.
      await tabTo(page, page.getByRole('button', { name: 'Read notice version 2' }))
      await page.keyboard.press('Enter')
      const read = page.getByRole('dialog', { name: 'Notice version 2' })
      await read.getByText(/Read-only: a published version never changes/).waitFor()
      assert.equal(await read.getByRole('textbox').count(), 0, 'nothing to edit')
      await read.getByText(sha).waitFor()
      await read.getByText(/covering Newsletter, Analytics\./).waitFor()
      await assertAccessible(page, 'a published notice')
      await page.keyboard.press('Escape')
      await read.waitFor({ state: 'hidden' })
      const purpose = await ok('GET', '/purposes/newsletter')
      assert.equal(purpose.reconsentFromVersion, 2, 'the material change asks for re-consent')
      assert.deepEqual(csp, [], 'no CSP violation')
    } finally {
      await close()
    }
  })

  it('a subject’s timeline by id in no URL or storage; withdrawn in one step on their behalf; an objection decided', async () => {
    const session = await signedIn(world.customer.ownerEmail)
    const { page, csp, close } = session
    try {
      await openConsent(page, 'Subject timeline')
      await tabTo(page, page.getByLabel(/^Subject id/))
      await page.keyboard.type(SUBJECT)
      await page.keyboard.press('Enter')
      const states = page.getByRole('table', { name: 'Current state per purpose' })
      // By the purpose's name (its key under it), once the purposes are loaded.
      await states.getByRole('row', { name: /Newsletter/ }).waitFor()
      // The notice v2 material change: the v1 grant no longer counts.
      assert.match(
        await states.getByRole('row', { name: /newsletter/ }).innerText(),
        /Not allowed:[\s\S]*re-consent needed/,
      )
      assert.match(await states.getByRole('row', { name: /fraud/ }).innerText(), /objection waiting for a decision/)
      const events = page.getByRole('table', { name: 'Consent events' })
      assert.match(await events.innerText(), /Newsletter\s+granted\s+form\s+v1\s+the subject/)
      await assertAccessible(page, 'a subject’s timeline')

      // The grant's signed receipt, verified in the browser once a checkpoint covers its event.
      await tabTo(page, events.getByRole('button', { name: /^Receipt of Newsletter: granted, / }).first())
      await page.keyboard.press('Enter')
      const receipt = page.getByRole('dialog', { name: /^Consent receipt: Newsletter: granted, / })
      const verified = receipt.getByText('Verified in your browser')
      for (let i = 0; i < 60 && !(await verified.isVisible()); i++) {
        const again = receipt.getByRole('button', { name: 'Ask again' })
        if (await again.isVisible()) await again.click()
        await page.waitForTimeout(1000)
      }
      await verified.waitFor()
      await assertAccessible(page, 'a consent receipt verified in the browser')
      const [file] = await Promise.all([
        page.waitForEvent('download'),
        receipt.getByRole('button', { name: 'Download the receipt' }).click(),
      ])
      assert.match(file.suggestedFilename(), /^consent-receipt-[0-9a-f-]{36}\.json$/)
      await page.keyboard.press('Escape')
      await receipt.waitFor({ state: 'detached' })

      await ok('POST', '/events', {
        id: 'console-regrant',
        subject: SUBJECT,
        purpose: 'newsletter',
        action: 'grant',
        method: 'form',
        noticeVersion: 2,
      })
      await page.getByRole('button', { name: 'Show timeline' }).click()
      await states.getByRole('row', { name: /newsletter.*consent given/ }).waitFor()
      await page.getByRole('button', { name: 'Withdraw consent to Newsletter' }).click()
      await page.getByText('Consent to Newsletter is withdrawn, on behalf by staff.').waitFor()
      await states.getByRole('row', { name: /newsletter.*consent withdrawn/ }).waitFor()
      assert.match(
        await events.getByRole('row').nth(1).innerText(),
        /Newsletter\s+withdrawn\s+on behalf by staff\s+—\s+staff \(recorded by owner@/,
      )
      const check = await ok('POST', '/check', { subject: SUBJECT, purpose: 'newsletter' })
      assert.equal(check.allowed, false)
      assert.equal(check.reason, 'withdrawn')

      await tabTo(page, page.getByRole('button', { name: 'Decide the objection to Fraud prevention' }))
      await page.keyboard.press('Enter')
      const dialog = page.getByRole('dialog', { name: 'Decide the objection to Fraud prevention' })
      await dialog.getByLabel(/^Grounds/).fill('Fraud prevention: compelling legitimate grounds.')
      await dialog.getByRole('radio', { name: /^Rejected/ }).check()
      await assertAccessible(page, 'the objection decision')
      await dialog.getByRole('button', { name: 'Record decision' }).click()
      await page.getByText('The objection to Fraud prevention is rejected.').waitFor()
      await page
        .getByRole('table', { name: 'Objections' })
        .getByText('Fraud prevention: compelling legitimate grounds.')
        .waitFor()

      const stored = await page.evaluate(() =>
        JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)]),
      )
      assert.ok(!stored.includes(SUBJECT), 'the subject id is in no browser storage')
      const leaked = session.urls.filter((url) => url.includes(SUBJECT) || url.includes(encodeURIComponent(SUBJECT)))
      assert.deepEqual(leaked, [], 'the subject id is in no URL')
      assert.deepEqual(csp, [], 'no CSP violation')
    } finally {
      await close()
    }
  })

  it('reports: the consent rate per purpose and notice version, the pending objections', async () => {
    await ok('POST', '/events', {
      id: 'console-object-2',
      subject: 'objector-2',
      purpose: 'fraud',
      action: 'object',
      method: 'form',
    })
    const { page, csp, close } = await signedIn(world.customer.ownerEmail)
    try {
      await openConsent(page, 'Reports')
      const rates = page.getByRole('table', { name: 'Consent rate per purpose and notice version' })
      await rates.waitFor()
      // v1: someone-else refused (the grant of v1 was withdrawn since): 0 of 1.
      assert.match(await rates.getByRole('row', { name: /newsletter.*v1/ }).innerText(), /0\s+1\s+0\s+0\s+0\s+0\.0 %/)
      const pending = page.getByRole('table', { name: 'Pending objections' })
      await pending.getByRole('row', { name: /fraud/ }).waitFor()
      assert.equal(await page.getByRole('link', { name: /propagation/i }).count(), 0)
      await assertAccessible(page, 'the consent report')
      await tabTo(page, page.getByRole('button', { name: /^Decide the objection to Fraud prevention/ }))
      await page.keyboard.press('Enter')
      const dialog = page.getByRole('dialog', { name: 'Decide the objection to Fraud prevention' })
      await dialog.getByLabel(/^Grounds/).fill('The objection is upheld.')
      await dialog.getByRole('button', { name: 'Record decision' }).click()
      await page.getByText('The objection to Fraud prevention is upheld.').waitFor()
      await page.getByText('No objection is waiting for a decision.').waitFor()
      assert.deepEqual(csp, [], 'no CSP violation')
    } finally {
      await close()
    }
  })

  it('an auditor (consent:read alone) is told why nothing can be changed; a viewer is refused, naming consent:read', async () => {
    const auditor = await signedIn(auditorEmail)
    try {
      const { page } = auditor
      await openConsent(page)
      await page.getByRole('table', { name: 'Purposes' }).waitFor()
      await page
        .getByText(/Declaring or changing a purpose needs the permission “Declare purposes and their lawful basis/)
        .waitFor()
      assert.equal(await page.getByRole('button', { name: /Declare a purpose|Edit the purpose/ }).count(), 0)
      await assertAccessible(page, 'the purposes, read-only')
      await page.getByRole('navigation', { name: 'Consent pages' }).getByRole('link', { name: 'Notices' }).click()
      await page
        .getByText(/Publishing a notice version needs the permission “Declare purposes and their lawful basis/)
        .waitFor()
      assert.equal(await page.getByRole('button', { name: 'Publish a new version' }).count(), 0)
      await page
        .getByRole('navigation', { name: 'Consent pages' })
        .getByRole('link', { name: 'Subject timeline' })
        .click()
      await page.getByLabel(/^Subject id/).fill(SUBJECT)
      await page.getByRole('button', { name: 'Show timeline' }).click()
      await page.getByText(/Withdrawing on a subject’s behalf needs the permission “Record consent events/).waitFor()
      assert.equal(await page.getByRole('button', { name: /^Withdraw/ }).count(), 0)
      await assertAccessible(page, 'a subject’s timeline, read-only')
    } finally {
      await auditor.close()
    }
    const viewer = await signedIn(world.customer.viewerEmail)
    try {
      const { page } = viewer
      await openConsent(page)
      const refusal = page.getByRole('alert').filter({ hasText: 'consent:read' })
      await refusal.waitFor()
      assert.match(await refusal.innerText(), /cannot/)
      assert.equal(await page.getByRole('button', { name: 'Declare a purpose' }).count(), 0)
      await assertAccessible(page, 'the purposes, refused')
    } finally {
      await viewer.close()
    }
  })
})
