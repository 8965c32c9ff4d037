import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ctxOf } from '../../http/route-helpers.ts'
import { errorResponses, NextCursor, OrgParams, PageQuery, Strict, Timestamp, Uuid } from '../../http/schemas.ts'
import { AuditEventRefSchema, AuditReceiptSchema } from '../audit/audit.schemas.ts'
import type { OffboardingService } from './offboarding.service.ts'

const tags = ['offboarding']
const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()])
const View = Type.Object({
  orgId: Uuid,
  orgName: Type.String(),
  status: Type.Union([Type.Literal('scheduled'), Type.Literal('cancelled'), Type.Literal('completed')]),
  requestedAt: Timestamp,
  requestedBy: Type.String(),
  requestedByEmail: Type.Union([Type.String(), Type.Null()], {
    description: 'the requester’s email while a member of the org, in the org’s own answers; null in the operators’',
  }),
  scheduledFor: Timestamp,
  cancelledAt: Nullable(Timestamp),
  completedAt: Nullable(Timestamp),
  erased: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  certificate: Nullable(
    Type.String({ description: 'compact JWS (EdDSA), verifiable offline with the keys at /v1/audit/keys' }),
  ),
  auditEvent: Type.Union([AuditEventRefSchema, Type.Null()], {
    description: 'the `org.offboarding.complete` event the certificate names, in the provider’s audit log',
  }),
})

export function offboardingRoutes(deps: { offboarding: OffboardingService }): FastifyPluginAsyncTypebox {
  const { offboarding } = deps
  return async (app) => {
    app.post('/v1/orgs/:orgId/offboarding', {
      config: { access: { permission: 'org:delete' }, stepUp: true },
      schema: {
        tags,
        summary:
          'Have the whole org deleted after a grace period (24 hours by default, cancellable); a signed certificate follows (P7.4)',
        params: OrgParams,
        body: Type.Object(
          {
            confirmName: Type.String({ minLength: 1, maxLength: 200, description: 'the org’s exact name' }),
            graceHours: Type.Optional(Type.Integer({ minimum: 1, maximum: 720 })),
          },
          Strict,
        ),
        response: { 201: View, ...errorResponses('org') },
      },
      handler: async (request, reply) => reply.code(201).send(await offboarding.request(ctxOf(request), request.body)),
    })

    app.get('/v1/orgs/:orgId/offboarding', {
      config: { access: { permission: 'org:read' } },
      schema: {
        tags,
        summary: 'Whether, and when, this org is to be deleted',
        params: OrgParams,
        response: { 200: View, ...errorResponses('org') },
      },
      handler: async (request) => offboarding.get(ctxOf(request)),
    })

    app.delete('/v1/orgs/:orgId/offboarding', {
      config: { access: { permission: 'org:delete' } },
      schema: {
        tags,
        summary: 'Cancel a scheduled deletion',
        params: OrgParams,
        response: { 200: View, ...errorResponses('org') },
      },
      handler: async (request) => offboarding.cancel(ctxOf(request)),
    })

    app.get('/v1/operator/offboardings', {
      config: { access: { permission: 'orgs:list' } },
      schema: {
        tags,
        summary:
          'Operators: every org deletion, scheduled or done, with its certificate; newest first, a page at a time',
        querystring: PageQuery,
        response: {
          200: Type.Object({ offboardings: Type.Array(View), nextCursor: NextCursor }),
          ...errorResponses('authenticated'),
        },
      },
      handler: async (request) => {
        const { items, nextCursor } = await offboarding.listAll(ctxOf(request), request.query)
        return { offboardings: items, nextCursor }
      },
    })

    app.get('/v1/operator/offboardings/:offboardedOrgId', {
      config: { access: { permission: 'orgs:list' } },
      schema: {
        tags,
        summary:
          'Operators: one org’s deletion, its certificate and the receipt of the event the certificate names (P7.4)',
        description:
          'Hand the certificate and the receipt to the former customer: the receipt proves offline that the deletion is in the provider’s tamper-evident audit log (`custodian verify-certificate --log-key`, with the verifier key of the provider org’s log from `GET /v1/audit/keys?org=`). `receipt` is null until a signed checkpoint covers the event.',
        params: Type.Object({ offboardedOrgId: Uuid }, Strict),
        response: {
          200: Type.Composite([View, Type.Object({ receipt: Type.Union([AuditReceiptSchema, Type.Null()]) })]),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => {
        const found = await offboarding.getForOperator(ctxOf(request), request.params.offboardedOrgId)
        return {
          ...found,
          receipt: found.receipt === null ? null : { ...found.receipt, event: { ...found.receipt.event } },
        }
      },
    })
  }
}
