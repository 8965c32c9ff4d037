import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ctxOf } from '../../http/route-helpers.ts'
import {
  Email,
  errorResponses,
  NextCursor,
  OrgParams,
  PageQuery,
  pageQuery,
  Strict,
  Timestamp,
  Uuid,
} from '../../http/schemas.ts'
import { SubjectId } from './records.routes.ts'
import type { RequestsService } from './requests.service.ts'
import { AuditEventRefSchema, AuditReceiptSchema } from '../audit/audit.schemas.ts'

const CertificateSummary = Type.Object({
  id: Uuid,
  requestId: Uuid,
  issuedAt: Timestamp,
  jws: Type.String({ description: 'compact JWS (EdDSA), verifiable offline with the keys at /v1/audit/keys' }),
  auditEvent: Type.Union([AuditEventRefSchema, Type.Null()], {
    description: 'the audit event that records the issuance, named in the certificate (null: issued before receipts)',
  }),
})
const tags = ['privacy requests']
const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()])
const Json = Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()])
const Kind = Type.Union([
  Type.Literal('access'),
  Type.Literal('rectify'),
  Type.Literal('erase'),
  Type.Literal('restrict'),
  Type.Literal('lift_restriction'),
])
const Verification = Type.Object(
  {
    method: Type.String({
      minLength: 1,
      maxLength: 100,
      description: 'how the requester’s identity was verified, e.g. signed-in-account, email-link, document',
    }),
    note: Type.Optional(Type.String({ maxLength: 1000 })),
  },
  Strict,
)
const Status = Type.Union([
  Type.Literal('open'),
  Type.Literal('in_progress'),
  Type.Literal('completed'),
  Type.Literal('rejected'),
])
const RequestView = Type.Object({
  id: Uuid,
  kind: Kind,
  status: Status,
  subjectId: Nullable(Type.String()),
  requester: Json,
  receivedAt: Timestamp,
  dueAt: Timestamp,
  overdue: Type.Boolean(),
  assignee: Nullable(Uuid),
  verification: Json,
  result: Json,
  completedAt: Nullable(Timestamp),
  history: Type.Optional(
    Type.Array(
      Type.Object({
        at: Timestamp,
        actor: Type.String(),
        event: Type.String(),
        details: Type.Record(Type.String(), Type.Unknown()),
      }),
    ),
  ),
  people: Type.Optional(
    Type.Record(Type.String(), Type.String(), {
      description:
        'with the history: the emails of this org’s members the request names (assignee, verifier, history), by user id; former members and other actors are left out',
    }),
  ),
  subjectSalt: Type.Optional(
    Type.String({
      description:
        'erase: shown once — hand it to the data subject with the certificate; it proves the certificate names them',
    }),
  ),
  exportId: Type.Optional(Uuid),
})
const NewRequest = Type.Object(
  {
    kind: Kind,
    subjectId: SubjectId,
    requester: Type.Optional(
      Type.Object(
        {
          name: Type.Optional(Type.String({ maxLength: 200 })),
          email: Type.Optional(Email),
          channel: Type.Optional(Type.String({ maxLength: 100 })),
        },
        Strict,
      ),
    ),
    verification: Type.Optional(Verification),
  },
  Strict,
)
const RequestParams = Type.Object({ orgId: Uuid, requestId: Uuid }, Strict)
const Policy = Type.Object(
  {
    responseHours: Type.Integer({
      minimum: 1,
      maximum: 2160,
      description: 'requests are due this long after receipt (default 72)',
    }),
    exportHours: Type.Integer({
      minimum: 1,
      maximum: 720,
      description: 'an access export stays downloadable this long (default 72)',
    }),
  },
  Strict,
)
export function requestsRoutes(deps: { requests: RequestsService }): FastifyPluginAsyncTypebox {
  const { requests } = deps
  return async (app) => {
    app.post('/v1/orgs/:orgId/privacy-requests', {
      config: { access: { permission: 'privacy:manage' } },
      schema: {
        tags,
        summary: 'Record a data-subject request (P7.1); due 72 hours after receipt unless the org says otherwise',
        params: OrgParams,
        body: NewRequest,
        response: { 201: RequestView, ...errorResponses('org') },
      },
      handler: async (request, reply) => reply.code(201).send(await requests.create(ctxOf(request), request.body)),
    })

    app.get('/v1/orgs/:orgId/privacy-requests', {
      config: { access: { permission: 'privacy:read' } },
      schema: {
        tags,
        summary: 'Data-subject requests, newest first, a page at a time; with `status`, only those of that status',
        params: OrgParams,
        querystring: pageQuery({
          status: Type.Optional(
            Type.Union(Status.anyOf, {
              description: 'only the requests of this status (in_progress: an erasure waiting for its certificate)',
            }),
          ),
        }),
        response: {
          200: Type.Object({ requests: Type.Array(RequestView), nextCursor: NextCursor }),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => {
        const { status, ...page } = request.query
        const { items, nextCursor } = await requests.list(ctxOf(request), page, status)
        return { requests: items, nextCursor }
      },
    })

    app.get('/v1/orgs/:orgId/privacy-requests/:requestId', {
      config: { access: { permission: 'privacy:read' } },
      schema: {
        tags,
        summary: 'A request with its history',
        params: RequestParams,
        response: { 200: RequestView, ...errorResponses('org') },
      },
      handler: async (request) => requests.get(ctxOf(request), request.params.requestId),
    })

    app.post('/v1/orgs/:orgId/privacy-requests/:requestId/assign', {
      config: { access: { permission: 'privacy:manage' } },
      schema: {
        tags,
        summary: 'Assign a request to a member',
        params: RequestParams,
        body: Type.Object({ userId: Uuid }, Strict),
        response: { 200: RequestView, ...errorResponses('org') },
      },
      handler: async (request) => requests.assign(ctxOf(request), request.params.requestId, request.body.userId),
    })

    app.post('/v1/orgs/:orgId/privacy-requests/:requestId/verify', {
      config: { access: { permission: 'privacy:manage' } },
      schema: {
        tags,
        summary: 'Record how the requester’s identity was verified (needed before completing)',
        params: RequestParams,
        body: Verification,
        response: { 200: RequestView, ...errorResponses('org') },
      },
      handler: async (request) => requests.verify(ctxOf(request), request.params.requestId, request.body),
    })

    app.post('/v1/orgs/:orgId/privacy-requests/:requestId/complete', {
      config: { access: { permission: 'privacy:manage' }, stepUp: true },
      schema: {
        tags,
        summary:
          'Do what the request asks: export (access), apply corrections (rectify), erase everywhere and certify (erase), restrict or lift',
        params: RequestParams,
        body: Type.Object(
          {
            corrections: Type.Optional(
              Type.Array(Type.Object({ recordId: Uuid, payload: Type.Unknown() }, Strict), { maxItems: 100 }),
            ),
          },
          Strict,
        ),
        response: { 200: RequestView, ...errorResponses('org') },
      },
      handler: async (request) => requests.complete(ctxOf(request), request.params.requestId, request.body),
    })

    app.post('/v1/orgs/:orgId/privacy-requests/:requestId/reject', {
      config: { access: { permission: 'privacy:manage' } },
      schema: {
        tags,
        summary: 'Reject a request (e.g. the identity could not be verified), with the reason',
        params: RequestParams,
        body: Type.Object({ reason: Type.String({ minLength: 3, maxLength: 1000 }) }, Strict),
        response: { 200: RequestView, ...errorResponses('org') },
      },
      handler: async (request) => requests.reject(ctxOf(request), request.params.requestId, request.body.reason),
    })

    app.get('/v1/orgs/:orgId/privacy-exports/:exportId', {
      config: { access: { permission: 'privacy:export' } },
      schema: {
        tags,
        summary: 'Download an access export until it expires (P7.6); every download is audited with its destination',
        params: Type.Object({ orgId: Uuid, exportId: Uuid }, Strict),
        response: {
          200: Type.Record(Type.String(), Type.Unknown()),
          ...errorResponses('org'),
          410: Type.Ref('Problem'),
        },
      },
      handler: async (request, reply) => {
        const file = await requests.download(ctxOf(request), request.params.exportId)
        reply.header('content-disposition', `attachment; filename="${file.filename}"`)
        return reply.type('application/json').send(file.body)
      },
    })

    app.get('/v1/orgs/:orgId/privacy-policy', {
      config: { access: { permission: 'privacy:read' } },
      schema: {
        tags,
        summary: 'Response deadline and export lifetime',
        params: OrgParams,
        response: { 200: Policy, ...errorResponses('org') },
      },
      handler: async (request) => requests.policy(ctxOf(request)),
    })

    app.put('/v1/orgs/:orgId/privacy-policy', {
      config: { access: { permission: 'privacy:manage' } },
      schema: {
        tags,
        summary: 'Set the response deadline and export lifetime',
        params: OrgParams,
        body: Policy,
        response: { 200: Policy, ...errorResponses('org') },
      },
      handler: async (request) => requests.setPolicy(ctxOf(request), request.body),
    })

    app.get('/v1/orgs/:orgId/erasure-certificates', {
      config: { access: { permission: 'privacy:read' } },
      schema: {
        tags,
        summary:
          'Signed erasure certificates (P7.2): compact JWS, EdDSA, verifiable offline with the keys at /v1/audit/keys; newest first, a page at a time',
        params: OrgParams,
        querystring: PageQuery,
        response: {
          200: Type.Object({ certificates: Type.Array(CertificateSummary), nextCursor: NextCursor }),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => {
        const { items, nextCursor } = await requests.certificates(ctxOf(request), request.query)
        return { certificates: items, nextCursor }
      },
    })

    app.get('/v1/orgs/:orgId/erasure-certificates/:certificateId', {
      config: { access: { permission: 'privacy:read' } },
      schema: {
        tags,
        summary: 'One erasure certificate with the receipt of its audit event (P7.2, docs/privacy.md)',
        description:
          'The receipt proves offline that the certificate’s issuance is in the org’s tamper-evident audit log (`custodian verify-certificate --log-key`); null until a signed checkpoint covers the event (within a checkpoint interval), and for certificates issued before receipts.',
        params: Type.Object({ orgId: Uuid, certificateId: Uuid }, Strict),
        response: {
          200: Type.Composite([
            CertificateSummary,
            Type.Object({ receipt: Type.Union([AuditReceiptSchema, Type.Null()]) }),
          ]),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => {
        const found = await requests.certificate(ctxOf(request), request.params.certificateId)
        return {
          ...found,
          receipt: found.receipt === null ? null : { ...found.receipt, event: { ...found.receipt.event } },
        }
      },
    })
  }
}
