/**
 * The compliance pages of `npm run console:screenshots` (scripts/console-screenshots.ts; issue
 * 15): an org's promises with a check's evidence and history, and the operators' overview.
 * Pictures 70–71. In an org of its own ("Initech", evaluated through the API) whose owner has
 * no second factor: P3.2 is not met, and Initech is named among the failing orgs.
 *
 * Also runnable alone, to take only these two pictures:
 * `node scripts/console-screenshots-compliance.ts` (its own throwaway server).
 */
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { PASSWORD } from '../test/helpers/app.ts'
import { launchChromium, newConsoleContext, startConsoleWorld, type ConsoleWorld } from '../test/helpers/console.ts'
import { httpsJson } from '../test/helpers/process.ts'
import { unusedTotpCode } from '../test/helpers/totp.ts'
import { ensureBuilt } from './console.ts'
import { customerOrg, expectOk } from './console-screenshots-operations.ts'

type Shot = (page: Page, name: string) => Promise<void>

export async function shootCompliance(world: ConsoleWorld, browser: Browser, shot: Shot): Promise<void> {
  const port = world.server.httpsPort
  // Not Globex: the full run made Globex for the operations pictures (its owner exists by now).
  const { orgId, ownerToken } = await customerOrg(world, 'Initech', 'owner@initech.test')
  expectOk(
    await httpsJson(port, 'POST', `/v1/orgs/${world.provider.orgId}/compliance/runs`, { token: world.provider.token }),
    'the service’s checks',
  )
  expectOk(
    await httpsJson(port, 'POST', `/v1/orgs/${orgId}/compliance/runs`, { token: ownerToken }),
    'Initech’s checks',
  )

  const owner = await (await newConsoleContext(browser)).newPage()
  await owner.goto(`${world.origin}/console/sign-in`)
  await owner.getByLabel('Email').fill('owner@initech.test')
  await owner.getByLabel(/^Password/).fill(PASSWORD)
  await owner.getByRole('button', { name: 'Sign in' }).click()
  await owner.getByRole('heading', { name: 'Choose an org' }).waitFor({ timeout: 120_000 })
  await owner.goto(`${world.origin}/console/orgs/${orgId}/compliance`)
  await owner.getByRole('button', { name: 'Evaluate now' }).click()
  await owner
    .getByRole('status')
    .filter({ hasText: /^Evaluated now/ })
    .waitFor()
  // The promises not met only, P3.2's check with its history open.
  await owner.getByRole('checkbox', { name: 'Not met only' }).check()
  const p32 = owner.getByRole('article', { name: /^P3\.2 · / })
  await p32.getByRole('button', { name: 'History of p3.2/data-access-needs-2fa' }).click()
  await p32.getByRole('table', { name: 'History of p3.2/data-access-needs-2fa' }).waitFor()
  await shot(owner, '70-compliance')

  const operator = await (await newConsoleContext(browser)).newPage()
  await operator.goto(`${world.origin}/console/sign-in`)
  await operator.getByLabel('Email').fill(world.provider.email)
  await operator.getByLabel(/^Password/).fill(PASSWORD)
  await operator.getByRole('button', { name: 'Sign in' }).click()
  await operator.getByLabel('Authentication code').fill(await unusedTotpCode(world.provider.totpSecret))
  await operator.getByRole('button', { name: 'Sign in' }).click()
  await operator.getByRole('heading', { name: 'Choose an org' }).waitFor({ timeout: 120_000 })
  await operator.goto(`${world.origin}/console/operator/compliance`)
  await operator
    .getByRole('table', { name: 'Org checks' })
    .getByRole('row')
    .filter({ hasText: 'p3.2/data-access-needs-2fa' })
    .waitFor()
  await shot(operator, '71-operator-compliance')
}

// Alone: a throwaway server and browser, these two pictures only.
if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === import.meta.filename) {
  const out = path.resolve(import.meta.dirname, '../docs/console')
  mkdirSync(out, { recursive: true })
  await ensureBuilt()
  const world = await startConsoleWorld({ CUSTODIAN_COMPLIANCE_ON_DEMAND_MS: '0' })
  const browser = await launchChromium()
  try {
    await shootCompliance(world, browser, async (page, name) => {
      await page.screenshot({ path: path.join(out, `${name}.png`), fullPage: true, animations: 'disabled' })
      process.stdout.write(`docs/console/${name}.png\n`)
    })
  } finally {
    await browser.close()
    await world.server.stop()
  }
}
