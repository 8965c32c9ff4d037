import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import { AppError } from '../errors.ts'
import { CONSOLE_DIST } from './console.ts'

/** Where the console build writes the embedded audit-log viewer (scripts/console.ts). */
export const EMBED_SCRIPT = path.join(CONSOLE_DIST, 'embed/audit-log.js')

/**
 * Serves the embedded audit-log viewer (`<custodian-audit-log>`, docs/embedded-viewer.md)
 * at /embed/audit-log.js for host pages on other origins: a public script, loadable
 * cross-origin (`Cross-Origin-Resource-Policy: cross-origin`, and CORS `*` for a module or
 * integrity-checked load), cached briefly and revalidated by its ETag (the SHA-256 of the
 * build). It holds no credential: the host page hands the element a viewer token.
 * Without a build, 503 naming the command that builds it.
 */
export function registerEmbed(app: FastifyInstance, file: string = EMBED_SCRIPT): void {
  const body = existsSync(file) ? readFileSync(file) : undefined
  const etag = body === undefined ? undefined : `"${createHash('sha256').update(body).digest('base64url')}"`
  app.get('/embed/audit-log.js', {
    config: { access: { public: true } },
    schema: { hide: true },
    handler: async (request, reply) => {
      if (body === undefined || etag === undefined)
        throw new AppError('SERVICE_UNAVAILABLE', 'the embedded viewer is not built: run `npm run console:build`', {
          retryAfter: 60,
        })
      reply
        .header('cross-origin-resource-policy', 'cross-origin')
        .header('access-control-allow-origin', '*')
        .header('cache-control', 'public, max-age=300, must-revalidate')
        .header('etag', etag)
      if (request.headers['if-none-match'] === etag) return reply.code(304).send()
      return reply.type('text/javascript; charset=utf-8').send(body)
    },
  })
}
