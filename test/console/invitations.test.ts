import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Browser, Locator, Page } from 'playwright-core'
import { ensureBuilt } from '../../scripts/console.ts'
import { PASSWORD } from '../helpers/app.ts'
import {
  assertAccessible,
  assertNowhere,
  launchChromium,
  openPage,
  openSignedIn,
  refusalAlert,
  startConsoleWorld,
  type ConsoleWorld,
} from '../helpers/console.ts'
import { httpsJson } from '../helpers/process.ts'
import { unusedTotpCode } from '../helpers/totp.ts'

// The console's invitation accept page (issue 13): an owner invites someone on the Members
// page, the invitee — in a browser context of their own — goes from the sign-in page to
// "Accept an invitation", pastes the token and chooses a password, and is signed in to the
// org; an existing account with two-factor authentication joins a second org with the
// keyboard alone (a code to join, the next one to sign in). Debian's Chromium against a
// real server on PGlite.
describe('web console: accepting an invitation', () => {
  let world: ConsoleWorld
  let browser: Browser

  before(async () => {
    await ensureBuilt()
    world = await startConsoleWorld()
    browser = await launchChromium()
  })
  after(async () => {
    await browser?.close()
    await world?.server.stop()
  })

  const pending = async () =>
    (
      await httpsJson(world.server.httpsPort, 'GET', `/v1/orgs/${world.customer.orgId}/members`, {
        token: world.customer.ownerToken,
      })
    ).body.invitations as { email: string }[]

  /** The user id of Acme's member with that email. */
  const memberId = async (email: string) => {
    const members = await httpsJson(world.server.httpsPort, 'GET', `/v1/orgs/${world.customer.orgId}/members`, {
      token: world.customer.ownerToken,
    })
    return (members.body.members as { userId: string; email: string }[]).find((m) => m.email === email)?.userId
  }

  /** The signed-in session of the page, as the API sees it (GET /v1/me with the page's cookie). */
  const me = (page: Page) =>
    page.evaluate(async () => {
      const answer = await fetch('/v1/me')
      return { status: answer.status, body: (await answer.json()) as { id: string; orgId: string } }
    })

  /** Waits (up to 5 s) until `target` has the focus. */
  async function focused(target: Locator): Promise<void> {
    await target.waitFor()
    for (let i = 0; i < 50; i++) {
      if (await target.evaluate((el) => el.matches(':focus'))) return
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    assert.fail(`${target.toString()} never had the focus`)
  }

  /** Presses `key` until `target` has the focus (at most 60 times); fails otherwise. */
  async function tabTo(page: Page, target: Locator, key = 'Tab'): Promise<void> {
    await target.waitFor()
    for (let i = 0; i < 60; i++) {
      if (await target.evaluate((el) => el.matches(':focus'))) return
      await page.keyboard.press(key)
    }
    assert.fail(`${key} never reached ${target.toString()}`)
  }

  it('issue 13: invited on the Members page, the invitee accepts in a second context from the sign-in page and is signed in to the org', async () => {
    const newcomer = 'newcomer@acme.test'
    const owner = await openSignedIn(browser, world, world.customer.ownerEmail, { org: 'Acme' })
    const invitee = await openPage(browser)
    try {
      // The owner invites, and is told where the invitee goes.
      await owner.page.getByRole('navigation', { name: 'Org pages' }).getByRole('link', { name: 'Members' }).click()
      await owner.page.getByLabel('Email').fill(newcomer)
      await owner.page.getByRole('button', { name: 'Send invitation' }).click()
      const sent = owner.page.getByRole('status').filter({ hasText: `Invitation for ${newcomer}` })
      await sent.waitFor()
      assert.match(
        await sent.innerText(),
        new RegExp(`${world.origin}/console/invitations/accept`.replaceAll('.', '\\.')),
      )
      assert.match(await sent.innerText(), /“Accept an invitation” on the sign-in page/)
      const token = await owner.page.getByLabel('Invitation token').inputValue()
      assert.match(token, /^cst_inv_/)

      // The invitee: the sign-in page links to the accept page.
      const { page } = invitee
      await page.goto(`${world.origin}/console/sign-in`)
      await page.getByRole('link', { name: 'Accept an invitation' }).click()
      await page.getByRole('heading', { level: 1, name: 'Accept an invitation' }).waitFor()
      assert.equal(new URL(page.url()).pathname, '/console/invitations/accept')
      await assertAccessible(page, 'the accept page')

      // Two different passwords: said on the field, nothing sent.
      await page.getByLabel(/^Invitation token/).fill(token)
      await page.getByLabel(/^Password/).fill(PASSWORD)
      await page.getByLabel(/^Repeat the password/).fill(`${PASSWORD}!`)
      await page.getByRole('button', { name: 'Accept and sign in' }).click()
      await page.getByText('The two passwords differ.').waitFor()
      assert.ok(
        (await pending()).some((i) => i.email === newcomer),
        'still pending',
      )
      // A password the API refuses: its words on the Password field.
      await page.getByLabel(/^Password/).fill('short')
      await page.getByLabel(/^Repeat the password/).fill('short')
      await page.getByRole('button', { name: 'Accept and sign in' }).click()
      await page.getByRole('alert').filter({ hasText: 'The invitation was not accepted' }).waitFor()
      assert.equal(await page.getByLabel(/^Password/).getAttribute('aria-invalid'), 'true')
      assert.ok(
        (await pending()).some((i) => i.email === newcomer),
        'still pending',
      )
      await assertAccessible(page, 'the accept page with a refused password')

      await page.getByLabel(/^Password/).fill(PASSWORD)
      await page.getByLabel(/^Repeat the password/).fill(PASSWORD)
      await page.getByRole('button', { name: 'Accept and sign in' }).click()
      await page.getByRole('heading', { level: 1, name: 'You joined the org' }).waitFor()
      await page
        .getByRole('status')
        .filter({ hasText: `You are signed in as ${newcomer}.` })
        .waitFor()
      const session = await me(page)
      assert.equal(session.status, 200)
      assert.equal(session.body.id, await memberId(newcomer), 'signed in as the new member')
      assert.equal(session.body.orgId, world.customer.orgId, 'signed in to the org joined')
      // The API token of the accept, shown once: it works, and is gone once the page moves on.
      const apiToken = await page.getByRole('textbox', { name: 'API token' }).inputValue()
      const asToken = await httpsJson(world.server.httpsPort, 'GET', '/v1/me', { token: apiToken })
      assert.equal(asToken.body.id, session.body.id, 'the API token is the new member’s')
      await assertAccessible(page, 'the joined page')
      await page.getByRole('button', { name: 'Continue to the org' }).click()
      // Into Acme itself, on the first page the new role opens.
      await page.getByRole('navigation', { name: 'Org pages' }).waitFor()
      assert.match(new URL(page.url()).pathname, new RegExp(`^/console/orgs/${world.customer.orgId}/`))
      await assertNowhere(invitee, token, 'after joining (the invitation token)')
      await assertNowhere(invitee, apiToken, 'after joining (the API token)')
      await assertNowhere(invitee, PASSWORD, 'after joining (the password)')
      assert.ok(!(await pending()).some((i) => i.email === newcomer), 'no longer pending')

      // The owner sees the new member.
      await owner.page.reload()
      await owner.page.getByRole('table', { name: 'Members' }).getByRole('row').filter({ hasText: newcomer }).waitFor()

      // The same token again, in a third context: refused as the API says.
      const again = await openPage(browser)
      try {
        await again.page.goto(`${world.origin}/console/invitations/accept`)
        await again.page.getByLabel(/^Invitation token/).fill(token)
        await again.page.getByLabel(/^Password/).fill(PASSWORD)
        await again.page.getByLabel(/^Repeat the password/).fill(PASSWORD)
        await again.page.getByRole('button', { name: 'Accept and sign in' }).click()
        await refusalAlert(again.page, 'INVITATION_INVALID')
          .filter({ hasText: 'The invitation was not accepted' })
          .waitFor()
        assert.equal((await me(again.page)).status, 401, 'not signed in')
        assert.deepEqual(again.csp, [], 'no CSP violation')
      } finally {
        await again.close()
      }
      assert.deepEqual(owner.csp, [], 'no CSP violation')
      assert.deepEqual(invitee.csp, [], 'no CSP violation')
    } finally {
      await owner.close()
      await invitee.close()
    }
  })

  it('issue 13: an existing account with two-factor authentication joins a second org with the keyboard alone: a code to join, the next one to sign in', async () => {
    // The provider's owner (TOTP enrolled) is invited to Acme as an auditor.
    const invitation = await httpsJson(world.server.httpsPort, 'POST', `/v1/orgs/${world.customer.orgId}/invitations`, {
      token: world.customer.ownerToken,
      body: { email: world.provider.email, role: 'auditor' },
    })
    assert.equal(invitation.status, 201, invitation.text)
    const token = invitation.body.token as string
    const session = await openPage(browser)
    const { page } = session
    try {
      await page.goto(`${world.origin}/console/sign-in`)
      await tabTo(page, page.getByRole('link', { name: 'Accept an invitation' }))
      await page.keyboard.press('Enter')
      await page.getByRole('heading', { level: 1, name: 'Accept an invitation' }).waitFor()
      await tabTo(page, page.getByLabel(/^Invitation token/))
      await page.keyboard.insertText(token) // pasted
      await tabTo(page, page.getByLabel(/^Password/))
      await page.keyboard.type(PASSWORD)
      await tabTo(page, page.getByLabel(/^Repeat the password/))
      await page.keyboard.type(PASSWORD)
      await page.keyboard.press('Enter')
      // The account has a second factor: its code field appears, focused, with why.
      const code = page.getByLabel(/^Authentication code/)
      await code.waitFor()
      await focused(code)
      assert.match((await code.getAttribute('aria-describedby')) ?? '', /\S/, 'the code field says why it is asked')
      await page.getByText(/already has an account that uses two-factor authentication/).waitFor()
      await assertAccessible(page, 'the accept page asking for a code')
      await page.keyboard.type(await unusedTotpCode(world.provider.totpSecret))
      await page.keyboard.press('Enter')
      // Joined; the sign-in needs the next code (a code works once).
      await page.getByRole('status').filter({ hasText: 'You joined the org' }).waitFor()
      await page.getByRole('button', { name: 'Sign in' }).waitFor()
      await focused(code)
      await assertAccessible(page, 'the accept page, joined, asking for the next code')
      await page.keyboard.type(await unusedTotpCode(world.provider.totpSecret))
      await page.keyboard.press('Enter')
      await page.getByRole('heading', { level: 1, name: 'You joined the org' }).waitFor()
      const signedIn = await me(page)
      assert.equal(signedIn.body.id, await memberId(world.provider.email))
      assert.equal(signedIn.body.orgId, world.customer.orgId, 'signed in to Acme, not the provider org')
      await tabTo(page, page.getByRole('button', { name: 'Continue to the org' }))
      await page.keyboard.press('Enter')
      await page.getByRole('navigation', { name: 'Org pages' }).waitFor()
      assert.match(new URL(page.url()).pathname, new RegExp(`^/console/orgs/${world.customer.orgId}/`))
      const members = await httpsJson(world.server.httpsPort, 'GET', `/v1/orgs/${world.customer.orgId}/members`, {
        token: world.customer.ownerToken,
      })
      const joined = (members.body.members as { email: string; role: string }[]).find(
        (m) => m.email === world.provider.email,
      )
      assert.equal(joined?.role, 'auditor')
      await assertNowhere(session, token, 'after joining')
      assert.deepEqual(session.csp, [], 'no CSP violation')
    } finally {
      await session.close()
    }
  })
})
