import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { httpsOptions, type TlsMaterial } from '../http/tls.ts'
import type { Witness } from './witness.service.ts'

/**
 * The witness's HTTP surface (C2SP tlog-witness), with the submission and the monitoring
 * prefix both at the root:
 *
 *   POST /add-checkpoint                  the request body as the spec gives it, any content type
 *   GET  /<SHA-256(origin) hex>/checkpoint the latest cosigned checkpoint of that log (text/plain)
 *
 * Bodies above `bodyLimitBytes` are refused with 413 before they are read; other errors
 * leave as problem+json. The log records each request's origin, sizes and outcome; nothing
 * in a request is secret, and the key never reaches a logger.
 */
export interface WitnessServerOptions {
  witness: Witness
  logger: Logger
  /** HTTPS material, or undefined for plain HTTP (behind a TLS-terminating proxy). */
  tls: TlsMaterial | undefined
  bodyLimitBytes: number
}

export async function buildWitnessServer(options: WitnessServerOptions): Promise<FastifyInstance> {
  const { witness, logger } = options
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger, // eslint-disable-line @typescript-eslint/no-unnecessary-type-assertion -- it picks Fastify's logger type parameter
    ...(options.tls === undefined ? {} : { https: httpsOptions(options.tls, 'TLSv1.2') }),
    bodyLimit: options.bodyLimitBytes,
    return503OnClosing: true,
    keepAliveTimeout: 65_000,
    requestTimeout: 30_000,
  })
  // The body is the protocol's own text whatever the content type says (or if it says nothing).
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body))

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 413 : (error.statusCode ?? 500)
    if (status >= 500) request.log.error({ err: error }, 'witness: request failed')
    const detail =
      status === 413
        ? `the body is larger than ${options.bodyLimitBytes} bytes`
        : status >= 500
          ? 'the witness could not process the request'
          : error.message
    return reply
      .status(status)
      .type('application/problem+json')
      .send(
        JSON.stringify({ type: 'about:blank', title: status === 413 ? 'Content Too Large' : 'Error', status, detail }),
      )
  })
  app.setNotFoundHandler((_request, reply) =>
    reply
      .status(404)
      .type('application/problem+json')
      .send(JSON.stringify({ type: 'about:blank', title: 'Not Found', status: 404 })),
  )

  app.post('/add-checkpoint', async (request, reply) => {
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)
    const response = await witness.addCheckpoint(body)
    // Warn only on evidence against a log (a signed fork); a bad request is the sender's problem.
    const level = 'evidence' in response.summary ? 'warn' : 'info'
    request.log[level]({ witness: response.summary, status: response.status }, 'witness: add-checkpoint')
    return reply.status(response.status).type(response.contentType).send(response.body)
  })

  app.get<{ Params: { originHash: string } }>('/:originHash/checkpoint', async (request, reply) => {
    const note = await witness.latestCheckpoint(request.params.originHash)
    if (note === undefined)
      return reply
        .status(404)
        .type('application/problem+json')
        .send(
          JSON.stringify({
            type: 'about:blank',
            title: 'Not Found',
            status: 404,
            detail: 'no checkpoint cosigned for that log',
          }),
        )
    return reply.type('text/plain; charset=utf-8').send(note)
  })
  return app
}

/** Listens and returns the URL to print (`https://host:port` or `http://…`). */
export async function listenWitness(app: FastifyInstance, host: string, port: number, tls: boolean): Promise<string> {
  await app.listen({ host, port })
  const address = app.server.address() as AddressInfo
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return `${tls ? 'https' : 'http'}://${shown}:${address.port}`
}
