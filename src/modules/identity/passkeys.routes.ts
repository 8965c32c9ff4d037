import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { SESSION_COOKIE } from '../../http/access-control.ts'
import { ctxOf } from '../../http/route-helpers.ts'
import { errorResponses, ProblemRef, Strict, Uuid } from '../../http/schemas.ts'
import { AssertionSchema, AttestationSchema } from './passkeys.types.ts'
import type { AuthService } from './auth.service.ts'
import type { MfaService } from './mfa.service.ts'
import type { PasskeyService } from './passkeys.service.ts'
import { MAX_PASSKEYS_PER_USER } from './passkeys.service.ts'

const tags = ['passkeys']
const Name = Type.String({ minLength: 1, maxLength: 100, pattern: '\\S', description: 'your name for it' })
const PasskeySchema = Type.Object({
  id: Uuid,
  name: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  transports: Type.Array(Type.String()),
  backedUp: Type.Boolean({ description: 'synced to a cloud account (multi-device passkey)' }),
})
const Options = (description: string) =>
  Type.Object(
    { challenge: Type.String(), rpId: Type.Optional(Type.String()), timeout: Type.Optional(Type.Integer()) },
    { additionalProperties: true, description },
  )
const PasskeyParams = Type.Object({ passkeyId: Uuid }, Strict)
const errors = { ...errorResponses('authenticated'), 404: ProblemRef, 409: ProblemRef }

export function passkeysRoutes(deps: {
  passkeys: PasskeyService
  auth: AuthService
  mfa: MfaService
  rateLimitPerMinute: number
}): FastifyPluginAsyncTypebox {
  const { passkeys, auth, mfa } = deps
  const limit = { max: deps.rateLimitPerMinute, timeWindow: '1 minute' }
  return async (app) => {
    app.post('/v1/me/passkeys/registration/options', {
      config: { access: { authenticated: true }, mfaExempt: true, stepUp: true, rateLimit: limit },
      schema: {
        tags,
        summary: 'Start registering a passkey: creation options with a single-use challenge (5 minutes)',
        response: {
          200: Options('PublicKeyCredentialCreationOptionsJSON, for navigator.credentials.create()'),
          ...errors,
        },
      },
      handler: async (request) => passkeys.registrationOptions(ctxOf(request).principal),
    })

    app.post('/v1/me/passkeys/registration/verify', {
      config: { access: { authenticated: true }, mfaExempt: true, stepUp: true, rateLimit: limit },
      schema: {
        tags,
        summary: `Finish registering: the authenticator's response and a name; at most ${MAX_PASSKEYS_PER_USER} per person`,
        body: Type.Object({ name: Name, response: AttestationSchema }, Strict),
        response: { 201: PasskeySchema, ...errors },
      },
      handler: async (request, reply) =>
        reply.code(201).send(await passkeys.register(ctxOf(request).principal, request.body, request.meta)),
    })

    app.get('/v1/me/passkeys', {
      config: { access: { authenticated: true }, mfaExempt: true },
      schema: {
        tags,
        summary: `Your passkeys, oldest first (at most ${MAX_PASSKEYS_PER_USER}: not paged)`,
        response: { 200: Type.Object({ passkeys: Type.Array(PasskeySchema) }), ...errors },
      },
      handler: async (request) => ({ passkeys: await passkeys.list(ctxOf(request).principal) }),
    })

    app.patch('/v1/me/passkeys/:passkeyId', {
      config: { access: { authenticated: true }, mfaExempt: true, rateLimit: limit },
      schema: {
        tags,
        summary: 'Rename one of your passkeys',
        params: PasskeyParams,
        body: Type.Object({ name: Name }, Strict),
        response: { 200: PasskeySchema, ...errors },
      },
      handler: async (request) =>
        passkeys.rename(ctxOf(request).principal, request.params.passkeyId, request.body.name, request.meta),
    })

    app.delete('/v1/me/passkeys/:passkeyId', {
      config: { access: { authenticated: true }, mfaExempt: true, stepUp: true, rateLimit: limit },
      schema: {
        tags,
        summary: 'Remove one of your passkeys (not your last second factor where an org of yours requires one)',
        params: PasskeyParams,
        response: { 204: Type.Null(), ...errors },
      },
      handler: async (request, reply) => {
        await passkeys.remove(ctxOf(request).principal, request.params.passkeyId, request.meta)
        return reply.code(204).send(null)
      },
    })

    app.post('/v1/me/step-up/passkey/options', {
      config: { access: { authenticated: true }, mfaExempt: true, rateLimit: limit },
      schema: {
        tags,
        summary: 'Options to step up with one of your passkeys (a single-use challenge for you, 5 minutes)',
        response: { 200: Options('PublicKeyCredentialRequestOptionsJSON, for navigator.credentials.get()'), ...errors },
      },
      handler: async (request) => passkeys.stepUpOptions(ctxOf(request).principal),
    })

    app.post('/v1/me/step-up/passkey', {
      config: { access: { authenticated: true }, mfaExempt: true, rateLimit: limit },
      schema: {
        tags,
        summary: 'Pass a second factor now with a passkey, for the org’s step-up window',
        body: Type.Object({ response: AssertionSchema }, Strict),
        response: { 200: Type.Object({ until: Type.String({ format: 'date-time' }) }), ...errors },
      },
      handler: async (request) =>
        mfa.stepUp(ctxOf(request).principal, { passkey: request.body.response }, request.meta),
    })

    app.post('/v1/login/passkey/options', {
      config: { access: { public: true }, rateLimit: limit },
      schema: {
        tags,
        summary:
          'Options to sign in with a passkey (no account named; also for a passkey as the second factor of POST /v1/login)',
        response: {
          200: Options('PublicKeyCredentialRequestOptionsJSON, for navigator.credentials.get()'),
          ...errorResponses('public'),
        },
      },
      handler: async () => passkeys.signInOptions(),
    })

    app.post('/v1/login/passkey/verify', {
      config: { access: { public: true }, rateLimit: limit },
      schema: {
        tags,
        summary: 'Sign in with a passkey (user verified: both factors); sets the session cookie',
        body: Type.Object({ response: AssertionSchema, orgId: Type.Optional(Uuid) }, Strict),
        response: {
          200: Type.Object({
            orgId: Uuid,
            csrfToken: Type.String({ description: 'send as X-CSRF-Token on state-changing requests' }),
            expiresAt: Type.String({ format: 'date-time' }),
          }),
          ...errorResponses('public'),
        },
      },
      handler: async (request, reply) => {
        const session = await auth.loginWithPasskey(request.body, request.meta)
        reply.setCookie(SESSION_COOKIE, session.sessionToken, {
          httpOnly: true,
          secure: true,
          sameSite: 'strict',
          path: '/',
          expires: session.expiresAt,
        })
        return { orgId: session.orgId, csrfToken: session.csrfToken, expiresAt: session.expiresAt.toISOString() }
      },
    })
  }
}
