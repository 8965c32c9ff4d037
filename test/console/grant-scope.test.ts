import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Browser } from 'playwright-core'
import { ORG_PAGES } from '../../console/src/lib/orgPages.ts'
import { ensureBuilt } from '../../scripts/console.ts'
import { GRANTABLE, type Permission } from '../../src/modules/access/permissions.ts'
import {
  assertAccessible,
  launchChromium,
  openSignedIn,
  startConsoleWorld,
  type ConsolePage,
  type ConsoleWorld,
} from '../helpers/console.ts'
import { httpsJson } from '../helpers/process.ts'
import { unusedTotpCode } from '../helpers/totp.ts'

// Acting under a diagnostic access grant of one permission (issue 13, P2.8), every org page
// that permission opens asks the org nothing beyond it — no background call (a list of
// members for names, a count, a policy) that the grant does not cover: each refused request
// under a grant is an attempt in the customer's log and raises a grant_misuse alert. Swept
// over every page of the console's nav (console/src/lib/orgPages.ts) whose permission a
// grant may carry, in Debian's Chromium against a real server on PGlite.
describe('web console: every page a grant opens stays within it', () => {
  let world: ConsoleWorld
  let browser: Browser
  let operator: ConsolePage
  let secretId = ''
  /** A grant that names the secret (revoked before the sweep): the grants pages show it. */
  let namingGrantId = ''
  /** Every answer of the customer org's routes at 400 or above, while a page is open. */
  const refusals: string[] = []

  const call = (method: string, url: string, token: string, body?: unknown) =>
    httpsJson(world.server.httpsPort, method, url, { token, body })
  const org = () => `/v1/orgs/${world.customer.orgId}`

  before(async () => {
    await ensureBuilt()
    world = await startConsoleWorld()
    browser = await launchChromium()
    const policy = await call('PUT', `${org()}/grant-policy`, world.customer.ownerToken, {
      maxDays: 10,
      requiredApprovals: 1,
    })
    assert.equal(policy.status, 200, policy.text)
    const made = await call('POST', `${org()}/secrets`, world.customer.ownerToken, {
      name: 'billing-api',
      type: 'api_key',
      value: 'sk_live_scope_test_value_4242',
    })
    assert.equal(made.status, 201, made.text)
    secretId = made.body.id as string
    const naming = await call('POST', '/v1/operator/grants', world.provider.token, {
      orgId: world.customer.orgId,
      reason: 'ticket 5099: the billing key',
      permissions: ['secrets:read', 'vault:reveal'],
      secretIds: [secretId],
    })
    assert.equal(naming.status, 201, naming.text)
    namingGrantId = naming.body.id as string
    assert.equal(
      (await call('POST', `${org()}/grants/${namingGrantId}/approve`, world.customer.ownerToken, {})).status,
      200,
    )
    assert.equal(
      (await call('POST', `${org()}/grants/${namingGrantId}/revoke`, world.customer.ownerToken, {})).status,
      200,
    )
    operator = await openSignedIn(browser, world, world.provider.email, {
      code: await unusedTotpCode(world.provider.totpSecret),
    })
    // Acme has no SSO set up and has not asked to be deleted: those two answer 404 within
    // the grant's scope, which is how their pages learn it.
    const absent = new Set(['sso', 'offboarding'].map((p) => `${org()}/${p}`))
    operator.page.on('response', (response) => {
      const url = new URL(response.url())
      if (!url.pathname.startsWith(org()) || response.status() < 400) return
      if (response.status() === 404 && absent.has(url.pathname)) return
      refusals.push(`${response.status()} ${response.request().method()} ${url.pathname}`)
    })
  })
  after(async () => {
    await operator?.close()
    await browser?.close()
    await world?.server.stop()
  })

  /** A grant of `permission` alone, approved by Acme's owner. */
  async function approvedGrant(permission: Permission) {
    const asked = await call('POST', '/v1/operator/grants', world.provider.token, {
      orgId: world.customer.orgId,
      reason: `ticket 5100: checking the ${permission} pages`,
      permissions: [permission],
    })
    assert.equal(asked.status, 201, asked.text)
    const approved = await call('POST', `${org()}/grants/${asked.body.id}/approve`, world.customer.ownerToken, {})
    assert.equal(approved.body.status, 'active', approved.text)
    return approved.body as { id: string; expiresAt: string; permissions: string[]; secretIds: string[] }
  }

  const grantable = ORG_PAGES.filter((p) => GRANTABLE.has(p.permission as Permission))

  it('the sweep covers the pages a grant can open', () => {
    assert.deepEqual(
      grantable.map((p) => p.path),
      [
        'secrets',
        'integrations',
        'transit-keys',
        'keys',
        'audit',
        'grants',
        'members',
        'roles',
        'service-accounts',
        'tokens',
        'security',
        'offboarding',
      ],
    )
  })

  for (const permission of [...new Set(grantable.map((p) => p.permission as Permission))])
    it(`a grant of ${permission} alone: its pages ask nothing beyond it`, async () => {
      const grant = await approvedGrant(permission)
      const { page } = operator
      await page.evaluate((acting) => sessionStorage.setItem('custodian.grant', JSON.stringify(acting)), {
        id: grant.id,
        orgId: world.customer.orgId,
        orgName: 'Acme',
        expiresAt: grant.expiresAt,
        permissions: grant.permissions,
        secretIds: grant.secretIds,
      })
      const pages = grantable.filter((p) => p.permission === permission).map((p) => p.path)
      // Detail pages too: a secret the grant does not name, a grant that names secrets.
      if (permission === 'secrets:read') pages.push(`secrets/${secretId}`)
      if (permission === 'grants:read') pages.push(`grants/${namingGrantId}`)
      for (const path of pages) {
        refusals.length = 0
        await page.goto(`${world.origin}/console/orgs/${world.customer.orgId}/${path}`)
        await page.getByRole('region', { name: 'Acting under a grant' }).waitFor()
        await page.getByRole('heading', { level: 1 }).first().waitFor()
        await page.waitForLoadState('networkidle')
        assert.deepEqual(refusals, [], `${path} under a grant of ${permission} alone`)
        assert.equal(
          await page.getByRole('heading', { level: 1, name: 'Outside the grant' }).count(),
          0,
          `${path} is open under ${permission}`,
        )
        if (path.startsWith('secrets/')) {
          // Not named for revealing by this grant: no Reveal offered (it would be refused).
          assert.equal(await page.getByRole('button', { name: 'Reveal', exact: true }).count(), 0)
          await page.getByText('The grant you act under does not name this secret for revealing').waitFor()
        }
        if (path.startsWith('grants/'))
          await page.getByText(/The timeline is read from the org’s audit log, which needs the permission “/).waitFor()
        if (path === 'offboarding') {
          // Nothing a grant can never do is offered (org:delete is not grantable).
          assert.equal(await page.getByRole('button', { name: 'Start offboarding' }).count(), 0)
          await page.getByText(/Starting or cancelling it needs the permission “/).waitFor()
        }
      }
      await assertAccessible(page, `${pages[0]} under a grant of ${permission}`)
      const denied = (
        await call('GET', `${org()}/audit/events?action=access.denied&limit=500`, world.customer.ownerToken)
      ).body.events as { details: Record<string, unknown> }[]
      // A 404 within the scope is a thing Acme does not have (no SSO, no offboarding): no refusal.
      assert.deepEqual(
        denied.filter((e) => e.details.grant === grant.id && e.details.status !== 404),
        [],
        'no refused attempt in Acme’s log',
      )
      const revoked = await call('POST', `${org()}/grants/${grant.id}/revoke`, world.customer.ownerToken, {})
      assert.equal(revoked.status, 200, revoked.text)
    })
})
