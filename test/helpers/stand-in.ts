import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { generate } from 'selfsigned'

export interface StandInRequest {
  method: string
  path: string
  headers: IncomingMessage['headers']
  body: string
  /** When it arrived (ms since the epoch). */
  at: number
}

/**
 * A small HTTPS server on 127.0.0.1 with its own certificate (`ca`), standing in for the
 * service where a test needs answers the real one does not give on demand (429 and 503
 * with Retry-After, a broken answer) or a route it does not have yet. `handle` answers
 * each request; it may also destroy the socket to simulate an answer that never came.
 */
export async function startStandIn(
  handle: (request: StandInRequest, res: ServerResponse, index: number) => void,
): Promise<{ url: string; ca: string; requests: StandInRequest[]; close(): Promise<void> }> {
  const tls = await generate([{ name: 'commonName', value: 'stand-in' }], {
    keyType: 'ec',
    curve: 'P-256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
  } as never)
  const requests: StandInRequest[] = []
  const server: Server = createServer({ cert: tls.cert, key: tls.private }, (req, res) => {
    let body = ''
    req.on('data', (chunk: Buffer) => (body += chunk.toString()))
    req.on('end', () => {
      const request = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, at: Date.now() }
      requests.push(request)
      handle(request, res, requests.length - 1)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    ca: tls.cert,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** Answers a problem+json document like the service's (docs/errors.md). */
export function problem(
  res: ServerResponse,
  status: number,
  code: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/problem+json', ...headers })
  res.end(JSON.stringify({ type: 'about:blank', title: code, status, code, detail: `stand-in ${code}`, ...extra }))
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(body))
}
