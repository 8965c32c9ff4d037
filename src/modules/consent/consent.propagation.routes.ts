import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ctxOf } from '../../http/route-helpers.ts'
import { errorResponses, NextCursor, pageQuery, PageQuery, Strict, Timestamp, Uuid } from '../../http/schemas.ts'
import {
  AcknowledgeBody,
  ACK_PATH,
  PropagationState,
  PropagationView,
  SubjectReferenceBody,
  SubjectReferenceView,
  type ConsentPropagation,
} from './consent.propagation.ts'
import {
  CreateRecipientBody,
  RecipientView,
  UpdateRecipientBody,
  type ConsentRecipients,
} from './consent.recipients.ts'

const BASE = '/v1/orgs/:orgId/consent'
const OrgParams = Type.Object({ orgId: Uuid }, Strict)
const RecipientParams = Type.Object({ orgId: Uuid, recipientId: Uuid }, Strict)
const tags = ['consent']

/**
 * Consent recipients and propagation (docs/consent.md#propagation-to-recipients): the
 * registry (`consent:read`, `consent:manage`; a new or moved destination takes a fresh
 * second factor, as a webhook's does), the list of messages sent to recipients, and the
 * recipients' public acknowledgement (no sign-in: the message's token is the credential).
 */
export function consentPropagationRoutes(deps: {
  recipients: ConsentRecipients
  propagation: ConsentPropagation
  /** Per client address, on the public acknowledgement (429 RATE_LIMITED with Retry-After beyond). */
  ackRateLimitPerMinute: number
}): FastifyPluginAsyncTypebox {
  const { recipients, propagation } = deps
  return async (app) => {
    app.get(`${BASE}/recipients`, {
      config: { access: { permission: 'consent:read' } },
      schema: {
        tags,
        summary: 'The org’s registered consent recipients by name, a page at a time',
        params: OrgParams,
        querystring: PageQuery,
        response: {
          200: Type.Object({ recipients: Type.Array(RecipientView), nextCursor: NextCursor }),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => {
        const { items, nextCursor } = await recipients.list(ctxOf(request), request.query)
        return { recipients: items, nextCursor }
      },
    })

    app.post(`${BASE}/recipients`, {
      // A new destination for the org's data leaves the building: a fresh second factor.
      config: { access: { permission: 'consent:manage' }, stepUp: true },
      schema: {
        tags,
        summary: 'Register a recipient told of withdrawals, objections and erasures; its signing secret is shown once',
        params: OrgParams,
        body: CreateRecipientBody,
        response: {
          201: Type.Composite([
            RecipientView,
            Type.Object({
              secret: Type.String({ description: 'Standard Webhooks signing secret (whsec_…), shown only now' }),
            }),
          ]),
          ...errorResponses('org'),
        },
      },
      handler: async (request, reply) => reply.code(201).send(await recipients.create(ctxOf(request), request.body)),
    })

    app.get(`${BASE}/recipients/:recipientId`, {
      config: { access: { permission: 'consent:read' } },
      schema: {
        tags,
        summary: 'One consent recipient',
        params: RecipientParams,
        response: { 200: RecipientView, ...errorResponses('org') },
      },
      handler: async (request) => recipients.get(ctxOf(request), request.params.recipientId),
    })

    app.patch(`${BASE}/recipients/:recipientId`, {
      // It can move the destination: a fresh second factor, as registering one takes.
      config: { access: { permission: 'consent:manage' }, stepUp: true },
      schema: {
        tags,
        summary: 'Change a recipient’s endpoint, public key or stop-processing deadline (its name stays)',
        params: RecipientParams,
        body: UpdateRecipientBody,
        response: { 200: RecipientView, ...errorResponses('org') },
      },
      handler: async (request) => recipients.update(ctxOf(request), request.params.recipientId, request.body),
    })

    app.post(`${BASE}/recipients/:recipientId/secret/rotate`, {
      // A new credential for the org's outbound data: a fresh second factor, as registering takes.
      config: { access: { permission: 'consent:manage' }, stepUp: true },
      schema: {
        tags,
        summary: 'Replace a recipient’s signing secret; the new one is shown once, the old one signs too for 24 hours',
        description:
          'The new secret becomes the vault’s current version of the recipient’s secret. Until `previousSecretUntil` (24 hours), every message’s `webhook-signature` carries two space-delimited signatures, `v1,<under the new> v1,<under the previous>` (Standard Webhooks): a receiver accepts a message when any of them verifies. Audited as `consent.recipient.secret.rotate` (the version numbers, never the secret).',
        params: RecipientParams,
        response: {
          200: Type.Composite([
            RecipientView,
            Type.Object({
              secret: Type.String({
                description: 'the new Standard Webhooks signing secret (whsec_…), shown only now',
              }),
              previousSecretUntil: Timestamp,
            }),
          ]),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => recipients.rotateSecret(ctxOf(request), request.params.recipientId),
    })

    app.delete(`${BASE}/recipients/:recipientId`, {
      config: { access: { permission: 'consent:manage' } },
      schema: {
        tags,
        summary: 'Remove a recipient no purpose names any more (its signing secret goes with it)',
        params: RecipientParams,
        response: { 204: Type.Null(), ...errorResponses('org') },
      },
      handler: async (request, reply) => {
        await recipients.remove(ctxOf(request), request.params.recipientId)
        return reply.code(204).send(null)
      },
    })

    app.post(`${BASE}/recipients/:recipientId/subject-references`, {
      // As reading the recipients: the reference says nothing without Custodian's key.
      config: { access: { permission: 'consent:read' } },
      schema: {
        tags,
        summary:
          'A subject’s reference as this recipient’s messages name it, to hand over with the data shared (the subject id goes in the body, never a URL)',
        params: RecipientParams,
        body: SubjectReferenceBody,
        response: { 200: SubjectReferenceView, ...errorResponses('org') },
      },
      handler: async (request) =>
        propagation.subjectReference(ctxOf(request), request.params.recipientId, request.body.subjectId),
    })

    app.get(`${BASE}/propagations`, {
      config: { access: { permission: 'consent:read' } },
      schema: {
        tags,
        summary:
          'Messages sent to recipients (newest first; pending and overdue by deadline, acknowledged latest first), a page at a time',
        params: OrgParams,
        querystring: pageQuery({ state: Type.Optional(PropagationState) }),
        response: {
          200: Type.Object({ propagations: Type.Array(PropagationView), nextCursor: NextCursor }),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => {
        const { items, nextCursor } = await propagation.list(ctxOf(request), request.query)
        return { propagations: items, nextCursor }
      },
    })

    app.post(ACK_PATH, {
      // No sign-in: each address gets its own budget, as the other public routes do.
      config: { access: { public: true }, rateLimit: { max: deps.ackRateLimitPerMinute, timeWindow: '1 minute' } },
      schema: {
        tags,
        summary:
          'A recipient acknowledges a message (its token; signed over the message id when it registered a key). 404 for any other token; 429 past the per-address limit',
        body: AcknowledgeBody,
        response: { 200: PropagationView, ...errorResponses('public') },
      },
      handler: async (request) => propagation.acknowledge(request.body, request.meta),
    })
  }
}
