import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ctxOf } from '../../http/route-helpers.ts'
import { errorResponses, Strict, Timestamp, Uuid } from '../../http/schemas.ts'
import type { OperatorService } from './operator.service.ts'

const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()])
const OrgHealth = Type.Object({
  id: Uuid,
  name: Type.String(),
  kind: Type.Union([Type.Literal('provider'), Type.Literal('customer')]),
  region: Type.Union([Type.String(), Type.Null()], {
    description: 'the region the org is pinned to (P8.2); null where no region is configured',
  }),
  createdAt: Timestamp,
  members: Type.Integer(),
  serviceAccounts: Type.Integer(),
  audit: Type.Object({
    headSeq: Type.Integer({ description: 'events chained so far' }),
    lastCheckpointAt: Nullable(Timestamp),
    unchained: Type.Integer({ description: 'events committed but not yet chained (normally 0 within a second)' }),
    lastEventAt: Nullable(Timestamp),
  }),
})
const Page = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
  },
  Strict,
)

export function operatorRoutes(deps: { operator: OperatorService }): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get('/v1/operator/orgs', {
      config: { access: { permission: 'orgs:list' } },
      schema: {
        tags: ['operators'],
        summary: 'Operators: every org’s name and health figures — nothing inside any org (P2.7)',
        querystring: Page,
        response: {
          200: Type.Object({ orgs: Type.Array(OrgHealth), nextCursor: Nullable(Type.String()) }),
          ...errorResponses('authenticated'),
        },
      },
      handler: async (request) => deps.operator.listOrgs(ctxOf(request), request.query),
    })
  }
}
