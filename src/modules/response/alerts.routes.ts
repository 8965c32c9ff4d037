import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ctxOf } from '../../http/route-helpers.ts'
import { errorResponses, NextCursor, OrgParams, pageQuery, Strict, Timestamp, Uuid } from '../../http/schemas.ts'
import type { AlertsService } from './alerts.service.ts'

const tags = ['alerts']
const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()])
export const SeveritySchema = Type.Union([
  Type.Literal('low'),
  Type.Literal('medium'),
  Type.Literal('high'),
  Type.Literal('critical'),
])
const Status = Type.Union([Type.Literal('open'), Type.Literal('acknowledged'), Type.Literal('resolved')])
const AlertView = Type.Object({
  id: Uuid,
  rule: Type.String(),
  severity: SeveritySchema,
  status: Status,
  title: Type.String(),
  details: Type.Record(Type.String(), Type.Unknown()),
  firstSeenAt: Timestamp,
  lastSeenAt: Timestamp,
  occurrences: Type.Integer(),
  eventIds: Type.Array(Uuid, { description: 'the audit events that made it (the first 100)' }),
  acknowledgedAt: Nullable(Timestamp),
  acknowledgedBy: Nullable(Type.String()),
  resolvedAt: Nullable(Timestamp),
  resolvedBy: Nullable(Type.String()),
  incidentId: Nullable(Uuid),
  actorEmail: Nullable(
    Type.String({ description: 'the email of the person it is about (details.actor or details.user), when a member' }),
  ),
  incidentTitle: Nullable(Type.String({ description: 'the title of the incident it opened' })),
})
const Settings = Type.Object(
  {
    enabled: Type.Boolean(),
    threshold: Type.Integer({ minimum: 1, maximum: 100_000 }),
    windowSeconds: Type.Integer({ minimum: 1, maximum: 31_536_000 }),
    dedupeSeconds: Type.Integer({
      minimum: 0,
      maximum: 31_536_000,
      description: 'firings of one rule and key within this window are one alert',
    }),
    actions: Type.Optional(
      Type.Array(Type.String({ maxLength: 100, pattern: '^[a-z][a-z0-9_]*(\\.[a-z0-9_]+)*(\\.\\*)?$' }), {
        maxItems: 50,
        description:
          'application_action only: the application actions it watches, each exact (document.export) or a family (document.*); omitted: the list is kept as it is (none at first: the rule then never fires)',
      }),
    ),
  },
  Strict,
)
const RuleView = Type.Composite([
  Type.Object({
    rule: Type.String(),
    description: Type.String(),
    severity: SeveritySchema,
    source: Type.Union([Type.Literal('default'), Type.Literal('org')]),
  }),
  Settings,
])
const AlertParams = Type.Object({ orgId: Uuid, alertId: Uuid }, Strict)

export function alertsRoutes(deps: { alerts: AlertsService }): FastifyPluginAsyncTypebox {
  const { alerts } = deps
  return async (app) => {
    app.get('/v1/orgs/:orgId/alerts', {
      config: { access: { permission: 'alerts:read' } },
      schema: {
        tags,
        summary: 'Alerts raised over the audit stream (P5.3), most recently seen first, a page at a time',
        params: OrgParams,
        querystring: pageQuery({ status: Type.Optional(Status) }),
        response: {
          200: Type.Object({ alerts: Type.Array(AlertView), nextCursor: NextCursor }),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => {
        const { status, ...page } = request.query
        const { items, nextCursor } = await alerts.list(ctxOf(request), page, status)
        return { alerts: items, nextCursor }
      },
    })

    app.get('/v1/orgs/:orgId/alerts/:alertId', {
      config: { access: { permission: 'alerts:read' } },
      schema: {
        tags,
        summary: 'One alert',
        params: AlertParams,
        response: { 200: AlertView, ...errorResponses('org') },
      },
      handler: async (request) => alerts.get(ctxOf(request), request.params.alertId),
    })

    app.post('/v1/orgs/:orgId/alerts/:alertId/acknowledge', {
      config: { access: { permission: 'alerts:manage' } },
      schema: {
        tags,
        summary: 'Acknowledge an alert (someone is looking at it)',
        params: AlertParams,
        response: { 200: AlertView, ...errorResponses('org') },
      },
      handler: async (request) => alerts.acknowledge(ctxOf(request), request.params.alertId),
    })

    app.post('/v1/orgs/:orgId/alerts/:alertId/resolve', {
      config: { access: { permission: 'alerts:manage' } },
      schema: {
        tags,
        summary: 'Resolve an alert, with a note',
        params: AlertParams,
        body: Type.Object({ note: Type.Optional(Type.String({ maxLength: 1000 })) }, Strict),
        response: { 200: AlertView, ...errorResponses('org') },
      },
      handler: async (request) => alerts.resolve(ctxOf(request), request.params.alertId, request.body.note),
    })

    // Whole, not paged (issue 20): one entry per rule of the fixed catalog.
    app.get('/v1/orgs/:orgId/alert-rules', {
      config: { access: { permission: 'alerts:read' } },
      schema: {
        tags,
        summary: 'The built-in rules with this org’s thresholds',
        params: OrgParams,
        response: { 200: Type.Object({ rules: Type.Array(RuleView) }), ...errorResponses('org') },
      },
      handler: async (request) => ({ rules: await alerts.rules(ctxOf(request)) }),
    })

    app.put('/v1/orgs/:orgId/alert-rules/:rule', {
      config: { access: { permission: 'alerts:manage' } },
      schema: {
        tags,
        summary: 'Set a rule’s threshold, window and dedupe window, or turn it off',
        params: Type.Object({ orgId: Uuid, rule: Type.String({ pattern: '^[a-z_]{1,64}$' }) }, Strict),
        body: Settings,
        response: { 200: RuleView, ...errorResponses('org') },
      },
      handler: async (request) => alerts.setRule(ctxOf(request), request.params.rule, request.body),
    })
  }
}
