import { randomUUID } from 'node:crypto'
import type { SecureContextOptions } from 'node:tls'
import { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify'
import type { Logger } from 'pino'
import type { Config } from '../config.ts'

/** TLS of a listener: the service's certificate (absent only in tests that use inject()). */
export type ListenerTls = SecureContextOptions & { minVersion?: 'TLSv1.2' | 'TLSv1.3' }

/**
 * The Fastify options every listener of the service shares (the main API, the
 * Vault-compatible one): its logger, TLS, the body limit (bytes), a random request id never
 * taken from the client, X-Forwarded-For only from the configured proxies (proxy-addr walks
 * the chain back to the first address not among them; otherwise the TCP peer is the
 * client), and 503 while closing.
 */
export function listenerOptions(
  config: Pick<Config, 'bodyLimitBytes' | 'trustedProxies'>,
  logger: Logger,
  https: ListenerTls | undefined,
) {
  return {
    loggerInstance: logger as FastifyBaseLogger,
    https: https ?? null,
    bodyLimit: config.bodyLimitBytes,
    genReqId: () => randomUUID(),
    requestIdHeader: false as const,
    trustProxy: config.trustedProxies.length === 0 ? false : [...config.trustedProxies],
    return503OnClosing: true,
    // One line per request, written when it is answered (logEachRequestOnce), instead of
    // Fastify's two ("incoming request" and "request completed"): each line is serialized and
    // redacted, which was about a tenth of a request's CPU in the service (issue 18).
    logController: new LogController({ disableRequestLogging: true }),
  }
}

/**
 * Logs each request once, when its answer is sent: the request as the logger's serializer
 * has it (method, route, URL with its query redacted, address — never headers or bodies),
 * the status code and the time taken in milliseconds. Level `info`, like Fastify's own.
 */
export function logEachRequestOnce(app: FastifyInstance): void {
  app.addHook('onResponse', (request, reply, done) => {
    request.log.info(
      { req: request, res: { statusCode: reply.statusCode }, responseTime: reply.elapsedTime },
      'request completed',
    )
    done()
  })
}
