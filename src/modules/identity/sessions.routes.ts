import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ctxOf } from '../../http/route-helpers.ts'
import { errorResponses, NextCursor, OrgParams, PageQuery, Strict, Uuid } from '../../http/schemas.ts'
import type { SessionsService } from './sessions.service.ts'

const tags = ['identity']
const SessionView = Type.Object({
  id: Uuid,
  userId: Uuid,
  email: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  lastSeenAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.String({ format: 'date-time' }),
  ip: Type.Union([Type.String(), Type.Null()]),
  userAgent: Type.Union([Type.String(), Type.Null()]),
  secondFactorAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  current: Type.Boolean({ description: 'the session making this request' }),
})

export function sessionsRoutes(deps: { sessions: SessionsService }): FastifyPluginAsyncTypebox {
  const { sessions } = deps
  return async (app) => {
    app.get('/v1/me/sessions', {
      config: { access: { authenticated: true }, mfaExempt: true },
      schema: {
        tags,
        summary: 'Your active browser sessions in this org, most recently used first, a page at a time',
        querystring: PageQuery,
        response: {
          200: Type.Object({ sessions: Type.Array(SessionView), nextCursor: NextCursor }),
          ...errorResponses('authenticated'),
        },
      },
      handler: async (request) => {
        const { items, nextCursor } = await sessions.list(ctxOf(request), 'mine', request.query)
        return { sessions: items, nextCursor }
      },
    })

    app.delete('/v1/me/sessions/:sessionId', {
      config: { access: { authenticated: true }, mfaExempt: true },
      schema: {
        tags,
        summary: 'End one of your sessions (effective on its next request)',
        params: Type.Object({ sessionId: Uuid }, Strict),
        response: { 204: Type.Null(), ...errorResponses('org') },
      },
      handler: async (request, reply) => {
        await sessions.revoke(ctxOf(request), request.params.sessionId, 'mine')
        return reply.code(204).send(null)
      },
    })

    app.get('/v1/orgs/:orgId/sessions', {
      config: { access: { permission: 'sessions:read' } },
      schema: {
        tags,
        summary: 'Every member’s active browser sessions in the org, most recently used first, a page at a time',
        params: OrgParams,
        querystring: PageQuery,
        response: {
          200: Type.Object({ sessions: Type.Array(SessionView), nextCursor: NextCursor }),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => {
        const { items, nextCursor } = await sessions.list(ctxOf(request), 'org', request.query)
        return { sessions: items, nextCursor }
      },
    })

    app.delete('/v1/orgs/:orgId/sessions/:sessionId', {
      config: { access: { permission: 'sessions:revoke' }, stepUp: true },
      schema: {
        tags,
        summary: 'End a member’s session (effective on its next request)',
        params: Type.Object({ orgId: Uuid, sessionId: Uuid }, Strict),
        response: { 204: Type.Null(), ...errorResponses('org') },
      },
      handler: async (request, reply) => {
        await sessions.revoke(ctxOf(request), request.params.sessionId, 'org')
        return reply.code(204).send(null)
      },
    })
  }
}
