import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { AppError } from '../../errors.ts'
import { ctxOf } from '../../http/route-helpers.ts'
import type { TransitService } from './vault.transit.ts'
import { healthStatus, type HealthState } from './vault-compat.ts'
import { envelope, vaultError } from './vault-compat.http.ts'
import { vaultTransitRoutes } from './vault-compat.transit.routes.ts'
import { KV_MOUNT } from './vault-compat.kv.routes.ts'

/** What the sys routes report: bootstrapped or not, the root key's state. */
export interface VaultCompatStatus extends HealthState {
  /** The root-key provider (`shamir`, `local`, `transit`…), as Vault's seal `type`. */
  provider: string
  threshold: number
  progress: number
  storage: string
}

/** The version the sys routes report (Custodian's, not a Vault release's). */
export const VAULT_COMPAT_VERSION = '0.1.0'

const Code = Type.Integer({ minimum: 200, maximum: 599 })

/** The mounts Custodian serves, as `sys/internal/ui/mounts/:path` describes them to Vault's CLI. */
const MOUNTS: Record<string, { type: string; description: string; options: Record<string, string> | null }> = {
  [KV_MOUNT]: { type: 'kv', description: 'key/value secret storage', options: { version: '2' } },
  transit: { type: 'transit', description: 'transit encryption', options: null },
}

/**
 * Vault's HTTP API on Custodian (docs/vault-compat.md): `sys/health`, `sys/seal-status`,
 * `auth/token/lookup-self`, and Transit (vault-compat.transit.routes.ts), each a translation
 * onto the services the native API uses — same permissions (declared per route, enforced at
 * the one access-control point), same audit events, same sealed-vault refusals.
 */
export function vaultCompatRoutes(deps: {
  transit: TransitService
  status: () => Promise<VaultCompatStatus>
}): FastifyPluginAsyncTypebox {
  const { transit } = deps
  return async (app) => {
    const errorPage = vaultError

    app.get('/v1/sys/health', {
      config: { access: { public: true }, errorPage },
      schema: {
        querystring: Type.Object(
          {
            standbyok: Type.Optional(Type.String()),
            perfstandbyok: Type.Optional(Type.String()),
            activecode: Type.Optional(Code),
            standbycode: Type.Optional(Code),
            sealedcode: Type.Optional(Code),
            uninitcode: Type.Optional(Code),
            drsecondarycode: Type.Optional(Code),
            performancestandbycode: Type.Optional(Code),
            haunhealthycode: Type.Optional(Code),
            removedcode: Type.Optional(Code),
          },
          { additionalProperties: false },
        ),
      },
      handler: async (request, reply) => {
        const state = await deps.status()
        return reply.code(healthStatus(state, request.query)).send({
          initialized: state.initialized,
          sealed: state.sealed,
          standby: false,
          performance_standby: false,
          replication_performance_mode: 'disabled',
          replication_dr_mode: 'disabled',
          server_time_utc: Math.floor(Date.now() / 1000),
          version: VAULT_COMPAT_VERSION,
          cluster_name: 'custodian',
          cluster_id: '',
        })
      },
    })

    app.get('/v1/sys/seal-status', {
      config: { access: { public: true }, errorPage },
      handler: async () => {
        const state = await deps.status()
        const shamir = state.provider === 'shamir'
        return {
          type: state.provider,
          initialized: state.initialized,
          sealed: state.sealed,
          t: shamir ? state.threshold : 1,
          n: shamir ? state.threshold : 1,
          progress: state.progress,
          nonce: '',
          version: VAULT_COMPAT_VERSION,
          migration: false,
          recovery_seal: !shamir,
          storage_type: state.storage,
        }
      },
    })

    app.get('/v1/auth/token/lookup-self', {
      config: { access: { authenticated: true }, errorPage },
      handler: async (request) => {
        const { principal } = ctxOf(request)
        const tokenId = principal.via.type === 'token' ? principal.via.tokenId : ''
        return envelope(request, {
          accessor: tokenId,
          id: tokenId,
          display_name: `${principal.kind}-${principal.id}`,
          entity_id: principal.id,
          policies: [principal.role],
          meta: { org_id: principal.orgId, role: principal.role },
          path: 'auth/token/create',
          type: 'service',
          orphan: true,
          renewable: false,
          num_uses: 0,
          creation_ttl: 0,
          explicit_max_ttl: 0,
          ttl: 0,
          expire_time: null,
        })
      },
    })

    // Vault's CLI (`vault kv get|put|list…`) and tools built on its helpers ask here which
    // mount a path is in and its KV version before each call; a 404 would make them take
    // `secret/` for KV version 1 and call paths Custodian does not serve.
    app.get('/v1/sys/internal/ui/mounts/*', {
      config: { access: { authenticated: true }, errorPage },
      schema: { params: Type.Object({ '*': Type.String() }) },
      handler: async (request) => {
        const name = request.params['*'].split('/')[0] ?? ''
        const mount = Object.hasOwn(MOUNTS, name) ? MOUNTS[name] : undefined
        // As Vault: a path in no mount is refused, so this route does not list mounts.
        if (mount === undefined)
          throw new AppError(
            'FORBIDDEN',
            `no mount at ${name}/: Custodian serves ${KV_MOUNT}/ (KV version 2) and transit/`,
          )
        return envelope(request, {
          path: `${name}/`,
          type: mount.type,
          description: mount.description,
          options: mount.options,
          config: { default_lease_ttl: 0, max_lease_ttl: 0, force_no_cache: false },
          local: false,
          seal_wrap: false,
          external_entropy_access: false,
          accessor: '',
          uuid: '',
        })
      },
    })

    await app.register(vaultTransitRoutes({ transit }))
  }
}
