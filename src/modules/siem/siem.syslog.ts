import { connect as netConnect, isIP, type Socket } from 'node:net'
import { Duplex } from 'node:stream'
import { checkServerIdentity, connect as tlsConnect, type TLSSocket } from 'node:tls'
import { DestinationRefused, type DestinationGuard, transportFailure } from '../../http/outbound.ts'

/**
 * Syslog over TLS (RFC 5425): one TLS session per batch — connect, write the batch's
 * octet-counted RFC 5424 messages, then close the session with a TLS `close_notify` and
 * wait for the receiver's own `close_notify`.
 *
 * Why the receiver's `close_notify` is the acknowledgement. RFC 5425 has no
 * application-level acknowledgement, and a write callback only says the bytes reached
 * our kernel: bytes still in flight, or in the receiver's kernel buffer when it dies, are
 * lost without a trace. But RFC 5425 §4.4 obliges a receiver that gets a `close_notify` to
 * answer with its own, and TLS records are read in order: its answer proves that the
 * receiver's TLS stack read every record we wrote before ours. A receiver that died never
 * answers (its kernel closes the TCP connection bare, or resets it), so the batch is not
 * acknowledged and is sent again from the cursor. What it does not prove is what the
 * receiver did with what it read — a receiver that reads a message and crashes before
 * storing it loses it (that is syslog's limit; RELP or an HTTPS destination acknowledges
 * storage). Docs: docs/siem.md, "Guarantees".
 *
 * Node's TLS socket ends alike on a `close_notify` and on a bare TCP FIN, so the answer is
 * seen on the wire, below TLS: the TLS socket runs over a duplex that watches the
 * receiver's records (5-byte headers, RFC 8446 §5.1): after we sent ours, a TLS 1.2 alert
 * record (content type 21), or a TLS 1.3 record short enough to be an encrypted 2-byte
 * alert (type 23, at most 32 bytes: 19 with the AEAD tag, plus room for padding — a
 * NewSessionTicket arriving late is far longer; a syslog receiver sends no data).
 */
export interface SyslogTarget {
  host: string
  port: number
  /** The name the certificate must carry (and the SNI, unless it is an address). */
  serverName: string
  /** Trusted CAs (PEM); undefined: the system's roots. */
  ca: string[] | undefined
  /** mTLS: the client certificate (PEM) and its key. */
  cert?: string | undefined
  key?: string | undefined
}

/** The largest TLS 1.3 record that still counts as the receiver's encrypted close_notify. */
const MAX_ALERT_RECORD = 32

/**
 * Sends one batch of framed messages; `error` null when the receiver answered our
 * close_notify, else why not (`ECONNREFUSED`, `TimeoutError`, `no close_notify from the
 * receiver`, `destination refused: …`). Never throws; never names the key or the messages.
 */
export async function sendSyslogBatch(
  target: SyslogTarget,
  frames: readonly Buffer[],
  options: { guard: Pick<DestinationGuard, 'resolveHost'>; timeoutMs: number },
): Promise<{ error: string | null }> {
  let address: string
  try {
    address = await options.guard.resolveHost(target.host)
  } catch (error) {
    if (error instanceof DestinationRefused) return { error: `destination refused: ${error.message}`.slice(0, 200) }
    return { error: transportFailure(error) }
  }
  return new Promise((resolve) => {
    let settled = false
    let closing = false
    let answered = false
    let failure: string | null = null
    const raw: Socket = netConnect({ host: address, port: target.port })
    const watcher = recordWatcher()
    const wire = new Duplex({
      write(chunk: Buffer, _encoding, callback) {
        raw.write(chunk, callback)
      },
      final(callback) {
        raw.end()
        callback()
      },
      read() {
        raw.resume()
      },
      destroy(error, callback) {
        raw.destroy()
        callback(error)
      },
    })
    raw.on('data', (chunk: Buffer) => {
      for (const record of watcher(chunk))
        if (closing && (record.type === 21 || (record.type === 23 && record.length <= MAX_ALERT_RECORD)))
          answered = true
      if (!wire.push(chunk)) raw.pause()
    })
    raw.on('end', () => wire.push(null))
    raw.on('error', (error) => {
      failure ??= transportFailure(error)
      wire.destroy()
    })
    const ip = isIP(target.serverName) !== 0
    let socket: TLSSocket
    try {
      socket = tlsConnect({
        socket: wire,
        ...(ip ? {} : { servername: target.serverName }),
        checkServerIdentity: (_host, cert) => checkServerIdentity(target.serverName, cert),
        minVersion: 'TLSv1.2',
        ...(target.ca === undefined ? {} : { ca: target.ca }),
        ...(target.cert === undefined ? {} : { cert: target.cert }),
        ...(target.key === undefined ? {} : { key: target.key }),
      })
    } catch (error) {
      // A CA, certificate or key OpenSSL cannot load: its code, never the key.
      raw.destroy()
      resolve({ error: transportFailure(error) })
      return
    }
    const finish = (error: string | null) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      raw.destroy()
      resolve({ error })
    }
    const timer = setTimeout(() => finish(failure ?? 'TimeoutError'), options.timeoutMs)
    socket.once('secureConnect', () => {
      for (const frame of frames) socket.write(frame)
      closing = true
      socket.end()
    })
    socket.on('error', (error) => {
      failure ??= transportFailure(error)
      finish(failure)
    })
    socket.on('close', () => {
      finish(failure ?? (answered ? null : 'no close_notify from the receiver'))
    })
  })
}

/** Splits the receiver's byte stream into TLS records (type and length), across chunks. */
function recordWatcher(): (chunk: Buffer) => { type: number; length: number }[] {
  let pending: Buffer = Buffer.alloc(0)
  let skip = 0
  return (chunk) => {
    const records: { type: number; length: number }[] = []
    let data = chunk
    if (skip > 0) {
      const skipped = Math.min(skip, data.length)
      skip -= skipped
      data = data.subarray(skipped)
    }
    pending = pending.length === 0 ? data : Buffer.concat([pending, data])
    while (pending.length >= 5) {
      const type = pending[0] as number
      const length = pending.readUInt16BE(3)
      records.push({ type, length })
      if (pending.length >= 5 + length) pending = pending.subarray(5 + length)
      else {
        skip = 5 + length - pending.length
        pending = Buffer.alloc(0)
      }
    }
    return records
  }
}
