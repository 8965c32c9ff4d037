import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { sql } from 'kysely'
import type { Browser, Locator, Page } from 'playwright-core'
import { ensureBuilt } from '../../scripts/console.ts'
import { withOwner } from '../../src/db/tenant.ts'
import {
  assertAccessible,
  joinCustomer,
  launchChromium,
  openSignedIn,
  refusalAlert,
  startConsoleWorld,
  type ConsoleWorld,
} from '../helpers/console.ts'
import { createTestDatabase, postgresAvailable, type TestDatabase } from '../helpers/db.ts'
import { httpsJson } from '../helpers/process.ts'

const DAY = 86_400_000

// The console's response plan page (issue 13: "the response plan (types, playbooks, parties,
// escalation) and its review history and due date"), in Debian's Chromium against a real
// server: each part edited in the page and checked through the API, playbook steps
// reordered with the keyboard alone, a review recorded, a refused field shown on its
// field, an overdue review said in words, and the refusals of a viewer (no incidents:read)
// and of an auditor (no response_plan:manage).
//
// The server runs on PostgreSQL when TEST_DATABASE_URL is set (else PGlite): an overdue
// review needs a plan whose first version is older than six months, and the server takes
// no clock, so that test moves the versions' dates back in the database itself.
describe('web console: the response plan', () => {
  let database: TestDatabase | undefined
  let world: ConsoleWorld
  let browser: Browser
  let ownerId: string
  let auditorToken: string
  const auditorEmail = 'auditor@acme.test'

  const call = (method: string, url: string, body?: unknown) =>
    httpsJson(world.server.httpsPort, method, `/v1/orgs/${world.customer.orgId}${url}`, {
      token: world.customer.ownerToken,
      body,
    })
  const plan = async () => {
    const got = await call('GET', '/response-plan')
    assert.equal(got.status, 200, got.text)
    return got.body as {
      version: number
      types: {
        id: string
        name: string
        description?: string
        defaultSeverity: string
        affectsThirdParties?: boolean
        playbook: string[]
      }[]
      parties: { kind: string; name: string; deadlineHours: number }[]
      escalation: { afterMinutes: number; notifyRoles: string[]; notifyUsers: string[] }[]
      reviews: { version: number; reviewedAt: string; reviewedBy: string; notes: string }[]
      reviewDueAt: string | null
      reviewOverdue: boolean
      versions: { version: number; change: string }[]
    }
  }

  before(async () => {
    await ensureBuilt()
    if (postgresAvailable()) database = await createTestDatabase('postgres')
    world = await startConsoleWorld(database === undefined ? {} : { DATABASE_URL: database.url as string })
    browser = await launchChromium()
    const me = await httpsJson(world.server.httpsPort, 'GET', '/v1/me', { token: world.customer.ownerToken })
    assert.equal(me.status, 200, me.text)
    ownerId = me.body.id
    auditorToken = (await joinCustomer(world, auditorEmail, 'auditor')).apiToken
  })
  after(async () => {
    await browser?.close()
    await world?.server.stop()
    await database?.close()
  })

  const signedIn = (email: string) => openSignedIn(browser, world, email, { org: 'Acme' })

  async function openPlan(page: Page): Promise<void> {
    await page.getByRole('navigation', { name: 'Org pages' }).getByRole('link', { name: 'Response plan' }).click()
    await page.getByRole('heading', { level: 1, name: 'Response plan' }).waitFor()
  }

  /** Presses `key` until `target` has the focus (at most 80 times); fails otherwise. */
  async function tabTo(page: Page, target: Locator, key = 'Tab'): Promise<void> {
    await target.waitFor()
    for (let i = 0; i < 80; i++) {
      if (await isFocused(target)) return
      await page.keyboard.press(key)
    }
    assert.fail(`${key} never reached ${target.toString()}`)
  }
  const isFocused = (target: Locator) => target.evaluate((el) => el.matches(':focus'))

  /** The step fields of the type dialog, in order. */
  const stepValues = async (dialog: Locator) => {
    const fields = dialog.getByRole('textbox', { name: /^Step \d+$/ })
    const values: string[] = []
    for (let i = 0; i < (await fields.count()); i++) values.push(await fields.nth(i).inputValue())
    return values
  }

  it('issue 13: a new plan says what applies by default; an incident type is added with the keyboard alone, its playbook steps reordered with the Up and Down buttons', async () => {
    const { page, csp, close } = await signedIn(world.customer.ownerEmail)
    try {
      await openPlan(page)
      await page.getByText('None set: customers and users are notified within 72 hours (the default).').waitFor()
      await page.getByText(/^No review is due yet/).waitFor()
      await page.getByText('No incident types yet: incidents are opened without a playbook.').waitFor()
      await page.getByText('No review recorded yet.').waitFor()
      const levels = page.getByRole('table', { name: 'Escalation levels' })
      assert.match(await levels.getByRole('row').nth(1).innerText(), /30 min unacknowledged\s+owner, admin/)
      await assertAccessible(page, 'a new response plan')

      await tabTo(page, page.getByRole('button', { name: 'Add an incident type' }))
      await page.keyboard.press('Enter')
      const dialog = page.getByRole('dialog', { name: 'Add an incident type' })
      await tabTo(page, dialog.getByLabel(/^Name/))
      await page.keyboard.type('Credential leak')
      await page.keyboard.press('Tab')
      await page.keyboard.type('A secret or token seen where it should not be.')
      await tabTo(page, dialog.getByLabel('Default severity'))
      // From the default (medium) to critical, with the arrow key on the closed select.
      await page.keyboard.press('ArrowDown')
      await page.keyboard.press('ArrowDown')
      assert.equal(await dialog.getByLabel('Default severity').inputValue(), 'critical')
      await page.keyboard.press('Tab')
      assert.ok(await isFocused(dialog.getByLabel('Affects third parties')))
      await page.keyboard.press('Space')
      // Three steps, each added with "Add step" (the new field takes the focus).
      for (const step of [
        'Decide whether it is a breach',
        'Rotate the leaked credential',
        'Find every use in the audit log',
      ]) {
        await tabTo(page, dialog.getByRole('button', { name: 'Add step' }))
        await page.keyboard.press('Enter')
        const fields = dialog.getByRole('textbox', { name: /^Step \d+$/ })
        await fields.last().waitFor()
        assert.ok(await isFocused(fields.last()), 'the new step’s field has the focus')
        await page.keyboard.type(step)
      }
      await assertAccessible(page, 'the incident type dialog')

      // "Decide…" goes to the end: Down twice on its own button, the focus following the step.
      await tabTo(page, dialog.getByRole('button', { name: 'Move step 1 down' }), 'Shift+Tab')
      await page.keyboard.press('Enter')
      assert.ok(await isFocused(dialog.getByRole('button', { name: 'Move step 2 down' })), 'the focus follows the step')
      await page.keyboard.press('Enter')
      // At the bottom, its Down is disabled: the focus is on its Up.
      assert.ok(await isFocused(dialog.getByRole('button', { name: 'Move step 3 up' })))
      assert.ok(await dialog.getByRole('button', { name: 'Move step 3 down' }).isDisabled())
      assert.deepEqual(await stepValues(dialog), [
        'Rotate the leaked credential',
        'Find every use in the audit log',
        'Decide whether it is a breach',
      ])
      // A fourth step, added and removed again: the focus goes to the step before it.
      await tabTo(page, dialog.getByRole('button', { name: 'Add step' }))
      await page.keyboard.press('Enter')
      await page.keyboard.type('Tell the on-call lead')
      await tabTo(page, dialog.getByRole('button', { name: 'Remove step 4' }))
      await page.keyboard.press('Enter')
      assert.ok(await isFocused(dialog.getByRole('textbox', { name: 'Step 3' })))
      assert.equal((await stepValues(dialog)).length, 3)

      await tabTo(page, dialog.getByRole('button', { name: 'Add type' }))
      await page.keyboard.press('Enter')
      await page.getByRole('status').filter({ hasText: 'Incident type “Credential leak” is added.' }).waitFor()
      const saved = await plan()
      assert.equal(saved.types.length, 1)
      assert.deepEqual(
        {
          name: saved.types[0]?.name,
          description: saved.types[0]?.description,
          severity: saved.types[0]?.defaultSeverity,
          thirdParties: saved.types[0]?.affectsThirdParties,
          playbook: saved.types[0]?.playbook,
        },
        {
          name: 'Credential leak',
          description: 'A secret or token seen where it should not be.',
          severity: 'critical',
          thirdParties: true,
          playbook: [
            'Rotate the leaked credential',
            'Find every use in the audit log',
            'Decide whether it is a breach',
          ],
        },
      )
      assert.deepEqual(
        saved.versions.map((v) => v.change),
        ['type created: Credential leak'],
      )
      const row = page
        .getByRole('table', { name: 'Incident types' })
        .getByRole('row')
        .filter({ hasText: 'Credential leak' })
      assert.deepEqual(
        await row.getByRole('list', { name: 'Playbook of Credential leak' }).getByRole('listitem').allInnerTexts(),
        saved.types[0]?.playbook,
      )
      assert.match(await row.innerText(), /critical/i)
      await page
        .getByRole('table', { name: 'Plan versions' })
        .getByRole('cell', { name: 'type created: Credential leak' })
        .waitFor()
      await assertAccessible(page, 'the plan with a type')
      assert.deepEqual(csp, [], 'no CSP violation')
    } finally {
      await close()
    }
  })

  it('issue 13: a type is edited and removed, breach parties (one refused on its field) and escalation are set, and a review is recorded with its due date', async () => {
    const { page, csp, close } = await signedIn(world.customer.ownerEmail)
    try {
      await openPlan(page)
      // Edit the type: its severity, and step 3 moved up.
      const types = page.getByRole('table', { name: 'Incident types' })
      await types.getByRole('button', { name: 'Edit type Credential leak' }).click()
      const edit = page.getByRole('dialog', { name: 'Edit incident type Credential leak' })
      assert.deepEqual(await stepValues(edit), (await plan()).types[0]?.playbook)
      await edit.getByLabel('Default severity').selectOption('high')
      await edit.getByRole('button', { name: 'Move step 3 up' }).click()
      await edit.getByRole('button', { name: 'Save type' }).click()
      await page.getByRole('status').filter({ hasText: 'Incident type “Credential leak” is saved.' }).waitFor()
      let current = await plan()
      assert.equal(current.types[0]?.defaultSeverity, 'high')
      assert.deepEqual(current.types[0]?.playbook, [
        'Rotate the leaked credential',
        'Decide whether it is a breach',
        'Find every use in the audit log',
      ])

      // A second type, then removed after the confirm dialog.
      await page.getByRole('button', { name: 'Add an incident type' }).click()
      const add = page.getByRole('dialog', { name: 'Add an incident type' })
      await add.getByLabel(/^Name/).fill('Lost laptop')
      await add.getByRole('button', { name: 'Add type' }).click()
      await types.getByRole('row').filter({ hasText: 'Lost laptop' }).waitFor()
      await types.getByRole('button', { name: 'Remove type Lost laptop' }).click()
      const remove = page.getByRole('dialog', { name: 'Remove this incident type?' })
      await remove.getByText(/“Lost laptop” and its playbook leave the plan/).waitFor()
      await assertAccessible(page, 'the remove-type dialog')
      await remove.getByRole('button', { name: 'Remove type' }).click()
      await page.getByRole('status').filter({ hasText: 'Incident type “Lost laptop” is removed.' }).waitFor()
      current = await plan()
      assert.deepEqual(
        current.types.map((t) => t.name),
        ['Credential leak'],
      )

      // Breach parties: two, the second first sent without a name (the API's refusal on its field).
      await page.getByRole('button', { name: 'Edit parties' }).click()
      const parties = page.getByRole('dialog', { name: 'Breach notification parties' })
      await parties.getByRole('button', { name: 'Add party' }).click()
      const first = parties.getByRole('group', { name: 'Party 1' })
      await first.getByLabel('Kind').selectOption('customers')
      await first.getByLabel('Name').fill('customers')
      await first.getByLabel('Deadline (hours)').fill('72')
      await parties.getByRole('button', { name: 'Add party' }).click()
      const second = parties.getByRole('group', { name: 'Party 2' })
      assert.ok(await isFocused(second.getByLabel('Name')), 'the new party’s name has the focus')
      await second.getByLabel('Kind').selectOption('regulator')
      await second.getByLabel('Deadline (hours)').fill('24')
      await parties.getByRole('button', { name: 'Save parties' }).click()
      await refusalAlert(parties, 'VALIDATION_FAILED').waitFor()
      assert.equal(await second.getByLabel('Name').getAttribute('aria-invalid'), 'true', 'the refused field is marked')
      assert.equal((await plan()).parties.length, 0, 'nothing saved')
      await assertAccessible(page, 'the parties dialog with a refused field')
      await second.getByLabel('Name').fill('Data protection authority')
      await parties.getByRole('button', { name: 'Save parties' }).click()
      await page.getByRole('status').filter({ hasText: 'The breach notification parties are saved.' }).waitFor()
      current = await plan()
      assert.deepEqual(
        current.parties.map((p) => [p.kind, p.name, p.deadlineHours]),
        [
          ['regulator', 'Data protection authority', 24],
          ['customers', 'customers', 72],
        ],
      )
      const partyRows = page.getByRole('table', { name: 'Breach notification parties' }).getByRole('row')
      assert.match(await partyRows.nth(1).innerText(), /Data protection authority\s+regulator\s+24 h/)

      // Escalation: admins after 15 minutes, then the owner in person after an hour.
      await page.getByRole('button', { name: 'Edit escalation' }).click()
      const escalation = page.getByRole('dialog', { name: 'Escalation policy' })
      const level1 = escalation.getByRole('group', { name: 'Level 1' })
      await level1.getByLabel(/^After/).fill('15')
      await level1.getByRole('checkbox', { name: 'owner', exact: true }).uncheck()
      assert.ok(await level1.getByRole('checkbox', { name: 'admin', exact: true }).isChecked())
      await escalation.getByRole('button', { name: 'Add level' }).click()
      const level2 = escalation.getByRole('group', { name: 'Level 2' })
      await level2.getByLabel(/^After/).fill('60')
      await level2.getByRole('checkbox', { name: world.customer.ownerEmail }).check()
      await assertAccessible(page, 'the escalation dialog')
      await escalation.getByRole('button', { name: 'Save escalation' }).click()
      await page.getByRole('status').filter({ hasText: 'The escalation policy is saved.' }).waitFor()
      current = await plan()
      assert.deepEqual(current.escalation, [
        { afterMinutes: 15, notifyRoles: ['admin'], notifyUsers: [] },
        { afterMinutes: 60, notifyRoles: [], notifyUsers: [ownerId] },
      ])
      const levelRows = page.getByRole('table', { name: 'Escalation levels' }).getByRole('row')
      assert.match(
        await levelRows.nth(2).innerText(),
        new RegExp(`60 min unacknowledged\\s+—\\s+${world.customer.ownerEmail}`),
      )

      // Record a review: the history shows it, and the next is due six months on.
      const dueBefore = current.reviewDueAt
      assert.ok(dueBefore !== null)
      await page
        .getByText(`Next review due on ${await page.evaluate((iso) => new Date(iso).toLocaleDateString(), dueBefore)}`)
        .waitFor()
      await page.getByRole('button', { name: 'Record a review' }).click()
      const review = page.getByRole('dialog', { name: `Record a review of version ${current.version}` })
      assert.ok(await review.getByRole('button', { name: 'Record review' }).isDisabled(), 'notes are needed')
      await review.getByLabel(/^Notes/).fill('Walked through with the on-call team; the regulator’s deadline checked.')
      await review.getByRole('button', { name: 'Record review' }).click()
      await page
        .getByRole('status')
        .filter({ hasText: `The review of version ${current.version} is recorded.` })
        .waitFor()
      const reviewed = await plan()
      assert.equal(reviewed.reviews.length, 1)
      assert.equal(reviewed.reviews[0]?.reviewedBy, `user:${ownerId}`)
      assert.equal(reviewed.reviews[0]?.version, current.version)
      assert.equal(
        Date.parse(reviewed.reviewDueAt ?? '') - Date.parse(reviewed.reviews[0]?.reviewedAt ?? ''),
        183 * DAY,
      )
      const history = page.getByRole('table', { name: 'Review history' })
      const entry = history.getByRole('row').filter({ hasText: 'Walked through with the on-call team' })
      assert.match(await entry.innerText(), new RegExp(world.customer.ownerEmail))
      await page.getByText(/^Next review due on .+ \(in 183 days\)\.$/).waitFor()
      await page.getByText(`— last review of version ${current.version} on`, { exact: false }).waitFor()
      // The versions: every change, newest first.
      assert.deepEqual(
        reviewed.versions.map((v) => v.change),
        [
          'type created: Credential leak',
          'type changed: Credential leak',
          'type created: Lost laptop',
          'type deleted',
          'breach notification parties changed',
          'escalation policy changed',
        ],
      )
      const versionRows = page.getByRole('table', { name: 'Plan versions' }).getByRole('row')
      assert.match(await versionRows.nth(1).innerText(), /^6\s.*escalation policy changed$/s)
      await assertAccessible(page, 'the reviewed plan')
      // The audit log has the changes and the review.
      const events = await call('GET', '/audit/events?action=response_plan.*&limit=50')
      assert.deepEqual(
        (events.body.events as { action: string }[]).map((e) => e.action).sort(),
        [...Array(6).fill('response_plan.update'), 'response_plan.review'].sort(),
      )
      assert.deepEqual(csp, [], 'no CSP violation')
    } finally {
      await close()
    }
  })

  it('issue 13: an overdue review is said in words; recording one makes it due in six months', {
    skip: postgresAvailable() ? false : 'needs TEST_DATABASE_URL (the plan’s dates are set in its database)',
  }, async () => {
    assert.ok(database !== undefined)
    // The plan as if written 200 days ago and reviewed 190 days ago: the review was due 7 days ago.
    await withOwner(database.kysely, async (trx) => {
      await sql`UPDATE response_plan_versions SET created_at = created_at - interval '200 days' WHERE org_id = ${world.customer.orgId}`.execute(
        trx,
      )
      await sql`UPDATE response_plan_reviews SET reviewed_at = reviewed_at - interval '190 days' WHERE org_id = ${world.customer.orgId}`.execute(
        trx,
      )
    })
    const before = await plan()
    assert.equal(before.reviewOverdue, true)
    const { page, csp, close } = await signedIn(world.customer.ownerEmail)
    try {
      await openPlan(page)
      const due = await page.evaluate((iso) => new Date(iso).toLocaleDateString(), before.reviewDueAt ?? '')
      await page.getByText(`Review overdue: it was due on ${due} (7 days ago).`).waitFor()
      await assertAccessible(page, 'an overdue review')
      await page.getByRole('button', { name: 'Record a review' }).click()
      const review = page.getByRole('dialog', { name: /^Record a review of version/ })
      await review.getByLabel(/^Notes/).fill('Six-monthly review, late: no change needed.')
      await review.getByRole('button', { name: 'Record review' }).click()
      await page.getByText(/^Next review due on .+ \(in 183 days\)\.$/).waitFor()
      assert.equal(await page.getByText(/^Review overdue/).count(), 0)
      const after = await plan()
      assert.equal(after.reviewOverdue, false)
      assert.deepEqual(
        after.reviews.map((r) => r.notes),
        [
          'Six-monthly review, late: no change needed.',
          'Walked through with the on-call team; the regulator’s deadline checked.',
        ],
      )
      const rows = page.getByRole('table', { name: 'Review history' }).getByRole('row')
      assert.match(await rows.nth(1).innerText(), /Six-monthly review, late/)
      assert.deepEqual(csp, [], 'no CSP violation')
    } finally {
      await close()
    }
  })

  it('issue 13: a viewer (no incidents:read) sees the API’s refusal naming it; an auditor sees the plan and is offered no change', async () => {
    const viewer = await signedIn(world.customer.viewerEmail)
    try {
      await openPlan(viewer.page)
      await viewer.page.getByRole('alert').filter({ hasText: 'incidents:read' }).waitFor()
      assert.equal(
        await viewer.page.getByRole('button', { name: /Record a review|Add an incident type|Edit/ }).count(),
        0,
      )
      await assertAccessible(viewer.page, 'the response plan as a viewer')
      assert.deepEqual(viewer.csp, [], 'no CSP violation')
    } finally {
      await viewer.close()
    }
    const auditor = await signedIn(auditorEmail)
    try {
      await openPlan(auditor.page)
      await auditor.page
        .getByRole('table', { name: 'Incident types' })
        .getByRole('row')
        .filter({ hasText: 'Credential leak' })
        .waitFor()
      await auditor.page.getByText(/Changing the plan or recording a review needs the permission “/).waitFor()
      assert.equal(
        await auditor.page.getByRole('button', { name: /Record a review|Add an incident type|Edit|Remove/ }).count(),
        0,
      )
      // Not offered, and the API refuses it anyway, naming the permission.
      const refused = await httpsJson(
        world.server.httpsPort,
        'POST',
        `/v1/orgs/${world.customer.orgId}/response-plan/reviews`,
        { token: auditorToken, body: { notes: 'looked at it' } },
      )
      assert.equal(refused.status, 403, refused.text)
      assert.equal(refused.body.permission, 'response_plan:manage')
      await assertAccessible(auditor.page, 'the response plan as an auditor')
      assert.deepEqual(auditor.csp, [], 'no CSP violation')
    } finally {
      await auditor.close()
    }
  })
})
