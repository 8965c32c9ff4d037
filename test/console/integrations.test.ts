import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Browser, Locator, Page } from 'playwright-core'
import { ensureBuilt } from '../../scripts/console.ts'
import {
  assertAccessible,
  joinCustomer,
  launchChromium,
  openSignedIn,
  refusalAlert,
  startConsoleWorld,
  type ConsolePage,
  type ConsoleWorld,
} from '../helpers/console.ts'
import { startCluster, type Cluster } from '../helpers/pg-cluster.ts'
import { httpsJson } from '../helpers/process.ts'

// The console's Integrations pages (issue 12): database credentials as data sources — the
// list with status, last check and findings; check now, pause/resume, delete; a source's
// rotation policy, rotate now and rotation history — in Debian's Chromium against a real
// server on PGlite. The credentials point at a throwaway PostgreSQL cluster with SCRAM and
// TLS (test/helpers/pg-cluster.ts, as test/vault/db-rotation.test.ts uses): the machine's
// shared server trusts every password, so it could not show a rotated-out password refused.
describe('web console: integrations', () => {
  let world: ConsoleWorld
  let browser: Browser
  let cluster: Cluster
  const ids = { orders: '', rotator: '', legacy: '' }
  const memberEmail = 'member@acme.test'
  const integratorEmail = 'integrator@acme.test'
  let integratorId: string

  const call = (method: string, url: string, body?: unknown) =>
    httpsJson(world.server.httpsPort, method, url, { token: world.customer.ownerToken, body })
  const org = (path: string) => `/v1/orgs/${world.customer.orgId}${path}`
  const credential = (user: string, password: string) => cluster.credential(user, password)

  async function store(name: string, value: unknown): Promise<string> {
    const stored = await call('POST', org('/secrets'), { name, type: 'database_credential', value })
    assert.equal(stored.status, 201, stored.text)
    return stored.body.id as string
  }

  async function source(name: string): Promise<{ status: string; paused: boolean; lastCheck: { at: string } | null }> {
    const list = await call('GET', org('/data-sources'))
    assert.equal(list.status, 200, list.text)
    return list.body.dataSources.find((s: { name: string }) => s.name === name)
  }

  const invite = async (email: string, role: string) => (await joinCustomer(world, email, role)).userId

  before(async () => {
    cluster = await startCluster()
    // orders_app only logs in and reads; rotator may change other roles' passwords (and so can write).
    await cluster.asSuperuser(
      `CREATE ROLE orders_app LOGIN PASSWORD 'orders-initial-pw'`,
      `CREATE ROLE rotator LOGIN CREATEROLE PASSWORD 'rotator-pw'`,
      `CREATE ROLE legacy LOGIN PASSWORD 'legacy-pw'`,
    )
    await ensureBuilt()
    // The data sources are on loopback: allowed here, as an operator would for a local database.
    world = await startConsoleWorld({ CUSTODIAN_OUTBOUND_ALLOW: '127.0.0.1/32' })
    browser = await launchChromium()
    ids.orders = await store('orders-db', credential('orders_app', 'orders-initial-pw'))
    ids.rotator = await store('rotator-db', credential('rotator', 'rotator-pw'))
    // A password the database refuses: the check finds it unreachable.
    ids.legacy = await store('legacy-db', credential('legacy', 'not-the-password'))
    await invite(memberEmail, 'member')
    const role = await call('POST', org('/roles'), {
      name: 'integrator',
      description: 'Checks and pauses data sources',
      permissions: ['org:read', 'members:read', 'roles:read', 'secrets:read', 'secrets:check', 'secrets:write'],
    })
    assert.equal(role.status, 201, role.text)
    integratorId = await invite(integratorEmail, 'integrator')
  })
  after(async () => {
    await browser?.close()
    await world?.server.stop()
    cluster?.stop()
  })

  async function signedIn(email: string): Promise<ConsolePage> {
    const session = await openSignedIn(browser, world, email, { org: 'Acme' })
    const { page } = session
    await page.getByRole('navigation', { name: 'Org pages' }).getByRole('link', { name: 'Integrations' }).click()
    await page.getByRole('heading', { level: 1, name: 'Integrations' }).waitFor()
    return session
  }

  const row = (page: Page, name: string) =>
    page.getByRole('table', { name: 'Data sources' }).getByRole('row').filter({ hasText: name })
  /** The text of a row's cell under the column `column`. */
  async function cell(page: Page, name: string, column: string): Promise<string> {
    const headers = await page.getByRole('table', { name: 'Data sources' }).getByRole('columnheader').allInnerTexts()
    const index = headers.indexOf(column)
    assert.ok(index >= 0, `column ${column}`)
    return (await row(page, name).getByRole('cell').nth(index).innerText()).trim()
  }
  const localTime = (page: Page, iso: string) => page.evaluate((at) => new Date(at).toLocaleString(), iso)
  const notice = (page: Page, text: string | RegExp) => page.getByRole('status').filter({ hasText: text }).waitFor()

  async function openSource(page: Page, name: string): Promise<void> {
    await page.getByRole('link', { name, exact: true }).click()
    await page.getByRole('heading', { level: 1, name }).waitFor()
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

  it('issue 12: lists real data sources with their status, and Check now shows what a real check found and updates the last check', async () => {
    const { page, csp, close } = await signedIn(world.customer.ownerEmail)
    try {
      await row(page, 'orders-db').waitFor()
      assert.equal(await cell(page, 'orders-db', 'Connection'), `orders_app@127.0.0.1:${cluster.port}/postgres`)
      assert.equal((await cell(page, 'orders-db', 'Status')).toLowerCase(), 'active')
      assert.equal(await cell(page, 'orders-db', 'Last check'), 'never')
      assert.equal(await cell(page, 'orders-db', 'Findings'), 'not checked yet')
      assert.equal((await source('orders-db')).lastCheck, null)
      await assertAccessible(page, 'the data sources list')

      await page.getByRole('button', { name: 'Check now: orders-db' }).click()
      await notice(page, 'Checked. orders-db is reachable over TLS as role orders_app; it cannot write.')
      const first = (await source('orders-db')).lastCheck
      assert.ok(first !== null, 'the API records the check')
      await row(page, 'orders-db').getByText('read-only').waitFor()
      assert.equal(await cell(page, 'orders-db', 'Last check'), await localTime(page, first.at))
      assert.deepEqual((await cell(page, 'orders-db', 'Findings')).toLowerCase().split(/\s+/), [
        'reachable',
        'tls',
        'read-only',
      ])
      await assertAccessible(page, 'the list after a check')

      // Checked again a second later: the last check moves on, in the API and on the page.
      await page.waitForTimeout(1100)
      await page.getByRole('button', { name: 'Check now: orders-db' }).click()
      const shownFirst = await localTime(page, first.at)
      for (let i = 0; i < 100 && (await cell(page, 'orders-db', 'Last check')) === shownFirst; i++)
        await page.waitForTimeout(100)
      const second = (await source('orders-db')).lastCheck
      assert.ok(second !== null && second.at > first.at, 'a later check')
      assert.equal(await cell(page, 'orders-db', 'Last check'), await localTime(page, second.at))

      // A role that can write (CREATEROLE), and a password the database refuses.
      await page.getByRole('button', { name: 'Check now: rotator-db' }).click()
      await notice(page, /rotator-db is reachable over TLS as role rotator; it can write \(.*CREATEROLE/)
      await row(page, 'rotator-db').getByText('can write').waitFor()
      await page.getByRole('button', { name: 'Check now: legacy-db' }).click()
      await notice(page, /legacy-db is unreachable: .*password authentication failed/)
      await row(page, 'legacy-db').getByText('unreachable').waitFor()
      assert.deepEqual(await source('legacy-db').then((s) => s.lastCheck && { ...s.lastCheck, at: 'x' }), {
        at: 'x',
        reachable: false,
        canWrite: null,
        tls: null,
      })
      const checks = await call('GET', org('/audit/events?action=secret.check'))
      assert.equal(checks.body.events.length, 4, 'four checks, each audited')
      assert.ok(!checks.text.includes('not-the-password') && !checks.text.includes('orders-initial-pw'))
      assert.deepEqual(csp, [], 'no Content-Security-Policy refusal')
    } finally {
      await close()
    }
  })

  it('issue 12: pauses and resumes a data source, as the API then says', async () => {
    const { page, csp, close } = await signedIn(world.customer.ownerEmail)
    try {
      await page.getByRole('button', { name: 'Pause orders-db' }).click()
      await notice(page, 'orders-db is paused: every use is refused until it is resumed.')
      assert.equal((await source('orders-db')).status, 'paused')
      assert.equal((await source('orders-db')).paused, true)
      const refused = await call('POST', org(`/secrets/${ids.orders}/reveal`), { reason: 'while paused' })
      assert.equal(refused.body.code, 'SECRET_PAUSED')
      assert.equal((await cell(page, 'orders-db', 'Status')).toLowerCase(), 'paused')
      await assertAccessible(page, 'the list with a paused source')
      await page.getByRole('button', { name: 'Resume orders-db' }).click()
      await notice(page, 'orders-db is resumed: it can be used again.')
      assert.equal((await source('orders-db')).status, 'active')
      assert.equal((await cell(page, 'orders-db', 'Status')).toLowerCase(), 'active')
      assert.deepEqual(csp, [])
    } finally {
      await close()
    }
  })

  it('issue 12 (P1.6): the rotation policy set in the form is what the API answers; Rotate now makes a new version and the old password stops connecting; the history shows it', async () => {
    const { page, csp, close } = await signedIn(world.customer.ownerEmail)
    const orders = ids.orders
    try {
      await openSource(page, 'orders-db')
      assert.match(page.url(), new RegExp(`/console/orgs/${world.customer.orgId}/integrations/${orders}$`))
      await page.getByText('Not rotated automatically: this credential has no rotation policy.').waitFor()
      // The last check's findings, from its audit event.
      const findings = page.getByRole('table', { name: 'Last check findings' })
      await findings.getByRole('row', { name: /Role orders_app/ }).waitFor()
      await findings.getByRole('row', { name: 'Can write no' }).waitFor()
      await page.getByRole('table', { name: 'Rotations' }).waitFor({ state: 'detached' })
      await page.getByText('No rotation yet.').waitFor()
      await assertAccessible(page, 'a data source without a rotation policy')

      // No managing credential chosen: the API's refusal, on the field it names.
      const form = page.getByRole('region', { name: 'Set a rotation policy' })
      await form.getByRole('button', { name: 'Save rotation policy' }).click()
      await refusalAlert(form, 'VALIDATION_FAILED').waitFor()
      assert.equal((await call('GET', org(`/secrets/${orders}/rotation`))).status, 404)
      await assertAccessible(page, 'the rotation form refused')

      await form.getByLabel('Managing credential').selectOption(ids.rotator)
      await form.getByLabel('Rotate every (hours)').fill('48')
      await form.getByLabel('Rotate at once when it is reported exposed').check()
      await form.getByRole('button', { name: 'Save rotation policy' }).click()
      await notice(page, /Rotation policy saved: every 48 hours through rotator-db; next rotation due/)
      const policy = (await call('GET', org(`/secrets/${orders}/rotation`))).body
      assert.equal(policy.managingSecretId, ids.rotator)
      assert.equal(policy.intervalHours, 48)
      assert.equal(policy.rotateOnExposure, true)
      assert.equal(policy.lastStatus, null)
      const shown = page.getByRole('table', { name: 'Rotation policy' })
      await shown.getByRole('row', { name: 'Every 48 hours' }).waitFor()
      await shown.getByRole('row', { name: 'When reported exposed rotated at once' }).waitFor()
      await shown.getByRole('row', { name: `Next rotation due ${await localTime(page, policy.nextDueAt)}` }).waitFor()
      await assertAccessible(page, 'a data source with a rotation policy')

      // Rotate now, confirmed in a dialog.
      await page.getByRole('button', { name: 'Rotate now' }).click()
      const dialog = page.getByRole('dialog', { name: 'Rotate orders-db now?' })
      await dialog.waitFor()
      await assertAccessible(page, 'the rotate-now dialog')
      await dialog.getByRole('button', { name: 'Rotate now' }).click()
      await notice(
        page,
        'orders-db is rotated: version 2 is current, and the role’s previous password no longer connects.',
      )
      const secret = (await call('GET', org(`/secrets/${orders}`))).body
      assert.equal(secret.currentVersion, 2)
      const rotated = (await call('GET', org(`/secrets/${orders}/rotation`))).body
      assert.equal(rotated.lastStatus, 'ok')
      assert.ok(rotated.lastRotatedAt !== null)
      const fresh = (await call('POST', org(`/secrets/${orders}/reveal`), { reason: 'console test: verify rotation' }))
        .body.value.password as string
      assert.notEqual(fresh, 'orders-initial-pw')
      assert.equal(await cluster.canLogIn('orders_app', fresh), true, 'the new password connects')
      assert.equal(
        await cluster.canLogIn('orders_app', 'orders-initial-pw'),
        false,
        'the old password no longer connects',
      )
      assert.ok(!(await page.content()).includes(fresh), 'the password never reaches the page')

      // The history: the audit log's rotation and the version it made.
      const rotations = page.getByRole('table', { name: 'Rotations' })
      await rotations
        .getByRole('row')
        .filter({ hasText: world.customer.ownerEmail })
        .filter({ hasText: 'success' })
        .filter({ hasText: 'version 2' })
        .waitFor()
      assert.doesNotMatch(
        await rotations.innerText(),
        /user:|[0-9a-f]{8}-[0-9a-f]{4}-/i,
        'the actor by email, no id (issue 13)',
      )
      const versions = page.getByRole('table', { name: 'Versions' })
      await versions.getByRole('row').filter({ hasText: '2 (current)' }).waitFor()
      assert.equal(await versions.getByRole('row').count(), 3, 'a header row and versions 2 and 1')
      await page.getByRole('table', { name: 'Connection' }).getByRole('row', { name: 'Current version 2' }).waitFor()

      // A managing credential that cannot connect: the API's 502, shown as it is, and a failed rotation in the history.
      await page
        .getByRole('region', { name: 'Change the rotation policy' })
        .getByLabel('Managing credential')
        .selectOption(ids.legacy)
      await page.getByRole('button', { name: 'Save rotation policy' }).click()
      await notice(page, /through legacy-db/)
      await page.getByRole('button', { name: 'Rotate now' }).click()
      await dialog.getByRole('button', { name: 'Rotate now' }).click()
      const failed = refusalAlert(dialog, 'ROTATION_FAILED')
      await failed.waitFor()
      assert.match(await failed.innerText(), /the managing credential could not change the password/)
      await assertAccessible(page, 'a refused rotation')
      await page.keyboard.press('Escape')
      await dialog.waitFor({ state: 'detached' })
      await rotations.getByRole('row').filter({ hasText: 'failure' }).waitFor()
      await shown
        .getByRole('row', { name: /^Last outcome failed: the managing credential could not change the password/ })
        .waitFor()
      await shown.getByRole('row', { name: 'Failures in a row 1' }).waitFor()
      assert.equal((await call('GET', org(`/secrets/${orders}`))).body.currentVersion, 2, 'the current version stays')
      assert.equal(await cluster.canLogIn('orders_app', fresh), true, 'and its password still connects')

      // Remove the policy, confirmed.
      await page.getByRole('button', { name: 'Remove rotation policy' }).click()
      const remove = page.getByRole('dialog', { name: 'Stop rotating orders-db?' })
      await remove.waitFor()
      await assertAccessible(page, 'the remove-policy dialog')
      await remove.getByRole('button', { name: 'Remove rotation policy' }).click()
      await notice(page, 'orders-db is no longer rotated automatically.')
      await page.getByText('Not rotated automatically: this credential has no rotation policy.').waitFor()
      assert.equal((await call('GET', org(`/secrets/${orders}/rotation`))).status, 404)
      assert.deepEqual(csp, [])
    } finally {
      await close()
    }
  })

  it('issue 12: the main flow with the keyboard alone — check now, open a source, set its policy, rotate now', async () => {
    const { page, csp, close } = await signedIn(world.customer.ownerEmail)
    const orders = ids.orders
    try {
      const check = page.getByRole('button', { name: 'Check now: orders-db' })
      await tabTo(page, check)
      await page.keyboard.press('Enter')
      await notice(page, 'Checked. orders-db is reachable over TLS as role orders_app; it cannot write.')

      await tabTo(page, page.getByRole('link', { name: 'orders-db', exact: true }), 'Shift+Tab')
      await page.keyboard.press('Enter')
      await page.getByRole('heading', { level: 1, name: 'orders-db' }).waitFor()

      const form = page.getByRole('region', { name: 'Set a rotation policy' })
      await tabTo(page, form.getByLabel('Managing credential'))
      await page.keyboard.type('rotator') // a closed native select picks by typing
      assert.equal(await form.getByLabel('Managing credential').inputValue(), ids.rotator)
      await page.keyboard.press('Tab')
      await page.keyboard.press('ControlOrMeta+a')
      await page.keyboard.type('12')
      await page.keyboard.press('Enter')
      await notice(page, /Rotation policy saved: every 12 hours through rotator-db/)
      const policy = (await call('GET', org(`/secrets/${orders}/rotation`))).body
      assert.equal(policy.intervalHours, 12)
      assert.equal(policy.rotateOnExposure, false)

      const versionBefore = (await call('GET', org(`/secrets/${orders}`))).body.currentVersion as number
      await tabTo(page, page.getByRole('button', { name: 'Rotate now' }), 'Shift+Tab')
      await page.keyboard.press('Enter')
      const dialog = page.getByRole('dialog', { name: 'Rotate orders-db now?' })
      await dialog.waitFor()
      await tabTo(page, dialog.getByRole('button', { name: 'Rotate now' }))
      await page.keyboard.press('Enter')
      await notice(page, /orders-db is rotated: version \d+ is current/)
      const versionAfter = (await call('GET', org(`/secrets/${orders}`))).body.currentVersion as number
      assert.ok(versionAfter > versionBefore, 'a new current version')
      await notice(page, `orders-db is rotated: version ${versionAfter} is current`)

      // Delete with the keyboard, then Escape: nothing is deleted.
      await tabTo(page, page.getByRole('button', { name: 'Delete orders-db' }), 'Shift+Tab')
      await page.keyboard.press('Enter')
      await page.getByRole('dialog', { name: 'Delete orders-db?' }).waitFor()
      await page.keyboard.press('Escape')
      await page.getByRole('dialog', { name: 'Delete orders-db?' }).waitFor({ state: 'detached' })
      assert.equal((await call('GET', org(`/secrets/${orders}`))).status, 200)
      assert.deepEqual(csp, [])
    } finally {
      await close()
    }
  })

  it('issue 12: a database credential is stored from the Secrets page form, field by field, and listed as a data source', async () => {
    const { page, csp, close } = await signedIn(world.customer.ownerEmail)
    try {
      await page.getByRole('navigation', { name: 'Org pages' }).getByRole('link', { name: 'Secrets' }).click()
      const form = page.getByRole('region', { name: 'New secret' })
      await form.getByLabel(/^Name/).fill('reports-db')
      await form.getByLabel('Type').selectOption('database_credential')
      await form.getByLabel(/^Host/).fill('127.0.0.1')
      await form.getByLabel(/^Port/).fill('not-a-port')
      await form.getByLabel(/^Database/).fill('postgres')
      await form.getByLabel(/^User/).fill('orders_app')
      await form.getByLabel(/^Password/).fill('orders-initial-pw')
      await assertAccessible(page, 'the new secret form for a database credential')
      // A port that is not a number: the API's refusal, on the field it names.
      await form.getByRole('button', { name: 'Store secret' }).click()
      const port = form.getByLabel(/^Port/)
      await form.locator('[aria-invalid="true"]').first().waitFor()
      assert.equal(await port.getAttribute('aria-invalid'), 'true', 'the refused field is marked')
      assert.equal((await source('reports-db')) ?? null, null, 'nothing stored')
      await port.fill(String(cluster.port))
      await form.getByRole('button', { name: 'Store secret' }).click()
      await page.getByRole('link', { name: 'reports-db' }).waitFor()
      assert.equal(await form.getByLabel(/^Password/).inputValue(), '', 'the password is cleared once stored')
      const listed = await source('reports-db')
      assert.equal(listed.status, 'active')
      const secrets = await call('GET', org('/secrets?limit=500'))
      const stored = secrets.body.secrets.find((x: { name: string }) => x.name === 'reports-db')
      assert.equal(stored.type, 'database_credential')
      assert.doesNotMatch(JSON.stringify(secrets.body), /orders-initial-pw/, 'never the password')
      assert.deepEqual(csp, [])
    } finally {
      await close()
    }
  })

  it('issue 12: deletes a data source after the confirmation; a managing credential still in use is refused in the dialog', async () => {
    const orders = ids.orders
    const rotator = ids.rotator
    const set = await call('PUT', org(`/secrets/${orders}/rotation`), { managingSecretId: rotator, intervalHours: 24 })
    assert.equal(set.status, 200, set.text)
    const { page, csp, close } = await signedIn(world.customer.ownerEmail)
    try {
      await page.getByRole('button', { name: 'Delete rotator-db' }).click()
      const dialog = page.getByRole('dialog', { name: 'Delete rotator-db?' })
      await dialog.waitFor()
      await assertAccessible(page, 'the delete dialog')
      await dialog.getByRole('button', { name: 'Cancel' }).click()
      await dialog.waitFor({ state: 'detached' })
      assert.equal((await call('GET', org(`/secrets/${rotator}`))).status, 200, 'cancel deletes nothing')

      // Still the managing credential of orders-db's policy: the API's 409, shown in the dialog.
      await page.getByRole('button', { name: 'Delete rotator-db' }).click()
      await dialog.getByRole('button', { name: 'Delete data source' }).click()
      const refused = dialog.getByRole('alert')
      await refused.waitFor()
      assert.match(await refused.innerText(), /rotator-db manages the rotation of orders-db/)
      await assertAccessible(page, 'the delete dialog, refused')
      await dialog.getByRole('button', { name: 'Cancel' }).click()
      assert.equal((await call('GET', org(`/secrets/${orders}/rotation`))).status, 200, 'the policy stays')
      assert.equal((await call('DELETE', org(`/secrets/${orders}/rotation`))).status, 204)

      await page.getByRole('button', { name: 'Delete rotator-db' }).click()
      await dialog.getByRole('button', { name: 'Delete data source' }).click()
      await notice(page, 'rotator-db is deleted.')
      await row(page, 'rotator-db').waitFor({ state: 'detached' })
      assert.equal((await call('GET', org(`/secrets/${rotator}`))).status, 404)
      assert.equal((await source('rotator-db')) ?? null, null)
      const deleted = await call('GET', org(`/audit/events?action=secret.delete&target=${rotator}`))
      assert.equal(deleted.body.events.length, 1)
      assert.deepEqual(csp, [])
    } finally {
      await close()
    }
  })

  it('issue 12: without secrets:read the list is the API’s refusal; a member sees no actions and the audit refusal for the history; a refusal after a role change is shown as it is', async () => {
    const viewer = await signedIn(world.customer.viewerEmail)
    try {
      const refusal = viewer.page.getByRole('alert').filter({ hasText: 'secrets:read' })
      await refusal.waitFor()
      assert.match(await refusal.innerText(), /You cannot list this org’s data sources/)
      await assertAccessible(viewer.page, 'the refused list')
      assert.deepEqual(viewer.csp, [])
    } finally {
      await viewer.close()
    }

    const member = await signedIn(memberEmail)
    const { page } = member
    try {
      await row(page, 'orders-db').waitFor()
      for (const name of ['Check now: orders-db', 'Pause orders-db', 'Delete orders-db'])
        assert.equal(await page.getByRole('button', { name }).count(), 0, `no ${name}`)
      assert.equal(await page.getByRole('columnheader', { name: 'Actions' }).count(), 0)
      await assertAccessible(page, 'the list for a member')
      await openSource(page, 'orders-db')
      await page.getByRole('table', { name: 'Connection' }).waitFor()
      assert.equal(await page.getByRole('button', { name: 'Rotate now' }).count(), 0)
      assert.equal(await page.getByRole('region', { name: /rotation policy/ }).count(), 0)
      const history = page.getByRole('alert').filter({ hasText: 'You cannot read the rotation history' })
      await history.waitFor()
      assert.match(await history.innerText(), /audit:read/)
      await page.getByRole('alert').filter({ hasText: 'You cannot read the last check’s findings' }).waitFor()
      await page.getByRole('table', { name: 'Versions' }).waitFor()
      await assertAccessible(page, 'a data source for a member')
      assert.deepEqual(member.csp, [])
    } finally {
      await member.close()
    }

    // The integrator's buttons are offered; their role is then taken down to member: the API refuses.
    const integrator = await signedIn(integratorEmail)
    try {
      await integrator.page.getByRole('button', { name: 'Check now: orders-db' }).waitFor()
      const changed = await call('PATCH', org(`/members/${integratorId}`), { role: 'member' })
      assert.equal(changed.status, 200, changed.text)
      await integrator.page.getByRole('button', { name: 'Check now: orders-db' }).click()
      const refused = integrator.page.getByRole('alert').filter({ hasText: 'Not checked: orders-db' })
      await refused.waitFor()
      assert.match(await refused.innerText(), /secrets:check/)
      await integrator.page.getByRole('button', { name: 'Pause orders-db' }).click()
      await integrator.page.getByRole('alert').filter({ hasText: 'Not paused: orders-db' }).waitFor()
      assert.equal((await source('orders-db')).status, 'active', 'nothing was paused')
      await assertAccessible(integrator.page, 'an action refused by the API')
      assert.deepEqual(integrator.csp, [])
    } finally {
      await integrator.close()
    }
  })
})
