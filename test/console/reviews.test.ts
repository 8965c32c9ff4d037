import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
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
import { httpsJson } from '../helpers/process.ts'

interface Item {
  id: string
  kind: string
  subjectId: string
  label: string
  decision: string | null
  reduceTo: string | null
  note: string | null
  outcome: string | null
  details: { holder?: string }
  holderEmail: string | null
  allowedDecisions: string[]
}

// The console's access reviews and least-privilege report (issue 13, P2.3, P2.5), in
// Debian's Chromium against a real server on PGlite: a review that revokes a member who is
// then signed out in her own browser; a reduce and a certify with reasons; a bulk decision
// with a partial refusal, each item's answer shown; closing (refused while items wait,
// then done); the schedule and overdue policy; the least-privilege suggestion made a
// decision in one step, directly and in the open review; a viewer's refusals.
describe('web console: access reviews and least privilege', () => {
  let world: ConsoleWorld
  let browser: Browser
  let ownerId = ''
  let reviewId = ''
  const members: Record<string, { userId: string; apiToken: string }> = {}
  const orgUrl = (path: string) => `/v1/orgs/${world.customer.orgId}${path}`
  const call = (method: string, path: string, body?: unknown, token = world.customer.ownerToken) =>
    httpsJson(world.server.httpsPort, method, orgUrl(path), { token, body })

  /** Every item of the review, through the API. */
  async function items(): Promise<Item[]> {
    const answer = await call('GET', `/access-reviews/${reviewId}/items?limit=500`)
    assert.equal(answer.status, 200, answer.text)
    return answer.body.items as Item[]
  }
  const itemOf = async (label: string, kind = 'member') =>
    (await items()).find((i) => i.label === label && i.kind === kind) as Item
  const roleOf = async (userId: string) =>
    ((await call('GET', '/members?limit=500')).body.members as { userId: string; role: string }[]).find(
      (m) => m.userId === userId,
    )?.role

  before(async () => {
    await ensureBuilt()
    world = await startConsoleWorld()
    browser = await launchChromium()
    ownerId = (await httpsJson(world.server.httpsPort, 'GET', '/v1/me', { token: world.customer.ownerToken })).body.id
    for (const [email, role] of [
      ['mallory@acme.test', 'member'],
      ['dave@acme.test', 'admin'],
      ['erin@acme.test', 'member'],
      ['frank@acme.test', 'admin'],
      ['gina@acme.test', 'admin'],
      ['harry@acme.test', 'admin'],
    ] as const)
      members[email] = await joinCustomer(world, email, role)
    // Frank and Gina read the audit log and nothing else: the report suggests auditor for both.
    for (const email of ['frank@acme.test', 'gina@acme.test']) {
      const read = await call('GET', '/audit/events?limit=1', undefined, members[email]?.apiToken)
      assert.equal(read.status, 200, read.text)
    }
  })
  after(async () => {
    await browser?.close()
    await world?.server.stop()
  })

  const signedIn = (email: string) => openSignedIn(browser, world, email, { org: 'Acme' })

  async function open(page: Page, link: 'Access reviews' | 'Least privilege'): Promise<void> {
    await page.getByRole('navigation', { name: 'Org pages' }).getByRole('link', { name: link }).click()
    await page.getByRole('heading', { level: 1, name: link }).waitFor()
  }

  /** Presses `key` until `target` has the focus (at most 100 times); fails otherwise. */
  async function tabTo(page: Page, target: Locator, key = 'Tab'): Promise<void> {
    await target.waitFor()
    for (let i = 0; i < 100; i++) {
      if (await target.evaluate((el) => el.matches(':focus'))) return
      await page.keyboard.press(key)
    }
    assert.fail(`${key} never reached ${target.toString()}`)
  }

  /** Polls the API until `check` holds (permission use is recorded beside the request). */
  async function eventually(what: string, check: () => Promise<boolean>): Promise<void> {
    for (let i = 0; i < 50; i++) {
      if (await check()) return
      await sleep(200)
    }
    assert.fail(`never: ${what}`)
  }

  const clean = (session: ConsolePage, where: string) => assert.deepEqual(session.csp, [], `no CSP violation ${where}`)

  it('a viewer without the permissions sees the API’s refusal on both pages', async () => {
    const viewer = await signedIn(world.customer.viewerEmail)
    try {
      const { page } = viewer
      await open(page, 'Access reviews')
      await page.getByRole('alert').filter({ hasText: 'reviews:read' }).waitFor()
      assert.equal(await page.getByRole('button', { name: 'Start a review now' }).count(), 0)
      // The schedule is org:read: the viewer sees it, without a form.
      const policy = page.getByRole('region', { name: 'Schedule and overdue policy' })
      await policy.getByText('A review every 91 days, 14 days to decide.').waitFor()
      assert.equal(await policy.getByRole('button').count(), 0)
      await assertAccessible(page, 'the access reviews page, refused')
      await open(page, 'Least privilege')
      await page.getByRole('alert').filter({ hasText: 'access:report' }).waitFor()
      await assertAccessible(page, 'the least-privilege page, refused')
      clean(viewer, 'for the viewer')
    } finally {
      await viewer.close()
    }
  })

  it('least privilege: with no review open, the suggestion is a direct role change named in a dialog', async () => {
    await eventually('the report sees gina’s and frank’s use of audit:read', async () => {
      const report = await call('GET', '/least-privilege?limit=500')
      const suggested = (report.body.principals as { label: string; suggestedRole: string | null }[]).filter(
        (p) => p.suggestedRole === 'auditor',
      )
      return suggested.length >= 2
    })
    const owner = await signedIn(world.customer.ownerEmail)
    try {
      const { page } = owner
      await open(page, 'Least privilege')
      const table = page.getByRole('table', { name: 'Least privilege' })
      const gina = table.getByRole('row').filter({ hasText: 'gina@acme.test' })
      await gina.waitFor()
      assert.match(await gina.innerText(), /admin/)
      // What she used in words (the catalog's meaning), not its key (issue 13) — once the
      // permission catalog has loaded (until then a key reads as itself).
      await gina.getByText(/Query the org’s audit log and its status/).waitFor()
      assert.doesNotMatch(await gina.innerText(), /audit:read/)
      assert.match(await gina.innerText(), /Reduce to auditor/)
      assert.match(await gina.innerText(), /directly/)
      const self = table.getByRole('row').filter({ hasText: `${world.customer.ownerEmail} (you)` })
      assert.match(await self.innerText(), /—|decided by someone else/)
      await assertAccessible(page, 'the least-privilege report')

      // With the keyboard: the row's one step, the dialog naming what changes, confirm.
      await tabTo(page, gina.getByRole('button', { name: 'Reduce to auditor: gina@acme.test' }))
      await page.keyboard.press('Enter')
      const dialog = page.getByRole('dialog', { name: 'Apply the suggestion for gina@acme.test?' })
      await dialog
        .getByText(
          'No open access review lists gina@acme.test undecided, so this is a direct change: gina@acme.test’s role changes from admin to auditor on their next request.',
        )
        .waitFor()
      await assertAccessible(page, 'the one-step dialog, direct')
      await tabTo(page, dialog.getByRole('button', { name: 'Reduce to auditor' }))
      await page.keyboard.press('Enter')
      await page.getByRole('status').filter({ hasText: 'gina@acme.test’s role is now auditor.' }).waitFor()
      assert.equal(await roleOf(members['gina@acme.test']?.userId ?? ''), 'auditor')
      await gina.filter({ hasText: 'auditor' }).getByText('Fits').waitFor()
      clean(owner, 'on the least-privilege page')
    } finally {
      await owner.close()
    }
  })

  it('least privilege: a service account’s suggested role is a direct role change in one step too (issue 13)', async () => {
    const account = await call('POST', '/service-accounts', { name: 'report-bot', role: 'admin' })
    assert.equal(account.status, 201, account.text)
    const token = await call('POST', '/tokens', {
      name: 'report-bot',
      expiresInDays: 1,
      serviceAccountId: account.body.id,
    })
    assert.equal(token.status, 201, token.text)
    assert.equal((await call('GET', '/audit/events?limit=1', undefined, token.body.token)).status, 200)
    await eventually('the report suggests auditor for report-bot', async () => {
      const report = await call('GET', '/least-privilege?limit=500')
      return (report.body.principals as { label: string; suggestedRole: string | null }[]).some(
        (p) => p.label === 'report-bot' && p.suggestedRole === 'auditor',
      )
    })
    const owner = await signedIn(world.customer.ownerEmail)
    try {
      const { page } = owner
      await open(page, 'Least privilege')
      const bot = page
        .getByRole('table', { name: 'Least privilege' })
        .getByRole('row')
        .filter({ hasText: 'report-bot' })
      await bot.getByText('directly').waitFor()
      await bot.getByRole('button', { name: 'Reduce to auditor: report-bot' }).click()
      const dialog = page.getByRole('dialog', { name: 'Apply the suggestion for report-bot?' })
      await dialog
        .getByText(
          'No open access review lists report-bot undecided, so this is a direct change: the service account report-bot goes from admin to auditor, and its tokens carry the narrower role’s permissions from their next use.',
        )
        .waitFor()
      await assertAccessible(page, 'the one-step dialog for a service account')
      await dialog.getByRole('button', { name: 'Reduce to auditor' }).click()
      await page
        .getByRole('status')
        .filter({ hasText: 'The service account report-bot’s role is now auditor.' })
        .waitFor()
      const listed = await call('GET', '/service-accounts?limit=500')
      assert.equal(
        (listed.body.serviceAccounts as { id: string; role: string }[]).find((a) => a.id === account.body.id)?.role,
        'auditor',
      )
      assert.equal((await call('GET', '/secrets', undefined, token.body.token)).status, 200, 'auditor lists secrets')
      assert.equal(
        (await call('POST', '/secrets', { name: 'x', type: 'api_key', value: 'v' }, token.body.token)).status,
        403,
        'its token lost what admin gave, at once',
      )
      clean(owner, 'on the least-privilege page')
    } finally {
      await owner.close()
      // Out of the review the next tests start.
      await call('DELETE', `/service-accounts/${account.body.id}`)
    }
  })

  it('the schedule and overdue policy: the API’s field refusal, then saved; a review started from the page', async () => {
    const owner = await signedIn(world.customer.ownerEmail)
    try {
      const { page } = owner
      await open(page, 'Access reviews')
      await page.getByText('No access review has run in this org yet.').waitFor()
      const policy = page.getByRole('region', { name: 'Schedule and overdue policy' })
      assert.equal(await policy.getByLabel('A review every (days)').inputValue(), '91')
      await assertAccessible(page, 'the access reviews page, empty')

      await policy.getByLabel('A review every (days)').fill('30')
      await policy.getByLabel('Days to decide').fill('30')
      await policy.getByRole('button', { name: 'Save schedule' }).click()
      await policy.getByText('less than cadenceDays (30)').waitFor()
      await assertAccessible(page, 'the policy form with a field refusal')
      await policy.getByLabel('Days to decide').fill('10')
      await policy.getByLabel('At the due date, undecided items').selectOption('revoke')
      await policy.getByLabel('Inactive after (days without activity)').fill('60')
      await policy.getByRole('button', { name: 'Save schedule' }).click()
      await policy.getByText('Saved: the next review follows this schedule and policy.').waitFor()
      assert.deepEqual((await call('GET', '/access-review-policy')).body, {
        cadenceDays: 30,
        windowDays: 10,
        onOverdue: 'revoke',
        inactiveDays: 60,
      })
      // Back to the defaults' window, so the review started next is due in 14 days.
      await policy.getByLabel('A review every (days)').fill('91')
      await policy.getByLabel('Days to decide').fill('14')
      await policy.getByLabel('At the due date, undecided items').selectOption('remind')
      await policy.getByRole('button', { name: 'Save schedule' }).click()
      await policy.getByText('Saved: the next review follows this schedule and policy.').waitFor()
      // The first save's message is still shown: wait for the API to answer this save's policy.
      for (let tries = 0; ; tries++) {
        const saved = (await call('GET', '/access-review-policy')).body
        if (saved.onOverdue === 'remind' && saved.windowDays === 14) break
        if (tries === 100) assert.fail(`the second save did not reach the API: ${JSON.stringify(saved)}`)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }

      await page.getByRole('button', { name: 'Start a review now' }).click()
      await page.getByRole('heading', { level: 1, name: /^Access review of / }).waitFor()
      reviewId = page.url().split('/').at(-1) ?? ''
      const review = await call('GET', `/access-reviews/${reviewId}`)
      assert.equal(review.status, 200, review.text)
      const facts = page.getByRole('table', { name: 'Access review' })
      await facts
        .getByText(`0 of ${review.body.itemCounts.total} decided, ${review.body.itemCounts.total} pending`)
        .waitFor()
      const table = page.getByRole('table', { name: 'Review items' })
      await table.getByRole('button', { name: 'Revoke mallory@acme.test' }).waitFor()
      // The facts of an item: 2FA, last activity, permissions used against held.
      // Frank's membership (his API token is an item of its own, "API token of frank@acme.test").
      const frank = table
        .getByRole('row')
        .filter({ has: page.getByRole('checkbox', { name: 'Select frank@acme.test (member)' }) })
      const cells = await frank.getByRole('cell').allInnerTexts()
      assert.equal(cells[2], 'admin')
      assert.equal(cells[3], 'off')
      // Permissions used in words (the catalog's meaning), never their keys (issue 13).
      assert.match(
        cells[5] ?? '',
        /^1 of \d+ used\s+used: Query the org’s audit log and its status\s+suggests: auditor$/,
      )
      await assertAccessible(page, 'an open access review')

      await page.getByRole('link', { name: '← All access reviews' }).click()
      const list = page.getByRole('table', { name: 'Access reviews' })
      const row = list.getByRole('row').filter({ hasText: /^Access review of / })
      await row.waitFor()
      assert.match(await row.innerText(), /open/i)
      assert.match(await row.innerText(), /0 of \d+ decided/)
      await assertAccessible(page, 'the access reviews list')
      clean(owner, 'on the access reviews pages')
    } finally {
      await owner.close()
    }
  })

  it('issue 13: a review that revokes a member who is then signed out in her own browser', async () => {
    const mallory = await signedIn('mallory@acme.test')
    const owner = await signedIn(world.customer.ownerEmail)
    try {
      const { page } = owner
      await page.goto(`${world.origin}/console/orgs/${world.customer.orgId}/access-reviews/${reviewId}`)
      const table = page.getByRole('table', { name: 'Review items' })
      await table.waitFor()
      await table.getByRole('button', { name: 'Revoke mallory@acme.test' }).first().click()
      const dialog = page.getByRole('dialog', { name: 'Revoke mallory@acme.test?' })
      await dialog
        .getByText('mallory@acme.test’s membership is removed: their sessions and API tokens in this org end at once.')
        .waitFor()
      await dialog.getByLabel('Reason').fill('left the company in March')
      await assertAccessible(page, 'the revoke dialog')
      await dialog.getByRole('button', { name: 'Revoke access' }).click()
      await page
        .getByRole('status')
        .filter({ hasText: /^mallory@acme\.test: revoke, membership removed; / })
        .waitFor()
      const decided = await itemOf('mallory@acme.test')
      assert.equal(decided.decision, 'revoke')
      assert.equal(decided.note, 'left the company in March')
      assert.match(decided.outcome ?? '', /^membership removed; \d+ tokens and [1-9]\d* sessions revoked$/)

      // Mallory's next action in her own browser: she is signed out, and told so.
      const m = mallory.page
      await m.getByRole('navigation', { name: 'Org pages' }).getByRole('link', { name: 'Audit log' }).click()
      await m.getByRole('heading', { level: 1, name: 'Sign in to Custodian' }).waitFor()
      await m.getByRole('status').filter({ hasText: 'Your session has ended' }).waitFor()
      assert.match(new URL(m.url()).pathname, /\/console\/sign-in$/)
      await assertAccessible(m, 'the sign-in page after the session ended')
      assert.equal(
        await m.evaluate(() => localStorage.getItem('custodian.csrf')),
        null,
        'the ended session’s CSRF token is forgotten',
      )
      clean(mallory, 'in the revoked member’s browser')
      clean(owner, 'on the review page')
    } finally {
      await mallory.close()
      await owner.close()
    }
  })

  it('reduce and certify with reasons, one of them with the keyboard only', async () => {
    const owner = await signedIn(world.customer.ownerEmail)
    try {
      const { page } = owner
      await page.goto(`${world.origin}/console/orgs/${world.customer.orgId}/access-reviews/${reviewId}`)
      const table = page.getByRole('table', { name: 'Review items' })
      await table.waitFor()

      await table.getByRole('button', { name: 'Reduce dave@acme.test' }).click()
      const reduce = page.getByRole('dialog', { name: 'Reduce dave@acme.test’s role?' })
      await reduce.getByLabel('Reduce to').selectOption('auditor')
      await reduce.getByText('dave@acme.test’s role changes from admin to auditor at once.').waitFor()
      await reduce.getByLabel('Reason').fill('only reads the audit log now')
      await assertAccessible(page, 'the reduce dialog')
      await reduce.getByRole('button', { name: 'Reduce role' }).click()
      await page
        .getByRole('status')
        .filter({ hasText: 'dave@acme.test: reduce, role changed from admin to auditor.' })
        .waitFor()
      const dave = await itemOf('dave@acme.test')
      assert.deepEqual([dave.decision, dave.reduceTo, dave.note], ['reduce', 'auditor', 'only reads the audit log now'])
      // The row shows the new role at once, the old one beside it (issue 13).
      const daveRow = table.getByRole('row').filter({ hasText: 'dave@acme.test' })
      assert.match((await daveRow.getByRole('cell').allInnerTexts()).join('|'), /\|auditor\s+was admin\|/)
      assert.equal(await roleOf(members['dave@acme.test']?.userId ?? ''), 'auditor')

      // Keyboard only: to Erin's certify, the reason typed, confirmed with Enter.
      await tabTo(page, table.getByRole('button', { name: 'Certify erin@acme.test' }))
      await page.keyboard.press('Enter')
      const certify = page.getByRole('dialog', { name: 'Certify erin@acme.test?' })
      await tabTo(page, certify.getByLabel('Reason'))
      await page.keyboard.type('runs the support queue')
      await tabTo(page, certify.getByRole('button', { name: 'Certify' }))
      await page.keyboard.press('Enter')
      await page.getByRole('status').filter({ hasText: 'erin@acme.test: certify, certified.' }).waitFor()
      const erin = await itemOf('erin@acme.test')
      assert.deepEqual([erin.decision, erin.note], ['certify', 'runs the support queue'])
      await table.getByText('“runs the support queue”').waitFor()
      // API tokens are named by their holder.
      await table.getByText('API token of erin@acme.test').waitFor()
      await assertAccessible(page, 'the review with decided items')
      clean(owner, 'while deciding')
    } finally {
      await owner.close()
    }
  })

  it('a bulk decision: only what the API allows each item is offered, each item’s answer shown (issue 13)', async () => {
    // The API says per item which decisions the caller may record, as it rules them.
    const before = await items()
    const ownToken = before.find((i) => i.kind === 'api_token' && i.details.holder === ownerId)
    const ownMembership = before.find((i) => i.kind === 'member' && i.subjectId === ownerId)
    assert.equal(ownToken?.holderEmail, world.customer.ownerEmail)
    assert.deepEqual(ownToken?.allowedDecisions, [], 'Harry may decide the owner’s token: not the owner')
    assert.deepEqual(ownMembership?.allowedDecisions, [])
    assert.deepEqual(before.find((i) => i.label === 'harry@acme.test')?.allowedDecisions, [
      'certify',
      'reduce',
      'revoke',
    ])
    const harryToken = before.find((i) => i.kind === 'api_token' && i.holderEmail === 'harry@acme.test')
    assert.deepEqual(harryToken?.allowedDecisions, ['certify', 'revoke'])

    const owner = await signedIn(world.customer.ownerEmail)
    try {
      const { page } = owner
      await page.goto(`${world.origin}/console/orgs/${world.customer.orgId}/access-reviews/${reviewId}`)
      const table = page.getByRole('table', { name: 'Review items' })
      await table.waitFor()
      // The owner's own membership and token: another admin (Harry) decides them, so neither is offered.
      const ownRow = table.getByRole('row').filter({ hasText: `API token of ${world.customer.ownerEmail}` })
      await ownRow.getByText('undecided: your own access, another reviewer decides it').waitFor()
      assert.equal(await ownRow.getByRole('checkbox').count(), 0)
      assert.equal(await ownRow.getByRole('button').count(), 0)
      assert.equal(
        await table.getByRole('checkbox', { name: `Select ${world.customer.ownerEmail} (member)` }).count(),
        0,
      )
      // Tokens with one name (every invitation's is "invitation") are told apart by their holder.
      await table.getByRole('button', { name: 'Certify API token “invitation” of harry@acme.test' }).waitFor()
      assert.equal(
        await table.getByRole('button', { name: 'Reduce API token “invitation” of harry@acme.test' }).count(),
        0,
      )
      await table.getByRole('checkbox', { name: `Select ${world.customer.viewerEmail} (member)` }).check()
      await table.getByRole('checkbox', { name: 'Select harry@acme.test (member)' }).check()
      await table.getByRole('checkbox', { name: 'Select API token “invitation” of harry@acme.test' }).check()
      const bulk = page.getByRole('region', { name: 'Decide several items' })
      // A token's role cannot be reduced: it is left out of a bulk reduce, named.
      await bulk.getByLabel('Decision').selectOption('reduce')
      await bulk.getByText('Left out, as you cannot reduce them: API token “invitation” of harry@acme.test.').waitFor()
      await bulk.getByRole('button', { name: 'Reduce 2 selected items' }).waitFor()
      await bulk.getByLabel('Decision').selectOption('certify')
      await bulk.getByLabel('Reason').fill('quarterly check: still needed')
      await bulk.getByRole('button', { name: 'Certify 3 selected items' }).click()
      const dialog = page.getByRole('dialog', { name: 'Certify 3 selected items?' })
      await dialog.getByText('harry@acme.test (member)').waitFor()
      await dialog.getByText('API token “invitation” of harry@acme.test').waitFor()
      await assertAccessible(page, 'the bulk confirm dialog')
      await dialog.getByRole('button', { name: 'Certify 3' }).click()
      await bulk.getByRole('status').filter({ hasText: 'All 3 decided.' }).waitFor()
      const results = bulk.getByRole('table', { name: 'Bulk decision results' })
      const line = async (label: string) =>
        (await results.getByRole('row').filter({ hasText: label }).getByRole('cell').allInnerTexts())[1]
      assert.equal(await line(`${world.customer.viewerEmail} (member)`), 'Decided: certified')
      assert.equal(await line('harry@acme.test (member)'), 'Decided: certified')
      assert.equal(await line('API token “invitation” of harry@acme.test'), 'Decided: certified')
      const after = await items()
      const decisionOf = (label: string) => after.find((i) => i.kind === 'member' && i.label === label)
      assert.equal(decisionOf('harry@acme.test')?.note, 'quarterly check: still needed')
      assert.equal(decisionOf(world.customer.ownerEmail)?.decision, null)
      await assertAccessible(page, 'the bulk results')
      clean(owner, 'in the bulk decision')
    } finally {
      await owner.close()
    }
  })

  it('least privilege: with the review open, the suggestion is recorded there as the reduce decision in one step', async () => {
    const owner = await signedIn(world.customer.ownerEmail)
    try {
      const { page } = owner
      await open(page, 'Least privilege')
      const frank = page.getByRole('table', { name: 'Least privilege' }).getByRole('row').filter({
        hasText: 'frank@acme.test',
      })
      await frank.getByText('in the open review').waitFor()
      await frank.getByRole('button', { name: 'Reduce to auditor: frank@acme.test' }).click()
      const dialog = page.getByRole('dialog', { name: 'Apply the suggestion for frank@acme.test?' })
      await dialog
        .getByText(
          'Records in the open access review the decision “reduce frank@acme.test from admin to auditor”: frank@acme.test’s role changes from admin to auditor at once.',
        )
        .waitFor()
      await dialog.getByLabel('Reason').fill('least-privilege report: reads the audit log only')
      await assertAccessible(page, 'the one-step dialog, in the review')
      await dialog.getByRole('button', { name: 'Reduce to auditor' }).click()
      await page
        .getByRole('status')
        .filter({
          hasText: 'Recorded in the open access review for frank@acme.test: role changed from admin to auditor.',
        })
        .waitFor()
      const item = await itemOf('frank@acme.test')
      assert.deepEqual(
        [item.decision, item.reduceTo, item.note],
        ['reduce', 'auditor', 'least-privilege report: reads the audit log only'],
      )
      assert.equal(await roleOf(members['frank@acme.test']?.userId ?? ''), 'auditor')
      clean(owner, 'on the least-privilege page')
    } finally {
      await owner.close()
    }
  })

  it('close: refused while items wait (the API’s reason in the dialog), then closed once all are decided', async () => {
    const owner = await signedIn(world.customer.ownerEmail)
    try {
      const { page } = owner
      await page.goto(`${world.origin}/console/orgs/${world.customer.orgId}/access-reviews/${reviewId}`)
      await page.getByRole('button', { name: 'Close review' }).click()
      const dialog = page.getByRole('dialog', { name: 'Close this access review?' })
      await dialog.getByRole('button', { name: 'Close review' }).click()
      await dialog
        .getByRole('alert')
        .filter({ hasText: /\d+ items are undecided; decide them/ })
        .waitFor()
      await refusalAlert(dialog, 'CONFLICT').waitFor()
      await assertAccessible(page, 'the close dialog, refused')
      await dialog.getByRole('button', { name: 'Cancel' }).click()

      // Everything else decided through the API: the owner's own items by Harry, the rest by the owner.
      for (const item of (await items()).filter((i) => i.decision === null)) {
        const own = (item.kind === 'member' && item.subjectId === ownerId) || item.details.holder === ownerId
        const token = own ? members['harry@acme.test']?.apiToken : world.customer.ownerToken
        const decided = await call(
          'POST',
          `/access-reviews/${reviewId}/items/${item.id}/decision`,
          { decision: 'certify' },
          token,
        )
        assert.equal(decided.status, 200, `${item.label}: ${decided.text}`)
      }
      await page.reload()
      await page.getByLabel('Show').selectOption('pending')
      await page.getByText('Every item is decided.').waitFor()
      await page.getByRole('button', { name: 'Close review' }).click()
      await page
        .getByRole('dialog', { name: 'Close this access review?' })
        .getByRole('button', { name: 'Close review' })
        .click()
      await page
        .getByRole('status')
        .filter({ hasText: /^Closed: (\d+) of \1 decided, 0 pending\. / })
        .waitFor()
      assert.equal((await call('GET', `/access-reviews/${reviewId}`)).body.status, 'closed')
      await page
        .getByRole('table', { name: 'Access review' })
        .getByText(/^\d+ items: \d+ certified, 2 reduced, 1 revoked; 0 self-certified, \d+ inactive$/)
        .waitFor()
      assert.equal(await page.getByRole('button', { name: 'Close review' }).count(), 0)
      assert.equal(
        await page.getByRole('region', { name: 'Decide several items' }).count(),
        0,
        'a closed review takes no decision',
      )
      await assertAccessible(page, 'a closed access review')
      clean(owner, 'while closing')
    } finally {
      await owner.close()
    }
  })
})
