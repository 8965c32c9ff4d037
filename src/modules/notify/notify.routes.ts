import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ctxOf } from '../../http/route-helpers.ts'
import {
  errorResponses,
  NextCursor,
  OrgParams,
  PageParams,
  PageQuery,
  pageQuery,
  ProblemRef,
  Strict,
  Timestamp,
  Uuid,
} from '../../http/schemas.ts'
import type { DeliveryService } from './delivery.service.ts'
import type { WebhooksService } from './webhooks.service.ts'

const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()])
const Event = Type.Union([
  Type.Literal('erasure.requested'),
  Type.Literal('notifications'),
  Type.Literal('audit.checkpoint'),
  Type.Literal('consent.reconsent_required'),
])
const WebhookView = Type.Object({
  id: Uuid,
  name: Type.String(),
  url: Type.String(),
  events: Type.Array(Event),
  enabled: Type.Boolean(),
  createdAt: Timestamp,
})
const DeliveryStatus = Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')], {
  description: '`failed`: dead-lettered, given up after the last attempt',
})
const DeliveryView = Type.Object({
  id: Uuid,
  webhook: Type.String(),
  destination: Type.String(),
  event: Type.String(),
  requestId: Nullable(Uuid),
  status: DeliveryStatus,
  attempts: Type.Integer({ description: 'attempts of the current budget: a retry starts a new one' }),
  retries: Type.Integer({ description: 'times it was sent again by hand after being dead-lettered' }),
  nextAttemptAt: Nullable(Timestamp),
  lastStatus: Type.Union([Type.Integer(), Type.Null()]),
  lastError: Nullable(Type.String()),
  deliveredAt: Nullable(Timestamp),
  deadLetteredAt: Nullable(Timestamp),
  retryableUntil: Nullable(
    Type.String({
      format: 'date-time',
      description:
        'until when the dead letter can be retried (its sealed payload is kept for CUSTODIAN_WEBHOOK_DEAD_LETTER_HOURS); null: it cannot be (not dead-lettered, an erasure notice, its webhook removed, or past that time)',
    }),
  ),
  createdAt: Timestamp,
})
const NotificationView = Type.Object({
  id: Uuid,
  kind: Type.String(),
  recipient: Type.String({
    description: 'a user id, or who else it is for (vulnerability-report:<id> for a report’s reporter)',
  }),
  recipientEmail: Nullable(Type.String({ description: 'the recipient’s email, when a member of the org' })),
  subject: Type.String(),
  body: Type.String(),
  data: Type.Record(Type.String(), Type.Unknown()),
  status: Type.Union([
    Type.Literal('pending'),
    Type.Literal('delivered'),
    Type.Literal('failed'),
    Type.Literal('skipped'),
  ]),
  attempts: Type.Integer(),
  lastError: Nullable(Type.String()),
  deliveredAt: Nullable(Timestamp),
  createdAt: Timestamp,
})
const StatusQuery = Type.Object(
  {
    status: Type.Optional(
      Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed'), Type.Literal('skipped')]),
    ),
    ...PageParams,
  },
  Strict,
)

export function notifyRoutes(deps: {
  webhooks: WebhooksService
  delivery: DeliveryService
}): FastifyPluginAsyncTypebox {
  const { webhooks, delivery } = deps
  return async (app) => {
    app.get('/v1/orgs/:orgId/webhooks', {
      config: { access: { permission: 'webhooks:read' } },
      schema: {
        tags: ['webhooks'],
        summary: 'HTTPS endpoints told of erasures and notifications, by name, a page at a time',
        params: OrgParams,
        querystring: PageQuery,
        response: {
          200: Type.Object({ webhooks: Type.Array(WebhookView), nextCursor: NextCursor }),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => {
        const { items, nextCursor } = await webhooks.list(ctxOf(request), request.query)
        return { webhooks: items, nextCursor }
      },
    })

    app.post('/v1/orgs/:orgId/webhooks', {
      // A new destination for the org's data leaves the building: a fresh second factor.
      config: { access: { permission: 'webhooks:manage' }, stepUp: true },
      schema: {
        tags: ['webhooks'],
        summary: 'Register an HTTPS endpoint for events; its signing secret is shown once',
        description:
          'Each event sends content out of Custodian, so subscribing to it also takes the permission that reads it: `notifications` needs `notifications:read`, `erasure.requested` needs `privacy:read`, `audit.checkpoint` needs `audit:read`, `consent.reconsent_required` needs `consent:read` (403 `EXCEEDS_OWN_PERMISSIONS` naming `missingPermissions` otherwise).',
        params: OrgParams,
        body: Type.Object(
          {
            name: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' }),
            url: Type.String({ maxLength: 2000 }),
            events: Type.Array(Event, { minItems: 1, maxItems: Event.anyOf.length, uniqueItems: true }),
          },
          Strict,
        ),
        response: {
          201: Type.Composite([
            WebhookView,
            Type.Object({
              secret: Type.String({ description: 'HMAC-SHA256 key of X-Custodian-Signature; shown once' }),
            }),
          ]),
          ...errorResponses('org'),
        },
      },
      handler: async (request, reply) => reply.code(201).send(await webhooks.register(ctxOf(request), request.body)),
    })

    // A new secret is a new credential for the org's outbound data: a fresh second factor,
    // as registering takes.
    app.post('/v1/orgs/:orgId/webhooks/:webhookId/secret/rotate', {
      config: { access: { permission: 'webhooks:manage' }, stepUp: true },
      schema: {
        tags: ['webhooks'],
        summary: 'Replace a webhook’s signing secret; the new one is shown once, the old one signs too for 24 hours',
        description:
          'The new secret becomes the vault’s current version of the webhook’s secret. Until `previousSecretUntil` (24 hours), every delivery’s `x-custodian-signature` carries two `v1=` values, under the new secret and under the previous one: a receiver accepts a delivery when any of them verifies. Audited as `webhook.secret.rotate` (the version numbers, never the secret).',
        params: Type.Object({ orgId: Uuid, webhookId: Uuid }, Strict),
        response: {
          200: Type.Composite([
            WebhookView,
            Type.Object({
              secret: Type.String({ description: 'the new signing secret, shown only now' }),
              previousSecretUntil: Timestamp,
            }),
          ]),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => webhooks.rotateSecret(ctxOf(request), request.params.webhookId),
    })

    app.delete('/v1/orgs/:orgId/webhooks/:webhookId', {
      config: { access: { permission: 'webhooks:manage' } },
      schema: {
        tags: ['webhooks'],
        summary: 'Remove a webhook (its secret is crypto-erased)',
        params: Type.Object({ orgId: Uuid, webhookId: Uuid }, Strict),
        response: { 204: Type.Null(), ...errorResponses('org') },
      },
      handler: async (request, reply) => {
        await webhooks.remove(ctxOf(request), request.params.webhookId)
        return reply.code(204).send(null)
      },
    })

    app.get('/v1/orgs/:orgId/webhook-deliveries', {
      config: { access: { permission: 'webhooks:read' } },
      schema: {
        tags: ['webhooks'],
        summary: 'Webhook deliveries, newest first, a page at a time: pending, delivered, dead-lettered, with attempts',
        description:
          '`status=failed` lists the dead letters only; `requestId` the deliveries of one privacy request (an erasure). Both may be given.',
        params: OrgParams,
        querystring: pageQuery({ requestId: Type.Optional(Uuid), status: Type.Optional(DeliveryStatus) }),
        response: {
          200: Type.Object({ deliveries: Type.Array(DeliveryView), nextCursor: NextCursor }),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => {
        const { requestId, status, ...page } = request.query
        const { items, nextCursor } = await webhooks.deliveries(ctxOf(request), page, { requestId, status })
        return { deliveries: items, nextCursor }
      },
    })

    app.get('/v1/orgs/:orgId/webhook-deliveries/:deliveryId', {
      config: { access: { permission: 'webhooks:read' } },
      schema: {
        tags: ['webhooks'],
        summary: 'One webhook delivery, with the fields of the list: a retried dead letter followed until it settles',
        description:
          'The delivery as `GET …/webhook-deliveries` lists it, whatever its status: asked again while it is `pending`, it answers `delivered` or `failed` once the worker has settled it. 404 for an id the org does not have.',
        params: Type.Object({ orgId: Uuid, deliveryId: Uuid }, Strict),
        response: { 200: DeliveryView, ...errorResponses('org') },
      },
      handler: async (request) => webhooks.delivery(ctxOf(request), request.params.deliveryId),
    })

    // Sending data again to a destination the org declared (no new egress): no step-up, as
    // for the automatic attempts; the retry is audited with who asked.
    app.post('/v1/orgs/:orgId/webhook-deliveries/:deliveryId/retry', {
      config: { access: { permission: 'webhooks:manage' } },
      schema: {
        tags: ['webhooks'],
        summary: 'Send a dead-lettered delivery again, with a fresh budget of attempts',
        description:
          'Only a dead letter (`status: failed`) whose payload is still kept (`retryableUntil`): it is queued again at once, its attempts counted anew, and retried with backoff as a new delivery would be. Audited as `webhook.delivery.retry`. Concurrent retries of one dead letter queue it once: the others answer 409, as for any delivery that is pending or delivered. 410 `WEBHOOK_PAYLOAD_ERASED` when the payload is gone: an erasure notice (it names the erased subject, so it is erased when given up), a delivery whose webhook was removed, or one dead-lettered more than `CUSTODIAN_WEBHOOK_DEAD_LETTER_HOURS` ago.',
        params: Type.Object({ orgId: Uuid, deliveryId: Uuid }, Strict),
        response: { 200: DeliveryView, ...errorResponses('org'), 410: ProblemRef },
      },
      handler: async (request) => webhooks.retry(ctxOf(request), request.params.deliveryId),
    })

    app.get('/v1/orgs/:orgId/notifications', {
      config: { access: { permission: 'notifications:read' } },
      schema: {
        tags: ['notifications'],
        summary: 'The org’s notification outbox with each e-mail’s delivery state, newest first, a page at a time',
        params: OrgParams,
        querystring: StatusQuery,
        response: {
          200: Type.Object({ notifications: Type.Array(NotificationView), nextCursor: NextCursor }),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => {
        const { status, ...page } = request.query
        const { items, nextCursor } = await delivery.list(ctxOf(request), { status }, page)
        return { notifications: items, nextCursor }
      },
    })

    app.get('/v1/me/notifications', {
      config: { access: { authenticated: true }, mfaExempt: true },
      schema: {
        tags: ['notifications'],
        summary: 'Your notifications in this org, newest first, a page at a time',
        querystring: StatusQuery,
        response: {
          200: Type.Object({ notifications: Type.Array(NotificationView), nextCursor: NextCursor }),
          ...errorResponses('authenticated'),
        },
      },
      handler: async (request) => {
        const { status, ...page } = request.query
        const { items, nextCursor } = await delivery.list(ctxOf(request), { status, mine: true }, page)
        return { notifications: items, nextCursor }
      },
    })
  }
}
