import { Readable } from 'node:stream'
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { ctxOf } from '../../http/route-helpers.ts'
import { errorResponses, NextCursor, OrgParams, pageQuery, Strict, Timestamp, Uuid } from '../../http/schemas.ts'
import { AuditEventFilters, AuditEventViewSchema, AuditReceiptSchema } from './audit.schemas.ts'
import { VIEWER_MAX_ACTIONS, VIEWER_TTL, type ViewerService, type ViewerSession } from './viewer.service.ts'
import { checkViewerOrigin } from './viewer.origin.ts'

const tags = ['audit']
const viewerTags = ['viewer']
const ACTION = '^[a-z0-9_]+(\\.[a-z0-9_]+)*(\\.\\*)?$'

const Scope = Type.Object({
  actions: Type.Union([Type.Array(Type.String()), Type.Null()], {
    description: 'exact actions or `family.*` prefixes the token reads; null: every action',
  }),
  actorId: Type.Union([Type.String(), Type.Null()], { description: 'the one actor id it reads; null: every actor' }),
})
const TokenView = Type.Object({
  id: Uuid,
  origin: Type.String(),
  scope: Scope,
  createdAt: Timestamp,
  expiresAt: Timestamp,
  revokedAt: Type.Union([Timestamp, Type.Null()]),
  firstUsedAt: Type.Union([Timestamp, Type.Null()]),
  createdBy: Type.Object({ type: Type.String(), id: Type.Union([Type.String(), Type.Null()]) }),
})
const IssueBody = Type.Object(
  {
    origin: Type.String({
      minLength: 1,
      maxLength: 300,
      description:
        'the exact web origin of the host page (`https://app.example.com[:port]`; `http://` only for localhost, 127.0.0.1 or [::1]): no path, no wildcard',
    }),
    actions: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 100, pattern: ACTION }), {
        minItems: 1,
        maxItems: VIEWER_MAX_ACTIONS,
        description: 'only these actions (exact, or `family.*`); absent: every action',
      }),
    ),
    actorId: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'only this actor’s events' })),
    ttlSeconds: Type.Integer({
      minimum: VIEWER_TTL.min,
      maximum: VIEWER_TTL.max,
      default: VIEWER_TTL.default,
      description: 'lifetime in seconds',
    }),
  },
  Strict,
)
const Filters = AuditEventFilters
const viewerErrors = () => {
  const { 409: _conflict, ...rest } = errorResponses('org')
  return rest
}
const viewerAccess = { access: { viewer: true as const } }

/** The session the access-control point resolved for a `{ viewer: true }` route. */
function sessionOf(request: FastifyRequest): ViewerSession {
  if (request.viewer === null) throw new Error(`route ${request.routeOptions.url} reached a handler without a viewer`)
  return request.viewer
}

/**
 * Issuing viewer tokens (`audit:viewer`, org side) and the routes a viewer token reads
 * (`/v1/viewer/…`, viewer token only; docs/embedded-viewer.md).
 */
export function viewerRoutes(deps: { viewer: ViewerService }): FastifyPluginAsyncTypebox {
  const { viewer } = deps
  return async (app) => {
    app.post('/v1/orgs/:orgId/audit/viewer-tokens', {
      // It hands out a credential: a session asks for a fresh second factor, as for API tokens.
      config: { access: { permission: 'audit:viewer' }, stepUp: true },
      schema: {
        tags,
        summary: 'Issue a short-lived, read-only audit viewer token for one web origin (docs/embedded-viewer.md)',
        description:
          'For the host application’s backend: the token reads this org’s audit log (narrowed by `actions` and `actorId`) through `/v1/viewer/…`, only from `origin`, until `expiresAt`. It is shown once. The caller must also hold audit:read and audit:export.',
        params: OrgParams,
        body: IssueBody,
        response: {
          201: Type.Object({
            id: Uuid,
            token: Type.String({ description: 'cst_view_…: shown once, never stored' }),
            expiresAt: Timestamp,
            origin: Type.String({ description: 'the origin in canonical form (what browsers send)' }),
            scope: Scope,
          }),
          ...errorResponses('org'),
        },
      },
      handler: async (request, reply) => {
        const issued = await viewer.issue(ctxOf(request), request.body)
        return reply.code(201).send({ ...issued, expiresAt: issued.expiresAt.toISOString() })
      },
    })

    app.get('/v1/orgs/:orgId/audit/viewer-tokens', {
      config: { access: { permission: 'audit:viewer' } },
      schema: {
        tags,
        summary: 'The org’s viewer tokens, newest first (never the token itself)',
        params: OrgParams,
        querystring: pageQuery({}),
        response: {
          200: Type.Object({ tokens: Type.Array(TokenView), nextCursor: NextCursor }),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => {
        const page = await viewer.list(ctxOf(request), request.query)
        return { tokens: page.items, nextCursor: page.nextCursor }
      },
    })

    app.delete('/v1/orgs/:orgId/audit/viewer-tokens/:tokenId', {
      config: { access: { permission: 'audit:viewer' } },
      schema: {
        tags,
        summary: 'Revoke a viewer token at once (its next request is a 401)',
        params: Type.Object({ orgId: Uuid, tokenId: Uuid }, Strict),
        response: { 200: TokenView, ...errorResponses('org') },
      },
      handler: async (request) => viewer.revoke(ctxOf(request), request.params.tokenId),
    })

    app.get('/v1/viewer/session', {
      config: viewerAccess,
      schema: {
        tags: viewerTags,
        summary: 'The viewer token’s org, scope and expiry (the embedded viewer’s header)',
        response: {
          200: Type.Object({
            org: Type.Object({ id: Uuid, name: Type.String() }),
            origin: Type.String(),
            scope: Scope,
            expiresAt: Timestamp,
          }),
          ...viewerErrors(),
        },
      },
      handler: async (request) => {
        const session = sessionOf(request)
        await viewer.recordFirstUse(session, request.meta)
        return {
          org: { id: session.orgId, name: session.orgName },
          origin: session.origin,
          scope: session.scope,
          expiresAt: session.expiresAt.toISOString(),
        }
      },
    })

    app.get('/v1/viewer/events', {
      config: viewerAccess,
      schema: {
        tags: viewerTags,
        summary: 'The audit log within the viewer token’s scope, newest first',
        description:
          'The filters of `GET /v1/orgs/{orgId}/audit/events`, intersected with the token’s scope: a filter outside the scope answers an empty page (never a 403, so nothing outside is told apart from nothing at all).',
        querystring: pageQuery(Filters),
        response: {
          200: Type.Object({ events: Type.Array(AuditEventViewSchema), nextCursor: NextCursor }),
          ...viewerErrors(),
        },
      },
      handler: async (request) => {
        const session = sessionOf(request)
        await viewer.recordFirstUse(session, request.meta)
        return viewer.events(session, request.query)
      },
    })

    app.get('/v1/viewer/events/:eventId/receipt', {
      config: viewerAccess,
      schema: {
        tags: viewerTags,
        summary: 'A receipt of one event within the scope: the event, its inclusion proof and the signed checkpoint',
        description:
          'As `GET /v1/orgs/{orgId}/audit/events/{eventId}/receipt`; an event outside the token’s org or scope is a 404, like one that does not exist.',
        params: Type.Object({ eventId: Uuid }, Strict),
        response: { 200: AuditReceiptSchema, ...viewerErrors() },
      },
      handler: async (request) => {
        const session = sessionOf(request)
        await viewer.recordFirstUse(session, request.meta)
        const receipt = await viewer.receipt(session, request.params.eventId)
        return { ...receipt, event: { ...receipt.event } }
      },
    })

    app.get('/v1/viewer/export', {
      config: viewerAccess,
      schema: {
        tags: viewerTags,
        summary: 'The events within the scope (and the filters) as JSON Lines, newest first',
        description:
          'A header line (`custodian-audit-viewer-export/1`, org, scope, filters), then one `{"kind":"event","event":…}` line per event. Not a chain export (the scope leaves gaps): verify each event with its receipt. Audited as `audit.viewer.export`.',
        querystring: Type.Object(Filters, Strict),
        produces: ['application/x-ndjson'],
        response: { 200: { type: 'string', description: 'JSON Lines' }, ...viewerErrors() },
      },
      handler: async (request, reply) => {
        const session = sessionOf(request)
        await viewer.recordFirstUse(session, request.meta)
        const lines = await viewer.exportLines(session, request.query, request.meta)
        reply
          .type('application/x-ndjson')
          .header('content-disposition', `attachment; filename="audit-${session.orgId}-view.jsonl"`)
        return reply.send(Readable.from(lines) as unknown as string)
      },
    })

    // The CORS preflight carries no token, so it cannot know the token's origin: it answers
    // any well-formed origin with the methods and header the viewer routes take. The actual
    // request is what is refused from another origin (403, before anything is read).
    app.options('/v1/viewer/*', {
      config: { access: { public: true } },
      // The actual request's query rides along in the preflight's URL: any is let through here.
      schema: { hide: true, querystring: { type: 'object' } },
      handler: async (request, reply) => {
        const origin = request.headers.origin
        const checked = typeof origin === 'string' ? checkViewerOrigin(origin) : undefined
        reply.header('vary', 'Origin')
        if (checked?.ok === true && checked.origin === origin) {
          reply
            .header('access-control-allow-origin', origin)
            .header('access-control-allow-methods', 'GET')
            .header('access-control-allow-headers', 'authorization')
            .header('access-control-max-age', '600')
        }
        return reply.code(204).send()
      },
    })
  }
}
