import { isIPv6 } from 'node:net'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { AppError } from '../errors.ts'
import type { AuditService } from '../modules/audit/audit.service.ts'
import type { AuthService } from '../modules/identity/auth.service.ts'
import type { GrantsService } from '../modules/governance/grants.service.ts'
import type { UsageRecorder } from '../modules/governance/usage.ts'
import { actorOf, type Principal } from '../context.ts'
import type { RouteGuards } from './context.ts'
import { allowlistOf } from '../modules/identity/ip-allowlist.ts'
import { sendProblem, toAppError } from './problem.ts'
import { isDatabaseUnavailable } from '../db/tenant.ts'
import type { ViewerService, ViewerSession } from '../modules/audit/viewer.service.ts'
import type { OrgServedGuard } from '../modules/audit/rollback.service.ts'
import { canonicalOrgId, orgIdDigest, type Residency } from '../modules/ops/residency.ts'
import { type CredentialCheck, runWithCredentialCheck } from '../db/credential-epoch.ts'
import type { Permission } from '../modules/access/permissions.ts'

export const SESSION_COOKIE = '__Host-custodian_session'
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])
/** A cached credential does not act under a diagnostic grant: read it from the database. */
const CACHED_COPY_NOT_ENOUGH = new Error('a cached credential is not used to act in another org')
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * The one authorization point (P2.2, P2.3). Before any body is parsed or any handler
 * runs: who is calling (401), in which org (404 if not theirs — never revealing that the
 * org exists), and may they (403, naming the missing permission). A route that does not
 * declare how it is reached cannot be registered.
 *
 * Refused attempts are audited (P5.1) from the error handler, in a transaction of their
 * own; if that record cannot be written the caller gets 503, not the refusal.
 */
export function registerAccessControl(
  app: FastifyInstance,
  deps: {
    auth: Pick<AuthService, 'authenticate' | 'providerOrgId'> & Partial<Pick<AuthService, 'credentialCheck'>>
    audit: Pick<AuditService, 'recordSeparately'>
    grants?: Pick<GrantsService, 'resolveForUse' | 'recordUse'>
    usage?: Pick<UsageRecorder, 'record'>
    /** Embedded viewer tokens: the only credential `{ viewer: true }` routes take, and one no other route takes. */
    viewer?: Pick<ViewerService, 'authenticate'>
    /** Orgs refused as rolled back (P8.1): nothing of them is served, public routes included. */
    rollback?: OrgServedGuard
    /** Data residency (P8.2): an org of another region is refused (421) before anything else. */
    residency?: Pick<Residency, 'assertLocal'>
    /**
     * Where the credential is read: `Authorization: Bearer` or the session cookie (the
     * default), or — on the Vault-compatible listener (docs/vault-compat.md) — only an API
     * token in `X-Vault-Token`, never a session.
     */
    credential?: 'bearer-or-session' | 'x-vault-token'
    /**
     * The org a request asks to act in when its URL has no `{orgId}` (the Vault listener's
     * `X-Vault-Namespace`): another org than the credential's is treated exactly like another
     * org's URL (a diagnostic grant, or 404).
     */
    requestedOrg?: (request: FastifyRequest) => string | undefined
  },
): { publicRoutes: () => readonly string[] } {
  const { auth, audit, grants, usage, viewer, rollback, residency } = deps
  const cachedCheck = (principal: Principal) => auth.credentialCheck?.(principal)
  const pendingChecks = new WeakMap<FastifyRequest, CredentialCheck>()
  const vaultToken = deps.credential === 'x-vault-token'
  const limiter = new RefusalAuditLimiter(30, 60_000)

  app.decorateRequest('ctx', null)
  app.decorateRequest('principal', null)
  app.decorateRequest('meta', null as never)
  app.decorateRequest('viewer', null)

  const openRoutes: string[] = []
  app.addHook('onRoute', (route) => {
    if (route.config?.access === undefined) {
      throw new Error(`route ${String(route.method)} ${route.url} declares no access: every route needs config.access`)
    }
    if ('public' in route.config.access)
      for (const method of [route.method].flat()) if (method !== 'HEAD') openRoutes.push(`${method} ${route.url}`)
  })

  /**
   * P8.1: an org rolled back (its database older than what a witness saw) is refused before
   * anything of it is read or written — first by the org its URL names, before any
   * credential is checked (a restored database may hold credentials revoked since), then by
   * the org the caller acts in once known, then by an org a body names (`orgId`: a sign-in
   * into a named org, an operator's request for access), before the handler runs. Flows that
   * find their org in a link, a token or an account (an invitation, a consent page, a
   * recipient's acknowledgement, an SSO state, a sign-in's only org) call the same check
   * where they resolve it (`OrgServedGuard`); public routes of the provider org say
   * `providerPage`.
   */
  function refuseRolledBack(orgId: string | undefined): void {
    if (rollback === undefined || orgId === undefined) return
    rollback.assertServed(orgId)
  }

  /**
   * P8.2: an org id minted in another region is answered 421 with that region's URL before
   * any credential is checked or anything read: nothing of it is here, and nothing of it may
   * be processed here. Every place a request names an org is looked at — a path parameter
   * `orgId` or `…OrgId` (`targetOrgId`, `offboardedOrgId`), a query's `org`/`orgId`/`…OrgId`,
   * a body's `orgId`/`…OrgId` — not only the `{orgId}` of the org the request acts in. The id
   * refused is kept with the request, so its record holds a digest of that id.
   */
  function refuseOtherRegion(request: FastifyRequest, source: unknown, keys: (key: string) => boolean): void {
    if (residency === undefined || typeof source !== 'object' || source === null) return
    for (const [key, value] of Object.entries(source as Record<string, unknown>)) {
      if (!keys(key)) continue
      for (const orgId of [value].flat()) {
        if (typeof orgId !== 'string') continue
        try {
          residency.assertLocal(orgId)
        } catch (error) {
          misdirectedOrgs.set(request, canonicalOrgId(orgId) ?? orgId)
          throw error
        }
      }
    }
  }
  const misdirectedOrgs = new WeakMap<FastifyRequest, string>()
  const namesOrg = (key: string) => key === 'orgId' || key.endsWith('OrgId')
  const queryNamesOrg = (key: string) => key === 'org' || namesOrg(key)

  // After the body is parsed, before it is validated or handled: a body naming an org of another region or refused now.
  app.addHook('preValidation', async (request) => {
    refuseOtherRegion(request, request.body, namesOrg)
    const body = request.body as { orgId?: unknown } | null | undefined
    if (typeof body === 'object' && body !== null && typeof body.orgId === 'string') refuseRolledBack(body.orgId)
  })

  app.addHook('onRequest', async (request, reply) => {
    request.meta = { requestId: request.id, ip: request.ip, userAgent: request.headers['user-agent'] ?? null }
    const access = request.routeOptions.config.access
    refuseOtherRegion(request, request.params, namesOrg)
    refuseOtherRegion(request, request.query, queryNamesOrg)
    refuseRolledBack((request.params as { orgId?: string } | undefined)?.orgId)
    if (rollback !== undefined && request.routeOptions.config.providerPage === true)
      refuseRolledBack(await auth.providerOrgId())
    if (access === undefined || 'public' in access) return
    if ('viewer' in access) {
      await authenticateViewer(request, reply)
      refuseRolledBack(request.viewer?.orgId)
      return
    }

    const credential = vaultToken
      ? { bearer: vaultTokenOf(request), sessionCookie: undefined, csrfHeader: undefined, unsafeMethod: true }
      : {
          bearer: bearerOf(request),
          sessionCookie: request.cookies[SESSION_COOKIE],
          csrfHeader: headerOf(request, 'x-csrf-token'),
          unsafeMethod: !SAFE_METHODS.has(request.method),
        }
    const params = request.params as { orgId?: string; secretId?: string }
    const requested = params.orgId ?? deps.requestedOrg?.(request)
    const unauthenticated = () =>
      new AppError(
        'UNAUTHENTICATED',
        vaultToken
          ? 'send a valid API token (cst_api_…) as X-Vault-Token'
          : 'sign in, or send a valid API token as Authorization: Bearer',
      )
    const permission = 'permission' in access ? access.permission : undefined
    let principal = await auth.authenticate(credential)
    if (principal === null) throw unauthenticated()
    let acting: Principal
    try {
      // A credential from the process's cache is used only to let a request in, and only in
      // its own org: one acting under a diagnostic grant, and every refusal, is decided on
      // the credential as the database has it now.
      if (
        requested !== undefined &&
        requested.toLowerCase() !== principal.orgId &&
        cachedCheck(principal) !== undefined
      )
        throw CACHED_COPY_NOT_ENOUGH
      acting = await admit(request, principal, requested, permission)
    } catch (error) {
      if (cachedCheck(principal) === undefined) throw error
      principal = await auth.authenticate(credential, { cached: false })
      if (principal === null) {
        // Refused as any unknown credential is, not recorded as the cached copy's holder.
        request.principal = null
        throw unauthenticated()
      }
      acting = await admit(request, principal, requested, permission)
    }
    const check = cachedCheck(acting)
    if (check !== undefined) {
      check.changed = async (fresh) => {
        await admit(request, fresh, requested, permission)
      }
      pendingChecks.set(request, check)
    }
    // A use is written only once the credential is known to be current (a cached one is
    // confirmed first, and only when the use is actually written): a revoked credential
    // records none (P2.6).
    if ('permission' in access && usage !== undefined)
      await usage.record(acting, access.permission, check === undefined ? undefined : () => check.confirm())
    request.ctx = { principal: acting, orgId: acting.orgId, meta: request.meta }
  })

  // A request on a cached credential: its handler, and all it starts, runs with the pending
  // check, which the first transaction confirms (src/db/credential-epoch.ts). Entered here
  // rather than with the credential: a body is parsed in between, outside the request's
  // asynchronous context.
  app.addHook('preHandler', (request, _reply, done) => {
    const check = pendingChecks.get(request)
    if (check?.state === 'pending') runWithCredentialCheck(check, done)
    else done()
  })

  // A request that answers without having reached the database, or only in ways that do not
  // confirm, confirms before its answer leaves; a credential revoked meanwhile turns the
  // answer into the refusal.
  app.addHook('onSend', async (request, _reply, payload) => {
    const check = pendingChecks.get(request)
    if (check?.state === 'pending') await check.confirm()
    return payload
  })

  /**
   * Whether `principal` may make this request: the org's address allowlist, the org it acts in
   * (its own, or another under a diagnostic grant, whose use is recorded), the route's
   * permission and second factor. Returns the principal the request acts as.
   */
  async function admit(
    request: FastifyRequest,
    principal: Principal,
    requested: string | undefined,
    permission: Permission | undefined,
  ): Promise<Principal> {
    const params = request.params as { orgId?: string; secretId?: string }
    request.principal = principal
    refuseRolledBack(principal.orgId)
    // P2.9: whatever the credential, its org's allowlist decides where it may be used from.
    if (!allowlistOf(principal.policy.ipAllowlist).allows(request.ip)) {
      throw new AppError('IP_NOT_ALLOWED', 'this org accepts requests only from its allowed addresses')
    }

    let acting = principal
    if (requested !== undefined && (!UUID.test(requested) || requested.toLowerCase() !== principal.orgId)) {
      acting = await underGrant(request, principal, requested)
    }
    if (permission !== undefined && !acting.permissions.has(permission)) {
      throw new AppError('FORBIDDEN', `this needs the ${permission} permission`, { permission })
    }
    refuseRolledBack(acting.orgId)
    enforceSecondFactor(acting, request.routeOptions.config)
    if (acting.grant !== undefined && grants !== undefined) {
      // Every use is in the org's log before anything runs; if it cannot be, nothing runs.
      try {
        await grants.recordUse(
          {
            id: acting.grant.id,
            orgId: acting.orgId,
            permissions: acting.permissions,
            secretIds: acting.grant.secretIds,
            ipAllowlist: acting.policy.ipAllowlist,
          },
          acting,
          {
            route: `${request.method} ${request.routeOptions.url}`,
            // Only an id's shape is recorded: whatever else a caller puts in the path stays out of the log.
            secretId:
              params.secretId !== undefined && UUID.test(params.secretId) ? params.secretId.toLowerCase() : undefined,
          },
          request.meta,
        )
      } catch (error) {
        // The database gone meanwhile is its unavailability, not the audit log's (src/db/tenant.ts).
        if (isDatabaseUnavailable(error)) throw error
        throw new AppError(
          'AUDIT_UNAVAILABLE',
          'the use of this grant could not be recorded, so the request was not performed',
          {},
          { cause: error },
        )
      }
    }
    return acting
  }

  /**
   * An embedded viewer route (docs/embedded-viewer.md): only a viewer token, never a
   * session or an API token. Once the token is known to be authentic its answers carry CORS
   * headers for exactly its origin (so its browser can read even a refusal); a browser
   * request from any other origin is refused before anything is read; an expired or revoked
   * token is a 401 its page can tell apart.
   */
  async function authenticateViewer(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const session = viewer === undefined ? null : await viewer.authenticate(bearerOf(request))
    if (session === null)
      throw new AppError('UNAUTHENTICATED', 'send a viewer token (cst_view_…) as Authorization: Bearer')
    request.viewer = session
    reply.header('access-control-allow-origin', session.origin)
    reply.header('vary', 'Origin')
    const origin = headerOf(request, 'origin')
    if (origin !== undefined && origin !== session.origin)
      throw new AppError('ORIGIN_NOT_ALLOWED', 'this viewer token is bound to another origin')
    if (session.state === 'expired') throw new AppError('VIEWER_TOKEN_EXPIRED', 'this viewer token has expired')
    if (session.state === 'revoked') throw new AppError('UNAUTHENTICATED', 'this viewer token was revoked')
    if (!allowlistOf(session.ipAllowlist).allows(request.ip)) {
      throw new AppError('IP_NOT_ALLOWED', 'this org accepts requests only from its allowed addresses')
    }
  }

  /**
   * Another org's route: only an operator with an active diagnostic access grant for that
   * org (P2.8), named in the X-Custodian-Grant header, gets in — as that org's principal
   * with the grant's permissions, under that org's IP allowlist. Anyone else: 404, as if
   * the org did not exist.
   */
  async function underGrant(request: FastifyRequest, principal: Principal, requested: string): Promise<Principal> {
    const grantId = headerOf(request, 'x-custodian-grant')
    const eligible =
      grants !== undefined &&
      grantId !== undefined &&
      UUID.test(grantId) &&
      UUID.test(requested) &&
      principal.orgKind === 'provider' &&
      principal.kind === 'user'
    if (!eligible) throw new AppError('NOT_FOUND', 'no such org')
    const orgId = requested.toLowerCase()
    const meta = { ...request.meta, grantId: grantId.toLowerCase() }
    const route = `${request.method} ${request.routeOptions.url}`
    const grant = await grants.resolveForUse({
      grantId: grantId.toLowerCase(),
      userId: principal.id,
      orgId,
      route,
      meta,
    })
    if (grant === undefined) throw new AppError('NOT_FOUND', 'no such org')
    const acting: Principal = {
      ...principal,
      orgId,
      orgKind: 'customer',
      role: 'diagnostic-grant',
      // A grant opens at most what the credential carrying it holds itself (issue 11 K3):
      // an operator's scoped token reaches no further under a grant than without one.
      permissions: new Set([...grant.permissions].filter((p) => principal.permissions.has(p))),
      // Path scopes name the operator's own org's secrets; in the customer org the grant's
      // secretIds are what limits revealing.
      secretPaths: [],
      policy: { ...principal.policy, ipAllowlist: grant.ipAllowlist },
      grant: { id: grant.id, secretIds: grant.secretIds },
    }
    // From here, refusals and events are the org's, and name the grant.
    request.principal = acting
    request.meta = meta
    if (!allowlistOf(grant.ipAllowlist).allows(request.ip)) {
      throw new AppError('IP_NOT_ALLOWED', 'this org accepts requests only from its allowed addresses')
    }
    return acting
  }

  app.setErrorHandler(async (failure, request, reply) => {
    // An answer decided on a cached credential the database has not confirmed yet (a
    // handler's own refusal, conflict or failure before its first transaction, a body refused
    // by its schema) is confirmed first: a credential changed meanwhile is answered as the
    // new state decides (P2.6), never with what the old copy led to. Then a refusal, or a
    // failure, is answered and recorded as it is: no more credential checks.
    let error: unknown = failure
    const check = pendingChecks.get(request)
    if (check?.state === 'pending') {
      try {
        await check.confirm()
      } catch (refusal) {
        error = refusal
      }
    }
    if (check !== undefined) check.state = 'off'
    const errorPage = request.routeOptions.config.errorPage
    const send = (e: AppError) =>
      errorPage === undefined ? sendProblem(request, reply, e) : errorPage(request, reply, e)
    const appError = toAppError(error)
    // A cached credential found revoked or expired on confirmation is refused as an unknown
    // one is: recorded by nobody in the provider's log, not as its former holder in an org
    // that may be gone by now (offboarded: nothing may be written for it again).
    if (check !== undefined && appError.code === 'UNAUTHENTICATED') request.principal = null
    if (appError.status >= 500) {
      request.log.error({ err: appError.cause ?? appError, code: appError.code }, 'request failed')
    }
    if (
      (appError.status === 401 || appError.status === 403 || appError.status === 404 || appError.status === 421) &&
      !appError.audited &&
      appError.refusal
    ) {
      try {
        await recordSeparately(request, appError)
      } catch (auditError) {
        request.log.error({ err: auditError }, 'could not record a refused attempt; failing closed')
        return send(
          isDatabaseUnavailable(auditError)
            ? toAppError(auditError)
            : new AppError('AUDIT_UNAVAILABLE', 'the audit log is unavailable; try again'),
        )
      }
    }
    return send(appError)
  })

  return { publicRoutes: () => openRoutes }

  async function recordSeparately(request: FastifyRequest, error: AppError): Promise<void> {
    if (request.routeOptions.config.access === undefined) return // unknown route: nothing to refuse
    const principal: Principal | null = request.principal
    // A refused viewer token is recorded in its own org (it is authentic: its secret matched).
    const viewerSession: ViewerSession | null = request.viewer
    const orgId = principal?.orgId ?? viewerSession?.orgId ?? (await auth.providerOrgId())
    if (orgId === undefined) return // not bootstrapped: there is no org to record it in
    // An authentic viewer token has a budget of its own: a page spraying from elsewhere cannot spend another's.
    if (
      principal === null &&
      !limiter.allow(viewerSession === null ? addressBlock(request.ip) : `viewer:${viewerSession.tokenId}`)
    ) {
      request.log.warn(
        { ip: request.ip },
        'unauthenticated refusals from this address exceed the audit budget; not recorded',
      )
      return
    }
    const params = request.params as { orgId?: string } | undefined
    const body = request.body as { orgId?: unknown } | null | undefined
    const requestedOrg =
      params?.orgId ??
      (typeof body === 'object' && body !== null && typeof body.orgId === 'string' ? body.orgId : undefined)
    // P8.2: of another region's org only a digest is kept — this deployment holds nothing of it, its id included.
    const misdirected = error.code === 'REGION_MISDIRECTED'
    await audit.recordSeparately({
      orgId,
      actor: principal === null ? { type: 'anonymous', id: null } : actorOf(principal),
      action: 'access.denied',
      target: { type: 'route', id: `${request.method} ${request.routeOptions.url ?? request.url}` },
      outcome: 'denied',
      details: {
        status: error.status,
        code: error.code,
        ...(error.extras.permission === undefined ? {} : { permission: error.extras.permission }),
        ...(viewerSession === null ? {} : { viewerToken: viewerSession.tokenId }),
        ...(error.extras.missingPermissions === undefined
          ? {}
          : { missingPermissions: error.extras.missingPermissions }),
        ...(misdirected
          ? {
              requestedOrgDigest: orgIdDigest(misdirectedOrgs.get(request) ?? String(requestedOrg)),
              requestedRegion: error.extras.region ?? null,
            }
          : // Only an org id is kept: a path segment can carry anything, a misplaced credential included.
            requestedOrg !== undefined && requestedOrg !== orgId && params?.orgId !== undefined
            ? {
                requestedOrg: UUID.test(String(requestedOrg)) ? String(requestedOrg).toLowerCase() : '(not an org id)',
              }
            : {}),
      },
      // Unset when the refusal comes before the hook that sets it, whatever its declared type says.
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
      meta: request.meta ?? { requestId: request.id, ip: request.ip, userAgent: null },
    })
  }
}

/**
 * The org's 2FA requirement (P3.2) and step-up for sensitive routes. Both concern people:
 * service accounts authenticate with scoped, expiring tokens. Step-up is a property of a
 * browser session (a second factor within the org's window); an API token of a user is
 * minted through a step-up route, so holding one already implies a recent second factor.
 */
function enforceSecondFactor(principal: Principal, config: RouteGuards): void {
  if (principal.kind !== 'user') return
  const session = principal.via.type === 'session'
  if (principal.policy.require2fa && config.mfaExempt !== true) {
    if (!principal.mfa.enrolled) {
      throw new AppError(
        'MFA_ENROLMENT_REQUIRED',
        'this org requires two-factor authentication: enrol first (POST /v1/me/2fa/totp, or a passkey: POST /v1/me/passkeys/registration/options)',
      )
    }
    if (session && principal.mfa.at === null) {
      throw new AppError(
        'STEP_UP_REQUIRED',
        'this session has not passed a second factor yet: POST /v1/me/step-up with a code (or /v1/me/step-up/passkey)',
      )
    }
  }
  if (config.stepUp === true && session && principal.mfa.enrolled) {
    const at = principal.mfa.at
    if (at === null || Date.now() - at.getTime() > principal.policy.stepUpMinutes * 60_000) {
      throw new AppError(
        'STEP_UP_REQUIRED',
        `this action needs a second factor within the last ${principal.policy.stepUpMinutes} minutes: POST /v1/me/step-up with a code (or /v1/me/step-up/passkey)`,
      )
    }
  }
}

function headerOf(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name]
  return typeof value === 'string' ? value : undefined
}

/** The Vault listener's credential: `X-Vault-Token`, bounded like a bearer token. */
function vaultTokenOf(request: FastifyRequest): string | undefined {
  const value = headerOf(request, 'x-vault-token')
  if (value === undefined) return undefined
  return /^\S{1,512}$/.test(value) ? value : ''
}

function bearerOf(request: FastifyRequest): string | undefined {
  const header = headerOf(request, 'authorization')
  if (header === undefined) return undefined
  const match = /^Bearer\s+(\S{1,512})$/i.exec(header)
  return match?.[1] ?? ''
}

/**
 * The block an address belongs to for the refusal budget: an IPv4 address itself, an IPv6
 * address's /64 — the least one subscriber is given, so rotating through its 2^64
 * addresses does not multiply the budget (each anonymous refusal, a 421 included, is a row
 * in the provider's log).
 */
export function addressBlock(ip: string): string {
  if (!isIPv6(ip)) return ip
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)
  if (mapped !== null) return mapped[1] as string
  const [head = '', tail = ''] = ip.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = ip.includes('::') ? (tail === '' ? [] : tail.split(':')) : []
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(':')}::/64`
}

/**
 * Unauthenticated refusals are recorded, but an address spraying bad tokens must not be
 * able to grow the audit log without bound: at most `limit` per address (an IPv6 one: per /64, {@link addressBlock}) per window.
 */
class RefusalAuditLimiter {
  private readonly counts = new Map<string, { count: number; resetAt: number }>()
  private readonly limit: number
  private readonly windowMs: number

  constructor(limit: number, windowMs: number) {
    this.limit = limit
    this.windowMs = windowMs
  }

  allow(key: string): boolean {
    const now = Date.now()
    if (this.counts.size > 10_000) for (const [k, v] of this.counts) if (v.resetAt <= now) this.counts.delete(k)
    const entry = this.counts.get(key)
    if (entry === undefined || entry.resetAt <= now) {
      this.counts.set(key, { count: 1, resetAt: now + this.windowMs })
      return true
    }
    entry.count++
    return entry.count <= this.limit
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null
    /** Set on `{ viewer: true }` routes once the viewer token is known to be authentic. */
    viewer: ViewerSession | null
  }
}
