import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ctxOf } from '../../http/route-helpers.ts'
import { errorResponses, ProblemRef, Strict } from '../../http/schemas.ts'
import type { MfaService } from './mfa.service.ts'

const tags = ['two-factor authentication']
const Code = Type.Object(
  {
    code: Type.String({
      minLength: 6,
      maxLength: 32,
      description: 'current TOTP code, or a recovery code where allowed',
    }),
  },
  Strict,
)
const RecoveryCodes = Type.Object({
  recoveryCodes: Type.Array(Type.String(), { description: 'shown once; each works once' }),
})
const errors = { ...errorResponses('authenticated'), 409: ProblemRef }

export function mfaRoutes(deps: { mfa: MfaService; rateLimitPerMinute: number }): FastifyPluginAsyncTypebox {
  const { mfa } = deps
  const limit = { max: deps.rateLimitPerMinute, timeWindow: '1 minute' }
  return async (app) => {
    app.get('/v1/me/2fa', {
      config: { access: { authenticated: true }, mfaExempt: true },
      schema: {
        tags,
        summary: 'Whether two-factor authentication is on (TOTP, passkeys), and recovery codes left',
        response: {
          200: Type.Object({
            enabled: Type.Boolean({ description: 'TOTP is on' }),
            pending: Type.Boolean({ description: 'a TOTP enrolment awaits its first code' }),
            recoveryCodesLeft: Type.Integer(),
            passkeys: Type.Integer({ description: 'passkeys registered (GET /v1/me/passkeys)' }),
            enrolled: Type.Boolean({ description: 'any second factor: TOTP or a passkey' }),
          }),
          ...errors,
        },
      },
      handler: async (request) => mfa.status(ctxOf(request).principal.id),
    })

    app.post('/v1/me/2fa/totp', {
      config: { access: { authenticated: true }, mfaExempt: true, rateLimit: limit },
      schema: {
        tags,
        summary: 'Start TOTP enrolment: the seed is shown once (otpauth URI and QR code); confirm with a first code',
        response: {
          200: Type.Object({
            secret: Type.String({ description: 'base32 seed, for manual entry' }),
            otpauthUri: Type.String(),
            qrSvg: Type.String(),
          }),
          ...errors,
        },
      },
      handler: async (request) => mfa.begin(ctxOf(request).principal, request.meta),
    })

    app.post('/v1/me/2fa/totp/confirm', {
      config: { access: { authenticated: true }, mfaExempt: true, rateLimit: limit },
      schema: {
        tags,
        summary: 'Confirm enrolment with a first code; returns ten single-use recovery codes',
        body: Code,
        response: { 200: RecoveryCodes, ...errors },
      },
      handler: async (request) => mfa.confirm(ctxOf(request).principal, request.body.code, request.meta),
    })

    app.post('/v1/me/2fa/totp/disable', {
      config: { access: { authenticated: true }, mfaExempt: true, rateLimit: limit },
      schema: {
        tags,
        summary: 'Turn TOTP off; needs a current code (or a recovery code)',
        body: Code,
        response: { 204: Type.Null(), ...errors },
      },
      handler: async (request, reply) => {
        await mfa.disable(ctxOf(request).principal, request.body.code, request.meta)
        return reply.code(204).send(null)
      },
    })

    app.post('/v1/me/step-up', {
      config: { access: { authenticated: true }, mfaExempt: true, rateLimit: limit },
      schema: {
        tags,
        summary:
          'Pass a second factor now, for the org’s step-up window (sensitive actions need it); with a passkey: POST /v1/me/step-up/passkey',
        body: Code,
        response: { 200: Type.Object({ until: Type.String({ format: 'date-time' }) }), ...errors },
      },
      handler: async (request) => mfa.stepUp(ctxOf(request).principal, { code: request.body.code }, request.meta),
    })

    app.post('/v1/me/2fa/recovery-codes', {
      config: { access: { authenticated: true }, mfaExempt: true, rateLimit: limit },
      schema: {
        tags,
        summary: 'Replace the recovery codes (the old ones stop working); needs a current code',
        body: Code,
        response: { 200: RecoveryCodes, ...errors },
      },
      handler: async (request) =>
        mfa.regenerateRecoveryCodes(ctxOf(request).principal, request.body.code, request.meta),
    })
  }
}
