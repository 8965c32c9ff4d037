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
])
const WebhookView = Type.Object({
  id: Uuid,
  name: Type.String(),
  url: Type.String(),
  events: Type.Array(Event),
  enabled: Type.Boolean(),
  createdAt: Timestamp,
})
const DeliveryView = Type.Object({
  id: Uuid,
  webhook: Type.String(),
  destination: Type.String(),
  event: Type.String(),
  requestId: Nullable(Uuid),
  status: Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')]),
  attempts: Type.Integer(),
  nextAttemptAt: Nullable(Timestamp),
  lastStatus: Type.Union([Type.Integer(), Type.Null()]),
  lastError: Nullable(Type.String()),
  deliveredAt: Nullable(Timestamp),
  createdAt: Timestamp,
})
const NotificationView = Type.Object({
  id: Uuid,
  kind: Type.String(),
  recipient: Type.String({
    description: 'a user id, or who else it is for (vulnerability-report:<id> for a report’s reporter)',
  }),
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
        params: OrgParams,
        body: Type.Object(
          {
            name: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' }),
            url: Type.String({ maxLength: 2000 }),
            events: Type.Array(Event, { minItems: 1, maxItems: 3 }),
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
        params: OrgParams,
        querystring: pageQuery({ requestId: Type.Optional(Uuid) }),
        response: {
          200: Type.Object({ deliveries: Type.Array(DeliveryView), nextCursor: NextCursor }),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => {
        const { requestId, ...page } = request.query
        const { items, nextCursor } = await webhooks.deliveries(ctxOf(request), page, requestId)
        return { deliveries: items, nextCursor }
      },
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
