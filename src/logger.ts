import pino, { type Logger } from 'pino'
import type { Config } from './config.ts'

/**
 * JSON logs. Fastify's request serializer logs method, URL and address — never headers or
 * bodies — and these paths are redacted wherever they appear, as a second line of defence.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
  '*.password',
  '*.token',
  '*.apiToken',
  '*.secret',
  '*.csrfToken',
  '*.sessionToken',
  '*.bootstrapToken',
]

export function createLogger(config: Pick<Config, 'logLevel'>, destination?: pino.DestinationStream): Logger {
  return pino({ level: config.logLevel, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, destination)
}
