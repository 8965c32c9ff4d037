import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { ensureBuilt } from '../../scripts/console.ts'
import { PASSWORD } from '../helpers/app.ts'
import {
  joinCustomer,
  launchChromium,
  newConsoleContext,
  refusalAlert,
  seriousViolations,
  startConsoleWorld,
  watchCsp,
  type ConsoleWorld,
} from '../helpers/console.ts'
import { httpsJson } from '../helpers/process.ts'
import { unusedTotpCode } from '../helpers/totp.ts'

interface GrantRow {
  id: string
  status: string
  reason: string
  permissions: string[]
  secretIds: string[]
  durationDays: number
  approvals: { userId: string }[]
  grantee: { email: string }
}
interface EventRow {
  action: string
  outcome: string
  target: { type: string; id: string | null } | null
  details: Record<string, unknown>
}

// The console's diagnostic access grants (issue 13, P2.8), both sides in two browser
// contexts: the operator (provider org) requests a grant, the customer's owner approves it,
// the operator reveals the named secret under it, the owner sees that use in the grant's
// timeline and revokes it, and the operator's next action is refused — in Debian's
// Chromium against a real server on PGlite.
describe('web console: diagnostic access grants', () => {
  let world: ConsoleWorld
  let browser: Browser
  let secretId = ''
  const secretValue = 'sk_live_grant_test_value_7788'
  const reason = 'ticket 4711: billing sync fails for Acme, checking the key'

  const call = (method: string, url: string, token: string, body?: unknown) =>
    httpsJson(world.server.httpsPort, method, url, { token, body })
  const orgGrants = async () =>
    (await call('GET', `/v1/orgs/${world.customer.orgId}/grants?limit=500`, world.customer.ownerToken)).body
      .grants as GrantRow[]
  const orgEvents = async (query: string) =>
    (await call('GET', `/v1/orgs/${world.customer.orgId}/audit/events?limit=500&${query}`, world.customer.ownerToken))
      .body.events as EventRow[]

  before(async () => {
    await ensureBuilt()
    world = await startConsoleWorld()
    browser = await launchChromium()
    const made = await call('POST', `/v1/orgs/${world.customer.orgId}/secrets`, world.customer.ownerToken, {
      name: 'billing-api',
      type: 'api_key',
      value: secretValue,
    })
    assert.equal(made.status, 201, made.text)
    secretId = made.body.id
  })
  after(async () => {
    await browser?.close()
    await world?.server.stop()
  })

  interface Session {
    page: Page
    context: BrowserContext
    csp: string[]
    /** The X-Custodian-Grant header of every API request, by URL ('' when none). */
    grantHeaders: { url: string; grant: string }[]
  }

  async function signedIn(email: string, org: string, code?: string): Promise<Session> {
    const context = await newConsoleContext(browser)
    const page = await context.newPage()
    const grantHeaders: Session['grantHeaders'] = []
    page.on('request', (request) => {
      if (new URL(request.url()).pathname.startsWith('/v1/'))
        grantHeaders.push({ url: request.url(), grant: request.headers()['x-custodian-grant'] ?? '' })
    })
    const csp = watchCsp(page)
    await page.goto(`${world.origin}/console/sign-in`)
    await page.getByLabel('Email').fill(email)
    await page.getByLabel(/^Password/).fill(PASSWORD)
    await page.getByRole('button', { name: 'Sign in' }).click()
    if (code !== undefined) {
      await page.getByLabel('Authentication code').fill(code)
      await page.getByRole('button', { name: 'Sign in' }).click()
    }
    await page.getByRole('link', { name: org }).click()
    await page.getByRole('heading', { name: 'Secrets' }).waitFor()
    return { page, context, csp, grantHeaders }
  }

  async function assertAccessible(page: Page, where: string): Promise<void> {
    if ((await page.getByRole('dialog').count()) > 0) await page.waitForTimeout(300)
    assert.deepEqual(await seriousViolations(page), [], `axe-core: serious or critical violations on ${where}`)
  }

  it('issue 13: operator requests a grant → the customer approves → the operator reveals the named secret under it → the customer sees the use in the timeline → revokes → the operator’s next action is refused', async () => {
    const operator = await signedIn(world.provider.email, 'Provider', await unusedTotpCode(world.provider.totpSecret))
    const customer = await signedIn(world.customer.ownerEmail, 'Acme')
    const op = operator.page
    const cu = customer.page
    try {
      // The operator: from the overview to diagnostic access, with the keyboard.
      await op.getByRole('link', { name: 'Operator overview' }).click()
      await op.getByRole('heading', { level: 1, name: 'Operator overview' }).waitFor()
      const link = op.getByRole('main').getByRole('link', { name: 'diagnostic access', exact: true })
      await link.focus()
      await op.keyboard.press('Enter')
      await op.getByRole('heading', { level: 1, name: 'Diagnostic access' }).waitFor()
      await op.getByText('You have asked for no diagnostic access yet.').waitFor()
      await assertAccessible(op, 'the operator’s diagnostic access page')

      const form = op.getByRole('region', { name: 'Request diagnostic access' })
      assert.equal(
        await form.getByLabel('Org', { exact: true }).inputValue(),
        world.customer.orgId,
        'the only customer org, Acme',
      )
      // Too short a reason, and vault:reveal without a secret: the API's field errors.
      await form.getByLabel(/^Reason/).fill('short')
      // The permissions by the catalog's meaning, never their keys (issue 13).
      await form.getByRole('checkbox', { name: 'Reveal a secret’s value (audited, with a reason)' }).check()
      await form.getByRole('button', { name: 'Request access' }).click()
      await form.getByRole('alert').waitFor()
      assert.equal((await orgGrants()).length, 0, 'nothing was requested')

      await form.getByLabel(/^Reason/).fill(reason)
      await form
        .getByRole('checkbox', { name: 'List secrets and their versions (metadata only, never values)' })
        .check()
      await form.getByLabel('Secrets to reveal').fill(secretId)
      await form.getByLabel('Duration (days)').fill('7')
      await form.getByRole('button', { name: 'Request access' }).click()
      await form.getByText('Requested 7 days of access to Acme: its admins are told.').waitFor()
      const mine = op.getByRole('table', { name: 'Your grants' })
      await mine.getByRole('row', { name: /pending/ }).waitFor()
      // Its scope in words: no permission key, no secret id (issue 13).
      const scope =
        (
          await mine
            .getByRole('row', { name: /pending/ })
            .getByRole('cell')
            .allInnerTexts()
        )[2] ?? ''
      assert.match(
        scope,
        /^List secrets and their versions \(metadata only, never values\)\s+Reveal a secret’s value \(audited, with a reason\)\s+1 named secret$/,
      )
      assert.doesNotMatch(scope, /secrets:read|vault:reveal/)
      assert.ok(!scope.includes(secretId), 'no secret id')
      // Until: when the request itself lapses unanswered, not when the grant would end (issue 13).
      const until =
        (
          await mine
            .getByRole('row', { name: /pending/ })
            .getByRole('cell')
            .allInnerTexts()
        )[5] ?? ''
      assert.match(until, /^request lapses .+ if unanswered$/)
      await op.getByText('Waiting for approval: this list follows it.').waitFor()
      const [asked] = await orgGrants()
      assert.ok(asked)
      assert.deepEqual(
        [asked.status, asked.reason, asked.permissions, asked.secretIds, asked.durationDays, asked.grantee.email],
        ['pending', reason, ['secrets:read', 'vault:reveal'], [secretId], 7, world.provider.email],
      )
      await assertAccessible(op, 'the operator’s page with a pending request')

      // The customer's owner: the pending request with its reason, scope and duration.
      await cu.getByRole('navigation', { name: 'Org pages' }).getByRole('link', { name: 'Diagnostic access' }).click()
      await cu.getByRole('heading', { level: 1, name: 'Diagnostic access' }).waitFor()
      const pending = cu.getByRole('table', { name: 'Pending requests' })
      const row = pending.getByRole('row', { name: new RegExp(world.provider.email) })
      await row.waitFor()
      await row.getByRole('link', { name: 'billing-api' }).waitFor()
      const cells = await row.getByRole('cell').allInnerTexts()
      assert.equal(cells[1], reason)
      // The scope in the catalog's words, never the permission keys; the named secret by its name (issue 13).
      assert.match(
        cells[2] ?? '',
        /^List secrets and their versions \(metadata only, never values\)\s+Reveal a secret’s value \(audited, with a reason\)\s+Named secret: billing-api$/,
      )
      assert.doesNotMatch(cells[2] ?? '', /secrets:read|vault:reveal/)
      assert.equal(cells[3], '7 days')
      assert.equal(cells[4], '0 of 1')
      const policy = cu.getByRole('region', { name: 'Grant policy' })
      assert.equal(await policy.getByLabel('Longest grant (days)').inputValue(), '21')
      await assertAccessible(cu, 'the customer’s diagnostic access page')

      // Its page by its reason, with the keyboard: the named secret by its name; approve says who else must.
      await row.getByRole('link', { name: reason }).focus()
      await cu.keyboard.press('Enter')
      await cu.getByRole('heading', { level: 1, name: `Diagnostic access for ${world.provider.email}` }).waitFor()
      const facts = cu.getByRole('table', { name: 'Grant' })
      await facts.getByRole('link', { name: 'billing-api' }).waitFor()
      // A pending grant has not run yet: said so, not "not approved" (newcomer, issue 13).
      assert.match(
        await facts.getByRole('row', { name: /^Runs/ }).innerText(),
        /^Runs\s+not yet: it starts when approved$/,
      )
      await cu.getByRole('button', { name: 'Approve' }).focus()
      await cu.keyboard.press('Enter')
      const dialog = cu.getByRole('dialog', { name: 'Approve this diagnostic access?' })
      await dialog.getByText('Your approval opens the grant at once.', { exact: false }).waitFor()
      // Which secret it opens, by name (issue 13).
      await dialog.getByText('The only secret it may reveal: billing-api.', { exact: false }).waitFor()
      await assertAccessible(cu, 'the approval dialog')
      await dialog.getByLabel('Note (optional)').fill('approved for ticket 4711')
      await dialog.getByRole('button', { name: 'Approve access' }).focus()
      await cu.keyboard.press('Enter')
      await cu.getByText(/^Approved: the grant runs until /).waitFor()
      assert.equal((await orgGrants())[0]?.status, 'active')

      // The operator's list follows the approval; acting under it opens the named secret.
      // Its accessible name starts with its visible words (WCAG 2.5.3, issue 13).
      const actButton = mine.getByRole('button', { name: 'Act under it: the grant to Acme' })
      await actButton.waitFor({ timeout: 15_000 })
      await actButton.click()
      await op.getByRole('heading', { level: 1, name: 'billing-api' }).waitFor()
      const banner = op.getByRole('region', { name: 'Acting under a grant' })
      await banner.getByText(/^Acting in Acme under a diagnostic access grant, until /).waitFor()
      // The banner's scope in words and the named secret by its name (issue 13).
      await banner.getByText('Reveal a secret’s value (audited, with a reason)').waitFor()
      await banner.getByRole('link', { name: 'billing-api' }).waitFor()
      const bannerText = await banner.innerText()
      assert.doesNotMatch(bannerText, /secrets:read|vault:reveal/)
      assert.ok(!bannerText.includes(secretId), 'no secret id in the banner')
      await assertAccessible(op, 'the customer’s secret, acting under the grant')

      const reveal = op.getByRole('region', { name: 'Reveal the value' })
      await reveal.getByLabel(/^Reason/).fill('ticket 4711: compare with the billing provider')
      await reveal.getByRole('button', { name: 'Reveal', exact: true }).click()
      const shown = op.getByRole('group', { name: 'Revealed value' })
      await shown.getByRole('button', { name: 'Show value' }).click()
      await shown.getByText(secretValue).waitFor()
      await shown.getByRole('button', { name: 'Hide now' }).click()
      // Every request to Acme's routes carried the grant; no other request did.
      const acme = `/v1/orgs/${world.customer.orgId}`
      const toAcme = operator.grantHeaders.filter((h) => new URL(h.url).pathname.startsWith(acme))
      assert.ok(toAcme.length >= 2, 'the secret and the reveal were asked')
      assert.ok(
        toAcme.every((h) => h.grant === asked.id),
        'each request to the org carries the grant',
      )
      assert.ok(
        operator.grantHeaders.filter((h) => !new URL(h.url).pathname.startsWith(acme)).every((h) => h.grant === ''),
        'no other request carries it',
      )
      const reveals = (await orgEvents('action=secret.reveal')).filter((e) => e.details.grant === asked.id)
      assert.equal(reveals.length, 1, 'the reveal is in Acme’s log, naming the grant')
      // The banner reads the secret's name once a tab: the provider's own pages, loaded
      // afresh, show it without asking Acme again (each read would be a use in its log).
      const usesBefore = (await orgEvents(`target=${asked.id}&action=grant.use`)).length
      await op.goto(`${world.origin}/console/operator`)
      await banner.getByRole('link', { name: 'billing-api' }).waitFor()
      await op.waitForLoadState('networkidle')
      assert.equal((await orgEvents(`target=${asked.id}&action=grant.use`)).length, usesBefore, 'no use off its pages')
      await op.goBack()
      await op.getByRole('heading', { level: 1, name: 'billing-api' }).waitFor()
      // An application's event naming the grant (any audit:write holder may send one) is no use.
      const sent = await call('POST', `/v1/orgs/${world.customer.orgId}/audit/events`, world.customer.ownerToken, {
        id: 'grant-lookalike-1',
        action: 'diagnostic.secret_reveal',
        actor: { id: 'someone', type: 'user', name: 'someone' },
        targets: [{ type: 'grant', id: asked.id }],
      })
      assert.equal(sent.status, 201, sent.text)

      // The customer: the use in the grant's timeline, with time, action and target.
      const timeline = cu.getByRole('region', { name: 'Timeline' })
      await timeline.getByRole('button', { name: 'Refresh the timeline' }).click()
      const events = timeline.getByRole('table', { name: 'Timeline' })
      await events.getByRole('row', { name: /Secret revealed secret billing-api success/ }).waitFor()
      // Each use by what it did, in words, never the API's route (issue 13).
      await events
        .getByRole('row', { name: /Used the diagnostic access grant revealed the secret billing-api success/ })
        .waitFor()
      await events
        .getByRole('row', { name: /Used the diagnostic access grant read the secret billing-api success/ })
        .first()
        .waitFor()
      const uses = (await orgEvents(`target=${asked.id}&action=grant.use`)).length
      assert.ok(uses >= 2, 'the secret read and the reveal')
      await timeline.getByText(`Used ${uses} times.`).waitFor()
      // Actions and targets in words: no action name, no id (issue 13).
      for (const action of [
        'Diagnostic access requested',
        'Diagnostic access approved',
        'Diagnostic access grant activated',
      ])
        await events.getByRole('cell', { name: action, exact: true }).first().waitFor()
      const timelineText = await events.innerText()
      assert.doesNotMatch(timelineText, /grant\.(request|approve|activate|use)\b/)
      assert.doesNotMatch(timelineText, /diagnostic secret reveal/i, 'an application’s event is not in the timeline')
      assert.doesNotMatch(timelineText, /\/v1\/|:orgId/, 'no route')
      assert.doesNotMatch(timelineText, /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i, 'no id')
      await events.getByRole('row', { name: /Diagnostic access requested this grant/ }).waitFor()
      await assertAccessible(cu, 'the grant’s page with its timeline')

      // The customer revokes it.
      await cu.getByRole('button', { name: 'Revoke' }).click()
      const revoke = cu.getByRole('dialog', { name: 'Revoke this grant?' })
      await revoke.getByLabel('Note (optional)').fill('ticket closed')
      await revoke.getByRole('button', { name: 'Revoke grant' }).click()
      await cu.getByText('Revoked: the grant’s next use is refused.').waitFor()
      assert.equal((await orgGrants())[0]?.status, 'revoked')
      // Each decision's note apart: the approval's with its approver, the revocation's as the end (issue 13).
      const decided = cu.getByRole('table', { name: 'Grant' })
      await decided
        .getByRole('row', { name: /^Approvals/ })
        .getByText(`${world.customer.ownerEmail}, `, { exact: false })
        .waitFor()
      await decided.getByText('“approved for ticket 4711”', { exact: false }).waitFor()
      const ended = decided.getByRole('row', { name: /^Ended/ })
      assert.match(
        await ended.innerText(),
        new RegExp(`Revoked by ${world.customer.ownerEmail.replace(/[.]/g, '\\.')}, .+: “ticket closed”`),
        'who revoked it, when, and the note',
      )
      assert.doesNotMatch(await ended.innerText(), /4711/, 'the approval’s note is not the revocation’s')

      // The operator's next action is refused, saying the grant ended (not "no such org"), and the banner says why.
      await reveal.getByLabel(/^Reason/).fill('ticket 4711: one more look')
      await reveal.getByRole('button', { name: 'Reveal', exact: true }).click()
      await refusalAlert(reveal, 'NOT_FOUND')
        .getByText(/the grant you act under is revoked: Acme refuses every request under it/)
        .waitFor()
      assert.doesNotMatch(await reveal.getByRole('alert').innerText(), /no such org/)
      assert.equal(await shown.count(), 0, 'nothing revealed')
      await banner.getByRole('alert').getByText('Acme no longer accepts it', { exact: false }).waitFor()
      const refused = (await orgEvents(`target=${asked.id}&action=grant.use&outcome=denied`)).length
      assert.equal(refused, 1, 'the refused use is in Acme’s log')
      await assertAccessible(op, 'the refused reveal under a revoked grant')

      // Leaving the grant ends it in the console: back to the operator's page, no banner,
      // and Acme's pages are no longer opened.
      await banner.getByRole('button', { name: 'Leave the grant' }).click()
      await op.getByRole('heading', { level: 1, name: 'Diagnostic access' }).waitFor()
      await banner.waitFor({ state: 'detached' })
      await mine.getByRole('row', { name: /revoked/ }).waitFor()
      await op.goto(`${world.origin}/console/orgs/${world.customer.orgId}/secrets/${secretId}`)
      await op.getByRole('heading', { name: 'Choose an org' }).waitFor()

      assert.deepEqual(operator.csp, [], 'no CSP violation (operator)')
      assert.deepEqual(customer.csp, [], 'no CSP violation (customer)')
    } finally {
      await operator.context.close()
      await customer.context.close()
    }
  })

  it('issue 13: the grant policy asks for two approvers: the first approval says another is needed and opens nothing; a request is denied', async () => {
    const customer = await signedIn(world.customer.ownerEmail, 'Acme')
    const cu = customer.page
    try {
      await cu.getByRole('navigation', { name: 'Org pages' }).getByRole('link', { name: 'Diagnostic access' }).click()
      const policy = cu.getByRole('region', { name: 'Grant policy' })
      await policy.getByLabel('Longest grant (days)').fill('10')
      await policy.getByLabel('Approvals required').selectOption('2')
      // Only the owner holds grants:approve: four eyes could never be met (issue 13).
      await policy
        .getByText(
          `Only ${world.customer.ownerEmail} may approve grants: with 2 approvals required, every request waits until it lapses.`,
          { exact: false },
        )
        .waitFor()
      await assertAccessible(cu, 'the policy form warning of too few approvers')
      await policy.getByRole('button', { name: 'Save policy' }).click()
      await policy.getByText('Saved: new requests follow this policy.').waitFor()
      const saved = await call('GET', `/v1/orgs/${world.customer.orgId}/grant-policy`, world.customer.ownerToken)
      assert.deepEqual(saved.body, { maxDays: 10, requiredApprovals: 2 })

      const asked = await call('POST', '/v1/operator/grants', world.provider.token, {
        orgId: world.customer.orgId,
        reason: 'ticket 4712: audit export looks truncated',
        permissions: ['audit:read'],
      })
      assert.equal(asked.status, 201, asked.text)
      assert.equal(asked.body.durationDays, 10, 'the org’s maximum, shorter than the default')
      await cu.reload()
      const row = cu.getByRole('table', { name: 'Pending requests' }).getByRole('row', { name: /ticket 4712/ })
      await row.waitFor()
      assert.equal((await row.getByRole('cell').allInnerTexts())[4], '0 of 2')
      await row.getByRole('link', { name: 'ticket 4712: audit export looks truncated' }).click()
      // The page settled (its grant, timeline and session reads answered) before the dialog
      // opens: a read answering while it opens re-rendered the dialog under the pointer.
      await cu.getByRole('table', { name: 'Timeline' }).waitFor()
      await cu.waitForLoadState('networkidle')

      await cu.getByRole('button', { name: 'Approve' }).click()
      const dialog = cu.getByRole('dialog', { name: 'Approve this diagnostic access?' })
      await dialog
        .getByText(
          `This org requires 2 approvals: after yours, another person with the grants:approve permission (not ${world.provider.email}, who asked, and not you) must approve before anything opens.`,
          { exact: false },
        )
        .waitFor()
      await dialog.getByRole('button', { name: 'Approve access' }).click()
      await cu.getByText('Approved (1 of 2): it needs another approver before anything opens.').waitFor()
      const facts = cu.getByRole('table', { name: 'Grant' })
      await facts.getByText(world.customer.ownerEmail, { exact: false }).waitFor()
      let grant = (await orgGrants()).find((g) => g.id === asked.body.id)
      assert.equal(grant?.status, 'pending')
      assert.equal(grant?.approvals.length, 1)
      await assertAccessible(cu, 'a grant with one of two approvals')

      // The same person cannot give the second approval (the API refuses it): it is not
      // offered, and the page says who must come next.
      await cu
        .getByRole('group', { name: 'Decisions' })
        .getByText('You approved it; another person who may approve grants must approve too.')
        .waitFor()
      await cu
        .getByRole('group', { name: 'Decisions' })
        .getByText('No one else in this org can approve it', { exact: false })
        .waitFor()
      assert.equal(await cu.getByRole('button', { name: 'Approve' }).count(), 0)
      const twice = await call(
        'POST',
        `/v1/orgs/${world.customer.orgId}/grants/${asked.body.id}/approve`,
        world.customer.ownerToken,
        {},
      )
      assert.equal(twice.status, 409, twice.text)
      assert.match(twice.body.detail, /you have approved this grant already/)

      await cu.getByRole('button', { name: 'Deny' }).click()
      const deny = cu.getByRole('dialog', { name: 'Deny this request?' })
      await deny.getByLabel('Note (optional)').fill('use the export of last week instead')
      await deny.getByRole('button', { name: 'Deny request' }).click()
      await cu.getByText('Denied: the operator gets no access.').waitFor()
      grant = (await orgGrants()).find((g) => g.id === asked.body.id)
      assert.equal(grant?.status, 'denied')
      assert.equal(await cu.getByRole('group', { name: 'Decisions' }).getByRole('button').count(), 0)
      const timeline = cu.getByRole('table', { name: 'Timeline' })
      await timeline.getByRole('cell', { name: 'Diagnostic access denied', exact: true }).waitFor()
      // Who denied it, when, with the note (issue 13).
      const deniedRow = cu.getByRole('table', { name: 'Grant' }).getByRole('row', { name: /^Denied/ })
      assert.match(
        await deniedRow.innerText(),
        new RegExp(`${world.customer.ownerEmail.replace(/[.]/g, '\\.')}, .+: “use the export of last week instead”`),
      )
      assert.match(
        await cu.getByRole('table', { name: 'Grant' }).getByRole('row', { name: /^Runs/ }).innerText(),
        /^Runs\s+never: it was not approved$/,
      )
      assert.deepEqual(customer.csp, [], 'no CSP violation')
    } finally {
      await customer.context.close()
    }
  })
  it('issue 13: approve and deny from the pending list, each row saying who else must approve', async () => {
    await joinCustomer(world, 'second-approver@acme.test', 'admin')
    const customer = await signedIn(world.customer.ownerEmail, 'Acme')
    const cu = customer.page
    try {
      const asked = await call('POST', '/v1/operator/grants', world.provider.token, {
        orgId: world.customer.orgId,
        reason: 'ticket 4713: sync stalls',
        permissions: ['org:read'],
      })
      assert.equal(asked.status, 201, asked.text)
      const denied = await call('POST', '/v1/operator/grants', world.provider.token, {
        orgId: world.customer.orgId,
        reason: 'ticket 4714: not needed after all',
        permissions: ['org:read'],
      })
      assert.equal(denied.status, 201, denied.text)
      await cu.getByRole('navigation', { name: 'Org pages' }).getByRole('link', { name: 'Diagnostic access' }).click()
      const pending = cu.getByRole('table', { name: 'Pending requests' })
      const row = pending.getByRole('row', { name: /ticket 4713/ })
      await row.waitFor()
      // The policy of the previous test: two approvers.
      await row
        .getByText('2 approvals needed: after yours, another person who may approve grants', { exact: false })
        .waitFor()
      // Who else could approve, by email (issue 13).
      await row.getByText('Others who can approve: second-approver@acme.test.', { exact: false }).waitFor()
      await assertAccessible(cu, 'the pending list with its decisions')
      await row
        .getByRole('button', { name: `Approve the request of ${world.provider.email}: ticket 4713: sync stalls` })
        .click()
      const dialog = cu.getByRole('dialog', { name: 'Approve this diagnostic access?' })
      await dialog.getByText('This org requires 2 approvals', { exact: false }).waitFor()
      await dialog.getByLabel('Note (optional)').fill('first of two')
      await dialog.getByRole('button', { name: 'Approve access' }).click()
      await cu.getByText('Approved (1 of 2): it needs another approver before anything opens.').waitFor()
      await row.getByText(`Approved by ${world.customer.ownerEmail}.`, { exact: false }).waitFor()
      // The approver is not offered a second approval (the API would refuse it): the row says
      // who must come next instead.
      await row
        .getByText('You approved it: 1 more approval from another person who may approve grants opens it.', {
          exact: false,
        })
        .waitFor()
      assert.equal(await row.getByRole('button', { name: /^Approve the request of/ }).count(), 0)
      const approved = (
        await call('GET', `/v1/orgs/${world.customer.orgId}/grants/${asked.body.id}`, world.customer.ownerToken)
      ).body
      assert.deepEqual(
        approved.approvals.map((a: { email: string; note: string }) => [a.email, a.note]),
        [[world.customer.ownerEmail, 'first of two']],
      )

      const other = pending.getByRole('row', { name: /ticket 4714/ })
      await other.getByRole('button', { name: /^Deny the request of/ }).click()
      const deny = cu.getByRole('dialog', { name: 'Deny this request?' })
      await deny.getByLabel('Note (optional)').fill('not needed')
      await deny.getByRole('button', { name: 'Deny request' }).click()
      await cu.getByText('Denied: the operator gets no access.').waitFor()
      await cu
        .getByRole('table', { name: 'Grants' })
        .getByRole('row', { name: /ticket 4714/ })
        .waitFor()
      assert.equal(await pending.getByRole('row', { name: /ticket 4714/ }).count(), 0, 'no longer pending')
      const read = (
        await call('GET', `/v1/orgs/${world.customer.orgId}/grants/${denied.body.id}`, world.customer.ownerToken)
      ).body
      assert.deepEqual([read.status, read.decisionNote, read.endNote], ['denied', 'not needed', null])
      assert.deepEqual(customer.csp, [], 'no CSP violation')
    } finally {
      await customer.context.close()
    }
  })

  it('issue 13: an active grant is revoked from the list; at 1400px every column shows in full; the grant’s page says who revoked it', async () => {
    const policy = await call('PUT', `/v1/orgs/${world.customer.orgId}/grant-policy`, world.customer.ownerToken, {
      maxDays: 10,
      requiredApprovals: 1,
    })
    assert.equal(policy.status, 200, policy.text)
    const asked = await call('POST', '/v1/operator/grants', world.provider.token, {
      orgId: world.customer.orgId,
      reason: 'ticket 4715: webhook retries pile up',
      permissions: ['org:read'],
    })
    assert.equal(asked.status, 201, asked.text)
    const approved = await call(
      'POST',
      `/v1/orgs/${world.customer.orgId}/grants/${asked.body.id}/approve`,
      world.customer.ownerToken,
      {},
    )
    assert.equal(approved.body.status, 'active', approved.text)

    const customer = await signedIn(world.customer.ownerEmail, 'Acme')
    const cu = customer.page
    try {
      await cu.setViewportSize({ width: 1400, height: 900 })
      await cu.getByRole('navigation', { name: 'Org pages' }).getByRole('link', { name: 'Diagnostic access' }).click()
      const grants = cu.getByRole('table', { name: 'Grants', exact: true })
      const row = grants.getByRole('row', { name: /ticket 4715/ })
      await row.waitFor()
      // Every column within the page's width: the last (Until) is not clipped.
      const main = await cu.getByRole('main').boundingBox()
      const until = await grants.getByRole('columnheader', { name: 'Until' }).boundingBox()
      const lastCell = await row.getByRole('cell').last().boundingBox()
      assert.ok(main !== null && until !== null && lastCell !== null)
      assert.ok(until.x + until.width <= main.x + main.width + 0.5, 'the Until column is inside the page')
      assert.ok(lastCell.x + lastCell.width <= main.x + main.width + 0.5, 'its cell too')
      assert.equal(
        await grants.evaluate(
          (table) => Number(table.scrollWidth) <= Number(table.parentElement?.clientWidth ?? 0) + 1,
        ),
        true,
        'the table fits its column',
      )
      await assertAccessible(cu, 'the grant list with an active grant')

      await row
        .getByRole('button', {
          name: `Revoke the grant to ${world.provider.email}: ticket 4715: webhook retries pile up`,
        })
        .click()
      const dialog = cu.getByRole('dialog', { name: 'Revoke this grant?' })
      await dialog.getByLabel('Note (optional)').fill('fixed by the vendor')
      await dialog.getByRole('button', { name: 'Revoke grant' }).click()
      await cu.getByText('Revoked: the grant’s next use is refused.').waitFor()
      await row.getByText('revoked', { exact: true }).waitFor()
      assert.equal(await row.getByRole('button', { name: /^Revoke/ }).count(), 0, 'a revoked grant offers no Revoke')
      const read = await call(
        'GET',
        `/v1/orgs/${world.customer.orgId}/grants/${asked.body.id}`,
        world.customer.ownerToken,
      )
      assert.deepEqual(
        [read.body.status, read.body.endNote, read.body.endedByEmail],
        ['revoked', 'fixed by the vendor', world.customer.ownerEmail],
      )
      // The operator is not told who at the customer decided (another org's people).
      const mine = await call('GET', '/v1/operator/grants?limit=500', world.provider.token)
      const seen = (
        mine.body.grants as { id: string; endedByEmail: string | null; decidedByEmail: string | null }[]
      ).find((g) => g.id === asked.body.id)
      assert.deepEqual([seen?.endedByEmail, seen?.decidedByEmail], [null, null])

      await row.getByRole('link', { name: 'ticket 4715: webhook retries pile up' }).click()
      const ended = cu.getByRole('table', { name: 'Grant' }).getByRole('row', { name: /^Ended/ })
      await ended.waitFor()
      assert.match(await ended.innerText(), /Revoked by owner@acme\.test, .+: “fixed by the vendor”/)
      assert.deepEqual(customer.csp, [], 'no CSP violation')
    } finally {
      await customer.context.close()
    }
  })

  it('issue 13: acting under a grant of members:read and org:read lands on Members, lists only the pages it opens, and asks nothing beyond it; a refused attempt is said by what it tried', async () => {
    const policy = await call('PUT', `/v1/orgs/${world.customer.orgId}/grant-policy`, world.customer.ownerToken, {
      maxDays: 10,
      requiredApprovals: 1,
    })
    assert.equal(policy.status, 200, policy.text)
    const asked = await call('POST', '/v1/operator/grants', world.provider.token, {
      orgId: world.customer.orgId,
      reason: 'ticket 4716: who can reach the billing team',
      permissions: ['members:read', 'org:read'],
    })
    assert.equal(asked.status, 201, asked.text)
    const grantId = asked.body.id as string
    const approved = await call(
      'POST',
      `/v1/orgs/${world.customer.orgId}/grants/${grantId}/approve`,
      world.customer.ownerToken,
      {},
    )
    assert.equal(approved.body.status, 'active', approved.text)
    const deniedUnderGrant = async () =>
      (await orgEvents('action=access.denied')).filter((e) => e.details.grant === grantId && e.details.status === 403)
        .length + (await orgEvents(`target=${grantId}&action=grant.use&outcome=denied`)).length
    const misuseAlerts = async () =>
      (
        (await call('GET', `/v1/orgs/${world.customer.orgId}/alerts?limit=100`, world.customer.ownerToken)).body
          .alerts as { rule: string; details: Record<string, unknown> }[]
      ).filter((a) => a.rule === 'grant_misuse' && a.details.grant === grantId).length

    const operator = await signedIn(world.provider.email, 'Provider', await unusedTotpCode(world.provider.totpSecret))
    const op = operator.page
    // Every answer from Acme's routes while acting: none may be a refusal. Acme has no SSO set
    // up and has not asked to be deleted: those two answer 404 within the grant's scope.
    const absent = new Set(['sso', 'offboarding'].map((p) => `/v1/orgs/${world.customer.orgId}/${p}`))
    const refusals: string[] = []
    op.on('response', (response) => {
      const url = new URL(response.url())
      const isAbsent = response.status() === 404 && absent.has(url.pathname)
      if (url.pathname.startsWith(`/v1/orgs/${world.customer.orgId}`) && response.status() >= 400 && !isAbsent)
        refusals.push(`${response.status()} ${response.request().method()} ${url.pathname}`)
    })
    let customer: Session | undefined
    try {
      await op.goto(`${world.origin}/console/operator/grants`)
      const mine = op.getByRole('table', { name: 'Your grants' })
      const row = mine.getByRole('row', { name: /ticket 4716/ })
      await row.getByRole('button', { name: 'Act under it: the grant to Acme' }).click()
      // The first page in nav order the grant opens: Members, not Secrets.
      await op.getByRole('heading', { level: 1, name: 'Members' }).waitFor()
      assert.match(new URL(op.url()).pathname, new RegExp(`/orgs/${world.customer.orgId}/members$`))
      await op.getByRole('main').getByText(world.customer.ownerEmail).first().waitFor()
      const nav = op.getByRole('navigation', { name: 'Org pages' })
      assert.deepEqual(
        await nav.getByRole('link').allInnerTexts(),
        ['Members', 'Security policy', 'Offboarding'],
        'only the pages the grant opens',
      )
      await assertAccessible(op, 'Members, acting under a grant of members:read and org:read')
      // Through its pages with the keyboard.
      await nav.getByRole('link', { name: 'Security policy' }).focus()
      await op.keyboard.press('Enter')
      await op.getByRole('heading', { level: 1, name: 'Security policy' }).waitFor()
      await nav.getByRole('link', { name: 'Offboarding' }).focus()
      await op.keyboard.press('Enter')
      await op.getByRole('heading', { level: 1, name: 'Offboarding' }).waitFor()
      await nav.getByRole('link', { name: 'Members' }).click()
      await op.getByRole('heading', { level: 1, name: 'Members' }).waitFor()
      await op.waitForLoadState('networkidle')
      assert.deepEqual(refusals, [], 'the console asked nothing beyond the grant')
      assert.equal(await deniedUnderGrant(), 0, 'no refused use in Acme’s log')
      assert.equal(await misuseAlerts(), 0, 'no grant_misuse alert')
      const uses = (await orgEvents(`target=${grantId}&action=grant.use&outcome=success`)).length
      assert.ok(uses >= 3, 'the members, the policy and the offboarding state were read under it')

      // Beyond the grant by address: the console says so and asks Acme nothing.
      await op.goto(`${world.origin}/console/orgs/${world.customer.orgId}/secrets`)
      await op.getByRole('heading', { level: 1, name: 'Outside the grant' }).waitFor()
      await op.getByText('Secrets is not in the grant’s scope').waitFor()
      await assertAccessible(op, 'a page outside the grant')
      await op.getByRole('link', { name: 'Back to what the grant opens' }).focus()
      await op.keyboard.press('Enter')
      await op.getByRole('heading', { level: 1, name: 'Members' }).waitFor()
      await op.waitForLoadState('networkidle')
      assert.deepEqual(refusals, [], 'nothing asked beyond the grant from the address bar')
      assert.equal(await deniedUnderGrant(), 0, 'no refused use in Acme’s log')
      // Beyond the grant through the API: refused, and Acme's timeline says what was tried.
      const beyond = await httpsJson(world.server.httpsPort, 'GET', `/v1/orgs/${world.customer.orgId}/secrets`, {
        token: world.provider.token,
        headers: { 'x-custodian-grant': grantId },
      })
      assert.equal(beyond.status, 403, beyond.text)
      const tried = (await orgEvents('action=access.denied')).filter(
        (e) => e.details.grant === grantId && e.details.status === 403,
      )
      assert.ok(tried.length >= 1)
      assert.ok(tried.some((e) => e.target?.id === 'GET /v1/orgs/:orgId/secrets'))

      customer = await signedIn(world.customer.ownerEmail, 'Acme')
      const cu = customer.page
      await cu.goto(`${world.origin}/console/orgs/${world.customer.orgId}/grants/${grantId}`)
      const events = cu.getByRole('table', { name: 'Timeline' })
      await events
        .getByRole('row', { name: /tried to list secrets denied/ })
        .first()
        .waitFor()
      const usedNow = (await orgEvents(`target=${grantId}&action=grant.use&outcome=success`)).length
      const attempts = tried.length === 1 ? '1 attempt' : `${tried.length} attempts`
      await cu
        .getByRole('region', { name: 'Timeline' })
        .getByText(`${usedNow === 1 ? 'Used once' : `Used ${usedNow} times`}; ${attempts} refused.`)
        .waitFor()
      const timelineText = await events.innerText()
      assert.doesNotMatch(timelineText, /a route/, 'a refusal by what it tried, not "a route"')
      assert.doesNotMatch(timelineText, /\/v1\/|:orgId/, 'no route')
      await assertAccessible(cu, 'the grant’s timeline with a refused attempt')
      assert.deepEqual(operator.csp, [], 'no CSP violation (operator)')
    } finally {
      await operator.context.close()
      await customer?.context.close()
    }
  })
})
