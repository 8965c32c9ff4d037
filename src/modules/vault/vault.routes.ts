import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ctxOf } from '../../http/route-helpers.ts'
import {
  errorResponses,
  NextCursor,
  OrgParams,
  PageQuery,
  pageQuery,
  ProblemRef,
  Strict,
  Uuid,
} from '../../http/schemas.ts'
import type { SealService } from './vault.seal.ts'
import type { VaultService } from './vault.service.ts'
import type { RotationService } from './vault.rotation.ts'
import type { SourcesService } from './vault.sources.ts'
import { actorOf } from '../../context.ts'
/** A page of a secret's versions: `cursor` is the last version of the previous page. */
const VersionsPage = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
    cursor: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,8}$' })),
  },
  Strict,
)
import {
  CreateSecretBody,
  NewVersionBody,
  RevealBody,
  MAX_SECRET_VERSION,
  RevealViewSchema,
  SecretViewSchema,
  VersionViewSchema,
} from './vault.types.ts'

const tags = ['vault']
const SecretParams = Type.Object({ orgId: Uuid, secretId: Uuid }, Strict)
const VersionParams = Type.Object(
  { orgId: Uuid, secretId: Uuid, version: Type.Integer({ minimum: 1, maximum: MAX_SECRET_VERSION }) },
  Strict,
)
const vaultErrors = { ...errorResponses('org'), 410: ProblemRef }

const SealStatusSchema = Type.Object({
  provider: Type.String(),
  sealed: Type.Boolean(),
  progress: Type.Integer({ description: 'shares received towards the threshold' }),
  threshold: Type.Integer(),
})

const KeyStatusSchema = Type.Object({
  activeVersion: Type.Union([Type.Integer(), Type.Null()]),
  versions: Type.Array(
    Type.Object({
      version: Type.Integer(),
      state: Type.Union([Type.Literal('active'), Type.Literal('retiring'), Type.Literal('retired')]),
      dataKeys: Type.Integer({ description: 'live data keys wrapped by this version' }),
      createdAt: Type.String({ format: 'date-time' }),
      retiredAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    }),
  ),
  pending: Type.Integer({ description: 'data keys the background job has still to rewrap' }),
})

const CheckResultSchema = Type.Object({
  reachable: Type.Boolean(),
  error: Type.Optional(Type.String()),
  tls: Type.Optional(Type.Boolean()),
  role: Type.Optional(Type.String()),
  superuser: Type.Optional(Type.Boolean()),
  attributes: Type.Optional(
    Type.Object({
      createRole: Type.Boolean(),
      createDb: Type.Boolean(),
      replication: Type.Boolean(),
      bypassRls: Type.Boolean(),
    }),
  ),
  writableTables: Type.Optional(
    Type.Array(Type.Object({ schema: Type.String(), table: Type.String(), privileges: Type.Array(Type.String()) })),
  ),
  writableTableCount: Type.Optional(Type.Integer()),
  creatableSchemas: Type.Optional(Type.Array(Type.String())),
  canCreateInDatabase: Type.Optional(Type.Boolean()),
  canWrite: Type.Optional(Type.Boolean()),
  writeReasons: Type.Optional(
    Type.Array(Type.String(), {
      description:
        'every way the role can write (privileges, attributes, ownership, writing roles it belongs to); empty when it cannot',
    }),
  ),
  checkedAt: Type.String({ format: 'date-time' }),
})
const PolicySchema = Type.Object(
  { readOnlyConnectors: Type.Boolean({ description: 'refuse to store or use a database credential that can write' }) },
  Strict,
)
const DataSourceSchema = Type.Object({
  id: Uuid,
  name: Type.String(),
  host: Type.Unknown(),
  port: Type.Unknown(),
  database: Type.Unknown(),
  user: Type.Unknown(),
  status: Type.Union([Type.Literal('active'), Type.Literal('paused'), Type.Literal('exposed')], {
    description: 'exposed before paused: a source both exposed and paused is `exposed`; `paused` says the rest',
  }),
  paused: Type.Boolean({ description: 'paused by an admin (POST …/pause), whatever the status shows first' }),
  currentVersion: Type.Integer(),
  lastCheck: Type.Union([
    Type.Object({
      at: Type.String(),
      reachable: Type.Boolean(),
      canWrite: Type.Union([Type.Boolean(), Type.Null()]),
      tls: Type.Union([Type.Boolean(), Type.Null()]),
    }),
    Type.Null(),
  ]),
  lastUsedAt: Type.Union([Type.String(), Type.Null()]),
})

export function vaultRoutes(deps: {
  vault: VaultService
  seal: SealService
  rotation: RotationService
  sources: SourcesService
  rateLimitPerMinute: number
}): FastifyPluginAsyncTypebox {
  const { vault, seal, rotation, sources } = deps
  return async (app) => {
    app.get('/v1/orgs/:orgId/vault/policy', {
      config: { access: { permission: 'secrets:read' } },
      schema: {
        tags,
        summary: 'The org’s vault policy',
        params: OrgParams,
        response: { 200: PolicySchema, ...vaultErrors },
      },
      handler: async (request) => sources.getPolicy(ctxOf(request)),
    })

    app.put('/v1/orgs/:orgId/vault/policy', {
      config: { access: { permission: 'vault:policy' }, stepUp: true },
      schema: {
        tags,
        summary:
          'Set the vault policy: with readOnlyConnectors, database credentials that can write are refused (P1.7)',
        params: OrgParams,
        body: PolicySchema,
        response: { 200: PolicySchema, ...vaultErrors },
      },
      handler: async (request) => sources.setPolicy(ctxOf(request), request.body),
    })

    app.get('/v1/orgs/:orgId/data-sources', {
      config: { access: { permission: 'secrets:read' } },
      schema: {
        tags,
        summary:
          'Database credentials as connected data sources: status, last check, last use (P10.3); by name, a page at a time',
        params: OrgParams,
        querystring: PageQuery,
        response: {
          200: Type.Object({ dataSources: Type.Array(DataSourceSchema), nextCursor: NextCursor }),
          ...vaultErrors,
        },
      },
      handler: async (request) => {
        const { items, nextCursor } = await sources.list(ctxOf(request), request.query)
        return { dataSources: items, nextCursor }
      },
    })

    app.post('/v1/orgs/:orgId/secrets/:secretId/check', {
      config: { access: { permission: 'secrets:check' } },
      schema: {
        tags,
        summary:
          'Connect with a database credential (TLS unless it says sslmode disable) and report its role’s privileges and whether it can write (P1.7)',
        params: SecretParams,
        response: { 200: CheckResultSchema, ...vaultErrors },
      },
      handler: async (request) => sources.check(ctxOf(request), request.params.secretId),
    })

    app.post('/v1/orgs/:orgId/secrets/:secretId/pause', {
      config: { access: { permission: 'secrets:write' } },
      schema: {
        tags,
        summary: 'Pause a secret: every reveal is refused until it is resumed (P10.3)',
        params: SecretParams,
        response: { 204: Type.Null(), ...vaultErrors },
      },
      handler: async (request, reply) => {
        await sources.setPaused(ctxOf(request), request.params.secretId, true)
        return reply.code(204).send(null)
      },
    })

    app.post('/v1/orgs/:orgId/secrets/:secretId/resume', {
      config: { access: { permission: 'secrets:write' } },
      schema: {
        tags,
        summary: 'Resume a paused secret',
        params: SecretParams,
        response: { 204: Type.Null(), ...vaultErrors },
      },
      handler: async (request, reply) => {
        await sources.setPaused(ctxOf(request), request.params.secretId, false)
        return reply.code(204).send(null)
      },
    })

    app.post('/v1/orgs/:orgId/secrets/:secretId/report-exposed', {
      config: { access: { permission: 'secrets:report' } },
      schema: {
        tags,
        summary:
          'Report a secret exposed: reveal is blocked at once, its owner and the org admins are notified, and the block lifts only when a new version replaces it — at once, for a database credential whose rotation policy says so (P1.5)',
        params: SecretParams,
        body: Type.Object({ reason: Type.String({ minLength: 3, maxLength: 500 }) }, Strict),
        response: { 200: Type.Object({ notified: Type.Integer(), rotated: Type.Boolean() }), ...vaultErrors },
      },
      handler: async (request) => sources.reportExposed(ctxOf(request), request.params.secretId, request.body.reason),
    })

    // Whole, not paged (issue 20): one entry per org-key version, added only by a step-up rotation;
    // the counts are kept at write time (migration 0024), so this reads one row per version.
    app.get('/v1/orgs/:orgId/keys', {
      config: { access: { permission: 'keys:read' } },
      schema: {
        tags,
        summary: 'The org’s key versions and rewrap progress',
        params: OrgParams,
        response: { 200: KeyStatusSchema, ...vaultErrors },
      },
      handler: async (request) => rotation.status(ctxOf(request).orgId),
    })

    app.post('/v1/orgs/:orgId/keys/rotate', {
      config: { access: { permission: 'keys:rotate' }, stepUp: true },
      schema: {
        tags,
        summary:
          'Rotate the org key: new data keys use the new version at once; existing ones are rewrapped in the background, then the old version is retired and erased',
        params: OrgParams,
        response: { 200: KeyStatusSchema, ...vaultErrors },
      },
      handler: async (request) => {
        const ctx = ctxOf(request)
        return rotation.rotate(ctx.orgId, actorOf(ctx.principal), ctx.meta)
      },
    })

    app.get('/v1/vault/status', {
      config: { access: { public: true } },
      schema: {
        tags,
        summary: 'Whether the vault is sealed, and unseal progress',
        response: { 200: SealStatusSchema },
      },
      handler: async () => seal.status(),
    })

    app.post('/v1/vault/unseal', {
      config: { access: { public: true }, rateLimit: { max: deps.rateLimitPerMinute, timeWindow: '1 minute' } },
      schema: {
        tags,
        summary: 'Submit one unseal share (Shamir provider); at the threshold the vault unseals',
        body: Type.Object({ share: Type.String({ minLength: 1, maxLength: 200 }) }, Strict),
        response: { 200: SealStatusSchema, ...errorResponses('public') },
      },
      handler: async (request) => seal.submitShare(request.body.share, request.meta),
    })

    app.post('/v1/vault/seal', {
      config: { access: { permission: 'vault:seal' }, stepUp: true },
      schema: {
        tags,
        summary: 'Seal the vault in this process: every key leaves memory until unsealed again',
        response: { 200: SealStatusSchema, ...errorResponses('authenticated'), 409: ProblemRef },
      },
      handler: async (request) => seal.seal(ctxOf(request)),
    })

    app.get('/v1/orgs/:orgId/secrets', {
      config: { access: { permission: 'secrets:read' } },
      schema: {
        tags,
        summary:
          'Secrets of the org (metadata only) within the caller’s path scope, by name, a page at a time; `prefix` keeps the names that start with it',
        params: OrgParams,
        querystring: pageQuery({
          prefix: Type.Optional(
            Type.String({
              maxLength: 128,
              pattern: '^[A-Za-z0-9._/-]*$',
              description: 'only names starting with this, literally (`payments/` for everything under payments)',
            }),
          ),
        }),
        response: {
          200: Type.Object({ secrets: Type.Array(SecretViewSchema), nextCursor: NextCursor }),
          ...vaultErrors,
        },
      },
      handler: async (request) => {
        const { items, nextCursor } = await vault.list(ctxOf(request), request.query)
        return { secrets: items, nextCursor }
      },
    })

    app.post('/v1/orgs/:orgId/secrets', {
      config: { access: { permission: 'secrets:write' } },
      schema: {
        tags,
        summary: 'Store a secret (version 1); the value is encrypted at once (P1.1, P1.4)',
        params: OrgParams,
        body: CreateSecretBody,
        response: { 201: SecretViewSchema, ...vaultErrors },
      },
      handler: async (request, reply) => reply.code(201).send(await vault.create(ctxOf(request), request.body)),
    })

    app.get('/v1/orgs/:orgId/secrets/:secretId', {
      config: { access: { permission: 'secrets:read' } },
      schema: {
        tags,
        summary: 'A secret’s metadata (never its value)',
        params: SecretParams,
        response: { 200: SecretViewSchema, ...vaultErrors },
      },
      handler: async (request) => vault.get(ctxOf(request), request.params.secretId),
    })

    app.delete('/v1/orgs/:orgId/secrets/:secretId', {
      config: { access: { permission: 'secrets:delete' } },
      schema: {
        tags,
        summary: 'Delete a secret: every version’s data key and ciphertext are destroyed',
        params: SecretParams,
        response: { 204: Type.Null(), ...vaultErrors },
      },
      handler: async (request, reply) => {
        await vault.remove(ctxOf(request), request.params.secretId)
        return reply.code(204).send(null)
      },
    })

    app.get('/v1/orgs/:orgId/secrets/:secretId/versions', {
      config: { access: { permission: 'secrets:read' } },
      schema: {
        tags,
        summary: 'Versions of a secret, newest first, a page at a time (`nextCursor` until the oldest)',
        params: SecretParams,
        querystring: VersionsPage,
        response: {
          200: Type.Object({
            versions: Type.Array(VersionViewSchema),
            nextCursor: Type.Union([Type.String(), Type.Null()]),
          }),
          ...vaultErrors,
        },
      },
      handler: async (request) => {
        const { limit, cursor } = request.query
        return vault.versions(ctxOf(request), request.params.secretId, {
          limit,
          before: cursor === undefined ? undefined : Number(cursor),
        })
      },
    })

    app.post('/v1/orgs/:orgId/secrets/:secretId/versions', {
      config: { access: { permission: 'secrets:write' } },
      schema: {
        tags,
        summary: 'Store a new value as the next version; it becomes current',
        params: SecretParams,
        body: NewVersionBody,
        response: { 201: SecretViewSchema, ...vaultErrors },
      },
      handler: async (request, reply) =>
        reply.code(201).send(await vault.addVersion(ctxOf(request), request.params.secretId, request.body.value)),
    })

    app.delete('/v1/orgs/:orgId/secrets/:secretId/versions/:version', {
      config: { access: { permission: 'secrets:delete' } },
      schema: {
        tags,
        summary: 'Destroy one version (crypto-erasure of its data key and ciphertext)',
        params: VersionParams,
        response: { 204: Type.Null(), ...vaultErrors },
      },
      handler: async (request, reply) => {
        await vault.destroyVersion(ctxOf(request), request.params.secretId, request.params.version)
        return reply.code(204).send(null)
      },
    })

    app.post('/v1/orgs/:orgId/secrets/:secretId/reveal', {
      config: { access: { permission: 'vault:reveal' }, stepUp: true },
      schema: {
        tags,
        summary:
          'Reveal a value (current or a given version); the reason is audited before the value is returned (P1.2)',
        params: SecretParams,
        body: RevealBody,
        response: { 200: RevealViewSchema, ...vaultErrors },
      },
      handler: async (request) => vault.reveal(ctxOf(request), request.params.secretId, request.body),
    })
  }
}
