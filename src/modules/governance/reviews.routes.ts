import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ctxOf } from '../../http/route-helpers.ts'
import {
  errorResponses,
  NextCursor,
  OrgParams,
  PageQuery,
  pageQuery,
  RoleName,
  Strict,
  Timestamp,
  Uuid,
} from '../../http/schemas.ts'
import type { ReviewsService } from './reviews.service.ts'

const tags = ['access reviews']
const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()])
const Decision = Type.Union([Type.Literal('certify'), Type.Literal('revoke'), Type.Literal('reduce')])
const ItemView = Type.Object({
  id: Uuid,
  kind: Type.Union([
    Type.Literal('member'),
    Type.Literal('service_account'),
    Type.Literal('api_token'),
    Type.Literal('grant'),
  ]),
  subjectId: Type.String(),
  label: Type.String(),
  role: Nullable(Type.String()),
  permissions: Type.Array(Type.String()),
  usedPermissions: Type.Array(Type.String({ description: 'used in the last 90 days' })),
  suggestedRole: Nullable(Type.String()),
  lastActivityAt: Nullable(Timestamp),
  mfaEnabled: Type.Union([Type.Boolean(), Type.Null()]),
  inactive: Type.Boolean(),
  details: Type.Record(Type.String(), Type.Unknown(), {
    description:
      'per kind: a member’s `suspended`, `joinedAt`, `secretPaths`; a service account’s `secretPaths`; a token’s holder, `scoped`, own `secretPaths`, `expiresAt`; a grant’s reason, expiry, secret ids. `secretPaths` null: every secret',
  }),
  holderEmail: Nullable(
    Type.String({ description: 'an API token’s holder by email, when a member of the org holds it; else null' }),
  ),
  allowedDecisions: Type.Array(Decision, {
    description:
      'the decisions the caller may record on this item now, as POST …/decision rules them: none once decided, in a closed review or without reviews:decide; on your own access none while another member may decide it, else certify only; reduce for members and service accounts',
  }),
  decision: Type.Union([Decision, Type.Null()]),
  reduceTo: Nullable(Type.String()),
  decidedBy: Nullable(Type.String()),
  decidedByEmail: Nullable(Type.String({ description: 'the decider’s email, when a member of the org' })),
  decidedAt: Nullable(Timestamp),
  note: Nullable(Type.String()),
  outcome: Nullable(Type.String({ description: 'what the decision did' })),
  selfCertified: Type.Boolean({
    description: 'decided by the principal it is about, because nobody else in the org could decide it',
  }),
})
const ReviewView = Type.Object({
  id: Uuid,
  status: Type.Union([Type.Literal('open'), Type.Literal('closed')]),
  startedAt: Timestamp,
  dueAt: Timestamp,
  startedBy: Type.String(),
  startedByEmail: Nullable(Type.String({ description: 'the starter’s email, when a member of the org' })),
  closedAt: Nullable(Timestamp),
  closedBy: Nullable(Type.String()),
  closedByEmail: Nullable(Type.String({ description: 'the closer’s email, when a member of the org' })),
  overdue: Type.Boolean(),
  summary: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  itemCounts: Type.Object(
    {
      total: Type.Integer({ description: 'items: one per principal with access when the campaign started' }),
      decided: Type.Integer(),
      pending: Type.Integer({ description: 'undecided items' }),
    },
    { description: 'the items themselves: GET …/access-reviews/{reviewId}/items' },
  ),
})
const Policy = Type.Object(
  {
    cadenceDays: Type.Integer({
      minimum: 7,
      maximum: 366,
      description: 'a new campaign this long after the last (91: quarterly, the default)',
    }),
    windowDays: Type.Integer({ minimum: 1, maximum: 90, description: 'days reviewers have to decide (default 14)' }),
    onOverdue: Type.Union([Type.Literal('remind'), Type.Literal('revoke')], {
      description: 'undecided items at the due date: remind daily (default), or revoke',
    }),
    inactiveDays: Type.Integer({
      minimum: 7,
      maximum: 365,
      description: 'no activity for this long flags an item inactive (default 90)',
    }),
  },
  Strict,
)
const ReviewParams = Type.Object({ orgId: Uuid, reviewId: Uuid }, Strict)
const ItemParams = Type.Object({ orgId: Uuid, reviewId: Uuid, itemId: Uuid }, Strict)
const DecideBody = Type.Object(
  { decision: Decision, role: Type.Optional(RoleName), note: Type.Optional(Type.String({ maxLength: 1000 })) },
  Strict,
)
const Entry = Type.Object({
  kind: Type.Union([Type.Literal('member'), Type.Literal('service_account')]),
  id: Uuid,
  label: Type.String(),
  role: Type.String(),
  secretPaths: Type.Union([Type.Array(Type.String()), Type.Null()], {
    description: 'secret path patterns the role reaches (docs/secret-paths.md); null: every secret',
  }),
  granted: Type.Array(Type.String()),
  used: Type.Array(Type.String()),
  unused: Type.Array(Type.String()),
  suggestedRole: Nullable(Type.String()),
  suggestRemoval: Type.Boolean(),
  lastActivityAt: Nullable(Timestamp),
  reviewItem: Type.Union(
    [
      Type.Object({
        reviewId: Uuid,
        itemId: Uuid,
      }),
      Type.Null(),
    ],
    {
      description:
        'the principal’s undecided item in the org’s open access review, where the suggestion is decided in one step (POST …/access-reviews/{reviewId}/items/{itemId}/decision); null when no review is open, it does not list the principal, the item is decided, or the caller lacks reviews:read',
    },
  ),
})

export function reviewsRoutes(deps: { reviews: ReviewsService }): FastifyPluginAsyncTypebox {
  const { reviews } = deps
  return async (app) => {
    app.get('/v1/orgs/:orgId/access-reviews', {
      config: { access: { permission: 'reviews:read' } },
      schema: {
        tags,
        summary: 'Access reviews of the org, open and finished, newest first, a page at a time (P2.5)',
        params: OrgParams,
        querystring: PageQuery,
        response: {
          200: Type.Object({ reviews: Type.Array(ReviewView), nextCursor: NextCursor }),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => {
        const { items, nextCursor } = await reviews.list(ctxOf(request), request.query)
        return { reviews: items, nextCursor }
      },
    })

    app.post('/v1/orgs/:orgId/access-reviews', {
      config: { access: { permission: 'reviews:manage' } },
      schema: {
        tags,
        summary: 'Start an access review now (one open at a time); the schedule starts them on its own',
        params: OrgParams,
        response: { 201: ReviewView, ...errorResponses('org') },
      },
      handler: async (request, reply) => reply.code(201).send(await reviews.start(ctxOf(request))),
    })

    app.get('/v1/orgs/:orgId/access-reviews/:reviewId', {
      config: { access: { permission: 'reviews:read' } },
      schema: {
        tags,
        summary: 'A review, with how many of its items are decided and pending (the items: …/items)',
        params: ReviewParams,
        response: { 200: ReviewView, ...errorResponses('org') },
      },
      handler: async (request) => reviews.get(ctxOf(request), request.params.reviewId),
    })

    app.get('/v1/orgs/:orgId/access-reviews/:reviewId/items', {
      config: { access: { permission: 'reviews:read' } },
      schema: {
        tags,
        summary:
          'A review’s items and their decisions, by kind then id, a page at a time; decision=pending: the undecided ones only',
        params: ReviewParams,
        querystring: pageQuery({
          decision: Type.Optional(Type.Literal('pending', { description: 'only items not decided yet' })),
        }),
        response: {
          200: Type.Object({ items: Type.Array(ItemView), nextCursor: NextCursor }),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => {
        const { decision, ...page } = request.query
        return reviews.items(ctxOf(request), request.params.reviewId, page, { decision })
      },
    })

    app.post('/v1/orgs/:orgId/access-reviews/:reviewId/items/:itemId/decision', {
      config: { access: { permission: 'reviews:decide' }, stepUp: true },
      schema: {
        tags,
        summary:
          'Certify, revoke (deprovisions at once) or reduce (a member’s or service account’s role) one item; never your own',
        params: ItemParams,
        body: DecideBody,
        response: { 200: ItemView, ...errorResponses('org') },
      },
      handler: async (request) =>
        reviews.decide(ctxOf(request), request.params.reviewId, request.params.itemId, request.body),
    })

    app.post('/v1/orgs/:orgId/access-reviews/:reviewId/close', {
      config: { access: { permission: 'reviews:manage' } },
      schema: {
        tags,
        summary: 'Close a review whose items are all decided; it stays as evidence',
        params: ReviewParams,
        response: { 200: ReviewView, ...errorResponses('org') },
      },
      handler: async (request) => reviews.close(ctxOf(request), request.params.reviewId),
    })

    app.get('/v1/orgs/:orgId/access-review-policy', {
      config: { access: { permission: 'org:read' } },
      schema: {
        tags,
        summary: 'How often reviews run and what happens when one is overdue',
        params: OrgParams,
        response: { 200: Policy, ...errorResponses('org') },
      },
      handler: async (request) => reviews.policy(ctxOf(request)),
    })

    app.put('/v1/orgs/:orgId/access-review-policy', {
      config: { access: { permission: 'org:security' }, stepUp: true },
      schema: {
        tags,
        summary: 'Set the review cadence, window, overdue policy and inactivity threshold',
        params: OrgParams,
        body: Policy,
        response: { 200: Policy, ...errorResponses('org') },
      },
      handler: async (request) => reviews.setPolicy(ctxOf(request), request.body),
    })

    app.get('/v1/orgs/:orgId/least-privilege', {
      config: { access: { permission: 'access:report' } },
      schema: {
        tags,
        summary:
          'Permissions granted against permissions used in the last 90 days, with a narrower role where one would do (P2.3); members in join order, then service accounts in creation order, a page at a time (a page fills across the boundary)',
        params: OrgParams,
        querystring: PageQuery,
        response: {
          200: Type.Object({
            windowDays: Type.Integer(),
            generatedAt: Timestamp,
            principals: Type.Array(Entry),
            nextCursor: NextCursor,
          }),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => reviews.leastPrivilege(ctxOf(request), request.query),
    })
  }
}
