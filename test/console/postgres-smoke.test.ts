import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Browser } from 'playwright-core'
import { ensureBuilt } from '../../scripts/console.ts'
import {
  launchChromium,
  openPage,
  seriousViolations,
  signIn,
  startConsoleWorld,
  type ConsoleWorld,
} from '../helpers/console.ts'
import { createTestDatabase, postgresAvailable, type TestDatabase } from '../helpers/db.ts'

/**
 * The console's smoke run on PostgreSQL (issue 12: "against a real server on PGlite and one
 * smoke run on PostgreSQL"): the server process on a database of its own, cloned from the
 * migrated template; sign in, create a secret and see it listed, and verify the audit log in
 * the browser. The other console files run on PGlite.
 */
describe('web console on PostgreSQL (smoke)', {
  skip: postgresAvailable() ? false : 'TEST_DATABASE_URL not set',
}, () => {
  let database: TestDatabase
  let world: ConsoleWorld
  let browser: Browser

  before(async () => {
    await ensureBuilt()
    database = await createTestDatabase('postgres')
    world = await startConsoleWorld({ DATABASE_URL: database.url as string, CUSTODIAN_AUDIT_CHECKPOINT_EVERY: '1' })
    browser = await launchChromium()
  })
  after(async () => {
    await browser?.close()
    await world?.server.stop()
    await database?.close()
  })

  it('signs in, creates a secret and sees it listed, and verifies the audit log in the browser', async () => {
    const { page, csp, close } = await openPage(browser)
    try {
      await signIn(page, world, world.customer.ownerEmail, { org: 'Acme' })
      await page.getByLabel(/^Name/).fill('smoke/postgres')
      await page.getByRole('region', { name: 'New secret' }).getByLabel('Type').selectOption('api_key')
      await page.getByLabel(/^Value/).fill('smoke-value-0123456789')
      await page.getByRole('button', { name: 'Store secret' }).click()
      await page.getByRole('row').filter({ hasText: 'smoke/postgres' }).waitFor()
      assert.deepEqual(await seriousViolations(page), [], 'axe-core on the secrets page')

      await page.getByRole('link', { name: 'Audit log' }).click()
      await page.getByRole('row').filter({ hasText: 'secret.create' }).waitFor()
      // The first checkpoint covering the new events is signed within the sequencer's next passes.
      const verified = page.getByRole('status').filter({ hasText: 'verified up to checkpoint' })
      for (let i = 0; i < 20 && (await verified.count()) === 0; i++) {
        await page.getByRole('button', { name: 'Verify the log' }).click()
        await page
          .getByText(/verified up to checkpoint|Verification failed|failed/)
          .first()
          .waitFor()
        if ((await verified.count()) === 0) await page.waitForTimeout(500)
      }
      assert.match(await verified.innerText(), /verified up to checkpoint \d+ at /)
      assert.deepEqual(csp, [], 'no CSP violation')
    } finally {
      await close()
    }
  })
})
