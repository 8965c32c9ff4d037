import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ctxOf } from '../../http/route-helpers.ts'
import { errorResponses, Name, NextCursor, OrgParams, PageQuery, Strict, Timestamp, Uuid } from '../../http/schemas.ts'
import { SeveritySchema } from './alerts.routes.ts'
import type { IncidentsService } from './incidents.service.ts'
import { REVIEWS_SHOWN, type PlanService } from './plan.service.ts'

const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()])
const PartyKind = Type.Union([
  Type.Literal('customers'),
  Type.Literal('users'),
  Type.Literal('third_party'),
  Type.Literal('regulator'),
])
const Party = Type.Object(
  {
    kind: PartyKind,
    name: Type.String({ minLength: 1, maxLength: 200 }),
    deadlineHours: Type.Integer({ minimum: 1, maximum: 720 }),
  },
  Strict,
)
const IncidentType = Type.Object(
  {
    name: Name,
    description: Type.Optional(Type.String({ maxLength: 2000 })),
    defaultSeverity: SeveritySchema,
    affectsThirdParties: Type.Optional(Type.Boolean()),
    playbook: Type.Array(Type.String({ minLength: 1, maxLength: 500 }), { maxItems: 50, description: 'ordered steps' }),
  },
  Strict,
)
const Level = Type.Object(
  {
    afterMinutes: Type.Integer({ minimum: 1, maximum: 10_080 }),
    notifyRoles: Type.Array(Type.String({ maxLength: 40 }), { maxItems: 10 }),
    notifyUsers: Type.Array(Uuid, { maxItems: 20 }),
  },
  Strict,
)
const Review = Type.Object({
  version: Type.Integer({ description: 'the plan version reviewed' }),
  reviewedAt: Timestamp,
  reviewedBy: Type.String({ description: 'who recorded it (user:<id>)' }),
  notes: Type.String(),
})
const PlanView = Type.Object({
  version: Type.Integer(),
  types: Type.Array(
    Type.Composite([
      Type.Object({ id: Uuid }),
      Type.Object({
        name: Type.String(),
        description: Type.Optional(Type.String()),
        defaultSeverity: SeveritySchema,
        affectsThirdParties: Type.Optional(Type.Boolean()),
        playbook: Type.Array(Type.String()),
      }),
    ]),
  ),
  escalation: Type.Array(Level),
  parties: Type.Array(Party),
  lastReview: Type.Union([Review, Type.Null()]),
  reviews: Type.Array(Review, {
    description: `the reviews recorded, newest first: the last ${REVIEWS_SHOWN} (the audit log keeps every one, response_plan.review)`,
  }),
  reviewDueAt: Nullable(Timestamp),
  reviewOverdue: Type.Boolean(),
  versions: Type.Array(
    Type.Object({ version: Type.Integer(), createdAt: Timestamp, createdBy: Type.String(), change: Type.String() }),
  ),
  people: Type.Record(Type.String(), Type.String(), {
    description:
      'the emails of this org’s members the plan names (versions, reviews, escalation), by user id; former members and other actors are left out',
  }),
})
const Status = Type.Union([
  Type.Literal('open'),
  Type.Literal('acknowledged'),
  Type.Literal('contained'),
  Type.Literal('resolved'),
  Type.Literal('closed'),
])
const Notification = Type.Object({
  id: Uuid,
  party: Type.Object({ kind: PartyKind, name: Type.String() }),
  deadlineHours: Type.Integer(),
  dueAt: Timestamp,
  status: Type.Union([Type.Literal('pending'), Type.Literal('sent'), Type.Literal('missed')]),
  late: Type.Boolean(),
  sentAt: Nullable(Timestamp),
  sentBy: Nullable(Type.String()),
  channel: Nullable(Type.String()),
  content: Nullable(Type.String()),
})
const IncidentView = Type.Object({
  id: Uuid,
  type: Nullable(Type.String()),
  title: Type.String(),
  severity: SeveritySchema,
  status: Status,
  roles: Type.Object({ commander: Nullable(Uuid), communications: Nullable(Uuid), scribe: Nullable(Uuid) }),
  openedAt: Timestamp,
  openedBy: Type.String(),
  acknowledgedAt: Nullable(Timestamp),
  resolvedAt: Nullable(Timestamp),
  closedAt: Nullable(Timestamp),
  escalationLevel: Type.Integer(),
  breach: Type.Union([Type.Object({ confirmedAt: Timestamp, summary: Type.String() }), Type.Null()]),
  steps: Type.Optional(
    Type.Array(
      Type.Object({
        idx: Type.Integer(),
        title: Type.String(),
        doneAt: Nullable(Timestamp),
        doneBy: Nullable(Type.String()),
      }),
    ),
  ),
  timeline: Type.Optional(
    Type.Array(
      Type.Object({
        at: Timestamp,
        actor: Type.String(),
        kind: Type.String(),
        details: Type.Record(Type.String(), Type.Unknown()),
      }),
    ),
  ),
  links: Type.Optional(
    Type.Array(Type.Object({ kind: Type.Union([Type.Literal('alert'), Type.Literal('audit_event')]), ref: Uuid })),
  ),
  notifications: Type.Optional(Type.Array(Notification)),
  people: Type.Optional(
    Type.Record(Type.String(), Type.String(), {
      description:
        'the emails of this org’s members the incident names (roles, opener, steps, timeline, notifications), by user id; former members and other actors are left out',
    }),
  ),
})
const IncidentParams = Type.Object({ orgId: Uuid, incidentId: Uuid }, Strict)

export function incidentsRoutes(deps: { incidents: IncidentsService; plan: PlanService }): FastifyPluginAsyncTypebox {
  const { incidents, plan } = deps
  const tags = ['incidents']
  return async (app) => {
    // Whole, not paged (issue 20): the plan's types, escalation (at most 10 levels), parties (at
    // most 50) and versions — configuration that admins write.
    app.get('/v1/orgs/:orgId/response-plan', {
      config: { access: { permission: 'incidents:read' } },
      schema: {
        tags: ['response plan'],
        summary:
          'The incident response plan: types and playbooks, escalation, breach parties, versions and reviews (P6.1, P6.2)',
        params: OrgParams,
        response: { 200: PlanView, ...errorResponses('org') },
      },
      handler: async (request) => plan.get(ctxOf(request)),
    })
    app.post('/v1/orgs/:orgId/response-plan/types', {
      config: { access: { permission: 'response_plan:manage' } },
      schema: {
        tags: ['response plan'],
        summary: 'Add an incident type with its playbook (a new plan version)',
        params: OrgParams,
        body: IncidentType,
        response: { 201: PlanView, ...errorResponses('org') },
      },
      handler: async (request, reply) => reply.code(201).send(await plan.createType(ctxOf(request), request.body)),
    })
    app.put('/v1/orgs/:orgId/response-plan/types/:typeId', {
      config: { access: { permission: 'response_plan:manage' } },
      schema: {
        tags: ['response plan'],
        summary: 'Change an incident type (a new plan version)',
        params: Type.Object({ orgId: Uuid, typeId: Uuid }, Strict),
        body: IncidentType,
        response: { 200: PlanView, ...errorResponses('org') },
      },
      handler: async (request) => plan.updateType(ctxOf(request), request.params.typeId, request.body),
    })
    app.delete('/v1/orgs/:orgId/response-plan/types/:typeId', {
      config: { access: { permission: 'response_plan:manage' } },
      schema: {
        tags: ['response plan'],
        summary: 'Remove an incident type (a new plan version)',
        params: Type.Object({ orgId: Uuid, typeId: Uuid }, Strict),
        response: { 200: PlanView, ...errorResponses('org') },
      },
      handler: async (request) => plan.deleteType(ctxOf(request), request.params.typeId),
    })
    app.put('/v1/orgs/:orgId/response-plan/escalation', {
      config: { access: { permission: 'response_plan:manage' } },
      schema: {
        tags: ['response plan'],
        summary: 'Escalation: who is notified after how long an incident stays unacknowledged',
        params: OrgParams,
        body: Type.Object({ levels: Type.Array(Level, { minItems: 1, maxItems: 10 }) }, Strict),
        response: { 200: PlanView, ...errorResponses('org') },
      },
      handler: async (request) => plan.setEscalation(ctxOf(request), request.body.levels),
    })
    app.put('/v1/orgs/:orgId/response-plan/parties', {
      config: { access: { permission: 'response_plan:manage' } },
      schema: {
        tags: ['response plan'],
        summary:
          'Who must be notified of a breach, and within how many hours of its confirmation (none: customers and users, 72 h)',
        params: OrgParams,
        body: Type.Object({ parties: Type.Array(Party, { maxItems: 50 }) }, Strict),
        response: { 200: PlanView, ...errorResponses('org') },
      },
      handler: async (request) => plan.setParties(ctxOf(request), request.body.parties),
    })
    app.post('/v1/orgs/:orgId/response-plan/reviews', {
      config: { access: { permission: 'response_plan:manage' } },
      schema: {
        tags: ['response plan'],
        summary: 'Record a review of the current plan version (due every six months)',
        params: OrgParams,
        body: Type.Object({ notes: Type.String({ minLength: 1, maxLength: 5000 }) }, Strict),
        response: { 201: PlanView, ...errorResponses('org') },
      },
      handler: async (request, reply) => reply.code(201).send(await plan.review(ctxOf(request), request.body.notes)),
    })

    app.post('/v1/orgs/:orgId/incidents', {
      config: { access: { permission: 'incidents:manage' } },
      schema: {
        tags,
        summary: 'Open an incident (optionally of a type, whose playbook becomes its steps, and linking alerts)',
        params: OrgParams,
        body: Type.Object(
          {
            typeId: Type.Optional(Uuid),
            title: Name,
            severity: Type.Optional(SeveritySchema),
            alertIds: Type.Optional(Type.Array(Uuid, { maxItems: 50 })),
          },
          Strict,
        ),
        response: { 201: IncidentView, ...errorResponses('org') },
      },
      handler: async (request, reply) => reply.code(201).send(await incidents.open(ctxOf(request), request.body)),
    })
    app.get('/v1/orgs/:orgId/incidents', {
      config: { access: { permission: 'incidents:read' } },
      schema: {
        tags,
        summary: 'Incidents, newest first, a page at a time',
        params: OrgParams,
        querystring: PageQuery,
        response: {
          200: Type.Object({ incidents: Type.Array(IncidentView), nextCursor: NextCursor }),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => {
        const { items, nextCursor } = await incidents.list(ctxOf(request), request.query)
        return { incidents: items, nextCursor }
      },
    })
    app.get('/v1/orgs/:orgId/incidents/:incidentId', {
      config: { access: { permission: 'incidents:read' } },
      schema: {
        tags,
        summary: 'An incident with its steps, timeline, links and breach clocks',
        params: IncidentParams,
        response: { 200: IncidentView, ...errorResponses('org') },
      },
      handler: async (request) => incidents.get(ctxOf(request), request.params.incidentId),
    })
    app.patch('/v1/orgs/:orgId/incidents/:incidentId', {
      config: { access: { permission: 'incidents:manage' } },
      schema: {
        tags,
        summary: 'Change title, severity, status or roles (commander, communications, scribe)',
        params: IncidentParams,
        body: Type.Object(
          {
            title: Type.Optional(Name),
            severity: Type.Optional(SeveritySchema),
            status: Type.Optional(Status),
            commander: Type.Optional(Type.Union([Uuid, Type.Null()])),
            communications: Type.Optional(Type.Union([Uuid, Type.Null()])),
            scribe: Type.Optional(Type.Union([Uuid, Type.Null()])),
          },
          Strict,
        ),
        response: { 200: IncidentView, ...errorResponses('org') },
      },
      handler: async (request) => incidents.update(ctxOf(request), request.params.incidentId, request.body),
    })
    app.post('/v1/orgs/:orgId/incidents/:incidentId/acknowledge', {
      config: { access: { permission: 'incidents:manage' } },
      schema: {
        tags,
        summary: 'Acknowledge an incident: its escalation stops',
        params: IncidentParams,
        response: { 200: IncidentView, ...errorResponses('org') },
      },
      handler: async (request) => incidents.acknowledge(ctxOf(request), request.params.incidentId),
    })
    app.post('/v1/orgs/:orgId/incidents/:incidentId/steps/:idx/complete', {
      config: { access: { permission: 'incidents:manage' } },
      schema: {
        tags,
        summary: 'Mark a playbook step done',
        params: Type.Object({ orgId: Uuid, incidentId: Uuid, idx: Type.Integer({ minimum: 0, maximum: 49 }) }, Strict),
        response: { 200: IncidentView, ...errorResponses('org') },
      },
      handler: async (request) => incidents.completeStep(ctxOf(request), request.params.incidentId, request.params.idx),
    })
    app.post('/v1/orgs/:orgId/incidents/:incidentId/notes', {
      config: { access: { permission: 'incidents:manage' } },
      schema: {
        tags,
        summary: 'Add a note to the timeline',
        params: IncidentParams,
        body: Type.Object({ text: Type.String({ minLength: 1, maxLength: 5000 }) }, Strict),
        response: { 200: IncidentView, ...errorResponses('org') },
      },
      handler: async (request) => incidents.note(ctxOf(request), request.params.incidentId, request.body.text),
    })
    app.post('/v1/orgs/:orgId/incidents/:incidentId/links', {
      config: { access: { permission: 'incidents:manage' } },
      schema: {
        tags,
        summary: 'Link an alert or an audit event',
        params: IncidentParams,
        body: Type.Object(
          { kind: Type.Union([Type.Literal('alert'), Type.Literal('audit_event')]), ref: Uuid },
          Strict,
        ),
        response: { 200: IncidentView, ...errorResponses('org') },
      },
      handler: async (request) => incidents.link(ctxOf(request), request.params.incidentId, request.body),
    })
    app.post('/v1/orgs/:orgId/incidents/:incidentId/breach', {
      config: { access: { permission: 'incidents:manage' }, stepUp: true },
      schema: {
        tags,
        summary: 'Confirm the incident as a breach: one notification clock per party starts now (P6.3, P6.4)',
        params: IncidentParams,
        body: Type.Object(
          {
            summary: Type.String({ minLength: 1, maxLength: 5000 }),
            parties: Type.Optional(Type.Array(Party, { maxItems: 50, description: 'parties beyond the plan’s' })),
          },
          Strict,
        ),
        response: { 200: IncidentView, ...errorResponses('org') },
      },
      handler: async (request) => incidents.confirmBreach(ctxOf(request), request.params.incidentId, request.body),
    })
    app.post('/v1/orgs/:orgId/incidents/:incidentId/breach-notifications/:notificationId/sent', {
      config: { access: { permission: 'incidents:manage' } },
      schema: {
        tags,
        summary: 'Record that a party was notified: how, and what was sent',
        params: Type.Object({ orgId: Uuid, incidentId: Uuid, notificationId: Uuid }, Strict),
        body: Type.Object(
          {
            channel: Type.String({ minLength: 1, maxLength: 200 }),
            content: Type.String({ minLength: 1, maxLength: 20_000 }),
          },
          Strict,
        ),
        response: { 200: IncidentView, ...errorResponses('org') },
      },
      handler: async (request) =>
        incidents.markSent(ctxOf(request), request.params.incidentId, request.params.notificationId, request.body),
    })
    app.post('/v1/orgs/:orgId/alerts/:alertId/incident', {
      config: { access: { permission: 'incidents:manage' } },
      schema: {
        tags,
        summary: 'Open an incident from an alert',
        params: Type.Object({ orgId: Uuid, alertId: Uuid }, Strict),
        body: Type.Object(
          { typeId: Type.Optional(Uuid), title: Type.Optional(Name), severity: Type.Optional(SeveritySchema) },
          Strict,
        ),
        response: { 201: IncidentView, ...errorResponses('org') },
      },
      handler: async (request, reply) =>
        reply.code(201).send(
          await incidents.open(ctxOf(request), {
            typeId: request.body.typeId,
            title: request.body.title ?? 'Incident from an alert',
            severity: request.body.severity,
            fromAlert: request.params.alertId,
          }),
        ),
    })
  }
}
