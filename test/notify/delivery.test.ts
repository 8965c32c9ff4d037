import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { enqueue } from '../../src/modules/notify/notify.service.ts'
import { withOrg } from '../../src/db/tenant.ts'
import { forEachEngine } from '../helpers/db.ts'
import {
  auditActions,
  bootstrapProvider,
  createCustomerOrg,
  fingerprint,
  principalWithRole,
  testClock,
  useTestApp,
  type Org,
  type TestApp,
} from '../helpers/app.ts'
import { startHttpsReceiver, type Received } from '../helpers/https-receiver.ts'
import { startSmtpServer } from '../helpers/smtp-server.ts'

const dir = mkdtempSync(path.join(tmpdir(), 'custodian-mail-'))
const smtpCa = path.join(dir, 'smtp-ca.pem')
const plainCa = path.join(dir, 'plain-ca.pem')
const hookCa = path.join(dir, 'hook-ca.pem')
let smtp: Awaited<ReturnType<typeof startSmtpServer>>
let plain: Awaited<ReturnType<typeof startSmtpServer>>
let receiver: Awaited<ReturnType<typeof startHttpsReceiver>>
// Filled once the servers listen, before any suite builds its app.
const env: Record<string, string> = {
  CUSTODIAN_SMTP_FROM: 'Custodian <custodian@provider.test>',
  CUSTODIAN_MAIL_RETRY_BASE_MS: '1000',
  CUSTODIAN_MAIL_MAX_ATTEMPTS: '3',
}
const plainEnv: Record<string, string> = { ...env }

before(async () => {
  smtp = await startSmtpServer({ caFile: smtpCa, mode: 'starttls', rejectFirst: true })
  plain = await startSmtpServer({ caFile: plainCa, mode: 'plain' })
  receiver = await startHttpsReceiver(hookCa)
  // One CA file for the service: the SMTP server's and the webhook receiver's certificates.
  const { readFileSync, writeFileSync } = await import('node:fs')
  const bundle = path.join(dir, 'bundle.pem')
  writeFileSync(
    bundle,
    `${readFileSync(smtpCa, 'utf8')}\n${readFileSync(hookCa, 'utf8')}\n${readFileSync(plainCa, 'utf8')}`,
  )
  Object.assign(env, { CUSTODIAN_SMTP_URL: `smtp://localhost:${smtp.port}`, CUSTODIAN_EXTRA_CA_FILE: bundle })
  Object.assign(plainEnv, { CUSTODIAN_SMTP_URL: `smtp://localhost:${plain.port}`, CUSTODIAN_EXTRA_CA_FILE: bundle })
})
after(async () => {
  await smtp?.stop()
  await plain?.stop()
  await receiver?.close()
})

/** A grant request notifies the customer's owner: a real notification to deliver. */
async function notifyOwner(t: TestApp, provider: Org, customer: Org): Promise<void> {
  const asked = await t.request({
    method: 'POST',
    url: '/v1/operator/grants',
    token: provider.ownerToken,
    body: { orgId: customer.orgId, reason: 'checking an import failure', permissions: ['org:read'] },
  })
  assert.equal(asked.status, 201, asked.text)
}

/** The outbox delivered by e-mail and to webhooks (P6.3, P3.5), against real servers. */
forEachEngine('notification delivery (P3.5, P6.3)', (engine) => {
  const time = testClock()
  const t = useTestApp(engine, env, undefined, undefined, { clock: time.clock })
  let provider: Org
  let acme: Org
  const ownerEmail = `owner@${engine}.acme.test`

  before(async () => {
    provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', ownerEmail)
  })

  it('mails each recipient over STARTTLS, retrying a temporary refusal, and shows each delivery', async () => {
    await notifyOwner(t(), provider, acme)
    const { delivery } = t().app.services
    await delivery.deliverMail()
    let outbox = (
      await t().request({ method: 'GET', url: `/v1/orgs/${acme.orgId}/notifications`, token: acme.ownerToken })
    ).body.notifications
    assert.equal(outbox[0].status, 'pending')
    assert.equal(outbox[0].attempts, 1)
    assert.match(outbox[0].lastError, /^451/)
    time.advance(2000)
    await delivery.deliverMail()
    outbox = (await t().request({ method: 'GET', url: `/v1/orgs/${acme.orgId}/notifications`, token: acme.ownerToken }))
      .body.notifications
    assert.equal(outbox[0].status, 'delivered')
    assert.equal(outbox[0].attempts, 2)
    const mail = (await smtp.to(ownerEmail, 1))[0]
    assert.ok(mail !== undefined, 'the mail server received it')
    assert.equal(mail.secure, true, 'over TLS (STARTTLS)')
    assert.equal(mail.from, 'custodian@provider.test')
    assert.match(mail.data, /Subject: Provider staff ask for diagnostic access to your org/)
    assert.doesNotMatch(mail.data, /https?:\/\//, 'no link in a notification (P3.5)')
    assert.doesNotMatch(mail.data, /cst_(api|ses|inv)_/)
    const mine = await t().request({ method: 'GET', url: '/v1/me/notifications', token: acme.ownerToken })
    assert.equal(mine.body.notifications.length, 1)
    const events = (await auditActions(t(), acme.orgId)).filter((e) => e.action === 'notification.email')
    assert.equal(events.at(-1)?.details.destination, `${engine}.acme.test`)
  })

  it('hands every notification to the webhooks subscribed to notifications, signed', async () => {
    await t().app.services.delivery.fanOut() // earlier notifications, before any webhook existed
    const hook = await t().request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/webhooks`,
      token: acme.ownerToken,
      body: { name: 'pager', url: `${receiver.url}/pager-${engine}`, events: ['notifications'] },
    })
    assert.equal(hook.status, 201, hook.text)
    await notifyOwner(t(), provider, acme)
    assert.equal(await t().app.services.delivery.fanOut(), 1)
    await t().app.services.webhooks.deliverDue()
    const got = receiver.received.filter((r: Received) => r.path === `/pager-${engine}`)
    const deliveries = (
      await t().request({ method: 'GET', url: `/v1/orgs/${acme.orgId}/webhook-deliveries`, token: acme.ownerToken })
    ).body.deliveries
    assert.equal(got.length, 1, `one delivery per notification, not per recipient: ${JSON.stringify(deliveries)}`)
    const body = JSON.parse(got[0]?.body as string)
    assert.equal(body.type, 'notifications')
    assert.equal(body.notification.kind, 'grant.requested')
    const [, ts, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(got[0]?.headers['x-custodian-signature'])) ?? []
    assert.equal(createHmac('sha256', hook.body.secret).update(`${ts}.${got[0]?.body}`).digest('hex'), v1)
    assert.equal(await t().app.services.delivery.fanOut(), 0, 'each batch once')
  })

  it('refuses to subscribe a caller to events it may not read itself (webhooks:manage alone): 403 EXCEEDS_OWN_PERMISSIONS, nothing changed', async () => {
    const role = await t().request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/roles`,
      token: acme.ownerToken,
      body: {
        name: 'hooks-only',
        description: 'webhooks without reading',
        permissions: ['webhooks:read', 'webhooks:manage'],
      },
    })
    assert.equal(role.status, 201, role.text)
    const { token } = await principalWithRole(t(), acme, 'hooks-only')
    const before = await fingerprint(t())
    for (const [event, permission] of [
      ['notifications', 'notifications:read'],
      ['erasure.requested', 'privacy:read'],
      ['audit.checkpoint', 'audit:read'],
    ] as const) {
      const refused = await t().request({
        method: 'POST',
        url: `/v1/orgs/${acme.orgId}/webhooks`,
        token,
        body: { name: `out-${event.replace('.', '-')}`, url: `${receiver.url}/out-${engine}`, events: [event] },
      })
      assert.equal(refused.status, 403, refused.text)
      assert.equal(refused.body.code, 'EXCEEDS_OWN_PERMISSIONS')
      assert.deepEqual(refused.body.missingPermissions, [permission])
    }
    assert.equal(await fingerprint(t()), before)
  })

  it('reads nothing of an endpoint’s answer but its status: a body without end neither holds the delivery nor fills memory', async () => {
    const hook = await t().request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/webhooks`,
      token: acme.ownerToken,
      body: { name: 'endless', url: `${receiver.url}/endless-${engine}`, events: ['notifications'] },
    })
    assert.equal(hook.status, 201, hook.text)
    await notifyOwner(t(), provider, acme)
    await t().app.services.delivery.fanOut()
    await t().app.services.webhooks.deliverDue()
    const answer = receiver.endless.find((e) => e.path === `/endless-${engine}`)
    assert.ok(answer !== undefined, 'the endpoint was called')
    // The service hung up after the status: what the endpoint could write is what the
    // sockets buffer, not what it would send (it stops at 4 GiB).
    for (let i = 0; i < 100 && !answer.closedByClient; i++) await new Promise((resolve) => setTimeout(resolve, 50))
    assert.ok(answer.closedByClient, 'the service closed the connection')
    assert.ok(answer.bytes < 16 * 1024 ** 2, `the endpoint wrote ${answer.bytes} bytes before the service hung up`)
    const deliveries = (
      await t().request({ method: 'GET', url: `/v1/orgs/${acme.orgId}/webhook-deliveries`, token: acme.ownerToken })
    ).body.deliveries as { webhook: string; status: string; lastStatus: number | null }[]
    const mine = deliveries.filter((d) => d.webhook === 'endless')
    assert.equal(
      mine.length >= 1 && mine.every((d) => d.status === 'delivered' && d.lastStatus === 200),
      true,
      JSON.stringify(mine),
    )
    const removed = await t().request({
      method: 'DELETE',
      url: `/v1/orgs/${acme.orgId}/webhooks/${hook.body.id}`,
      token: acme.ownerToken,
    })
    assert.equal(removed.status, 204, removed.text)
  })

  it('a webhook whose signing secret cannot be opened fails alone, saying why; another org’s delivery goes on', async () => {
    const globex = await createCustomerOrg(t(), provider, 'Globex', `owner@${engine}.globex.test`)
    const hook = await t().request({
      method: 'POST',
      url: `/v1/orgs/${globex.orgId}/webhooks`,
      token: globex.ownerToken,
      body: { name: 'globex-pager', url: `${receiver.url}/globex-${engine}`, events: ['notifications'] },
    })
    assert.equal(hook.status, 201, hook.text)
    const secrets = await t().request({ method: 'GET', url: `/v1/orgs/${acme.orgId}/secrets`, token: acme.ownerToken })
    const pagerSecret = (secrets.body.secrets as { id: string; name: string }[]).find((s) => s.name === 'webhook/pager')
    assert.ok(pagerSecret !== undefined)
    const paused = await t().request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/secrets/${pagerSecret.id}/pause`,
      token: acme.ownerToken,
    })
    assert.equal(paused.status, 204, paused.text)
    await notifyOwner(t(), provider, acme)
    await notifyOwner(t(), provider, globex)
    await t().app.services.delivery.fanOut()
    await t().app.services.webhooks.deliverDue()
    assert.equal(receiver.received.filter((r: Received) => r.path === `/globex-${engine}`).length, 1, 'Globex’s went')
    const acmeDeliveries = (
      await t().request({ method: 'GET', url: `/v1/orgs/${acme.orgId}/webhook-deliveries`, token: acme.ownerToken })
    ).body.deliveries as { webhook: string; status: string; lastError: string | null }[]
    const pager = acmeDeliveries.find((d) => d.webhook === 'pager' && d.status === 'pending')
    assert.equal(pager?.lastError, 'signing secret unavailable: SECRET_PAUSED', JSON.stringify(acmeDeliveries))
    const resumed = await t().request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/secrets/${pagerSecret.id}/resume`,
      token: acme.ownerToken,
    })
    assert.equal(resumed.status, 204, resumed.text)
    time.advance(60_000)
    await t().app.services.webhooks.deliverDue()
    const after = (
      await t().request({ method: 'GET', url: `/v1/orgs/${acme.orgId}/webhook-deliveries`, token: acme.ownerToken })
    ).body.deliveries as { webhook: string; status: string }[]
    assert.equal(after.filter((d) => d.webhook === 'pager' && d.status === 'pending').length, 0, 'sent once resumed')
  })

  it('refuses to queue a notification that carries a link or a credential (P3.5)', async () => {
    const run = (body: string) =>
      withOrg(t().db.kysely, acme.orgId, (trx) =>
        enqueue(trx, [acme.ownerId], { orgId: acme.orgId, kind: 'test', subject: 'Hello', body }),
      )
    await assert.rejects(run('Reset it at https://custodian.example.com/reset?token=abc'), /link/)
    await assert.rejects(run('Your token is cst_api_0123'), /credential/)
  })

  it('mails one parsed mailbox only: a stored recipient that is a list is skipped, never handed to the SMTP client (K6)', async () => {
    // An address stored before addresses were parsed (the API no longer takes one like it).
    const listed = `owner@${engine}.acme.test, mallory@evil.test`
    await t().db.kysely.updateTable('users').set({ email: listed }).where('id', '=', acme.ownerId).execute()
    try {
      await withOrg(t().db.kysely, acme.orgId, (trx) =>
        enqueue(trx, [acme.ownerId], { orgId: acme.orgId, kind: 'k6-test', subject: 'Hello', body: 'A notice.' }),
      )
      await t().app.services.delivery.deliverMail()
      const outbox = (
        await t().request({ method: 'GET', url: `/v1/orgs/${acme.orgId}/notifications`, token: acme.ownerToken })
      ).body.notifications
      const notice = outbox.find((n: { kind: string }) => n.kind === 'k6-test')
      assert.equal(notice?.status, 'skipped', JSON.stringify(notice))
      assert.match(String(notice?.lastError), /not one plain mailbox/)
      assert.equal(
        smtp.messages.filter((m) => m.to.some((to) => to.includes('evil.test'))).length,
        0,
        'nothing went to the second address',
      )
    } finally {
      await t()
        .db.kysely.updateTable('users')
        .set({ email: `owner@${engine}.acme.test` })
        .where('id', '=', acme.ownerId)
        .execute()
    }
  })

  // Last of the suite: it moves the clock a day on.
  it('rotates a webhook’s signing secret: shown once, both sign for 24 hours, then only the new one', async () => {
    const hookPath = `/rotating-${engine}`
    const hook = await t().request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/webhooks`,
      token: acme.ownerToken,
      body: { name: 'rotating', url: `${receiver.url}${hookPath}`, events: ['consent.reconsent_required'] },
    })
    assert.equal(hook.status, 201, hook.text)
    const oldSecret = hook.body.secret as string
    const rotated = await t().request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/webhooks/${hook.body.id}/secret/rotate`,
      token: acme.ownerToken,
    })
    assert.equal(rotated.status, 200, rotated.text)
    const newSecret = rotated.body.secret as string
    assert.match(newSecret, /^[A-Za-z0-9_-]{43}$/)
    assert.notEqual(newSecret, oldSecret)
    assert.equal(rotated.body.id, hook.body.id)
    const until = Date.parse(rotated.body.previousSecretUntil)
    assert.ok(Math.abs(until - (time.clock().getTime() + 24 * 3600_000)) < 60_000, rotated.body.previousSecretUntil)
    const events = (await auditActions(t(), acme.orgId)).filter((e) => e.action === 'webhook.secret.rotate')
    assert.equal(events.length, 1)
    assert.equal(events[0]?.details.version, 2)
    assert.equal(events[0]?.details.previousVersion, 1)
    const audit = JSON.stringify(await auditActions(t(), acme.orgId))
    assert.ok(!audit.includes(newSecret) && !audit.includes(oldSecret), 'no secret in the audit trail')
    const listed = await t().request({ method: 'GET', url: `/v1/orgs/${acme.orgId}/webhooks`, token: acme.ownerToken })
    assert.ok(!listed.text.includes(newSecret), 'shown once: not in the list')

    const deliverOne = async (n: number) => {
      await withOrg(t().db.kysely, acme.orgId, (trx) =>
        t().app.services.webhooks.enqueue(trx, acme.orgId, 'consent.reconsent_required', { n }),
      )
      await t().app.services.webhooks.deliverDue()
      const got = receiver.received.filter((r: Received) => r.path === hookPath)
      assert.equal(got.length, n)
      return got[n - 1] as Received
    }
    /** The receiver's rule: the delivery is genuine when any `v1=` verifies under the secret it holds. */
    const verifies = (r: Received, secret: string) => {
      const header = String(r.headers['x-custodian-signature'])
      const ts = /^t=(\d+),/.exec(header)?.[1]
      const mac = createHmac('sha256', secret).update(`${ts}.${r.body}`).digest('hex')
      return [...header.matchAll(/v1=([0-9a-f]{64})/g)].some((m) => m[1] === mac)
    }
    const during = await deliverOne(1)
    assert.match(String(during.headers['x-custodian-signature']), /^t=\d+,v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/)
    assert.ok(verifies(during, oldSecret), 'a receiver still on the old secret accepts it during the overlap')
    assert.ok(verifies(during, newSecret), 'a receiver already on the new secret accepts it')

    time.advance(24 * 3600_000 + 1000)
    const later = await deliverOne(2)
    assert.match(String(later.headers['x-custodian-signature']), /^t=\d+,v1=[0-9a-f]{64}$/)
    assert.ok(verifies(later, newSecret))
    assert.ok(!verifies(later, oldSecret), 'after the overlap the old secret no longer verifies')
  })
})

describe('notification mail refuses a server without TLS (P4.1, P6.3)', () => {
  const time = testClock()
  const t = useTestApp('pglite', plainEnv, undefined, undefined, { clock: time.clock })

  it('dead-letters the mail after the last attempt instead of sending it in clear', async () => {
    const provider = await bootstrapProvider(t())
    const acme = await createCustomerOrg(t(), provider, 'Acme', 'owner@plain.acme.test')
    await notifyOwner(t(), provider, acme)
    for (let i = 0; i < 3; i++) {
      await t().app.services.delivery.deliverMail()
      time.advance(60_000)
    }
    const outbox = (
      await t().request({ method: 'GET', url: `/v1/orgs/${acme.orgId}/notifications`, token: acme.ownerToken })
    ).body.notifications
    assert.equal(outbox[0].status, 'failed')
    assert.equal(outbox[0].attempts, 3)
    assert.equal(plain.messages.length, 0, 'nothing was sent in clear')
    assert.ok(
      (await auditActions(t(), acme.orgId)).some((e) => e.action === 'notification.email' && e.outcome === 'failure'),
    )
  })
})

describe('notification mail without a mail server', () => {
  const t = useTestApp('pglite')

  it('marks notifications skipped, still listed', async () => {
    const provider = await bootstrapProvider(t())
    const acme = await createCustomerOrg(t(), provider, 'Acme', 'owner@nomail.acme.test')
    await notifyOwner(t(), provider, acme)
    await t().app.services.delivery.deliverMail()
    const outbox = (
      await t().request({ method: 'GET', url: `/v1/orgs/${acme.orgId}/notifications`, token: acme.ownerToken })
    ).body.notifications
    assert.equal(outbox[0].status, 'skipped')
  })
})
