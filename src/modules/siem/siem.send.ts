import type { StoredChainEvent } from '../audit/audit.format.ts'
import { DestinationRefused, type DestinationGuard, type OutboundFetch, transportFailure } from '../../http/outbound.ts'
import {
  datadogItem,
  exportLine,
  octetCounted,
  splunkEnvelope,
  syslogMessage,
  type DatadogFields,
  type SplunkFields,
  type SyslogFields,
} from './siem.formats.ts'
import { sendSyslogBatch } from './siem.syslog.ts'
import type { DestinationSettings } from './siem.types.ts'
import type { SiemKind } from './siem.tables.ts'

/** What a batch is sent to: the destination's configuration and its opened credential. */
export interface Target {
  orgId: string
  kind: SiemKind
  url: string | null
  host: string | null
  port: number | null
  settings: DestinationSettings
  credential: string | undefined
}

/** The outcome of one attempt: which events went (a prefix of those given), and the answer. */
export interface SendResult {
  sent: StoredChainEvent[]
  status: number | null
  /** Null when the destination acknowledged the batch (HTTP 2xx; syslog: see siem.syslog.ts). */
  error: string | null
}

export const HEC_PATH = '/services/collector/event'
export const DATADOG_PATH = '/api/v2/logs'
const USER_AGENT = 'Custodian-SIEM/1'

/**
 * Sends batches in each destination's format. HTTPS goes through the outbound guard
 * (SSRF checks where the connection is made, no redirects followed); syslog resolves and
 * checks the host the same way before connecting. A batch is cut to `batchBytes` (at least
 * one event): the events after the cut wait for the next batch.
 */
export function createSender(deps: {
  fetch: OutboundFetch
  guard: Pick<DestinationGuard, 'resolveHost'>
  /** The public URL's host: the default host/hostname field. */
  originHost: string
  /** Trusted CAs for syslog when a destination names none: the system's and CUSTODIAN_EXTRA_CA_FILE's (undefined: the system's). */
  defaultCa: string[] | undefined
  timeoutMs: number
  batchBytes: number
}) {
  function fit(events: readonly StoredChainEvent[], encode: (stored: StoredChainEvent) => string | Buffer) {
    const parts: (string | Buffer)[] = []
    let bytes = 0
    for (const stored of events) {
      const part = encode(stored)
      const size = typeof part === 'string' ? Buffer.byteLength(part, 'utf8') : part.length
      if (parts.length > 0 && bytes + size + 1 > deps.batchBytes) break
      parts.push(part)
      bytes += size + 1
    }
    return { parts, sent: events.slice(0, parts.length) }
  }

  async function post(url: string, headers: Record<string, string>, body: string) {
    try {
      const response = await deps.fetch(url, {
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.timeout(deps.timeoutMs),
        headers: { 'user-agent': USER_AGENT, ...headers },
        body,
      })
      // The answer's body is not read: only its status counts, and a destination could send without end.
      await response.body?.cancel().catch(() => undefined)
      const ok = response.status >= 200 && response.status < 300
      return { status: response.status, error: ok ? null : `HTTP ${response.status}` }
    } catch (error) {
      const cause = (error as { cause?: unknown }).cause
      if (cause instanceof DestinationRefused)
        return { status: null, error: `destination refused: ${cause.message}`.slice(0, 200) }
      return { status: null, error: transportFailure(error).slice(0, 200) }
    }
  }

  const splunkFields = (t: Target): SplunkFields => ({
    host: t.settings.host ?? deps.originHost,
    source: t.settings.source ?? 'custodian',
    sourcetype: t.settings.sourcetype ?? 'custodian:audit',
    index: t.settings.index,
  })
  const datadogFields = (t: Target): DatadogFields => ({
    ddsource: t.settings.ddsource ?? 'custodian',
    ddtags: t.settings.ddtags ?? `org:${t.orgId}`,
    hostname: t.settings.hostname ?? deps.originHost,
    service: t.settings.service ?? 'custodian',
  })
  const syslogFields = (t: Target): SyslogFields => ({
    facility: t.settings.facility ?? 13,
    hostname: t.settings.hostname ?? deps.originHost,
    appName: t.settings.appName ?? 'custodian',
    enterpriseId: t.settings.enterpriseId ?? '32473',
  })

  /** Sends a prefix of `events` (what fits in one batch); `msgId` is syslog's MSGID (`test` for a test-send). */
  async function send(target: Target, events: readonly StoredChainEvent[], msgId = 'audit'): Promise<SendResult> {
    const first = events[0]
    if (first === undefined) return { sent: [], status: null, error: null }
    const base = (target.url ?? '').replace(/\/+$/, '')
    switch (target.kind) {
      case 'jsonl': {
        const { parts, sent } = fit(events, exportLine)
        const last = sent[sent.length - 1] ?? first
        const result = await post(
          target.url as string,
          {
            'content-type': 'application/x-ndjson',
            'x-custodian-org': target.orgId,
            'x-custodian-first-seq': String(first.event.seq),
            'x-custodian-last-seq': String(last.event.seq),
            ...(target.credential === undefined ? {} : { authorization: `Bearer ${target.credential}` }),
          },
          parts.map((line) => `${line as string}\n`).join(''),
        )
        return { sent, ...result }
      }
      case 'splunk_hec': {
        const fields = splunkFields(target)
        const { parts, sent } = fit(events, (stored) => splunkEnvelope(stored, fields))
        const result = await post(
          `${base}${HEC_PATH}`,
          { 'content-type': 'application/json', authorization: `Splunk ${target.credential ?? ''}` },
          parts.join('\n'),
        )
        return { sent, ...result }
      }
      case 'datadog': {
        const fields = datadogFields(target)
        const { parts, sent } = fit(events, (stored) => datadogItem(stored, fields))
        const result = await post(
          `${base}${DATADOG_PATH}`,
          { 'content-type': 'application/json', 'dd-api-key': target.credential ?? '' },
          `[${parts.join(',')}]`,
        )
        return { sent, ...result }
      }
      case 'syslog_tls': {
        const fields = syslogFields(target)
        const { parts, sent } = fit(events, (stored) => octetCounted(syslogMessage(stored, fields, msgId)))
        const { settings } = target
        const result = await sendSyslogBatch(
          {
            host: target.host as string,
            port: target.port as number,
            serverName: settings.serverName ?? (target.host as string),
            ca: settings.caCertificate === undefined ? deps.defaultCa : [settings.caCertificate],
            cert: settings.clientCertificate,
            key: settings.clientCertificate === undefined ? undefined : target.credential,
          },
          parts as Buffer[],
          { guard: deps.guard, timeoutMs: deps.timeoutMs },
        )
        return { sent, status: null, error: result.error }
      }
    }
  }

  return { send }
}

export type Sender = ReturnType<typeof createSender>
