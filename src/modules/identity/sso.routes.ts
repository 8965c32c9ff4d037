import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { AppError } from '../../errors.ts'
import { SESSION_COOKIE } from '../../http/access-control.ts'
import { sendProblem } from '../../http/problem.ts'
import { ctxOf } from '../../http/route-helpers.ts'
import { errorResponses, OrgParams, ProblemRef, RoleName, Strict, Timestamp, Uuid } from '../../http/schemas.ts'
import type { SsoLogin } from './sso.login.ts'
import type { SsoService } from './sso.service.ts'

/** The browser-binding cookie of a sign-in in flight (SameSite=Lax: the provider's redirect back is a cross-site navigation). */
export const SSO_COOKIE = '__Host-custodian_sso'

/**
 * The hand-over of a console sign-in's CSRF token (issue 12). The callback of a flow
 * started with `returnTo=console` is a browser navigation, so the token cannot be in its
 * answer's body, and never goes into a URL: it is in this cookie for two minutes, readable
 * by the console's script (not HttpOnly), sent to this origin only (`__Host-`, Secure,
 * SameSite=Strict). The console reads it once and deletes it at once.
 */
export const CSRF_HANDOVER_COOKIE = '__Host-custodian_csrf'

/** Where a console sign-in lands: the page that takes over the CSRF token. */
export const CONSOLE_SSO_COMPLETE = '/console/sso-complete'

/** Where a console sign-in that failed lands: the sign-in page, told the problem's code only. */
export function consoleSsoFailed(error: AppError): string {
  return `/console/sign-in?sso=failed&code=${encodeURIComponent(error.code)}`
}

/** The requests of sign-ins the console started (start with returnTo=console, or a callback of such a flow). */
const consoleFlows = new WeakSet<FastifyRequest>()

/**
 * The start's and the callback's error page (the one error handler calls it after auditing
 * and logging the refusal as always): a console sign-in goes back to the sign-in page with
 * the problem's code; anything else is problem+json.
 */
function ssoErrorPage(request: FastifyRequest, reply: FastifyReply, error: AppError): FastifyReply {
  return consoleFlows.has(request) ? reply.redirect(consoleSsoFailed(error), 303) : sendProblem(request, reply, error)
}

const tags = ['single sign-on']
const Preset = Type.Union([Type.Literal('google'), Type.Literal('microsoft'), Type.Literal('oidc')], {
  description: 'google, microsoft (needs tenant) or any OpenID provider (needs issuer)',
})
const ConfigBody = Type.Object(
  {
    preset: Preset,
    issuer: Type.Optional(Type.String({ maxLength: 500, description: 'https issuer URL (preset oidc)' })),
    tenant: Type.Optional(
      Type.String({ maxLength: 64, description: 'Entra ID directory (tenant) ID, a GUID (preset microsoft)' }),
    ),
    clientId: Type.String({ minLength: 1, maxLength: 500 }),
    clientSecret: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 2000,
        description:
          'kept in the vault; required the first time, omit to keep the current one (with a new issuer, that takes vault:reveal: the kept secret is sent to it)',
      }),
    ),
    allowedDomains: Type.Array(Type.String({ minLength: 1, maxLength: 253 }), {
      minItems: 1,
      maxItems: 50,
      description: 'only verified emails in these domains sign in',
    }),
    defaultRole: RoleName,
    jitProvisioning: Type.Optional(
      Type.Boolean({ description: 'add people at their first sign-in with the default role (default true)' }),
    ),
    enabled: Type.Optional(Type.Boolean({ default: true })),
  },
  Strict,
)
const ConfigView = Type.Object({
  preset: Preset,
  issuer: Type.String(),
  clientId: Type.String(),
  clientSecretId: Uuid,
  allowedDomains: Type.Array(Type.String()),
  defaultRole: Type.String(),
  jitProvisioning: Type.Boolean(),
  enabled: Type.Boolean(),
  ssoOnly: Type.Boolean(),
  redirectUri: Type.String({ description: 'register this at the identity provider' }),
  loginUrl: Type.String({ description: 'where the org’s people start signing in' }),
  lastLoginAt: Type.Union([Timestamp, Type.Null()]),
  updatedAt: Timestamp,
})
const Enforcement = Type.Object(
  {
    ssoOnly: Type.Boolean({
      description: 'members sign in with SSO only; turning it on erases every member’s password hash',
    }),
    force: Type.Optional(Type.Boolean({ description: 'turn on before anyone has signed in with SSO' })),
  },
  Strict,
)
const StartParams = Type.Object({ orgId: Uuid }, Strict)
const ReturnTo = Type.Literal('console', {
  description:
    'console: the callback answers 303 to /console/sso-complete (the CSRF token in the short-lived cookie __Host-custodian_csrf), or on failure 303 to /console/sign-in?sso=failed&code=CODE, instead of JSON. This one value, never a URL.',
})
const StartQuery = Type.Object(
  {
    loginHint: Type.Optional(Type.String({ maxLength: 254, description: 'passed to the provider as login_hint' })),
    returnTo: Type.Optional(ReturnTo),
  },
  Strict,
)
// Providers add parameters of their own to the redirect (Google: scope, authuser, hd,
// prompt; Microsoft: session_state): any short string parameter is accepted here.
const CallbackQuery = Type.Object(
  {
    state: Type.Optional(Type.String({ maxLength: 200 })),
    code: Type.Optional(Type.String({ maxLength: 4096 })),
    error: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: Type.String({ maxLength: 2048 }), maxProperties: 20 },
)

export function ssoRoutes(deps: {
  sso: SsoService
  login: SsoLogin
  rateLimitPerMinute: number
}): FastifyPluginAsyncTypebox {
  const { sso, login } = deps
  const strictLimit = { max: deps.rateLimitPerMinute, timeWindow: '1 minute' }
  return async (app) => {
    // Whole, not paged (issue 20): one configuration, at most 50 allowed domains.
    app.get('/v1/orgs/:orgId/sso', {
      config: { access: { permission: 'org:read' } },
      schema: {
        tags,
        summary: 'The org’s single sign-on set-up (never the client secret)',
        params: OrgParams,
        response: { 200: ConfigView, ...errorResponses('org') },
      },
      handler: async (request) => sso.get(ctxOf(request)),
    })

    app.put('/v1/orgs/:orgId/sso', {
      config: { access: { permission: 'org:security' }, stepUp: true },
      schema: {
        tags,
        summary:
          'Set up OpenID Connect single sign-on (P3.3); saved only once the provider’s discovery document answers',
        params: OrgParams,
        body: ConfigBody,
        response: { 200: ConfigView, ...errorResponses('org'), 502: ProblemRef },
      },
      handler: async (request) => sso.put(ctxOf(request), request.body),
    })

    app.delete('/v1/orgs/:orgId/sso', {
      config: { access: { permission: 'org:security' }, stepUp: true },
      schema: {
        tags,
        summary: 'Remove single sign-on (its client secret is crypto-erased); refused while the org is SSO-only',
        params: OrgParams,
        response: { 204: Type.Null(), ...errorResponses('org') },
      },
      handler: async (request, reply) => {
        await sso.remove(ctxOf(request))
        return reply.code(204).send(null)
      },
    })

    app.put('/v1/orgs/:orgId/sso/enforcement', {
      config: { access: { permission: 'org:security' }, stepUp: true },
      schema: {
        tags,
        summary:
          'SSO only (P3.4): members sign in only through the provider and no password hash is kept; on erases them',
        params: OrgParams,
        body: Enforcement,
        response: {
          200: Type.Object({ ssoOnly: Type.Boolean(), erasedPasswordHashes: Type.Integer() }),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => sso.setSsoOnly(ctxOf(request), request.body),
    })

    app.get('/v1/sso/:orgId/start', {
      config: { access: { public: true }, rateLimit: strictLimit, errorPage: ssoErrorPage },
      schema: {
        tags,
        summary: 'Start signing in to an org through its identity provider: redirects there',
        description:
          'With returnTo=console, a refusal (no SSO, address not allowed, provider unreachable…) is a 303 to /console/sign-in?sso=failed&code=CODE instead of problem+json.',
        params: StartParams,
        querystring: StartQuery,
        response: {
          302: Type.Null({ description: 'to the identity provider' }),
          303: Type.Null({ description: 'returnTo=console, refused: to /console/sign-in?sso=failed&code=CODE' }),
          ...errorResponses('public'),
          502: ProblemRef,
        },
      },
      handler: async (request, reply) => {
        const { loginHint, returnTo } = request.query
        if (returnTo === 'console') consoleFlows.add(request)
        const started = await login.start(request.params.orgId, { loginHint, returnTo }, request.meta)
        reply.setCookie(SSO_COOKIE, started.binding, {
          httpOnly: true,
          secure: true,
          sameSite: 'lax',
          path: '/',
          maxAge: 600,
        })
        return reply.redirect(started.redirectTo, 302)
      },
    })

    app.get('/v1/sso/callback', {
      config: { access: { public: true }, rateLimit: strictLimit, errorPage: ssoErrorPage },
      schema: {
        tags,
        summary: 'Where the identity provider sends the browser back: validates the answer and sets the session cookie',
        description:
          'A sign-in started with returnTo=console answers 303 instead of JSON: to /console/sso-complete with the CSRF token in the cookie __Host-custodian_csrf (Secure, SameSite=Strict, Path=/, readable by script, Max-Age 120; never in the URL), or, refused, to /console/sign-in?sso=failed&code=CODE. Refusals are audited either way.',
        querystring: CallbackQuery,
        response: {
          303: Type.Null({
            description:
              'returnTo=console: to /console/sso-complete, or refused: to /console/sign-in?sso=failed&code=CODE',
          }),
          200: Type.Object({
            orgId: Uuid,
            userId: Uuid,
            csrfToken: Type.String({ description: 'send as X-CSRF-Token on state-changing requests' }),
            expiresAt: Timestamp,
            joined: Type.Union([Type.Literal('invitation'), Type.Literal('just-in-time'), Type.Null()]),
          }),
          ...errorResponses('public'),
          502: ProblemRef,
        },
      },
      handler: async (request, reply) => {
        const query = new URLSearchParams(request.query)
        reply.clearCookie(SSO_COOKIE, { path: '/', secure: true, httpOnly: true, sameSite: 'lax' })
        const returnTo = await login.returnToOf(query.get('state'))
        if (returnTo === 'console') consoleFlows.add(request)
        const signedIn = await login.callback({ query, binding: request.cookies[SSO_COOKIE] }, request.meta)
        reply.setCookie(SESSION_COOKIE, signedIn.sessionToken, {
          httpOnly: true,
          secure: true,
          sameSite: 'strict',
          path: '/',
          expires: signedIn.expiresAt,
        })
        if (returnTo === 'console') {
          reply.setCookie(CSRF_HANDOVER_COOKIE, signedIn.csrfToken, {
            httpOnly: false,
            secure: true,
            sameSite: 'strict',
            path: '/',
            maxAge: 120,
          })
          return reply.redirect(CONSOLE_SSO_COMPLETE, 303)
        }
        return {
          orgId: signedIn.orgId,
          userId: signedIn.userId,
          csrfToken: signedIn.csrfToken,
          expiresAt: signedIn.expiresAt.toISOString(),
          joined: signedIn.joined,
        }
      },
    })
  }
}
