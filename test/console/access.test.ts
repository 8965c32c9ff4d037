import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { ensureBuilt } from '../../scripts/console.ts'
import { PASSWORD } from '../helpers/app.ts'
import {
  ANY_UUID,
  assertAccessible,
  joinCustomer,
  launchChromium,
  openPage,
  openSignedIn,
  refusalAlert,
  signIn,
  startConsoleWorld,
  type ConsoleWorld,
} from '../helpers/console.ts'
import { httpsJson } from '../helpers/process.ts'
import { enrolTotp, totpCode } from '../helpers/totp.ts'

// The console's access pages (members, roles, service accounts, API tokens) and the org
// security policy (issue 12), in Debian's Chromium against a real server on PGlite. Acme's
// owner enrols TOTP through the API and signs in with a code, which counts as step-up.
describe('web console: access and security policy', () => {
  let world: ConsoleWorld
  let browser: Browser
  let context: BrowserContext
  let page: Page
  let csp: string[]
  let base: string
  const newcomer = 'newcomer@acme.test'

  const call = (method: string, url: string, body?: unknown) =>
    httpsJson(world.server.httpsPort, method, url, { token: world.customer.ownerToken, body })

  before(async () => {
    await ensureBuilt()
    world = await startConsoleWorld()
    const { secret } = await enrolTotp(call)
    browser = await launchChromium()
    ;({ context, page, csp } = await openPage(browser))
    base = `${world.origin}/console/orgs/${world.customer.orgId}`
    // The next step's code: the one enrolment used is spent (replay protection).
    await signIn(page, world, world.customer.ownerEmail, { code: totpCode(secret, 1) })
  })
  after(async () => {
    await context?.close()
    await browser?.close()
    await world?.server.stop()
  })

  it('invites a member with the keyboard alone, shows the invitation token once, lists them once joined, suspends them', async () => {
    await page.goto(`${base}/members`)
    await page.getByRole('heading', { name: 'Members', level: 1 }).waitFor()
    await page.getByRole('row').filter({ hasText: world.customer.viewerEmail }).waitFor()
    await assertAccessible(page, 'the members page')
    // Your own row offers neither suspend nor remove (the API refuses both for yourself).
    const own = page.getByRole('row').filter({ hasText: `${world.customer.ownerEmail} (you)` })
    await own.waitFor()
    assert.equal(await own.getByRole('button', { name: /^(Suspend|Remove) / }).count(), 0)

    // Keyboard only: the email field, Tab to the role, Tab to the button, Enter.
    await page.getByLabel('Email').focus()
    await page.keyboard.type(newcomer)
    await page.keyboard.press('Tab')
    assert.ok(await page.getByLabel('Role', { exact: true }).evaluate((el) => el.matches(':focus')), 'Tab reaches Role')
    assert.equal(await page.getByLabel('Role', { exact: true }).inputValue(), 'member')
    await page.keyboard.press('Tab')
    assert.ok(
      await page.getByRole('button', { name: 'Send invitation' }).evaluate((el) => el.matches(':focus')),
      'Tab reaches the submit button',
    )
    await page.keyboard.press('Enter')
    await page
      .getByRole('status')
      .filter({ hasText: `Invitation for ${newcomer}` })
      .waitFor()
    const token = await page.getByLabel('Invitation token').inputValue()
    assert.ok(token.length >= 20, 'the invitation token is shown')
    await page
      .getByRole('table', { name: 'Pending invitations' })
      .getByRole('row')
      .filter({ hasText: newcomer })
      .waitFor()
    await assertAccessible(page, 'the members page with an invitation shown')
    await page.getByRole('button', { name: 'Hide' }).click()
    assert.equal(await page.getByLabel('Invitation token').count(), 0, 'hidden: the token is gone')
    assert.ok(!(await page.content()).includes(token))

    const accepted = await httpsJson(world.server.httpsPort, 'POST', '/v1/invitations/accept', {
      body: { token, password: PASSWORD },
    })
    assert.equal(accepted.status, 201, accepted.text)
    await page.reload()
    const row = page.getByRole('table', { name: 'Members' }).getByRole('row').filter({ hasText: newcomer })
    await row.waitFor()
    assert.match(await row.innerText(), /active/i)

    await page.getByRole('button', { name: `Suspend ${newcomer}` }).click()
    await page
      .getByRole('status')
      .filter({ hasText: `${newcomer} is suspended` })
      .waitFor()
    await row.getByText('suspended').waitFor()
    const listed = await call('GET', `/v1/orgs/${world.customer.orgId}/members`)
    assert.ok(
      listed.body.members.some(
        (m: { email: string; suspendedAt: string | null }) => m.email === newcomer && m.suspendedAt !== null,
      ),
    )
    await page.getByRole('button', { name: `Resume ${newcomer}` }).click()
    await row.getByText('active').waitFor()
  })

  it('creates a custom role with two catalog permissions (each with its meaning) and assigns it', async () => {
    await page.goto(`${base}/roles`)
    await page.getByRole('heading', { name: 'Roles', level: 1 }).waitFor()
    await page.getByRole('row', { name: /^auditor built-in/ }).waitFor()
    const read = page.getByRole('checkbox', { name: 'secrets:read', exact: true })
    await read.waitFor()
    // The meaning comes from GET /v1/permissions.
    await page.getByText('List secrets and their versions (metadata only, never values)', { exact: true }).waitFor()
    await assertAccessible(page, 'the roles page')

    await page.getByLabel(/^Role name/).fill('deployer')
    await page.getByLabel('Role description').fill('Ships releases')
    await read.check()
    await page.getByRole('checkbox', { name: 'secrets:write', exact: true }).check()
    await page.getByRole('button', { name: 'Create role' }).click()
    await page.getByRole('status').filter({ hasText: 'The role deployer is created' }).waitFor()
    const role = page.getByRole('row').filter({ hasText: 'deployer' })
    await role.getByText('2 permissions').waitFor()
    assert.match(await role.innerText(), /custom/i)

    // A name the API refuses: its detail, on the field it names.
    await page.getByLabel(/^Role name/).fill('owner')
    await page.getByRole('checkbox', { name: 'org:read', exact: true }).check()
    await page.getByRole('button', { name: 'Create role' }).click()
    await page.getByRole('alert').filter({ hasText: /owner/ }).waitFor()

    await page.goto(`${base}/members`)
    await page.getByLabel(`Role of ${newcomer}`).selectOption('deployer')
    await page.getByRole('row').filter({ hasText: newcomer }).getByRole('button', { name: 'Save role' }).click()
    await page
      .getByRole('status')
      .filter({ hasText: `${newcomer} is now deployer` })
      .waitFor()
    const listed = await call('GET', `/v1/orgs/${world.customer.orgId}/members`)
    assert.equal(listed.body.members.find((m: { email: string }) => m.email === newcomer).role, 'deployer')
  })

  it('P2.3 changes a custom role in place with the keyboard: the API has the new set, the change is audited', async () => {
    await page.goto(`${base}/roles`)
    const row = page.getByRole('row').filter({ hasText: 'deployer' })
    await row.getByText('2 permissions').waitFor()
    await row.getByRole('button', { name: 'Edit role deployer' }).focus()
    await page.keyboard.press('Enter')
    await page.getByRole('heading', { name: 'Edit role deployer' }).waitFor()
    const description = page.getByLabel('Role description')
    assert.equal(await description.inputValue(), 'Ships releases', 'the editor starts from the role')
    assert.ok(await description.evaluate((el) => el === el.ownerDocument.activeElement), 'focus moves to the editor')
    assert.ok(await page.getByRole('checkbox', { name: 'secrets:write', exact: true }).isChecked())
    await assertAccessible(page, 'the role editor, editing')
    await page.keyboard.press('Control+A')
    await page.keyboard.type('Ships and reads releases')
    // Untick secrets:write with the keyboard: Tab to it, then Space.
    const write = page.getByRole('checkbox', { name: 'secrets:write', exact: true })
    for (let i = 0; i < 80 && !(await write.evaluate((el) => el === el.ownerDocument.activeElement)); i++)
      await page.keyboard.press('Tab')
    await page.keyboard.press('Space')
    await page.getByRole('button', { name: 'Save role' }).focus()
    await page.keyboard.press('Enter')
    await page.getByRole('status').filter({ hasText: 'The role deployer is changed' }).waitFor()
    await row.getByText('1 permissions').waitFor()
    await page.getByRole('heading', { name: 'New custom role' }).waitFor()
    const roles = await call('GET', `/v1/orgs/${world.customer.orgId}/roles`)
    const deployer = roles.body.roles.find((r: { name: string }) => r.name === 'deployer')
    assert.deepEqual(deployer, {
      name: 'deployer',
      builtIn: false,
      description: 'Ships and reads releases',
      permissions: ['secrets:read'],
    })
    const events = await call('GET', `/v1/orgs/${world.customer.orgId}/audit/events?action=role.update`)
    assert.deepEqual(events.body.events[0].details.removed, ['secrets:write'])
    assert.deepEqual(csp, [])
  })

  it('issues an API token shown once in a dialog, gone when it closes, then revokes it', async () => {
    await page.goto(`${base}/tokens`)
    await page.getByRole('heading', { name: 'API tokens', level: 1 }).waitFor()
    await page.getByRole('table', { name: 'API tokens' }).waitFor()
    await assertAccessible(page, 'the tokens page')
    await page.getByLabel(/^Token name/).fill('ci-deploy')
    await page.getByRole('button', { name: 'Issue token' }).click()
    const dialog = page.getByRole('dialog', { name: 'Your new API token' })
    await dialog.waitFor()
    const value = await dialog.getByLabel('API token ci-deploy').inputValue()
    assert.ok(value.length >= 20, 'the token is shown')
    await dialog.getByRole('button', { name: 'Copy token' }).waitFor()
    await assertAccessible(page, 'the tokens page with the new token dialog')
    // The token works: it is the one the API issued.
    const me = await httpsJson(world.server.httpsPort, 'GET', '/v1/me', { token: value })
    assert.equal(me.status, 200)

    await dialog.getByRole('button', { name: 'Done' }).click()
    await dialog.waitFor({ state: 'hidden' })
    assert.ok(!(await page.content()).includes(value), 'the token is gone from the page')
    const stored = await page.evaluate(() =>
      JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)]),
    )
    assert.ok(!stored.includes(value) && !page.url().includes(value), 'in no URL and no storage')
    const row = page.getByRole('row').filter({ hasText: 'ci-deploy' })
    await row.waitFor()
    // The holder by email, never an id or a bare kind.
    await row.getByText(world.customer.ownerEmail).waitFor()
    assert.doesNotMatch(await page.getByRole('table', { name: 'API tokens' }).innerText(), ANY_UUID)

    await page.getByRole('button', { name: 'Revoke token ci-deploy' }).click()
    const confirm = page.getByRole('dialog', { name: 'Revoke this token?' })
    await confirm.getByRole('button', { name: 'Revoke token' }).click()
    await row.getByText('revoked').waitFor()
    const after = await httpsJson(world.server.httpsPort, 'GET', '/v1/me', { token: value })
    assert.equal(after.status, 401)
  })

  it('creates a service account, changes its role, and deletes it after confirming (issue 13)', async () => {
    await page.goto(`${base}/service-accounts`)
    await page.getByRole('heading', { name: 'Service accounts', level: 1 }).waitFor()
    await page.getByText('No service accounts yet.').waitFor()
    await page.getByLabel(/^Service account name/).fill('deploy-bot')
    await page.getByRole('button', { name: 'Create service account' }).click()
    await page.getByRole('row').filter({ hasText: 'deploy-bot' }).waitFor()
    await assertAccessible(page, 'the service accounts page')
    await page.getByRole('combobox', { name: 'Role of deploy-bot' }).selectOption('viewer')
    await page.getByRole('button', { name: 'Save role of deploy-bot' }).click()
    await page.getByText('deploy-bot is now viewer').waitFor()
    const listed = await call('GET', `/v1/orgs/${world.customer.orgId}/service-accounts`)
    assert.equal(listed.body.serviceAccounts.find((a: { name: string }) => a.name === 'deploy-bot').role, 'viewer')
    assert.ok(
      await page.getByRole('button', { name: 'Save role of deploy-bot' }).isDisabled(),
      'saved: nothing to save',
    )
    await page.getByRole('button', { name: 'Delete service account deploy-bot' }).click()
    const confirm = page.getByRole('dialog', { name: 'Delete this service account?' })
    await assertAccessible(page, 'the confirm dialog')
    await confirm.getByRole('button', { name: 'Cancel' }).click()
    assert.equal(await page.getByRole('row').filter({ hasText: 'deploy-bot' }).count(), 1, 'cancel keeps it')
    await page.getByRole('button', { name: 'Delete service account deploy-bot' }).click()
    await confirm.getByRole('button', { name: 'Delete service account' }).click()
    await page.getByText('No service accounts yet.').waitFor()
  })

  it('P2.3 limits a new service account and a new token to secret paths; a bad pattern is shown at the field, nothing made', async () => {
    await page.goto(`${base}/service-accounts`)
    await page.getByRole('heading', { name: 'Service accounts', level: 1 }).waitFor()
    await page.getByLabel(/^Service account name/).fill('payments-bot')
    await page.getByLabel(/^Secret paths/).fill('payments/../hr')
    await page.getByRole('button', { name: 'Create service account' }).click()
    const bad = page.getByLabel(/^Secret paths/)
    await page.locator('textarea[aria-invalid="true"]').waitFor()
    await assertAccessible(page, 'the service accounts page with a refused pattern')
    const none = await call('GET', `/v1/orgs/${world.customer.orgId}/service-accounts`)
    assert.ok(!none.body.serviceAccounts.some((a: { name: string }) => a.name === 'payments-bot'), 'nothing made')
    await bad.fill('payments/*\npayments-eu/stripe/api-key')
    await page.getByRole('button', { name: 'Create service account' }).click()
    const row = page.getByRole('row').filter({ hasText: 'payments-bot' })
    await row.getByText('secrets: payments-eu/stripe/api-key, payments/*').waitFor()
    const listed = await call('GET', `/v1/orgs/${world.customer.orgId}/service-accounts`)
    const made = listed.body.serviceAccounts.find((a: { name: string }) => a.name === 'payments-bot')
    assert.deepEqual(made.secretPaths, ['payments-eu/stripe/api-key', 'payments/*'])

    await page.goto(`${base}/tokens`)
    await page.getByRole('heading', { name: 'API tokens', level: 1 }).waitFor()
    await page.getByLabel(/^Token name/).fill('payments-ci')
    await page.getByLabel(/^Secret paths/).fill('payments/stripe/*')
    await page.getByRole('button', { name: 'Issue token' }).click()
    const dialog = page.getByRole('dialog', { name: 'Your new API token' })
    await dialog.waitFor()
    await dialog.getByRole('button', { name: 'Done' }).click()
    await page.getByRole('row').filter({ hasText: 'payments-ci' }).getByText('secrets: payments/stripe/*').waitFor()
    const tokens = await call('GET', `/v1/orgs/${world.customer.orgId}/tokens`)
    const token = tokens.body.tokens.find((t: { name: string }) => t.name === 'payments-ci')
    assert.deepEqual(token.secretPaths, ['payments/stripe/*'])
    await call('DELETE', `/v1/orgs/${world.customer.orgId}/tokens/${token.id}`)
    await call('DELETE', `/v1/orgs/${world.customer.orgId}/service-accounts/${made.id}`)
  })

  it('P2.9 shows the caller’s address, the API’s self-lockout refusal and a refused range; P3.2 toggles require-2FA', async () => {
    await page.goto(`${base}/security`)
    await page.getByRole('heading', { name: 'Security policy', level: 1 }).waitFor()
    await page.getByText('Your address, as the service sees it: 127.0.0.1').waitFor()
    await page.getByText('Not set up: members sign in with their password.').waitFor()
    await assertAccessible(page, 'the security policy page')

    await page.getByRole('button', { name: 'Add range' }).click()
    await page.getByLabel('Range 1', { exact: true }).fill('203.0.113.0/24')
    await page.getByLabel('Description of range 1').fill('office')
    await page.getByRole('button', { name: 'Save allowlist' }).click()
    const refusal = refusalAlert(page, 'ALLOWLIST_EXCLUDES_CALLER')
    await refusal.waitFor()
    assert.match(await refusal.innerText(), /does not include your own address \(127\.0\.0\.1\)/)
    assert.deepEqual((await call('GET', `/v1/orgs/${world.customer.orgId}/ip-allowlist`)).body.entries, [])

    // A range not in network form: the API's message on the field it names.
    await page.getByLabel('Range 1', { exact: true }).fill('10.1.2.3/8')
    await page.getByRole('button', { name: 'Save allowlist' }).click()
    await refusalAlert(page, 'VALIDATION_FAILED').waitFor()
    assert.equal(await page.getByLabel('Range 1', { exact: true }).getAttribute('aria-invalid'), 'true')
    await page.getByLabel('Range 1', { exact: true }).fill('203.0.113.0/24')

    await page.getByRole('button', { name: 'Add my address' }).click()
    await page.getByRole('button', { name: 'Save allowlist' }).click()
    await page.getByRole('status').filter({ hasText: 'Saved: 2 allowed ranges' }).waitFor()
    const list = await call('GET', `/v1/orgs/${world.customer.orgId}/ip-allowlist`)
    assert.deepEqual(
      list.body.entries.map((e: { cidr: string }) => e.cidr),
      ['203.0.113.0/24', '127.0.0.1/32'],
    )
    await page.getByRole('button', { name: 'Remove range 2' }).click()
    await page.getByRole('button', { name: 'Remove range 1' }).click()
    await page.getByRole('button', { name: 'Save allowlist' }).click()
    await page.getByRole('status').filter({ hasText: 'no allowlist' }).waitFor()

    const toggle = page.getByRole('switch', { name: 'Require two-factor authentication' })
    assert.equal(await toggle.isChecked(), false)
    await toggle.check()
    await page.getByRole('button', { name: 'Save policy' }).click()
    await page.getByRole('status').filter({ hasText: 'two-factor authentication required' }).waitFor()
    assert.equal((await call('GET', `/v1/orgs/${world.customer.orgId}/security-policy`)).body.require2fa, true)
    await toggle.uncheck()
    await page.getByRole('button', { name: 'Save policy' }).click()
    await page.getByRole('status').filter({ hasText: 'two-factor authentication not required' }).waitFor()
    assert.equal((await call('GET', `/v1/orgs/${world.customer.orgId}/security-policy`)).body.require2fa, false)

    // SSO: the API's refusal (an incomplete set-up) is shown as it answered.
    await page.getByLabel(/^Client ID/).fill('client-1')
    await page.getByRole('button', { name: 'Save single sign-on' }).click()
    await refusalAlert(page, 'VALIDATION_FAILED').waitFor()
    await assertAccessible(page, 'the security policy page after refusals')
    assert.deepEqual(csp, [], 'no Content-Security-Policy refusal')
  })

  it('shows a member without the permission the API’s refusal, and no action they cannot take', async () => {
    const {
      page: viewer,
      csp: viewerCsp,
      close: closeViewer,
    } = await openSignedIn(browser, world, world.customer.viewerEmail)
    try {
      await viewer.goto(`${base}/tokens`)
      const tokens = viewer.getByRole('alert').filter({ hasText: 'tokens:read' })
      await tokens.waitFor()
      assert.match(await tokens.innerText(), /You cannot list this org’s API tokens/)
      assert.equal(await viewer.getByRole('button', { name: 'Issue token' }).count(), 0)
      await assertAccessible(viewer, 'the tokens page, refused')

      await viewer.goto(`${base}/service-accounts`)
      await viewer.getByRole('alert').filter({ hasText: 'service_accounts:read' }).waitFor()
      await assertAccessible(viewer, 'the service accounts page, refused')

      await viewer.goto(`${base}/members`)
      await viewer.getByText('Inviting people needs the permission “Invite people to the org”').waitFor()
      assert.equal(await viewer.getByRole('button', { name: 'Send invitation' }).count(), 0)
      assert.equal(await viewer.getByRole('button', { name: `Suspend ${newcomer}` }).count(), 0)
      await assertAccessible(viewer, 'the members page, read only')

      await viewer.goto(`${base}/roles`)
      await viewer
        .getByText('Creating, changing and deleting roles needs the permission “Create and delete custom roles”')
        .waitFor()
      await assertAccessible(viewer, 'the roles page, read only')

      await viewer.goto(`${base}/security`)
      await viewer
        .getByText(/Changing the security policy needs the permission “Change the org’s security policy/)
        .waitFor()
      assert.equal(await viewer.getByRole('button', { name: 'Save allowlist' }).count(), 0)
      assert.ok(await viewer.getByRole('switch', { name: 'Require two-factor authentication' }).isDisabled())
      await assertAccessible(viewer, 'the security policy page, read only')

      // The API itself refuses the viewer's change, whatever the page offers.
      const refused = await viewer.evaluate(async (url) => {
        const r = await fetch(url, {
          method: 'PUT',
          headers: {
            'content-type': 'application/json',
            'x-csrf-token': localStorage.getItem('custodian.csrf') ?? '',
          },
          body: JSON.stringify({ entries: [] }),
        })
        return r.status
      }, `${world.origin}/v1/orgs/${world.customer.orgId}/ip-allowlist`)
      assert.equal(refused, 403)
      assert.deepEqual(viewerCsp, [])
    } finally {
      await closeViewer()
    }
  })

  it('asks for step-up, and shows the API’s STEP_UP_REQUIRED refusal when the prompt is declined', async () => {
    // An admin signs in with a password alone, then enrols TOTP (through an API token): the
    // session is now of an account with a second factor it never passed.
    const email = 'admin2@acme.test'
    const joined = await joinCustomer(world, email, 'admin')
    const { page: admin, close: closeAdmin } = await openSignedIn(browser, world, email)
    try {
      await enrolTotp((method, url, body) =>
        httpsJson(world.server.httpsPort, method, url, { token: joined.apiToken, body }),
      )
      await admin.goto(`${base}/tokens`)
      await admin.getByLabel(/^Token name/).fill('needs-step-up')
      await admin.getByRole('button', { name: 'Issue token' }).click()
      // The console's step-up prompt asks first; declined, the API's refusal is shown.
      const prompt = admin.getByRole('dialog', { name: 'Confirm it is you' })
      await prompt.waitFor()
      await admin.keyboard.press('Escape')
      await prompt.waitFor({ state: 'hidden' })
      const refusal = refusalAlert(admin, 'STEP_UP_REQUIRED')
      await refusal.waitFor()
      assert.match(await refusal.innerText(), /needs a recent second factor \(step-up\)/)
      assert.equal(await admin.getByRole('dialog', { name: 'Your new API token' }).count(), 0)
      await assertAccessible(admin, 'the tokens page with a step-up refusal')
    } finally {
      await closeAdmin()
    }
  })

  it('asks for step-up over a confirm dialog: declined, the refusal shows in the dialog; passed, the member is removed', async () => {
    // As above: an admin whose session has not passed the second factor it now has.
    const email = 'admin3@acme.test'
    const leaver = 'leaver@acme.test'
    const joined: string[] = []
    for (const [who, role] of [
      [email, 'admin'],
      [leaver, 'member'],
    ] as const) {
      joined.push((await joinCustomer(world, who, role)).apiToken)
    }
    const { page: admin, csp: adminCsp, close: closeAdmin } = await openSignedIn(browser, world, email)
    try {
      const { secret } = await enrolTotp((method, url, body) =>
        httpsJson(world.server.httpsPort, method, url, { token: joined[0], body }),
      )
      await admin.goto(`${base}/members`)
      await admin.getByRole('button', { name: `Remove ${leaver}` }).click()
      const confirm = admin.getByRole('dialog', { name: 'Remove this member?' })
      await confirm.getByRole('button', { name: 'Remove member' }).click()
      const prompt = admin.getByRole('dialog', { name: 'Confirm it is you' })
      await prompt.waitFor()
      await assertAccessible(admin, 'the step-up prompt over the confirm dialog')

      // Escape declines the prompt only: the confirm dialog stays, with the API's refusal.
      await admin.keyboard.press('Escape')
      await prompt.waitFor({ state: 'hidden' })
      const refusal = refusalAlert(confirm, 'STEP_UP_REQUIRED')
      await refusal.waitFor()
      assert.match(await refusal.innerText(), /needs a recent second factor \(step-up\)/)

      // Again, and the prompt (on top: it takes the pointer) is answered with a code.
      await confirm.getByRole('button', { name: 'Remove member' }).click()
      await prompt.getByLabel('Authentication code').click()
      await admin.keyboard.type(totpCode(secret, 1))
      await prompt.getByRole('button', { name: 'Confirm' }).click()
      await admin
        .getByRole('status')
        .filter({ hasText: `${leaver} is removed.` })
        .waitFor()
      assert.equal(await confirm.count(), 0, 'the confirm dialog closed once the removal went through')
      const listed = await call('GET', `/v1/orgs/${world.customer.orgId}/members`)
      assert.ok(!listed.body.members.some((m: { email: string }) => m.email === leaver))
      assert.deepEqual(adminCsp, [])
    } finally {
      await closeAdmin()
    }
  })
})
