import { createServer, type Server } from 'node:http'

/**
 * The plain-HTTP listener (P4.2, P4.3): every request, whatever its method or path, gets
 * 308 to the same path on HTTPS and nothing else — no API, no health check, no body
 * worth reading. The target host comes from CUSTODIAN_PUBLIC_URL when set; otherwise
 * from the Host header, accepted only if it is a plain host name or address.
 */
export function createRedirectServer(options: { httpsPort: number; publicUrl: string | undefined }): Server {
  const server = createServer((request, response) => {
    const location = `${targetOrigin(request.headers.host, options)}${safePath(request.url)}`
    response.writeHead(308, {
      location,
      'content-type': 'text/plain; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'close',
    })
    response.end('This service is served over HTTPS only.\n')
  })
  server.requestTimeout = 10_000
  server.headersTimeout = 10_000
  return server
}

function targetOrigin(host: string | undefined, options: { httpsPort: number; publicUrl: string | undefined }): string {
  if (options.publicUrl !== undefined) return new URL(options.publicUrl).origin
  const hostname = parseHostname(host) ?? 'localhost'
  return options.httpsPort === 443 ? `https://${hostname}` : `https://${hostname}:${options.httpsPort}`
}

function parseHostname(host: string | undefined): string | undefined {
  if (host === undefined) return undefined
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]{1,253})(?::\d{1,5})?$/.exec(host)
  return match?.[1]
}

function safePath(url: string | undefined): string {
  // An absolute-form or protocol-relative target must not turn into an open redirect.
  if (url === undefined || !url.startsWith('/') || url.startsWith('//')) return '/'
  return url
}
