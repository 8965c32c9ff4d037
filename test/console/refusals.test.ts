import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import type { Browser, Page } from 'playwright-core'
import { ensureBuilt } from '../../scripts/console.ts'
import {
  joinCustomer,
  launchChromium,
  openPage,
  seriousViolations,
  signIn,
  startConsoleWorld,
  type ConsoleWorld,
} from '../helpers/console.ts'
import { httpsJson } from '../helpers/process.ts'

/**
 * Pages whose first view is the member's own (needing no permission), with the view of the
 * org's data that must refuse: Notifications opens on "Mine".
 */
const OWN_FIRST: Record<string, string> = { notifications: '?tab=org' }

/**
 * Pages that ask the API nothing refusable until the member acts, with that act: Records
 * finds a data subject's records only once a subject id is searched (POST …/records/search);
 * Offboarding shows the org's state to every member (org:read) and offers the start to all,
 * the API refusing it (org:delete) once the org's name is typed and the button pressed.
 */
const ACT_FIRST: Record<string, (page: Page) => Promise<void>> = {
  records: async (page) => {
    await page.getByLabel(/^Subject id/).fill('someone')
    await page.getByRole('button', { name: 'Find records' }).click()
  },
  offboarding: async (page) => {
    await page.getByText('The org is named “Acme”.').waitFor()
    await page.getByLabel('Type the org’s name to confirm').fill('Acme')
    await page.getByRole('button', { name: 'Start offboarding' }).click()
  },
}

/**
 * A permission as the API names it in a 403 (`secrets:read`), or as the console says it in
 * a sentence (components/PermissionScope.tsx PermissionName: the permission “its meaning”).
 */
const PERMISSION = /\b[a-z_]+:[a-z_]+\b|the permission “/

// Issue 12: "every page opened as a member without the permission shows a clear refusal".
// A sweep, not a list: the pages are the links of the org navigation as the console renders
// them (a new page is swept as soon as it is linked), plus the detail pages and the
// operator overview. The member's custom role holds `org:read` alone, so every org page
// must answer with the API's refusal naming the permission it lacks: never a blank page,
// a crash, or an action offered that the API would refuse.
describe('web console: every page refuses clearly without its permission', () => {
  let world: ConsoleWorld
  let browser: Browser
  let page: Page
  let csp: string[]
  const crashes: string[] = []
  const email = 'outsider@acme.test'
  let secretId = ''
  let reviewId = ''

  before(async () => {
    await ensureBuilt()
    world = await startConsoleWorld()
    const as = (method: string, url: string, body?: unknown) =>
      httpsJson(world.server.httpsPort, method, url, { token: world.customer.ownerToken, body })
    const org = `/v1/orgs/${world.customer.orgId}`
    const role = await as('POST', `${org}/roles`, { name: 'outsider', permissions: ['org:read'] })
    assert.equal(role.status, 201, role.text)
    await joinCustomer(world, email, 'outsider')
    const secret = await as('POST', `${org}/secrets`, { name: 'app/key', type: 'api_key', value: 'v-1' })
    assert.equal(secret.status, 201, secret.text)
    secretId = secret.body.id
    const review = await as('POST', `${org}/access-reviews`)
    assert.equal(review.status, 201, review.text)
    reviewId = review.body.id

    browser = await launchChromium()
    ;({ page, csp } = await openPage(browser))
    page.on('pageerror', (error) => crashes.push(error.message))
    await signIn(page, world, email)
    await page.getByRole('link', { name: 'Acme' }).click()
  })
  after(async () => {
    await browser?.close()
    await world?.server.stop()
  })

  /** Opens a console path and waits for a refusal that names a permission. */
  async function assertRefused(path: string, act?: (page: Page) => Promise<void>): Promise<string> {
    await page.goto(`${world.origin}/console${path}`)
    await act?.(page)
    const refusal = page.getByRole('alert').filter({ hasText: PERMISSION }).first()
    await refusal.waitFor({ timeout: 15_000 }).catch((error: unknown) => {
      throw new Error(`${path}: no refusal naming a permission (${String(error).split('\n')[0]})`)
    })
    const text = await refusal.innerText()
    assert.match(text, /not|cannot|refused/i, `${path}: the refusal says so: ${text}`)
    assert.deepEqual(await seriousViolations(page), [], `axe-core on ${path}, refused`)
    return text
  }

  // One page load and refusal per navigation link (20 and growing): the run's 180 s default is
  // per test, so this sweep gets a budget per page instead (30 s each, on a loaded machine).
  it('refuses on every page of the org navigation, naming the permission', { timeout: 600_000 }, async () => {
    const nav = page.getByRole('navigation', { name: 'Org pages' })
    await nav.waitFor()
    const paths = await nav
      .getByRole('link')
      .evaluateAll((links) => links.map((a): string => a.getAttribute('href') ?? ''))
    assert.ok(paths.length >= 8, `the org navigation lists the pages: ${paths.join(', ')}`)
    const seen: Record<string, string> = {}
    for (const path of paths) {
      const route = path.replace(/^\/console/, '')
      const name = route.split('/').at(-1) ?? ''
      const view: string = OWN_FIRST[name] ?? ''
      seen[path] = await assertRefused(`${route}${view}`, ACT_FIRST[name])
    }
    for (const [path, text] of Object.entries(seen))
      assert.ok(
        !text.includes('org:read') && !text.includes('See the org’s name and settings'),
        `${path} does not blame a permission the member holds: ${text}`,
      )
    assert.deepEqual(crashes, [], 'no page threw')
    assert.deepEqual(csp, [], 'no CSP violation')
  })

  it('refuses on a privacy request’s and an erasure certificate’s own pages, naming privacy:read', async () => {
    const org = `/orgs/${world.customer.orgId}`
    assert.match(await assertRefused(`${org}/privacy-requests/${randomUUID()}`), /privacy:read/)
    assert.equal(await page.getByRole('button', { name: /^(Complete|Reject|Record verification|Assign)/ }).count(), 0)
    assert.match(await assertRefused(`${org}/erasure-certificates/${randomUUID()}`), /privacy:read/)
    assert.equal(await page.getByRole('button', { name: /^Verify/ }).count(), 0)
    assert.deepEqual(crashes, [], 'no page threw')
    assert.deepEqual(csp, [], 'no CSP violation')
  })

  it('refuses on a secret’s own page, an access review’s page and the operator pages', async () => {
    const secret = await assertRefused(`/orgs/${world.customer.orgId}/secrets/${secretId}`)
    assert.match(secret, /secrets:read/)
    assert.equal(await page.getByRole('button', { name: /Reveal|Delete secret|Store new version/ }).count(), 0)
    const review = await assertRefused(`/orgs/${world.customer.orgId}/access-reviews/${reviewId}`)
    assert.match(review, /reviews:read/)
    assert.equal(await page.getByRole('button', { name: /Close review|Certify|Revoke/ }).count(), 0)
    await page.goto(`${world.origin}/console/operator`)
    await page.getByRole('alert').first().waitFor()
    assert.deepEqual(await seriousViolations(page), [], 'axe-core on the operator overview, refused')
    assert.match(await assertRefused('/operator/offboardings'), /orgs:list/)
    assert.equal(await page.getByRole('table', { name: 'Offboardings' }).count(), 0)
    assert.match(await assertRefused(`/operator/offboardings/${world.customer.orgId}`), /orgs:list/)
    assert.deepEqual(crashes, [], 'no page threw')
    assert.deepEqual(csp, [], 'no CSP violation')
  })
})
