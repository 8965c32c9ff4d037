import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Browser, Page, Request } from 'playwright-core'
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
import { startHttpsReceiver } from '../helpers/https-receiver.ts'
import { httpsJson } from '../helpers/process.ts'
import { unusedTotpCode } from '../helpers/totp.ts'

interface DeliveryRow {
  id: string
  webhook: string
  status: string
  retries: number
  lastStatus: number | null
}
interface RunRow {
  id: string
  purged: number
  classes: { dataClass: string; purged: number; remaining: number }[]
}

/** "23 h 59 min 58 s left" (components/Countdown) as seconds. */
function secondsLeft(text: string): number {
  const [, h, m, s] = /(\d+) h (\d+) min (\d+) s left/.exec(text) ?? []
  assert.ok(h !== undefined && m !== undefined && s !== undefined, `a countdown: ${text}`)
  return Number(h) * 3600 + Number(m) * 60 + Number(s)
}

// Issue 13, the lifecycle pages: retention (periods and the purges' proof), the org's
// offboarding (confirm by name, the grace period's countdown, cancel), the operators'
// offboardings, and webhook dead letters retried. Debian's Chromium against a real server
// on PGlite: the retention job runs every 500 ms on records created through the API; a
// real HTTPS receiver on 127.0.0.1 answers 500 (one attempt a delivery: dead-lettered at
// once) until it is told to answer 200.
describe('web console: retention, offboarding and webhook dead letters', () => {
  let world: ConsoleWorld
  let browser: Browser
  let owner: ConsolePage
  // The provider's owner, signed in once (a TOTP code is good for one sign-in).
  let operator: ConsolePage | undefined
  let receiver: Awaited<ReturnType<typeof startHttpsReceiver>>
  let hookBase: string
  let receiverUp = false
  const adminEmail = 'admin@acme.test'

  const call = (method: string, url: string, body?: unknown, token = world.customer.ownerToken) =>
    httpsJson(world.server.httpsPort, method, url, { token, body })
  const org = () => `/v1/orgs/${world.customer.orgId}`
  const consoleOrg = () => `${world.origin}/console/orgs/${world.customer.orgId}`

  /** Polls `read` until it answers something, or fails naming `what`. */
  async function until<T>(what: string, read: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
    const deadline = Date.now() + ms
    for (;;) {
      const value = await read()
      if (value !== undefined) return value
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  }

  /** Opens an org page from the org navigation and waits for its heading. */
  async function openFromNav(page: Page, link: string, heading = link): Promise<void> {
    await page.getByRole('navigation', { name: 'Org pages' }).getByRole('link', { name: link, exact: true }).click()
    await page.getByRole('heading', { level: 1, name: heading }).waitFor()
  }

  before(async () => {
    await ensureBuilt()
    const dir = mkdtempSync(path.join(tmpdir(), 'custodian-console-lifecycle-'))
    receiver = await startHttpsReceiver(path.join(dir, 'hook.pem'), (received) =>
      received.path === '/hook' && receiverUp ? 200 : 500,
    )
    hookBase = `https://127.0.0.1:${new URL(receiver.url).port}`
    world = await startConsoleWorld({
      CUSTODIAN_EXTRA_CA_FILE: receiver.caFile,
      CUSTODIAN_WEBHOOK_CHECK_MS: '100',
      CUSTODIAN_WEBHOOK_MAX_ATTEMPTS: '1',
      CUSTODIAN_OUTBOUND_ALLOW: '127.0.0.1/32',
      CUSTODIAN_RETENTION_CHECK_MS: '500',
    })
    // Three records of a class kept until erased (no default period): the retention test
    // gives it one minute, and the job purges them once they are that old.
    for (let i = 0; i < 3; i++) {
      const made = await call('POST', `${org()}/records`, {
        subjectId: `cust_${i}`,
        dataClass: 'usage',
        payload: { plan: 'pro', seats: i + 1 },
      })
      assert.equal(made.status, 201, made.text)
    }
    await joinCustomer(world, adminEmail, 'admin')
    browser = await launchChromium()
    // The owner's page runs on Playwright's clock (time flows; the test moves it on to watch
    // the grace period's countdown).
    owner = await openSignedIn(browser, world, world.customer.ownerEmail, {
      org: 'Acme',
      setup: (context) => context.clock.install(),
    })
  })
  after(async () => {
    await owner?.close()
    await operator?.close()
    await browser?.close()
    await world?.server.stop()
    await receiver?.close()
  })

  it('issue 13: lists dead-lettered webhook deliveries by status and retries one, showing its new state; a retry of an erased payload shows the API’s 410', async () => {
    const { page } = owner
    for (const [name, suffix] of [
      ['hook', '/hook'],
      ['gone', '/gone'],
    ]) {
      const made = await call('POST', `${org()}/webhooks`, {
        name,
        url: `${hookBase}${suffix}`,
        events: ['notifications'],
      })
      assert.equal(made.status, 201, made.text)
    }
    // A real action that notifies: a secret reported exposed; both deliveries fail (500) and,
    // one attempt allowed, are dead-lettered.
    const secret = await call('POST', `${org()}/secrets`, { name: 'ci/deploy-key', type: 'generic', value: 'v' })
    assert.equal(secret.status, 201, secret.text)
    const reported = await call('POST', `${org()}/secrets/${secret.body.id}/report-exposed`, { reason: 'leaked' })
    assert.equal(reported.status, 200, reported.text)
    const dead = await until('two dead letters', async () => {
      const list = (await call('GET', `${org()}/webhook-deliveries?status=failed`)).body.deliveries as DeliveryRow[]
      return list.length === 2 ? list : undefined
    })
    assert.deepEqual(dead.map((d) => [d.webhook, d.lastStatus]).sort(), [
      ['gone', 500],
      ['hook', 500],
    ])
    // The webhook `gone` is removed: its dead letter's payload goes with it.
    const gone = (await call('GET', `${org()}/webhooks`)).body.webhooks.find((w: { name: string }) => w.name === 'gone')
    const hookId = dead.find((d) => d.webhook === 'hook')?.id as string
    assert.equal((await call('DELETE', `${org()}/webhooks/${gone.id}`)).status, 204)

    await page.goto(`${consoleOrg()}/notifications?tab=webhooks`)
    const table = page.getByRole('table', { name: 'Webhook deliveries' })
    await table.waitFor()
    await page.getByLabel('Delivery status').selectOption('delivered')
    await page.getByText('No delivered deliveries.').waitFor()
    await page.getByLabel('Delivery status').selectOption('failed')
    await until('the dead letters listed', async () =>
      (await table.getByRole('row').count()) === 3 ? true : undefined,
    )
    const rowOf = (webhook: string) =>
      table.getByRole('row').filter({ has: page.getByRole('cell', { name: webhook, exact: true }) })
    const hookRow = rowOf('hook')
    assert.match(await hookRow.innerText(), /failed\s+1\s+0\s+HTTP 500\s+dead-lettered .+; retryable until /i)
    await assertAccessible(page, 'the webhooks tab, dead letters')

    // The erased payload: the API's 410 and its sentence.
    await page.getByRole('button', { name: /^Retry the delivery to gone / }).click()
    const erased = refusalAlert(page, 'WEBHOOK_PAYLOAD_ERASED')
    await erased.waitFor()
    assert.match(await erased.innerText(), /Not retried/)
    await assertAccessible(page, 'a retry refused with 410')

    // The receiver is back: retried while the list shows the failed ones only, the row does
    // not vanish: it stays with its new state and says where it went, and the notice says how
    // to follow it (issue 13); the kept row is followed until it is delivered.
    receiverUp = true
    // The delivery asked alone (GET …/webhook-deliveries/{id}), as the page follows a kept row.
    const followed: string[] = []
    const follow = (request: Request) => {
      if (request.method() === 'GET' && new URL(request.url()).pathname.endsWith(`/webhook-deliveries/${hookId}`))
        followed.push(request.url())
    }
    page.on('request', follow)
    await page.getByRole('button', { name: /^Retry the delivery to hook / }).click()
    const notice = page.getByRole('status').filter({ hasText: /The delivery to hook is sent again: now pending/ })
    await notice.waitFor()
    assert.match(
      await notice.innerText(),
      /\(retried 1 time\)\. It is no longer failed, so the list leaves it out from now on: it stays below until the filter changes; choose “Any” to follow it\./,
    )
    assert.equal(await erased.count(), 0, 'the earlier refusal is gone')
    assert.equal(await table.getByRole('row').count(), 3, 'both rows still there (with the header)')
    // Pending as the retry answered it (or already settled, on a slow machine: it is asked
    // again after 2 s).
    assert.match(await rowOf('hook').innerText(), /(pending|delivered)\s+retried: no longer failed/i)
    assert.equal(
      await rowOf('hook')
        .getByRole('button', { name: /^Retry/ })
        .count(),
      0,
      'no second retry offered',
    )
    await assertAccessible(page, 'the dead letters after a retry')
    // Still filtered on `failed`: the kept row is followed alone (GET …/webhook-deliveries/{id}
    // every 2 s) until it settles, and shows it delivered — the receiver's 200 — without a
    // refresh or a change of filter.
    await until('the kept row delivered under the failed filter', async () =>
      /delivered\s+retried: no longer failed\s+1\s+1\s+HTTP 200/i.test(await rowOf('hook').innerText())
        ? true
        : undefined,
    )
    assert.equal(await page.getByLabel('Delivery status').inputValue(), 'failed', 'the filter unchanged')
    assert.ok(followed.length >= 1, 'asked alone')
    assert.equal(await table.getByRole('row').count(), 3, 'the dead letter of `gone` and the kept row')
    await assertAccessible(page, 'the kept row delivered')
    // Settled: no longer asked.
    const asked = followed.length
    await new Promise((resolve) => setTimeout(resolve, 4500))
    assert.equal(followed.length, asked, 'not asked again once delivered')
    page.off('request', follow)
    await page.getByLabel('Delivery status').selectOption('')
    const retried = rowOf('hook')
    await until('the retried delivery under “Any”', async () =>
      /delivered\s+1\s+1\s+HTTP 200/i.test(await retried.innerText()) ? true : undefined,
    )
    const after = (await call('GET', `${org()}/webhook-deliveries`)).body.deliveries as DeliveryRow[]
    assert.deepEqual(
      after.filter((d) => d.webhook === 'hook').map((d) => [d.status, d.retries, d.lastStatus]),
      [['delivered', 1, 200]],
    )
    assert.equal(receiver.received.filter((r) => r.path === '/hook').length, 2, 'sent twice: the attempt and the retry')
    const audit = await call('GET', `${org()}/audit/events?action=webhook.delivery.retry`)
    assert.equal(audit.body.events.length, 1, 'the retry is audited once (the 410 changed nothing)')
    await assertAccessible(page, 'the webhooks tab after the retry')
    assert.deepEqual(owner.csp, [], 'no CSP violation')
  })

  it('issue 13: starts offboarding only once the org’s exact name is typed, with the keyboard alone, and counts the grace period down', async () => {
    const { page } = owner
    await page.goto(`${consoleOrg()}/secrets`)
    await openFromNav(page, 'Offboarding')
    await page
      .getByRole('region', { name: 'What offboarding does' })
      .getByText(/the whole org is deleted/)
      .waitFor()
    const start = page.getByRole('button', { name: 'Start offboarding' })
    const name = page.getByLabel('Type the org’s name to confirm')
    await page.getByText('The org is named “Acme”.').waitFor()
    assert.ok(await start.isDisabled(), 'disabled until the name is typed')
    await assertAccessible(page, 'the offboarding page')

    // Keyboard only: a wrong spelling leaves the button disabled; the exact name enables it.
    await name.focus()
    await page.keyboard.type('acme')
    assert.ok(await start.isDisabled(), 'letter case counts')
    for (let i = 0; i < 4; i++) await page.keyboard.press('Backspace')
    await page.keyboard.type('Acme')
    assert.ok(await start.isEnabled(), 'enabled once the name matches')
    await page.keyboard.press('Tab')
    assert.ok(await page.getByLabel('Grace period (hours)').evaluate((el) => el.matches(':focus')))
    await page.keyboard.press('Tab')
    assert.ok(await start.evaluate((el) => el.matches(':focus')), 'Tab reaches the button')
    await page.keyboard.press('Enter')

    const timer = page.getByRole('timer', { name: 'Time left before the org is deleted' })
    await timer.waitFor()
    const scheduled = (await call('GET', `${org()}/offboarding`)).body
    assert.equal(scheduled.status, 'scheduled')
    const graceMs = new Date(scheduled.scheduledFor).getTime() - new Date(scheduled.requestedAt).getTime()
    assert.equal(graceMs, 24 * 3600_000, 'the default grace period, 24 hours')
    // Who asked: the member's email, not their user id (issue 13); operators, another org, get no email.
    assert.equal(scheduled.requestedByEmail, world.customer.ownerEmail)
    assert.match(
      await page
        .getByRole('table', { name: 'Offboarding' })
        .getByRole('row', { name: /^Asked by/ })
        .innerText(),
      new RegExp(`Asked by\\s+${world.customer.ownerEmail.replace('.', '\\.')}$`),
    )
    const first = secondsLeft(await timer.innerText())
    assert.ok(first <= 24 * 3600 && first > 23 * 3600, `about 24 hours left: ${first}`)
    // Ten minutes on (the page's clock): the countdown follows.
    await page.clock.fastForward('10:00')
    const later = await until('the countdown moved', async () => {
      const left = secondsLeft(await timer.innerText())
      return left <= first - 600 ? left : undefined
    })
    assert.ok(later > first - 700, `ten minutes less, not more: ${first} → ${later}`)
    await page.getByRole('button', { name: 'Cancel offboarding' }).waitFor()
    await assertAccessible(page, 'the offboarding page, scheduled')
    assert.deepEqual(
      (await call('GET', `${org()}/audit/events?action=org.offboarding.request`)).body.events.map(
        (e: { details: { graceHours: number } }) => e.details.graceHours,
      ),
      [24],
    )
    assert.deepEqual(owner.csp, [], 'no CSP violation')
  })

  it('issue 13: shows operators the offboarding in progress, with its countdown and details', async () => {
    operator = await openSignedIn(browser, world, world.provider.email, {
      code: await unusedTotpCode(world.provider.totpSecret),
    })
    {
      const { page } = operator
      await page.getByRole('link', { name: 'Operator overview' }).click()
      await page.getByRole('navigation', { name: 'Operator pages' }).getByRole('link', { name: 'Offboardings' }).click()
      await page.getByRole('heading', { level: 1, name: 'Offboardings' }).waitFor()
      const table = page.getByRole('table', { name: 'Offboardings' })
      const row = table.getByRole('row').filter({ hasText: 'Acme' })
      await row.waitFor()
      assert.match(await row.innerText(), /in progress \(grace period\)/)
      await row.getByRole('timer', { name: 'Time left before Acme is deleted' }).waitFor()
      await assertAccessible(page, 'the operators’ offboardings')

      await row.getByRole('link', { name: 'Acme' }).click()
      await page.getByRole('heading', { level: 1, name: 'Offboarding of Acme' }).waitFor()
      const details = page.getByRole('table', { name: 'Offboarding' })
      assert.match(await details.getByRole('row', { name: /^State/ }).innerText(), /in progress/)
      assert.match(await details.getByRole('row', { name: /^Org/ }).innerText(), new RegExp(world.customer.orgId))
      const listed = (
        await httpsJson(world.server.httpsPort, 'GET', '/v1/operator/offboardings', { token: world.provider.token })
      ).body
      assert.ok(
        listed.offboardings.every((o: { requestedByEmail: unknown }) => o.requestedByEmail === null),
        'no other org’s people',
      )
      await details.getByRole('timer', { name: 'Time left before Acme is deleted' }).waitFor()
      await assertAccessible(page, 'an offboarding’s details')
      assert.deepEqual(operator.csp, [], 'no CSP violation')
    }
  })

  it('issue 13: refuses a member without org:delete the cancel, with the API’s problem', async () => {
    const admin = await openSignedIn(browser, world, adminEmail, { org: 'Acme' })
    try {
      const { page } = admin
      await openFromNav(page, 'Offboarding')
      await page.getByRole('button', { name: 'Cancel offboarding' }).click()
      const refusal = refusalAlert(page, 'FORBIDDEN').filter({ hasText: 'org:delete' })
      await refusal.waitFor()
      assert.match(await refusal.innerText(), /Not cancelled[\s\S]*this needs the org:delete permission$/)
      await assertAccessible(page, 'the offboarding page, cancel refused')
      assert.equal((await call('GET', `${org()}/offboarding`)).body.status, 'scheduled', 'still scheduled')
      assert.deepEqual(admin.csp, [], 'no CSP violation')
    } finally {
      await admin.close()
    }
  })

  it('issue 13: cancels the offboarding with the keyboard; operators then see none in progress, and the member is refused starting one', async () => {
    const { page } = owner
    const cancel = page.getByRole('button', { name: 'Cancel offboarding' })
    await cancel.focus()
    await page.keyboard.press('Enter')
    await page.getByRole('status').filter({ hasText: 'The offboarding is cancelled' }).waitFor()
    await page.getByRole('button', { name: 'Start offboarding' }).waitFor()
    await page.getByText(/An earlier offboarding was cancelled on /).waitFor()
    assert.equal(await page.getByRole('timer').count(), 0, 'no countdown')
    assert.equal((await call('GET', `${org()}/offboarding`)).body.status, 'cancelled')
    assert.equal((await call('GET', `${org()}/audit/events?action=org.offboarding.cancel`)).body.events.length, 1)
    await assertAccessible(page, 'the offboarding page, cancelled')

    assert.ok(operator !== undefined, 'the operator signed in (the test before)')
    {
      const { page: op } = operator
      await op.goto(`${world.origin}/console/operator/offboardings`)
      await op.getByText('No offboarding in progress.').waitFor()
      await op.getByLabel('Show', { exact: true }).selectOption('all')
      const row = op.getByRole('table', { name: 'Offboardings' }).getByRole('row').filter({ hasText: 'Acme' })
      assert.match(await row.innerText(), /cancelled/)
      await assertAccessible(op, 'the operators’ offboardings, all')
      assert.deepEqual(operator.csp, [])
    }

    const admin = await openSignedIn(browser, world, adminEmail, { org: 'Acme' })
    try {
      const { page: ad } = admin
      await ad.goto(`${consoleOrg()}/offboarding`)
      await ad.getByLabel('Type the org’s name to confirm').fill('Acme')
      await ad.getByRole('button', { name: 'Start offboarding' }).click()
      const refusal = ad.getByRole('alert').filter({ hasText: 'org:delete' })
      await refusal.waitFor()
      assert.match(await refusal.innerText(), /Not started[\s\S]*this needs the org:delete permission/)
      assert.equal((await call('GET', `${org()}/offboarding`)).body.status, 'cancelled', 'nothing started')
      await assertAccessible(ad, 'the offboarding page, start refused')
      assert.deepEqual(admin.csp, [])
    } finally {
      await admin.close()
    }
    assert.deepEqual(owner.csp, [], 'no CSP violation')
  })

  it('issue 13: edits a data class’s retention (the API’s bounds refused on the field) and shows the purge that followed, with its proof and audit event', async () => {
    const { page } = owner
    await page.goto(`${consoleOrg()}/secrets`)
    await openFromNav(page, 'Retention')
    const periods = page.getByRole('table', { name: 'Retention periods' })
    await periods.waitFor()
    assert.match(await periods.getByRole('row', { name: /^customer_data/ }).innerText(), /1 day\s+the default/)
    assert.match(await periods.getByRole('row', { name: /^metadata/ }).innerText(), /kept until erased/)
    await assertAccessible(page, 'the retention page')

    await page.getByRole('button', { name: 'Set a period for another data class' }).click()
    const dialog = page.getByRole('dialog', { name: 'A period for a data class' })
    await dialog.waitFor()
    await dialog.getByLabel(/^Data class/).fill('usage')
    await dialog.getByLabel(/^Keep for/).fill('30')
    await dialog.getByLabel('Unit').selectOption({ label: 'seconds' })
    await dialog.getByRole('button', { name: 'Save period' }).click()
    // Half a minute is under the API's minimum: its message on the field.
    await until('the field refused', async () =>
      (await dialog.getByLabel(/^Keep for/).getAttribute('aria-invalid')) === 'true' ? true : undefined,
    )
    await refusalAlert(dialog, 'VALIDATION_FAILED').waitFor()
    await assertAccessible(page, 'the period dialog, refused')
    assert.equal((await call('GET', `${org()}/audit/events?action=retention.policy.update`)).body.events.length, 0)

    await dialog.getByLabel(/^Keep for/).fill('1')
    await dialog.getByLabel('Unit').selectOption({ label: 'minutes' })
    await dialog.getByRole('button', { name: 'Save period' }).click()
    await dialog.waitFor({ state: 'hidden' })
    await page.getByRole('status').filter({ hasText: 'usage is now kept for 1 minute.' }).waitFor()
    assert.match(await periods.getByRole('row', { name: /^usage/ }).innerText(), /1 minute\s+this org/)
    const set = (await call('GET', `${org()}/audit/events?action=retention.policy.update`)).body.events
    assert.deepEqual(
      set.map((e: { details: { retainSeconds: number } }) => e.details.retainSeconds),
      [60],
    )

    // The job (every 500 ms) purges the three records once a minute old, and records proof.
    // Made seconds apart on a loaded machine, they may age out in more than one run: the
    // page shows the newest run that purged.
    const run = await until(
      'the three purged',
      async () => {
        const runs = (await call('GET', `${org()}/retention/runs?limit=500`)).body.runs as RunRow[]
        const purged = runs.reduce((sum, r) => sum + r.purged, 0)
        return purged >= 3 ? runs.find((r) => r.purged > 0) : undefined
      },
      120_000,
    )
    assert.ok(run.purged >= 1 && run.purged <= 3)
    const section = page.getByRole('region', { name: 'Purge runs' })
    await section.getByRole('button', { name: 'Refresh' }).click()
    const proof = page.getByRole('region', { name: 'Last purge' })
    const facts = proof.getByRole('table', { name: 'Last purge', exact: true })
    await facts.waitFor()
    assert.match(await facts.getByRole('row', { name: /^Records purged/ }).innerText(), new RegExp(String(run.purged)))
    assert.match(await facts.getByRole('row', { name: /^Run id/ }).innerText(), new RegExp(run.id))
    const byClass = proof.getByRole('table', { name: 'Last purge by data class' })
    assert.match(
      await byClass.getByRole('row', { name: /^usage/ }).innerText(),
      new RegExp(`usage\\s+1 minute\\s+${run.purged}\\s+0\\s+—`),
    )
    await assertAccessible(page, 'the retention page with a purge')

    // Back to the default (kept until erased), once purged; audited.
    await page.getByRole('button', { name: 'Reset usage to the default' }).click()
    await page.getByRole('status').filter({ hasText: 'usage is back to the default: kept until erased.' }).waitFor()
    assert.equal(
      await periods.getByRole('row', { name: /^usage/ }).count(),
      0,
      'no longer listed: no period of its own',
    )
    assert.equal((await call('GET', `${org()}/audit/events?action=retention.policy.reset`)).body.events.length, 1)

    // The proof's audit event, one click away.
    await proof.getByRole('link', { name: /retention\.purge of this run/ }).click()
    await page.getByRole('heading', { level: 1, name: 'Audit log' }).waitFor()
    assert.equal(await page.getByLabel('Target (id)').inputValue(), run.id)
    const events = page.getByRole('table', { name: 'Audit events' })
    await events.waitFor()
    assert.equal(await events.getByRole('row').count(), 2, 'a header and the purge’s one event')
    assert.match(
      await events.getByRole('row').nth(1).innerText(),
      // In words (the action's key under it), the target's kind in words too.
      /Expired records purged\s+retention\.purge\s+success\s+Custodian\s+the system\s+retention run/,
    )
    assert.deepEqual(owner.csp, [], 'no CSP violation')
  })
})
