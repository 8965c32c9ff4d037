import { createHash, timingSafeEqual } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { AppError } from '../errors.ts'
import type { Metrics } from './metrics.ts'

/**
 * Counts every answered request by route pattern and status: one `onResponse` hook, which
 * reads what Fastify already measured (`reply.elapsedTime`) and updates two cached
 * prom-client children — a few microseconds, no allocation beyond the first request of a
 * (method, route, status). Registered only when metrics are on.
 */
export function registerMetricsHooks(app: FastifyInstance, metrics: Metrics): void {
  app.addHook('onResponse', async (request, reply) => {
    metrics.observeRequest(request.method, request.routeOptions.url, reply.statusCode, reply.elapsedTime / 1000)
  })
}

/**
 * `GET /metrics` on the HTTPS listener, behind the operator's metrics token
 * (`CUSTODIAN_METRICS_TOKEN_FILE`): 401 without `Authorization: Bearer`, 403 with another
 * token. The token is compared in constant time, as SHA-256 digests (equal lengths whatever
 * was sent). It is no account's credential, so the route is public to the access-control
 * hook and checks its own token; it is not in /openapi.json.
 */
export function registerMetricsRoute(app: FastifyInstance, metrics: Metrics, token: string): void {
  const expected = createHash('sha256').update(token, 'utf8').digest()
  app.get('/metrics', { config: { access: { public: true } }, schema: { hide: true } }, async (request, reply) => {
    const header = request.headers.authorization
    const match = header === undefined ? null : /^Bearer ([^\s]+)$/i.exec(header)
    if (match === null) {
      void reply.header('www-authenticate', 'Bearer realm="custodian-metrics"')
      throw new AppError('UNAUTHENTICATED', 'send the metrics token as Authorization: Bearer')
    }
    const sent = createHash('sha256')
      .update(match[1] ?? '', 'utf8')
      .digest()
    if (!timingSafeEqual(sent, expected)) throw new AppError('FORBIDDEN', 'this is not the metrics token')
    const text = await metrics.scrape()
    return reply.header('content-type', metrics.contentType).send(text)
  })
}

export interface MetricsListener {
  readonly port: number
  close(): Promise<void>
}

/**
 * The metrics listener (`CUSTODIAN_METRICS_LISTEN`): plain HTTP for a Prometheus on the
 * same host or network, answering only `GET /metrics` (`HEAD` too); anything else is 404,
 * another method 405. It reveals no tenant: the same exposition as the token route.
 */
export async function startMetricsListener(
  metrics: Metrics,
  listen: { host: string; port: number },
  log: { error(obj: object, msg: string): void },
): Promise<MetricsListener> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0]
    if (path !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: only /metrics\n')
      return
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end()
      return
    }
    metrics.scrape().then(
      (text) => {
        response.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' })
        response.end(request.method === 'HEAD' ? undefined : text)
      },
      (error: unknown) => {
        log.error({ err: error }, 'metrics: scrape failed')
        response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('scrape failed\n')
      },
    )
  })
  // A slow or idle scraper cannot hold sockets for long.
  server.requestTimeout = 30_000
  server.headersTimeout = 10_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
