import type { FastifyReply, FastifyRequest } from 'fastify'
import type { AppError } from '../../errors.ts'
import { vaultErrorsOf, vaultStatusOf } from './vault-compat.ts'

/*
 * What every Vault-compatible route plugin shares (vault-compat.routes.ts for sys and auth,
 * vault-compat.transit.routes.ts for Transit): the error page and the response envelope.
 */

/** Vault ignores fields it does not know (clients send extra ones: node-vault sends `name`). */
export const Open = { additionalProperties: true } as const

/** Every Vault route answers its errors in Vault's shape, after the one error handler audited the refusal. */
export function vaultError(request: FastifyRequest, reply: FastifyReply, error: AppError): FastifyReply {
  let status = vaultStatusOf(error)
  // Vault answers a namespace the token cannot use with 403, not 404.
  if (status === 404 && request.ctx === null && request.headers['x-vault-namespace'] !== undefined) status = 403
  if (error.extras.retryAfter !== undefined) reply.header('retry-after', String(error.extras.retryAfter))
  return reply
    .code(status)
    .type('application/json')
    .send({ errors: vaultErrorsOf(error, status) })
}

/** Vault's response envelope around `data`. */
export function envelope(request: FastifyRequest, data: unknown) {
  return {
    request_id: request.id,
    lease_id: '',
    renewable: false,
    lease_duration: 0,
    data,
    wrap_info: null,
    warnings: null,
    auth: null,
  }
}
