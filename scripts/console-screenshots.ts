/**
 * `npm run console:screenshots`: a picture of each page of the web console, for
 * docs/console.md, taken in Debian's Chromium against a real server on PGlite with a
 * throwaway data directory. Writes docs/console/*.png.
 */
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import type { Page } from 'playwright-core'
import pg from 'pg'
import { PASSWORD } from '../test/helpers/app.ts'
import { launchChromium, newConsoleContext, refusalAlert, startConsoleWorld } from '../test/helpers/console.ts'
import { startCluster } from '../test/helpers/pg-cluster.ts'
import { httpsJson } from '../test/helpers/process.ts'
import { totpCode } from '../test/helpers/totp.ts'
import { ensureBuilt } from './console.ts'
import { shootCompliance } from './console-screenshots-compliance.ts'
import { shootConsent } from './console-screenshots-consent.ts'
import { shootOperations } from './console-screenshots-operations.ts'

const OUT = path.resolve(import.meta.dirname, '../docs/console')
mkdirSync(OUT, { recursive: true })

await ensureBuilt()
// The Integrations pages' data sources: roles on a throwaway PostgreSQL cluster (TLS, SCRAM), as
// test/console/integrations.test.ts has them; the server may reach it on loopback.
const cluster = await startCluster()
const su = new pg.Client({
  connectionString: cluster.url('postgres', cluster.superuserPassword),
  ssl: { rejectUnauthorized: false },
})
await su.connect()
await su.query(`CREATE ROLE orders_app LOGIN PASSWORD 'orders-pw'`)
await su.query(`CREATE ROLE rotator LOGIN CREATEROLE PASSWORD 'rotator-pw'`)
await su.end()
// The org key's rewrap moves one data key every 2 s: the Org keys picture catches it mid-way.
// Webhooks give up after two attempts and retention purges every second: pictures 57 and 58
// show a dead letter and a purge within minutes.
const world = await startConsoleWorld({
  CUSTODIAN_OUTBOUND_ALLOW: '127.0.0.1/32',
  CUSTODIAN_REWRAP_BATCH: '1',
  CUSTODIAN_REWRAP_INTERVAL_MS: '2000',
  CUSTODIAN_WEBHOOK_CHECK_MS: '200',
  CUSTODIAN_MAIL_CHECK_MS: '200',
  CUSTODIAN_WEBHOOK_MAX_ATTEMPTS: '2',
  CUSTODIAN_RETENTION_CHECK_MS: '1000',
  // Pictures 70–71 evaluate an org on demand twice within a minute.
  CUSTODIAN_COMPLIANCE_ON_DEMAND_MS: '0',
})
const browser = await launchChromium()
const shot = async (page: Page, name: string) => {
  await page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: true, animations: 'disabled' })
  process.stdout.write(`docs/console/${name}.png\n`)
}
try {
  for (const [name, description] of [
    ['billing/stripe-key', 'Payments API key'],
    ['db/orders-readonly', ''],
    ['mail/smtp-password', 'Outgoing mail relay'],
  ] as const) {
    await httpsJson(world.server.httpsPort, 'POST', `/v1/orgs/${world.customer.orgId}/secrets`, {
      token: world.customer.ownerToken,
      body: { name, type: 'generic', value: 'example-value', ...(description === '' ? {} : { description }) },
    })
  }

  const page = await (await newConsoleContext(browser)).newPage()
  await page.goto(`${world.origin}/console/`)
  await page.getByRole('heading', { name: 'Sign in to Custodian' }).waitFor()
  await shot(page, '01-sign-in')
  await page.getByLabel('Email').fill(world.provider.email)
  await page.getByLabel(/^Password/).fill(PASSWORD)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByLabel('Authentication code').waitFor()
  await shot(page, '02-sign-in-code')
  await page.getByLabel('Authentication code').fill(totpCode(world.provider.totpSecret, 1))
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('heading', { name: 'Choose an org' }).waitFor()
  await page.getByRole('link', { name: 'Provider' }).waitFor()
  await shot(page, '03-org-picker')

  const owner = await (await newConsoleContext(browser)).newPage()
  await owner.goto(`${world.origin}/console/sign-in`)
  await owner.getByLabel('Email').fill(world.customer.ownerEmail)
  await owner.getByLabel(/^Password/).fill(PASSWORD)
  await owner.getByRole('button', { name: 'Sign in' }).click()
  await owner.getByRole('link', { name: 'Acme' }).click()
  await owner.getByRole('row').filter({ hasText: 'mail/smtp-password' }).waitFor()
  await shot(owner, '04-secrets')
  await owner.getByRole('link', { name: 'billing/stripe-key' }).click()
  await owner.getByRole('heading', { level: 1, name: 'billing/stripe-key' }).waitFor()
  const panel = owner.getByRole('region', { name: 'Reveal the value' })
  await panel.getByLabel(/^Reason/).fill('Checking the key the payments service uses')
  await panel.getByRole('button', { name: 'Reveal', exact: true }).click()
  await owner.getByRole('group', { name: 'Revealed value' }).waitFor()
  await shot(owner, '05-secret-detail')
  await owner.getByRole('button', { name: 'Hide now' }).click()
  await owner.getByRole('button', { name: 'Delete secret' }).click()
  await owner.getByRole('dialog', { name: 'Delete billing/stripe-key?' }).waitFor()
  await owner.waitForTimeout(500)
  await shot(owner, '06-secret-delete')
  await owner.keyboard.press('Escape')
  await owner.getByRole('link', { name: 'Audit log' }).click()
  await owner.getByLabel('Action', { exact: true }).fill('secret.*')
  await owner.getByRole('button', { name: 'Apply filters' }).click()
  await owner
    .getByRole('button', { name: /^Details of Secret created/ })
    .first()
    .click()
  // The first checkpoint is signed within the sequencer's next passes.
  for (let i = 0; i < 20; i++) {
    await owner.getByRole('button', { name: 'Verify the log' }).click()
    await owner.getByText(/verified up to checkpoint|Verification failed/).waitFor()
    if ((await owner.getByText('verified up to checkpoint').count()) > 0) break
    await owner.waitForTimeout(1000)
  }
  await shot(owner, '07-audit')

  const viewer = await (await newConsoleContext(browser)).newPage()
  await viewer.goto(`${world.origin}/console/sign-in`)
  await viewer.getByLabel('Email').fill(world.customer.viewerEmail)
  await viewer.getByLabel(/^Password/).fill(PASSWORD)
  await viewer.getByRole('button', { name: 'Sign in' }).click()
  await viewer.getByRole('link', { name: 'Acme' }).click()
  await viewer.getByRole('alert').filter({ hasText: 'secrets:read' }).waitFor()
  await shot(viewer, '08-secrets-refused')

  // Access and the security policy (Acme's owner; no second factor, so no step-up asked).
  const acme = `${world.origin}/console/orgs/${world.customer.orgId}`
  await owner.goto(`${acme}/members`)
  await owner.getByLabel('Email').fill('dev@acme.test')
  await owner.getByRole('button', { name: 'Send invitation' }).click()
  await owner.getByLabel('Invitation token').waitFor()
  await shot(owner, '09-members')
  await owner.goto(`${acme}/roles`)
  await owner.getByLabel(/^Role name/).fill('deployer')
  await owner.getByRole('checkbox', { name: 'secrets:read', exact: true }).check()
  await owner.getByRole('checkbox', { name: 'secrets:write', exact: true }).check()
  await owner.getByRole('row', { name: /^auditor built-in/ }).waitFor()
  await shot(owner, '10-roles')
  await owner.goto(`${acme}/tokens`)
  await owner.getByLabel(/^Token name/).fill('ci-deploy')
  await owner.getByRole('button', { name: 'Issue token' }).click()
  await owner.getByRole('dialog', { name: 'Your new API token' }).waitFor()
  await shot(owner, '11-token-shown-once')
  await owner.getByRole('button', { name: 'Done' }).click()
  await owner.goto(`${acme}/security`)
  await owner.getByRole('button', { name: 'Add range' }).click()
  await owner.getByLabel('Range 1', { exact: true }).fill('203.0.113.0/24')
  await owner.getByRole('button', { name: 'Save allowlist' }).click()
  await refusalAlert(owner, 'ALLOWLIST_EXCLUDES_CALLER').waitFor()
  await shot(owner, '12-security-policy')
  await viewer.goto(`${acme}/tokens`)
  await viewer.getByRole('alert').filter({ hasText: 'tokens:read' }).waitFor()
  await shot(viewer, '13-tokens-refused')
  // Keys (features/keys): transit keys with encrypt and decrypt, the org key mid-rewrap.
  for (const name of ['customer-records', 'payments']) {
    await httpsJson(world.server.httpsPort, 'POST', `/v1/orgs/${world.customer.orgId}/transit/keys`, {
      token: world.customer.ownerToken,
      body: { name },
    })
  }
  await httpsJson(world.server.httpsPort, 'POST', `/v1/orgs/${world.customer.orgId}/transit/keys/payments/rotate`, {
    token: world.customer.ownerToken,
  })
  await owner.goto(`${acme}/transit-keys`)
  const use = owner.getByRole('region', { name: 'Encrypt, decrypt, rewrap' })
  await use.getByLabel('Key').selectOption('customer-records')
  await use.getByLabel(/^Text to encrypt/).fill('Jane Doe, 12 Main Street, Springfield')
  await use.getByRole('button', { name: 'Encrypt', exact: true }).click()
  const sealed = await use.getByLabel('Ciphertext', { exact: true }).inputValue()
  await use.getByLabel(/^Ciphertext to decrypt/).fill(sealed)
  await use.getByRole('button', { name: 'Decrypt', exact: true }).click()
  await use.getByRole('group', { name: 'Decrypted' }).waitFor()
  await shot(owner, '14-transit-keys')
  await owner.goto(`${acme}/keys`)
  await owner.getByRole('button', { name: 'Rotate org key' }).click()
  await owner
    .getByRole('dialog', { name: 'Rotate the org key?' })
    .getByRole('button', { name: 'Rotate org key' })
    .click()
  const rewrap = owner.getByRole('region', { name: 'Rewrap in progress' })
  await rewrap.waitFor()
  // A third of the way, or so: the bar and the counts part-done.
  const bar = rewrap.getByRole('progressbar')
  for (let i = 0; i < 60 && Number(await bar.getAttribute('aria-valuenow')) < 30; i++) await owner.waitForTimeout(500)
  await owner.getByRole('dialog').waitFor({ state: 'detached' })
  await shot(owner, '15-org-keys-rotating')
  // Integrations (features/integrations): checked data sources, then one with its rotation policy and history.
  const sources: Record<string, string> = {}
  for (const [name, user, password] of [
    ['db/orders', 'orders_app', 'orders-pw'],
    ['db/rotator', 'rotator', 'rotator-pw'],
    ['db/legacy-reporting', 'legacy', 'not-a-password'],
  ] as const) {
    const stored = await httpsJson(world.server.httpsPort, 'POST', `/v1/orgs/${world.customer.orgId}/secrets`, {
      token: world.customer.ownerToken,
      body: {
        name,
        type: 'database_credential',
        value: { host: '127.0.0.1', port: cluster.port, database: 'postgres', user, password, sslmode: 'require' },
      },
    })
    sources[name] = stored.body.id as string
  }
  await owner.goto(`${acme}/integrations`)
  for (const name of ['db/orders', 'db/rotator', 'db/legacy-reporting']) {
    await owner.getByRole('button', { name: `Check now: ${name}` }).click()
    await owner
      .getByRole('status')
      .filter({ hasText: `Checked. ${name} is` })
      .waitFor()
  }
  await owner.getByRole('button', { name: 'Pause db/legacy-reporting' }).click()
  await owner.getByRole('status').filter({ hasText: 'db/legacy-reporting is paused' }).waitFor()
  await shot(owner, '16-integrations')
  await owner.getByRole('link', { name: 'db/orders', exact: true }).click()
  await owner.getByRole('heading', { level: 1, name: 'db/orders' }).waitFor()
  const rotationForm = owner.getByRole('region', { name: 'Set a rotation policy' })
  await rotationForm.getByLabel('Managing credential').selectOption(sources['db/rotator'] ?? '')
  await rotationForm.getByLabel('Rotate every (hours)').fill('168')
  await rotationForm.getByRole('button', { name: 'Save rotation policy' }).click()
  await owner.getByRole('status').filter({ hasText: 'Rotation policy saved' }).waitFor()
  await owner.getByRole('button', { name: 'Rotate now' }).click()
  await owner.getByRole('dialog', { name: 'Rotate db/orders now?' }).getByRole('button', { name: 'Rotate now' }).click()
  await owner.getByRole('status').filter({ hasText: 'db/orders is rotated' }).waitFor()
  await owner.getByRole('table', { name: 'Rotations' }).waitFor()
  await shot(owner, '17-integration-rotation')
  // Notifications (features/notifications): two secrets reported exposed notify Acme's owner
  // (no mail server here: each e-mail is "skipped"); a webhook to a port nothing listens on,
  // its delivery retrying.
  for (const name of ['db/orders-readonly', 'mail/smtp-password']) {
    const secrets = await httpsJson(world.server.httpsPort, 'GET', `/v1/orgs/${world.customer.orgId}/secrets`, {
      token: world.customer.ownerToken,
    })
    const id = (secrets.body.secrets as { id: string; name: string }[]).find((s) => s.name === name)?.id
    await httpsJson(world.server.httpsPort, 'POST', `/v1/orgs/${world.customer.orgId}/secrets/${id}/report-exposed`, {
      token: world.customer.ownerToken,
      body: { reason: 'pasted into a public chat channel' },
    })
  }
  for (let i = 0; i < 50; i++) {
    const outbox = await httpsJson(world.server.httpsPort, 'GET', `/v1/orgs/${world.customer.orgId}/notifications`, {
      token: world.customer.ownerToken,
    })
    if ((outbox.body.notifications as { status: string }[]).every((n) => n.status !== 'pending')) break
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  await owner.goto(`${acme}/notifications?tab=org`)
  await owner
    .getByRole('button', { name: /^Details of Secret "mail\/smtp-password"/ })
    .first()
    .click()
  await owner.getByRole('table', { name: 'Notification fields' }).waitFor()
  await shot(owner, '18-notifications')
  await owner.getByRole('tab', { name: 'Webhooks' }).click()
  await owner.getByLabel(/^Webhook name/).fill('pager')
  await owner.getByLabel(/^URL/).fill('https://127.0.0.1:9/custodian')
  await owner.getByRole('button', { name: 'Add webhook' }).click()
  await owner.getByRole('dialog', { name: 'The webhook’s signing secret' }).waitFor()
  await shot(owner, '19-webhook-secret')
  await owner.getByRole('button', { name: 'Done' }).click()
  const deployKey = (
    await httpsJson(world.server.httpsPort, 'POST', `/v1/orgs/${world.customer.orgId}/secrets`, {
      token: world.customer.ownerToken,
      body: { name: 'ci/deploy-key', type: 'generic', value: 'example-value' },
    })
  ).body.id as string
  await httpsJson(
    world.server.httpsPort,
    'POST',
    `/v1/orgs/${world.customer.orgId}/secrets/${deployKey}/report-exposed`,
    {
      token: world.customer.ownerToken,
      body: { reason: 'committed to a public repository' },
    },
  )
  for (let i = 0; i < 30; i++) {
    await owner.getByRole('region', { name: 'Recent deliveries' }).getByRole('button', { name: 'Refresh' }).click()
    await owner.waitForTimeout(500)
    if ((await owner.getByRole('table', { name: 'Webhook deliveries' }).count()) > 0) break
  }
  await shot(owner, '20-webhooks')
  // The operators' overview: the provider's owner (signed in above), from the header's link.
  await page.getByRole('link', { name: 'Operator overview' }).click()
  await page.getByRole('table', { name: 'Orgs' }).waitFor()
  await shot(page, '21-operator')
  await viewer.goto(`${world.origin}/console/operator`)
  await viewer.getByRole('alert').filter({ hasText: 'orgs:list' }).waitFor()
  await shot(viewer, '22-operator-refused')
  // Account (features/account): TOTP enrolment, recovery codes, the step-up prompt, sessions.
  const account = await (await newConsoleContext(browser)).newPage()
  await account.goto(`${world.origin}/console/sign-in`)
  await account.getByLabel('Email').fill(world.customer.ownerEmail)
  await account.getByLabel(/^Password/).fill(PASSWORD)
  await account.getByRole('button', { name: 'Sign in' }).click()
  await account.getByRole('link', { name: 'Account' }).click()
  await account.getByRole('table', { name: 'Your sessions' }).waitFor()
  await account.getByRole('button', { name: 'Set up an authenticator app' }).click()
  await account.getByRole('img', { name: 'QR code of the authenticator key' }).waitFor()
  await shot(account, '23-account-totp')
  const seed = ((await account.getByLabel('Authenticator key', { exact: true }).textContent()) ?? '').trim()
  await account.getByLabel('Code from the app').fill(totpCode(seed))
  await account.getByRole('button', { name: 'Turn on' }).click()
  await account.getByRole('list', { name: 'Recovery code list' }).waitFor()
  await shot(account, '24-recovery-codes')
  await account.getByRole('button', { name: 'I have saved them' }).click()
  await account.getByLabel('Passkey name').fill('Work laptop')
  await account.getByLabel('Passkey name').press('Enter')
  await account.getByRole('dialog', { name: 'Confirm it is you' }).waitFor()
  await shot(account, '25-step-up')
  await account.keyboard.press('Escape')
  await account.getByRole('dialog').waitFor({ state: 'hidden' })
  await shot(account, '26-account')

  // Single sign-on (issue 12): a failed sign-in back on the sign-in page, said in a sentence.
  const sso = await (await newConsoleContext(browser)).newPage()
  await sso.goto(`${world.origin}/console/sign-in?sso=failed&code=SSO_NOT_A_MEMBER`)
  await sso.getByRole('alert').filter({ hasText: 'Single sign-on failed' }).waitFor()
  await shot(sso, '27-sign-in-sso-failed')
  // An org that requires 2FA: a member without a second factor is taken to enrolment, told why.
  await httpsJson(world.server.httpsPort, 'PUT', `/v1/orgs/${world.customer.orgId}/security-policy`, {
    token: world.customer.ownerToken,
    body: { require2fa: true, stepUpMinutes: 15 },
  })
  await sso.goto(`${world.origin}/console/sign-in`)
  await sso.getByLabel('Email').fill(world.customer.viewerEmail)
  await sso.getByLabel(/^Password/).fill(PASSWORD)
  await sso.getByRole('button', { name: 'Sign in' }).click()
  // The org picker's own calls are allowed before enrolment; the first refused call sends the
  // person to Account with ?enrol=required (test/console/sso.test.ts follows that redirect).
  await sso.getByRole('heading', { name: 'Choose an org' }).waitFor()
  await sso.goto(`${acme}/account?enrol=required`)
  await sso.getByRole('alert').filter({ hasText: 'Your org requires two-factor authentication' }).waitFor()
  await sso.getByRole('table', { name: 'Your sessions' }).waitFor()
  await shot(sso, '28-enrolment-required')

  // ---- Privacy (issue 13, features/privacy): pictures 35–41 ----
  // The org stops requiring 2FA again, and a privacy officer without a second factor takes
  // the pictures (the owner enrolled one above: completing a request would ask for step-up).
  {
    const api = (method: string, tail: string, body?: unknown) =>
      httpsJson(world.server.httpsPort, method, `/v1/orgs/${world.customer.orgId}${tail}`, {
        token: world.customer.ownerToken,
        body,
      })
    await api('PUT', '/security-policy', { require2fa: false, stepUpMinutes: 15 })
    const invited = await api('POST', '/invitations', { email: 'privacy@acme.test', role: 'admin' })
    await httpsJson(world.server.httpsPort, 'POST', '/v1/invitations/accept', {
      body: { token: invited.body.token as string, password: PASSWORD },
    })
    const subject = 'cust-7731@example.test'
    await api('POST', '/records', {
      subjectId: subject,
      dataClass: 'contact',
      payload: { email: subject, phone: '+1 555 0100' },
    })
    await api('POST', '/records', {
      subjectId: subject,
      dataClass: 'customer_data',
      payload: { plan: 'pro', seats: 12 },
    })
    const requester = { name: 'Ada Example', email: 'ada@example.test', channel: 'support form' }
    const access = await api('POST', '/privacy-requests', {
      kind: 'access',
      subjectId: 'cust-1204',
      requester: { email: 'lee@example.test', channel: 'email' },
      verification: { method: 'signed-in-account' },
    })
    await api('POST', `/privacy-requests/${access.body.id}/complete`, {})
    await api('POST', '/privacy-requests', {
      kind: 'restrict',
      subjectId: 'cust-0988',
      requester: { channel: 'phone' },
    })
    const erase = await api('POST', '/privacy-requests', { kind: 'erase', subjectId: subject, requester })
    const eraseId = erase.body.id as string

    const officer = await (await newConsoleContext(browser)).newPage()
    await officer.goto(`${world.origin}/console/sign-in`)
    await officer.getByLabel('Email').fill('privacy@acme.test')
    await officer.getByLabel(/^Password/).fill(PASSWORD)
    await officer.getByRole('button', { name: 'Sign in' }).click()
    await officer.getByRole('link', { name: 'Acme' }).click()
    await officer.getByRole('heading', { level: 1, name: 'Secrets' }).waitFor()
    await officer.goto(`${acme}/records`)
    await officer.getByLabel(/^Subject id/).fill(subject)
    await officer.getByRole('button', { name: 'Find records' }).click()
    const records = officer.getByRole('table', { name: 'The subject’s records' })
    await records
      .getByRole('row')
      .filter({ hasText: 'customer_data' })
      .getByRole('button', { name: /^Open record/ })
      .click()
    await officer.getByRole('dialog', { name: 'Record' }).getByText('"seats": 12').waitFor()
    await shot(officer, '35-records')
    await officer.getByRole('dialog', { name: 'Record' }).getByRole('button', { name: 'Close' }).click()

    await officer.goto(`${acme}/privacy-requests`)
    await officer
      .getByRole('table', { name: 'Privacy requests' })
      .getByRole('row')
      .filter({ hasText: subject })
      .waitFor()
    await shot(officer, '36-privacy-requests')

    await officer.goto(`${acme}/privacy-requests/${eraseId}`)
    await officer.getByRole('heading', { level: 1, name: 'Privacy request: erase' }).waitFor()
    await officer.getByLabel(/^Method/).fill('document')
    await officer.getByLabel(/^Note/).fill('passport seen on a video call')
    await officer.getByRole('button', { name: 'Record verification' }).click()
    await officer.getByRole('status').filter({ hasText: 'The identity verification is recorded.' }).waitFor()
    await officer.getByLabel('Member').selectOption({ label: 'privacy@acme.test' })
    await officer.getByRole('button', { name: 'Assign' }).click()
    await officer.getByRole('status').filter({ hasText: 'Assigned to privacy@acme.test.' }).waitFor()
    await shot(officer, '37-privacy-request')

    await officer.getByRole('button', { name: 'Complete: erase the subject' }).click()
    await officer
      .getByRole('dialog', { name: 'Erase this subject everywhere?' })
      .getByRole('button', { name: 'Erase the subject' })
      .click()
    const salt = await officer.getByLabel('Subject salt').inputValue()
    await shot(officer, '38-erasure-salt')
    // The certificate follows once the shred ring destroys the old key (its grace period, 60 s by default).
    await officer.getByRole('link', { name: 'Open the erasure certificate' }).waitFor({ timeout: 180_000 })
    await officer.getByRole('link', { name: 'Open the erasure certificate' }).click()
    await officer.getByRole('heading', { level: 1, name: 'Erasure certificate' }).waitFor()
    await officer.getByLabel(/^Subject id/).fill(subject)
    await officer.getByLabel(/^Salt/).fill(salt)
    await officer.getByRole('button', { name: 'Verify this certificate' }).click()
    await officer.getByRole('status').filter({ hasText: 'The subject matches' }).waitFor()
    await shot(officer, '39-erasure-certificate-verified')

    const certificateId = officer.url().split('/').at(-1) ?? ''
    const jws = (await api('GET', `/erasure-certificates/${certificateId}`)).body.jws as string
    const [header, body, signature] = jws.split('.') as [string, string, string]
    const payload = Buffer.from(body, 'base64url').toString('utf8').replace('"count":2', '"count":3')
    await officer.getByLabel('Verify a certificate file').setInputFiles({
      name: 'certificate-edited.jws',
      mimeType: 'text/plain',
      buffer: Buffer.from(`${header}.${Buffer.from(payload).toString('base64url')}.${signature}`),
    })
    await officer.getByRole('alert').filter({ hasText: 'The signature does not match' }).waitFor()
    await shot(officer, '40-erasure-certificate-tampered')
    await officer.goto(`${acme}/erasure-certificates`)
    await officer.getByRole('table', { name: 'Erasure certificates' }).getByRole('row').nth(1).waitFor()
    await shot(officer, '64-erasure-certificates')

    // The browser's clock moved past the open requests' deadlines: each marked overdue.
    const later = await newConsoleContext(browser)
    await later.clock.install({ time: new Date(Date.now() + 73 * 3_600_000) })
    const overdue = await later.newPage()
    await overdue.goto(`${world.origin}/console/sign-in`)
    await overdue.getByLabel('Email').fill('privacy@acme.test')
    await overdue.getByLabel(/^Password/).fill(PASSWORD)
    await overdue.getByRole('button', { name: 'Sign in' }).click()
    await overdue.getByRole('link', { name: 'Acme' }).click()
    await overdue.getByRole('heading', { level: 1, name: 'Secrets' }).waitFor()
    await overdue.goto(`${acme}/privacy-requests`)
    await overdue.getByText('Overdue', { exact: true }).first().waitFor()
    await shot(overdue, '41-privacy-requests-overdue')
  }
  // ---- Access reviews and least privilege (issue 13): screenshots 30–34 ----
  // An org of their own (Acme requires 2FA by now): Initech, its owner, members who used little.
  {
    const port = world.server.httpsPort
    const made = await httpsJson(port, 'POST', '/v1/orgs', {
      token: world.provider.token,
      body: { name: 'Initech', ownerEmail: 'owner@initech.test' },
    })
    const created = made.body as { org: { id: string }; invitation: { token: string } }
    const initechId = created.org.id
    const boss = await httpsJson(port, 'POST', '/v1/invitations/accept', {
      body: { token: created.invitation.token, password: PASSWORD },
    })
    const bossToken = (boss.body as { apiToken: string }).apiToken
    const initech = (method: string, url: string, body?: unknown, token: string = bossToken) =>
      httpsJson(port, method, `/v1/orgs/${initechId}${url}`, { token, body })
    const tokens: Record<string, string> = {}
    for (const [email, role] of [
      ['peter@initech.test', 'admin'],
      ['samir@initech.test', 'admin'],
      ['milton@initech.test', 'member'],
      ['joanna@initech.test', 'member'],
    ] as const) {
      const invitation = await initech('POST', '/invitations', { email, role })
      const accepted = await httpsJson(port, 'POST', '/v1/invitations/accept', {
        body: { token: (invitation.body as { token: string }).token, password: PASSWORD },
      })
      tokens[email] = (accepted.body as { apiToken: string }).apiToken
    }
    // Peter reads the audit log only (the report suggests auditor); Joanna lists secrets.
    await initech('GET', '/audit/events?limit=1', undefined, tokens['peter@initech.test'])
    await initech('GET', '/secrets', undefined, tokens['joanna@initech.test'])

    const signInTo = async (email: string) => {
      const p = await (await newConsoleContext(browser)).newPage()
      await p.goto(`${world.origin}/console/sign-in`)
      await p.getByLabel('Email').fill(email)
      await p.getByLabel(/^Password/).fill(PASSWORD)
      await p.getByRole('button', { name: 'Sign in' }).click()
      await p.getByRole('link', { name: 'Initech' }).click()
      await p.getByRole('heading', { level: 1, name: 'Secrets' }).waitFor()
      return p
    }
    const milton = await signInTo('milton@initech.test')
    const reviewer = await signInTo('owner@initech.test')
    const nav = (name: string) =>
      reviewer.getByRole('navigation', { name: 'Org pages' }).getByRole('link', { name }).click()

    await nav('Access reviews')
    await reviewer.getByRole('button', { name: 'Start a review now' }).click()
    await reviewer.getByRole('heading', { level: 1, name: /^Access review of / }).waitFor()
    const items = reviewer.getByRole('table', { name: 'Review items' })
    await items.getByRole('button', { name: 'Certify joanna@initech.test' }).click()
    const certify = reviewer.getByRole('dialog', { name: 'Certify joanna@initech.test?' })
    await certify.getByLabel('Reason').fill('runs the support queue')
    await certify.getByRole('button', { name: 'Certify' }).click()
    await reviewer.getByRole('status').filter({ hasText: 'joanna@initech.test: certify' }).waitFor()
    await items.getByRole('button', { name: 'Revoke milton@initech.test' }).click()
    const revoke = reviewer.getByRole('dialog', { name: 'Revoke milton@initech.test?' })
    await revoke.getByLabel('Reason').fill('left the company in March')
    await revoke.getByRole('button', { name: 'Revoke access' }).click()
    await reviewer.getByRole('status').filter({ hasText: 'milton@initech.test: revoke' }).waitFor()
    await shot(reviewer, '31-access-review')

    // Milton's next action in his own browser: signed out, and told so.
    await milton.getByRole('navigation', { name: 'Org pages' }).getByRole('link', { name: 'Audit log' }).click()
    await milton.getByRole('status').filter({ hasText: 'Your session has ended' }).waitFor()
    await shot(milton, '34-signed-out')

    // A bulk decision: two items certified at once (the reviewer's own access offers no checkbox:
    // another reviewer decides it).
    for (const name of ['Select samir@initech.test (member)', 'Select API token “invitation” of samir@initech.test']) {
      await items.getByRole('checkbox', { name }).check()
    }
    const bulk = reviewer.getByRole('region', { name: 'Decide several items' })
    await bulk.getByLabel('Reason').fill('quarterly check: still needed')
    await bulk.getByRole('button', { name: 'Certify 2 selected items' }).click()
    await reviewer
      .getByRole('dialog', { name: 'Certify 2 selected items?' })
      .getByRole('button', { name: 'Certify 2' })
      .click()
    await bulk.getByRole('table', { name: 'Bulk decision results' }).waitFor()
    await shot(reviewer, '32-access-review-bulk')

    await reviewer.getByRole('link', { name: '← All access reviews' }).click()
    await reviewer
      .getByRole('table', { name: 'Access reviews' })
      .getByRole('row', { name: /Access review of/ })
      .waitFor()
    await shot(reviewer, '30-access-reviews')

    await nav('Least privilege')
    const peter = reviewer
      .getByRole('table', { name: 'Least privilege' })
      .getByRole('row')
      .filter({ hasText: 'peter@initech.test' })
    await peter.getByRole('button', { name: 'Reduce to auditor: peter@initech.test' }).click()
    await reviewer
      .getByRole('dialog', { name: 'Apply the suggestion for peter@initech.test?' })
      .getByLabel('Reason')
      .fill('reads the audit log only')
    await shot(reviewer, '33-least-privilege')
  }
  // ---- Issues 13 and 14, the org's day-to-day pages: pictures 42–63 ----
  await shootOperations(world, browser, shot)
  await shootConsent(world, browser, shot)
  await shootCompliance(world, browser, shot)
} finally {
  await browser.close()
  await world.server.stop()
  cluster.stop()
}
