/**
 * The second half of `npm run console:screenshots` (scripts/console-screenshots.ts): the pages
 * of issues 13 and 14 that run an org day to day — diagnostic access on both sides, alerts,
 * incidents and the response plan, vulnerability reports (the public pages without
 * JavaScript and the operators' inbox), an invitation accepted, the host application's events
 * in the audit log and in the embedded viewer, webhook dead letters, retention's proof, service
 * accounts, and offboarding seen by the org and by operators. Pictures 42–63.
 *
 * Every state is made through the API, as the console tests make it, in an org of its own
 * ("Globex": an owner with no second factor, so no step-up prompt stands in front of a page).
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Browser, Page } from 'playwright-core'
import { PASSWORD } from '../test/helpers/app.ts'
import { newConsoleContext, type ConsoleWorld } from '../test/helpers/console.ts'
import { httpsJson } from '../test/helpers/process.ts'
import { totpCode } from '../test/helpers/totp.ts'

type Shot = (page: Page, name: string) => Promise<void>

/** Polls `read` until it answers something; fails naming `what` after `ms`. */
async function until<T>(what: string, read: () => Promise<T | undefined>, ms: number): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await read()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
}

/** Fails with the API's answer unless the call succeeded (2xx). */
export function expectOk(answer: { status: number; text: string }, what: string): void {
  if (answer.status < 200 || answer.status > 299) throw new Error(`${what}: HTTP ${answer.status} ${answer.text}`)
}

/** A fresh console context signed in as `email` (an authentication code when given), on the org picker. */
async function signedIn(browser: Browser, world: ConsoleWorld, email: string, code?: string): Promise<Page> {
  const page = await (await newConsoleContext(browser)).newPage()
  await page.goto(`${world.origin}/console/sign-in`)
  await page.getByLabel('Email').fill(email)
  await page.getByLabel(/^Password/).fill(PASSWORD)
  await page.getByRole('button', { name: 'Sign in' }).click()
  if (code !== undefined) {
    await page.getByLabel('Authentication code').fill(code)
    await page.getByRole('button', { name: 'Sign in' }).click()
  }
  await page.getByRole('heading', { name: 'Choose an org' }).waitFor()
  return page
}

/**
 * A host application's page on 127.0.0.1 (its own origin and strict CSP) embedding
 * `<custodian-audit-log>` from Custodian, as test/console/viewer.test.ts serves it; the
 * viewer token is handed over by the host's own route, never in the markup.
 */
async function startHostPage(custodian: string, token: () => string): Promise<{ origin: string; close(): void }> {
  const page = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Globex app — audit log</title>
<script src="${custodian}/embed/audit-log.js"></script>
<script src="/host.js"></script></head>
<body><main><h1>Your organisation’s audit log</h1><custodian-audit-log url="${custodian}"></custodian-audit-log></main></body></html>`
  const script = `fetch('/viewer-token').then(r => r.text()).then(t => { document.querySelector('custodian-audit-log').token = t })`
  const server = createServer((request, response) => {
    const csp = `default-src 'none'; script-src 'self' ${custodian}; connect-src 'self' ${custodian}; style-src 'self'`
    if (request.url === '/') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': csp })
      response.end(page)
    } else if (request.url === '/host.js') {
      response.writeHead(200, { 'content-type': 'text/javascript' })
      response.end(script)
    } else if (request.url === '/viewer-token') {
      response.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' })
      response.end(token())
    } else {
      response.writeHead(404)
      response.end()
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() }
}

/**
 * Pictures 42–63. The server must run with webhooks dead-lettered after two attempts
 * (CUSTODIAN_WEBHOOK_MAX_ATTEMPTS=2) and a retention job every second or so
 * (CUSTODIAN_RETENTION_CHECK_MS), so the dead letter and the purge happen within minutes.
 */
/** A customer org made by the operator, its owner joined through the invitation (with `PASSWORD`). */
export async function customerOrg(
  world: ConsoleWorld,
  name: string,
  ownerEmail: string,
): Promise<{ orgId: string; ownerToken: string }> {
  const port = world.server.httpsPort
  const made = await httpsJson(port, 'POST', '/v1/orgs', { token: world.provider.token, body: { name, ownerEmail } })
  expectOk(made, name)
  const created = made.body as { org: { id: string }; invitation: { token: string } }
  const accepted = await httpsJson(port, 'POST', '/v1/invitations/accept', {
    body: { token: created.invitation.token, password: PASSWORD },
  })
  expectOk(accepted, `${name}’s owner`)
  return { orgId: created.org.id, ownerToken: accepted.body.apiToken as string }
}

export async function shootOperations(world: ConsoleWorld, browser: Browser, shot: Shot): Promise<void> {
  const port = world.server.httpsPort
  const { orgId, ownerToken } = await customerOrg(world, 'Globex', 'owner@globex.test')
  const api = (method: string, tail: string, body?: unknown) =>
    httpsJson(port, method, `/v1/orgs/${orgId}${tail}`, { token: ownerToken, body })
  const operatorApi = (method: string, url: string, body?: unknown) =>
    httpsJson(port, method, url, { token: world.provider.token, body })
  const globex = `${world.origin}/console/orgs/${orgId}`

  // ---- First the states that take time: records a minute old for retention, dead letters ----
  for (let i = 0; i < 3; i++)
    expectOk(
      await api('POST', '/records', {
        subjectId: `cust_${i}`,
        dataClass: 'usage',
        payload: { plan: 'pro', seats: i + 1 },
      }),
      'a usage record',
    )
  expectOk(await api('PUT', '/retention/usage', { retainSeconds: 60 }), 'usage kept a minute')
  // Nothing listens on port 9: each delivery fails, and after its second attempt is dead-lettered.
  expectOk(
    await api('POST', '/webhooks', { name: 'ops-relay', url: 'https://127.0.0.1:9/globex', events: ['notifications'] }),
    'a webhook',
  )
  const secretIds: Record<string, string> = {}
  for (const name of ['billing-api', 'ci/deploy-key', 'warehouse/readonly']) {
    const secret = await api('POST', '/secrets', { name, type: 'generic', value: 'example-value' })
    expectOk(secret, name)
    secretIds[name] = secret.body.id as string
  }
  for (const name of ['ci/deploy-key', 'warehouse/readonly'])
    expectOk(
      await api('POST', `/secrets/${secretIds[name]}/report-exposed`, { reason: 'pasted into a public issue' }),
      `${name} reported exposed`,
    )

  // ---- Incident response, made through the API ----
  const planType = await api('POST', '/response-plan/types', {
    name: 'Account takeover',
    defaultSeverity: 'high',
    playbook: ['Revoke the account’s sessions', 'Rotate the secrets it could read', 'Tell the account’s owner'],
  })
  expectOk(planType, 'an incident type')
  const typeId = (planType.body.types as { id: string; name: string }[]).find((t) => t.name === 'Account takeover')?.id
  expectOk(
    await api('POST', '/response-plan/reviews', {
      notes: 'Walked through with the on-call team; the regulator’s 72-hour deadline checked.',
    }),
    'a plan review',
  )
  // A custom role is a privilege change: the privilege_change rule raises an alert.
  expectOk(await api('POST', '/roles', { name: 'incident-helper', permissions: ['incidents:read'] }), 'a custom role')
  const alert = await until(
    'the privilege_change alert',
    async () =>
      ((await api('GET', '/alerts?status=open')).body.alerts as { id: string; rule: string }[]).find(
        (a) => a.rule === 'privilege_change',
      ),
    60_000,
  )
  expectOk(await api('POST', `/alerts/${alert.id}/acknowledge`), 'the alert acknowledged')
  expectOk(
    await api('POST', `/alerts/${alert.id}/incident`, { title: 'Unexpected role created', typeId }),
    'an incident from the alert',
  )
  const breach = await api('POST', '/incidents', { title: 'Customer data exposed', severity: 'critical', typeId })
  expectOk(breach, 'an incident')
  const incidentId = breach.body.id as string
  expectOk(await api('POST', `/incidents/${incidentId}/steps/0/complete`), 'step 1 done')
  expectOk(
    await api('POST', `/incidents/${incidentId}/notes`, { text: 'A backup bucket was public for two hours.' }),
    'a note',
  )
  expectOk(
    await api('POST', `/incidents/${incidentId}/breach`, {
      summary: 'A backup of the customer table was readable from the internet for two hours.',
    }),
    'the breach confirmed',
  )

  // ---- The host application's own events, a service account ----
  for (const [id, action, target] of [
    ['globex-1', 'invoice.sent', 'inv-77'],
    ['globex-2', 'document.share', 'doc-12'],
  ] as const)
    expectOk(
      await api('POST', '/audit/events', {
        id,
        action,
        actor: { id: 'user-9', type: 'user', name: 'Ada' },
        targets: [{ type: action.split('.')[0], id: target }],
        occurredAt: new Date().toISOString(),
      }),
      `application event ${action}`,
    )
  expectOk(await api('POST', '/service-accounts', { name: 'billing-sync', role: 'member' }), 'a service account')

  // ---- Diagnostic access: one grant approved and used, another waiting ----
  const granted = await operatorApi('POST', '/v1/operator/grants', {
    orgId,
    reason: 'ticket 4711: billing sync fails for Globex, checking the key',
    permissions: ['secrets:read', 'vault:reveal'],
    secretIds: [secretIds['billing-api']],
    durationDays: 7,
  })
  expectOk(granted, 'a grant requested')
  const grantId = granted.body.id as string
  expectOk(await api('POST', `/grants/${grantId}/approve`, { note: 'approved for ticket 4711' }), 'approved')
  expectOk(
    await operatorApi('POST', '/v1/operator/grants', {
      orgId,
      reason: 'ticket 4712: the audit export looks truncated',
      permissions: ['audit:read'],
      durationDays: 3,
    }),
    'a second grant requested',
  )

  const operator = await signedIn(browser, world, world.provider.email, totpCode(world.provider.totpSecret, 1))
  const owner = await signedIn(browser, world, 'owner@globex.test')

  await operator.goto(`${world.origin}/console/operator/grants`)
  await operator.getByRole('heading', { level: 1, name: 'Diagnostic access' }).waitFor()
  await operator
    .getByRole('table', { name: 'Your grants' })
    .getByRole('button', { name: 'Act under it: the grant to Globex' })
    .click()
  await operator.getByRole('heading', { level: 1, name: 'billing-api' }).waitFor()
  const banner = operator.getByRole('region', { name: 'Acting under a grant' })
  await banner.getByText(/^Acting in Globex under a diagnostic access grant, until /).waitFor()
  // The named secret revealed under the grant (masked): Globex's timeline shows that use.
  const reveal = operator.getByRole('region', { name: 'Reveal the value' })
  await reveal.getByLabel(/^Reason/).fill('ticket 4711: compare with the billing provider')
  await reveal.getByRole('button', { name: 'Reveal', exact: true }).click()
  await operator.getByRole('group', { name: 'Revealed value' }).waitFor()
  await shot(operator, '45-acting-under-grant')
  await operator.getByRole('button', { name: 'Hide now' }).click()
  // The grant is kept in sessionStorage: the banner stays on every page, the operator's own too.
  await operator.goto(`${world.origin}/console/operator/grants`)
  await operator
    .getByRole('table', { name: 'Your grants' })
    .getByRole('row', { name: /pending/ })
    .waitFor()
  await shot(operator, '44-operator-diagnostic-access')
  await banner.getByRole('button', { name: 'Leave the grant' }).click()
  await banner.waitFor({ state: 'detached' })

  await owner.goto(`${globex}/grants`)
  await owner.getByRole('heading', { level: 1, name: 'Diagnostic access' }).waitFor()
  await owner
    .getByRole('table', { name: 'Pending requests' })
    .getByRole('row', { name: /ticket 4712/ })
    .waitFor()
  await owner.getByRole('region', { name: 'Grant policy' }).getByLabel('Longest grant (days)').waitFor()
  await shot(owner, '42-diagnostic-access')
  await owner.goto(`${globex}/grants/${grantId}`)
  await owner.getByRole('heading', { level: 1, name: `Diagnostic access for ${world.provider.email}` }).waitFor()
  await owner
    .getByRole('table', { name: 'Timeline' })
    .getByRole('cell', { name: 'Secret revealed', exact: true })
    .first()
    .waitFor()
  await shot(owner, '43-diagnostic-access-grant')

  // ---- Alerts, incidents, the plan ----
  await owner.goto(`${globex}/alerts`)
  await owner
    .getByRole('table', { name: 'Alerts' })
    .getByRole('row')
    .filter({ hasText: 'Privilege change' })
    .first()
    .waitFor()
  await owner.getByRole('table', { name: 'Alert rules' }).waitFor()
  await shot(owner, '46-alerts')
  await owner.goto(`${globex}/incidents`)
  await owner
    .getByRole('table', { name: 'Incidents' })
    .getByRole('row')
    .filter({ hasText: 'Customer data exposed' })
    .waitFor()
  await shot(owner, '47-incidents')
  await owner.goto(`${globex}/incidents/${incidentId}`)
  await owner.getByRole('heading', { level: 1, name: 'Customer data exposed' }).waitFor()
  await owner
    .getByRole('table', { name: 'Breach notification clocks' })
    .getByRole('timer', { name: 'Time left to notify customers' })
    .waitFor()
  await shot(owner, '48-incident-breach-clocks')
  await owner.goto(`${globex}/response-plan`)
  await owner.getByRole('heading', { level: 1, name: 'Response plan' }).waitFor()
  await owner
    .getByRole('table', { name: 'Review history' })
    .getByRole('row')
    .filter({ hasText: 'on-call team' })
    .waitFor()
  await shot(owner, '49-response-plan')

  // ---- Vulnerability reports: the public form without JavaScript, the inbox, the status page ----
  const researcher = await (await browser.newContext({ javaScriptEnabled: false, ignoreHTTPSErrors: true })).newPage()
  await researcher.setViewportSize({ width: 1200, height: 800 })
  await researcher.goto(`${world.origin}/report`)
  await researcher.getByRole('heading', { level: 1, name: 'Report a vulnerability' }).waitFor()
  await researcher.getByLabel(/^Title/).fill('Stored script in org names')
  await researcher.getByLabel(/^Where/).fill('https://app.example/orgs')
  await researcher.getByLabel(/^Impact/).fill('Script runs in every operator’s browser.')
  await researcher.getByLabel(/^Steps to reproduce/).fill('1. Create an org named <script>…\n2. Open the overview.')
  await researcher.getByLabel(/^Severity/).selectOption('high')
  await researcher.getByLabel(/^Your e-mail address/).fill('researcher@example.org')
  await shot(researcher, '50-report-form')
  await researcher.getByRole('button', { name: 'Send the report' }).click()
  await researcher.getByRole('heading', { level: 1, name: 'Report received' }).waitFor()
  const [reference = '', statusToken = ''] = await researcher.locator('dl.facts code').allInnerTexts()

  await operator.goto(`${world.origin}/console/operator/vulnerability-reports`)
  const inbox = operator.getByRole('table', { name: 'Vulnerability reports' })
  await inbox.getByRole('row').filter({ hasText: reference }).waitFor()
  await shot(operator, '51-operator-vulnerability-reports')
  await inbox.getByRole('link', { name: reference }).click()
  await operator.getByRole('heading', { level: 1, name: 'Stored script in org names' }).waitFor()
  const ack = operator.getByRole('region', { name: 'Acknowledge' })
  await ack.getByLabel(/^Message to the reporter/).fill('Thank you: we are looking into it.')
  await ack.getByRole('button', { name: 'Acknowledge' }).click()
  await operator.getByRole('status').filter({ hasText: 'The report is acknowledged' }).waitFor()
  const reply = operator.getByRole('region', { name: 'Reply or change status' })
  await reply.getByLabel('New status').selectOption('triaged')
  await reply.getByLabel('Message').fill('Confirmed. A fix is planned for the next release.')
  await reply.getByRole('button', { name: 'Send the update' }).click()
  await operator.getByRole('status').filter({ hasText: 'The update is sent to the reporter.' }).waitFor()
  await shot(operator, '52-operator-vulnerability-report')
  await researcher.goto(`${world.origin}/report/status`)
  await researcher.getByLabel('Status token').fill(statusToken)
  await researcher.getByRole('button', { name: 'Show the status' }).click()
  await researcher.getByRole('heading', { level: 1, name: `Report ${reference}` }).waitFor()
  await researcher
    .getByRole('region', { name: 'Updates' })
    .getByText('Confirmed. A fix is planned for the next release.')
    .waitFor()
  await shot(researcher, '53-report-status')
  await researcher.context().close()

  // ---- An invitation accepted on the console's public page ----
  const invitation = await api('POST', '/invitations', { email: 'dev@globex.test', role: 'member' })
  expectOk(invitation, 'an invitation')
  const invitee = await (await newConsoleContext(browser)).newPage()
  await invitee.goto(`${world.origin}/console/invitations/accept`)
  await invitee.getByRole('heading', { level: 1, name: 'Accept an invitation' }).waitFor()
  await invitee.getByLabel(/^Invitation token/).fill(invitation.body.token as string)
  await invitee.getByLabel(/^Password/).fill(PASSWORD)
  await invitee.getByLabel(/^Repeat the password/).fill(PASSWORD)
  await shot(invitee, '54-invitation-accept')
  await invitee.context().close()

  // ---- The host application's events: the audit log's Origin, and the embedded viewer ----
  await owner.goto(`${globex}/audit`)
  await owner.getByLabel('Origin').selectOption('application')
  await owner.getByRole('button', { name: 'Apply filters' }).click()
  const events = owner.getByRole('table', { name: 'Audit events' })
  await events.getByRole('row').filter({ hasText: 'Secret created' }).waitFor({ state: 'detached' })
  await owner.getByRole('button', { name: /^Details of Invoice sent/ }).click()
  await owner.getByRole('region', { name: /Invoice sent/ }).waitFor()
  await shot(owner, '55-audit-application-event')

  let viewerToken = ''
  const host = await startHostPage(world.origin, () => viewerToken)
  try {
    const minted = await api('POST', '/audit/viewer-tokens', {
      origin: host.origin,
      actions: ['invoice.*', 'document.*', 'grant.*'],
      ttlSeconds: 900,
    })
    expectOk(minted, 'a viewer token')
    viewerToken = minted.body.token as string
    const embedded = await (await newConsoleContext(browser)).newPage()
    await embedded.goto(`${host.origin}/`)
    await embedded.getByRole('heading', { name: 'Audit log — Globex' }).waitFor()
    const table = embedded.getByRole('table', { name: 'Events, newest first' })
    await table.getByRole('cell', { name: 'invoice.sent', exact: true }).waitFor()
    // The events are checkpointed within the sequencer's next passes: verify until all are.
    for (let i = 0; i < 20; i++) {
      await embedded.getByRole('button', { name: 'Verify shown events' }).click()
      const summary = embedded.getByRole('status').filter({ hasText: 'Verification:' })
      await summary.waitFor()
      if (/ 0 failed, 0 not yet checkpointed/.test((await summary.textContent()) ?? '')) break
      await embedded.waitForTimeout(1000)
    }
    await shot(embedded, '56-embedded-viewer')
    await embedded.context().close()
  } finally {
    host.close()
  }

  // ---- Service accounts; webhook dead letters and Retry; retention's proof ----
  await owner.goto(`${globex}/service-accounts`)
  await owner
    .getByRole('table', { name: 'Service accounts' })
    .getByRole('row')
    .filter({ hasText: 'billing-sync' })
    .waitFor()
  await shot(owner, '59-service-accounts')

  await until(
    'two dead letters',
    async () => {
      const dead = (await api('GET', '/webhook-deliveries?status=failed')).body.deliveries as unknown[]
      return dead.length >= 2 ? true : undefined
    },
    300_000,
  )
  await owner.goto(`${globex}/notifications?tab=webhooks`)
  const deliveries = owner.getByRole('table', { name: 'Webhook deliveries' })
  await deliveries.waitFor()
  await owner
    .getByRole('button', { name: /^Retry the delivery to ops-relay / })
    .first()
    .click()
  await owner
    .getByRole('status')
    .filter({ hasText: /The delivery to ops-relay is sent again: now pending/ })
    .waitFor()
  await shot(owner, '57-webhook-dead-letter')

  await until(
    'a purge',
    async () => {
      const runs = (await api('GET', '/retention/runs')).body.runs as { purged: number }[]
      return runs.some((r) => r.purged > 0) ? true : undefined
    },
    300_000,
  )
  await owner.goto(`${globex}/retention`)
  await owner
    .getByRole('region', { name: 'Last purge' })
    .getByRole('table', { name: 'Last purge', exact: true })
    .waitFor()
  await shot(owner, '58-retention-purge')

  // ---- The single sign-on hand-over page opened without a hand-over ----
  const stray = await (await newConsoleContext(browser)).newPage()
  await stray.goto(`${world.origin}/console/sso-complete`)
  await stray.getByRole('link', { name: 'Go to the sign-in page' }).waitFor()
  await shot(stray, '63-sso-complete-missing')
  await stray.context().close()

  // ---- Offboarding, last: Globex scheduled for deletion, then the operators' view ----
  await owner.goto(`${globex}/offboarding`)
  await owner.getByLabel('Type the org’s name to confirm').fill('Globex')
  await owner.getByRole('button', { name: 'Start offboarding' }).click()
  await owner.getByRole('timer', { name: 'Time left before the org is deleted' }).waitFor()
  await shot(owner, '60-offboarding-scheduled')
  await operator.goto(`${world.origin}/console/operator/offboardings`)
  const offboardings = operator.getByRole('table', { name: 'Offboardings' })
  const row = offboardings.getByRole('row').filter({ hasText: 'Globex' })
  await row.getByRole('timer', { name: 'Time left before Globex is deleted' }).waitFor()
  await shot(operator, '61-operator-offboardings')
  await row.getByRole('link', { name: 'Globex' }).click()
  await operator.getByRole('heading', { level: 1, name: 'Offboarding of Globex' }).waitFor()
  await shot(operator, '62-operator-offboarding')
  await operator.context().close()
  await owner.context().close()
}
