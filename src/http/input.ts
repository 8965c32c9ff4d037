import type { FastifyInstance } from 'fastify'
import { AppError } from '../errors.ts'

/**
 * PostgreSQL text cannot hold U+0000, so a string carrying one would fail deep in a
 * transaction. Refuse it up front as what it is: bad input.
 */
export function registerInputGuards(app: FastifyInstance): void {
  // A route that declares no query parameters accepts none: an unknown one is a 400,
  // like an unknown body field (a typo must not be silently ignored).
  app.addHook('onRoute', (route) => {
    const schema = (route.schema ??= {}) as { querystring?: unknown }
    schema.querystring ??= { type: 'object', properties: {}, additionalProperties: false }
  })

  app.addHook('preValidation', async (request) => {
    if (request.routeOptions.schema?.body === undefined && request.body !== undefined && request.body !== null) {
      throw new AppError('VALIDATION_FAILED', 'this endpoint takes no request body', { errors: [{ path: '/body', message: 'must be empty' }] })
    }
    const path = findNul(request.body, '/body')
    if (path !== undefined) {
      throw new AppError('VALIDATION_FAILED', 'text must not contain NUL (U+0000) characters', { errors: [{ path, message: 'contains U+0000' }] })
    }
  })
}

function findNul(value: unknown, path: string, depth = 0): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? path : undefined
  if (depth > 32 || value === null || typeof value !== 'object') return undefined
  for (const [key, child] of Object.entries(value)) {
    if (key.includes('\u0000')) return `${path}/${key.replaceAll('\u0000', '')}`
    const found = findNul(child, `${path}/${key}`, depth + 1)
    if (found !== undefined) return found
  }
  return undefined
}
