import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { writeFileSync } from 'node:fs'
import { generate } from 'selfsigned'

/** What a test receiver got: one entry per request. */
export interface Received {
  path: string
  headers: Record<string, string | string[] | undefined>
  body: string
}

/** An answer whose body never ends (a hostile endpoint): how much was written before the client closed. */
export interface Endless {
  path: string
  bytes: number
  closedByClient: boolean
}

/**
 * A real HTTPS endpoint for webhook tests, with its own self-signed certificate, written
 * to `caFile` for the service to trust. `answer` decides each response's status.
 * Requests to a path starting with `/endless` are answered 200 with a body that never
 * ends, written as fast as the client reads it (`endless` records each).
 */
export async function startHttpsReceiver(
  caFile: string,
  answer: (received: Received, index: number) => number = () => 200,
): Promise<{ url: string; caFile: string; received: Received[]; endless: Endless[]; close(): Promise<void> }> {
  const tls = await generate(
    [{ name: 'commonName', value: `localhost test ${process.pid}-${Math.random().toString(36).slice(2)}` }],
    {
      keySize: 2048,
      extensions: [
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
  writeFileSync(caFile, tls.cert)
  const received: Received[] = []
  const endless: Endless[] = []
  const chunk = Buffer.alloc(64 * 1024, 0x61)
  const server: Server = createServer({ cert: tls.cert, key: tls.private }, (req, res) => {
    let body = ''
    req.on('data', (chunk: Buffer) => (body += chunk.toString()))
    req.on('end', () => {
      const entry = { path: req.url ?? '', headers: req.headers, body }
      received.push(entry)
      if (entry.path.startsWith('/endless')) {
        const record: Endless = { path: entry.path, bytes: 0, closedByClient: false }
        endless.push(record)
        res.writeHead(200, { 'content-type': 'application/octet-stream' })
        res.on('close', () => {
          record.closedByClient = true
        })
        const pump = () => {
          while (!res.destroyed && record.bytes < 4 * 1024 ** 3) {
            record.bytes += chunk.length
            if (!res.write(chunk)) return void res.once('drain', pump)
          }
        }
        pump()
        return
      }
      res.statusCode = answer(entry, received.length - 1)
      res.end(res.statusCode < 300 ? '{"ok":true}' : 'not now')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `https://localhost:${(server.address() as AddressInfo).port}`,
    caFile,
    received,
    endless,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
