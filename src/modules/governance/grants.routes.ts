import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ctxOf } from '../../http/route-helpers.ts'
import { errorResponses, NextCursor, OrgParams, PageQuery, Strict, Timestamp, Uuid } from '../../http/schemas.ts'
import type { GrantsService } from './grants.service.ts'

const tags = ['diagnostic access']
const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()])
const GrantView = Type.Object({
  id: Uuid,
  orgId: Uuid,
  orgName: Type.Optional(Type.String()),
  otherApprovers: Type.Optional(
    Type.Object(
      {
        emails: Type.Array(Type.String(), { maxItems: 10, description: 'the first of them by email, in order' }),
        count: Type.Integer({ minimum: 0, description: 'how many there are in all' }),
      },
      {
        description:
          'A pending grant, to a caller with grants:approve: the members who could give it the approvals it lacks — not suspended, holding grants:approve and every permission it asks for, other than the caller, the operator and those who approved',
      },
    ),
  ),
  grantee: Type.Object({ userId: Uuid, email: Type.String() }),
  reason: Type.String(),
  permissions: Type.Array(Type.String()),
  secretIds: Type.Array(Uuid),
  durationDays: Type.Integer(),
  requiredApprovals: Type.Integer(),
  approvals: Type.Array(
    Type.Object({
      userId: Uuid,
      email: Type.Union([Type.String(), Type.Null()], { description: 'the approver’s email when they approved' }),
      at: Timestamp,
      note: Type.Union([Type.String(), Type.Null()], { description: 'this approver’s own note' }),
    }),
  ),
  status: Type.Union([
    Type.Literal('pending'),
    Type.Literal('lapsed'),
    Type.Literal('active'),
    Type.Literal('expired'),
    Type.Literal('denied'),
    Type.Literal('revoked'),
    Type.Literal('withdrawn'),
  ]),
  requestedAt: Timestamp,
  pendingUntil: Timestamp,
  startsAt: Nullable(Timestamp),
  expiresAt: Nullable(Timestamp),
  decidedAt: Nullable(Timestamp),
  decidedBy: Nullable(Type.String()),
  decidedByEmail: Nullable(
    Type.String({
      description: 'who approved last or denied, by email, when a member of the org (null to the operator)',
    }),
  ),
  decisionNote: Type.Union([Type.String(), Type.Null()], {
    description: 'the approval’s (the last approver’s) or the denial’s note; never the revocation’s',
  }),
  endedAt: Nullable(Timestamp),
  endedBy: Nullable(Type.String()),
  endedByEmail: Nullable(
    Type.String({
      description: 'who revoked or withdrew it, by email, when a member of the org (null to the operator)',
    }),
  ),
  endNote: Type.Union([Type.String(), Type.Null()], { description: 'the revocation’s or withdrawal’s note' }),
})
const RequestBody = Type.Object(
  {
    orgId: Uuid,
    reason: Type.String({ minLength: 10, maxLength: 1000, description: 'why, in words the org’s admins will read' }),
    permissions: Type.Array(Type.String({ maxLength: 64 }), {
      minItems: 1,
      maxItems: 20,
      description: 'read-only permissions, checks, and vault:reveal for named secrets',
    }),
    secretIds: Type.Optional(Type.Array(Uuid, { maxItems: 50, description: 'the secrets vault:reveal covers' })),
    durationDays: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 90, description: 'default 21, at most the org’s maximum' }),
    ),
  },
  Strict,
)
const Note = Type.Object({ note: Type.Optional(Type.String({ maxLength: 1000 })) }, Strict)
const GrantParams = Type.Object({ orgId: Uuid, grantId: Uuid }, Strict)
const MyGrantParams = Type.Object({ grantId: Uuid }, Strict)
const Policy = Type.Object(
  {
    maxDays: Type.Integer({ minimum: 1, maximum: 90, description: 'the longest grant this org approves (default 21)' }),
    requiredApprovals: Type.Integer({ minimum: 1, maximum: 2, description: 'approvers needed: 1, or 2 (four eyes)' }),
  },
  Strict,
)

export function grantsRoutes(deps: { grants: GrantsService }): FastifyPluginAsyncTypebox {
  const { grants } = deps
  return async (app) => {
    app.post('/v1/operator/grants', {
      config: { access: { permission: 'grants:request' } },
      schema: {
        tags,
        summary: 'Operators: ask an org for time-boxed diagnostic access (P2.8); its admins are notified',
        body: RequestBody,
        response: { 201: GrantView, ...errorResponses('org') },
      },
      handler: async (request, reply) => reply.code(201).send(await grants.request(ctxOf(request), request.body)),
    })

    app.get('/v1/operator/grants', {
      config: { access: { permission: 'grants:request' } },
      schema: {
        tags,
        summary: 'Operators: your own requests and grants, in every org, newest first, a page at a time',
        querystring: PageQuery,
        response: {
          200: Type.Object({ grants: Type.Array(GrantView), nextCursor: NextCursor }),
          ...errorResponses('authenticated'),
        },
      },
      handler: async (request) => {
        const { items, nextCursor } = await grants.listMine(ctxOf(request), request.query)
        return { grants: items, nextCursor }
      },
    })

    app.get('/v1/operator/grants/:grantId', {
      config: { access: { permission: 'grants:request' } },
      schema: {
        tags,
        summary: 'Operators: one of your own requests or grants, by id (404 for anyone else’s)',
        params: MyGrantParams,
        response: { 200: GrantView, ...errorResponses('org') },
      },
      handler: async (request) => grants.getMine(ctxOf(request), request.params.grantId),
    })

    app.post('/v1/operator/grants/:grantId/withdraw', {
      config: { access: { permission: 'grants:request' } },
      schema: {
        tags,
        summary: 'Operators: withdraw a request, or give up a grant before it expires',
        params: MyGrantParams,
        response: { 200: GrantView, ...errorResponses('org') },
      },
      handler: async (request) => grants.withdraw(ctxOf(request), request.params.grantId),
    })

    app.get('/v1/orgs/:orgId/grants', {
      config: { access: { permission: 'grants:read' } },
      schema: {
        tags,
        summary: 'Diagnostic access asked of this org: pending, current and past, newest first, a page at a time',
        params: OrgParams,
        querystring: PageQuery,
        response: {
          200: Type.Object({ grants: Type.Array(GrantView), nextCursor: NextCursor }),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => {
        const { items, nextCursor } = await grants.list(ctxOf(request), request.query)
        return { grants: items, nextCursor }
      },
    })

    app.get('/v1/orgs/:orgId/grants/:grantId', {
      config: { access: { permission: 'grants:read' } },
      schema: {
        tags,
        summary: 'One grant',
        params: GrantParams,
        response: { 200: GrantView, ...errorResponses('org') },
      },
      handler: async (request) => grants.get(ctxOf(request), request.params.grantId),
    })

    app.post('/v1/orgs/:orgId/grants/:grantId/approve', {
      config: { access: { permission: 'grants:approve' }, stepUp: true },
      schema: {
        tags,
        summary: 'Approve a request (not your own); with two approvers required it opens at the second',
        params: GrantParams,
        body: Note,
        response: { 200: GrantView, ...errorResponses('org') },
      },
      handler: async (request) => grants.approve(ctxOf(request), request.params.grantId, request.body.note),
    })

    app.post('/v1/orgs/:orgId/grants/:grantId/deny', {
      config: { access: { permission: 'grants:approve' } },
      schema: {
        tags,
        summary: 'Deny a pending request',
        params: GrantParams,
        body: Note,
        response: { 200: GrantView, ...errorResponses('org') },
      },
      handler: async (request) => grants.deny(ctxOf(request), request.params.grantId, request.body.note),
    })

    app.post('/v1/orgs/:orgId/grants/:grantId/revoke', {
      config: { access: { permission: 'grants:revoke' } },
      schema: {
        tags,
        summary: 'End an active grant now: its very next use is refused, whatever session or token carries it',
        params: GrantParams,
        body: Note,
        response: { 200: GrantView, ...errorResponses('org') },
      },
      handler: async (request) => grants.revoke(ctxOf(request), request.params.grantId, request.body.note),
    })

    app.get('/v1/orgs/:orgId/grant-policy', {
      config: { access: { permission: 'org:read' } },
      schema: {
        tags,
        summary: 'The org’s rules for diagnostic access',
        params: OrgParams,
        response: { 200: Policy, ...errorResponses('org') },
      },
      handler: async (request) => grants.policy(ctxOf(request)),
    })

    app.put('/v1/orgs/:orgId/grant-policy', {
      config: { access: { permission: 'org:security' }, stepUp: true },
      schema: {
        tags,
        summary: 'Set the longest grant and how many approvers a grant needs',
        params: OrgParams,
        body: Policy,
        response: { 200: Policy, ...errorResponses('org') },
      },
      handler: async (request) => grants.setPolicy(ctxOf(request), request.body),
    })
  }
}
