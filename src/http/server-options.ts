import { randomUUID } from 'node:crypto'
import type { SecureContextOptions } from 'node:tls'
import { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify'
import type { Logger } from 'pino'
import type { Config } from '../config.ts'
import { AppError } from '../errors.ts'

/** TLS of a listener: the service's certificate (absent only in tests that use inject()). */
export type ListenerTls = SecureContextOptions & { minVersion?: 'TLSv1.2' | 'TLSv1.3' }

/**
 * The Fastify options every listener of the service shares (the main API, the
 * Vault-compatible one): its logger, TLS, the body limit (bytes), a random request id never
 * taken from the client, X-Forwarded-For only from the configured proxies (proxy-addr walks
 * the chain back to the first address not among them; otherwise the TCP peer is the
 * client). 503 while closing is {@link refuseWhileClosing}'s, not Fastify's.
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
    // Fastify's own 503 while closing is a fixed JSON body of its own, with none of the
    // listener's headers: refuseWhileClosing answers instead, in the listener's error format.
    return503OnClosing: false,
    // One line per request, written when it is answered (logEachRequestOnce), instead of
    // Fastify's two ("incoming request" and "request completed"): each line is serialized and
    // redacted, which was about a tenth of a request's CPU in the service (issue 18).
    logController: new LogController({ disableRequestLogging: true }),
  }
}

/**
 * While the listener closes (SIGTERM, after `close()` is called), a request that still
 * arrives — pipelined, or on a keep-alive connection busy with an earlier request — is
 * refused at once with `503 SERVICE_UNAVAILABLE` and `Connection: close`, in the listener's
 * own error format (problem+json on the API, Vault's on the Vault-compatible listener) and
 * with its headers, so that a load balancer or client sends it to another node; the requests
 * already under way finish. Register it after the hooks whose headers every answer carries.
 */
export function refuseWhileClosing(app: FastifyInstance): void {
  let closing = false
  app.addHook('preClose', (done) => {
    closing = true
    done()
  })
  app.addHook('onRequest', (request, reply, done) => {
    if (!closing) {
      done()
      return
    }
    if (request.raw.httpVersionMajor < 2) void reply.header('connection', 'close')
    done(new AppError('SERVICE_UNAVAILABLE', 'the service is shutting down; send the request again'))
  })
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
