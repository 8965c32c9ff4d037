import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Browser, Page } from 'playwright-core'
import { ensureBuilt } from '../../scripts/console.ts'
import {
  assertAccessible,
  assertNowhere as assertNowhereIn,
  joinCustomer,
  launchChromium,
  openSignedIn,
  refusalAlert,
  startConsoleWorld,
  type ConsolePage,
  type ConsoleWorld,
} from '../helpers/console.ts'
import { httpsJson } from '../helpers/process.ts'

// The console's Transit keys and Org keys pages (issue 12): create, encrypt, decrypt,
// rotate, rewrap; the org key's rotation and its background rewrap's progress — in
// Debian's Chromium against a real server on PGlite. The rewrap job moves one data key
// every second here, so its progress is seen in several steps.
describe('web console: transit keys and org keys', () => {
  let world: ConsoleWorld
  let browser: Browser
  const memberEmail = 'member@acme.test'
  const auditorEmail = 'auditor@acme.test'
  const plaintext = 'Order 4711 — ship to Zürich, 3 × ✓ (keys test)'
  const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64')

  const call = (method: string, url: string, body?: unknown) =>
    httpsJson(world.server.httpsPort, method, `/v1/orgs/${world.customer.orgId}${url}`, {
      token: world.customer.ownerToken,
      body,
    })

  before(async () => {
    await ensureBuilt()
    world = await startConsoleWorld({ CUSTODIAN_REWRAP_BATCH: '1', CUSTODIAN_REWRAP_INTERVAL_MS: '1000' })
    browser = await launchChromium()
    await joinCustomer(world, memberEmail, 'member')
    await joinCustomer(world, auditorEmail, 'auditor')
    // Data keys under the org key, for its rotation to rewrap.
    for (let i = 0; i < 10; i++) {
      const stored = await call('POST', '/secrets', { name: `app/s${i}`, type: 'generic', value: `value-${i}` })
      assert.equal(stored.status, 201, stored.text)
    }
  })
  after(async () => {
    await browser?.close()
    await world?.server.stop()
  })

  const signedIn = (email: string): Promise<ConsolePage> =>
    openSignedIn(browser, world, email, {
      org: 'Acme',
      setup: (context) => context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: world.origin }),
    })

  async function open(page: Page, link: 'Transit keys' | 'Org keys'): Promise<void> {
    await page.getByRole('navigation', { name: 'Org pages' }).getByRole('link', { name: link }).click()
    await page.getByRole('heading', { level: 1, name: link }).waitFor()
  }

  /** The text (and its base64) is in no page text, no URL and no browser storage. */
  const assertNowhere = (session: ConsolePage, value: string, when: string) =>
    assertNowhereIn(session, value, when, [b64(value)])

  const panel = (page: Page) => page.getByRole('region', { name: 'Encrypt, decrypt, rewrap' })

  it('issue 12: creates a transit key, encrypts text, decrypts it back, rotates, rewraps to the new version; the text is gone once the page is left', async () => {
    const session = await signedIn(world.customer.ownerEmail)
    const { page } = session
    try {
      await open(page, 'Transit keys')
      await page.getByText('No transit keys yet.').waitFor()
      await assertAccessible(page, 'the empty transit keys page')

      // A name the API refuses: its message on the field.
      const form = page.getByRole('region', { name: 'New transit key' })
      await form.getByLabel(/^Key name/).fill('Bad Name')
      await form.getByRole('button', { name: 'Create key' }).click()
      await refusalAlert(form, 'VALIDATION_FAILED').waitFor()
      await form.getByLabel(/^Key name/).fill('orders')
      await form.getByRole('button', { name: 'Create key' }).click()
      await page.getByRole('status').filter({ hasText: 'Key orders is created (version 1).' }).waitFor()
      const row = page.getByRole('table', { name: 'Transit keys' }).getByRole('row').filter({ hasText: 'orders' })
      assert.equal(await row.getByRole('cell').nth(1).innerText(), '1')
      const listed = await call('GET', '/transit/keys')
      assert.deepEqual(
        listed.body.keys.map((k: { name: string; currentVersion: number }) => [k.name, k.currentVersion]),
        [['orders', 1]],
      )

      // Encrypt: the text is sent as base64 of its UTF-8 bytes, and cleared once encrypted.
      const use = panel(page)
      assert.equal(await use.getByLabel('Key').inputValue(), 'orders')
      await use.getByLabel(/^Text to encrypt/).fill(plaintext)
      await use.getByRole('button', { name: 'Encrypt', exact: true }).click()
      await use.getByRole('status').filter({ hasText: 'Encrypted with version 1 of orders.' }).waitFor()
      const v1 = await use.getByLabel('Ciphertext', { exact: true }).inputValue()
      assert.match(v1, /^cst:v1:[A-Za-z0-9_-]+$/)
      assert.equal(await use.getByLabel(/^Text to encrypt/).inputValue(), '', 'cleared once encrypted')
      const opened = await call('POST', '/transit/keys/orders/decrypt', { ciphertext: v1 })
      assert.equal(opened.status, 200, opened.text)
      assert.equal(opened.body.plaintext, b64(plaintext), 'the API decrypts the console’s ciphertext to the text')
      await use.getByRole('button', { name: 'Copy ciphertext' }).click()
      await use.getByRole('button', { name: 'Copied' }).waitFor()
      assert.equal(await page.evaluate('navigator.clipboard.readText()'), v1)

      // Decrypt it back in the page.
      await use.getByLabel(/^Ciphertext to decrypt/).fill(v1)
      await use.getByRole('button', { name: 'Decrypt', exact: true }).click()
      const decrypted = use.getByRole('group', { name: 'Decrypted' })
      await decrypted.getByRole('status').filter({ hasText: 'Decrypted (version 1).' }).waitFor()
      assert.equal(await decrypted.getByLabel('Decrypted text').inputValue(), plaintext)
      await assertAccessible(page, 'the transit keys page with a decrypted text')

      // Another context drops the decrypted text; the API refuses to decrypt under it.
      await use.getByLabel(/^Context/).fill('tenant-42')
      await decrypted.waitFor({ state: 'detached' })
      await use.getByRole('button', { name: 'Decrypt', exact: true }).click()
      const refused = refusalAlert(use, 'DECRYPTION_FAILED').filter({ hasText: 'Not decrypted' })
      await refused.waitFor()
      assert.doesNotMatch(await refused.innerText(), /DECRYPTION_FAILED/, 'the code is not in the words')
      await use.getByLabel(/^Context/).fill('')

      // Rotate, confirmed in a dialog.
      await page.getByRole('button', { name: 'Rotate key orders' }).click()
      const dialog = page.getByRole('dialog', { name: 'Rotate orders?' })
      await dialog.getByText('New encryptions use version 2 at once.').waitFor()
      await assertAccessible(page, 'the rotate dialog')
      await dialog.getByRole('button', { name: 'Rotate key' }).click()
      await page.getByRole('status').filter({ hasText: 'Key orders is rotated: version 2 is current.' }).waitFor()
      await dialog.waitFor({ state: 'detached' })
      await row.getByRole('cell', { name: '2', exact: true }).waitFor()
      assert.equal((await call('GET', '/transit/keys')).body.keys[0].currentVersion, 2)

      // Rewrap the version-1 ciphertext: version 2, and it still decrypts (in the page and through the API).
      await use.getByLabel(/^Ciphertext to rewrap/).fill(v1)
      await use.getByRole('button', { name: 'Rewrap', exact: true }).click()
      await use.getByRole('status').filter({ hasText: 'Rewrapped to version 2 of orders.' }).waitFor()
      const v2 = await use.getByLabel('Rewrapped ciphertext', { exact: true }).inputValue()
      assert.match(v2, /^cst:v2:[A-Za-z0-9_-]+$/)
      const reopened = await call('POST', '/transit/keys/orders/decrypt', { ciphertext: v2 })
      assert.deepEqual([reopened.body.plaintext, reopened.body.version], [b64(plaintext), 2])
      await use.getByLabel(/^Ciphertext to decrypt/).fill(v2)
      await use.getByRole('button', { name: 'Decrypt', exact: true }).click()
      await decrypted.getByRole('status').filter({ hasText: 'Decrypted (version 2).' }).waitFor()
      assert.equal(await decrypted.getByLabel('Decrypted text').inputValue(), plaintext)

      // Leaving the page drops it; coming back shows nothing decrypted.
      await page.getByRole('link', { name: 'Secrets' }).click()
      await page.getByRole('heading', { level: 1, name: 'Secrets' }).waitFor()
      await assertNowhere(session, plaintext, 'after leaving the page')
      await page.goBack()
      await page.getByRole('heading', { level: 1, name: 'Transit keys' }).waitFor()
      assert.equal(await page.getByRole('group', { name: 'Decrypted' }).count(), 0)
      await assertNowhere(session, plaintext, 'after coming back')

      // Audited, with the key and versions, never the data.
      const events = await call('GET', '/audit/events?action=transit.*&limit=50')
      const actions = events.body.events.map((e: { action: string }) => e.action)
      for (const action of [
        'transit.key.create',
        'transit.encrypt',
        'transit.decrypt',
        'transit.key.rotate',
        'transit.rewrap',
      ])
        assert.ok(actions.includes(action), `${action} in the audit log`)
      assert.ok(!events.text.includes(b64(plaintext)), 'no data in the audit log')
      assert.deepEqual(session.csp, [], 'no Content-Security-Policy refusal')
    } finally {
      await session.close()
    }
  })

  it('issue 12: encrypts and decrypts with the keyboard alone', async () => {
    const session = await signedIn(world.customer.ownerEmail)
    const { page } = session
    const text = 'keyboard only — 8812'
    try {
      await open(page, 'Transit keys')
      const use = panel(page)
      const field = use.getByLabel(/^Text to encrypt/)
      await use.getByLabel('Key').waitFor()
      const focused = (locator: ReturnType<Page['getByLabel']>) => locator.evaluate((el) => el.matches(':focus'))
      for (let i = 0; i < 40 && !(await focused(field)); i++) await page.keyboard.press('Tab')
      assert.ok(await focused(field), 'Tab reaches the text to encrypt')
      await page.keyboard.type(text)
      await page.keyboard.press('Tab')
      assert.ok(await focused(use.getByRole('button', { name: 'Encrypt', exact: true })), 'Tab reaches Encrypt')
      await page.keyboard.press('Enter')
      const copy = use.getByRole('button', { name: 'Copy ciphertext' })
      await copy.waitFor()
      assert.ok(await focused(copy), 'focus moves to "Copy ciphertext"')
      await page.keyboard.press('Enter')
      await use.getByRole('button', { name: 'Copied' }).waitFor()
      const ciphertext = String(await page.evaluate('navigator.clipboard.readText()'))
      assert.match(ciphertext, /^cst:v\d+:[A-Za-z0-9_-]+$/)
      await page.keyboard.press('Tab')
      assert.ok(await focused(use.getByLabel(/^Ciphertext to decrypt/)), 'Tab reaches the ciphertext to decrypt')
      await page.keyboard.press('ControlOrMeta+V')
      assert.equal(await use.getByLabel(/^Ciphertext to decrypt/).inputValue(), ciphertext, 'pasted')
      await page.keyboard.press('Tab')
      assert.ok(await focused(use.getByRole('button', { name: 'Decrypt', exact: true })), 'Tab reaches Decrypt')
      await page.keyboard.press('Enter')
      const decrypted = use.getByRole('group', { name: 'Decrypted' })
      await decrypted.waitFor()
      assert.equal(await decrypted.getByLabel('Decrypted text').inputValue(), text)
      const clear = decrypted.getByRole('button', { name: 'Clear' })
      assert.ok(await focused(clear), 'focus moves to "Clear"')
      await page.keyboard.press('Enter')
      await decrypted.waitFor({ state: 'detached' })
      await assertNowhere(session, text, 'after clearing with the keyboard')
      assert.deepEqual(session.csp, [])
    } finally {
      await session.close()
    }
  })

  it('issue 12: rotates the org key and shows the background rewrap’s progress until the API reports the old version retired', async (t) => {
    const before = (await call('GET', '/keys')).body
    assert.equal(before.activeVersion, 1)
    const under1 = before.versions[0].dataKeys as number
    assert.ok(under1 >= 10, `at least the ten secrets are under version 1 (${under1})`)
    const session = await signedIn(world.customer.ownerEmail)
    const { page } = session
    try {
      await open(page, 'Org keys')
      await page.getByText('Active version: 1').waitFor()
      const table = page.getByRole('table', { name: 'Org key versions' })
      // The row whose first cell is the version.
      const version = async (n: number) => {
        const rows = table.getByRole('row')
        for (let i = 1; i < (await rows.count()); i++)
          if ((await rows.nth(i).getByRole('cell').first().innerText()) === String(n)) return rows.nth(i)
        throw new Error(`no row for version ${n}`)
      }
      await (await version(1)).getByText('active').waitFor()
      assert.equal(await (await version(1)).getByRole('cell').nth(2).innerText(), String(under1))
      await assertAccessible(page, 'the org keys page')

      await page.getByRole('button', { name: 'Rotate org key' }).click()
      const dialog = page.getByRole('dialog', { name: 'Rotate the org key?' })
      await dialog.getByText(`Version 2 becomes active at once`).waitFor()
      assert.match(await dialog.innerText(), new RegExp(`The ${under1} data keys under version 1 are rewrapped`))
      await assertAccessible(page, 'the org key rotate dialog')
      await dialog.getByRole('button', { name: 'Rotate org key' }).click()
      await page.getByText('Active version: 2').waitFor()

      // Progress, as GET …/keys answers it, polled by the page until version 1 is retired.
      const progress = page.getByRole('region', { name: 'Rewrap in progress' })
      await progress.waitFor()
      const first = await progress.getByRole('status').innerText()
      const left = /^(\d+) data keys? still under version 1, to rewrap to version 2\.$/.exec(first)
      assert.ok(left !== null, first)
      assert.ok(Number(left[1]) > 0 && Number(left[1]) <= under1, `${first} (${under1} to rewrap at the rotation)`)
      const seen: number[] = []
      const bar = progress.getByRole('progressbar', { name: 'Data keys under version 2' })
      const sample = async () => {
        const now = await bar.getAttribute('aria-valuenow', { timeout: 1000 }).catch(() => null)
        if (now !== null && seen.at(-1) !== Number(now)) seen.push(Number(now))
      }
      await sample()
      await assertAccessible(page, 'the org keys page during the rewrap')
      const complete = page.getByRole('status').filter({ hasText: 'Every data key is under version 2 (0 pending).' })
      for (let i = 0; i < 200 && (await complete.count()) === 0; i++) {
        await sample()
        await page.waitForTimeout(200)
      }
      await complete.waitFor({ timeout: 1000 })
      t.diagnostic(`progress seen: ${seen.join('% → ')}%`)
      assert.ok(seen.length >= 2, `the bar moved while the rewrap ran (${seen.join(', ')})`)
      assert.ok(seen[0] !== undefined && seen[0] < 100, 'it started short of 100%')
      assert.deepEqual(
        seen,
        [...seen].sort((a, b) => a - b),
        'it never went back',
      )
      await complete.getByText(/Version 1 was retired .*; its key material is erased\./).waitFor()
      await progress.waitFor({ state: 'detached' })

      // The page ends as the API reports.
      const after = (await call('GET', '/keys')).body
      assert.deepEqual(
        after.versions.map((v: { version: number; state: string }) => [v.version, v.state]),
        [
          [2, 'active'],
          [1, 'retired'],
        ],
      )
      assert.equal(after.pending, 0)
      await (await version(1)).getByText('retired').waitFor()
      await (await version(2)).getByText('active').waitFor()
      assert.equal(await (await version(2)).getByRole('cell').nth(2).innerText(), String(after.versions[0].dataKeys))
      assert.equal(await (await version(1)).getByRole('cell').nth(2).innerText(), '0')
      await assertAccessible(page, 'the org keys page once the rewrap is complete')

      // The page stopped asking once nothing is retiring.
      const asked = () => session.urls.filter((u) => u.endsWith(`/v1/orgs/${world.customer.orgId}/keys`)).length
      const count = asked()
      await page.waitForTimeout(2500)
      assert.equal(asked(), count, 'no polling once the rewrap is complete')

      const events = await call('GET', '/audit/events?action=org_key.*&limit=50')
      const actions = events.body.events.map((e: { action: string }) => e.action)
      assert.ok(actions.includes('org_key.rotate') && actions.includes('org_key.retire'), actions.join(', '))
      assert.deepEqual(session.csp, [])
    } finally {
      await session.close()
    }
  })

  it('issue 12: a member without keys:read sees the API’s refusal on both pages and no key action', async () => {
    const session = await signedIn(memberEmail)
    const { page } = session
    try {
      await open(page, 'Transit keys')
      const refusal = page.getByRole('alert').filter({ hasText: 'keys:read' })
      await refusal.waitFor()
      assert.match(await refusal.innerText(), /You cannot list this org’s transit keys/)
      assert.equal(await page.getByRole('button', { name: 'Create key' }).count(), 0)
      assert.equal(await page.getByRole('button', { name: 'Encrypt', exact: true }).count(), 0)
      await page.getByText(/your role holds\s+neither/).waitFor()
      await assertAccessible(page, 'the transit keys page refused')

      await open(page, 'Org keys')
      const refused = page.getByRole('alert').filter({ hasText: 'keys:read' })
      await refused.waitFor()
      assert.match(await refused.innerText(), /You cannot see this org’s keys/)
      assert.equal(await page.getByRole('button', { name: 'Rotate org key' }).count(), 0)
      await assertAccessible(page, 'the org keys page refused')
      assert.deepEqual(session.csp, [])
    } finally {
      await session.close()
    }
  })

  it('issue 12: an auditor (keys:read only) sees the keys and versions, and is offered no action', async () => {
    const session = await signedIn(auditorEmail)
    const { page } = session
    try {
      await open(page, 'Transit keys')
      await page.getByRole('table', { name: 'Transit keys' }).getByRole('row').filter({ hasText: 'orders' }).waitFor()
      assert.equal(await page.getByRole('button', { name: /^Rotate key/ }).count(), 0)
      assert.equal(await page.getByRole('button', { name: 'Create key' }).count(), 0)
      assert.equal(await page.getByRole('button', { name: 'Decrypt', exact: true }).count(), 0)
      await page
        .getByText(/Creating and rotating keys needs the permission “Create, rotate and configure named keys/)
        .waitFor()
      await assertAccessible(page, 'the transit keys page, read only')

      await open(page, 'Org keys')
      await page.getByRole('table', { name: 'Org key versions' }).waitFor()
      await page.getByText(/^Active version: \d+$/).waitFor()
      assert.equal(await page.getByRole('button', { name: 'Rotate org key' }).count(), 0)
      await page.getByText(/Rotating needs the permission “Rotate the org’s key/).waitFor()
      // What is not offered, the API refuses this session too (its cookie, its CSRF token).
      const refused = await page.evaluate(async (orgId) => {
        const response = await fetch(`/v1/orgs/${orgId}/keys/rotate`, {
          method: 'POST',
          headers: { 'x-csrf-token': localStorage.getItem('custodian.csrf') ?? '' },
        })
        return { status: response.status, body: (await response.json()) as { permission?: string } }
      }, world.customer.orgId)
      assert.deepEqual([refused.status, refused.body.permission], [403, 'keys:rotate'])
      await assertAccessible(page, 'the org keys page, read only')
      assert.deepEqual(session.csp, [])
    } finally {
      await session.close()
    }
  })
})
