import { Type, type Static } from '@sinclair/typebox'
import { NextCursor, Strict, Timestamp, Uuid } from '../../http/schemas.ts'

/** Request and response schemas of the SIEM routes, and the views the service returns. */

const Nullable = <T extends ReturnType<typeof Type.String> | ReturnType<typeof Type.Integer>>(schema: T) =>
  Type.Union([schema, Type.Null()])

export const Kind = Type.Union(
  [Type.Literal('jsonl'), Type.Literal('splunk_hec'), Type.Literal('datadog'), Type.Literal('syslog_tls')],
  {
    description:
      'jsonl: JSON Lines POSTed to an HTTPS URL; splunk_hec: Splunk HTTP Event Collector; datadog: Datadog logs intake; syslog_tls: RFC 5424 over TLS (RFC 5425)',
  },
)

const Pem = Type.String({ minLength: 1, maxLength: 16_384, description: 'PEM' })
const Label = (description: string, max = 200) => Type.String({ minLength: 1, maxLength: max, description })

/**
 * Non-secret settings of a destination; each kind takes only its own (others are refused):
 * splunk_hec: index, source, sourcetype, host; datadog: service, ddsource, ddtags, hostname;
 * syslog_tls: hostname, appName, facility, enterpriseId, caCertificate, serverName,
 * clientCertificate. Absent ones take the defaults docs/siem.md gives.
 */
export const Settings = Type.Object(
  {
    index: Type.Optional(Label('Splunk index')),
    source: Type.Optional(Label('Splunk source (default custodian)')),
    sourcetype: Type.Optional(Label('Splunk sourcetype (default custodian:audit)')),
    host: Type.Optional(Label('Splunk host field (default: the public URL’s host)')),
    service: Type.Optional(Label('Datadog service (default custodian)')),
    ddsource: Type.Optional(Label('Datadog ddsource (default custodian)')),
    ddtags: Type.Optional(Label('Datadog ddtags, comma-separated (default org:<org id>)', 1000)),
    hostname: Type.Optional(
      Label('Datadog hostname, or the syslog HOSTNAME (printable ASCII); default: the public URL’s host', 255),
    ),
    appName: Type.Optional(Label('syslog APP-NAME, printable ASCII (default custodian)', 48)),
    facility: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 23, description: 'syslog facility (default 13, log audit)' }),
    ),
    enterpriseId: Type.Optional(
      Type.String({
        pattern: '^[0-9]{1,10}(\\.[0-9]{1,10}){0,8}$',
        description: 'private enterprise number of the SD-ID custodian@<number> (default 32473, RFC 5612’s example)',
      }),
    ),
    caCertificate: Type.Optional(Pem),
    serverName: Type.Optional(Label('the name the receiver’s certificate must carry (default: host)', 253)),
    clientCertificate: Type.Optional(Pem),
  },
  { ...Strict, description: 'settings of the kind (see docs/siem.md)' },
)
export type DestinationSettings = Static<typeof Settings>

const Credential = Type.String({
  minLength: 1,
  maxLength: 16_384,
  description:
    'secret, kept in the vault and never shown again: the HEC token (splunk_hec), the API key (datadog), a bearer token (jsonl, optional), the TLS client key in PEM (syslog_tls, with settings.clientCertificate)',
})
const Url = Type.String({
  minLength: 1,
  maxLength: 2000,
  description:
    'https URL: the endpoint (jsonl), or the base URL the fixed path is added to (splunk_hec: /services/collector/event; datadog: /api/v2/logs)',
})
const Host = Type.String({
  minLength: 1,
  maxLength: 253,
  description: 'syslog_tls: the receiver’s host name or address',
})
const Port = Type.Integer({
  minimum: 1,
  maximum: 65535,
  description: 'syslog_tls: the receiver’s port (6514 is RFC 5425’s)',
})

export const CreateBody = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' }),
    kind: Kind,
    url: Type.Optional(Url),
    host: Type.Optional(Host),
    port: Type.Optional(Port),
    credential: Type.Optional(Credential),
    settings: Type.Optional(Settings),
    start: Type.Optional(
      Type.Union([Type.Literal('beginning'), Type.Literal('now')], {
        description: 'beginning (default): the whole log, from seq 1; now: events chained from now on',
      }),
    ),
  },
  Strict,
)
export type CreateInput = Static<typeof CreateBody>

export const UpdateBody = Type.Object(
  {
    url: Type.Optional(Url),
    host: Type.Optional(Host),
    port: Type.Optional(Port),
    credential: Type.Optional(
      Type.Union([Credential, Type.Null()], { description: 'a new credential, or null to remove it' }),
    ),
    settings: Type.Optional(Settings),
  },
  { ...Strict, minProperties: 1 },
)
export type UpdateInput = Static<typeof UpdateBody>

export const DeadLetterView = Type.Object({
  id: Uuid,
  fromSeq: Type.Integer({ description: 'first seq of the batch given up' }),
  toSeq: Type.Integer({ description: 'last seq of the batch given up' }),
  attempts: Type.Integer(),
  lastStatus: Nullable(Type.Integer()),
  lastError: Type.String(),
  createdAt: Timestamp,
  resolution: Type.Union([Type.Literal('retried'), Type.Literal('skipped'), Type.Null()], {
    description: 'null while the destination is stopped at it',
  }),
  resolvedAt: Nullable(Timestamp),
  resolvedBy: Nullable(Type.String()),
})
export type DeadLetterViewT = Static<typeof DeadLetterView>

export const DestinationView = Type.Object({
  id: Uuid,
  name: Type.String(),
  kind: Kind,
  url: Nullable(Type.String()),
  host: Nullable(Type.String()),
  port: Nullable(Type.Integer()),
  settings: Settings,
  hasCredential: Type.Boolean({ description: 'a credential is kept (its value is never shown)' }),
  state: Type.Union([Type.Literal('active'), Type.Literal('paused'), Type.Literal('stopped')], {
    description: 'stopped: at a dead letter, until resumed (retry) or skipped',
  }),
  cursorSeq: Type.Integer({ description: 'the last seq the destination acknowledged' }),
  deliveredEvents: Type.Integer(),
  attempts: Type.Integer({ description: 'failed attempts of the current batch' }),
  nextAttemptAt: Nullable(Timestamp),
  lastAttemptAt: Nullable(Timestamp),
  lastDeliveredAt: Nullable(Timestamp),
  lastStatus: Nullable(Type.Integer()),
  lastError: Nullable(Type.String()),
  lag: Type.Object({
    headSeq: Type.Integer({ description: 'the org’s chained head' }),
    events: Type.Integer({ description: 'chained events not acknowledged yet: headSeq − cursorSeq' }),
    secondsSinceLastDelivery: Nullable(Type.Integer()),
    lastError: Nullable(Type.String()),
  }),
  deadLetter: Type.Union([DeadLetterView, Type.Null()], { description: 'the open dead letter the stream stopped at' }),
  createdAt: Timestamp,
  updatedAt: Timestamp,
})
export type DestinationViewT = Static<typeof DestinationView>

export const TestResult = Type.Object({
  ok: Type.Boolean({ description: 'the destination acknowledged the test event' }),
  status: Nullable(Type.Integer()),
  error: Nullable(Type.String()),
})
export type TestResultT = Static<typeof TestResult>

export const DestinationList = Type.Object({ destinations: Type.Array(DestinationView), nextCursor: NextCursor })
export const DeadLetterList = Type.Object({ deadLetters: Type.Array(DeadLetterView), nextCursor: NextCursor })
