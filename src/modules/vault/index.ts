import type { Kysely } from 'kysely'
import type { DB } from '../../db/schema.ts'
import type { Config } from '../../config.ts'
import type { RootKeyProvider } from '../../crypto/providers/provider.ts'
import type { AuditService } from '../audit/audit.service.ts'
import { createKeyring } from './vault.keyring.ts'
import { vaultRoutes } from './vault.routes.ts'
import { createSealService } from './vault.seal.ts'
import { createVaultService, type VaultService } from './vault.service.ts'
import { createSourcesService } from './vault.sources.ts'
import { createTransitService } from './vault.transit.ts'
import { transitRoutes } from './transit.routes.ts'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { createRotationService } from './vault.rotation.ts'

export function createVaultModule(deps: {
  db: Kysely<DB>
  rootKey: RootKeyProvider
  audit: AuditService
  config: Pick<Config, 'secretMaxBytes' | 'auth' | 'rewrap'>
  providerOrgId: () => Promise<string | undefined>
  log: { error(obj: object, msg: string): void }
}) {
  const keyring = createKeyring(deps.rootKey)
  let service: VaultService | undefined
  const sources = createSourcesService({ db: deps.db, vault: () => service as VaultService, audit: deps.audit })
  service = createVaultService({ db: deps.db, keyring, audit: deps.audit, maxValueBytes: deps.config.secretMaxBytes, preflight: sources.preflight, readOnlyConnectors: sources.readOnlyConnectors })
  const seal = createSealService({ provider: deps.rootKey, keyring, audit: deps.audit, providerOrgId: deps.providerOrgId })
  const rotation = createRotationService({ db: deps.db, keyring, provider: deps.rootKey, audit: deps.audit, batchSize: deps.config.rewrap.batchSize, intervalMs: deps.config.rewrap.intervalMs, log: deps.log })
  const transit = createTransitService({ db: deps.db, keyring, audit: deps.audit })
  const routes: FastifyPluginAsyncTypebox = async (app) => {
    await app.register(vaultRoutes({ vault: service, seal, rotation, sources, rateLimitPerMinute: deps.config.auth.rateLimitPerMinute }))
    await app.register(transitRoutes({ transit }))
  }
  return { service, seal, keyring, rotation, sources, transit, routes }
}
