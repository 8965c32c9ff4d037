import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ctxOf } from '../../http/route-helpers.ts'
import { errorResponses, NextCursor, OrgParams, PageQuery, Strict, Timestamp, Uuid } from '../../http/schemas.ts'
import type { RecordsService } from './records.service.ts'
import type { RetentionService } from './retention.service.ts'

const DataClass = Type.String({
  pattern: '^[a-z][a-z0-9_]{0,39}$',
  description: 'e.g. customer_data, contact, usage, metadata',
})
export const SubjectId = Type.String({
  minLength: 1,
  maxLength: 200,
  pattern: '\\S',
  description: 'the host application’s id of the data subject; stored only as an HMAC and inside sealed records',
})
const Tags = Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 20 })
const RecordView = Type.Object({
  id: Uuid,
  subjectId: Type.String(),
  dataClass: Type.String(),
  tags: Type.Array(Type.String()),
  payload: Type.Unknown(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
})
const RecordParams = Type.Object({ orgId: Uuid, recordId: Uuid }, Strict)
const ClassParams = Type.Object({ orgId: Uuid, dataClass: DataClass }, Strict)
const Policy = Type.Object({
  dataClass: Type.String(),
  retainSeconds: Type.Union([Type.Integer(), Type.Null()]),
  source: Type.Union([Type.Literal('default'), Type.Literal('org')]),
})
const Proof = Type.Object({
  dataClass: Type.String(),
  retainSeconds: Type.Union([Type.Integer(), Type.Null()]),
  purged: Type.Integer(),
  remaining: Type.Integer(),
  oldestRemainingAgeSeconds: Type.Union([Type.Integer(), Type.Null()]),
})

export function recordsRoutes(deps: {
  records: RecordsService
  retention: RetentionService
}): FastifyPluginAsyncTypebox {
  const { records, retention } = deps
  return async (app) => {
    app.post('/v1/orgs/:orgId/records', {
      config: { access: { permission: 'records:write' } },
      schema: {
        tags: ['records'],
        summary: 'Store a customer data record, sealed with its data subject’s key',
        params: OrgParams,
        body: Type.Object(
          { subjectId: SubjectId, dataClass: DataClass, payload: Type.Unknown(), tags: Type.Optional(Tags) },
          Strict,
        ),
        response: { 201: RecordView, ...errorResponses('org') },
      },
      handler: async (request, reply) => reply.code(201).send(await records.put(ctxOf(request), request.body)),
    })

    // A search by body, not by URL: subject ids are personal data and URLs are logged.
    app.post('/v1/orgs/:orgId/records/search', {
      config: { access: { permission: 'records:read' } },
      schema: {
        tags: ['records'],
        summary: 'A data subject’s records (refused while the subject’s processing is restricted)',
        params: OrgParams,
        body: Type.Object({ subjectId: SubjectId, dataClass: Type.Optional(DataClass) }, Strict),
        response: { 200: Type.Object({ records: Type.Array(RecordView) }), ...errorResponses('org') },
      },
      handler: async (request) => ({ records: await records.search(ctxOf(request), request.body) }),
    })

    app.get('/v1/orgs/:orgId/records/:recordId', {
      config: { access: { permission: 'records:read' } },
      schema: {
        tags: ['records'],
        summary: 'One record',
        params: RecordParams,
        response: { 200: RecordView, ...errorResponses('org') },
      },
      handler: async (request) => records.get(ctxOf(request), request.params.recordId),
    })

    app.put('/v1/orgs/:orgId/records/:recordId', {
      config: { access: { permission: 'records:write' } },
      schema: {
        tags: ['records'],
        summary: 'Replace a record’s payload (and tags)',
        params: RecordParams,
        body: Type.Object({ payload: Type.Unknown(), tags: Type.Optional(Tags) }, Strict),
        response: { 200: RecordView, ...errorResponses('org') },
      },
      handler: async (request) => records.update(ctxOf(request), request.params.recordId, request.body),
    })

    app.delete('/v1/orgs/:orgId/records/:recordId', {
      config: { access: { permission: 'records:delete' } },
      schema: {
        tags: ['records'],
        summary: 'Delete a record',
        params: RecordParams,
        response: { 204: Type.Null(), ...errorResponses('org') },
      },
      handler: async (request, reply) => {
        await records.remove(ctxOf(request), request.params.recordId)
        return reply.code(204).send(null)
      },
    })

    // Whole, not paged (issue 20): the default classes and those an admin set a policy for.
    app.get('/v1/orgs/:orgId/retention', {
      config: { access: { permission: 'privacy:read' } },
      schema: {
        tags: ['retention'],
        summary: 'How long each data class is kept (P7.3): the org’s settings over the defaults',
        params: OrgParams,
        response: { 200: Type.Object({ policies: Type.Array(Policy) }), ...errorResponses('org') },
      },
      handler: async (request) => ({ policies: await retention.policies(ctxOf(request)) }),
    })

    app.put('/v1/orgs/:orgId/retention/:dataClass', {
      config: { access: { permission: 'retention:manage' } },
      schema: {
        tags: ['retention'],
        summary: 'Keep a data class for this long (null: until erased)',
        params: ClassParams,
        body: Type.Object(
          { retainSeconds: Type.Union([Type.Integer({ minimum: 60, maximum: 315_360_000 }), Type.Null()]) },
          Strict,
        ),
        response: { 200: Policy, ...errorResponses('org') },
      },
      handler: async (request) =>
        retention.setPolicy(ctxOf(request), request.params.dataClass, request.body.retainSeconds),
    })

    app.delete('/v1/orgs/:orgId/retention/:dataClass', {
      config: { access: { permission: 'retention:manage' } },
      schema: {
        tags: ['retention'],
        summary: 'Return a data class to the default period',
        params: ClassParams,
        response: { 200: Policy, ...errorResponses('org') },
      },
      handler: async (request) => retention.resetPolicy(ctxOf(request), request.params.dataClass),
    })

    app.get('/v1/orgs/:orgId/retention/runs', {
      config: { access: { permission: 'privacy:read' } },
      schema: {
        tags: ['retention'],
        summary:
          'Proof of each purge: per class purged, remaining, age of the oldest remaining; newest first, a page at a time',
        params: OrgParams,
        querystring: PageQuery,
        response: {
          200: Type.Object({
            runs: Type.Array(
              Type.Object({ id: Uuid, ranAt: Timestamp, purged: Type.Integer(), classes: Type.Array(Proof) }),
            ),
            nextCursor: NextCursor,
          }),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => {
        const { items, nextCursor } = await retention.runs(ctxOf(request), request.query)
        return { runs: items, nextCursor }
      },
    })
  }
}
