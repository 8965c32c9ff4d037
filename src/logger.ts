import pino, { type Logger } from 'pino'
import type { Config } from './config.ts'
import { canonicalOrgId, orgIdDigest, regionTag, tagOfOrgId } from './modules/ops/residency.ts'

/**
 * JSON logs. The request serializer below logs method, route, URL (query values redacted)
 * and address — never headers or bodies — and these paths are redacted wherever they
 * appear, as a second line of defence.
 */
const SECRET_FIELDS = [
  'password',
  'token',
  'apiToken',
  'secret',
  'csrfToken',
  'sessionToken',
  'bootstrapToken',
  'authorization',
  'cookie',
]

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-csrf-token"]',
  // The Vault-compatible listener's credential (src/http/vault-listener.ts).
  'req.headers["x-vault-token"]',
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
    // Node's HTTP parser attaches the raw bytes of a malformed request (headers, cookies,
    // a bearer token) as a Buffer, which no text scrubber sees.
    if ('rawPacket' in copy) copy.rawPacket = '[redacted: raw request bytes]'
    if (typeof copy.code === 'string' && /^[0-9A-Z]{5}$/.test(copy.code)) {
      for (const field of DATABASE_TEXT_FIELDS) if (typeof copy[field] === 'string') copy[field] = REDACTED
      if (typeof copy.stack === 'string')
        copy.stack = `${REDACTED}\n${copy.stack
          .split('\n')
          .filter((line) => /^\s+at /.test(line))
          .join('\n')}`
    }
    if ('cause' in copy) copy.cause = strip(copy.cause)
    return copy
  }
  return strip(serialized)
}

/**
 * Every Custodian credential starts `cst_<kind>_` (API, session, invitation, bootstrap and
 * status tokens, unseal shares), so one pattern finds them wherever they land: a query
 * string, a path, an error message, a field nobody thought of. The underscores may arrive
 * percent-encoded (`cst%5Fapi%5F…`).
 */
const CREDENTIAL = /cst(?:_|%5f)([a-z]+)(?:_|%5f)[A-Za-z0-9_\-%.~+/=]*/gi
const MAY_HOLD_CREDENTIAL = /cst(?:_|%5f)/i

/** `text` with every credential's kind kept and the rest replaced. */
export function scrubCredentials(text: string): string {
  return MAY_HOLD_CREDENTIAL.test(text) ? text.replace(CREDENTIAL, 'cst_$1_[redacted]') : text
}

/**
 * Query parameters whose values are logged as sent: paging and filters that name no person
 * and carry no secret. Every other value (an SSO callback's `code` and `state`, a login
 * hint, anything a client puts in the wrong place) is logged as `[redacted]`.
 */
export const LOGGED_QUERY_KEYS = new Set([
  'limit',
  'cursor',
  'from',
  'to',
  'status',
  'open',
  'outcome',
  'action',
  'format',
])

/** A request URL as it may be logged: the path, and the query with values redacted but for LOGGED_QUERY_KEYS. */
export function redactUrl(url: string): string {
  const mark = url.indexOf('?')
  if (mark === -1) return url
  const query = url
    .slice(mark + 1)
    .split('&')
    .map((pair) => {
      const equals = pair.indexOf('=')
      const key = equals === -1 ? pair : pair.slice(0, equals)
      if (equals === -1) return key
      return LOGGED_QUERY_KEYS.has(key) ? pair : `${key}=[redacted]`
    })
    .join('&')
  return `${url.slice(0, mark)}?${query}`
}

/**
 * What a request's log lines say about it: method, the route it matched (the pattern, so
 * path parameters are not needed to group lines), the URL with its query redacted, the
 * client address. Never headers or bodies.
 */
function serializeRequest(request: unknown, foreignOrg?: (id: string) => boolean): Record<string, unknown> {
  // Any `req` in a log entry comes through here, not only Fastify's: keep strings we know, drop the rest.
  const { method, url, ip, routeOptions } = (request ?? {}) as {
    method?: unknown
    url?: unknown
    ip?: unknown
    routeOptions?: { url?: unknown }
  }
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined)
  return {
    method: text(method),
    route: text(routeOptions?.url),
    url: typeof url === 'string' ? withoutForeignOrgs(redactUrl(url), foreignOrg) : undefined,
    remoteAddress: text(ip),
  }
}

const UUID_IN_TEXT = /(?:urn:uuid:)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi

/**
 * P8.2: an id of another region's org in a URL (a misdirected request, answered 421) is not
 * kept in this region's log, as it is not kept in its audit log: its digest stands in for it.
 */
function withoutForeignOrgs(url: string, foreignOrg: ((id: string) => boolean) | undefined): string {
  if (foreignOrg === undefined) return url
  let decoded: string
  try {
    decoded = decodeURIComponent(url)
  } catch {
    decoded = url
  }
  if (![...decoded.matchAll(UUID_IN_TEXT)].some(([id]) => foreignOrg(id))) return url
  return decoded.replace(UUID_IN_TEXT, (id) =>
    foreignOrg(id) ? `[org of another region ${orgIdDigest(canonicalOrgId(id) ?? id)}]` : id,
  )
}

/**
 * Redaction happens twice: by path (known secret fields, whatever their value) and, on the
 * finished line, by shape (any `cst_…` credential, wherever it appears).
 */
export function createLogger(
  config: Pick<Config, 'logLevel'> & { residency?: Config['residency'] },
  destination?: pino.DestinationStream,
): Logger {
  const region = config.residency?.region
  const local = region === undefined ? undefined : regionTag(region)
  // An id whose tag names another region (residency.ts); untagged ids are anyone's.
  const foreignOrg =
    local === undefined
      ? undefined
      : (id: string) => {
          const tag = tagOfOrgId(id)
          return tag !== undefined && tag !== local
        }
  return pino(
    {
      level: config.logLevel,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: { err: serializeError, req: (request: unknown) => serializeRequest(request, foreignOrg) },
      hooks: { streamWrite: scrubCredentials },
    },
    destination,
  )
}
