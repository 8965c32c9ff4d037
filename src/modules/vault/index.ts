import type { Kysely } from 'kysely'
import type { DB } from '../../db/schema.ts'
import type { Config } from '../../config.ts'
import type { RootKeyProvider } from '../../crypto/providers/provider.ts'
import type { AuditService } from '../audit/audit.service.ts'
import { createKeyring } from './vault.keyring.ts'
import { vaultRoutes } from './vault.routes.ts'
import { createSealService } from './vault.seal.ts'
import { createVaultService } from './vault.service.ts'

export function createVaultModule(deps: {
  db: Kysely<DB>
  rootKey: RootKeyProvider
  audit: AuditService
  config: Pick<Config, 'secretMaxBytes' | 'auth'>
  providerOrgId: () => Promise<string | undefined>
}) {
  const keyring = createKeyring(deps.rootKey)
  const service = createVaultService({ db: deps.db, keyring, audit: deps.audit, maxValueBytes: deps.config.secretMaxBytes })
  const seal = createSealService({ provider: deps.rootKey, keyring, audit: deps.audit, providerOrgId: deps.providerOrgId })
  return { service, seal, keyring, routes: vaultRoutes({ vault: service, seal, rateLimitPerMinute: deps.config.auth.rateLimitPerMinute }) }
}
