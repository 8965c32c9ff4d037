import type { Kysely } from 'kysely'
import type { DB } from '../../db/schema.ts'
import type { Config } from '../../config.ts'
import type { AccessService } from '../access/access.service.ts'
import type { AuditService } from '../audit/audit.service.ts'
import { createAuthService } from './auth.service.ts'
import { createIdentityService } from './identity.service.ts'
import { identityRoutes } from './identity.routes.ts'

export function createIdentityModule(deps: { db: Kysely<DB>; config: Pick<Config, 'auth'>; access: AccessService; audit: AuditService }) {
  const auth = createAuthService(deps)
  const identity = createIdentityService(deps)
  return { auth, identity, routes: identityRoutes({ auth, identity, rateLimitPerMinute: deps.config.auth.rateLimitPerMinute }) }
}
