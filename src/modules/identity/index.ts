import type { Kysely } from 'kysely'
import type { DB } from '../../db/schema.ts'
import type { Config } from '../../config.ts'
import type { AccessService } from '../access/access.service.ts'
import type { AuditService } from '../audit/audit.service.ts'
import { createAuthService } from './auth.service.ts'
import { createIdentityService } from './identity.service.ts'
import { identityRoutes } from './identity.routes.ts'
import { createMfaService, createSecondFactor } from './mfa.service.ts'
import { createCredentialGate } from './credential-gate.ts'
import { mfaRoutes } from './mfa.routes.ts'
import { passkeysRoutes } from './passkeys.routes.ts'
import { createPasskeyService } from './passkeys.service.ts'
import { createWebauthnCeremonies, relyingPartyOf } from './webauthn.ts'
import { createOperatorService } from './operator.service.ts'
import { operatorRoutes } from './operator.routes.ts'
import { createSecurityPolicyService } from './policy.service.ts'
import { policyRoutes } from './policy.routes.ts'
import { createSessionsService } from './sessions.service.ts'
import { sessionsRoutes } from './sessions.routes.ts'
import { orgTimeZone as readOrgTimeZone } from './identity.store.ts'
import type { UserSecrets } from '../vault/vault.usersecrets.ts'
import type { VaultService } from '../vault/vault.service.ts'
import { createOidcRelyingParty } from './sso.oidc.ts'
import type { OutboundFetch } from '../../http/outbound.ts'
import { createSsoLogin } from './sso.login.ts'
import { ssoRoutes } from './sso.routes.ts'
import { createSsoService } from './sso.service.ts'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { OrgServedGuard } from '../audit/rollback.service.ts'
import type { Residency } from '../ops/residency.ts'

export function createIdentityModule(deps: {
  db: Kysely<DB>
  config: Pick<Config, 'auth' | 'extraCaFile' | 'publicUrl' | 'httpsPort'>
  access: AccessService
  audit: AuditService
  userSecrets: UserSecrets
  /** HMAC key for the brute-force throttle's counters (derived from the audit HMAC key). */
  throttleKey: Buffer
  /** The vault, built after this module: SSO keeps its client secret there. */
  vault: () => VaultService
  /** Outbound HTTPS through the destination guard (OpenID discovery, token exchange, keys). */
  outbound?: OutboundFetch
  /** Rollback detection (P8.1): a sign-in, an invitation or an SSO callback into a refused org is refused. */
  served: OrgServedGuard
  /** Data residency (P8.2): the org ids this deployment mints, and the region an org is created in. */
  residency: Pick<Residency, 'region' | 'mintOrgId' | 'assertCreatedHere'>
}) {
  const publicUrl = deps.config.publicUrl ?? `https://localhost:${deps.config.httpsPort}`
  // Passkeys are bound to the public URL: its host name is the RP ID, its origin the one accepted.
  const ceremonies = createWebauthnCeremonies({ db: deps.db, rp: relyingPartyOf(publicUrl) })
  const secondFactor = createSecondFactor({ db: deps.db, userSecrets: deps.userSecrets, ceremonies })
  const gate = createCredentialGate({
    db: deps.db,
    config: deps.config,
    audit: deps.audit,
    secondFactor,
    throttleKey: deps.throttleKey,
    providerOrgId: () => auth.providerOrgId(),
    passkeyOwner: (credentialId) => ceremonies.userOfCredential(credentialId),
    served: deps.served,
  })
  const passkeys = createPasskeyService({ db: deps.db, ceremonies, audit: deps.audit })
  const mfa = createMfaService({ db: deps.db, userSecrets: deps.userSecrets, audit: deps.audit, gate, secondFactor })
  const auth = createAuthService({ ...deps, gate })
  const identity = createIdentityService({ ...deps, gate })
  const policy = createSecurityPolicyService({ db: deps.db, audit: deps.audit })
  const sessions = createSessionsService({
    db: deps.db,
    audit: deps.audit,
    idleMinutes: deps.config.auth.sessionIdleMinutes,
  })
  const operator = createOperatorService({ db: deps.db, audit: deps.audit })
  const rp = createOidcRelyingParty({ caFile: deps.config.extraCaFile, fetch: deps.outbound })
  const sso = createSsoService({
    db: deps.db,
    vault: deps.vault,
    access: deps.access,
    audit: deps.audit,
    rp,
    publicUrl,
  })
  const ssoLogin = createSsoLogin({
    db: deps.db,
    config: deps.config,
    vault: deps.vault,
    audit: deps.audit,
    rp,
    publicUrl,
    providerOrgId: () => auth.providerOrgId(),
    served: deps.served,
  })
  const routes: FastifyPluginAsyncTypebox = async (app) => {
    await app.register(identityRoutes({ auth, identity, rateLimitPerMinute: deps.config.auth.rateLimitPerMinute }))
    await app.register(mfaRoutes({ mfa, rateLimitPerMinute: deps.config.auth.rateLimitPerMinute }))
    await app.register(passkeysRoutes({ passkeys, auth, mfa, rateLimitPerMinute: deps.config.auth.rateLimitPerMinute }))
    await app.register(policyRoutes({ policy }))
    await app.register(sessionsRoutes({ sessions }))
    await app.register(operatorRoutes({ operator }))
    await app.register(ssoRoutes({ sso, login: ssoLogin, rateLimitPerMinute: deps.config.auth.rateLimitPerMinute }))
  }
  /** For other modules: the org's time zone, in their org transaction. */
  const orgTimeZone = readOrgTimeZone
  return { auth, identity, mfa, passkeys, sso, routes, orgTimeZone }
}
