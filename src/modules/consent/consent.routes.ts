import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ctxOf } from '../../http/route-helpers.ts'
import { errorResponses, PageQuery, Strict, Uuid } from '../../http/schemas.ts'
import type { ConsentService } from './consent.service.ts'
import {
  CheckBody,
  CheckResult,
  CreatePurposeBody,
  DecideObjectionBody,
  NoticeList,
  NoticeView,
  ObjectionList,
  ObjectionQuery,
  ObjectionView,
  PublishNoticeBody,
  PurposeKey,
  PurposeList,
  PurposeView,
  ReconsentList,
  ReconsentQuery,
  RecordEventBody,
  RecordResult,
  UpdatePurposeBody,
  WithdrawBody,
  WithdrawResult,
} from './consent.types.ts'

const BASE = '/v1/orgs/:orgId/consent'
const OrgParams = Type.Object({ orgId: Uuid }, Strict)
const PurposeParams = Type.Object({ orgId: Uuid, purposeKey: PurposeKey }, Strict)
const NoticeParams = Type.Object({ orgId: Uuid, version: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }) }, Strict)
const ObjectionParams = Type.Object({ orgId: Uuid, objectionId: Uuid }, Strict)
const GpcHeaders = Type.Object({
  'sec-gpc': Type.Optional(
    Type.String({
      description:
        'Global Privacy Control as the subject’s browser sent it; `1` applies each purpose’s GPC effect (recorded with method gpc)',
    }),
  ),
})
const tags = ['consent']

/**
 * Consent (docs/consent.md): purposes and notices (`consent:read`, `consent:manage`),
 * consent events and one-step withdrawal (`consent:record`), the check before processing
 * (`consent:check`), and objections under review (`consent:read`, decided with
 * `consent:manage`).
 */
export function consentRoutes(deps: { consent: ConsentService }): FastifyPluginAsyncTypebox {
  const { consent } = deps
  return async (app) => {
    app.get(`${BASE}/purposes`, {
      config: { access: { permission: 'consent:read' } },
      schema: {
        tags,
        summary: 'The org’s purposes of processing by key, a page at a time',
        params: OrgParams,
        querystring: PageQuery,
        response: { 200: PurposeList, ...errorResponses('org') },
      },
      handler: async (request) => {
        const { items, nextCursor } = await consent.listPurposes(ctxOf(request), request.query)
        return { purposes: items, nextCursor }
      },
    })

    app.post(`${BASE}/purposes`, {
      config: { access: { permission: 'consent:manage' } },
      schema: {
        tags,
        summary: 'Declare a purpose with its lawful basis (which never changes afterwards)',
        params: OrgParams,
        body: CreatePurposeBody,
        response: { 201: PurposeView, ...errorResponses('org') },
      },
      handler: async (request, reply) =>
        reply.code(201).send(await consent.createPurpose(ctxOf(request), request.body)),
    })

    app.get(`${BASE}/purposes/:purposeKey`, {
      config: { access: { permission: 'consent:read' } },
      schema: {
        tags,
        summary: 'One purpose',
        params: PurposeParams,
        response: { 200: PurposeView, ...errorResponses('org') },
      },
      handler: async (request) => consent.getPurpose(ctxOf(request), request.params.purposeKey),
    })

    app.patch(`${BASE}/purposes/:purposeKey`, {
      config: { access: { permission: 'consent:manage' } },
      schema: {
        tags,
        summary: 'Change a purpose’s description, recipients, GPC effect or lifetime; its lawful basis cannot switch',
        params: PurposeParams,
        body: UpdatePurposeBody,
        response: { 200: PurposeView, ...errorResponses('org') },
      },
      handler: async (request) => consent.updatePurpose(ctxOf(request), request.params.purposeKey, request.body),
    })

    app.get(`${BASE}/notices`, {
      config: { access: { permission: 'consent:read' } },
      schema: {
        tags,
        summary: 'Notice versions, newest first, without their text',
        params: OrgParams,
        querystring: PageQuery,
        response: { 200: NoticeList, ...errorResponses('org') },
      },
      handler: async (request) => {
        const { items, nextCursor } = await consent.listNotices(ctxOf(request), request.query)
        return { notices: items, nextCursor }
      },
    })

    app.post(`${BASE}/notices`, {
      config: { access: { permission: 'consent:manage' } },
      schema: {
        tags,
        summary: 'Publish the next notice version (immutable from then on), with the purposes it covers',
        params: OrgParams,
        body: PublishNoticeBody,
        response: { 201: NoticeView, ...errorResponses('org') },
      },
      handler: async (request, reply) =>
        reply.code(201).send(await consent.publishNotice(ctxOf(request), request.body)),
    })

    app.get(`${BASE}/notices/:version`, {
      config: { access: { permission: 'consent:read' } },
      schema: {
        tags,
        summary: 'One notice version with its exact text and SHA-256',
        params: NoticeParams,
        response: { 200: NoticeView, ...errorResponses('org') },
      },
      handler: async (request) => consent.getNotice(ctxOf(request), request.params.version),
    })

    app.post(`${BASE}/events`, {
      config: { access: { permission: 'consent:record' } },
      schema: {
        tags,
        summary:
          'Record a consent event (grant, deny, withdraw, expire, object); 201 recorded, 200 the earlier event for a retry',
        params: OrgParams,
        headers: GpcHeaders,
        body: RecordEventBody,
        response: { 200: RecordResult, 201: RecordResult, ...errorResponses('org') },
      },
      handler: async (request, reply) => {
        const gpc = request.headers['sec-gpc']?.trim() === '1'
        const result = await consent.record(ctxOf(request), request.body, { gpc })
        return reply.code(result.status === 'recorded' ? 201 : 200).send(result)
      },
    })

    app.post(`${BASE}/withdraw`, {
      config: { access: { permission: 'consent:record' } },
      schema: {
        tags,
        summary: 'Withdraw consent to one or more purposes in one step; effective on the next check',
        params: OrgParams,
        body: WithdrawBody,
        response: { 200: WithdrawResult, 201: WithdrawResult, ...errorResponses('org') },
      },
      handler: async (request, reply) => {
        const result = await consent.withdraw(ctxOf(request), request.body)
        return reply.code(result.status === 'recorded' ? 201 : 200).send(result)
      },
    })

    app.post(`${BASE}/check`, {
      config: { access: { permission: 'consent:check' } },
      schema: {
        tags,
        summary:
          'May this purpose be processed for this subject now? One check, or up to 100; fails closed, each answer signed',
        params: OrgParams,
        body: CheckBody,
        response: { 200: CheckResult, ...errorResponses('org') },
      },
      handler: async (request) => {
        const body = request.body
        if ('checks' in body) return { decisions: await consent.check(ctxOf(request), body.checks) }
        const [decision] = await consent.check(ctxOf(request), [body])
        return decision
      },
    })

    app.get(`${BASE}/objections`, {
      config: { access: { permission: 'consent:read' } },
      schema: {
        tags,
        summary: 'Objections (Art. 21), newest first, each with its deadline and decision',
        description:
          '`due=pending`: the objections under review, soonest due first; `due=overdue`: those past their due date.',
        params: OrgParams,
        querystring: ObjectionQuery,
        response: { 200: ObjectionList, ...errorResponses('org') },
      },
      handler: async (request) => {
        const { items, nextCursor } = await consent.listObjections(ctxOf(request), request.query)
        return { objections: items, nextCursor }
      },
    })

    app.get(`${BASE}/reconsent`, {
      config: { access: { permission: 'consent:read' } },
      schema: {
        tags,
        summary: 'The subjects of a purpose who must consent again, by keyed reference, with why and since when',
        description:
          '`reason=material_change`: grants under a notice version a material change superseded (counted until `allowedUntil`, the end of the grace period); `reason=lifetime_ended`: grants whose lifetime ended. A page at a time.',
        params: OrgParams,
        querystring: ReconsentQuery,
        response: { 200: ReconsentList, ...errorResponses('org') },
      },
      handler: async (request) => consent.listReconsent(ctxOf(request), request.query),
    })

    app.post(`${BASE}/objections/:objectionId/decide`, {
      config: { access: { permission: 'consent:manage' } },
      schema: {
        tags,
        summary: 'Uphold or reject an objection under review, with the grounds',
        params: ObjectionParams,
        body: DecideObjectionBody,
        response: { 200: ObjectionView, ...errorResponses('org') },
      },
      handler: async (request) => consent.decideObjection(ctxOf(request), request.params.objectionId, request.body),
    })
  }
}
