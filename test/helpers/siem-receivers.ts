import { appendFileSync, writeFileSync } from 'node:fs'
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls'
import { generate } from 'selfsigned'
import { octetCountingReader, parseRfc5424, type SyslogMessage } from './rfc5424.ts'

/**
 * Real SIEM receivers for tests, on 127.0.0.1: an HTTPS server that reads what Splunk's
 * HEC, Datadog's logs intake and a JSON Lines endpoint get (checking each one's headers
 * and shape), and a TLS syslog listener that reads octet-counted RFC 5424. Each records
 * every event it reads — its org, seq and id — in memory and, when `file` is given,
 * appends it there before answering (a receiver process the test kills: test/siem/).
 */
export interface ReceivedEvent {
  org: string
  seq: number
  id: string
  /** The export line's object `{kind, event, prevHash, hash}` the event came in. */
  line: Record<string, unknown>
}

export interface HttpRequestSeen {
  path: string
  headers: Record<string, string | string[] | undefined>
  body: string
}

export interface Certificate {
  cert: string
  key: string
}

/** A self-signed certificate for localhost and 127.0.0.1 (the receiver's, and the CA a destination trusts). */
export async function testCertificate(commonName = 'siem receiver'): Promise<Certificate> {
  const pems = await generate(
    [{ name: 'commonName', value: `${commonName} ${process.pid}-${Math.random().toString(36).slice(2)}` }],
    {
      keySize: 2048,
      extensions: [
        { name: 'basicConstraints', cA: true },
        {
          name: 'subjectAltName',
          altNames: [
            { type: 2, value: 'localhost' },
            { type: 7, ip: '127.0.0.1' },
          ],
        },
      ],
    } as never,
  )
  return { cert: pems.cert, key: pems.private }
}

function record(events: ReceivedEvent[], file: string | undefined, line: Record<string, unknown>): void {
  const event = line.event as { org: string; seq: number; id: string }
  const entry = { org: event.org, seq: event.seq, id: event.id, line }
  if (file !== undefined) appendFileSync(file, `${JSON.stringify({ org: entry.org, seq: entry.seq, id: entry.id })}\n`)
  events.push(entry)
}

/**
 * Reads one request as its path says: `/services/collector/event` (HEC: `Authorization:
 * Splunk <token>`, envelopes one after another), `/api/v2/logs` (Datadog: `DD-API-KEY`, a
 * JSON array of items whose `message` is the export line), anything else JSON Lines
 * (`application/x-ndjson`). Throws on a wrong header or shape: the receiver answers 400.
 */
export function readSiemRequest(
  request: HttpRequestSeen,
  expect: { token?: string | undefined },
): Record<string, unknown>[] {
  const header = (name: string) => String(request.headers[name] ?? '')
  if (request.path === '/services/collector/event') {
    if (header('authorization') !== `Splunk ${expect.token}`) throw new Error('HEC: wrong Authorization')
    if (!header('content-type').startsWith('application/json')) throw new Error('HEC: not JSON')
    const lines: Record<string, unknown>[] = []
    for (const text of request.body.split('\n')) {
      const envelope = JSON.parse(text) as Record<string, unknown>
      for (const key of ['time', 'host', 'source', 'sourcetype', 'event'])
        if (!(key in envelope)) throw new Error(`HEC: envelope without ${key}`)
      if (typeof envelope.time !== 'number') throw new Error('HEC: time is not epoch seconds')
      const line = envelope.event as Record<string, unknown>
      if (Math.abs(envelope.time * 1000 - Date.parse((line.event as { time: string }).time)) > 1)
        throw new Error('HEC: time is not the event’s')
      lines.push(line)
    }
    return lines
  }
  if (request.path === '/api/v2/logs') {
    if (header('dd-api-key') !== expect.token) throw new Error('Datadog: wrong DD-API-KEY')
    if (!header('content-type').startsWith('application/json')) throw new Error('Datadog: not JSON')
    const items = JSON.parse(request.body) as Record<string, unknown>[]
    if (!Array.isArray(items)) throw new Error('Datadog: not an array')
    return items.map((item) => {
      for (const key of ['ddsource', 'ddtags', 'hostname', 'service', 'message'])
        if (typeof item[key] !== 'string') throw new Error(`Datadog: item without ${key}`)
      return JSON.parse(item.message as string) as Record<string, unknown>
    })
  }
  if (!header('content-type').startsWith('application/x-ndjson')) throw new Error('JSON Lines: wrong content type')
  if (expect.token !== undefined && header('authorization') !== `Bearer ${expect.token}`)
    throw new Error('JSON Lines: wrong Authorization')
  if (!request.body.endsWith('\n')) throw new Error('JSON Lines: the last line is not terminated')
  return request.body
    .slice(0, -1)
    .split('\n')
    .map((text) => JSON.parse(text) as Record<string, unknown>)
}

export interface HttpsSiemReceiver {
  url: string
  port: number
  events: ReceivedEvent[]
  requests: HttpRequestSeen[]
  /** Status answered to each request (default 200 once it reads). */
  answer: (request: HttpRequestSeen, index: number) => number
  close(): Promise<void>
}

/** An HTTPS receiver for the three HTTP kinds; `port` 0 picks one. */
export async function startHttpsSiemReceiver(options: {
  certificate: Certificate
  token?: string | undefined
  port?: number
  file?: string | undefined
  /** Answers each request this much later (a slow SIEM: a stream stays in flight longer). */
  delayMs?: number
}): Promise<HttpsSiemReceiver> {
  const events: ReceivedEvent[] = []
  const requests: HttpRequestSeen[] = []
  const receiver: HttpsSiemReceiver = {
    url: '',
    port: 0,
    events,
    requests,
    answer: () => 200,
    close: async () => {},
  }
  const server: HttpsServer = createHttpsServer(options.certificate, (req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const seen = { path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') }
      requests.push(seen)
      let status = receiver.answer(seen, requests.length - 1)
      if (status >= 200 && status < 300) {
        try {
          for (const line of readSiemRequest(seen, { token: options.token })) record(events, options.file, line)
        } catch (error) {
          status = 400
          res.setHeader('x-reason', (error as Error).message)
        }
      }
      res.statusCode = status
      const body = status < 300 ? '{"ok":true}' : '{"ok":false}'
      if (options.delayMs === undefined) res.end(body)
      else setTimeout(() => res.end(body), options.delayMs)
    })
  })
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  receiver.port = port
  receiver.url = `https://localhost:${port}`
  receiver.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  return receiver
}

export interface SyslogSiemReceiver {
  port: number
  events: ReceivedEvent[]
  messages: SyslogMessage[]
  /** Sessions that ended with our close_notify answered (the sender's acknowledgement). */
  sessions: number
  /** What could not be read (the session was then cut: no acknowledgement). */
  errors: string[]
  close(): Promise<void>
}

/**
 * A syslog-over-TLS listener (RFC 5425): octet-counted RFC 5424 messages, each parsed
 * strictly; the event is read from the structured data `custodian@…` (`event`, `prevHash`,
 * `hash`). `requestCert`: ask for a client certificate signed by `clientCa` (mTLS).
 */
export async function startSyslogSiemReceiver(options: {
  certificate: Certificate
  port?: number
  file?: string | undefined
  clientCa?: string | undefined
}): Promise<SyslogSiemReceiver> {
  const events: ReceivedEvent[] = []
  const messages: SyslogMessage[] = []
  const receiver: SyslogSiemReceiver = { port: 0, events, messages, sessions: 0, errors: [], close: async () => {} }
  const sockets = new Set<TLSSocket>()
  const server: TlsServer = createTlsServer(
    {
      ...options.certificate,
      ...(options.clientCa === undefined
        ? {}
        : { requestCert: true, rejectUnauthorized: true, ca: [options.clientCa] }),
    },
    (socket) => {
      sockets.add(socket)
      const read = octetCountingReader()
      socket.on('data', (chunk: Buffer) => {
        try {
          readChunk(chunk)
        } catch (error) {
          receiver.errors.push((error as Error).message)
          socket.destroy()
        }
      })
      const readChunk = (chunk: Buffer) => {
        for (const frame of read(chunk)) {
          const message = parseRfc5424(frame)
          messages.push(message)
          const element = message.sd.find((e) => e.id.startsWith('custodian@'))
          if (element === undefined) throw new Error('no custodian@ structured data')
          const event = JSON.parse(element.params.event as string) as Record<string, unknown>
          if (message.msgId === 'test') continue
          record(events, options.file, {
            kind: 'event',
            event,
            prevHash: element.params.prevHash,
            hash: element.params.hash,
          })
        }
      }
      socket.on('end', () => {
        receiver.sessions++
      })
      socket.on('error', () => {})
      socket.on('close', () => sockets.delete(socket))
    },
  )
  server.on('tlsClientError', () => {})
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve))
  receiver.port = (server.address() as AddressInfo).port
  receiver.close = () =>
    new Promise((resolve) => {
      for (const socket of sockets) socket.destroy()
      server.close(() => resolve())
    })
  return receiver
}

/** Writes a receiver's certificate and key to files (a receiver process reads them). */
export function writeCertificate(certificate: Certificate, certFile: string, keyFile: string): void {
  writeFileSync(certFile, certificate.cert)
  writeFileSync(keyFile, certificate.key, { mode: 0o600 })
}
