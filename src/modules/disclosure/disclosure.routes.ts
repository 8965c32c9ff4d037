import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import type { Config } from '../../config.ts'
import { AppError } from '../../errors.ts'
import { ctxOf } from '../../http/route-helpers.ts'
import { Email, errorResponses, Name, NextCursor, pageQuery, Strict, Timestamp, Uuid } from '../../http/schemas.ts'
import type { PageLimits } from './disclosure.pages.ts'
import type { ReportsService } from './reports.service.ts'
import { POLICY_PATH, renderPolicy, type SecurityTxt } from './security-txt.ts'

const Severity = Type.Union([
  Type.Literal('low'),
  Type.Literal('medium'),
  Type.Literal('high'),
  Type.Literal('critical'),
])
const TeamStatus = Type.Union([
  Type.Literal('triaged'),
  Type.Literal('fixing'),
  Type.Literal('resolved'),
  Type.Literal('rejected'),
  Type.Literal('duplicate'),
])
const Status = Type.Union([Type.Literal('received'), Type.Literal('acknowledged'), TeamStatus])
const Message = Type.String({ minLength: 1, maxLength: 10_000, pattern: '\\S' })
const Attachment = Type.Object(
  {
    filename: Type.String({
      minLength: 1,
      maxLength: 120,
      pattern: '^[A-Za-z0-9_][A-Za-z0-9._ -]*$',
      description: 'letters, digits, dot, dash, underscore, space; no path',
    }),
    contentType: Type.String({
      maxLength: 100,
      pattern: '^[a-z]+/[a-z0-9.+-]+$',
      description: 'e.g. text/plain, image/png; downloads are always served as attachments',
    }),
    data: Type.String({ description: 'base64 (RFC 4648 §4)' }),
  },
  Strict,
)
export const SubmitBody = Type.Object(
  {
    title: Name,
    location: Type.String({
      minLength: 1,
      maxLength: 2000,
      pattern: '\\S',
      description: 'where: URL, endpoint, component, version',
    }),
    impact: Type.String({ minLength: 1, maxLength: 10_000, pattern: '\\S' }),
    steps: Type.String({ minLength: 1, maxLength: 50_000, pattern: '\\S', description: 'how to reproduce it' }),
    severity: Type.Optional(Severity),
    reporter: Type.Optional(
      Type.Object(
        {
          name: Type.Optional(Name),
          email: Type.Optional(Email),
          credit: Type.Optional(Type.Boolean({ description: 'to be named in acknowledgments' })),
        },
        Strict,
      ),
    ),
    attachments: Type.Optional(Type.Array(Attachment, { maxItems: 5 })),
  },
  Strict,
)
const Update = Type.Object({
  at: Timestamp,
  from: Type.Union([Type.Literal('team'), Type.Literal('reporter')]),
  status: Type.Union([Status, Type.Null()]),
  message: Type.Union([Type.String(), Type.Null()]),
})
const ReporterView = Type.Object({
  reference: Type.String(),
  status: Status,
  receivedAt: Timestamp,
  acknowledgementDueAt: Timestamp,
  acknowledgedAt: Type.Union([Timestamp, Type.Null()]),
  closedAt: Type.Union([Timestamp, Type.Null()]),
  updates: Type.Array(Update),
})
const Summary = Type.Object({
  id: Uuid,
  reference: Type.String(),
  status: Status,
  severity: Type.Union([Severity, Type.Null()]),
  reportedSeverity: Type.Union([Severity, Type.Null()]),
  title: Type.String(),
  receivedAt: Timestamp,
  acknowledgementDueAt: Timestamp,
  acknowledgedAt: Type.Union([Timestamp, Type.Null()]),
  overdue: Type.Boolean(),
  businessDaysLeft: Type.Union([Type.Integer(), Type.Null()], {
    description:
      'whole business days to the deadline, in the calendar it is counted in; null once acknowledged or overdue',
  }),
  closedAt: Type.Union([Timestamp, Type.Null()]),
})
const ReportView = Type.Composite([
  Summary,
  Type.Object({
    location: Type.String(),
    impact: Type.String(),
    steps: Type.String(),
    reporter: Type.Union([
      Type.Object({
        name: Type.Union([Type.String(), Type.Null()]),
        email: Type.Union([Type.String(), Type.Null()]),
        credit: Type.Boolean(),
      }),
      Type.Null(),
    ]),
    reporterErased: Type.Boolean({ description: 'the reporter had their contact erased (P7.1)' }),
    attachments: Type.Array(
      Type.Object({
        idx: Type.Integer(),
        filename: Type.String(),
        contentType: Type.String(),
        size: Type.Integer(),
        sha256: Type.String(),
      }),
    ),
    messages: Type.Array(
      Type.Object({
        id: Uuid,
        at: Timestamp,
        from: Type.Union([Type.Literal('team'), Type.Literal('reporter')]),
        by: Type.Union([Uuid, Type.Null()]),
        byEmail: Type.Union([Type.String(), Type.Null()], { description: 'the operator who wrote it' }),
        status: Type.Union([Status, Type.Null()]),
        internal: Type.Boolean(),
        message: Type.Union([Type.String(), Type.Null()]),
      }),
    ),
  }),
])
const ReportParams = Type.Object({ reportId: Uuid }, Strict)
const HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/

function originOf(request: FastifyRequest): string {
  if (!HOST.test(request.host)) throw new AppError('BAD_REQUEST', 'the Host header is not a host name')
  return `https://${request.host}`
}

function bearer(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization
  return typeof header === 'string' ? /^Bearer\s+(\S{1,512})$/i.exec(header)?.[1] : undefined
}

/** The public side: security.txt, the policy, the intake, and the reporter's status. */
export function disclosurePublicRoutes(deps: {
  reports: ReportsService
  securityTxt: SecurityTxt
  config: Pick<Config, 'publicUrl' | 'disclosure'>
  /** Per-address limits, shared with the report pages (disclosure.pages.ts): one bucket whichever way a report comes. */
  limits: PageLimits
  clock: () => Date
}): FastifyPluginAsyncTypebox {
  const { reports, securityTxt, config, limits } = deps
  const tags = ['disclosure']
  return async (app) => {
    app.get('/.well-known/security.txt', {
      config: { access: { public: true }, providerPage: true },
      schema: {
        tags,
        summary:
          'Security contacts (RFC 9116, P9.2); an OpenPGP cleartext-signed message when a signing key is configured',
        produces: ['text/plain'],
        response: { 200: { type: 'string' }, ...errorResponses('public') },
      },
      handler: async (request, reply) =>
        reply.type('text/plain; charset=utf-8').send(await securityTxt.render(originOf(request), deps.clock())),
    })
    app.get(POLICY_PATH, {
      config: { access: { public: true } },
      schema: {
        tags,
        summary: 'How to report a vulnerability, and when we answer (P9.1)',
        produces: ['text/plain'],
        response: { 200: { type: 'string' }, ...errorResponses('public') },
      },
      handler: async (request, reply) =>
        reply.type('text/plain; charset=utf-8').send(renderPolicy(config.publicUrl ?? originOf(request), config)),
    })
    app.post('/v1/vulnerability-reports', {
      bodyLimit: config.disclosure.maxBytes,
      onRequest: limits.submit,
      config: { access: { public: true }, providerPage: true },
      schema: {
        tags,
        summary: 'Report a vulnerability: returns a tracking reference and a status token, shown once (P9.1)',
        body: SubmitBody,
        response: {
          201: Type.Object({
            reference: Type.String(),
            statusToken: Type.String({ description: 'cst_vrs_…: send as Authorization: Bearer to read the status' }),
            receivedAt: Timestamp,
            acknowledgementDueAt: Timestamp,
          }),
          ...errorResponses('public'),
        },
      },
      handler: async (request, reply) => reply.code(201).send(await reports.submit(request.meta, request.body)),
    })
    app.get('/v1/vulnerability-reports/status', {
      onRequest: limits.status,
      config: { access: { public: true }, providerPage: true },
      schema: {
        tags,
        summary: 'The reporter’s view: status and the team’s updates (Authorization: Bearer <status token>)',
        response: { 200: ReporterView, ...errorResponses('public') },
      },
      handler: async (request) => reports.status(bearer(request)),
    })
    app.post('/v1/vulnerability-reports/status/messages', {
      onRequest: limits.message,
      config: { access: { public: true }, providerPage: true },
      schema: {
        tags,
        summary: 'The reporter answers the team (Authorization: Bearer <status token>)',
        body: Type.Object({ message: Message }, Strict),
        response: { 201: ReporterView, ...errorResponses('public') },
      },
      handler: async (request, reply) =>
        reply.code(201).send(await reports.reply(request.meta, bearer(request), request.body.message)),
    })
  }
}

/** The provider's security team: triage, acknowledge, update. */
export function disclosureTeamRoutes(deps: { reports: ReportsService }): FastifyPluginAsyncTypebox {
  const { reports } = deps
  const tags = ['disclosure']
  return async (app) => {
    app.get('/v1/operator/vulnerability-reports', {
      config: { access: { permission: 'disclosure:read' } },
      schema: {
        tags,
        summary: 'Vulnerability reports, newest first, a page at a time; overdue ones are flagged',
        querystring: pageQuery({ status: Type.Optional(Status), open: Type.Optional(Type.Boolean()) }),
        response: {
          200: Type.Object({ reports: Type.Array(Summary), nextCursor: NextCursor }),
          ...errorResponses('authenticated'),
        },
      },
      handler: async (request) => {
        const { status, open, ...page } = request.query
        const { items, nextCursor } = await reports.list(ctxOf(request), { status, open }, page)
        return { reports: items, nextCursor }
      },
    })
    app.get('/v1/operator/vulnerability-reports/:reportId', {
      config: { access: { permission: 'disclosure:read' } },
      schema: {
        tags,
        summary: 'A report with its details, the reporter’s contact and the conversation (every read is audited)',
        params: ReportParams,
        response: { 200: ReportView, ...errorResponses('org') },
      },
      handler: async (request) => reports.get(ctxOf(request), request.params.reportId),
    })
    app.get('/v1/operator/vulnerability-reports/:reportId/attachments/:idx', {
      config: { access: { permission: 'disclosure:read' } },
      schema: {
        tags,
        summary: 'Download an attachment (always as a file, never rendered; audited)',
        params: Type.Object({ reportId: Uuid, idx: Type.Integer({ minimum: 0, maximum: 4 }) }, Strict),
        produces: ['application/octet-stream'],
        response: { 200: { type: 'string', format: 'binary' }, ...errorResponses('org') },
      },
      handler: async (request, reply) => {
        const file = await reports.attachment(ctxOf(request), request.params.reportId, request.params.idx)
        return reply
          .type('application/octet-stream')
          .header('content-disposition', `attachment; filename="${file.filename}"`)
          .send(file.data as unknown as string)
      },
    })
    app.post('/v1/operator/vulnerability-reports/:reportId/acknowledge', {
      config: { access: { permission: 'disclosure:manage' } },
      schema: {
        tags,
        summary: 'Acknowledge a report with a message to the reporter (due within the configured business days)',
        params: ReportParams,
        body: Type.Object({ message: Message }, Strict),
        response: { 200: ReportView, ...errorResponses('org') },
      },
      handler: async (request) => reports.acknowledge(ctxOf(request), request.params.reportId, request.body.message),
    })
    app.post('/v1/operator/vulnerability-reports/:reportId/updates', {
      config: { access: { permission: 'disclosure:manage' } },
      schema: {
        tags,
        summary: 'Change status or severity, write to the reporter, or add an internal note',
        params: ReportParams,
        body: Type.Object(
          {
            status: Type.Optional(TeamStatus),
            severity: Type.Optional(Severity),
            message: Type.Optional(Message),
            internal: Type.Optional(
              Type.Boolean({ description: 'a note for the team only; not sent to the reporter' }),
            ),
          },
          { ...Strict, minProperties: 1 },
        ),
        response: { 200: ReportView, ...errorResponses('org') },
      },
      handler: async (request) => reports.update(ctxOf(request), request.params.reportId, request.body),
    })
  }
}
