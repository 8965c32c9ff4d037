import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { actorOf, type RequestContext } from '../../context.ts'
import { assertWithinOwn } from '../access/bounds.ts'
import { ctxOf } from '../../http/route-helpers.ts'
import { errorResponses, ProblemRef, Strict, Uuid } from '../../http/schemas.ts'
import type { DbRotationService } from './vault.dbrotation.ts'

const tags = ['vault']
const SecretParams = Type.Object({ orgId: Uuid, secretId: Uuid }, Strict)
const PolicyView = Type.Object({
  secretId: Uuid,
  managingSecretId: Uuid,
  intervalHours: Type.Number(),
  rotateOnExposure: Type.Boolean(),
  nextDueAt: Type.String({ format: 'date-time' }),
  lastRotatedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  lastStatus: Type.Union([Type.String(), Type.Null()]),
  lastError: Type.Union([Type.String(), Type.Null()]),
  failures: Type.Integer(),
})
const errors = { ...errorResponses('org'), 502: ProblemRef }

/**
 * Rotating acts with the managing credential's power (it sets a database role's password):
 * whoever sets a policy or rotates now must be able to reveal credentials themselves, or a
 * `secrets:write` holder could change any role's password through an admin credential it
 * cannot read (a confused deputy).
 */
function assertMayActThroughManaging(ctx: RequestContext): void {
  assertWithinOwn(ctx.principal, ['vault:reveal'], 'rotating through a managing credential')
}

export function dbRotationRoutes(deps: { dbRotation: DbRotationService }): FastifyPluginAsyncTypebox {
  const { dbRotation } = deps
  return async (app) => {
    app.get('/v1/orgs/:orgId/secrets/:secretId/rotation', {
      config: { access: { permission: 'secrets:read' } },
      schema: {
        tags,
        summary: 'The rotation policy of a database credential and its last outcome',
        params: SecretParams,
        response: { 200: PolicyView, ...errors },
      },
      handler: async (request) => {
        const ctx = ctxOf(request)
        return dbRotation.get(ctx.orgId, ctx.principal.secretPaths, request.params.secretId)
      },
    })

    app.put('/v1/orgs/:orgId/secrets/:secretId/rotation', {
      config: { access: { permission: 'secrets:write' } },
      schema: {
        tags,
        summary:
          'Rotate this PostgreSQL credential on a schedule, through a managing credential also held in the vault (P1.6)',
        params: SecretParams,
        body: Type.Object(
          {
            managingSecretId: Uuid,
            intervalHours: Type.Number({ minimum: 1, maximum: 8760 }),
            rotateOnExposure: Type.Boolean({ default: false }),
          },
          Strict,
        ),
        response: { 200: PolicyView, ...errors },
      },
      handler: async (request) => {
        const ctx = ctxOf(request)
        assertMayActThroughManaging(ctx)
        return dbRotation.configure(
          ctx.orgId,
          ctx.principal.secretPaths,
          request.params.secretId,
          request.body,
          actorOf(ctx.principal),
          ctx.meta,
        )
      },
    })

    app.delete('/v1/orgs/:orgId/secrets/:secretId/rotation', {
      config: { access: { permission: 'secrets:write' } },
      schema: {
        tags,
        summary: 'Stop rotating this credential',
        params: SecretParams,
        response: { 204: Type.Null(), ...errors },
      },
      handler: async (request, reply) => {
        const ctx = ctxOf(request)
        await dbRotation.remove(
          ctx.orgId,
          ctx.principal.secretPaths,
          request.params.secretId,
          actorOf(ctx.principal),
          ctx.meta,
        )
        return reply.code(204).send(null)
      },
    })

    app.post('/v1/orgs/:orgId/secrets/:secretId/rotate', {
      config: { access: { permission: 'secrets:write' } },
      schema: {
        tags,
        summary: 'Rotate now: new password set through the managing credential, verified to connect, then made current',
        params: SecretParams,
        response: { 200: Type.Object({ version: Type.Integer() }), ...errors },
      },
      handler: async (request) => {
        const ctx = ctxOf(request)
        assertMayActThroughManaging(ctx)
        return dbRotation.rotateNow(
          ctx.orgId,
          ctx.principal.secretPaths,
          request.params.secretId,
          actorOf(ctx.principal),
          ctx.meta,
        )
      },
    })
  }
}
