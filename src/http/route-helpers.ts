import type { FastifyRequest } from 'fastify'
import type { RequestContext } from '../context.ts'

/** The authorized context of a non-public route; the access-control hook guarantees it. */
export function ctxOf(request: FastifyRequest): RequestContext {
  if (request.ctx === null) throw new Error(`route ${request.routeOptions.url} reached a handler without a context`)
  return request.ctx
}
