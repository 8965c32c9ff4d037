import { layersOf } from '../vault/secret-paths.ts'
import { randomBytes, randomUUID } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { DB } from '../../db/schema.ts'
import { withOrg, withOwner, type Trx } from '../../db/tenant.ts'
import { hashPassword } from '../../crypto/password.ts'
import { hashSecret, issueToken, parseToken, secretMatches } from '../../crypto/tokens.ts'
import type { Config } from '../../config.ts'
import { AppError } from '../../errors.ts'
import type { Principal } from '../../context.ts'
import type { AccessService } from '../access/access.service.ts'
import type { AuditService } from '../audit/audit.service.ts'
import type { RequestMeta } from '../audit/audit.types.ts'
import * as store from './identity.store.ts'
import { requireMailbox } from '../../email-address.ts'
import type { CredentialGate, GatePassed } from './credential-gate.ts'
import type { AuthenticationResponseJSON } from '@simplewebauthn/server'
import type { Residency } from '../ops/residency.ts'
import { type CredentialCheck, confirmCredential } from '../../db/credential-epoch.ts'
import { type CachedCredential, createCredentialCache, samePrincipal } from './credential-cache.ts'

/**
 * Credentials to principals, and the ways in: bootstrap, password login, sessions.
 *
 * Every credential is `id + secret` with only SHA-256(secret) stored and compared in
 * constant time; any failure — unknown id, wrong secret, revoked, expired, member
 * removed — is the same `null`, so a caller learns nothing from the difference.
 */
export interface AuthService {
  /**
   * The principal a request's credential gives, or null. By default a credential this
   * process checked before comes from its cache (src/modules/identity/credential-cache.ts)
   * with a pending {@link CredentialCheck} (see `credentialCheck`) the request's first
   * transaction confirms; `{ cached: false }` reads it from the database (what a refusal is
   * decided on).
   */
  authenticate(
    input: {
      bearer?: string | undefined
      sessionCookie?: string | undefined
      csrfHeader?: string | undefined
      unsafeMethod: boolean
    },
    options?: { cached?: boolean },
  ): Promise<Principal | null>
  /** The check a principal from the cache waits on; undefined for one read from the database. */
  credentialCheck(principal: Principal): CredentialCheck | undefined
  /**
   * Keeps the credential cache in step with the database's notifications (migration 0063's
   * channel): `credentialsChanged` for an org's change, `forgetCredentials` whenever some may
   * have been missed; the cache is used only while `notices.connected()`.
   */
  followCredentialNotices(notices: { connected(): boolean }): void
  credentialsChanged(orgId: string): void
  forgetCredentials(): void
  /** Issues a new bootstrap token (retiring unused older ones); refuses once bootstrapped. */
  issueBootstrapToken(): Promise<{ token: string; expiresAt: Date }>
  /**
   * At start: a new bootstrap token unless an unused, unexpired one exists (so that N
   * processes starting together do not retire each other's tokens).
   */
  issueBootstrapTokenOnStart(): Promise<
    { token: string; expiresAt: Date } | { pendingUntil: Date } | { bootstrapped: true }
  >
  isBootstrapped(): Promise<boolean>
  bootstrap(
    input: { token: string; orgName: string; email: string; password: string },
    meta: RequestMeta,
  ): Promise<{ apiToken: string; orgId: string; userId: string }>
  /** Password sign-in; the second factor (when enrolled) is a code or a passkey assertion. */
  login(
    input: {
      email: string
      password: string
      orgId?: string | undefined
      code?: string | undefined
      passkey?: AuthenticationResponseJSON | undefined
    },
    meta: RequestMeta,
  ): Promise<{ sessionToken: string; csrfToken: string; orgId: string; expiresAt: Date }>
  /**
   * Passwordless sign-in with a discoverable passkey and user verification (both factors),
   * through the credential gate like a password; gives the same session.
   */
  loginWithPasskey(
    input: { response: AuthenticationResponseJSON; orgId?: string | undefined },
    meta: RequestMeta,
  ): Promise<{ sessionToken: string; csrfToken: string; orgId: string; expiresAt: Date }>
  logout(principal: Principal, meta: RequestMeta): Promise<void>
  /** The provider org's id, where refusals outside any org are recorded. */
  providerOrgId(): Promise<string | undefined>
}

/**
 * Issues a browser session for a member and records the login, in the caller's
 * transaction (password login, SSO). The cookie value and the CSRF token are returned
 * once; only their SHA-256 hashes are stored.
 */
export async function startSession(
  trx: Trx,
  config: Pick<Config, 'auth'>,
  input: {
    orgId: string
    userId: string
    meta: RequestMeta
    mfaVerified: boolean
    audit: Pick<AuditService, 'append'>
    details: Record<string, unknown>
  },
): Promise<{ sessionToken: string; csrfToken: string; expiresAt: Date }> {
  const session = issueToken('cst_ses')
  const csrf = randomBytes(32).toString('base64url')
  const expiresAt = new Date(Date.now() + config.auth.sessionAbsoluteHours * 3_600_000)
  await store.insertSession(trx, {
    id: session.id,
    org_id: input.orgId,
    user_id: input.userId,
    secret_hash: session.secretHash,
    csrf_hash: hashSecret(csrf),
    expires_at: expiresAt,
    ip: input.meta.ip,
    user_agent: input.meta.userAgent?.slice(0, 512) ?? null,
    revoked_at: null,
    mfa_at: input.mfaVerified ? new Date() : null,
  })
  await input.audit.append(trx, {
    orgId: input.orgId,
    actor: { type: 'user', id: input.userId },
    action: 'auth.login',
    target: { type: 'session', id: session.id },
    outcome: 'success',
    details: input.details,
    meta: input.meta,
  })
  return { sessionToken: session.token, csrfToken: csrf, expiresAt }
}

const BOOTSTRAP_TTL_MS = 60 * 60 * 1000
const BOOTSTRAP_TOKEN_DAYS = 90

export function createAuthService(deps: {
  db: Kysely<DB>
  config: Pick<Config, 'auth'>
  access: Pick<AccessService, 'permissionsOf'>
  audit: Pick<AuditService, 'append' | 'recordSeparately'>
  gate: Pick<CredentialGate, 'check'>
  /** Data residency (P8.2): the provider org is pinned to this deployment's region too. */
  residency: Pick<Residency, 'region' | 'mintOrgId'>
}): AuthService {
  const { db, config, access, audit, gate, residency } = deps
  let cachedProviderOrgId: string | undefined
  const cache = createCredentialCache(config.auth.credentialCacheEntries)
  const checks = new WeakMap<Principal, CredentialCheck>()
  // Until the database's notifications are followed, nothing is read from the cache.
  let notices: { connected(): boolean } = { connected: () => false }
  const cached = (key: string): CachedCredential | undefined => (notices.connected() ? cache?.get(key) : undefined)

  /**
   * A request's copy of a cached principal, with the check its first transaction confirms.
   * If the org's credential epoch moved, `refresh` reads the credential again: the same
   * principal lets the request go on; a credential no longer valid, or one whose access
   * changed, refuses it.
   */
  function fromCache(key: string, hit: CachedCredential, reread: () => Promise<Principal | null>): Principal {
    const principal: Principal = { ...hit.principal }
    const decide = async (): Promise<void> => {
      cache?.delete(key)
      const fresh = await reread()
      if (fresh === null) throw new AppError('UNAUTHENTICATED', 'this credential was revoked or has expired')
      if (!samePrincipal(fresh, principal)) {
        // What the request did before this point was decided on the old copy: refused as
        // the new one decides, or else to be sent again.
        await check.changed?.(fresh)
        throw new AppError('CONFLICT', 'this credential’s access changed while the request ran; send the request again')
      }
      check.state = 'confirmed'
    }
    const check: CredentialCheck = {
      orgId: hit.principal.orgId,
      epoch: hit.epoch,
      state: 'pending',
      async refresh() {
        // Off while the credential is read again (that read must not confirm itself).
        check.state = 'off'
        try {
          await decide()
        } catch (refusal) {
          check.state = 'refused'
          check.refusal = refusal
          throw refusal
        }
      },
      confirm: () => confirmCredential(db, check),
    }
    checks.set(principal, check)
    return principal
  }

  function remember(key: string, entry: CachedCredential): Principal {
    cache?.set(key, entry)
    return entry.principal
  }

  async function principalFor(
    trx: Kysely<DB>,
    row: store.AuthExtras & { org_id: string; role: string; mfa_at?: Date | null },
    kind: Principal['kind'],
    id: string,
    via: Principal['via'],
    scopes: string[] | null,
    secretPaths: Principal['secretPaths'],
  ): Promise<Principal> {
    const granted = await access.permissionsOf(trx, { id: row.org_id, kind: row.org_kind }, row.role)
    const permissions = scopes === null ? granted : new Set([...granted].filter((p) => scopes.includes(p)))
    return {
      kind,
      id,
      orgId: row.org_id,
      orgKind: row.org_kind,
      role: row.role,
      permissions,
      secretPaths,
      via,
      mfa: { enrolled: row.mfa_confirmed_at !== null || row.has_passkey, at: row.mfa_at ?? null },
      // Operators (the provider org's people) always need a second factor (P3.2, P2.7).
      policy: {
        require2fa: row.require_2fa === true || row.org_kind === 'provider',
        stepUpMinutes: row.step_up_minutes ?? 10,
        ipAllowlist: (row.ip_allowlist ?? []).map((e) => e.cidr),
      },
    }
  }

  async function fromBearer(bearer: string, useCache: boolean): Promise<Principal | null> {
    const parsed = parseToken('cst_api', bearer)
    if (parsed === undefined) return null
    const key = `cst_api:${parsed.id}`
    const hit = useCache ? cached(key) : undefined
    if (hit !== undefined && secretMatches(parsed.secret, hit.secretHash) && hit.expiresAt > Date.now()) {
      if (hit.lastUsedAt === null || Date.now() - hit.lastUsedAt > 60_000) {
        await store.touchToken(db, parsed.id)
        hit.lastUsedAt = Date.now()
      }
      return fromCache(key, hit, () => fromBearer(bearer, false))
    }
    // Owner connection, one read-only statement: the token is what tells us the org.
    const row = await store.findTokenForAuth(db, parsed.id)
    if (row === undefined || !secretMatches(parsed.secret, row.secret_hash)) return null
    if (row.revoked_at !== null || row.expires_at.getTime() <= Date.now() || row.role === null) return null
    let lastUsedAt = row.last_used_at?.getTime() ?? null
    if (lastUsedAt === null || Date.now() - lastUsedAt > 60_000) {
      await store.touchToken(db, row.id)
      lastUsedAt = Date.now()
    }
    const kind = row.user_id !== null ? 'user' : 'service_account'
    const principalId = (row.user_id ?? row.service_account_id) as string
    const principal = await principalFor(
      db,
      { ...row, role: row.role },
      kind,
      principalId,
      { type: 'token', tokenId: row.id },
      row.scopes,
      // A token's own patterns narrow its owner's; both apply.
      layersOf(row.owner_secret_paths, row.secret_paths),
    )
    return remember(key, {
      secretHash: row.secret_hash,
      principal,
      epoch: Number(row.credential_epoch),
      expiresAt: row.expires_at.getTime(),
      lastUsedAt,
    })
  }

  const csrfFailed = () =>
    new AppError(
      'CSRF_FAILED',
      'a state-changing request with a session cookie needs the X-CSRF-Token header from login',
    )

  async function fromSession(
    cookie: string,
    csrfHeader: string | undefined,
    unsafe: boolean,
    useCache: boolean,
  ): Promise<Principal | null> {
    const parsed = parseToken('cst_ses', cookie)
    if (parsed === undefined) return null
    const key = `cst_ses:${parsed.id}`
    const hit = useCache ? cached(key) : undefined
    const idleMs = config.auth.sessionIdleMinutes * 60_000
    if (
      hit !== undefined &&
      secretMatches(parsed.secret, hit.secretHash) &&
      hit.expiresAt > Date.now() &&
      hit.lastUsedAt !== null &&
      hit.lastUsedAt + idleMs > Date.now()
    ) {
      if (
        unsafe &&
        (csrfHeader === undefined || hit.csrfHash === undefined || !secretMatches(csrfHeader, hit.csrfHash))
      )
        throw csrfFailed()
      if (Date.now() - hit.lastUsedAt > 30_000) {
        await store.touchSession(db, parsed.id)
        hit.lastUsedAt = Date.now()
      }
      return fromCache(key, hit, () => fromSession(cookie, csrfHeader, unsafe, false))
    }
    const row = await store.findSessionForAuth(db, parsed.id)
    if (row === undefined || !secretMatches(parsed.secret, row.secret_hash)) return null
    const now = Date.now()
    const idleLimit = row.last_seen_at.getTime() + idleMs
    if (row.revoked_at !== null || row.expires_at.getTime() <= now || idleLimit <= now || row.role === null) return null
    if (unsafe && (csrfHeader === undefined || !secretMatches(csrfHeader, row.csrf_hash))) throw csrfFailed()
    let lastSeenAt = row.last_seen_at.getTime()
    if (now - lastSeenAt > 30_000) {
      await store.touchSession(db, row.id)
      lastSeenAt = now
    }
    const principal = await principalFor(
      db,
      { ...row, role: row.role },
      'user',
      row.user_id,
      { type: 'session', sessionId: row.id },
      null,
      layersOf(row.owner_secret_paths),
    )
    return remember(key, {
      secretHash: row.secret_hash,
      csrfHash: row.csrf_hash,
      principal,
      epoch: Number(row.credential_epoch),
      expiresAt: row.expires_at.getTime(),
      lastUsedAt: lastSeenAt,
    })
  }

  /** After the gate: the org entered (or a refusal, audited), then a new session. */
  async function enter(
    passed: GatePassed,
    requestedOrg: string | undefined,
    method: string,
    meta: RequestMeta,
  ): Promise<{ sessionToken: string; csrfToken: string; orgId: string; expiresAt: Date }> {
    const { user, memberships } = passed
    if (passed.orgId === undefined) {
      if (requestedOrg === undefined && memberships.length > 1) {
        throw new AppError('VALIDATION_FAILED', 'this account belongs to several orgs: say which with orgId', {
          errors: [{ path: '/body/orgId', message: 'required for this account' }],
        })
      }
      const provider = await providerOrgId()
      const orgs = memberships.length > 0 ? memberships.map((m) => m.org_id) : provider === undefined ? [] : [provider]
      for (const orgId of orgs) {
        await audit.recordSeparately({
          orgId,
          actor: { type: 'user', id: user.id },
          action: 'auth.login',
          outcome: 'denied',
          details: { reason: 'not a member of the requested org', code: 'LOGIN_FAILED' },
          meta,
        })
      }
      const error = new AppError('LOGIN_FAILED', 'email, password or code is wrong')
      error.audited = true
      throw error
    }
    const orgId = passed.orgId
    const mfaVerified = passed.secondFactor !== null
    await withOwner(db, (trx) => store.recordLoginSuccess(trx, user.id))
    const session = await withOrg(db, orgId, (trx) =>
      startSession(trx, config, {
        orgId,
        userId: user.id,
        meta,
        mfaVerified,
        audit,
        details: { method, ...(passed.passkeyId === undefined ? {} : { passkeyId: passed.passkeyId }) },
      }),
    )
    return { ...session, orgId }
  }

  async function providerOrgId(): Promise<string | undefined> {
    cachedProviderOrgId ??= (await withOwner(db, (trx) => store.providerOrg(trx)))?.id
    return cachedProviderOrgId
  }

  return {
    async authenticate({ bearer, sessionCookie, csrfHeader, unsafeMethod }, options) {
      const useCache = options?.cached ?? true
      if (bearer !== undefined) return fromBearer(bearer, useCache)
      if (sessionCookie !== undefined) return fromSession(sessionCookie, csrfHeader, unsafeMethod, useCache)
      return null
    },

    credentialCheck: (principal) => checks.get(principal),

    followCredentialNotices(source) {
      notices = source
    },

    credentialsChanged(orgId) {
      if (cache === undefined) return
      for (const [key, entry] of cache.entries()) if (entry.principal.orgId === orgId) cache.delete(key)
    },

    forgetCredentials() {
      cache?.clear()
    },

    providerOrgId,

    async isBootstrapped() {
      return (await providerOrgId()) !== undefined
    },

    async issueBootstrapToken() {
      const issued = issueToken('cst_boot')
      const expiresAt = new Date(Date.now() + BOOTSTRAP_TTL_MS)
      await withOwner(db, async (trx) => {
        if ((await store.providerOrg(trx)) !== undefined) {
          throw new AppError(
            'ALREADY_BOOTSTRAPPED',
            'this installation is already bootstrapped; ask an owner for an API token',
          )
        }
        await store.replaceBootstrapToken(trx, { id: issued.id, secret_hash: issued.secretHash, expires_at: expiresAt })
      })
      return { token: issued.token, expiresAt }
    },

    async issueBootstrapTokenOnStart() {
      if ((await providerOrgId()) !== undefined) return { bootstrapped: true as const }
      const pending = await withOwner(db, (trx) =>
        trx
          .selectFrom('bootstrap_tokens')
          .select('expires_at')
          .where('used_at', 'is', null)
          .where('expires_at', '>', new Date())
          .orderBy('expires_at', 'desc')
          .executeTakeFirst(),
      )
      if (pending !== undefined) return { pendingUntil: pending.expires_at }
      return this.issueBootstrapToken()
    },

    async bootstrap(input, meta) {
      const parsed = parseToken('cst_boot', input.token)
      const invalid = () =>
        new AppError('BOOTSTRAP_TOKEN_INVALID', 'the bootstrap token is invalid, expired or already used')
      if (parsed === undefined) throw invalid()
      // Check the token before spending an argon2 hash on the request (it is checked
      // again under the row lock below).
      const candidate = await withOwner(db, (trx) =>
        trx.selectFrom('bootstrap_tokens').selectAll().where('id', '=', parsed.id).executeTakeFirst(),
      )
      if (candidate === undefined || !secretMatches(parsed.secret, candidate.secret_hash) || candidate.used_at !== null)
        throw invalid()
      const passwordHash = await hashPassword(input.password)
      const result = await withOwner(db, async (trx) => {
        // Row lock: two requests with one token cannot both pass the check below.
        const row = await store.lockBootstrapToken(trx, parsed.id)
        if (row === undefined || !secretMatches(parsed.secret, row.secret_hash)) throw invalid()
        if (row.used_at !== null || row.expires_at.getTime() <= Date.now()) throw invalid()
        if ((await store.providerOrg(trx)) !== undefined)
          throw new AppError('ALREADY_BOOTSTRAPPED', 'already bootstrapped')
        const orgId = residency.mintOrgId()
        const userId = randomUUID()
        await store.insertOrg(trx, {
          id: orgId,
          kind: 'provider',
          name: input.orgName,
          region: residency.region ?? null,
        })
        const email = requireMailbox(input.email, '/body/email').address
        if ((await store.findUserByEmail(trx, email)) !== undefined)
          throw new AppError('CONFLICT', 'that email is taken')
        await store.insertUser(trx, { id: userId, email, password_hash: passwordHash, last_login_at: null })
        await store.insertMembership(trx, { org_id: orgId, user_id: userId, role: 'owner' })
        const token = issueToken('cst_api')
        await store.insertApiToken(trx, {
          id: token.id,
          org_id: orgId,
          user_id: userId,
          service_account_id: null,
          name: 'bootstrap',
          secret_hash: token.secretHash,
          scopes: null,
          expires_at: new Date(Date.now() + BOOTSTRAP_TOKEN_DAYS * 86_400_000),
          created_by: `user:${userId}`,
          last_used_at: null,
          revoked_at: null,
        })
        await store.markBootstrapTokenUsed(trx, row.id)
        const actor = { type: 'user' as const, id: userId }
        for (const [action, target] of [
          ['org.create', { type: 'org', id: orgId }],
          ['member.add', { type: 'user', id: userId }],
          ['token.create', { type: 'api_token', id: token.id }],
        ] as const) {
          await audit.append(trx, {
            orgId,
            actor,
            action,
            target,
            outcome: 'success',
            details:
              action === 'member.add'
                ? { role: 'owner', via: 'bootstrap' }
                : action === 'org.create' && residency.region !== undefined
                  ? { region: residency.region }
                  : {},
            meta,
          })
        }
        return { apiToken: token.token, orgId, userId }
      })
      cachedProviderOrgId = result.orgId
      return result
    },

    async login(input, meta) {
      // The gate applies the allowlists, the throttle, the password and the second factor.
      const passed = await gate.check({
        action: 'auth.login',
        account: { email: input.email },
        target: { requested: input.orgId },
        password: input.password,
        secondFactor: { code: input.code, passkey: input.passkey, mode: 'if-enrolled' },
        meta,
        wrong: 'LOGIN_FAILED',
      })
      const method =
        passed.secondFactor === null
          ? 'password'
          : passed.secondFactor === 'passkey'
            ? 'password+passkey'
            : 'password+totp'
      return enter(passed, input.orgId, method, meta)
    },

    async loginWithPasskey(input, meta) {
      const passed = await gate.check({
        action: 'auth.login',
        account: { credentialId: input.response.id },
        target: { requested: input.orgId },
        passkey: input.response,
        meta,
        wrong: 'LOGIN_FAILED',
      })
      return enter(passed, input.orgId, 'passkey', meta)
    },

    async logout(principal, meta) {
      // Every process sees the revocation by the epoch it raises; this one forgets at once.
      cache?.delete(
        principal.via.type === 'session' ? `cst_ses:${principal.via.sessionId}` : `cst_api:${principal.via.tokenId}`,
      )
      await withOrg(db, principal.orgId, async (trx) => {
        if (principal.via.type === 'session') await store.revokeSession(trx, principal.via.sessionId)
        else await store.revokeApiToken(trx, principal.via.tokenId)
        await audit.append(trx, {
          orgId: principal.orgId,
          actor: { type: principal.kind, id: principal.id },
          action: 'auth.logout',
          target:
            principal.via.type === 'session'
              ? { type: 'session', id: principal.via.sessionId }
              : { type: 'api_token', id: principal.via.tokenId },
          outcome: 'success',
          meta,
        })
      })
    },
  }
}
