import { createHmac, randomBytes, randomUUID } from 'node:crypto'
import { sql, type Kysely, type Selectable } from 'kysely'
import type { Clock } from '../../clock.ts'
import { contextAad, open, seal } from '../../crypto/aead.ts'
import { BY_NAME, newestFirst, pageOf, toPage, type Page, type PageRequest, inIndexOrder } from '../../db/page.ts'
import type { DB } from '../../db/schema.ts'
import { sqlState, UNIQUE_VIOLATION, withOrg, withOwner, type Trx, orgsNotServed } from '../../db/tenant.ts'
import { AppError } from '../../errors.ts'
import { actorOf, type RequestContext } from '../../context.ts'
import { DestinationRefused, type DestinationGuard, type OutboundFetch, transportFailure } from '../../http/outbound.ts'
import { leaseFor } from '../../jobs/lease.ts'
import { assertWithinOwn } from '../access/bounds.ts'
import type { AuditService } from '../audit/audit.service.ts'
import { canonicalJson } from '../audit/audit.format.ts'
import type { VaultService } from '../vault/vault.service.ts'
import type { Keyring } from '../vault/vault.keyring.ts'
import type { WebhookDeliveriesTable, WebhookEvent } from './notify.tables.ts'
import { rotateSigningSecret, rotationDetails, signingSecretsOf, type SigningSecretRef } from './signing-secrets.ts'
import {
  eraseDeadLettersOf,
  eraseExpiredDeadLetters,
  holdsPayload,
  requeueDeadLetter,
  retryableUntil,
} from './webhooks.dead-letters.ts'

/**
 * Webhooks (P6.3, P7.2, P7.5): HTTPS endpoints of the host application (or a chat or
 * paging bridge) subscribed to events — `erasure.requested` (a subject was erased in
 * Custodian: erase them too; the confirmation, a 2xx answer, goes into the erasure
 * certificate), `notifications` (every notification of the org's outbox) and
 * `audit.checkpoint` (each signed audit checkpoint, as a C2SP signed note, to keep).
 *
 * - HTTPS only; redirects are not followed (a webhook goes where it was declared, P7.5).
 * - Each delivery is signed: `X-Custodian-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256
 *   of "<t>.<body>">` with the webhook's secret, shown once at registration and kept in
 *   the vault. It can be rotated (`rotateSecret`): for 24 hours the header then carries a
 *   `v1=` under the new secret and one under the previous (signing-secrets.ts).
 * - A payload can name a person, so it is sealed with a data key of its own (under the
 *   org key) and erased once the delivery is confirmed or given up.
 * - Retried with exponential backoff; after the last attempt the delivery is dead-lettered
 *   (`failed`) and visible in the API. Every attempt is an audit event with its destination
 *   (for `audit.checkpoint`, only a dead-lettered one: see `settle`).
 * - A dead letter keeps its sealed payload for a while and can be sent again by hand, with
 *   a fresh budget of attempts (`retry`); an erasure notice never does (webhooks.dead-letters.ts).
 * - Several processes share the queue: a delivery is claimed by an atomic update that
 *   leases it for the send timeout plus a margin (src/jobs/lease.ts), so a live process's
 *   attempt ends before another can take it; a process that dies mid-send leaves a lease
 *   that expires, and it is retried (at least once: receivers should treat the delivery
 *   id as idempotency key).
 * - A delivery to a single target that is not a subscription (`enqueueTo`: a consent
 *   recipient told of a withdrawal, P7.7) is signed after Standard Webhooks instead
 *   (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of
 *   "<id>.<timestamp>.<body>">` under the bytes of its `whsec_` secret); its target and
 *   secret are looked up at each attempt, so a target removed meanwhile is not written to.
 */
/** The permission that reads an event's content in the API, which subscribing to it also takes. */
const READ_PERMISSION_OF: Record<WebhookEvent, string> = {
  notifications: 'notifications:read',
  'erasure.requested': 'privacy:read',
  'audit.checkpoint': 'audit:read',
  'consent.reconsent_required': 'consent:read',
}

/** Events sent to one target (`enqueueTo`), never subscribed to: where each target is registered. */
export type TargetedEvent = 'consent.propagation'

/** A Standard Webhooks signing secret: `whsec_` and the base64 of 32 random bytes. */
export function newStandardWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`
}

/**
 * The `webhook-signature` header of Standard Webhooks (v1: HMAC-SHA256 over
 * `<msg id>.<timestamp>.<body>`, keyed with the base64 bytes after `whsec_`).
 */
export function standardWebhookSignature(secret: string, msgId: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64')
  return `v1,${createHmac('sha256', key).update(`${msgId}.${timestamp}.${body}`).digest('base64')}`
}

/**
 * The `x-custodian-signature` header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`,
 * one `v1=` per secret, the current one first (after a rotation, the previous one follows
 * for 24 hours, as Stripe's `Stripe-Signature` does).
 */
export function custodianSignature(secrets: readonly string[], timestamp: number, body: string): string {
  const v1 = secrets.map((secret) => `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`)
  return [`t=${timestamp}`, ...v1].join(',')
}

export interface WebhookView {
  id: string
  name: string
  url: string
  events: WebhookEvent[]
  enabled: boolean
  createdAt: string
}

export interface DeliveryView {
  id: string
  webhook: string
  destination: string
  event: string
  requestId: string | null
  status: 'pending' | 'delivered' | 'failed'
  /** Attempts of the current budget: a retry by hand starts a new one. */
  attempts: number
  /** Times it was sent again by hand after being dead-lettered. */
  retries: number
  nextAttemptAt: string | null
  /** When it was given up (status `failed`). */
  deadLetteredAt: string | null
  /** Until when the dead letter can be retried (its payload is held); null: it cannot be. */
  retryableUntil: string | null
  lastStatus: number | null
  lastError: string | null
  deliveredAt: string | null
  createdAt: string
}

/** Newest first (index `(org_id, created_at, id)`; per request, `(org_id, request_id, created_at, id)`). */
const NEWEST = newestFirst('created_at')

export interface WebhooksService {
  list(ctx: RequestContext, page: PageRequest): Promise<Page<WebhookView>>
  register(
    ctx: RequestContext,
    input: { name: string; url: string; events: WebhookEvent[] },
  ): Promise<WebhookView & { secret: string }>
  remove(ctx: RequestContext, id: string): Promise<void>
  /**
   * Replaces the webhook's signing secret (a new vault version, audited as
   * `webhook.secret.rotate` with the version number) and answers the new one, once. For 24
   * hours deliveries are signed with both. NOT_FOUND when the org has no such webhook.
   */
  rotateSecret(ctx: RequestContext, id: string): Promise<WebhookView & { secret: string; previousSecretUntil: string }>
  /** Newest first; those of one privacy request with `requestId`, of one status with `status`. */
  deliveries(
    ctx: RequestContext,
    page: PageRequest,
    filter?: { requestId?: string | undefined; status?: DeliveryView['status'] | undefined },
  ): Promise<Page<DeliveryView>>
  /**
   * One delivery of the org, as the list answers it: how a retried dead letter is followed
   * until it settles. NOT_FOUND when the org has none with that id (another org's included:
   * read under the org's row-level security).
   */
  delivery(ctx: RequestContext, id: string): Promise<DeliveryView>
  /**
   * Sends a dead letter again with a fresh budget of attempts (audited). 404: none in the
   * org; 409: not dead-lettered; 410 WEBHOOK_PAYLOAD_ERASED: its payload is gone.
   */
  retry(ctx: RequestContext, id: string): Promise<DeliveryView>
  /**
   * In the caller's transaction: one delivery of `payload` to each enabled webhook of the
   * org subscribed to `event`; returns how many. `requestId` links deliveries to a
   * privacy request (an erasure waits for them).
   */
  enqueue(
    trx: Trx,
    orgId: string,
    event: WebhookEvent,
    payload: Record<string, unknown>,
    requestId?: string,
  ): Promise<number>
  /**
   * In the caller's transaction: one delivery of `payload` to one registered target (a
   * consent recipient for `consent.propagation`), under the delivery id `id` — the message
   * id the receiver sees in `webhook-id` on every attempt, and dedupes by. `requestId`
   * links it to a privacy request, as `enqueue` does.
   */
  enqueueTo(
    trx: Trx,
    orgId: string,
    target: { id: string; name: string; url: string },
    event: TargetedEvent,
    payload: Record<string, unknown>,
    options: { id: string; requestId?: string | undefined },
  ): Promise<void>
  /** The job: sends what is due; returns how many deliveries it settled (delivered or failed). */
  deliverDue(): Promise<number>
}

const PURPOSE = 'webhook-delivery'

export function createWebhooksService(deps: {
  db: Kysely<DB>
  keyring: Keyring
  vault: () => Pick<
    VaultService,
    'keepValue' | 'openCurrent' | 'openVersion' | 'currentVersionIn' | 'removeIn' | 'existingIn'
  >
  audit: Pick<AuditService, 'append'>
  clock: Clock
  fetch: OutboundFetch & { guard: Pick<DestinationGuard, 'checkUrl'> }
  retry: { baseMs: number; maxAttempts: number; timeoutMs: number }
  /** How long a dead letter's payload is held for a retry by hand (ms). */
  deadLetterMs: number
  /** Called once a delivery linked to a request is settled, so an erasure can issue its certificate. */
  onSettled: (orgId: string, requestId: string) => Promise<void>
}): WebhooksService {
  const { db, keyring, audit, clock } = deps
  const aad = (orgId: string, id: string) => contextAad({ purpose: PURPOSE, org: orgId, object: id, version: 1 })
  const SYSTEM = { type: 'system' as const, id: 'webhooks' }
  const NO_REQUEST = { requestId: null, ip: null, userAgent: null }

  function deliveryView(r: Selectable<WebhookDeliveriesTable>): DeliveryView {
    const until = retryableUntil(r, deps.deadLetterMs)
    return {
      id: r.id,
      webhook: r.webhook_name,
      destination: r.destination,
      event: r.event,
      requestId: r.request_id,
      status: r.status,
      attempts: r.attempts,
      retries: r.retries,
      nextAttemptAt: r.status === 'pending' ? r.next_attempt_at.toISOString() : null,
      lastStatus: r.last_status,
      lastError: r.last_error,
      deliveredAt: r.delivered_at?.toISOString() ?? null,
      deadLetteredAt: r.dead_lettered_at?.toISOString() ?? null,
      // Erased by the worker's next pass once due: no longer offered from the due time on.
      retryableUntil: until === null || until <= clock() ? null : until.toISOString(),
      createdAt: r.created_at.toISOString(),
    }
  }

  function view(row: {
    id: string
    name: string
    url: string
    events: WebhookEvent[]
    enabled: boolean
    created_at: Date
  }): WebhookView {
    return {
      id: row.id,
      name: row.name,
      url: row.url,
      events: row.events,
      enabled: row.enabled,
      createdAt: row.created_at.toISOString(),
    }
  }

  async function checkUrl(url: string): Promise<URL> {
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      throw new AppError('VALIDATION_FAILED', 'not a URL', { errors: [{ path: '/body/url', message: 'not a URL' }] })
    }
    if (parsed.protocol !== 'https:' || parsed.username !== '' || parsed.password !== '') {
      throw new AppError(
        'VALIDATION_FAILED',
        'webhooks are delivered over HTTPS only, without credentials in the URL (P4.3)',
        { errors: [{ path: '/body/url', message: 'must be an https:// URL' }] },
      )
    }
    // Checked again at every delivery, after resolving, where the connection is made.
    try {
      await deps.fetch.guard.checkUrl(parsed)
    } catch (error) {
      if (!(error instanceof DestinationRefused)) throw error
      throw new AppError('VALIDATION_FAILED', `webhook destination refused: ${error.message}`, {
        errors: [{ path: '/body/url', message: error.message }],
      })
    }
    return parsed
  }

  /** Where a delivery goes: its webhook, or for a targeted event, the target registered for it. */
  async function targetOf(
    trx: Trx,
    event: string,
    id: string,
  ): Promise<({ url: string } & SigningSecretRef) | undefined> {
    const columns = ['url', 'secret_id', 'previous_secret_version', 'previous_secret_until'] as const
    if (event === 'consent.propagation')
      return trx.selectFrom('consent_recipients').select(columns).where('id', '=', id).executeTakeFirst()
    return trx.selectFrom('webhooks').select(columns).where('id', '=', id).executeTakeFirst()
  }

  /** Claims one due delivery (atomic lease) and opens what it needs to send. */
  async function claim(orgId: string, id: string) {
    return withOrg(db, orgId, async (trx) => {
      const now = clock()
      const row = await trx
        .updateTable('webhook_deliveries')
        .set((eb) => ({
          attempts: eb('attempts', '+', 1),
          next_attempt_at: new Date(now.getTime() + leaseFor(deps.retry.timeoutMs)),
        }))
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .where('next_attempt_at', '<=', now)
        .returningAll()
        .executeTakeFirst()
      if (row === undefined) return undefined
      const hook = await targetOf(trx, row.event, row.webhook_id)
      if (hook === undefined || row.sealed === null || row.wrapped_key === null || row.kek_version === null)
        return { row, hook: undefined }
      const dek = await keyring.openDataKey(trx, orgId, `${PURPOSE}/${row.id}`, 1, row.kek_version, row.wrapped_key)
      const body = open(dek, row.sealed, aad(orgId, row.id)).toString('utf8')
      dek.fill(0)
      // The signing secret cannot be opened (paused, reported exposed, or gone from under an
      // older version of the service): this delivery fails with why, the others go on.
      // After a rotation, the previous secret signs too until its overlap ends.
      let secrets: string[]
      try {
        secrets = await signingSecretsOf(trx, orgId, deps.vault(), hook, now)
      } catch (error) {
        if (!(error instanceof AppError)) throw error
        return { row, hook, body, secrets: undefined, unavailable: `signing secret unavailable: ${error.code}` }
      }
      return { row, hook, body, secrets, unavailable: undefined }
    })
  }

  async function send(
    url: string,
    body: string,
    secrets: readonly string[],
    deliveryId: string,
    event: string,
  ): Promise<{ status: number | null; error: string | null }> {
    const timestamp = Math.floor(Date.now() / 1000)
    const signed: Record<string, string> =
      event === 'consent.propagation'
        ? {
            'webhook-id': deliveryId,
            'webhook-timestamp': String(timestamp),
            // Space-delimited, one per secret (Standard Webhooks).
            'webhook-signature': secrets
              .map((secret) => standardWebhookSignature(secret, deliveryId, timestamp, body))
              .join(' '),
          }
        : {
            'x-custodian-delivery': deliveryId,
            'x-custodian-signature': custodianSignature(secrets, timestamp, body),
          }
    try {
      const response = await deps.fetch(url, {
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.timeout(deps.retry.timeoutMs),
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Custodian-Webhooks/1',
          'x-custodian-event': event,
          ...signed,
        },
        body,
      })
      // Only the status counts: the body is not read (an endpoint could send without end).
      await response.body?.cancel().catch(() => undefined)
      return {
        status: response.status,
        error: response.status >= 200 && response.status < 300 ? null : `HTTP ${response.status}`,
      }
    } catch (error) {
      const cause = (error as { cause?: unknown }).cause
      if (cause instanceof DestinationRefused)
        return { status: null, error: `destination refused: ${cause.message}`.slice(0, 200) }
      return { status: null, error: transportFailure(error).slice(0, 200) }
    }
  }

  async function settle(
    orgId: string,
    id: string,
    result: { status: number | null; error: string | null },
    attempts: number,
    delivery: { webhook: string; destination: string; event: string; retries: number; webhookRemoved: boolean },
  ): Promise<{ final: boolean; requestId: string | null }> {
    const { webhook, destination, event, retries } = delivery
    return withOrg(db, orgId, async (trx) => {
      const now = clock()
      const ok = result.error === null
      const final = ok || attempts >= deps.retry.maxAttempts
      const deadLetter = final && !ok
      // Delivered, the payload (it can name a person) is erased with its key; a dead letter
      // keeps it for a retry by hand, until the worker erases it (webhooks.dead-letters.ts).
      const erase = ok || (deadLetter && !holdsPayload(event, delivery.webhookRemoved))
      const row = await trx
        .updateTable('webhook_deliveries')
        .set({
          status: ok ? 'delivered' : final ? 'failed' : 'pending',
          last_status: result.status,
          last_error: result.error,
          ...(ok ? { delivered_at: now } : {}),
          ...(deadLetter ? { dead_lettered_at: now } : {}),
          ...(erase ? { sealed: null, wrapped_key: null, kek_version: null } : {}),
          ...(final
            ? { next_attempt_at: now }
            : {
                next_attempt_at: new Date(
                  now.getTime() + Math.min(deps.retry.baseMs * 2 ** (attempts - 1), 6 * 3_600_000),
                ),
              }),
        })
        .where('id', '=', id)
        .returning(['request_id'])
        .executeTakeFirstOrThrow()
      // A checkpoint's delivery is audited only when dead-lettered: an event per attempt would
      // need a new checkpoint, delivered in turn — a loop that never settles.
      if (event === 'audit.checkpoint' && !(final && !ok)) return { final, requestId: row.request_id }
      await audit.append(trx, {
        orgId,
        actor: SYSTEM,
        action: 'webhook.delivery',
        target: { type: 'webhook_delivery', id },
        outcome: ok ? 'success' : 'failure',
        details: {
          webhook,
          destination,
          attempt: attempts,
          ...(retries > 0 ? { retries } : {}),
          status: result.status,
          ...(result.error === null ? {} : { error: result.error }),
          ...(final && !ok ? { deadLettered: true } : {}),
        },
        meta: NO_REQUEST,
      })
      return { final, requestId: row.request_id }
    })
  }

  return {
    async list(ctx, page) {
      const rows = await withOrg(db, ctx.orgId, (trx) =>
        inIndexOrder(trx, () => pageOf(trx.selectFrom('webhooks').selectAll(), BY_NAME, page).execute()),
      )
      const { items, nextCursor } = toPage(rows, BY_NAME, page.limit)
      return { items: items.map(view), nextCursor }
    },

    async register(ctx, input) {
      // A webhook sends its events' content out of Custodian: subscribing takes the
      // permission that reads that content here (webhooks:manage alone would be a way
      // around it, as siem:manage without audit:export was).
      assertWithinOwn(
        ctx.principal,
        [...new Set(input.events)].map((event) => READ_PERMISSION_OF[event]),
        'a webhook for these events (it sends their content out)',
      )
      const url = await checkUrl(input.url)
      const secret = randomBytes(32).toString('base64url')
      try {
        return await withOrg(db, ctx.orgId, async (trx) => {
          const secretId = await deps.vault().keepValue(trx, ctx, {
            name: `webhook/${input.name}`,
            description: `signing secret of the webhook ${input.name}`,
            value: secret,
          })
          const events = [...new Set(input.events)].sort()
          const row = await trx
            .insertInto('webhooks')
            .values({
              id: randomUUID(),
              org_id: ctx.orgId,
              name: input.name,
              url: url.href,
              secret_id: secretId,
              events,
              created_by: `${ctx.principal.kind}:${ctx.principal.id}`,
            })
            .returningAll()
            .executeTakeFirstOrThrow()
          await audit.append(trx, {
            orgId: ctx.orgId,
            actor: actorOf(ctx.principal),
            action: 'webhook.register',
            target: { type: 'webhook', id: row.id },
            outcome: 'success',
            details: { name: input.name, destination: url.host, events },
            meta: ctx.meta,
          })
          return { ...view(row), secret }
        })
      } catch (error) {
        if (sqlState(error) === UNIQUE_VIOLATION || (error instanceof AppError && error.code === 'CONFLICT'))
          throw new AppError('CONFLICT', `a webhook named ${input.name} exists`)
        throw error
      }
    },

    async rotateSecret(ctx, id) {
      const secret = randomBytes(32).toString('base64url')
      return withOrg(db, ctx.orgId, async (trx) => {
        const before = await trx.selectFrom('webhooks').selectAll().where('id', '=', id).forUpdate().executeTakeFirst()
        if (before === undefined) throw new AppError('NOT_FOUND', 'no such webhook')
        // Rotating takes what registering took: the permissions that read its events.
        assertWithinOwn(
          ctx.principal,
          before.events.map((event) => READ_PERMISSION_OF[event]),
          'a webhook for these events (it sends their content out)',
        )
        const { version, ...previous } = await rotateSigningSecret(
          trx,
          ctx,
          deps.vault(),
          clock(),
          {
            secret_id: before.secret_id,
            name: `webhook/${before.name}`,
            description: `signing secret of the webhook ${before.name}`,
          },
          secret,
        )
        const row = await trx
          .updateTable('webhooks')
          .set(previous)
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirstOrThrow()
        await audit.append(trx, {
          orgId: ctx.orgId,
          actor: actorOf(ctx.principal),
          action: 'webhook.secret.rotate',
          target: { type: 'webhook', id },
          outcome: 'success',
          details: rotationDetails(row.name, { version, ...previous }),
          meta: ctx.meta,
        })
        return { ...view(row), secret, previousSecretUntil: previous.previous_secret_until.toISOString() }
      })
    },

    async remove(ctx, id) {
      await withOrg(db, ctx.orgId, async (trx) => {
        const row = await trx.deleteFrom('webhooks').where('id', '=', id).returningAll().executeTakeFirst()
        if (row === undefined) throw new AppError('NOT_FOUND', 'no such webhook')
        // Its signing secret goes with it; one already gone (an older version let the secrets
        // API delete it) does not keep the webhook.
        if ((await deps.vault().existingIn(trx, [row.secret_id])).has(row.secret_id))
          await deps.vault().removeIn(trx, ctx, row.secret_id)
        await eraseDeadLettersOf(trx, id)
        await audit.append(trx, {
          orgId: ctx.orgId,
          actor: actorOf(ctx.principal),
          action: 'webhook.remove',
          target: { type: 'webhook', id },
          outcome: 'success',
          details: { name: row.name },
          meta: ctx.meta,
        })
      })
    },

    async deliveries(ctx, page, filter = {}) {
      const { requestId, status } = filter
      const rows = await withOrg(db, ctx.orgId, (trx) => {
        let all = trx.selectFrom('webhook_deliveries').selectAll()
        if (requestId !== undefined) all = all.where('request_id', '=', requestId)
        if (status !== undefined) all = all.where('status', '=', status)
        return inIndexOrder(trx, () => pageOf(all, NEWEST, page).execute())
      })
      const { items, nextCursor } = toPage(rows, NEWEST, page.limit)
      return { nextCursor, items: items.map(deliveryView) }
    },

    async delivery(ctx, id) {
      const row = await withOrg(db, ctx.orgId, (trx) =>
        trx.selectFrom('webhook_deliveries').selectAll().where('id', '=', id).executeTakeFirst(),
      )
      if (row === undefined) throw new AppError('NOT_FOUND', 'no such webhook delivery')
      return deliveryView(row)
    },

    async retry(ctx, id) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const { before, row } = await requeueDeadLetter(trx, id, clock(), deps.deadLetterMs)
        await audit.append(trx, {
          orgId: ctx.orgId,
          actor: actorOf(ctx.principal),
          action: 'webhook.delivery.retry',
          target: { type: 'webhook_delivery', id },
          outcome: 'success',
          details: {
            webhook: row.webhook_name,
            destination: row.destination,
            event: row.event,
            retries: row.retries,
            attemptsBefore: before.attempts,
            deadLetteredAt: before.deadLetteredAt.toISOString(),
            ...(before.lastError === null ? {} : { lastError: before.lastError }),
          },
          meta: ctx.meta,
        })
        const requeued = await trx
          .selectFrom('webhook_deliveries')
          .selectAll()
          .where('id', '=', id)
          .executeTakeFirstOrThrow()
        return deliveryView(requeued)
      })
    },

    async enqueue(trx, orgId, event, payload, requestId) {
      const hooks = await trx
        .selectFrom('webhooks')
        .selectAll()
        .where('enabled', '=', true)
        .where(sql<boolean>`${event} = ANY(events)`)
        .execute()
      for (const hook of hooks) await insertDelivery(trx, orgId, hook, event, payload, { id: randomUUID(), requestId })
      return hooks.length
    },

    async enqueueTo(trx, orgId, target, event, payload, options) {
      await insertDelivery(trx, orgId, { id: target.id, name: target.name, url: target.url }, event, payload, {
        id: options.id,
        requestId: options.requestId,
      })
    },

    async deliverDue() {
      await eraseExpiredDeadLetters(db, new Date(clock().getTime() - deps.deadLetterMs))
      // Which deliveries are due spans orgs: owner connection; each is claimed in its org.
      const refused = orgsNotServed(db) // P8.1: a refused org's deliveries wait
      const due = await withOwner(db, (trx) =>
        trx
          .selectFrom('webhook_deliveries')
          .select(['id', 'org_id'])
          .where('status', '=', 'pending')
          .$if(refused.length > 0, (q) => q.where('org_id', 'not in', refused))
          .where('next_attempt_at', '<=', clock())
          .orderBy('next_attempt_at')
          .limit(50)
          .execute(),
      )
      let settled = 0
      // One delivery that cannot be handled never holds up the others (they may be other
      // orgs'): its error is raised once the rest are done, and it is tried again on the next tick.
      let failure: Error | undefined
      for (const { id, org_id: orgId } of due) {
        try {
          settled += await deliverOne(orgId, id)
        } catch (error) {
          failure ??= error instanceof Error ? error : new Error(String(error))
        }
      }
      if (failure !== undefined) throw failure
      return settled
    },
  }

  /** One delivery row, its payload sealed under a data key of its own. */
  async function insertDelivery(
    trx: Trx,
    orgId: string,
    target: { id: string; name: string; url: string },
    event: string,
    payload: Record<string, unknown>,
    options: { id: string; requestId: string | undefined },
  ): Promise<void> {
    const { id } = options
    const now = clock()
    const body = canonicalJson({ type: event, delivery: id, org: orgId, ...payload })
    const key = await keyring.newDataKey(trx, orgId, `${PURPOSE}/${id}`, 1)
    const sealed = seal(key.dek, Buffer.from(body, 'utf8'), aad(orgId, id))
    key.dek.fill(0)
    await trx
      .insertInto('webhook_deliveries')
      .values({
        id,
        org_id: orgId,
        webhook_id: target.id,
        webhook_name: target.name,
        destination: new URL(target.url).host,
        request_id: options.requestId ?? null,
        event,
        kek_version: key.kekVersion,
        wrapped_key: key.wrapped,
        sealed,
        status: 'pending',
        next_attempt_at: now,
        last_status: null,
        last_error: null,
        delivered_at: null,
        created_at: now,
      })
      .execute()
  }

  /** Claims, sends and settles one delivery; 1 when it is settled for good, else 0. */
  async function deliverOne(orgId: string, id: string): Promise<number> {
    const claimed = await claim(orgId, id)
    if (claimed === undefined) return 0 // another process has it
    const { row } = claimed
    const result =
      claimed.hook === undefined
        ? { status: null, error: 'webhook removed' }
        : claimed.secrets === undefined
          ? { status: null, error: claimed.unavailable }
          : await send(claimed.hook.url, claimed.body, claimed.secrets, row.id, row.event)
    const attempts = claimed.hook === undefined ? deps.retry.maxAttempts : row.attempts
    const { final, requestId } = await settle(orgId, id, result, attempts, {
      webhook: row.webhook_name,
      destination: row.destination,
      event: row.event,
      retries: row.retries,
      webhookRemoved: claimed.hook === undefined,
    })
    if (!final) return 0
    if (requestId !== null) await deps.onSettled(orgId, requestId)
    return 1
  }
}
