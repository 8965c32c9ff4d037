import { existsSync, readdirSync } from 'node:fs'
import path from 'node:path'
import type { FastifyInstance, FastifyReply } from 'fastify'
import fastifyStatic from '@fastify/static'
import { AppError } from '../errors.ts'

/** Where `npm run console:build` writes the web console (never committed). */
export const CONSOLE_DIST = path.resolve(import.meta.dirname, '../../console/dist')

/**
 * The console's own Content-Security-Policy: its scripts and styles come from this origin
 * only (Vite emits no inline script; Mantine's CSS variables ship in its stylesheet and
 * inline `style` values are set through the CSSOM, which style-src does not govern), it
 * talks to this origin only, and it is never framed. The API keeps helmet's stricter one.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ')

const IMMUTABLE = 'public, max-age=31536000, immutable'
// Not an API route: hidden from /openapi.json, reached without credentials (the page
// signs in through the API), and any query string is the single-page app's own.
const routeOptions = {
  config: { access: { public: true as const } },
  schema: { hide: true, querystring: { type: 'object' } },
}

/**
 * Serves the built web console under /console/ on the API's origin: hashed files under
 * /console/assets/ cached for a year, every other path under /console/ answered with
 * index.html (the app's own routes) and `no-store`, so a new build is seen at once.
 * Without a build, /console/ answers 503 naming the command that builds it.
 */
export async function registerConsole(app: FastifyInstance, dist: string = CONSOLE_DIST): Promise<void> {
  const built = existsSync(path.join(dist, 'index.html'))
  // Top-level files of the build other than index.html (e.g. the icon): served as they are.
  const topLevel = new Set(
    built ? readdirSync(dist).filter((f) => f !== 'index.html' && f !== 'assets' && f !== 'embed') : [],
  )
  // The build's hashed files: only these are cached for a year. Another path under assets/
  // is a 404 with no-store, so a cache never keeps a miss (say, mid-deploy) for a year.
  const assets = new Set(built && existsSync(path.join(dist, 'assets')) ? readdirSync(path.join(dist, 'assets')) : [])
  await app.register(fastifyStatic, { root: dist, serve: false, decorateReply: true })

  const page = (reply: FastifyReply, file: string, cacheControl: string) => {
    reply.header('content-security-policy', CONSOLE_CSP)
    reply.header('cache-control', cacheControl)
    return reply.sendFile(file, dist, { cacheControl: false, dotfiles: 'deny' })
  }
  const notBuilt = () =>
    new AppError('SERVICE_UNAVAILABLE', 'the web console is not built: run `npm run console:build`', {
      retryAfter: 60,
    })

  app.get('/console', routeOptions, async (_request, reply) => reply.redirect('/console/', 301))
  app.get<{ Params: { '*': string } }>('/console/assets/*', routeOptions, async (request, reply) => {
    if (!built) throw notBuilt()
    const file = request.params['*']
    if (!assets.has(file)) {
      reply.header('cache-control', 'no-store')
      throw new AppError('NOT_FOUND', 'no such file in this build of the console')
    }
    return page(reply, `assets/${file}`, IMMUTABLE)
  })
  app.get<{ Params: { '*': string } }>('/console/*', routeOptions, async (request, reply) => {
    if (!built) throw notBuilt()
    const file = request.params['*']
    if (topLevel.has(file)) return page(reply, file, 'public, max-age=3600')
    return page(reply, 'index.html', 'no-store')
  })
}
