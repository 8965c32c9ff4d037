import { createHash } from 'node:crypto'
import type * as client from 'openid-client'
import { AppError } from '../../errors.ts'
import { createOutboundFetch, DestinationRefused, type OutboundFetch } from '../../http/outbound.ts'
import { libraryUnavailableIn, onFirstUse } from '../../on-first-use.ts'

/** openid-client, loaded by the first sign-in with SSO (src/on-first-use.ts). */
const loadOpenidClient = onFirstUse(() => import('openid-client'))

/**
 * The OpenID Connect relying party, on openid-client (OpenID-certified): discovery,
 * authorization URL, code exchange with PKCE, state and nonce, and ID-token validation —
 * issuer, audience, expiry, nonce and, because non-repudiation checks are on, the
 * signature against the provider's published keys (by default the library would rely on
 * TLS alone for a token fetched straight from the token endpoint, which the spec allows).
 *
 * Only HTTPS providers. `caFile` adds certificate authorities for providers behind an
 * internal CA; the system's roots stay trusted (see http/outbound.ts).
 */
export type SsoPreset = 'google' | 'microsoft' | 'oidc'

export interface IdTokenClaims {
  sub: string
  email?: unknown
  email_verified?: unknown
  [claim: string]: unknown
}

export interface OidcRelyingParty {
  /** Discovery for (issuer, client), cached for an hour; a failure is not cached. */
  configuration(issuer: string, clientId: string, clientSecret: string): Promise<client.Configuration>
  authorizationUrl(
    config: client.Configuration,
    params: { redirectUri: string; state: string; nonce: string; codeVerifier: string; loginHint?: string | undefined },
  ): Promise<URL>
  /** Exchanges the code and validates the ID token; throws {@link SsoValidationError}. */
  exchange(
    config: client.Configuration,
    callbackUrl: URL,
    checks: { state: string; nonce: string; codeVerifier: string },
  ): Promise<IdTokenClaims>
}

/** Why a sign-in was refused, in words safe for the audit log (never a token or secret). */
export class SsoValidationError extends Error {
  readonly reason: string
  constructor(reason: string) {
    super(reason)
    this.name = 'SsoValidationError'
    this.reason = reason
  }
}

const DISCOVERY_TTL_MS = 60 * 60_000
const GOOGLE_ISSUER = 'https://accounts.google.com'
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * The issuer a preset stands for. Microsoft is tenant-aware: the tenant's own issuer
 * (`https://login.microsoftonline.com/{tenant-id}/v2.0`), so only that directory's users
 * can sign in — the multi-tenant endpoints (`common`, `organizations`) are refused.
 */
export function resolveIssuer(
  preset: SsoPreset,
  input: { issuer?: string | undefined; tenant?: string | undefined },
): string {
  const invalid = (path: string, message: string) =>
    new AppError('VALIDATION_FAILED', message, { errors: [{ path, message }] })
  if (preset === 'google') {
    if (input.issuer !== undefined && input.issuer !== GOOGLE_ISSUER)
      throw invalid('/body/issuer', `the google preset's issuer is ${GOOGLE_ISSUER}; leave it out`)
    return GOOGLE_ISSUER
  }
  if (preset === 'microsoft') {
    if (input.tenant === undefined || !GUID.test(input.tenant)) {
      throw invalid(
        '/body/tenant',
        'the microsoft preset needs your directory (tenant) ID, a GUID: Entra ID > Overview > Tenant ID; multi-tenant endpoints are not accepted',
      )
    }
    return `https://login.microsoftonline.com/${input.tenant.toLowerCase()}/v2.0`
  }
  if (input.issuer === undefined)
    throw invalid('/body/issuer', 'an issuer URL is required for a generic OpenID provider')
  let url: URL
  try {
    url = new URL(input.issuer)
  } catch {
    throw invalid('/body/issuer', 'not a URL')
  }
  if (url.protocol !== 'https:' || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw invalid('/body/issuer', 'the issuer must be an https:// URL without query, fragment or credentials (P4.3)')
  }
  return input.issuer.replace(/\/+$/, '')
}

export function createOidcRelyingParty(
  options: { caFile?: string | undefined; timeoutSeconds?: number; fetch?: OutboundFetch | undefined } = {},
): OidcRelyingParty {
  const fetcher = (options.fetch ?? createOutboundFetch({ caFile: options.caFile })) as client.CustomFetch
  const cache = new Map<string, { config: client.Configuration; until: number }>()

  return {
    async configuration(issuer, clientId, clientSecret) {
      const key = `${issuer}\n${clientId}\n${createHash('sha256').update(clientSecret).digest('hex')}`
      const hit = cache.get(key)
      if (hit !== undefined && hit.until > Date.now()) return hit.config
      const oidc = await loadOpenidClient()
      let config: client.Configuration
      try {
        config = await oidc.discovery(new URL(issuer), clientId, undefined, oidc.ClientSecretPost(clientSecret), {
          timeout: options.timeoutSeconds ?? 10,
          execute: [oidc.enableNonRepudiationChecks],
          [oidc.customFetch]: fetcher,
        })
      } catch (error) {
        // Our installation's fault, not the provider's: a 500, logged.
        const unavailable = libraryUnavailableIn(error)
        if (unavailable !== undefined) throw unavailable
        throw new AppError(
          'SSO_PROVIDER_UNAVAILABLE',
          `the identity provider's discovery document at ${issuer} could not be used: ${describe(error)}`,
          {},
          { cause: error },
        )
      }
      if (cache.size > 1000) cache.clear()
      cache.set(key, { config, until: Date.now() + DISCOVERY_TTL_MS })
      return config
    },

    async authorizationUrl(config, params) {
      const oidc = await loadOpenidClient()
      return oidc.buildAuthorizationUrl(config, {
        redirect_uri: params.redirectUri,
        scope: 'openid email profile',
        response_type: 'code',
        state: params.state,
        nonce: params.nonce,
        code_challenge: await oidc.calculatePKCECodeChallenge(params.codeVerifier),
        code_challenge_method: 'S256',
        ...(params.loginHint === undefined ? {} : { login_hint: params.loginHint }),
      })
    },

    async exchange(config, callbackUrl, checks) {
      const oidc = await loadOpenidClient()
      try {
        const tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
          pkceCodeVerifier: checks.codeVerifier,
          expectedState: checks.state,
          expectedNonce: checks.nonce,
          idTokenExpected: true,
        })
        const claims = tokens.claims()
        if (claims === undefined) throw new SsoValidationError('no ID token')
        return claims
      } catch (error) {
        if (error instanceof SsoValidationError) throw error
        const unavailable = libraryUnavailableIn(error)
        if (unavailable !== undefined) throw unavailable
        throw new SsoValidationError(describe(error))
      }
    },
  }
}

/** openid-client's error code and its cause's message ("unexpected JWT "aud" claim value"): no token, no secret. */
function describe(error: unknown): string {
  // The outbound guard's refusal, however deep the client wrapped it, says what to allow.
  for (let c: unknown = error, depth = 0; c instanceof Error && depth < 5; c = c.cause, depth += 1) {
    if (c instanceof DestinationRefused) return `destination refused: ${c.message}`.slice(0, 300)
  }
  const e = error as { code?: unknown; message?: unknown; error?: unknown; cause?: { message?: unknown } }
  if (typeof e.error === 'string') return `the provider answered ${e.error}`.slice(0, 200)
  const parts = [
    typeof e.code === 'string' ? e.code : undefined,
    typeof e.cause?.message === 'string' ? e.cause.message : typeof e.message === 'string' ? e.message : undefined,
  ]
  return (
    parts
      .filter((p) => p !== undefined)
      .join(': ')
      .slice(0, 300) || 'unknown error'
  )
}
