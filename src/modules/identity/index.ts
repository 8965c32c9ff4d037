import type { Kysely } from 'kysely'
import type { DB } from '../../db/schema.ts'
import type { Config } from '../../config.ts'
import type { AccessService } from '../access/access.service.ts'
import type { AuditService } from '../audit/audit.service.ts'
import { createAuthService } from './auth.service.ts'
import { createIdentityService } from './identity.service.ts'
import { identityRoutes } from './identity.routes.ts'
import { createMfaService } from './mfa.service.ts'
import { mfaRoutes } from './mfa.routes.ts'
import { createOperatorService } from './operator.service.ts'
import { operatorRoutes } from './operator.routes.ts'
import { createSecurityPolicyService } from './policy.service.ts'
import { policyRoutes } from './policy.routes.ts'
import { createSessionsService } from './sessions.service.ts'
import { sessionsRoutes } from './sessions.routes.ts'
import type { UserSecrets } from '../vault/vault.usersecrets.ts'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'

export function createIdentityModule(deps: { db: Kysely<DB>; config: Pick<Config, 'auth'>; access: AccessService; audit: AuditService; userSecrets: UserSecrets }) {
  const mfa = createMfaService({ db: deps.db, userSecrets: deps.userSecrets, audit: deps.audit })
  const auth = createAuthService({ ...deps, mfa })
  const identity = createIdentityService(deps)
  const policy = createSecurityPolicyService({ db: deps.db, audit: deps.audit })
  const sessions = createSessionsService({ db: deps.db, audit: deps.audit, idleMinutes: deps.config.auth.sessionIdleMinutes })
  const operator = createOperatorService({ db: deps.db, audit: deps.audit })
  const routes: FastifyPluginAsyncTypebox = async (app) => {
    await app.register(identityRoutes({ auth, identity, rateLimitPerMinute: deps.config.auth.rateLimitPerMinute }))
    await app.register(mfaRoutes({ mfa, rateLimitPerMinute: deps.config.auth.rateLimitPerMinute }))
    await app.register(policyRoutes({ policy }))
    await app.register(sessionsRoutes({ sessions }))
    await app.register(operatorRoutes({ operator }))
  }
  return { auth, identity, mfa, routes }
}
