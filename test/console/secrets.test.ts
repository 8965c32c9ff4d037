import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Browser, Page } from 'playwright-core'
import { ensureBuilt } from '../../scripts/console.ts'
import {
  ANY_UUID,
  assertAccessible,
  assertNowhere,
  joinCustomer,
  launchChromium,
  openSignedIn,
  refusalAlert,
  startConsoleWorld,
  type ConsolePage,
  type ConsoleWorld,
} from '../helpers/console.ts'
import { httpsJson } from '../helpers/process.ts'

// The console's Secrets pages (issue 12): detail, versions, reveal with a reason, new
// version, report exposed, pause/resume, destroy a version, delete, list filters — in
// Debian's Chromium against a real server on PGlite.
describe('web console: secrets', () => {
  let world: ConsoleWorld
  let browser: Browser
  const memberEmail = 'member@acme.test'

  before(async () => {
    await ensureBuilt()
    world = await startConsoleWorld()
    browser = await launchChromium()
    // A member: secrets:read and secrets:report, not vault:reveal, write or delete.
    await joinCustomer(world, memberEmail, 'member')
  })
  after(async () => {
    await browser?.close()
    await world?.server.stop()
  })

  const signedIn = (email: string, options: { clock?: boolean } = {}): Promise<ConsolePage> =>
    openSignedIn(browser, world, email, {
      org: 'Acme',
      setup: async (context) => {
        await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: world.origin })
        if (options.clock === true) await context.clock.install()
      },
    })

  async function createSecret(page: Page, name: string, value: string, type = 'generic'): Promise<void> {
    const form = page.getByRole('region', { name: 'New secret' })
    await form.getByLabel(/^Name/).fill(name)
    await form.getByLabel('Type').selectOption(type)
    await form.getByLabel(/^Value/).fill(value)
    await form.getByRole('button', { name: 'Store secret' }).click()
    await page
      .getByRole('status')
      .filter({ hasText: `${name} is stored` })
      .waitFor()
  }

  async function openSecret(page: Page, name: string): Promise<void> {
    await page.getByRole('link', { name }).click()
    await page.getByRole('heading', { level: 1, name }).waitFor()
  }

  async function reveal(page: Page, reason: string): Promise<void> {
    const panel = page.getByRole('region', { name: 'Reveal the value' })
    await panel.getByLabel(/^Reason/).fill(reason)
    await panel.getByRole('button', { name: 'Reveal', exact: true }).click()
  }

  it('P1.2 creates, opens, stores a new version, lists versions, reveals with a reason and hides the value again', async () => {
    const session = await signedIn(world.customer.ownerEmail)
    const { page } = session
    try {
      const first = 'db-password-version-one-4417'
      const second = 'db-password-version-two-9052'
      await createSecret(page, 'app/db-password', first)
      await openSecret(page, 'app/db-password')
      assert.match(page.url(), new RegExp(`/console/orgs/${world.customer.orgId}/secrets/[0-9a-f-]{36}$`))
      await assertAccessible(page, 'the secret detail page')

      await page.getByLabel(/^New value/).fill(second)
      await page.getByRole('button', { name: 'Store new version' }).click()
      await page.getByRole('status').filter({ hasText: 'Version 2 is stored and current.' }).waitFor()
      assert.equal(await page.getByLabel(/^New value/).inputValue(), '', 'the new value is cleared once stored')
      const versions = page.getByRole('table', { name: 'Versions' })
      await versions.getByRole('row').filter({ hasText: '2 (current)' }).waitFor()
      assert.equal(await versions.getByRole('row').count(), 3, 'a header row and versions 2 and 1')
      // Who made each version, by email: never "user:<id>".
      const versionsText = await versions.innerText()
      assert.ok(versionsText.includes(world.customer.ownerEmail), versionsText)
      assert.doesNotMatch(versionsText, ANY_UUID)
      assert.doesNotMatch(versionsText, /user:/)

      // A reason too short: the API's refusal, nothing revealed.
      await reveal(page, 'x')
      await refusalAlert(page, 'VALIDATION_FAILED').waitFor()

      await reveal(page, 'console test: checking the rotated password')
      const shown = page.getByRole('group', { name: 'Revealed value' })
      await shown.waitFor()
      assert.match(await shown.getByRole('timer').innerText(), /Hidden in \d+ s/)
      assert.ok(!(await page.content()).includes(second), 'masked until asked')
      await page.getByRole('button', { name: 'Show value' }).click()
      await shown.getByText(second).waitFor()
      await assertAccessible(page, 'the detail page with a revealed value')
      await page.getByRole('button', { name: 'Copy value' }).click()
      await page.getByRole('button', { name: 'Copied' }).waitFor()
      assert.equal(await page.evaluate('navigator.clipboard.readText()'), second)
      await page.getByRole('button', { name: 'Hide now' }).click()
      await shown.waitFor({ state: 'detached' })
      await assertNowhere(session, second, 'after hiding')

      // An older version, by number.
      await page.getByRole('textbox', { name: 'Version' }).fill('1')
      await reveal(page, 'console test: the version before rotation')
      await page.getByRole('button', { name: 'Show value' }).click()
      await page.getByRole('group', { name: 'Revealed value' }).getByText(first).waitFor()
      // Leaving the page clears it; coming back shows no value.
      await page.getByRole('link', { name: '← All secrets' }).click()
      await page.getByRole('heading', { level: 1, name: 'Secrets' }).waitFor()
      await page.goBack()
      await page.getByRole('heading', { level: 1, name: 'app/db-password' }).waitFor()
      assert.equal(await page.getByRole('group', { name: 'Revealed value' }).count(), 0)
      await assertNowhere(session, first, 'after a route change')
      assert.deepEqual(session.csp, [], 'no Content-Security-Policy refusal')
    } finally {
      await session.close()
    }
  })

  it('P1.2 a revealed value is cleared when its countdown ends', async () => {
    const session = await signedIn(world.customer.ownerEmail, { clock: true })
    const { page } = session
    try {
      const value = 'countdown-value-7731-abc'
      await createSecret(page, 'app/countdown', value)
      await openSecret(page, 'app/countdown')
      await reveal(page, 'console test: countdown')
      await page.getByRole('button', { name: 'Show value' }).click()
      const shown = page.getByRole('group', { name: 'Revealed value' })
      await shown.getByText(value).waitFor()
      await page.clock.runFor(10_000)
      // 30 s less the 10 run, less the real seconds a loaded machine lets pass meanwhile
      // (the page's clock also runs with real time): at most 20, and still counting.
      const left = Number(/Hidden in (\d+) s/.exec(await shown.getByRole('timer').innerText())?.[1])
      assert.ok(left >= 1 && left <= 20, `the countdown ran the 10 s: ${left} s left`)
      await page.clock.runFor(21_000)
      await shown.waitFor({ state: 'detached' })
      await assertNowhere(session, value, 'after the countdown')
      assert.deepEqual(session.csp, [])
    } finally {
      await session.close()
    }
  })

  it('reveals with the keyboard alone: Tab to the reason, Enter, Enter to show, Tab to hide', async () => {
    const session = await signedIn(world.customer.ownerEmail)
    const { page } = session
    try {
      const value = 'keyboard-value-5521-xyz'
      await createSecret(page, 'app/keyboard', value)
      await openSecret(page, 'app/keyboard')
      const reasonField = page.getByRole('region', { name: 'Reveal the value' }).getByLabel(/^Reason/)
      for (let i = 0; i < 30 && !(await reasonField.evaluate((el) => el.matches(':focus'))); i++)
        await page.keyboard.press('Tab')
      assert.ok(await reasonField.evaluate((el) => el.matches(':focus')), 'Tab reaches the reason')
      await page.keyboard.type('console test: keyboard only')
      await page.keyboard.press('Enter')
      const show = page.getByRole('button', { name: 'Show value' })
      await show.waitFor()
      assert.ok(await show.evaluate((el) => el.matches(':focus')), 'focus moves to "Show value"')
      await page.keyboard.press('Enter')
      await page.getByRole('group', { name: 'Revealed value' }).getByText(value).waitFor()
      await page.keyboard.press('Tab') // Copy value
      await page.keyboard.press('Tab') // Hide now
      assert.ok(await page.getByRole('button', { name: 'Hide now' }).evaluate((el) => el.matches(':focus')))
      await page.keyboard.press('Enter')
      await page.getByRole('group', { name: 'Revealed value' }).waitFor({ state: 'detached' })
      await assertNowhere(session, value, 'after hiding with the keyboard')
    } finally {
      await session.close()
    }
  })

  it('P1.5 reports exposed, pauses and resumes, destroys a version and deletes, each confirmed in a dialog', async () => {
    const session = await signedIn(world.customer.ownerEmail)
    const { page } = session
    try {
      await createSecret(page, 'app/lifecycle', 'lifecycle-value-1')
      await openSecret(page, 'app/lifecycle')
      await page.getByLabel(/^New value/).fill('lifecycle-value-2')
      await page.getByRole('button', { name: 'Store new version' }).click()
      await page.getByRole('status').filter({ hasText: 'Version 2 is stored' }).waitFor()

      // Pause: reveal is refused with the API's reason; resume.
      await page.getByRole('button', { name: 'Pause', exact: true }).click()
      await page.getByRole('status').filter({ hasText: 'Paused' }).waitFor()
      await page.getByText('paused', { exact: true }).waitFor()
      await reveal(page, 'console test: while paused')
      const paused = page.getByRole('alert').filter({ hasText: 'Not revealed' })
      await paused.waitFor()
      assert.match(await paused.innerText(), /paused/i)
      await page.getByRole('button', { name: 'Resume' }).click()
      await page.getByRole('status').filter({ hasText: 'Resumed' }).waitFor()

      // Report exposed: a dialog asks for the reason; Escape cancels it.
      await page.getByRole('button', { name: 'Report exposed' }).click()
      let dialog = page.getByRole('dialog', { name: 'Report app/lifecycle exposed?' })
      await dialog.waitFor()
      await assertAccessible(page, 'the report-exposed dialog')
      await page.keyboard.press('Escape')
      await dialog.waitFor({ state: 'detached' })
      await page.getByRole('button', { name: 'Report exposed' }).click()
      await dialog.getByLabel(/^Reason/).fill('pasted into a public chat')
      await dialog.getByRole('button', { name: 'Report exposed' }).click()
      await page.getByRole('status').filter({ hasText: 'Reported exposed' }).waitFor()
      await page.getByRole('table', { name: 'Versions' }).getByText('exposed').first().waitFor()
      await reveal(page, 'console test: after the report')
      await page.getByRole('alert').filter({ hasText: 'Not revealed' }).waitFor()

      // Destroy version 1 (keyboard: Enter on the button, Tab to confirm).
      await page.getByRole('button', { name: 'Destroy version 1' }).focus()
      await page.keyboard.press('Enter')
      dialog = page.getByRole('dialog', { name: 'Destroy version 1?' })
      await dialog.waitFor()
      await assertAccessible(page, 'the destroy-version dialog')
      await dialog.getByRole('button', { name: 'Destroy version' }).click()
      await page.getByRole('status').filter({ hasText: 'Version 1 is destroyed.' }).waitFor()
      // Newest first: version 1 is the last row.
      await page.getByRole('table', { name: 'Versions' }).getByRole('row').last().getByText('destroyed').waitFor()
      await page.getByRole('button', { name: 'Destroy version 1' }).waitFor({ state: 'detached' })

      // Delete: confirmed, then back to the list without it.
      await page.getByRole('button', { name: 'Delete secret' }).click()
      dialog = page.getByRole('dialog', { name: 'Delete app/lifecycle?' })
      await dialog.waitFor()
      await assertAccessible(page, 'the delete dialog')
      // A confirmation's focus starts on Cancel (the safe choice), never on the Close button.
      await dialog.getByRole('button', { name: 'Cancel' }).and(page.locator(':focus')).waitFor()
      await dialog.getByRole('button', { name: 'Delete secret' }).click()
      await page.getByRole('heading', { level: 1, name: 'Secrets' }).waitFor()
      await page.getByRole('table', { name: 'Secrets' }).waitFor()
      await page.getByRole('link', { name: 'app/lifecycle' }).waitFor({ state: 'detached' })
      assert.deepEqual(session.csp, [])
    } finally {
      await session.close()
    }
  })

  it('filters the loaded list by type, paused and exposed, and says what it filters', async () => {
    const session = await signedIn(world.customer.ownerEmail)
    const { page } = session
    try {
      await createSecret(page, 'filter/api', 'filter-api-value', 'api_key')
      await createSecret(page, 'filter/paused', 'filter-paused-value')
      await openSecret(page, 'filter/paused')
      await page.getByRole('button', { name: 'Pause', exact: true }).click()
      await page.getByRole('status').filter({ hasText: 'Paused' }).waitFor()
      await page.getByRole('link', { name: '← All secrets' }).click()
      await page.getByText(/Search and filters apply to the \d+ secrets of this org/).waitFor()
      // The list first shows its cached page (stale-while-revalidate), then the refetch with
      // the pause: filter only once the row says paused.
      await page
        .getByRole('table', { name: 'Secrets' })
        .getByRole('row')
        .filter({ hasText: 'filter/paused' })
        .getByText('paused', { exact: true })
        .waitFor()
      const filters = page.getByRole('group', { name: 'Filters' })
      const names = async () =>
        (await page.getByRole('table', { name: 'Secrets' }).getByRole('link').allInnerTexts()).sort()

      await filters.getByLabel('Type').selectOption('api_key')
      assert.deepEqual(await names(), ['filter/api'])
      await filters.getByLabel('Type').selectOption('any')
      await filters.getByLabel('Paused').selectOption('yes')
      assert.deepEqual(await names(), ['filter/paused'])
      await filters.getByLabel('Paused').selectOption('any')
      await page.getByLabel('Search by name').fill('filter/')
      await filters.getByLabel('Exposed').selectOption('no')
      assert.deepEqual(await names(), ['filter/api', 'filter/paused'])
      await filters.getByLabel('Exposed').selectOption('yes')
      await page.getByText('No secret matches.').waitFor()
      await assertAccessible(page, 'the secrets list with filters')
    } finally {
      await session.close()
    }
  })

  it('shows a member without vault:reveal the API’s refusal on reveal, and no write actions', async () => {
    await httpsJson(world.server.httpsPort, 'POST', `/v1/orgs/${world.customer.orgId}/secrets`, {
      token: world.customer.ownerToken,
      body: { name: 'shared/readonly', type: 'generic', value: 'member-cannot-see-this' },
    })
    const session = await signedIn(memberEmail)
    const { page } = session
    try {
      await openSecret(page, 'shared/readonly')
      assert.equal(await page.getByRole('button', { name: 'Store new version' }).count(), 0)
      assert.equal(await page.getByRole('button', { name: 'Delete secret' }).count(), 0)
      assert.equal(await page.getByRole('button', { name: 'Pause', exact: true }).count(), 0)
      await page.getByRole('button', { name: 'Report exposed' }).waitFor()
      await reveal(page, 'console test: a member tries')
      const refusal = page.getByRole('alert').filter({ hasText: 'vault:reveal' })
      await refusal.waitFor()
      assert.match(await refusal.innerText(), /Not revealed/)
      assert.equal(await page.getByRole('group', { name: 'Revealed value' }).count(), 0)
      await assertAccessible(page, 'the detail page with a refused reveal')
      assert.deepEqual(session.csp, [])
    } finally {
      await session.close()
    }
  })
})
