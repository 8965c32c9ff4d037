import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ctxOf } from '../../http/route-helpers.ts'
import { errorResponses, ProblemRef, Strict, Uuid } from '../../http/schemas.ts'
import type { VaultService } from './vault.service.ts'
import {
  NewVersionBody,
  RevealBody,
  RevealViewSchema,
  SecretName,
  SecretViewSchema,
  VersionViewSchema,
} from './vault.types.ts'

/*
 * A secret reached by its path (its name) rather than its id: `?path=payments/stripe/api-key`.
 * A query parameter rather than a wildcard in the URL's path, so that `…/reveal` and
 * `…/versions` can follow it. Each route declares the permission of its by-id twin and
 * resolves the path through the vault service (NOT_FOUND when absent or outside the caller's
 * path scope), then calls the same by-id operation, which checks the scope again.
 */

const tags = ['vault']
const errors = { ...errorResponses('org'), 410: ProblemRef }
const Params = Type.Object({ orgId: Uuid }, Strict)
const PathQuery = Type.Object({ path: SecretName }, Strict)
const VersionsQuery = Type.Object(
  {
    path: SecretName,
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
    cursor: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,8}$' })),
  },
  Strict,
)

export function secretPathRoutes(deps: { vault: VaultService }): FastifyPluginAsyncTypebox {
  const { vault } = deps
  return async (app) => {
    app.get('/v1/orgs/:orgId/secrets/by-path', {
      config: { access: { permission: 'secrets:read' } },
      schema: {
        tags,
        summary: 'A secret’s metadata by its path (never its value)',
        params: Params,
        querystring: PathQuery,
        response: { 200: SecretViewSchema, ...errors },
      },
      handler: async (request) => {
        const ctx = ctxOf(request)
        return vault.get(ctx, await vault.idOf(ctx, request.query.path))
      },
    })

    app.get('/v1/orgs/:orgId/secrets/by-path/versions', {
      config: { access: { permission: 'secrets:read' } },
      schema: {
        tags,
        summary: 'Versions of a secret by its path, newest first, a page at a time',
        params: Params,
        querystring: VersionsQuery,
        response: {
          200: Type.Object({
            versions: Type.Array(VersionViewSchema),
            nextCursor: Type.Union([Type.String(), Type.Null()]),
          }),
          ...errors,
        },
      },
      handler: async (request) => {
        const ctx = ctxOf(request)
        const { path, limit, cursor } = request.query
        return vault.versions(ctx, await vault.idOf(ctx, path), {
          limit,
          before: cursor === undefined ? undefined : Number(cursor),
        })
      },
    })

    app.post('/v1/orgs/:orgId/secrets/by-path/versions', {
      config: { access: { permission: 'secrets:write' } },
      schema: {
        tags,
        summary: 'Store a new value as the next version of the secret at this path; it becomes current',
        params: Params,
        querystring: PathQuery,
        body: NewVersionBody,
        response: { 201: SecretViewSchema, ...errors },
      },
      handler: async (request, reply) => {
        const ctx = ctxOf(request)
        const id = await vault.idOf(ctx, request.query.path)
        return reply.code(201).send(await vault.addVersion(ctx, id, request.body.value))
      },
    })

    app.post('/v1/orgs/:orgId/secrets/by-path/reveal', {
      config: { access: { permission: 'vault:reveal' }, stepUp: true },
      schema: {
        tags,
        summary:
          'Reveal the value of the secret at this path; the reason is audited before the value is returned (P1.2)',
        params: Params,
        querystring: PathQuery,
        body: RevealBody,
        response: { 200: RevealViewSchema, ...errors },
      },
      handler: async (request) => {
        const ctx = ctxOf(request)
        return vault.reveal(ctx, await vault.idOf(ctx, request.query.path), request.body)
      },
    })
  }
}
