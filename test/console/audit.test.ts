import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Browser, Page } from 'playwright-core'
import { ensureBuilt } from '../../scripts/console.ts'
import {
  ANY_UUID,
  assertAccessible,
  launchChromium,
  openSignedIn,
  startConsoleWorld,
  type ConsoleWorld,
} from '../helpers/console.ts'
import { httpsJson } from '../helpers/process.ts'

/**
 * How long the page may take to verify the whole log in the browser (hashes, links and
 * checkpoint signatures): CPU-bound, so on a loaded 2-core CI machine well past the 30 s default.
 */
const VERIFY_MS = 120_000

// The console's audit viewer (issue 12) in Debian's Chromium against a real server on PGlite:
// list, filter, detail, and an export verified in the browser with WebCrypto (P5.2).
describe('web console: audit viewer', () => {
  let world: ConsoleWorld
  let browser: Browser
  let checkpointSeq: number

  const api = (method: string, url: string, body?: unknown) =>
    httpsJson(world.server.httpsPort, method, url, {
      token: world.customer.ownerToken,
      ...(body === undefined ? {} : { body }),
    })

  before(async () => {
    await ensureBuilt()
    // A checkpoint at every sequencer pass, so the events below are covered within seconds.
    world = await startConsoleWorld({ CUSTODIAN_AUDIT_CHECKPOINT_EVERY: '1' })
    browser = await launchChromium()
    const orgId = world.customer.orgId
    const created = await api('POST', `/v1/orgs/${orgId}/secrets`, {
      name: 'payments/audited',
      type: 'generic',
      value: 'audited-value-0123',
    })
    assert.equal(created.status, 201, created.text)
    const revealed = await api('POST', `/v1/orgs/${orgId}/secrets/${created.body.id}/reveal`, {
      reason: 'console audit test',
    })
    assert.equal(revealed.status, 200, revealed.text)
    // Until every event is chained and a signed checkpoint covers the head.
    const deadline = Date.now() + 20_000
    for (;;) {
      const status = await api('GET', `/v1/orgs/${orgId}/audit/status`)
      assert.equal(status.status, 200, status.text)
      if (status.body.unchained === 0 && status.body.lastCheckpointSeq === status.body.headSeq) {
        checkpointSeq = status.body.lastCheckpointSeq as number
        break
      }
      if (Date.now() > deadline) throw new Error(`no checkpoint covers the head: ${status.text}`)
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  })
  after(async () => {
    await browser?.close()
    await world?.server.stop()
  })

  const signedIn = (email: string) => openSignedIn(browser, world, email)

  /** Presses Tab until the focused element has this accessible label or text; fails after 80 presses. */
  async function tabTo(page: Page, name: RegExp): Promise<void> {
    for (let i = 0; i < 80; i++) {
      await page.keyboard.press('Tab')
      // Run in the page (a string: this project's types have no DOM).
      const focused = await page.evaluate<string>(`(() => {
        const el = document.activeElement
        const input = el instanceof HTMLInputElement
        const label = input ? (el.labels?.[0]?.textContent ?? '') : ''
        return (el?.getAttribute('aria-label') ?? '') + ' ' + label + ' ' + (input ? '' : (el?.textContent ?? ''))
      })()`)
      if (name.test(focused)) return
    }
    throw new Error(`Tab never reached ${name}`)
  }

  it('lists the events, filters by action, shows the reveal and its detail, verifies the log in the browser (P5.2)', async () => {
    const { page, csp, close } = await signedIn(world.customer.ownerEmail)
    try {
      await page.getByRole('link', { name: 'Acme' }).click()
      await page.getByRole('link', { name: 'Audit log' }).click()
      await page.getByRole('heading', { name: 'Audit log' }).waitFor()
      await page.getByRole('table', { name: 'Audit events' }).waitFor()
      assert.ok((await page.getByRole('row').filter({ hasText: 'secret.create' }).count()) >= 1)
      await assertAccessible(page, 'the audit log')

      await page.getByLabel('Action', { exact: true }).fill('secret.*')
      await page.getByRole('button', { name: 'Apply filters' }).click()
      await page.getByRole('row').filter({ hasText: 'secret.reveal' }).waitFor()
      await page.getByRole('row').filter({ hasText: 'secret.create' }).waitFor()
      await page.getByLabel('Action', { exact: true }).fill('secret.reveal')
      await page.getByRole('button', { name: 'Apply filters' }).click()
      await page.getByRole('row').filter({ hasText: 'secret.create' }).waitFor({ state: 'detached' })
      const rows = page.getByRole('table', { name: 'Audit events' }).getByRole('row')
      await rows.filter({ hasText: 'secret.reveal' }).waitFor()
      assert.equal(await rows.count(), 2, 'the header and the one reveal')

      // Actions in words, the key kept as secondary text for the expert.
      const revealRow = rows.filter({ hasText: 'Secret revealed' })
      assert.match(await revealRow.innerText(), /Secret revealed\s+secret\.reveal/)
      await page.getByRole('button', { name: /^Details of Secret revealed/ }).click()
      const detail = page.getByRole('region', { name: /Secret revealed/ })
      await detail.waitFor()
      const text = await detail.innerText()
      assert.match(text, /console audit test/, 'the reason is in the details')
      assert.match(text, /Action\s+Secret revealed \(secret\.reveal\)/)
      // The details in words (the JSON stays folded away for the expert).
      const words = await detail.getByText(/^name: .*reason: console audit test/).innerText()
      assert.doesNotMatch(words, /[{}"]/, 'no JSON')
      assert.doesNotMatch(words, ANY_UUID)
      assert.match(text, /Chain position \(seq\)\s+\d+/)
      assert.match(text, /Previous hash\s+[0-9a-f]{64}/)
      await assertAccessible(page, 'an event’s detail')
      const download = page.waitForEvent('download')
      await detail.getByRole('button', { name: 'Download receipt' }).click()
      const receipt = await download
      assert.match(receipt.suggestedFilename(), /^audit-receipt-.+\.json$/)

      await page.getByRole('button', { name: 'Verify the log' }).click()
      const verified = page.getByRole('status').filter({ hasText: 'verified up to checkpoint' })
      await verified.waitFor({ timeout: VERIFY_MS })
      const [, seq, time] = /verified up to checkpoint (\d+) at (\S+) /.exec(await verified.innerText()) ?? []
      assert.ok(Number(seq) >= checkpointSeq, `checkpoint ${seq} covers at least ${checkpointSeq}`)
      assert.match(time ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
      await assertAccessible(page, 'a verified log')

      const exported = page.waitForEvent('download')
      await page.getByRole('button', { name: 'Download export' }).click()
      assert.equal((await exported).suggestedFilename(), `audit-${world.customer.orgId}.jsonl`)
      assert.deepEqual(csp, [])
    } finally {
      await close()
    }
  })

  it('names the member who acted by email, and filters by a member chosen by email (issue 13)', async () => {
    const { page, csp, close } = await signedIn(world.customer.ownerEmail)
    try {
      await page.goto(`${world.origin}/console/orgs/${world.customer.orgId}/audit`)
      const table = page.getByRole('table', { name: 'Audit events' })
      const reveal = table.getByRole('row').filter({ hasText: 'secret.reveal' })
      await reveal.waitFor()
      assert.match(await reveal.innerText(), /owner@acme\.test/, 'the Actor column names the member')

      // The Actor filter offers the org's members by email; the address keeps the user id.
      const actor = page.getByLabel('Actor', { exact: true })
      const options = await actor.locator('option').allInnerTexts()
      assert.equal(options[0], 'Anyone')
      assert.ok(
        options.includes(world.customer.ownerEmail) && options.includes(world.customer.viewerEmail),
        options.join(', '),
      )
      for (const option of options) assert.doesNotMatch(option, ANY_UUID, 'members by email, not by id')
      await actor.selectOption({ label: world.customer.ownerEmail })
      await page.getByRole('button', { name: 'Apply filters' }).click()
      await reveal.waitFor()
      const texts = await table.getByRole('row').allInnerTexts()
      assert.ok(texts.length > 1)
      for (const text of texts.slice(1)) assert.match(text, /owner@acme\.test/, text)
      assert.equal(await page.getByLabel('Target (id)').inputValue(), '')

      await page.getByRole('button', { name: /^Details of Secret revealed/ }).click()
      const detail = page.getByRole('region', { name: /Secret revealed/ })
      assert.match(await detail.innerText(), /Actor\s+owner@acme\.test \(user [0-9a-f-]{36}\)/)
      await assertAccessible(page, 'the audit log filtered by a member')
      assert.deepEqual(csp, [])
    } finally {
      await close()
    }
  })

  it('refuses a tampered export: one byte of an event changed in transit, an event removed from an uploaded file (P5.2)', async () => {
    const { page, csp, close } = await signedIn(world.customer.ownerEmail)
    try {
      await page.goto(`${world.origin}/console/orgs/${world.customer.orgId}/audit`)
      await page.getByRole('heading', { name: 'Audit log' }).waitFor()
      // The server's answer, one byte of the event at seq 2 changed before the page reads it.
      await page.route('**/audit/export', async (route) => {
        const response = await route.fetch()
        const lines = (await response.text()).split('\n')
        const index = lines.findIndex((l) => l.includes('"seq":2,'))
        const line = lines[index] as string
        const at = line.indexOf('"action":"') + '"action":"'.length
        lines[index] = `${line.slice(0, at)}${line[at] === 'x' ? 'y' : 'x'}${line.slice(at + 1)}`
        await route.fulfill({ response, body: lines.join('\n') })
      })
      await page.getByRole('button', { name: 'Verify the log' }).click()
      const refused = page.getByRole('alert').filter({ hasText: 'Verification failed' })
      await refused.waitFor({ timeout: VERIFY_MS })
      assert.match(await refused.innerText(), /seq 2 was modified after it was chained \(seq 2, hash_mismatch\)/)
      await page.unroute('**/audit/export')
      await assertAccessible(page, 'a refused export')

      const exported = await api('GET', `/v1/orgs/${world.customer.orgId}/audit/export`)
      assert.equal(exported.status, 200)
      const genuine = exported.text
      const input = page.getByLabel('Verify an export file')
      await input.setInputFiles({
        name: 'genuine.jsonl',
        mimeType: 'application/x-ndjson',
        buffer: Buffer.from(genuine),
      })
      await page
        .getByRole('status')
        .filter({ hasText: 'genuine.jsonl: verified up to checkpoint' })
        .waitFor({ timeout: VERIFY_MS })

      const cut = genuine
        .split('\n')
        .filter((l) => !l.includes('"seq":3,'))
        .join('\n')
      await input.setInputFiles({ name: 'cut.jsonl', mimeType: 'application/x-ndjson', buffer: Buffer.from(cut) })
      const missing = page.getByRole('alert').filter({ hasText: 'cut.jsonl' })
      await missing.waitFor({ timeout: VERIFY_MS })
      assert.match(await missing.innerText(), /event 3 is missing \(seq 3, seq_gap\)/)

      const lines = genuine.split('\n')
      const index = lines.findIndex((l) => l.startsWith('{"kind":"checkpoint"'))
      const record = JSON.parse(lines[index] as string) as { signature: string }
      record.signature = `${record.signature[0] === 'A' ? 'B' : 'A'}${record.signature.slice(1)}`
      lines[index] = JSON.stringify(record)
      await input.setInputFiles({
        name: 'forged.jsonl',
        mimeType: 'application/x-ndjson',
        buffer: Buffer.from(lines.join('\n')),
      })
      const forged = page.getByRole('alert').filter({ hasText: 'forged.jsonl' })
      await forged.waitFor()
      assert.match(await forged.innerText(), /signature does not verify/)
      assert.deepEqual(csp, [])
    } finally {
      await close()
    }
  })

  it('tells the host application’s events from Custodian’s own: the Origin column, filter and detail (issue 14)', async () => {
    const orgId = world.customer.orgId
    const recorded = await api('POST', `/v1/orgs/${orgId}/audit/events`, {
      id: 'console-origin-1',
      action: 'invoice.sent',
      actor: { id: 'user-9', type: 'user', name: 'Ada' },
      targets: [{ type: 'invoice', id: 'inv-77' }],
      occurredAt: new Date().toISOString(),
    })
    assert.equal(recorded.status, 201, recorded.text)
    const { page, csp, close } = await signedIn(world.customer.ownerEmail)
    try {
      await page.goto(`${world.origin}/console/orgs/${orgId}/audit`)
      const table = page.getByRole('table', { name: 'Audit events' })
      await table.getByRole('row').filter({ hasText: 'invoice.sent' }).filter({ hasText: 'Application' }).waitFor()
      assert.ok(
        (await table.getByRole('row').filter({ hasText: 'secret.create' }).filter({ hasText: 'Custodian' }).count()) >=
          1,
      )
      await page.getByLabel('Origin').selectOption('application')
      await page.getByRole('button', { name: 'Apply filters' }).click()
      await table.getByRole('row').filter({ hasText: 'secret.create' }).waitFor({ state: 'detached' })
      const rows = table.getByRole('row')
      await rows.filter({ hasText: 'invoice.sent' }).waitFor()
      assert.equal(
        await rows.count(),
        2,
        `the header and the one application event: ${(await rows.allInnerTexts()).join(' | ')}`,
      )
      await page.getByRole('button', { name: /^Details of Invoice sent/ }).click()
      const detail = page.getByRole('region', { name: /Invoice sent/ })
      assert.match(await detail.innerText(), /Origin\s+the host application/)
      await assertAccessible(page, 'the application’s events')
      assert.deepEqual(csp, [])
    } finally {
      await close()
    }
  })

  it('shows a member without audit:read the API’s refusal', async () => {
    const { page, csp, close } = await signedIn(world.customer.viewerEmail)
    try {
      await page.goto(`${world.origin}/console/orgs/${world.customer.orgId}/audit`)
      const refused = page.getByRole('alert').filter({ hasText: 'audit:read' })
      await refused.waitFor({ timeout: VERIFY_MS })
      assert.match(await refused.innerText(), /cannot read this org’s audit log/)
      assert.equal(await page.getByRole('button', { name: 'Verify the log' }).count(), 0, 'no export offered')
      await assertAccessible(page, 'the refused audit log')
      assert.deepEqual(csp, [])
    } finally {
      await close()
    }
  })

  it('keyboard only: filter, open the reveal’s detail, verify', async () => {
    const { page, close } = await signedIn(world.customer.ownerEmail)
    try {
      await page.goto(`${world.origin}/console/orgs/${world.customer.orgId}/audit`)
      await page.getByRole('table', { name: 'Audit events' }).waitFor()
      await tabTo(page, /^ Action/)
      await page.keyboard.type('secret.reveal')
      await page.keyboard.press('Enter')
      await page.getByRole('row').filter({ hasText: 'secret.create' }).waitFor({ state: 'detached' })
      await page.getByRole('row').filter({ hasText: 'secret.reveal' }).waitFor()
      await tabTo(page, /Details of Secret revealed/)
      await page.keyboard.press('Enter')
      await page.getByRole('region', { name: /Secret revealed/ }).waitFor()
      assert.match(await page.evaluate<string>(`document.activeElement?.textContent ?? ''`), /Secret revealed/)
      await tabTo(page, /Verify the log/)
      await page.keyboard.press('Enter')
      await page.getByRole('status').filter({ hasText: 'verified up to checkpoint' }).waitFor({ timeout: VERIFY_MS })
    } finally {
      await close()
    }
  })
})
