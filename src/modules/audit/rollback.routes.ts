import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Kysely } from 'kysely'
import type { DB } from '../../db/schema.ts'
import { withOwner } from '../../db/tenant.ts'
import { AppError } from '../../errors.ts'
import { actorOf } from '../../context.ts'
import { ctxOf } from '../../http/route-helpers.ts'
import { errorResponses, Strict, Timestamp, Uuid } from '../../http/schemas.ts'
import type { RollbackGuard } from './rollback.service.ts'

const tags = ['operators']
const Hex = Type.String({ pattern: '^[0-9a-f]{64}$', description: 'SHA-256, hex' })
const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()])

const Refused = Type.Object({
  orgId: Uuid,
  state: Type.Union([Type.Literal('rolled_back'), Type.Literal('unchecked'), Type.Literal('missing')], {
    description:
      'rolled_back: its chain is behind or forked from a witnessed checkpoint; unchecked: no witness answered; missing: the witness file holds the log of an org the database does not have (a restore lost it)',
  }),
  checkedAt: Timestamp,
  kind: Type.Optional(
    Type.Union([Type.Literal('behind'), Type.Literal('forked')], {
      description: 'behind: a witness holds a size beyond the chain; forked: another root at that size',
    }),
  ),
  source: Type.Optional(Type.String({ description: '`file`, or the tlog witness’s name' })),
  witnessedSize: Type.Optional(Type.Integer()),
  witnessedHash: Type.Optional(Hex),
  localSize: Type.Optional(Type.Integer({ description: 'the chain’s size in the database' })),
  localHash: Type.Optional(Nullable(Hex)),
  problems: Type.Optional(Type.Array(Type.String(), { description: 'unchecked: why no witness answered' })),
})

const Status = Type.Object({
  detection: Type.Union([Type.Literal('armed'), Type.Literal('not_armed')], {
    description: 'not_armed: no readable witness (CUSTODIAN_AUDIT_WITNESS_FILE, CUSTODIAN_AUDIT_TLOG_WITNESSES)',
  }),
  sources: Type.Array(Type.String()),
  lastCheck: Type.Union([
    Type.Object({ at: Timestamp, orgs: Type.Integer(), problems: Type.Array(Type.String()) }),
    Type.Null(),
  ]),
  refused: Type.Array(Refused, {
    maxItems: 100,
    description: 'the orgs refused now, by org id, the first 100 (`custodian audit check-rollback` lists them all)',
  }),
  refusedTotal: Type.Integer({ description: 'how many orgs are refused now' }),
})

const Acknowledged = Type.Object({
  orgId: Uuid,
  acknowledged: Type.Array(Type.Object({ source: Type.String(), size: Type.Integer(), hash: Hex })),
  localSize: Type.Integer(),
  localHash: Nullable(Hex),
})

/**
 * Operators' view of rollback detection, and the acknowledgement that lets a rolled-back
 * org be served again (P8.1). The org is named `targetOrgId`, not `orgId`: the operator
 * acts in the provider org, and an `orgId` in the path is the org the request acts in.
 */
export function rollbackRoutes(deps: { rollback: RollbackGuard; db: Kysely<DB> }): FastifyPluginAsyncTypebox {
  const { rollback } = deps
  return async (app) => {
    app.get('/v1/operator/rollback', {
      config: { access: { permission: 'orgs:list' } },
      schema: {
        tags,
        summary: 'Operators: whether rollback detection is armed, its last check, and every org refused as rolled back',
        response: { 200: Status, ...errorResponses('authenticated') },
      },
      handler: async () => {
        const status = rollback.status()
        return { ...status, refused: status.refused.slice(0, 100) }
      },
    })

    app.post('/v1/operator/rollback/orgs/:targetOrgId/acknowledge', {
      config: { access: { permission: 'audit:rollback' }, stepUp: true },
      schema: {
        tags,
        summary:
          'Operators: accept an org’s rollback — it is served again and its chain continues from the restored head',
        description:
          'Checks the org against its witnesses again; 409 when it is not rolled back now. Records `audit.rollback.acknowledge` in the provider org and in the org’s own log, with the witnessed sizes and roots the chain forks from.',
        params: Type.Object({ targetOrgId: Uuid }, Strict),
        body: Type.Object(
          { reason: Type.String({ minLength: 3, maxLength: 1000, pattern: '\\S', description: 'why (audited)' }) },
          Strict,
        ),
        response: { 200: Acknowledged, ...errorResponses('org') },
      },
      handler: async (request) => {
        const ctx = ctxOf(request)
        const orgId = request.params.targetOrgId.toLowerCase()
        const exists = await withOwner(deps.db, (trx) =>
          trx.selectFrom('orgs').select('id').where('id', '=', orgId).executeTakeFirst(),
        )
        if (exists === undefined && rollback.refusal(orgId) === undefined)
          throw new AppError('NOT_FOUND', 'no such org')
        return rollback.acknowledge({
          orgId,
          reason: request.body.reason,
          actor: actorOf(ctx.principal),
          meta: ctx.meta,
        })
      },
    })
  }
}
