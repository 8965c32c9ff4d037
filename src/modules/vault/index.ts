import type { DestinationGuard } from '../../http/outbound.ts'
import type { Kysely } from 'kysely'
import type { DB } from '../../db/schema.ts'
import type { Config } from '../../config.ts'
import type { RootKeyProvider } from '../../crypto/providers/provider.ts'
import type { ShredRing } from '../../crypto/shred-ring.ts'
import type { AuditService } from '../audit/audit.service.ts'
import { createKeyring } from './vault.keyring.ts'
import { vaultRoutes } from './vault.routes.ts'
import { createSealService } from './vault.seal.ts'
import { createVaultService, type VaultService } from './vault.service.ts'
import { createSourcesService } from './vault.sources.ts'
import { createTransitService } from './vault.transit.ts'
import { createDbRotationService, type DbRotationService } from './vault.dbrotation.ts'
import { dbRotationRoutes } from './dbrotation.routes.ts'
import { secretPathRoutes } from './secret-paths.routes.ts'
import { transitRoutes } from './transit.routes.ts'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { createRotationService } from './vault.rotation.ts'
import { createKvService } from './vault.kv.ts'

export function createVaultModule(deps: {
  db: Kysely<DB>
  rootKey: RootKeyProvider
  audit: AuditService
  config: Pick<Config, 'secretMaxBytes' | 'auth' | 'rewrap' | 'dbRotationCheckMs' | 'connectorCheck'>
  providerOrgId: () => Promise<string | undefined>
  log: { error(obj: object, msg: string): void }
  shredRing: ShredRing
  /** Where tenants' database credentials may connect (the outbound guard, K10). */
  outboundGuard: Pick<DestinationGuard, 'resolveHost'>
}) {
  const keyring = createKeyring(deps.rootKey)
  let service: VaultService | undefined
  let dbRotation: DbRotationService | undefined
  const sources = createSourcesService({
    db: deps.db,
    vault: () => service as VaultService,
    audit: deps.audit,
    rotateOnExposure: () => (dbRotation as DbRotationService).rotateOnExposure.bind(dbRotation),
    log: deps.log,
    checkIntervalMs: deps.config.connectorCheck.intervalMs,
    guard: deps.outboundGuard,
  })
  service = createVaultService({
    db: deps.db,
    keyring,
    audit: deps.audit,
    maxValueBytes: deps.config.secretMaxBytes,
    preflight: (orgId, type, value) => sources.preflight(orgId, type, value),
    readOnlyConnectors: (trx) => sources.readOnlyConnectors(trx),
    recheck: (...args) => sources.check(...args),
    checkMaxAgeMs: deps.config.connectorCheck.maxAgeMs,
  })
  const seal = createSealService({
    db: deps.db,
    provider: deps.rootKey,
    keyring,
    audit: deps.audit,
    providerOrgId: deps.providerOrgId,
  })
  const rotation = createRotationService({
    db: deps.db,
    keyring,
    provider: deps.rootKey,
    audit: deps.audit,
    batchSize: deps.config.rewrap.batchSize,
    intervalMs: deps.config.rewrap.intervalMs,
    log: deps.log,
    shredRing: deps.shredRing,
  })
  const transit = createTransitService({ db: deps.db, keyring, audit: deps.audit })
  const kv = createKvService({ db: deps.db, vault: service, audit: deps.audit })
  dbRotation = createDbRotationService({
    db: deps.db,
    vault: () => service,
    audit: deps.audit,
    intervalMs: deps.config.dbRotationCheckMs,
    log: deps.log,
    guard: deps.outboundGuard,
  })
  const routes: FastifyPluginAsyncTypebox = async (app) => {
    await app.register(
      vaultRoutes({ vault: service, seal, rotation, sources, rateLimitPerMinute: deps.config.auth.rateLimitPerMinute }),
    )
    await app.register(transitRoutes({ transit }))
    await app.register(dbRotationRoutes({ dbRotation }))
    await app.register(secretPathRoutes({ vault: service }))
  }
  return { service, seal, keyring, rotation, sources, transit, kv, dbRotation, routes }
}
