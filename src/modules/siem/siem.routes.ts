import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ctxOf } from '../../http/route-helpers.ts'
import { errorResponses, PageQuery, Strict, Uuid } from '../../http/schemas.ts'
import type { SiemService } from './siem.service.ts'
import { CreateBody, DeadLetterList, DestinationList, DestinationView, TestResult, UpdateBody } from './siem.types.ts'

const BASE = '/v1/orgs/:orgId/siem/destinations'
const OrgParams = Type.Object({ orgId: Uuid }, Strict)
const DestinationParams = Type.Object({ orgId: Uuid, destinationId: Uuid }, Strict)
const tags = ['siem']

/**
 * SIEM destinations (docs/siem.md): the org's chained audit events streamed to Splunk HEC,
 * Datadog, a JSON Lines endpoint or a syslog receiver over TLS. Reading needs `siem:read`;
 * everything else `siem:manage`, and a change of where the log goes a fresh second factor.
 */
export function siemRoutes(deps: { siem: SiemService }): FastifyPluginAsyncTypebox {
  const { siem } = deps
  return async (app) => {
    app.get(BASE, {
      config: { access: { permission: 'siem:read' } },
      schema: {
        tags,
        summary: 'SIEM destinations by name, a page at a time, each with its lag and open dead letter',
        params: OrgParams,
        querystring: PageQuery,
        response: { 200: DestinationList, ...errorResponses('org') },
      },
      handler: async (request) => {
        const { items, nextCursor } = await siem.list(ctxOf(request), request.query)
        return { destinations: items, nextCursor }
      },
    })

    app.post(BASE, {
      // The audit log leaves the building from now on: a fresh second factor.
      config: { access: { permission: 'siem:manage' }, stepUp: true },
      schema: {
        tags,
        summary: 'Add a SIEM destination; its credential goes to the vault and is never shown again',
        params: OrgParams,
        body: CreateBody,
        response: { 201: DestinationView, ...errorResponses('org') },
      },
      handler: async (request, reply) => reply.code(201).send(await siem.create(ctxOf(request), request.body)),
    })

    app.get(`${BASE}/:destinationId`, {
      config: { access: { permission: 'siem:read' } },
      schema: {
        tags,
        summary:
          'One SIEM destination: its cursor, lag (events behind the head, seconds since the last delivery, last error) and open dead letter',
        params: DestinationParams,
        response: { 200: DestinationView, ...errorResponses('org') },
      },
      handler: async (request) => siem.get(ctxOf(request), request.params.destinationId),
    })

    app.patch(`${BASE}/:destinationId`, {
      config: { access: { permission: 'siem:manage' }, stepUp: true },
      schema: {
        tags,
        summary: 'Change where a destination sends, its settings or its credential (null removes it); the cursor stays',
        params: DestinationParams,
        body: UpdateBody,
        response: { 200: DestinationView, ...errorResponses('org') },
      },
      handler: async (request) => siem.update(ctxOf(request), request.params.destinationId, request.body),
    })

    app.delete(`${BASE}/:destinationId`, {
      config: { access: { permission: 'siem:manage' } },
      schema: {
        tags,
        summary: 'Remove a SIEM destination (its credential is crypto-erased)',
        params: DestinationParams,
        response: { 204: Type.Null(), ...errorResponses('org') },
      },
      handler: async (request, reply) => {
        await siem.remove(ctxOf(request), request.params.destinationId)
        return reply.code(204).send(null)
      },
    })

    for (const [verb, summary] of [
      ['pause', 'Pause a destination: nothing is sent until it is resumed; its cursor stays'],
      [
        'resume',
        'Resume a paused or stopped destination from its cursor (a stopped one retries its dead-lettered batch)',
      ],
      [
        'skip',
        'Skip the dead-lettered batch a destination stopped at: its cursor moves past it (recorded, audited), and it resumes',
      ],
    ] as const) {
      app.post(`${BASE}/:destinationId/${verb}`, {
        config: { access: { permission: 'siem:manage' } },
        schema: {
          tags,
          summary,
          params: DestinationParams,
          response: { 200: DestinationView, ...errorResponses('org') },
        },
        handler: async (request) => siem[verb](ctxOf(request), request.params.destinationId),
      })
    }

    app.post(`${BASE}/:destinationId/test`, {
      config: { access: { permission: 'siem:manage' } },
      schema: {
        tags,
        summary: 'Send one test event (seq 0, action siem.test) and answer whether the destination acknowledged it',
        params: DestinationParams,
        response: { 200: TestResult, ...errorResponses('org') },
      },
      handler: async (request) => siem.test(ctxOf(request), request.params.destinationId),
    })

    app.get(`${BASE}/:destinationId/dead-letters`, {
      config: { access: { permission: 'siem:read' } },
      schema: {
        tags,
        summary:
          'A destination’s dead letters (batches given up after the last attempt), newest first, a page at a time',
        params: DestinationParams,
        querystring: PageQuery,
        response: { 200: DeadLetterList, ...errorResponses('org') },
      },
      handler: async (request) => {
        const { items, nextCursor } = await siem.deadLetters(
          ctxOf(request),
          request.params.destinationId,
          request.query,
        )
        return { deadLetters: items, nextCursor }
      },
    })
  }
}
