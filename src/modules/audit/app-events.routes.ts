import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ctxOf } from '../../http/route-helpers.ts'
import { errorResponses, OrgParams, Strict, Timestamp, Uuid } from '../../http/schemas.ts'
import { AuditEventViewSchema } from './audit.schemas.ts'
import { ACTION_PATTERN } from './app-events.schema.ts'
import type { AppEventsService } from './app-events.service.ts'

const tags = ['audit']
const KIND = '^[a-z][a-z0-9_]{0,39}$'
const Text = (maxLength: number, description?: string) =>
  Type.String({ minLength: 1, maxLength, ...(description === undefined ? {} : { description }) })
/** Free-form JSON by key (metadata, personal fields). */
const KeyedValues = (description: string) =>
  Type.Record(Type.String(), Type.Unknown(), { maxProperties: 50, propertyNames: { maxLength: 100 }, description })

const AppEventBody = Type.Object(
  {
    id: Type.String({
      minLength: 1,
      maxLength: 200,
      pattern: '^[\\x21-\\x7e]+$',
      description:
        'the application’s own id for the event (printable ASCII, no spaces): a retry with the same id and content answers the event already recorded; other content is a 409',
    }),
    action: Type.String({
      maxLength: 100,
      pattern: ACTION_PATTERN,
      description:
        '`family.verb` in lower case, e.g. `document.share`; the families Custodian records under (auth, secret, member, org, …) are refused',
    }),
    actor: Type.Object(
      {
        id: Text(200, 'the application’s id of who did it'),
        type: Type.String({ pattern: KIND, description: 'the application’s word for it: user, api_key, admin, …' }),
        name: Type.Optional(Text(200, 'shown in clear: put a name that must be erasable in `personal`')),
      },
      Strict,
    ),
    targets: Type.Optional(
      Type.Array(
        Type.Object({ type: Type.String({ pattern: KIND }), id: Text(200), name: Type.Optional(Text(200)) }, Strict),
        { maxItems: 20, description: 'what it was done to; the first is the event’s `target` (filters, rules)' },
      ),
    ),
    outcome: Type.Optional(
      Type.Union([Type.Literal('success'), Type.Literal('denied'), Type.Literal('failure')], {
        description: 'default success',
      }),
    ),
    occurredAt: Type.Optional(
      Type.String({
        format: 'date-time',
        description: 'when it happened, as the application says (at most 5 minutes ahead); default: when recorded',
      }),
    ),
    ip: Type.Optional(Type.String({ maxLength: 45, description: 'the source address the application saw' })),
    userAgent: Type.Optional(Type.String({ maxLength: 512 })),
    metadata: Type.Optional(KeyedValues('facts about the event, in clear in the chain (never a secret)')),
    subject: Type.Optional(Text(200, 'the data subject whose key seals `personal` (required with it)')),
    personal: Type.Optional(
      KeyedValues(
        'personal fields, sealed with the subject’s key: the chain holds their commitment, and erasing the subject makes them unreadable',
      ),
    ),
  },
  { ...Strict, description: 'one application event (docs/application-events.md)' },
)

const KeyDeclaration = Type.Object(
  {
    type: Type.Union([
      Type.Literal('string'),
      Type.Literal('number'),
      Type.Literal('integer'),
      Type.Literal('boolean'),
      Type.Literal('object'),
      Type.Literal('array'),
      Type.Literal('any'),
    ]),
    required: Type.Optional(Type.Boolean()),
    description: Type.Optional(Type.String({ maxLength: 500 })),
  },
  Strict,
)
const KeyDeclarations = Type.Record(Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,100}$' }), KeyDeclaration, {
  maxProperties: 50,
  additionalProperties: false,
})
const EventSchemaDocument = Type.Object(
  {
    unknownActions: Type.Union([Type.Literal('accept'), Type.Literal('refuse')], {
      description: 'an action not declared below: recorded unchecked, or refused (400)',
    }),
    unknownKeys: Type.Union([Type.Literal('accept'), Type.Literal('refuse')], {
      description: 'a metadata or personal key a declared action does not declare: kept, or refused (400)',
    }),
    actions: Type.Record(
      Type.String({ pattern: ACTION_PATTERN }),
      Type.Object(
        {
          description: Type.Optional(Type.String({ maxLength: 500 })),
          metadata: Type.Optional(KeyDeclarations),
          personal: Type.Optional(KeyDeclarations),
        },
        Strict,
      ),
      { maxProperties: 500, additionalProperties: false },
    ),
  },
  Strict,
)
const EventSchemaView = Type.Object({
  schema: EventSchemaDocument,
  version: Type.Integer({ description: '0 before the provider declares a schema (then everything is accepted)' }),
  updatedAt: Type.Union([Timestamp, Type.Null()]),
})

export function appEventsRoutes(deps: {
  appEvents: AppEventsService
  /** Most events, and bytes, of one batch (`CUSTODIAN_APP_EVENTS_BATCH_MAX`, `…_BATCH_BYTES`). */
  batch: { max: number; bytes: number }
}): FastifyPluginAsyncTypebox {
  const { appEvents } = deps
  return async (app) => {
    app.post('/v1/orgs/:orgId/audit/events', {
      config: { access: { permission: 'audit:write' } },
      schema: {
        tags,
        summary: 'Record one of the host application’s own events in the org’s audit log (docs/application-events.md)',
        description:
          'Chained, checkpointed, witnessed, exported and verified like Custodian’s own events, marked `origin: application`. 201 with the event; 200 with the event recorded before when the same `id` came with the same content (a retry); 409 `APP_EVENT_CONFLICT` when it came with other content.',
        params: OrgParams,
        body: AppEventBody,
        response: { 200: AuditEventViewSchema, 201: AuditEventViewSchema, ...errorResponses('org') },
      },
      handler: async (request, reply) => {
        const { status, event } = await appEvents.recordOne(ctxOf(request), request.body)
        return reply.code(status === 'recorded' ? 201 : 200).send(event)
      },
    })

    app.post('/v1/orgs/:orgId/audit/events/batch', {
      config: { access: { permission: 'audit:write' } },
      bodyLimit: deps.batch.bytes,
      schema: {
        tags,
        summary: 'Record a batch of the host application’s events: all of them or none',
        description: `At most ${deps.batch.max} events and ${deps.batch.bytes} bytes. Each is answered in the order sent: \`recorded\`, or \`duplicate\` (its \`id\` came before with the same content: that event). One id recorded with other content, or repeated in the batch with other content, is a 409 \`APP_EVENT_CONFLICT\` naming it, and nothing of the batch is recorded.`,
        params: OrgParams,
        body: Type.Object({ events: Type.Array(AppEventBody, { minItems: 1, maxItems: deps.batch.max }) }, Strict),
        response: {
          200: Type.Object({
            events: Type.Array(
              Type.Object({
                id: Type.String({ description: 'the application’s id' }),
                eventId: Uuid,
                status: Type.Union([Type.Literal('recorded'), Type.Literal('duplicate')]),
              }),
            ),
          }),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => ({
        events: await appEvents.record(ctxOf(request), request.body.events, '/body/events'),
      }),
    })

    app.get('/v1/orgs/:orgId/audit/event-schema', {
      config: { access: { permission: 'audit:read' } },
      schema: {
        tags,
        summary: 'The provider’s application event schema, which every org’s application events are checked against',
        params: OrgParams,
        response: { 200: EventSchemaView, ...errorResponses('org') },
      },
      handler: async (request) => appEvents.schema(ctxOf(request)),
    })

    app.put('/v1/orgs/:orgId/audit/event-schema', {
      config: { access: { permission: 'audit:schema' } },
      schema: {
        tags,
        summary: 'Declare the application event schema: actions, their metadata and personal keys (provider org only)',
        description:
          'Replaces the whole schema; applies at once to every org’s application events (events already recorded are not checked again). Audited as `audit.event_schema.update`.',
        params: OrgParams,
        body: EventSchemaDocument,
        response: { 200: EventSchemaView, ...errorResponses('org') },
      },
      handler: async (request) => appEvents.setSchema(ctxOf(request), request.body),
    })
  }
}
