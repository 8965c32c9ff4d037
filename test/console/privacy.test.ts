import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import type { Browser, Locator, Page } from 'playwright-core'
import { ensureBuilt } from '../../scripts/console.ts'
import {
  assertAccessible,
  joinCustomer,
  launchChromium,
  openPage,
  openSignedIn,
  refusalAlert,
  signIn,
  startConsoleWorld,
  type ConsolePage,
  type ConsoleWorld,
} from '../helpers/console.ts'
import { httpsJson } from '../helpers/process.ts'

const HOUR = 3_600_000

interface RequestRow {
  id: string
  kind: string
  status: string
  subjectId: string | null
  dueAt: string
  receivedAt: string
  assignee: string | null
  verification: { method: string } | null
  result: Record<string, unknown> | null
  history?: { event: string; details: Record<string, unknown> }[]
}

// The console's privacy pages (issue 13, P7.1, P7.2, P7.6): records by data subject; a
// privacy request recorded, verified, assigned and completed as an erasure whose signed
// certificate is verified in the browser (signature and subject commitment, WebCrypto via
// jose, against the key the service publishes), and fails when one byte of it is changed
// or the subject id or salt is wrong; an access request whose export is downloaded as a
// file; a rectification and a rejection; the request clocks against the API's deadlines,
// an overdue one (the browser's clock moved past it: the spawned server runs on the system
// clock) highlighted in words; the refusals of a member without the permissions — in
// Debian's Chromium against a real server on PGlite.
describe('web console: privacy', () => {
  let world: ConsoleWorld
  let browser: Browser
  let ownerId: string
  const officerEmail = 'privacy-officer@acme.test'
  let officerId: string

  const call = (method: string, url: string, body?: unknown, token = world.customer.ownerToken) =>
    httpsJson(world.server.httpsPort, method, `/v1/orgs/${world.customer.orgId}${url}`, { token, body })
  const requestOf = async (id: string) => {
    const got = await call('GET', `/privacy-requests/${id}`)
    assert.equal(got.status, 200, got.text)
    return got.body as RequestRow
  }
  const newRequest = async (body: Record<string, unknown>) => {
    const made = await call('POST', '/privacy-requests', body)
    assert.equal(made.status, 201, made.text)
    return made.body as RequestRow
  }
  const record = async (subjectId: string, dataClass: string, payload: unknown) => {
    const made = await call('POST', '/records', { subjectId, dataClass, payload })
    assert.equal(made.status, 201, made.text)
    return made.body as { id: string }
  }

  before(async () => {
    await ensureBuilt()
    world = await startConsoleWorld({
      // The certificate follows the erasure as soon as the shred ring retires the old key.
      CUSTODIAN_SHRED_RING_GRACE_MS: '0',
      CUSTODIAN_SHRED_RING_CHECK_MS: '200',
    })
    browser = await launchChromium()
    const me = await httpsJson(world.server.httpsPort, 'GET', '/v1/me', { token: world.customer.ownerToken })
    assert.equal(me.status, 200, me.text)
    ownerId = me.body.id
    officerId = (await joinCustomer(world, officerEmail, 'admin')).userId
  })
  after(async () => {
    await browser?.close()
    await world?.server.stop()
  })

  const signedIn = (email: string, setup?: Parameters<typeof openPage>[1]) =>
    openSignedIn(browser, world, email, { org: 'Acme', ...(setup === undefined ? {} : { setup }) })

  async function open(page: Page, link: 'Records' | 'Privacy requests' | 'Erasure certificates'): Promise<void> {
    await page.getByRole('navigation', { name: 'Org pages' }).getByRole('link', { name: link, exact: true }).click()
    await page.getByRole('heading', { level: 1, name: link }).waitFor()
  }

  /** Presses `key` until `target` has the focus (at most 80 times); fails otherwise. */
  async function tabTo(page: Page, target: Locator, key = 'Tab'): Promise<void> {
    await target.waitFor()
    for (let i = 0; i < 80; i++) {
      if (await target.evaluate((el) => el.matches(':focus'))) return
      await page.keyboard.press(key)
    }
    assert.fail(`${key} never reached ${target.toString()}`)
  }

  /** "71 h 59 min 58 s left" (or "overdue by …") → signed milliseconds left. */
  function leftOf(text: string): number {
    const match = /(overdue by )?(\d+) h (\d+) min (\d+) s( left)?/.exec(text)
    assert.ok(match !== null, `a countdown: ${text}`)
    const [h, m, s] = [match[2], match[3], match[4]].map(Number) as [number, number, number]
    const ms = ((h * 60 + m) * 60 + s) * 1000
    return match[1] === undefined ? ms : -ms
  }

  /** The value is in no address the page asked for or went to, and in no browser storage. */
  async function assertNotKept(session: ConsolePage, value: string, what: string): Promise<void> {
    const stored = await session.page.evaluate(() =>
      JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)]),
    )
    assert.ok(!stored.includes(value), `${what} is not in localStorage/sessionStorage`)
    const leaked = session.urls.filter((url) => url.includes(value) || url.includes(encodeURIComponent(value)))
    assert.deepEqual(leaked, [], `${what} is in no URL`)
  }

  /** The erasure of the tests below: its subject, the salt shown once, its certificate. */
  const erased = { subject: 'cust-7731@example.test', salt: '', certificateId: '', jws: '' }

  it('issue 13: records by subject — searched by the subject’s id, listed with their content as the API returns it, one opened', async () => {
    const { subject } = erased
    await record(subject, 'contact', { email: subject, phone: '+1 555 0100' })
    await record(subject, 'customer_data', { plan: 'pro', seats: 12 })
    const session = await signedIn(world.customer.ownerEmail)
    const { page, csp, close } = session
    try {
      // Records by subject: searched by the subject's id (in the body), two rows, one opened.
      await open(page, 'Records')
      await assertAccessible(page, 'the records page')
      await page.getByLabel(/^Subject id/).fill(subject)
      await page.getByRole('button', { name: 'Find records' }).click()
      const records = page.getByRole('table', { name: 'The subject’s records' })
      await records.getByRole('row').filter({ hasText: 'customer_data' }).waitFor()
      assert.equal(await records.getByRole('row').count(), 3, 'the header and the two records')
      assert.match(await records.innerText(), /"phone": "\+1 555 0100"/, 'the content as the API returns it')
      await assertAccessible(page, 'the subject’s records')
      await records
        .getByRole('row')
        .filter({ hasText: 'customer_data' })
        .getByRole('button', { name: /^Open record/ })
        .click()
      const opened = page.getByRole('dialog', { name: 'Record' })
      await opened.getByRole('table', { name: 'Record details' }).getByText('"seats": 12').waitFor()
      assert.match(await opened.innerText(), new RegExp(subject.replace('.', '\\.')))
      await assertAccessible(page, 'a record opened')
      await opened.getByRole('button', { name: 'Close' }).click()
      await opened.waitFor({ state: 'hidden' })

      await assertNotKept(session, subject, 'the subject id')
      assert.deepEqual(csp, [], 'no CSP violation')
    } finally {
      await close()
    }
  })

  it('issue 13: a privacy erasure recorded, verified, assigned and completed in the page: the salt shown once, the certificate issued', async () => {
    const { subject } = erased
    const session = await signedIn(world.customer.ownerEmail)
    const { page, csp, close } = session
    try {
      // Record the erase request in the page.
      await open(page, 'Privacy requests')
      await page.getByLabel('Kind').selectOption('erase')
      await page.getByLabel(/^Subject id/).fill(subject)
      await page.getByLabel(/^Requester’s name/).fill('Ada Example')
      await page.getByLabel(/^Requester’s email/).fill('ada@example.test')
      await page.getByLabel(/^Channel/).fill('support form')
      const receivedAt = Date.now()
      await page.getByRole('button', { name: 'Record request' }).click()
      await page.getByRole('heading', { level: 1, name: 'Privacy request: erase' }).waitFor()
      const requestId = /\/privacy-requests\/([0-9a-f-]{36})$/.exec(page.url())?.[1]
      assert.ok(requestId !== undefined, page.url())
      let request = await requestOf(requestId)
      assert.equal(request.kind, 'erase')
      assert.equal(request.subjectId, subject)
      assert.ok(Math.abs(Date.parse(request.dueAt) - (receivedAt + 72 * HOUR)) < 10_000, 'due 72 hours on')
      const facts = page.getByRole('table', { name: 'Request' })
      assert.match(await facts.innerText(), /Ada Example, ada@example\.test, via support form/)
      const timer = facts.getByRole('timer')
      const apiLeft = Date.parse(request.dueAt) - Date.now()
      const shown = leftOf(await timer.innerText())
      assert.ok(
        Math.abs(shown - apiLeft) < 5000,
        `the page’s clock ${shown} matches the API’s deadline ${request.dueAt}`,
      )
      await assertAccessible(page, 'a new request')

      // Completing before the identity is verified: the API's refusal, shown in the dialog.
      await page.getByRole('button', { name: 'Complete: erase the subject' }).click()
      let dialog = page.getByRole('dialog', { name: 'Erase this subject everywhere?' })
      await dialog.getByRole('button', { name: 'Erase the subject' }).click()
      await refusalAlert(dialog, 'VERIFICATION_REQUIRED').waitFor()
      await assertAccessible(page, 'the refused erasure')
      await dialog.getByRole('button', { name: 'Cancel' }).click()
      assert.equal((await requestOf(requestId)).status, 'open', 'nothing was erased')

      // Identity verification, then the assignee.
      await page.getByLabel(/^Method/).fill('document')
      await page.getByLabel(/^Note/).fill('passport seen on a video call')
      await page.getByRole('button', { name: 'Record verification' }).click()
      await page.getByRole('status').filter({ hasText: 'The identity verification is recorded.' }).waitFor()
      await facts.getByText(/^document, recorded .* by owner@acme\.test$/).waitFor()
      await facts.getByText('Note: passport seen on a video call').waitFor()
      await page.getByLabel('Member').selectOption({ label: world.customer.ownerEmail })
      await page.getByRole('button', { name: 'Assign' }).click()
      await page
        .getByRole('status')
        .filter({ hasText: `Assigned to ${world.customer.ownerEmail}.` })
        .waitFor()
      request = await requestOf(requestId)
      assert.equal(request.verification?.method, 'document')
      assert.equal(request.assignee, ownerId)

      // Erase: the salt is shown once; the certificate follows the shred ring.
      await page.getByRole('button', { name: 'Complete: erase the subject' }).click()
      dialog = page.getByRole('dialog', { name: 'Erase this subject everywhere?' })
      await assertAccessible(page, 'the erase dialog')
      await dialog.getByRole('button', { name: 'Erase the subject' }).click()
      const saltShown = page.getByLabel('Subject salt')
      await saltShown.waitFor()
      const salt = await saltShown.inputValue()
      assert.match(salt, /^[A-Za-z0-9_-]{22}$/, 'the 16-byte salt, base64url')
      await page.getByRole('link', { name: 'Open the erasure certificate' }).waitFor({ timeout: 30_000 })
      request = await requestOf(requestId)
      assert.equal(request.status, 'completed')
      assert.equal(request.subjectId, null, 'the request’s own copy of the subject is erased')
      await facts.getByText(/^erased/).waitFor()
      // The notice follows the request: once the certificate is issued, it says so (issue 13).
      await page.getByText('Erased, and the erasure certificate is issued', { exact: false }).waitFor()
      assert.equal(await page.getByText('The certificate follows once', { exact: false }).count(), 0)
      assert.equal((await call('POST', '/records/search', { subjectId: subject })).body.records.length, 0)
      const history = page.getByRole('table', { name: 'History' })
      for (const event of ['received', 'verify', 'assign', 'erase', 'certificate'])
        await history.getByRole('cell', { name: event, exact: true }).first().waitFor()
      // Its details in words: the assignee by email, moments in the console's format; no id, no ISO time (issue 13).
      const historyText = await history.innerText()
      assert.doesNotMatch(historyText, /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i)
      assert.doesNotMatch(historyText, /\d{4}-\d{2}-\d{2}T\d{2}:/)
      // The certificate's step is the service's own, in words (issue 13).
      assert.match(
        await history.getByRole('row').filter({ hasText: 'certificate' }).last().innerText(),
        /Custodian \(automatic\)/,
      )
      assert.doesNotMatch(historyText, /system:/)
      await assertAccessible(page, 'the erased request with its salt')
      await assertNotKept(session, salt, 'the salt')
      await assertNotKept(session, subject, 'the subject id')

      // The certificate's page: what it says.
      await page.getByRole('link', { name: 'Open the erasure certificate' }).click()
      await page.getByRole('heading', { level: 1, name: 'Erasure certificate' }).waitFor()
      const certificateId = /\/erasure-certificates\/([0-9a-f-]{36})$/.exec(page.url())?.[1] ?? ''
      const served = await call('GET', `/erasure-certificates/${certificateId}`)
      assert.equal(served.status, 200, served.text)
      const jws = served.body.jws as string
      assert.equal(request.result?.certificate, certificateId)
      const systems = page.getByRole('table', { name: 'Systems' })
      assert.match(
        await systems.getByRole('row').filter({ hasText: 'Records kept in Custodian' }).innerText(),
        /deleted\s+2\s+contact: 1, customer_data: 1/,
      )
      await systems
        .getByRole('row')
        .filter({ hasText: 'The subject’s encryption key' })
        .getByText('key destroyed: what it sealed can never be read')
        .waitFor()
      assert.doesNotMatch(await systems.innerText(), /custodian:/, 'the systems in words')
      // Its audit event in words, linked to the audit log filtered to it; the org by name, no id (issue 13).
      const certificateFacts = page.getByRole('table', { name: 'Certificate' })
      const auditCell = certificateFacts.getByRole('row').filter({ hasText: 'Audit event' })
      await auditCell.getByText(/in the audit log of Acme/).waitFor()
      assert.doesNotMatch(await auditCell.innerText(), /[0-9a-f]{8}-[0-9a-f]{4}-/i)
      const eventLink = auditCell.getByRole('link', { name: 'its audit event' })
      const target = new URL((await eventLink.getAttribute('href')) ?? '', world.origin)
      assert.equal(target.searchParams.get('action'), 'privacy.erasure.certificate')
      assert.equal(target.searchParams.get('target'), certificateId)
      await assertAccessible(page, 'the certificate page')

      Object.assign(erased, { salt, certificateId, jws })
      assert.deepEqual(csp, [], 'no CSP violation')
    } finally {
      await close()
    }
  })

  /** Opens the erasure's certificate page, signed in as the owner. */
  async function certificatePage(): Promise<ConsolePage> {
    assert.ok(erased.certificateId !== '', 'the erasure above was certified')
    const session = await signedIn(world.customer.ownerEmail)
    await session.page.goto(
      `${world.origin}/console/orgs/${world.customer.orgId}/erasure-certificates/${erased.certificateId}`,
    )
    await session.page.getByRole('heading', { level: 1, name: 'Erasure certificate' }).waitFor()
    return session
  }

  it('issue 13: the certificate verified in the browser — its signature against the published key, the subject from a typed id and salt; a wrong salt or subject id fails, saying what did not match', async () => {
    const { subject, salt, certificateId } = erased
    const session = await certificatePage()
    const { page, csp, urls, close } = session
    try {
      const keysAsked = () => urls.filter((u) => u.endsWith('/v1/audit/keys')).length
      const before = keysAsked()
      await page.getByLabel(/^Subject id/).fill(subject)
      await page.getByLabel(/^Salt/).fill(salt)
      await page.getByRole('button', { name: 'Verify this certificate' }).click()
      const signatureOk = page.getByRole('status').filter({ hasText: 'The signature is valid' })
      await signatureOk.waitFor()
      assert.match(await signatureOk.innerText(), /Signature verified/)
      assert.match(await signatureOk.innerText(), new RegExp(`Erasure certificate ${certificateId}`))
      const subjectOk = page.getByRole('status').filter({ hasText: 'The subject matches' })
      await subjectOk.waitFor()
      const commitment = `sha256:${createHash('sha256').update(Buffer.from(salt, 'base64url')).update(subject, 'utf8').digest('hex')}`
      assert.match(await subjectOk.innerText(), new RegExp(commitment))
      assert.ok(keysAsked() > before, 'the published key was fetched from the API for the check')
      await assertAccessible(page, 'a verified certificate')

      // A wrong salt (another valid one), then a wrong subject id: each fails, saying so.
      const otherSalt = randomBytes(16).toString('base64url')
      await page.getByLabel(/^Salt/).fill(otherSalt)
      await page.getByRole('button', { name: 'Verify this certificate' }).click()
      let mismatch = page.getByRole('alert').filter({ hasText: 'The subject does not match' })
      await mismatch.waitFor()
      assert.match(await mismatch.innerText(), /Subject not verified/)
      assert.match(
        await mismatch.innerText(),
        /Either the subject id or the salt is not the one this certificate was issued for/,
      )
      await page.getByRole('status').filter({ hasText: 'The signature is valid' }).waitFor()
      await assertAccessible(page, 'a wrong salt')
      await page.getByLabel(/^Salt/).fill(salt)
      await page.getByLabel(/^Subject id/).fill('cust-7732@example.test')
      await page.getByRole('button', { name: 'Verify this certificate' }).click()
      mismatch = page.getByRole('alert').filter({ hasText: 'The subject does not match' })
      await mismatch.waitFor()
      assert.match(await mismatch.innerText(), /the certificate’s commitment is sha256:[0-9a-f]{64}/)
      // A salt that is not base64url at all: said so.
      await page.getByLabel(/^Subject id/).fill(subject)
      await page.getByLabel(/^Salt/).fill('not a salt!')
      await page.getByRole('button', { name: 'Verify this certificate' }).click()
      await page.getByRole('alert').filter({ hasText: 'The salt is not base64url' }).waitFor()

      await assertNotKept(session, salt, 'the salt')
      await assertNotKept(session, subject, 'the subject id')
      assert.deepEqual(csp, [], 'no CSP violation')
    } finally {
      await close()
    }
  })

  it('issue 13: the certificate downloaded as a file and verified from the file; one byte of its payload changed, it fails; the list verifies a file too', async () => {
    const { subject, salt, certificateId, jws } = erased
    const session = await certificatePage()
    const { page, csp, close } = session
    try {
      await page.getByLabel(/^Subject id/).fill(subject)
      // The certificate as a file: downloaded, then verified from the file chosen.
      await page.getByLabel(/^Salt/).fill(salt)
      const download = page.waitForEvent('download')
      await page.getByRole('button', { name: 'Download the certificate' }).click()
      const file = await download
      assert.equal(file.suggestedFilename(), `erasure-certificate-${certificateId}.json`)
      const saved = readFileSync(await file.path(), 'utf8')
      assert.equal(JSON.parse(saved).jws, jws, 'the API’s answer as it came')
      const chooser = page.getByLabel('Verify a certificate file')
      await chooser.setInputFiles({
        name: 'certificate.json',
        mimeType: 'application/json',
        buffer: Buffer.from(saved),
      })
      await page.getByRole('status').filter({ hasText: 'certificate.json: The signature is valid' }).waitFor()
      await page.getByRole('status').filter({ hasText: 'The subject matches' }).waitFor()

      // One byte of the payload changed (a count 2 → 3): the signature fails, saying so.
      const [header, body, signature] = jws.split('.') as [string, string, string]
      const payload = Buffer.from(body, 'base64url').toString('utf8')
      assert.ok(payload.includes('"count":2'))
      const tampered = `${header}.${Buffer.from(payload.replace('"count":2', '"count":3')).toString('base64url')}.${signature}`
      assert.equal(tampered.length, jws.length)
      await chooser.setInputFiles({ name: 'tampered.jws', mimeType: 'text/plain', buffer: Buffer.from(tampered) })
      const failed = page.getByRole('alert').filter({ hasText: 'tampered.jws: The signature does not match' })
      await failed.waitFor()
      assert.match(await failed.innerText(), /Signature failed/)
      assert.match(await failed.innerText(), /changed after it was signed/)
      await page
        .getByRole('alert')
        .filter({ hasText: 'Not checked: the signature did not verify, so the commitment inside cannot be trusted.' })
        .waitFor()
      assert.equal(await page.getByRole('status').filter({ hasText: 'The signature is valid' }).count(), 0)
      await assertAccessible(page, 'a tampered certificate')
      await assertNotKept(session, salt, 'the salt')
      await assertNotKept(session, subject, 'the subject id')

      // The certificates list shows it, with a verifier for files.
      await open(page, 'Erasure certificates')
      const listed = page.getByRole('table', { name: 'Erasure certificates' }).getByRole('row')
      await listed.getByRole('link', { name: /^Erasure certificate issued/ }).waitFor()
      assert.equal(await listed.count(), 2, 'the header and the one certificate')
      await page.getByLabel('Verify a certificate file').setInputFiles({
        name: 'certificate.jws',
        mimeType: 'text/plain',
        buffer: Buffer.from(jws),
      })
      await page.getByRole('status').filter({ hasText: 'certificate.jws: The signature is valid' }).waitFor()
      await assertAccessible(page, 'the certificates page')
      assert.deepEqual(csp, [], 'no CSP violation')
    } finally {
      await close()
    }
  })

  it('issue 13: an access request completed with the keyboard; its export is downloaded as a file with the session, no token in any address (P7.6)', async () => {
    const subject = 'cust-access-42'
    await record(subject, 'contact', { email: 'access42@example.test' })
    await record(subject, 'usage', { logins: 9 })
    const request = await newRequest({
      kind: 'access',
      subjectId: subject,
      requester: { email: 'access42@example.test' },
      verification: { method: 'signed-in-account' },
    })
    const { page, csp, urls, close } = await signedIn(world.customer.ownerEmail)
    try {
      await open(page, 'Privacy requests')
      const link = page.getByRole('link', { name: /^access \(export\) request received/ }).first()
      await tabTo(page, link)
      await page.keyboard.press('Enter')
      await page.getByRole('heading', { level: 1, name: 'Privacy request: access (export)' }).waitFor()
      assert.ok(page.url().endsWith(`/privacy-requests/${request.id}`))
      await tabTo(page, page.getByRole('button', { name: 'Complete: build the export' }))
      await page.keyboard.press('Enter')
      const dialog = page.getByRole('dialog', { name: 'Build the subject’s export?' })
      await tabTo(page, dialog.getByRole('button', { name: 'Build the export' }))
      await assertAccessible(page, 'the export dialog')
      await page.keyboard.press('Enter')
      await page.getByRole('status').filter({ hasText: 'Completed: the export is ready to download.' }).waitFor()
      const done = await requestOf(request.id)
      assert.equal(done.status, 'completed')
      const exportId = done.result?.export as string
      assert.ok(typeof exportId === 'string')

      const download = page.waitForEvent('download')
      await tabTo(page, page.getByRole('button', { name: 'Download the export' }))
      await page.keyboard.press('Enter')
      const file = await download
      assert.equal(file.suggestedFilename(), `subject-export-${exportId}.json`)
      const content = JSON.parse(readFileSync(await file.path(), 'utf8'))
      assert.equal(content.format, 'custodian-subject-export/1')
      assert.equal(content.subjectId, subject)
      assert.equal(content.request, request.id)
      assert.deepEqual(
        (content.records as { dataClass: string; payload: unknown }[]).map((r) => [r.dataClass, r.payload]).sort(),
        [
          ['contact', { email: 'access42@example.test' }],
          ['usage', { logins: 9 }],
        ],
      )
      await page
        .getByRole('status')
        .filter({ hasText: `Saved as subject-export-${exportId}.json` })
        .waitFor()
      await assertAccessible(page, 'the downloaded export')
      // Fetched with the session's cookie: no token, no subject in any address.
      const exportCalls = urls.filter((u) => u.includes('/privacy-exports/'))
      assert.deepEqual(exportCalls, [`${world.origin}/v1/orgs/${world.customer.orgId}/privacy-exports/${exportId}`])
      assert.deepEqual(
        urls.filter((u) => /token|subject|cust-access/i.test(u)),
        [],
        'no token or subject in any URL',
      )
      const events = await call('GET', `/audit/events?action=privacy.export.download&target=${exportId}`)
      assert.equal(events.body.events.length, 1, 'the download is audited')
      assert.deepEqual(csp, [], 'no CSP violation')
    } finally {
      await close()
    }
  })

  it('issue 13: a rectification applied with its corrections, a request assigned to another member and rejected with a reason', async () => {
    const subject = 'cust-rectify-5'
    const wrong = await record(subject, 'contact', { city: 'Lyon' })
    const rectify = await newRequest({ kind: 'rectify', subjectId: subject, verification: { method: 'email-link' } })
    const restrict = await newRequest({ kind: 'restrict', subjectId: 'cust-unknown-9' })
    const { page, csp, close } = await signedIn(world.customer.ownerEmail)
    try {
      await page.goto(`${world.origin}/console/orgs/${world.customer.orgId}/privacy-requests/${rectify.id}`)
      await page.getByRole('heading', { level: 1, name: 'Privacy request: rectify' }).waitFor()
      const content = page.getByLabel(new RegExp(`^Record ${wrong.id}`))
      await content.waitFor()
      assert.deepEqual(JSON.parse(await content.inputValue()), { city: 'Lyon' })
      assert.ok(await page.getByRole('button', { name: 'Complete with these corrections' }).isDisabled())
      await content.fill('{"city": "Lille"')
      await page.getByText('Not JSON: this record is left as it is until it is.').waitFor()
      await content.fill('{"city": "Lille"}')
      await assertAccessible(page, 'a rectification with its correction')
      await page.getByRole('button', { name: 'Complete with these corrections' }).click()
      const dialog = page.getByRole('dialog', { name: 'Apply the corrections?' })
      await dialog.getByText('1 record is corrected.').waitFor()
      await dialog.getByRole('button', { name: 'Complete with these corrections' }).click()
      await page.getByRole('status').filter({ hasText: 'Completed: the corrections are applied.' }).waitFor()
      await page
        .getByRole('region', { name: 'Rectified' })
        .getByText(/1 record corrected/)
        .waitFor()
      assert.deepEqual((await call('GET', `/records/${wrong.id}`)).body.payload, { city: 'Lille' })
      assert.equal((await requestOf(rectify.id)).status, 'completed')

      // Another request: assigned to the privacy officer, then rejected with a reason.
      await page.goto(`${world.origin}/console/orgs/${world.customer.orgId}/privacy-requests/${restrict.id}`)
      await page.getByRole('heading', { level: 1, name: 'Privacy request: restrict processing' }).waitFor()
      await page.getByLabel('Member').selectOption({ label: officerEmail })
      await page.getByRole('button', { name: 'Assign' }).click()
      await page
        .getByRole('status')
        .filter({ hasText: `Assigned to ${officerEmail}.` })
        .waitFor()
      assert.equal((await requestOf(restrict.id)).assignee, officerId)
      await page.getByRole('table', { name: 'Request' }).getByRole('cell', { name: officerEmail }).waitFor()
      await page.getByRole('button', { name: 'Reject', exact: true }).click()
      const reject = page.getByRole('dialog', { name: 'Reject this request?' })
      assert.ok(await reject.getByRole('button', { name: 'Reject request' }).isDisabled(), 'a reason is needed')
      await reject.getByLabel(/^Reason/).fill('The requester could not prove who they are.')
      await assertAccessible(page, 'the reject dialog')
      await reject.getByRole('button', { name: 'Reject request' }).click()
      await page.getByRole('status').filter({ hasText: 'Rejected: the reason is kept with the request.' }).waitFor()
      await page
        .getByRole('region', { name: 'Rejected' })
        .getByText('Reason: The requester could not prove who they are.')
        .waitFor()
      const rejected = await requestOf(restrict.id)
      assert.equal(rejected.status, 'rejected')
      assert.deepEqual(rejected.result, { reason: 'The requester could not prove who they are.' })
      const history = page.getByRole('table', { name: 'History' })
      await history
        .getByRole('row')
        .filter({ hasText: 'reject' })
        .getByText(/reason: The requester could not prove/)
        .waitFor()
      assert.equal(await page.getByRole('button', { name: /^Complete/ }).count(), 0, 'nothing more to do')
      await assertAccessible(page, 'a rejected request')
      assert.deepEqual(csp, [], 'no CSP violation')
    } finally {
      await close()
    }
  })

  it('issue 13: each request’s clock matches the API’s deadline; moved past it, the browser shows the request overdue in words; the status filter asks the API', async () => {
    const late = await newRequest({ kind: 'access', subjectId: 'cust-late-1' })
    // The policy, changed in the page: a shorter deadline for the next request.
    const { page, csp, close } = await signedIn(world.customer.ownerEmail)
    try {
      await open(page, 'Privacy requests')
      await page.getByLabel(/^Response deadline/).fill('24')
      await page.getByRole('button', { name: 'Save policy' }).click()
      await page.getByRole('status').filter({ hasText: 'Saved: new requests are due by this policy.' }).waitFor()
      assert.deepEqual((await call('GET', '/privacy-policy')).body, { responseHours: 24, exportHours: 72 })
      const quick = await newRequest({ kind: 'lift_restriction', subjectId: 'cust-late-2' })
      assert.equal(Date.parse(quick.dueAt) - Date.parse(quick.receivedAt), 24 * HOUR)
      await page.reload()
      const table = page.getByRole('table', { name: 'Privacy requests' })
      for (const r of [late, quick]) {
        const row = table.getByRole('row').filter({ hasText: r.subjectId ?? '' })
        const text = await row.getByRole('timer').innerText()
        const apiLeft = Date.parse(r.dueAt) - Date.now()
        assert.ok(Math.abs(leftOf(text) - apiLeft) < 5000, `${text} matches the API’s deadline ${r.dueAt}`)
        assert.equal(await row.getByText('Overdue', { exact: true }).count(), 0)
      }
      await assertAccessible(page, 'the requests with their clocks')

      // Status filter: the API's, open ones only, then rejected ones only.
      // Its choices capitalised like every other filter's (issue 13).
      const choices = await page.getByLabel('Status').locator('option').allInnerTexts()
      assert.ok(choices.length > 2)
      for (const choice of choices) assert.match(choice, /^[A-Z]/, `a capitalised choice: ${choice}`)
      await page.getByLabel('Status').selectOption('rejected')
      await table.getByRole('row').filter({ hasText: 'cust-late-1' }).waitFor({ state: 'detached' })
      await table.getByRole('row').filter({ hasText: 'cust-unknown-9' }).waitFor()
      assert.equal(await table.getByRole('row').count(), 2, 'the header and the one rejected request')
      await page.getByLabel('Status').selectOption('open')
      await table.getByRole('row').filter({ hasText: 'cust-unknown-9' }).waitFor({ state: 'detached' })
      await table.getByRole('row').filter({ hasText: 'cust-late-2' }).waitFor()
      const openOnes = (await call('GET', '/privacy-requests?status=open')).body.requests as RequestRow[]
      assert.equal(await table.getByRole('row').count(), openOnes.length + 1)
      await call('PUT', '/privacy-policy', { responseHours: 72, exportHours: 72 })
    } finally {
      await close()
    }

    // The browser's clock 90 minutes past the earlier deadline (the server's cannot move).
    const future = new Date(Date.parse(late.dueAt) + 90 * 60_000)
    const moved = await signedIn(world.customer.ownerEmail, (context) => context.clock.install({ time: future }))
    try {
      await open(moved.page, 'Privacy requests')
      const table = moved.page.getByRole('table', { name: 'Privacy requests' })
      const row = table.getByRole('row').filter({ hasText: 'cust-late-1' })
      await row.getByText('Overdue', { exact: true }).waitFor()
      const text = await row.getByRole('timer').innerText()
      assert.match(text, /^overdue by 1 h (29|30|31) min/)
      assert.match((await row.getAttribute('class')) ?? '', /privacy-overdue/)
      const quick = table.getByRole('row').filter({ hasText: 'cust-late-2' })
      await quick.getByText('Overdue', { exact: true }).waitFor()
      await assertAccessible(moved.page, 'an overdue request')
      await row.getByRole('link').click()
      await moved.page.getByRole('heading', { level: 1, name: 'Privacy request: access (export)' }).waitFor()
      await moved.page.getByRole('table', { name: 'Request' }).getByText('Overdue', { exact: true }).waitFor()
      await assertAccessible(moved.page, 'an overdue request’s page')
      assert.deepEqual(moved.csp, [], 'no CSP violation')
      assert.deepEqual(csp, [], 'no CSP violation')
    } finally {
      await moved.close()
    }
  })

  it('issue 13: a member without the privacy permissions sees the API’s refusal on each page, and no action', async () => {
    const request = await newRequest({ kind: 'access', subjectId: 'cust-refused-1' })
    const { page, csp, close } = await signedIn(world.customer.viewerEmail)
    try {
      await open(page, 'Privacy requests')
      await page.getByRole('alert').filter({ hasText: 'privacy:read' }).first().waitFor()
      await page
        .getByText(/Recording a request needs the permission “Register and handle data-subject requests/)
        .waitFor()
      await assertAccessible(page, 'the requests page, refused')
      await open(page, 'Records')
      await page.getByLabel(/^Subject id/).fill('cust-refused-1')
      await page.getByRole('button', { name: 'Find records' }).click()
      await page.getByRole('alert').filter({ hasText: 'records:read' }).waitFor()
      await assertAccessible(page, 'the records page, refused')
      await open(page, 'Erasure certificates')
      await page.getByRole('alert').filter({ hasText: 'privacy:read' }).first().waitFor()
      await page.goto(`${world.origin}/console/orgs/${world.customer.orgId}/privacy-requests/${request.id}`)
      await page.getByRole('alert').filter({ hasText: 'privacy:read' }).waitFor()
      assert.equal(await page.getByRole('button', { name: /^(Complete|Reject|Assign|Record verification)/ }).count(), 0)
      await assertAccessible(page, 'a request’s page, refused')
      assert.deepEqual(csp, [], 'no CSP violation')
    } finally {
      await close()
    }
    // A reader (privacy:read, nothing else) sees the request, and the API refuses what it may not do.
    const role = await call('POST', '/roles', { name: 'privacy-reader', permissions: ['privacy:read'] })
    assert.equal(role.status, 201, role.text)
    await joinCustomer(world, 'reader@acme.test', 'privacy-reader')
    const reader = await openPage(browser)
    try {
      await signIn(reader.page, world, 'reader@acme.test', { org: 'Acme' })
      await reader.page.goto(`${world.origin}/console/orgs/${world.customer.orgId}/privacy-requests/${request.id}`)
      await reader.page.getByRole('heading', { level: 1, name: 'Privacy request: access (export)' }).waitFor()
      await reader.page
        .getByText(/Handling a request needs the permission “Register and handle data-subject requests/)
        .waitFor()
      assert.equal(await reader.page.getByRole('button', { name: /^(Complete|Reject|Assign)/ }).count(), 0)
      await assertAccessible(reader.page, 'a request as a reader')
      assert.deepEqual(reader.csp, [], 'no CSP violation')
    } finally {
      await reader.close()
    }
  })
})
