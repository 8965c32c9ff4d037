import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { after, before, describe, it } from 'node:test'
import type { Browser, Download, Locator, Page } from 'playwright-core'
import { ensureBuilt } from '../../scripts/console.ts'
import { verifyJws } from '../../src/crypto/jws.ts'
import { ed25519KeyId } from '../../src/crypto/keys.ts'
import {
  assertAccessible,
  launchChromium,
  openPage,
  openSignedIn,
  signIn,
  startConsoleWorld,
  type ConsoleWorld,
} from '../helpers/console.ts'
import { httpsJson } from '../helpers/process.ts'
import { enrolTotp, unusedTotpCode } from '../helpers/totp.ts'

const P32 = 'p3.2/data-access-needs-2fa'

// The console's compliance pages (issue 15, P5.4, P10.1, P10.2): an org's promises with their
// live checks, evidence and history, "Evaluate now", the signed report and policy saved with
// their detached signatures, and the operators' overview across orgs — in Debian's Chromium
// against a real server on PGlite. Acme's owner starts without a second factor, so P3.2
// (everyone with data access has one, and the org requires it) is not met until she enrols.
describe('web console: compliance', () => {
  let world: ConsoleWorld
  let browser: Browser

  const acme = (method: string, url: string, body?: unknown) =>
    httpsJson(world.server.httpsPort, method, `/v1/orgs/${world.customer.orgId}${url}`, {
      token: world.customer.ownerToken,
      body,
    })

  /** Presses Tab until `target` has the focus (at most 120 times); fails otherwise. */
  async function tabTo(page: Page, target: Locator): Promise<void> {
    await target.waitFor()
    for (let i = 0; i < 120; i++) {
      if (await target.evaluate((el) => el.matches(':focus'))) return
      await page.keyboard.press('Tab')
    }
    assert.fail(`Tab never reached ${target.toString()}`)
  }

  async function openCompliance(page: Page): Promise<void> {
    await page.getByRole('navigation', { name: 'Org pages' }).getByRole('link', { name: 'Compliance' }).click()
    await page.getByRole('heading', { level: 1, name: 'Compliance' }).waitFor()
    await page.getByRole('region', { name: 'Summary' }).waitFor()
  }

  /** The promise's card ("P3.2 · …") and, in it, the check's section (named by its title). */
  const promiseCard = (page: Page, id: string) => page.getByRole('article', { name: new RegExp(`^${id} · `) })
  const checkIn = (scope: Locator) =>
    scope.getByRole('region', {
      name: 'Everyone who can reach the org’s data has a second factor, and the org’s policy requires one',
    })

  /** A moment as the page shows it (lib/format.ts `when`): the browser's locale, not Node's. */
  const shownAs = (page: Page, iso: string) => page.evaluate((t) => new Date(t).toLocaleString(), iso)

  before(async () => {
    await ensureBuilt()
    // Evaluated on demand several times within a minute: the operator lets it.
    world = await startConsoleWorld({ CUSTODIAN_COMPLIANCE_ON_DEMAND_MS: '0' })
    browser = await launchChromium()
    // The service's checks run in the provider org, Acme's own in Acme: both evaluated once.
    const service = await httpsJson(
      world.server.httpsPort,
      'POST',
      `/v1/orgs/${world.provider.orgId}/compliance/runs`,
      { token: world.provider.token },
    )
    assert.equal(service.status, 200, service.text)
    const run = await acme('POST', '/compliance/runs')
    assert.equal(run.status, 200, run.text)
  })
  after(async () => {
    await browser?.close()
    await world?.server.stop()
  })

  it('P3.2: an owner without a second factor sees the promise "Not met" with its check’s evidence; Evaluate now (keyboard) updates the last run (P5.4)', async () => {
    const { page, csp, close } = await openSignedIn(browser, world, world.customer.ownerEmail, { org: 'Acme' })
    try {
      await openCompliance(page)
      const p32 = promiseCard(page, 'P3.2')
      await p32.getByText('Not met', { exact: true }).waitFor()
      const check = checkIn(p32)
      await check.getByText('Fail', { exact: true }).waitFor()
      await check.getByText(P32).waitFor()
      assert.match(await check.innerText(), /This org/)
      assert.match(await check.innerText(), /the org does not require two-factor authentication/)
      // The evidence as a definition list, in words: terms and their values.
      const terms = await check.getByRole('term').allInnerTexts()
      const values = await check.getByRole('definition').allInnerTexts()
      const evidence = Object.fromEntries(terms.map((term, i) => [term, values[i]]))
      assert.equal(evidence['policy requires 2fa'], 'no')
      assert.equal(evidence['members with data access'], '1')
      assert.equal(evidence['without second factor'], '1')
      // A list joined; the owner's user id is the one without a second factor.
      assert.match(evidence.users ?? '', /^[0-9a-f-]{36}$/)
      assert.match(evidence['data permissions'] ?? '', /^vault:reveal, transit:decrypt, /)
      // A service check is there too, said as such.
      await page.getByText('p4.1/tls-minimum · Service').waitFor()
      const summary = page.getByRole('region', { name: 'Summary' })
      assert.match(await summary.innerText(), /Evaluated\s+every 1 hour, and on demand/)
      await assertAccessible(page, 'the compliance page')

      // The filter leaves only the promises not met.
      await page.getByRole('checkbox', { name: 'Not met only' }).check()
      await promiseCard(page, 'P3.2').waitFor()
      assert.equal(await page.getByRole('article').getByText('Met', { exact: true }).count(), 0)
      await page.getByRole('checkbox', { name: 'Not met only' }).uncheck()

      // Evaluate now, with the keyboard: the run's counts in a status message, the last run updated.
      const before = (await acme('GET', '/compliance')).body.lastRun as { id: string }
      await tabTo(page, page.getByRole('button', { name: 'Evaluate now' }))
      await page.keyboard.press('Enter')
      const status = page.getByRole('status').filter({ hasText: /^Evaluated/ })
      await status.waitFor()
      const now = (await acme('GET', '/compliance')).body.lastRun as {
        id: string
        trigger: string
        finishedAt: string
        passed: number
        failed: number
        notApplicable: number
      }
      assert.notEqual(now.id, before.id, 'a new run')
      assert.equal(now.trigger, 'demand')
      assert.match(
        await status.innerText(),
        new RegExp(`Evaluated now: ${now.passed} checks pass, ${now.failed} fail, ${now.notApplicable} not applicable`),
      )
      await summary.getByText(`${await shownAs(page, now.finishedAt)}, on demand: ${now.passed} checks pass`).waitFor()
      // The runs list has it on top.
      const runs = page.getByRole('table', { name: 'Runs' })
      await runs
        .getByRole('row')
        .nth(1)
        .getByText(await shownAs(page, now.finishedAt))
        .waitFor()
      await assertAccessible(page, 'the compliance page after Evaluate now')
      assert.deepEqual(csp, [], 'no CSP violation')
    } finally {
      await close()
    }
  })

  it('P10.1: a download saves the document and its .jws, whose signature verifies against the published key over the file’s SHA-256', async () => {
    const { page, csp, close } = await openSignedIn(browser, world, world.customer.ownerEmail, { org: 'Acme' })
    try {
      await openCompliance(page)
      const keys = (await httpsJson(world.server.httpsPort, 'GET', '/v1/audit/keys', {})).body.keys as {
        publicKey: string
      }[]
      const published = new Map(keys.map((k) => [ed25519KeyId(Buffer.from(k.publicKey, 'base64url')), k.publicKey]))

      /** The two files one button saves: the document, then its signature. */
      async function downloadsOf(press: () => Promise<void>): Promise<[Download, Download]> {
        const saved: Download[] = []
        const listener = (download: Download) => saved.push(download)
        page.on('download', listener)
        try {
          const first = page.waitForEvent('download')
          await press()
          await first
          for (let i = 0; i < 100 && saved.length < 2; i++) await page.waitForTimeout(100)
        } finally {
          page.off('download', listener)
        }
        assert.equal(saved.length, 2, 'the document and its signature')
        return saved as [Download, Download]
      }

      async function assertSigned(pair: [Download, Download], document: string, format: string): Promise<Buffer> {
        const [file, jws] = pair
        assert.match(file.suggestedFilename(), new RegExp(`^${document}-.+\\.${format}$`))
        assert.equal(jws.suggestedFilename(), `${file.suggestedFilename()}.jws`)
        const bytes = await readFile(await file.path())
        const signature = (await readFile(await jws.path(), 'utf8')).trim()
        const { header, payload } = await verifyJws(signature, published)
        assert.equal(header.typ, 'custodian-document+jws')
        assert.equal(payload.document, document)
        assert.equal(payload.format, format)
        assert.equal(payload.orgId, world.customer.orgId)
        assert.equal(
          payload.sha256,
          createHash('sha256').update(bytes).digest('hex'),
          'the signature names these bytes',
        )
        return bytes
      }

      // The report as PDF, with the keyboard.
      const pdfButton = page.getByRole('button', { name: /^PDF: download the compliance report/ })
      const pdf = await downloadsOf(async () => {
        await tabTo(page, pdfButton)
        await page.keyboard.press('Enter')
      })
      const pdfBytes = await assertSigned(pdf, 'compliance-report', 'pdf')
      assert.equal(pdfBytes.subarray(0, 5).toString('latin1'), '%PDF-')
      await page
        .getByRole('status')
        .filter({ hasText: /^Saved compliance-report-.+\.pdf and its signature/ })
        .waitFor()

      // The policy as JSON, clicked.
      const json = await downloadsOf(() =>
        page.getByRole('button', { name: /^JSON: download the security policy/ }).click(),
      )
      const policy = JSON.parse((await assertSigned(json, 'security-policy', 'json')).toString('utf8')) as {
        format: string
        org: { id: string }
      }
      assert.equal(policy.format, 'custodian-security-policy/v1')
      assert.equal(policy.org.id, world.customer.orgId)
      await assertAccessible(page, 'the compliance page after the downloads')
      assert.deepEqual(csp, [], 'no CSP violation')
    } finally {
      await close()
    }
  })

  it('a viewer (no compliance:read) is refused with the permission named, and offered nothing', async () => {
    const { page, csp, close } = await openPage(browser)
    try {
      await signIn(page, world, world.customer.viewerEmail)
      await page.getByRole('link', { name: 'Acme' }).click()
      await page.getByRole('navigation', { name: 'Org pages' }).waitFor()
      await page.goto(`${world.origin}/console/orgs/${world.customer.orgId}/compliance`)
      const refusal = page.getByRole('alert').filter({ hasText: /compliance:read/ })
      await refusal.waitFor()
      assert.match(await refusal.innerText(), /You cannot see this org’s compliance/)
      assert.equal(await page.getByRole('button', { name: 'Evaluate now' }).count(), 0)
      assert.equal(await page.getByRole('button', { name: /download the/ }).count(), 0)
      assert.equal(await page.getByRole('article').count(), 0)
      await assertAccessible(page, 'the compliance page, refused')
      assert.deepEqual(csp, [], 'no CSP violation')
    } finally {
      await close()
    }
  })

  it('operators: the overview links the compliance page, which lists the org checks with their counts and names the failing org', async () => {
    const { page, csp, close } = await openSignedIn(browser, world, world.provider.email, {
      code: await unusedTotpCode(world.provider.totpSecret),
    })
    try {
      await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Operator overview' }).click()
      await page.getByRole('navigation', { name: 'Operator pages' }).getByRole('link', { name: 'Compliance' }).click()
      await page.getByRole('heading', { level: 1, name: 'Operator compliance' }).waitFor()
      const table = page.getByRole('table', { name: 'Org checks' })
      const row = table.getByRole('row').filter({ hasText: P32 })
      await row.waitFor()
      const overview = await httpsJson(world.server.httpsPort, 'GET', '/v1/operator/compliance', {
        token: world.provider.token,
      })
      assert.equal(overview.status, 200, overview.text)
      const orgChecks = overview.body.orgChecks as { check: string; pass: number; fail: number }[]
      const p32 = orgChecks.find((c) => c.check === P32)
      assert.ok(p32 !== undefined && p32.fail >= 1, 'Acme fails P3.2')
      const cells = await row.getByRole('cell').allInnerTexts()
      assert.equal(cells[0], String(p32.pass))
      assert.equal(cells[1], String(p32.fail))
      assert.match(cells[3] ?? '', /\bAcme\b/, 'the failing org by name')
      assert.equal(await table.getByRole('row').count(), orgChecks.length + 1)
      // The service's checks, each with its history (kept in the provider org), opened with the keyboard.
      const tls = page.getByRole('region', { name: /refuses TLS 1\.1 and older/ })
      await tls.getByText('p4.1/tls-minimum · Service').waitFor()
      await tabTo(page, tls.getByRole('button', { name: 'History of p4.1/tls-minimum' }))
      await page.keyboard.press('Enter')
      await tls.getByRole('table', { name: 'History of p4.1/tls-minimum' }).getByText('first result').waitFor()
      await assertAccessible(page, 'the operators’ compliance page')
      assert.deepEqual(csp, [], 'no CSP violation')
    } finally {
      await close()
    }
  })

  it('P3.2 history: after the owner enrols and the org requires 2FA, the check’s History shows fail → pass (keyboard)', async () => {
    // Through the API: the owner enrols TOTP, the org requires 2FA, the org is evaluated.
    const { secret } = await enrolTotp((method, url, body) =>
      httpsJson(world.server.httpsPort, method, url, { token: world.customer.ownerToken, body }),
    )
    const policy = await acme('PUT', '/security-policy', { require2fa: true, stepUpMinutes: 10 })
    assert.equal(policy.status, 200, policy.text)
    const run = await acme('POST', '/compliance/runs')
    assert.equal(run.status, 200, run.text)

    const { page, csp, close } = await openSignedIn(browser, world, world.customer.ownerEmail, {
      code: await unusedTotpCode(secret),
      org: 'Acme',
    })
    try {
      await openCompliance(page)
      const p32 = promiseCard(page, 'P3.2')
      await p32.getByText('Met', { exact: true }).waitFor()
      const check = checkIn(p32)
      await check.getByText('Pass', { exact: true }).waitFor()
      // The keyboard from the promise's heading to its check's History toggle.
      await p32.getByRole('heading', { name: /^P3\.2 · / }).click()
      await tabTo(page, check.getByRole('button', { name: `History of ${P32}` }))
      await page.keyboard.press('Enter')
      const history = check.getByRole('table', { name: `History of ${P32}` })
      await history.waitFor()
      const rows = history.getByRole('row')
      await rows.nth(2).waitFor()
      const [newest, older] = [await rows.nth(1).innerText(), await rows.nth(2).innerText()]
      assert.match(newest, /Pass[\s\S]*was fail[\s\S]*every member with data access \(1\) uses a second factor/i)
      assert.match(older, /Fail[\s\S]*first result[\s\S]*does not require two-factor authentication/i)
      const api = (await acme('GET', `/compliance/history?check=${encodeURIComponent(P32)}`)).body.history as {
        verdict: string
      }[]
      assert.deepEqual(
        api.map((h) => h.verdict),
        ['pass', 'fail'],
      )
      assert.equal(await rows.count(), api.length + 1, 'every change the API keeps, and no other')
      await assertAccessible(page, 'a check’s history')
      assert.deepEqual(csp, [], 'no CSP violation')
    } finally {
      await close()
    }
  })
})
