import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { connect, type TLSSocket } from 'node:tls'
import { sql } from 'kysely'
import { databaseHost, isLoopbackHost } from '../../../db/database-url.ts'
import {
  check,
  count,
  notApplicable,
  pass,
  some,
  verdict,
  type CheckDefinition,
  type ComplianceEnvironment,
} from './check.ts'

/**
 * Offers one TLS version range to the service's own HTTPS listener and answers what was
 * negotiated, or why the handshake failed. The client allows every version and cipher
 * (`@SECLEVEL=0`), so a refusal is the server's.
 */
function handshake(
  host: string,
  port: number,
  range: { minVersion: 'TLSv1' | 'TLSv1.2'; maxVersion: 'TLSv1.1' | 'TLSv1.3' },
): Promise<{ protocol: string | null; cipher: string | null } | { error: string }> {
  return new Promise((resolve) => {
    const socket: TLSSocket = connect({
      host,
      port,
      servername: isLoopbackHost(host) ? 'localhost' : host,
      rejectUnauthorized: false, // the version is what is checked here, not the certificate
      ciphers: 'ALL:@SECLEVEL=0',
      ...range,
      timeout: 5000,
    })
    const done = (answer: { protocol: string | null; cipher: string | null } | { error: string }) => {
      socket.destroy()
      resolve(answer)
    }
    socket.once('secureConnect', () =>
      done({ protocol: socket.getProtocol(), cipher: socket.getCipher().standardName }),
    )
    socket.once('error', (error: NodeJS.ErrnoException) => done({ error: error.code ?? error.message }))
    socket.once('timeout', () => done({ error: 'timeout' }))
  })
}

function get(
  url: string,
  options: { insecure?: boolean } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined> } | { error: string }> {
  return new Promise((resolve) => {
    const send = url.startsWith('https:') ? httpsRequest : httpRequest
    const req = send(url, { method: 'GET', timeout: 5000, rejectUnauthorized: options.insecure !== true }, (res) => {
      res.resume()
      resolve({ status: res.statusCode ?? 0, headers: res.headers })
    })
    req.once('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }))
    req.once('timeout', () => req.destroy(new Error('timeout')))
    req.end()
  })
}

function loopbackHost(env: ComplianceEnvironment): string | null {
  const l = env.listeners()
  if (l === null) return null
  return l.host === '0.0.0.0' || l.host === '::' ? '127.0.0.1' : l.host
}

/** P4 Transport. */
export const TRANSPORT_CHECKS: readonly CheckDefinition[] = [
  check(
    'p4.1/tls-minimum',
    'service',
    'The HTTPS listener refuses TLS 1.1 and older and negotiates TLS 1.2 or newer (checked by connecting to itself)',
    async ({ env }) => {
      const listeners = env.listeners()
      const host = loopbackHost(env)
      if (listeners === null || host === null)
        return notApplicable('this process does not listen (a command, not the service)', {
          configuredMinimum: env.config.tls.minVersion,
        })
      const old = await handshake(host, listeners.httpsPort, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1' })
      const current = await handshake(host, listeners.httpsPort, { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' })
      const evidence = {
        port: listeners.httpsPort,
        configuredMinimum: env.config.tls.minVersion,
        tls11: 'error' in old ? `refused (${old.error})` : `accepted (${old.protocol})`,
        negotiated: 'error' in current ? null : current.protocol,
        cipher: 'error' in current ? null : current.cipher,
      }
      if ('error' in current)
        return verdict(false, `no TLS 1.2+ handshake with the service (${current.error})`, evidence)
      return verdict(
        'error' in old,
        'error' in old
          ? `TLS 1.1 and older are refused; ${current.protocol} negotiated with ${current.cipher}`
          : `the service accepted ${old.protocol}`,
        evidence,
      )
    },
  ),
  check(
    'p4.1/database-tls',
    'service',
    'The connection to PostgreSQL is encrypted with TLS unless it stays on this machine (loopback, a Unix socket, or the embedded database)',
    async ({ trx, env }) => {
      if (env.engine === 'pglite')
        return pass('the embedded database runs inside the process: no connection leaves it', { engine: 'pglite' })
      const host = databaseHost(env.config.databaseUrl)
      const r = await sql<{ ssl: boolean | null; version: string | null }>`
        SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()`.execute(trx)
      const ssl = r.rows[0]?.ssl === true
      const socket = host.startsWith('unix socket ')
      const local = isLoopbackHost(host) || socket
      const evidence = {
        engine: 'postgres',
        host: local ? host : 'remote',
        tls: ssl,
        tlsVersion: r.rows[0]?.version ?? null,
      }
      if (ssl) return pass(`the database connection uses ${r.rows[0]?.version ?? 'TLS'}`, evidence)
      return verdict(
        local,
        local
          ? `the database is on this machine (${socket ? 'a Unix socket' : 'loopback'}), not encrypted in transit`
          : 'the connection to a remote database is not encrypted',
        evidence,
      )
    },
  ),
  check(
    'p4.2/http-redirects',
    'service',
    'Plain HTTP answers only with a redirect to HTTPS, and HTTPS answers send HSTS (checked by connecting to itself)',
    async ({ env }) => {
      const listeners = env.listeners()
      const host = loopbackHost(env)
      if (listeners === null || host === null)
        return notApplicable('this process does not listen (a command, not the service)')
      const hsts = await get(`https://${host.includes(':') ? `[${host}]` : host}:${listeners.httpsPort}/v1/health`, {
        insecure: true,
      })
      const hstsHeader =
        'error' in hsts ? null : ((hsts.headers['strict-transport-security'] as string | undefined) ?? null)
      const maxAge = Number(/max-age=(\d+)/.exec(hstsHeader ?? '')?.[1] ?? 0)
      const evidence: Record<string, string | number | boolean | null> = {
        httpsPort: listeners.httpsPort,
        httpPort: listeners.httpPort,
        hsts: hstsHeader,
      }
      if (listeners.httpPort !== null) {
        const plain = await get(`http://${host.includes(':') ? `[${host}]` : host}:${listeners.httpPort}/v1/health`)
        evidence.httpStatus = 'error' in plain ? plain.error : plain.status
        const location = 'error' in plain ? '' : String(plain.headers.location ?? '')
        evidence.redirectsToHttps = location.startsWith('https://')
        if ('error' in plain || ![301, 308].includes(plain.status) || !location.startsWith('https://'))
          return verdict(false, 'plain HTTP does not answer with a permanent redirect to HTTPS', evidence)
      }
      const ok = maxAge >= 31_536_000
      return verdict(
        ok,
        ok
          ? `${listeners.httpPort === null ? 'no plain HTTP listener' : 'plain HTTP redirects permanently to HTTPS'}; HSTS max-age ${maxAge} s`
          : `HSTS is missing or shorter than a year (max-age ${maxAge} s)`,
        evidence,
      )
    },
  ),
  check(
    'p4.3/outbound-encrypted',
    'org',
    'Every destination the org’s data is sent to (webhooks, consent recipients, SIEM destinations) is reached over TLS',
    async ({ trx, orgId }) => {
      const r = await sql<{ kind: string; id: string; url: string | null; siem_kind: string | null }>`
        SELECT 'webhook' AS kind, id::text, url, NULL AS siem_kind FROM webhooks WHERE org_id = ${orgId}
        UNION ALL SELECT 'consent recipient', id::text, url, NULL FROM consent_recipients WHERE org_id = ${orgId}
        UNION ALL SELECT 'SIEM destination', id::text, url, kind FROM siem_destinations WHERE org_id = ${orgId}`.execute(
        trx,
      )
      const plain = r.rows.filter((d) => (d.siem_kind === 'syslog_tls' ? false : !(d.url ?? '').startsWith('https://')))
      if (r.rows.length === 0) return notApplicable('the org sends its data to no destination')
      return verdict(
        plain.length === 0,
        plain.length === 0
          ? `${count(r.rows.length, 'destination')}, each over TLS`
          : `${count(plain.length, 'destination')} not over TLS`,
        { destinations: r.rows.length, unencrypted: plain.length, ids: some(plain.map((d) => d.id)) },
      )
    },
  ),
  check(
    'p4.3/mail-encrypted',
    'service',
    'Mail leaves over TLS (STARTTLS or implicit TLS) unless the mail server is on this machine',
    async ({ env }) => {
      const { mail } = env.config
      if (mail.url === undefined) return notApplicable('no mail server is configured: notifications stay in the outbox')
      const host = URL.canParse(mail.url) ? new URL(mail.url).hostname : 'unknown'
      const local = isLoopbackHost(host)
      const evidence = { security: mail.security, server: local ? host : 'remote' }
      return verdict(
        mail.security !== 'none' || local,
        mail.security !== 'none'
          ? `mail is sent with ${mail.security === 'tls' ? 'implicit TLS' : 'STARTTLS'}`
          : 'mail goes to a server on this machine without TLS',
        evidence,
      )
    },
  ),
]
