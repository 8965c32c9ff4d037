import type { FastifyInstance, FastifyRequest } from 'fastify'
import { AppError } from '../errors.ts'

/** Deeper nesting is refused: no request needs it, and serializing it would overflow the stack. */
export const MAX_INPUT_DEPTH = 64

/**
 * Checks that hold for every text a request carries, whatever its schema says — typed
 * fields, object keys and free-form JSON (record payloads, metadata) alike — so they live
 * here, once, in front of schema validation rather than in each schema:
 *
 * - Text is well-formed Unicode. JSON's `\ud800` escape yields a lone surrogate, which
 *   UTF-8 cannot encode: PostgreSQL refuses it inside jsonb (a 500) and drivers silently
 *   replace it inside text (a changed value).
 * - Text holds no U+0000, which PostgreSQL text cannot hold.
 * - Nesting stays within MAX_INPUT_DEPTH levels.
 *
 * A refusal is 400 VALIDATION_FAILED naming the field by JSON pointer (`/body/…`,
 * `/query/…`, `/params/…`), before any handler runs. Headers need no check: Node reads
 * them as Latin-1, which is always well-formed and never holds U+0000.
 *
 * Action routes (no body schema) take no body, or an empty JSON object; a route whose
 * body schema requires nothing (no required field, no minProperties) takes a missing body
 * as `{}`. Either way the two are the same request.
 */
export function registerInputGuards(app: FastifyInstance): void {
  // A route that declares no query parameters accepts none: an unknown one is a 400,
  // like an unknown body field (a typo must not be silently ignored).
  app.addHook('onRoute', (route) => {
    const schema = (route.schema ??= {}) as { querystring?: unknown }
    schema.querystring ??= { type: 'object', properties: {}, additionalProperties: false }
  })

  app.addHook('preValidation', async (request) => {
    // No route: the not-found handler answers 404 ROUTE_NOT_FOUND whatever the body holds.
    if (request.is404) return
    normalizeEmptyBody(request)
    for (const [part, value] of [
      ['params', request.params],
      ['query', request.query],
      ['body', request.body],
    ] as const) {
      const problem = findBadText(value, `/${part}`)
      if (problem !== undefined) {
        throw new AppError(
          'VALIDATION_FAILED',
          `text must be well-formed Unicode without U+0000, nested at most ${MAX_INPUT_DEPTH} levels`,
          { errors: [problem] },
        )
      }
    }
  })
}

function normalizeEmptyBody(request: FastifyRequest): void {
  const schema = request.routeOptions.schema?.body as { required?: unknown[]; minProperties?: number } | undefined
  const body = request.body
  if (schema === undefined) {
    if (body === undefined || isEmptyObject(body)) {
      request.body = undefined
      return
    }
    throw new AppError('VALIDATION_FAILED', 'this endpoint takes no request body (or an empty JSON object)', {
      errors: [{ path: '/body', message: 'must be empty' }],
    })
  }
  const needsNothing = (schema.required ?? []).length === 0 && (schema.minProperties ?? 0) === 0
  if (body === undefined && needsNothing) request.body = {}
}

function isEmptyObject(value: unknown): boolean {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0
}

/**
 * The first bad text in a parsed value, as { path, message }. Iterative, so a deeply nested
 * body cannot overflow the stack before it is refused.
 */
export function findBadText(root: unknown, rootPath: string): { path: string; message: string } | undefined {
  const stack: { value: unknown; path: string; depth: number }[] = [{ value: root, path: rootPath, depth: 0 }]
  while (stack.length > 0) {
    const { value, path, depth } = stack.pop() as { value: unknown; path: string; depth: number }
    if (typeof value === 'string') {
      const message = textProblem(value)
      if (message !== undefined) return { path, message }
      continue
    }
    if (value === null || typeof value !== 'object') continue
    if (depth >= MAX_INPUT_DEPTH) return { path, message: `nested deeper than ${MAX_INPUT_DEPTH} levels` }
    const entries = Object.entries(value)
    // Reversed, so the first field in document order is the one reported.
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, child] = entries[i] as [string, unknown]
      const childPath = `${path}/${pointerToken(key)}`
      const message = textProblem(key)
      if (message !== undefined) return { path: childPath, message: `field name ${message}` }
      stack.push({ value: child, path: childPath, depth: depth + 1 })
    }
  }
  return undefined
}

function textProblem(text: string): string | undefined {
  if (!text.isWellFormed()) return 'is not well-formed Unicode (it contains a lone surrogate)'
  if (text.includes('\u0000')) return 'contains U+0000'
  return undefined
}

/** An RFC 6901 reference token; what cannot be shown (lone surrogates, NUL) becomes U+FFFD. */
function pointerToken(key: string): string {
  return key.toWellFormed().replaceAll('\u0000', '\uFFFD').replaceAll('~', '~0').replaceAll('/', '~1')
}
