import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { ensureBuilt } from '../../scripts/console.ts'
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
import { startHttpsReceiver } from '../helpers/https-receiver.ts'
import { httpsJson } from '../helpers/process.ts'
import { startSmtpServer } from '../helpers/smtp-server.ts'
import { enrolTotp, totpCode, unusedTotpCode } from '../helpers/totp.ts'

interface NotificationRow {
  id: string
  subject: string
  recipient: string
  status: string
  attempts: number
  lastError: string | null
}
interface DeliveryRow {
  webhook: string
  status: string
  lastStatus: number | null
}
interface OrgRow {
  id: string
  name: string
  kind: string
  region: string | null
  createdAt: string
  members: number
  serviceAccounts: number
  audit: { headSeq: number; unchained: number; lastCheckpointAt: string | null; lastEventAt: string | null }
}

// The console's notifications page (the session's own, the org's outbox, webhooks and their
// deliveries) and the operators' overview (issue 12), in Debian's Chromium against a real
// server on PGlite, a real SMTP server (the first message to each address is refused with
// 451, and a mail gets one attempt: that first one fails, the next are delivered) and a
// real HTTPS receiver for webhooks on 127.0.0.1 (/down answers 500; a delivery gets one
// attempt). Notifications come from real actions: secrets reported exposed.
describe('web console: notifications and the operator overview', () => {
  let world: ConsoleWorld
  let browser: Browser
  let context: BrowserContext
  let page: Page
  let csp: string[]
  let base: string
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>
  let receiver: Awaited<ReturnType<typeof startHttpsReceiver>>
  let hookBase: string
  let adminId: string
  const adminEmail = 'admin@acme.test'

  const call = (method: string, url: string, body?: unknown, token = world.customer.ownerToken) =>
    httpsJson(world.server.httpsPort, method, url, { token, body })
  const org = () => `/v1/orgs/${world.customer.orgId}`

  /** Polls `read` until it answers something, or fails naming `what`. */
  async function until<T>(what: string, read: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
    const deadline = Date.now() + ms
    for (;;) {
      const value = await read()
      if (value !== undefined) return value
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }

  /** The org's outbox, once no notification in it is pending any more. */
  async function settledOutbox(count: number): Promise<NotificationRow[]> {
    return until(`${count} settled notifications`, async () => {
      const list = (await call('GET', `${org()}/notifications?limit=500`)).body.notifications as NotificationRow[]
      return list.length === count && list.every((n) => n.status !== 'pending') ? list : undefined
    })
  }

  /** A real action that notifies: a new secret reported exposed (its creator and the org's owners and admins). */
  async function reportExposed(name: string): Promise<void> {
    const created = await call('POST', `${org()}/secrets`, { name, type: 'generic', value: 'example-value' })
    assert.equal(created.status, 201, created.text)
    const reported = await call('POST', `${org()}/secrets/${created.body.id}/report-exposed`, {
      reason: 'pasted into a public chat channel',
    })
    assert.equal(reported.status, 200, reported.text)
    assert.equal(reported.body.notified, 2, 'the owner and the admin')
  }

  before(async () => {
    await ensureBuilt()
    const dir = mkdtempSync(path.join(tmpdir(), 'custodian-console-notify-'))
    smtp = await startSmtpServer({ caFile: path.join(dir, 'smtp.pem'), mode: 'starttls', rejectFirst: true })
    receiver = await startHttpsReceiver(path.join(dir, 'hook.pem'), (received) =>
      received.path === '/down' ? 500 : 200,
    )
    hookBase = `https://127.0.0.1:${new URL(receiver.url).port}`
    const bundle = path.join(dir, 'bundle.pem')
    writeFileSync(
      bundle,
      `${readFileSync(path.join(dir, 'smtp.pem'), 'utf8')}\n${readFileSync(receiver.caFile, 'utf8')}`,
    )
    world = await startConsoleWorld({
      CUSTODIAN_SMTP_URL: `smtp://localhost:${smtp.port}`,
      CUSTODIAN_SMTP_FROM: 'Custodian <custodian@provider.test>',
      CUSTODIAN_EXTRA_CA_FILE: bundle,
      CUSTODIAN_MAIL_CHECK_MS: '100',
      CUSTODIAN_MAIL_MAX_ATTEMPTS: '1',
      CUSTODIAN_WEBHOOK_CHECK_MS: '100',
      CUSTODIAN_WEBHOOK_MAX_ATTEMPTS: '1',
      CUSTODIAN_OUTBOUND_ALLOW: '127.0.0.1/32',
    })
    // Acme's owner enrols TOTP (adding a webhook is a step-up action: signing in with a code counts).
    const { secret } = await enrolTotp((method, url, body) => call(method, url, body))
    const joined = await joinCustomer(world, adminEmail, 'admin')
    adminId = (await call('GET', '/v1/me', undefined, joined.apiToken)).body.id
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
    await smtp?.stop()
    await receiver?.close()
  })

  it('issue 12: shows your notifications and the org’s outbox, made by real actions, each with its e-mail’s state', async () => {
    // First batch: the first mail to each address is refused (451) and, one attempt allowed, fails.
    await reportExposed('payments/stripe-key')
    let outbox = await settledOutbox(2)
    assert.deepEqual(
      outbox.map((n) => n.status),
      ['failed', 'failed'],
    )
    // Second batch: delivered, and the mail server has it.
    await reportExposed('mail/relay-password')
    outbox = await settledOutbox(4)
    assert.deepEqual(
      outbox.map((n) => n.status),
      ['delivered', 'delivered', 'failed', 'failed'],
    )
    const mail = await smtp.to(world.customer.ownerEmail, 1)
    assert.equal(mail.length, 1)
    assert.match(mail[0]?.data ?? '', /X-Custodian-Kind: secret\.exposed/)
    assert.match(mail[0]?.data ?? '', /The secret "mail\/relay-password" \(version 1\) was reported exposed/)

    await page.getByRole('link', { name: 'Acme' }).click()
    await page.getByRole('navigation', { name: 'Org pages' }).getByRole('link', { name: 'Notifications' }).click()
    await page.getByRole('heading', { name: 'Notifications', level: 1 }).waitFor()
    const mine = page.getByRole('table', { name: 'My notifications' })
    await mine.waitFor()
    const relay = mine.getByRole('row').filter({ hasText: 'mail/relay-password' })
    const stripe = mine.getByRole('row').filter({ hasText: 'payments/stripe-key' })
    assert.match(
      await relay.innerText(),
      /Secret reported exposed\s+Secret "mail\/relay-password" was reported exposed\s+delivered\s+1/i,
    )
    assert.match(await stripe.innerText(), /failed\s+1/i)
    assert.equal(await mine.getByRole('row').count(), 3, 'a header and the owner’s two notifications')
    await assertAccessible(page, 'the notifications page, your own')

    // The status filter is the API's: only the failed one.
    await page.getByLabel('Status').selectOption('failed')
    await mine.getByRole('row').nth(1).waitFor()
    await until('the failed filter', async () => ((await mine.getByRole('row').count()) === 2 ? true : undefined))
    assert.equal(await mine.getByRole('row').filter({ hasText: 'payments/stripe-key' }).count(), 1)
    const failedMine = (await call('GET', '/v1/me/notifications?status=failed&limit=10')).body.notifications
    assert.equal(failedMine.length, 1)

    // Details, with the keyboard: the button, Enter; the heading takes the focus.
    await page.getByRole('button', { name: /^Details of Secret "payments\/stripe-key"/ }).focus()
    await page.keyboard.press('Enter')
    const detail = page.getByRole('region', { name: 'Secret "payments/stripe-key" was reported exposed' })
    await detail.waitFor()
    assert.ok(
      await detail.getByRole('heading').evaluate((el) => el.matches(':focus')),
      'the detail heading has the focus',
    )
    const fields = detail.getByRole('table', { name: 'Notification fields' })
    assert.equal(
      await fields.getByRole('row', { name: /^Last error/ }).innerText(),
      `Last error\t${failedMine[0].lastError}`,
    )
    assert.match(failedMine[0].lastError, /^451/)
    assert.equal(await fields.getByRole('row', { name: /^Status/ }).innerText(), 'Status\tFailed')
    await detail.getByText(/was reported exposed and is blocked/).waitFor()
    // The data in labelled words, never JSON or ids (issue 13): the secret as a link to its page.
    const data = detail.getByRole('table', { name: 'Notification data' })
    assert.equal(await data.getByRole('row', { name: /^Name/ }).innerText(), 'Name\tpayments/stripe-key')
    assert.equal(await data.getByRole('row', { name: /^Version/ }).innerText(), 'Version\t1')
    const open = data.getByRole('row', { name: /^Secret/ }).getByRole('link', { name: 'Open the secret' })
    assert.equal(
      await open.getAttribute('href'),
      `/console/orgs/${world.customer.orgId}/secrets/${failedMine[0].data.secretId}`,
    )
    assert.doesNotMatch(await detail.innerText(), ANY_UUID)
    assert.doesNotMatch(await detail.innerText(), /[{}]|"\w+":/, 'no JSON')
    await assertAccessible(page, 'a notification’s details')
    await page.getByRole('button', { name: 'Close notification details' }).click()
    await detail.waitFor({ state: 'hidden' })

    // The org's outbox, reached with the arrow key from the tab list: every recipient's row.
    await page.getByRole('tab', { name: 'Mine' }).focus()
    await page.keyboard.press('ArrowRight')
    const outboxTable = page.getByRole('table', { name: 'The org’s notifications' })
    await outboxTable.waitFor()
    assert.match(page.url(), /\?tab=org$/)
    assert.equal(await outboxTable.getByRole('row').count(), 5)
    // Each recipient by email, never by id (issue 13).
    assert.equal(await outboxTable.getByRole('row').filter({ hasText: adminEmail }).count(), 2, 'the admin’s, by email')
    assert.equal(await outboxTable.getByRole('row').filter({ hasText: adminId }).count(), 0, 'no id')
    assert.equal(
      await outboxTable.getByRole('cell', { name: 'you', exact: true }).count(),
      2,
      `yours, as “you”: ${await outboxTable.innerText()}`,
    )
    await assertAccessible(page, 'the notifications page, the org’s outbox')

    // A new notification, then Refresh: it is listed, with its state.
    await reportExposed('ci/deploy-key')
    await settledOutbox(6)
    await page.getByRole('button', { name: 'Refresh' }).click()
    const deploy = outboxTable.getByRole('row').filter({ hasText: 'ci/deploy-key' })
    await until('the new notifications', async () => ((await deploy.count()) === 2 ? true : undefined))
    for (const text of await deploy.allInnerTexts()) assert.match(text, /delivered\s+1/i)
    await page.getByLabel('Status').selectOption('failed')
    await until('the org’s failed ones', async () =>
      (await outboxTable.getByRole('row').count()) === 3 ? true : undefined,
    )
    // The tab is in the address: a reload keeps it.
    await page.reload()
    await page.getByRole('table', { name: 'The org’s notifications' }).waitFor()
    assert.equal(await page.getByRole('tab', { name: 'The org’s' }).getAttribute('aria-selected'), 'true')
    assert.deepEqual(csp, [], 'no Content-Security-Policy refusal')
  })

  it('issue 12: adds webhooks with their events (the signing secret shown once), shows deliveries with their status, deletes one after confirming', async () => {
    await page.goto(`${base}/notifications?tab=webhooks`)
    await page.getByText('No webhooks yet.').waitFor()
    await page.getByText('No deliveries yet.').waitFor()
    await assertAccessible(page, 'the webhooks tab, empty')

    // A URL the API refuses (not HTTPS): its message on the field.
    await page.getByLabel(/^Webhook name/).fill('pager')
    await page.getByLabel(/^URL/).fill('http://127.0.0.1:9/hook')
    await page.getByRole('button', { name: 'Add webhook' }).click()
    await refusalAlert(page, 'VALIDATION_FAILED').waitFor()
    assert.equal(await page.getByLabel(/^URL/).getAttribute('aria-invalid'), 'true')

    await page.getByLabel(/^URL/).fill(`${hookBase}/pager`)
    await page.getByRole('button', { name: 'Add webhook' }).click()
    const dialog = page.getByRole('dialog', { name: 'The webhook’s signing secret' })
    await dialog.waitFor()
    const secret = await dialog.getByLabel('Signing secret of pager').inputValue()
    assert.ok(secret.length >= 32, 'the secret is shown')
    await dialog.getByRole('button', { name: 'Copy secret' }).waitFor()
    await assertAccessible(page, 'the signing secret dialog')
    await dialog.getByRole('button', { name: 'Done' }).click()
    await dialog.waitFor({ state: 'hidden' })
    assert.ok(!(await page.content()).includes(secret), 'the secret is gone from the page')
    const stored = await page.evaluate(() =>
      JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)]),
    )
    assert.ok(!stored.includes(secret) && !page.url().includes(secret), 'in no URL and no storage')
    // Its events in words, as the checkboxes name them (issue 13).
    assert.match(
      await page.getByRole('table', { name: 'Webhooks' }).getByRole('row').filter({ hasText: 'pager' }).innerText(),
      /\tNotifications\t/,
    )
    assert.equal(await page.getByRole('checkbox', { name: /^Erasure requested/ }).count(), 1)
    assert.equal(await page.getByRole('checkbox', { name: /^Re-consent required/ }).count(), 1)

    // The second with the keyboard alone: name, Tab to the URL, Tab through the events, Enter.
    await page.getByLabel(/^Webhook name/).focus()
    await page.keyboard.type('down')
    await page.keyboard.press('Tab')
    await page.keyboard.type(`${hookBase}/down`)
    for (let i = 0; i < 5; i++) await page.keyboard.press('Tab')
    assert.ok(
      await page.getByRole('button', { name: 'Add webhook' }).evaluate((el) => el.matches(':focus')),
      'Tab reaches the submit button past the four events',
    )
    await page.keyboard.press('Enter')
    const second = page.getByRole('dialog', { name: 'The webhook’s signing secret' })
    await second.getByLabel('Signing secret of down').waitFor()
    await page.keyboard.press('Escape')
    await second.waitFor({ state: 'hidden' })

    const hooks = (await call('GET', `${org()}/webhooks`)).body.webhooks as {
      name: string
      url: string
      events: string[]
    }[]
    assert.deepEqual(
      hooks.map((h) => [h.name, h.url, h.events]),
      [
        ['down', `${hookBase}/down`, ['notifications']],
        ['pager', `${hookBase}/pager`, ['notifications']],
      ],
    )

    // A notification batch goes to both: the receiver answers 200 on /pager, 500 on /down.
    await reportExposed('billing/webhook-test')
    const deliveries = await until('both deliveries settled', async () => {
      const list = (await call('GET', `${org()}/webhook-deliveries`)).body.deliveries as DeliveryRow[]
      return list.length === 2 && list.every((d) => d.status !== 'pending') ? list : undefined
    })
    assert.deepEqual(deliveries.map((d) => [d.webhook, d.status, d.lastStatus]).sort(), [
      ['down', 'failed', 500],
      ['pager', 'delivered', 200],
    ])
    // Signed with the very secret the dialog showed.
    const got = receiver.received.find((r) => r.path === '/pager')
    assert.ok(got !== undefined)
    const [, ts, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(got.headers['x-custodian-signature'])) ?? []
    assert.equal(createHmac('sha256', secret).update(`${ts}.${got.body}`).digest('hex'), v1)

    await page.getByRole('region', { name: 'Recent deliveries' }).getByRole('button', { name: 'Refresh' }).click()
    const table = page.getByRole('table', { name: 'Webhook deliveries' })
    await table.waitFor()
    assert.match(
      await table.getByRole('row').filter({ hasText: 'pager' }).innerText(),
      /\tNotifications\s+127\.0\.0\.1:\d+\s+delivered\s+1\s+0\s+HTTP 200/i,
    )
    assert.match(await table.getByRole('row').filter({ hasText: 'down' }).innerText(), /failed\s+1\s+0\s+HTTP 500/i)
    await assertAccessible(page, 'the webhooks tab with deliveries')

    // Delete, confirmed in a dialog: Cancel keeps it.
    await page.getByRole('button', { name: 'Delete webhook down' }).click()
    const confirm = page.getByRole('dialog', { name: 'Delete the webhook down?' })
    await confirm.waitFor()
    await assertAccessible(page, 'the delete dialog')
    await confirm.getByRole('button', { name: 'Cancel' }).click()
    await confirm.waitFor({ state: 'hidden' })
    assert.equal((await call('GET', `${org()}/webhooks`)).body.webhooks.length, 2, 'cancel keeps it')
    await page.getByRole('button', { name: 'Delete webhook down' }).click()
    await confirm.getByRole('button', { name: 'Delete webhook' }).click()
    await page.getByRole('status').filter({ hasText: 'The webhook down is deleted' }).waitFor()
    await page.getByRole('button', { name: 'Delete webhook down' }).waitFor({ state: 'detached' })
    assert.deepEqual(
      (await call('GET', `${org()}/webhooks`)).body.webhooks.map((h: { name: string }) => h.name),
      ['pager'],
    )
    const removed = await call('GET', `${org()}/audit/events?action=webhook.remove`)
    assert.deepEqual(
      removed.body.events.map((e: { details: { name: string } }) => e.details.name),
      ['down'],
    )

    // The deliveries of one privacy request, chosen by what it is and when it came — never by
    // whose it is (issue 13): the subject's id and the requester's address stay off the page.
    const erasure = await call('POST', `${org()}/privacy-requests`, {
      kind: 'erase',
      subjectId: 'cust-webhook-filter-7',
      requester: { email: 'filter-subject@example.test' },
    })
    assert.equal(erasure.status, 201, erasure.text)
    await page.reload()
    const picker = page.getByLabel('Privacy request', { exact: true })
    const ref = (erasure.body.id as string).slice(0, 8)
    const choice = picker.locator('option').filter({ hasText: `ref. ${ref}` })
    await choice.waitFor({ state: 'attached' })
    const label = await choice.innerText()
    assert.match(label, new RegExp(`^Erasure received .+ · ref\\. ${ref}$`), label)
    const options = (await picker.locator('option').allInnerTexts()).join('\n')
    assert.doesNotMatch(options, /cust-webhook-filter-7|filter-subject@example\.test/)
    assert.equal(await picker.locator('option').first().innerText(), 'Any request')
    await picker.selectOption({ label })
    await page.getByRole('button', { name: 'Apply filter' }).click()
    await page.getByText('No deliveries yet.').waitFor()
    await assertAccessible(page, 'the deliveries of one privacy request')
    // Rotate pager's signing secret with the keyboard: the 24-hour overlap is said before,
    // the new secret shown once; the next delivery verifies under the old and the new one.
    await page.getByRole('button', { name: 'Rotate signing secret of webhook pager' }).focus()
    await page.keyboard.press('Enter')
    const rotate = page.getByRole('dialog', { name: 'Rotate the signing secret of pager?' })
    await rotate.getByText(/For 24 hours every delivery is signed with both/).waitFor()
    await assertAccessible(page, 'the rotation’s confirm dialog')
    await rotate.getByRole('button', { name: 'Rotate signing secret' }).focus()
    await page.keyboard.press('Enter')
    const rotated = page.getByRole('dialog', { name: 'The webhook’s signing secret' })
    const newSecret = await rotated.getByLabel('Signing secret of pager').inputValue()
    assert.ok(newSecret.length >= 32 && newSecret !== secret, 'a new secret is shown')
    await rotated.getByText(/deliveries carry a signature under the previous secret as well/).waitFor()
    await assertAccessible(page, 'the rotated secret dialog')
    await rotated.getByRole('button', { name: 'Done' }).focus()
    await page.keyboard.press('Enter')
    await rotated.waitFor({ state: 'hidden' })
    assert.ok(!(await page.content()).includes(newSecret), 'the new secret is gone from the page')
    const audited = await call('GET', `${org()}/audit/events?action=webhook.secret.rotate`)
    assert.equal(audited.body.events.length, 1, audited.text)
    assert.ok(!audited.text.includes(newSecret), 'no secret in the audit event')
    const sentBefore = receiver.received.filter((r) => r.path === '/pager').length
    await reportExposed('billing/webhook-rotation')
    const next = await until('a delivery after the rotation', async () =>
      receiver.received.filter((r) => r.path === '/pager').at(sentBefore),
    )
    const header = String(next.headers['x-custodian-signature'])
    const nextTs = /^t=(\d+),/.exec(header)?.[1]
    const macs = [...header.matchAll(/v1=([0-9a-f]{64})/g)].map((m) => m[1])
    assert.equal(macs.length, 2, header)
    for (const key of [secret, newSecret])
      assert.ok(macs.includes(createHmac('sha256', key).update(`${nextTs}.${next.body}`).digest('hex')), 'both verify')
    assert.deepEqual(csp, [], 'no Content-Security-Policy refusal')
  })

  it('issue 12: shows a member without the permissions the API’s refusals, and a customer org the operator overview’s', async () => {
    const {
      page: viewer,
      csp: viewerCsp,
      close: closeViewer,
    } = await openSignedIn(browser, world, world.customer.viewerEmail)
    try {
      await viewer.goto(`${base}/notifications`)
      await viewer.getByText('No notification for you yet.').waitFor()
      assert.equal(await viewer.getByRole('link', { name: 'Operator overview' }).count(), 0)
      await assertAccessible(viewer, 'the notifications page of a viewer')

      await viewer.getByRole('tab', { name: 'The org’s' }).click()
      const refusal = viewer.getByRole('alert').filter({ hasText: 'notifications:read' })
      await refusal.waitFor()
      assert.match(await refusal.innerText(), /You cannot see this org’s notifications/)
      assert.equal(await viewer.getByRole('table', { name: 'The org’s notifications' }).count(), 0)
      await assertAccessible(viewer, 'the org’s outbox, refused')

      await viewer.getByRole('tab', { name: 'Webhooks' }).click()
      await viewer.getByRole('alert').filter({ hasText: 'webhooks:read' }).first().waitFor()
      await viewer
        .getByText(/Adding and removing webhooks needs the permission “Register and remove webhooks/)
        .waitFor()
      assert.equal(await viewer.getByRole('button', { name: 'Add webhook' }).count(), 0)
      await assertAccessible(viewer, 'the webhooks tab, refused')

      // The operator overview, opened by address from a customer org.
      await viewer.goto(`${world.origin}/console/operator`)
      const operator = viewer.getByRole('alert').filter({ hasText: 'orgs:list' })
      await operator.waitFor()
      assert.match(await operator.innerText(), /You cannot see the orgs Custodian serves/)
      assert.equal(await viewer.getByRole('table', { name: 'Orgs' }).count(), 0)
      await assertAccessible(viewer, 'the operator overview, refused')
      assert.deepEqual(viewerCsp, [])
    } finally {
      await closeViewer()
    }

    // Acme's owner holds every permission of a customer org: still no link, and refused.
    await page.goto(`${base}/secrets`)
    await page.getByRole('heading', { name: 'Secrets', level: 1 }).waitFor()
    assert.equal(await page.getByRole('link', { name: 'Operator overview' }).count(), 0)
    await page.goto(`${world.origin}/console/operator`)
    await page.getByRole('alert').filter({ hasText: 'orgs:list' }).waitFor()
    assert.deepEqual(csp, [])
  })

  it('issue 12: lists every org to the provider’s operators with the figures GET /v1/operator/orgs answers, 50 a page', async () => {
    // 50 more customer orgs: 52 in all, two pages.
    for (let i = 1; i <= 50; i++) {
      const made = await call(
        'POST',
        '/v1/orgs',
        { name: `Tenant ${String(i).padStart(2, '0')}`, ownerEmail: `owner${i}@tenant.test` },
        world.provider.token,
      )
      assert.equal(made.status, 201, made.text)
    }
    const {
      page: operator,
      csp: operatorCsp,
      close: closeOperator,
    } = await openSignedIn(browser, world, world.provider.email, {
      code: await unusedTotpCode(world.provider.totpSecret),
    })
    try {
      // The header's link, with the keyboard.
      const link = operator.getByRole('link', { name: 'Operator overview' })
      await link.focus()
      await operator.keyboard.press('Enter')
      await operator.getByRole('heading', { name: 'Operator overview', level: 1 }).waitFor()
      const table = operator.getByRole('table', { name: 'Orgs' })
      await table.waitFor()
      assert.equal(await table.getByRole('row').count(), 51, 'a header and the first 50 orgs')
      await assertAccessible(operator, 'the operator overview')

      const readApi = async () =>
        (await call('GET', '/v1/operator/orgs?limit=500', undefined, world.provider.token)).body.orgs as OrgRow[]
      const readTable = async () => {
        const rows: string[][] = []
        for (const row of (await table.getByRole('row').all()).slice(1))
          rows.push([
            (await row.getByRole('rowheader').innerText()).replace(/\s+/g, ' '),
            ...(await row.getByRole('cell').allTextContents()),
          ])
        return rows
      }
      // The figures move while events are chained and checkpoints signed: compare the page
      // with an answer that was the same just before and just after it was read.
      let compared = false
      for (let attempt = 0; attempt < 20 && !compared; attempt++) {
        const before = await readApi()
        await operator.reload()
        await table.waitFor()
        await operator.getByRole('button', { name: 'Load more' }).click()
        await until('the second page', async () => ((await table.getByRole('row').count()) === 53 ? true : undefined))
        const shown = await readTable()
        const after = await readApi()
        if (JSON.stringify(before) !== JSON.stringify(after)) {
          await operator.waitForTimeout(500)
          continue
        }
        assert.equal(after.length, 52)
        const expected = await operator.evaluate((orgs) => {
          const when = (iso: string | null) => (iso === null ? 'never' : new Date(iso).toLocaleString())
          return orgs.map((o) => [
            o.name,
            o.kind === 'provider' ? 'Provider' : 'Customer',
            o.region ?? 'None configured',
            when(o.createdAt),
            String(o.members),
            String(o.serviceAccounts),
            String(o.audit.headSeq),
            String(o.audit.unchained),
            when(o.audit.lastCheckpointAt),
            when(o.audit.lastEventAt),
          ])
        }, after)
        assert.deepEqual(shown, expected)
        // Orgs by name, never by id (issue 13).
        assert.doesNotMatch(await table.innerText(), /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i)
        compared = true
      }
      assert.ok(compared, 'the figures held still long enough to compare')
      assert.equal(await operator.getByRole('button', { name: 'Load more' }).count(), 0, 'the last page')
      const acme = table.getByRole('row').filter({ hasText: 'Acme' })
      // Acme: its owner, the viewer and the admin.
      assert.match(await acme.innerText(), /customer\s+.+\s+3\s+0\s+\d+/i)

      // The filters apply to the rows loaded.
      await operator.getByLabel('Search by name').fill('tenant 4')
      await until('the search', async () => ((await table.getByRole('row').count()) === 11 ? true : undefined))
      await operator.getByLabel('Search by name').fill('')
      await operator.getByLabel('Kind').selectOption('provider')
      await until('the kind filter', async () => ((await table.getByRole('row').count()) === 2 ? true : undefined))
      assert.match(await table.getByRole('row').nth(1).innerText(), /^Provider/)
      await assertAccessible(operator, 'the operator overview, filtered')
      assert.deepEqual(operatorCsp, [])
    } finally {
      await closeOperator()
    }
  })
})
