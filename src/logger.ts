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

export function createLogger(config: Pick<Config, 'logLevel'>, destination?: pino.DestinationStream): Logger {
  return pino({ level: config.logLevel, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, destination)
}
