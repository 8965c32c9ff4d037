import assert from 'node:assert/strict'
import { createHmac, randomUUID } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, it } from 'node:test'
import { forEachEngine } from '../helpers/db.ts'
import {
  auditActions,
  bootstrapProvider,
  createCustomerOrg,
  principalWithRole,
  testClock,
  useTestApp,
  type Org,
} from '../helpers/app.ts'
import { startHttpsReceiver, type Received } from '../helpers/https-receiver.ts'

const HOUR = 3_600_000
const dir = mkdtempSync(path.join(tmpdir(), 'custodian-retry-'))
const caFile = path.join(dir, 'hook-ca.pem')
/** Paths the receiver answers 503 on, until a test brings them back. */
const down = new Set<string>()
let receiver: Awaited<ReturnType<typeof startHttpsReceiver>>
const env: Record<string, string> = { CUSTODIAN_WEBHOOK_MAX_ATTEMPTS: '2', CUSTODIAN_WEBHOOK_RETRY_BASE_MS: '1000' }

before(async () => {
  receiver = await startHttpsReceiver(caFile, (received) => (down.has(received.path) ? 503 : 200))
  env.CUSTODIAN_EXTRA_CA_FILE = caFile
})
after(async () => {
  await receiver?.close()
})

interface Delivery {
  id: string
  webhook: string
  event: string
  status: string
  attempts: number
  retries: number
  lastStatus: number | null
  lastError: string | null
  deliveredAt: string | null
  deadLetteredAt: string | null
  retryableUntil: string | null
  nextAttemptAt: string | null
}

/**
 * Dead letters sent again by hand (issue 13): `POST …/webhook-deliveries/{id}/retry` queues
 * a dead-lettered delivery once more with a fresh budget of attempts, audited; the list
 * filters dead letters with `status=failed`. Against a real HTTPS receiver on 127.0.0.1.
 */
forEachEngine('webhook dead letters and retry (P7.5, issue 13)', (engine) => {
  const time = testClock()
  const t = useTestApp(engine, env, undefined, undefined, { clock: time.clock })
  let provider: Org
  let acme: Org
  let other: Org
  let viewer: string
  const as = (method: string, tail: string, token = acme.ownerToken, body?: unknown) =>
    t().request({ method, url: `/v1/orgs/${acme.orgId}${tail}`, token, body })
  const deliveries = async (query = '') =>
    (await as('GET', `/webhook-deliveries${query}`)).body.deliveries as Delivery[]
  const delivery = async (id: string) => (await deliveries('?limit=500')).find((d) => d.id === id) as Delivery

  /** Registers a webhook for `events` at the receiver's `path`. */
  async function webhook(org: Org, name: string, hookPath: string, events: string[] = ['notifications']) {
    const made = await t().request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/webhooks`,
      token: org.ownerToken,
      body: { name, url: `${receiver.url}${hookPath}`, events },
    })
    assert.equal(made.status, 201, made.text)
    return made.body as { id: string; secret: string }
  }

  /** A real notification of `org` (a grant request), handed to its webhooks: the new delivery to `name`. */
  async function notify(org: Org, name: string): Promise<Delivery> {
    const before = new Set((await deliveriesOf(org)).map((d) => d.id))
    const asked = await t().request({
      method: 'POST',
      url: '/v1/operator/grants',
      token: provider.ownerToken,
      body: { orgId: org.orgId, reason: 'looking into a failed import', permissions: ['org:read'] },
    })
    assert.equal(asked.status, 201, asked.text)
    await t().app.services.delivery.fanOut()
    const made = (await deliveriesOf(org)).find((d) => !before.has(d.id) && d.webhook === name)
    assert.ok(made !== undefined, `a delivery to ${name}`)
    return made
  }
  const deliveriesOf = async (org: Org) =>
    (
      await t().request({
        method: 'GET',
        url: `/v1/orgs/${org.orgId}/webhook-deliveries?limit=500`,
        token: org.ownerToken,
      })
    ).body.deliveries as Delivery[]

  /** Runs the webhook worker through every attempt a delivery has (the backoff skipped with the clock). */
  async function settleAll(): Promise<void> {
    for (let i = 0; i < 3; i++) {
      await t().app.services.webhooks.deliverDue()
      time.advance(HOUR)
    }
  }

  const held = async (id: string) =>
    (
      await t()
        .db.kysely.selectFrom('webhook_deliveries')
        .select(['sealed', 'wrapped_key', 'kek_version'])
        .where('id', '=', id)
        .executeTakeFirstOrThrow()
    ).sealed !== null

  before(async () => {
    provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', `owner@${engine}.retry.test`)
    other = await createCustomerOrg(t(), provider, 'Other', `owner@${engine}.other.test`)
    viewer = (await principalWithRole(t(), acme, 'viewer')).token
  })

  it('dead-letters after the last attempt, keeps the payload for a retry, and lists dead letters with status=failed', async () => {
    const hookPath = `/crm-${engine}`
    down.add(hookPath)
    await webhook(acme, 'crm', hookPath)
    const made = await notify(acme, 'crm')
    assert.ok(made !== undefined)
    await settleAll()
    const dead = await delivery(made.id)
    assert.equal(dead.status, 'failed')
    assert.equal(dead.attempts, 2)
    assert.equal(dead.lastStatus, 503)
    assert.equal(dead.lastError, 'HTTP 503')
    assert.ok(dead.deadLetteredAt !== null)
    assert.equal(
      new Date(dead.retryableUntil ?? 0).getTime() - new Date(dead.deadLetteredAt).getTime(),
      168 * HOUR,
      'held for CUSTODIAN_WEBHOOK_DEAD_LETTER_HOURS (168 by default)',
    )
    assert.ok(await held(dead.id), 'the sealed payload is kept')

    // A second, delivered: the filter lists the dead letters only, newest first, paged.
    down.delete(hookPath)
    const ok = await notify(acme, 'crm')
    await settleAll()
    assert.equal((await delivery(ok.id)).status, 'delivered')
    assert.equal(await held(ok.id), false, 'a delivered payload is erased at once')
    const failed = await deliveries('?status=failed')
    assert.deepEqual(
      failed.map((d) => d.id),
      [dead.id],
    )
    assert.ok((await deliveries('?status=delivered')).every((d) => d.status === 'delivered'))
    const bad = await as('GET', '/webhook-deliveries?status=dead')
    assert.equal(bad.status, 400)
    assert.equal(bad.body.code, 'VALIDATION_FAILED')
  })

  it('sends a dead letter again with a fresh budget of attempts, audited: the receiver gets the same signed delivery', async () => {
    const hookPath = `/pager-${engine}`
    down.add(hookPath)
    const hook = await webhook(acme, 'pager', hookPath)
    const made = await notify(acme, 'pager')
    await settleAll()
    const dead = await delivery(made.id)
    assert.equal(dead.status, 'failed')
    const firstBody = receiver.received.filter((r) => r.path === hookPath)[0]?.body

    down.delete(hookPath)
    const retried = await as('POST', `/webhook-deliveries/${dead.id}/retry`)
    assert.equal(retried.status, 200, retried.text)
    assert.equal(retried.body.status, 'pending')
    assert.equal(retried.body.attempts, 0, 'a fresh budget')
    assert.equal(retried.body.retries, 1)
    assert.equal(retried.body.deadLetteredAt, null)
    assert.equal(retried.body.retryableUntil, null)
    assert.equal(retried.body.lastError, 'HTTP 503', 'the last answer stays until the next attempt')
    const audited = (await auditActions(t(), acme.orgId)).filter((e) => e.action === 'webhook.delivery.retry')
    assert.equal(audited.length, 1)
    assert.equal(audited[0]?.outcome, 'success')
    assert.deepEqual(
      { ...audited[0]?.details, deadLetteredAt: undefined },
      {
        webhook: 'pager',
        destination: new URL(receiver.url).host,
        event: 'notifications',
        retries: 1,
        attemptsBefore: 2,
        lastError: 'HTTP 503',
        deadLetteredAt: undefined,
      },
    )

    await t().app.services.webhooks.deliverDue()
    const sent = await delivery(dead.id)
    assert.equal(sent.status, 'delivered')
    assert.equal(sent.attempts, 1)
    assert.equal(sent.retries, 1)
    assert.equal(await held(dead.id), false, 'delivered: the payload is erased')
    const got = receiver.received.filter((r: Received) => r.path === hookPath)
    assert.equal(got.length, 3, 'two failed attempts, then the retry')
    const last = got.at(-1) as Received
    assert.equal(last.body, firstBody, 'the same payload')
    assert.equal(last.headers['x-custodian-delivery'], dead.id, 'the same delivery id (the receiver’s idempotency key)')
    const [, ts, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(last.headers['x-custodian-signature'])) ?? []
    assert.equal(createHmac('sha256', hook.secret).update(`${ts}.${last.body}`).digest('hex'), v1)
    const attempts = (await auditActions(t(), acme.orgId)).filter(
      (e) => e.action === 'webhook.delivery' && e.details.webhook === 'pager',
    )
    assert.deepEqual(
      attempts.map((e) => [e.outcome, e.details.attempt, e.details.retries ?? 0]),
      [
        ['failure', 1, 0],
        ['failure', 2, 0],
        ['success', 1, 1],
      ],
    )

    // Delivered now: refused, and so is a pending one.
    const again = await as('POST', `/webhook-deliveries/${dead.id}/retry`)
    assert.equal(again.status, 409)
    assert.equal(again.body.code, 'CONFLICT')
    down.add(hookPath)
    const pending = await notify(acme, 'pager')
    const notYet = await as('POST', `/webhook-deliveries/${pending.id}/retry`)
    assert.equal(notYet.status, 409, 'pending: not a dead letter')
    await settleAll()
    down.delete(hookPath)
  })

  it('queues a dead letter once when retried concurrently: one 200, the others 409, one audit event', async () => {
    const hookPath = `/burst-${engine}`
    down.add(hookPath)
    await webhook(acme, 'burst', hookPath)
    const made = await notify(acme, 'burst')
    await settleAll()
    const id = made.id
    assert.equal((await delivery(id)).status, 'failed')
    const before = (await auditActions(t(), acme.orgId)).filter((e) => e.action === 'webhook.delivery.retry').length
    const answers = await Promise.all(Array.from({ length: 6 }, () => as('POST', `/webhook-deliveries/${id}/retry`)))
    assert.deepEqual(
      answers.map((a) => a.status).sort(),
      [200, 409, 409, 409, 409, 409],
      answers.map((a) => a.text).join('\n'),
    )
    const after = (await auditActions(t(), acme.orgId)).filter((e) => e.action === 'webhook.delivery.retry').length
    assert.equal(after - before, 1)
    const now = await delivery(id)
    assert.equal(now.retries, 1)
    assert.equal(now.status, 'pending')
    down.delete(hookPath)
    await t().app.services.webhooks.deliverDue()
    assert.equal(receiver.received.filter((r) => r.path === hookPath).length, 3, 'two failures and one retry')
  })

  it('erases a dead letter’s payload once its time is up (410 WEBHOOK_PAYLOAD_ERASED after), and at once for an erasure notice or a removed webhook', async () => {
    const hookPath = `/late-${engine}`
    down.add(hookPath)
    const late = await webhook(acme, 'late', hookPath)
    const made = await notify(acme, 'late')
    await settleAll()
    const id = made.id
    assert.ok(await held(id))
    time.advance(168 * HOUR)
    assert.equal((await delivery(id)).retryableUntil, null, 'no longer offered once due')
    const expired = await as('POST', `/webhook-deliveries/${id}/retry`)
    assert.equal(expired.status, 410, expired.text)
    assert.equal(expired.body.code, 'WEBHOOK_PAYLOAD_ERASED')
    await t().app.services.webhooks.deliverDue()
    assert.equal(await held(id), false, 'the worker erased it with its key')

    // A removed webhook's dead letters: erased with it.
    const another = await notify(acme, 'late')
    await settleAll()
    const kept = another.id
    assert.ok(await held(kept))
    assert.equal((await as('DELETE', `/webhooks/${late.id}`)).status, 204)
    assert.equal(await held(kept), false)
    const gone = await as('POST', `/webhook-deliveries/${kept}/retry`)
    assert.equal(gone.status, 410)
    assert.equal(gone.body.code, 'WEBHOOK_PAYLOAD_ERASED')
    assert.match(gone.body.detail, /webhook was removed/)

    // An erasure notice names the erased subject: never held.
    const erasePath = `/erase-${engine}`
    down.add(erasePath)
    await webhook(acme, 'eraser', erasePath, ['erasure.requested'])
    await as('POST', '/records', acme.ownerToken, { subjectId: 'subject-r', dataClass: 'contact', payload: { a: 1 } })
    const request = await as('POST', '/privacy-requests', acme.ownerToken, {
      kind: 'erase',
      subjectId: 'subject-r',
      verification: { method: 'signed-in-account' },
    })
    assert.equal(request.status, 201, request.text)
    assert.equal((await as('POST', `/privacy-requests/${request.body.id}/complete`, acme.ownerToken, {})).status, 200)
    await settleAll()
    const [notice] = await deliveries(`?requestId=${request.body.id}`)
    assert.equal(notice?.status, 'failed')
    assert.equal(notice?.retryableUntil, null)
    assert.equal(await held(notice?.id ?? ''), false)
    const refused = await as('POST', `/webhook-deliveries/${notice?.id}/retry`)
    assert.equal(refused.status, 410)
    assert.match(refused.body.detail, /erased subject/)
    down.delete(erasePath)
  })

  it('refuses without credentials (401), without webhooks:manage (403), another org’s delivery (404) and bad input (400), changing nothing', async () => {
    const hookPath = `/guard-${engine}`
    down.add(hookPath)
    await webhook(other, 'guard', hookPath)
    await webhook(acme, 'guard', hookPath)
    const theirs = await notify(other, 'guard')
    const ours = await notify(acme, 'guard')
    await settleAll()
    const url = (org: Org, id: string) => `/v1/orgs/${org.orgId}/webhook-deliveries/${id}/retry`
    const post = (u: string, token = acme.ownerToken, body?: unknown) =>
      t().request({ method: 'POST', url: u, token, body })
    const retries = async () =>
      (await t().db.kysely.selectFrom('webhook_deliveries').select(['id', 'retries', 'status']).execute())
        .map((r) => `${r.id}:${r.retries}:${r.status}`)
        .sort()
        .join()
    const start = await retries()

    const anonymous = await t().request({ method: 'POST', url: url(acme, ours.id) })
    assert.equal(anonymous.status, 401)
    const forbidden = await post(url(acme, ours.id), viewer)
    assert.equal(forbidden.status, 403)
    assert.equal(forbidden.body.permission, 'webhooks:manage')
    const foreign = await post(url(acme, theirs.id))
    assert.equal(foreign.status, 404, 'another org’s delivery through this org')
    assert.equal(foreign.body.code, 'NOT_FOUND')
    assert.equal((await post(url(acme, ours.id), other.ownerToken)).status, 404, 'another org’s owner')
    assert.equal((await post(url(acme, randomUUID()))).status, 404)
    const badId = await post(url(acme, 'not-a-uuid'))
    assert.equal(badId.status, 400)
    assert.equal(badId.body.code, 'VALIDATION_FAILED')
    const withBody = await post(url(acme, ours.id), acme.ownerToken, { force: true })
    assert.equal(withBody.status, 400, 'the route takes no body')
    assert.equal(await retries(), start, 'nothing changed')

    // The owner of each org may.
    assert.equal((await post(url(acme, ours.id))).status, 200)
    assert.equal((await post(url(other, theirs.id), other.ownerToken)).status, 200)
    down.delete(hookPath)
  })

  it('answers one delivery as the list does, followed from pending to delivered; 401, 403 without webhooks:read, 404 for another org’s, 400 for a bad id', async () => {
    const hookPath = `/follow-${engine}`
    down.add(hookPath)
    await webhook(other, 'follow', hookPath)
    await webhook(acme, 'follow', hookPath)
    const theirs = await notify(other, 'follow')
    const ours = await notify(acme, 'follow')
    await settleAll()
    const one = (id: string, token = acme.ownerToken, org = acme) =>
      t().request({ method: 'GET', url: `/v1/orgs/${org.orgId}/webhook-deliveries/${id}`, token })

    // The same fields as the list, for a dead letter.
    const dead = await one(ours.id)
    assert.equal(dead.status, 200, dead.text)
    assert.deepEqual(dead.body, await delivery(ours.id))
    assert.equal(dead.body.status, 'failed')

    // Retried: pending, then delivered once the worker has sent it.
    down.delete(hookPath)
    assert.equal((await as('POST', `/webhook-deliveries/${ours.id}/retry`)).status, 200)
    assert.equal((await one(ours.id)).body.status, 'pending')
    await t().app.services.webhooks.deliverDue()
    const settled = await one(ours.id)
    assert.equal(settled.body.status, 'delivered')
    assert.equal(settled.body.lastStatus, 200)
    assert.equal(settled.body.retries, 1)
    assert.deepEqual(settled.body, await delivery(ours.id))

    const anonymous = await t().request({
      method: 'GET',
      url: `/v1/orgs/${acme.orgId}/webhook-deliveries/${ours.id}`,
    })
    assert.equal(anonymous.status, 401)
    assert.match(String(anonymous.headers['content-type']), /^application\/problem\+json/)
    const forbidden = await one(ours.id, viewer)
    assert.equal(forbidden.status, 403)
    assert.equal(forbidden.body.permission, 'webhooks:read')
    const foreign = await one(theirs.id)
    assert.equal(foreign.status, 404, 'another org’s delivery through this org')
    assert.equal(foreign.body.code, 'NOT_FOUND')
    assert.ok(!foreign.text.includes('follow'), 'nothing of it answered')
    assert.equal((await one(ours.id, other.ownerToken)).status, 404, 'another org’s owner')
    assert.equal((await one(randomUUID())).status, 404)
    const badId = await one('not-a-uuid')
    assert.equal(badId.status, 400)
    assert.equal(badId.body.code, 'VALIDATION_FAILED')
    assert.equal(badId.body.errors[0].path, '/params/deliveryId')
    // The other org's owner reads its own.
    assert.equal((await one(theirs.id, other.ownerToken, other)).body.status, 'failed')
  })
})
