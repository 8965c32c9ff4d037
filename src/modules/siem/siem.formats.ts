import type { StoredChainEvent } from '../audit/audit.format.ts'

/**
 * The wire formats of SIEM destinations (docs/siem.md), pure. Every format carries each
 * event exactly as the audit export writes it (docs/audit-format.md, "Export"): the line
 * `{"kind":"event","event":{…},"prevHash":…,"hash":…}`, so a receiver can dedupe by the
 * event's `id` (or the org and `seq`) and verify the chain with the export's rules.
 *
 * - JSON Lines: one export line per event, `\n`-terminated.
 * - Splunk HTTP Event Collector (`/services/collector/event`): one JSON envelope per event
 *   (`time` in epoch seconds with milliseconds, `host`, `source`, `sourcetype`, optional
 *   `index`, `event` = the export line's object), envelopes one after another — HEC's
 *   batch form.
 * - Datadog logs intake (`/api/v2/logs`): a JSON array of log items (`ddsource`,
 *   `ddtags`, `hostname`, `service`, `message` = the export line as a string).
 * - Syslog (RFC 5424), each message octet-counted for TLS (RFC 5425 §4.3): the event in
 *   structured data, a one-line summary as MSG.
 *
 * Why the syslog framing is written here: the npm syslog clients (syslog-client and its
 * forks, syslog-pro, the logging libraries' transports) format RFC 5424 with the
 * structured data fixed to `-` or without escaping it, frame TCP with newlines rather than
 * RFC 5425's octet counting, and own the connection — none lets a message carry the event
 * as structured data, nor the sender decide when a batch counts as received (see
 * siem.syslog.ts). The format itself is a few lines of the RFC's ABNF.
 */

/** One event as the export writes it (without the newline). */
export function exportLine(stored: StoredChainEvent): string {
  return JSON.stringify({ kind: 'event', ...stored })
}

/** A JSON Lines body: one export line per event. */
export function jsonLinesBody(events: readonly StoredChainEvent[]): string {
  return events.map((stored) => `${exportLine(stored)}\n`).join('')
}

export interface SplunkFields {
  host: string
  source: string
  sourcetype: string
  index?: string | undefined
}

/** One HEC envelope (JSON, no newline). */
export function splunkEnvelope(stored: StoredChainEvent, fields: SplunkFields): string {
  return JSON.stringify({
    time: Date.parse(stored.event.time) / 1000,
    host: fields.host,
    source: fields.source,
    sourcetype: fields.sourcetype,
    ...(fields.index === undefined ? {} : { index: fields.index }),
    event: { kind: 'event', ...stored },
  })
}

/** A HEC batch: envelopes one after another, a newline between them (HEC accepts both). */
export function splunkBody(events: readonly StoredChainEvent[], fields: SplunkFields): string {
  return events.map((stored) => splunkEnvelope(stored, fields)).join('\n')
}

export interface DatadogFields {
  ddsource: string
  ddtags: string
  hostname: string
  service: string
}

/** One Datadog log item (JSON). */
export function datadogItem(stored: StoredChainEvent, fields: DatadogFields): string {
  return JSON.stringify({
    ddsource: fields.ddsource,
    ddtags: fields.ddtags,
    hostname: fields.hostname,
    service: fields.service,
    message: exportLine(stored),
  })
}

/** The intake's JSON array. */
export function datadogBody(events: readonly StoredChainEvent[], fields: DatadogFields): string {
  return `[${events.map((stored) => datadogItem(stored, fields)).join(',')}]`
}

export interface SyslogFields {
  /** RFC 5424 facility, 0–23 (13: log audit). */
  facility: number
  hostname: string
  appName: string
  /** The private enterprise number of the SD-ID `custodian@<number>`. */
  enterpriseId: string
}

/** RFC 5424 §6.2.1: severity by outcome (informational, notice, warning). */
const SEVERITY: Record<string, number> = { success: 6, denied: 5, failure: 4 }

/** PARAM-VALUE (RFC 5424 §6.3.3): `"`, `\` and `]` escaped with a backslash. */
export function sdEscape(value: string): string {
  return value.replace(/["\\\]]/g, (c) => `\\${c}`)
}

/** The BOM that marks MSG as UTF-8 (RFC 5424 §6.4). */
const BOM = '\uFEFF'

/**
 * One RFC 5424 SYSLOG-MSG: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME - MSGID [SD] BOM MSG`.
 * The SD-ELEMENT `custodian@<enterprise id>` carries the event: `org`, `seq`, `id`,
 * `action`, `outcome`, `prevHash`, `hash` and `event` (the chained event's JSON).
 * `msgId` is `audit` for the log's events, `test` for a test-send.
 */
export function syslogMessage(stored: StoredChainEvent, fields: SyslogFields, msgId = 'audit'): Buffer {
  const { event } = stored
  const pri = fields.facility * 8 + (SEVERITY[event.outcome] ?? 6)
  const params: [string, string][] = [
    ['org', event.org],
    ['seq', String(event.seq)],
    ['id', event.id],
    ['action', event.action],
    ['outcome', event.outcome],
    ['prevHash', stored.prevHash],
    ['hash', stored.hash],
    ['event', JSON.stringify(event)],
  ]
  const sd = `[custodian@${fields.enterpriseId}${params.map(([name, value]) => ` ${name}="${sdEscape(value)}"`).join('')}]`
  const actor = `${event.actor.type}:${event.actor.id ?? '-'}`
  const msg = `${event.action} ${event.outcome} by ${actor} (seq ${event.seq})`
  return Buffer.from(
    `<${pri}>1 ${event.time} ${fields.hostname} ${fields.appName} - ${msgId} ${sd} ${BOM}${msg}`,
    'utf8',
  )
}

/** RFC 5425 §4.3 (RFC 6587 §3.4.1) octet-counting: `MSG-LEN SP SYSLOG-MSG`, the length in octets. */
export function octetCounted(message: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${message.length} `, 'ascii'), message])
}

/** RFC 5424 §6: PRINTUSASCII (33–126), 1 to `max` characters. */
export function isPrintUsAscii(value: string, max: number): boolean {
  return value.length >= 1 && value.length <= max && /^[\x21-\x7e]+$/.test(value)
}

/** An enterprise number as an SD-ID takes it: digits, optionally dotted (RFC 5424 §7.2.2). */
export function isEnterpriseId(value: string): boolean {
  return /^[0-9]{1,10}(\.[0-9]{1,10}){0,8}$/.test(value)
}
