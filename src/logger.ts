import pino, { type Logger } from 'pino'
import type { Config } from './config.ts'

/**
 * JSON logs. Fastify's request serializer logs method, URL and address — never headers or
 * bodies — and these paths are redacted wherever they appear, as a second line of defence.
 */
const SECRET_FIELDS = ['password', 'token', 'apiToken', 'secret', 'csrfToken', 'sessionToken', 'bootstrapToken', 'authorization', 'cookie']

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
  // At the top level of a log entry and one level down (e.g. { body: { password } }).
  ...SECRET_FIELDS,
  ...SECRET_FIELDS.map((field) => `*.${field}`),
]

/**
 * Errors are logged without the values a database call carried: drivers attach the
 * statement's parameters (hashes, wrapped keys, emails), and PostgreSQL's own messages
 * quote offending values ("invalid input syntax …: \"<value>\"", "Key (email)=(…)").
 * For a database error (it has a SQLSTATE) the log keeps what diagnoses it without a
 * value — SQLSTATE, routine, constraint, table, column, the parameterized statement —
 * and drops message, detail, where, hint and the stack's first line.
 */
const DRIVER_VALUE_FIELDS = ['params', 'parameters', 'values']
const DATABASE_TEXT_FIELDS = ['message', 'detail', 'where', 'hint', 'internalQuery']
const REDACTED = '[redacted: may quote values]'

export function serializeError(error: unknown): unknown {
  const serialized = pino.stdSerializers.err(error as Error) as unknown as Record<string, unknown>
  const strip = (value: unknown): unknown => {
    if (value === null || typeof value !== 'object') return value
    const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) }
    for (const field of DRIVER_VALUE_FIELDS) if (field in copy) copy[field] = '[redacted]'
    if (typeof copy.code === 'string' && /^[0-9A-Z]{5}$/.test(copy.code)) {
      for (const field of DATABASE_TEXT_FIELDS) if (typeof copy[field] === 'string') copy[field] = REDACTED
      if (typeof copy.stack === 'string') copy.stack = `${REDACTED}\n${copy.stack.split('\n').filter((line) => /^\s+at /.test(line)).join('\n')}`
    }
    if ('cause' in copy) copy.cause = strip(copy.cause)
    return copy
  }
  return strip(serialized)
}

export function createLogger(config: Pick<Config, 'logLevel'>, destination?: pino.DestinationStream): Logger {
  return pino({ level: config.logLevel, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, serializers: { err: serializeError } }, destination)
}
