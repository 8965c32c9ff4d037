import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { AppError, ERROR_STATUS, isAppError, type ErrorCode } from '../errors.ts'
import { isDatabaseUnavailable, sqlState } from '../db/tenant.ts'

/**
 * Every error leaves as RFC 9457 problem+json with a stable `code`. Nothing internal —
 * stack, SQL, driver message — reaches the caller; unexpected errors are logged with the
 * request id and answered with a bare 500.
 */
export function toAppError(error: unknown): AppError {
  if (isAppError(error)) return error
  const fastifyError = error as FastifyError & { validationContext?: string }
  if (Array.isArray(fastifyError.validation)) {
    // Pointers name the request's parts as the input guards do (src/http/input.ts):
    // `/params`, `/query`, `/body` — Fastify calls the query's schema `querystring`.
    const context = fastifyError.validationContext ?? 'body'
    const where = context === 'querystring' ? 'query' : context
    return new AppError('VALIDATION_FAILED', 'the request does not match the schema', {
      errors: withAllowedValues(fastifyError.validation as SchemaError[])
        .slice(0, 20)
        .map((v) => ({ path: `/${where}${v.instancePath}`, message: describeValidation(v) })),
    })
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('PAYLOAD_TOO_LARGE', 'the request body is larger than this server accepts')
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new AppError('UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json')
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AppError('BAD_REQUEST', 'the body is empty but the content type says JSON')
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new AppError('BAD_REQUEST', 'the body is not valid JSON')
  }
  if (fastifyError.statusCode === 429) return new AppError('RATE_LIMITED', 'too many requests; slow down')
  if (error instanceof SyntaxError && fastifyError.statusCode === 400)
    return new AppError('BAD_REQUEST', 'the body is not valid JSON')
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    const byStatus = (Object.entries(ERROR_STATUS) as [ErrorCode, number][]).find(
      ([, s]) => s === fastifyError.statusCode,
    )
    return new AppError(byStatus?.[0] ?? 'BAD_REQUEST', 'the request could not be processed')
  }
  const state = sqlState(error)
  // Input the schema let through but PostgreSQL cannot store (encoding, size limits).
  if (state === '22021' || state === '22P05' || state === '54000' || state === '22001') {
    return new AppError('VALIDATION_FAILED', 'a value cannot be stored as given', {}, { cause: error })
  }
  if (isDatabaseUnavailable(error))
    return new AppError('SERVICE_UNAVAILABLE', 'the database is unavailable; try again', {}, { cause: error })
  return new AppError('INTERNAL', 'internal error', {}, { cause: error })
}

/** One error of Ajv's output (the fields Fastify passes on). */
type SchemaError = { keyword: string; instancePath: string; message?: string; params: Record<string, unknown> }

/**
 * Says the allowed values where a field takes one of a fixed set. TypeBox writes such a
 * field as `anyOf` of `const` schemas, for which Ajv (allErrors) reports one "must be equal
 * to constant" per value and then "must match a schema in anyOf": these become one error,
 * "must be one of …", at the field's path. `enum` errors name their values the same way.
 */
function withAllowedValues(errors: SchemaError[]): SchemaError[] {
  const allowed = new Map<string, unknown[]>()
  for (const e of errors)
    if (e.keyword === 'const')
      allowed.set(e.instancePath, [...(allowed.get(e.instancePath) ?? []), e.params.allowedValue])
  const out: SchemaError[] = []
  const said = new Set<string>()
  for (const e of errors) {
    const values = allowed.get(e.instancePath)
    if (values === undefined || (e.keyword !== 'const' && e.keyword !== 'anyOf')) out.push(e)
    else if (e.keyword === 'const' && !said.has(e.instancePath)) {
      said.add(e.instancePath)
      out.push({ ...e, keyword: 'enum', params: { allowedValues: values } })
    }
  }
  return out
}

function describeValidation(v: SchemaError): string {
  if (v.keyword === 'additionalProperties') return `unknown field ${JSON.stringify(v.params.additionalProperty)}`
  if (v.keyword === 'required') return `missing field ${JSON.stringify(v.params.missingProperty)}`
  if (v.keyword === 'enum' && Array.isArray(v.params.allowedValues))
    return `must be one of ${v.params.allowedValues.map((a) => JSON.stringify(a)).join(', ')}`
  return v.message ?? v.keyword
}

export function sendProblem(request: FastifyRequest, reply: FastifyReply, error: AppError): FastifyReply {
  if (error.status === 429 || error.status === 503) {
    reply.header('retry-after', String(error.extras.retryAfter ?? (error.status === 503 ? 5 : 60)))
  }
  return reply
    .code(error.status)
    .type('application/problem+json')
    .send({
      type: `urn:custodian:problem:${error.code.toLowerCase().replaceAll('_', '-')}`,
      title: titleOf(error.status),
      status: error.status,
      code: error.code,
      detail: error.message,
      instance: request.url.split('?')[0],
      requestId: request.id,
      ...error.extras,
    })
}

function titleOf(status: number): string {
  const titles: Record<number, string> = {
    400: 'Bad Request',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'Not Found',
    405: 'Method Not Allowed',
    406: 'Not Acceptable',
    409: 'Conflict',
    413: 'Content Too Large',
    415: 'Unsupported Media Type',
    421: 'Misdirected Request',
    429: 'Too Many Requests',
    500: 'Internal Server Error',
    503: 'Service Unavailable',
  }
  return titles[status] ?? 'Error'
}

export function registerNotFound(app: FastifyInstance): void {
  app.setNotFoundHandler((request, reply) => {
    sendProblem(
      request,
      reply,
      new AppError('ROUTE_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`),
    )
  })
}
