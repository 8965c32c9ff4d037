import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { gunzipSync } from 'node:zlib'

/** One span as OTLP/JSON carries it (the fields the tests read). */
export interface OtlpSpan {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  kind: number
  attributes?: { key: string; value: Record<string, unknown> }[]
  events?: unknown[]
  status?: { code?: number; message?: string }
}

/**
 * A real OTLP/HTTP trace receiver on 127.0.0.1 (JSON encoding, what
 * @opentelemetry/exporter-trace-otlp-http sends): keeps every request body as received,
 * answers 200 as a collector does.
 */
export async function startOtlpReceiver(): Promise<{
  endpoint: string
  /** Every request body, as text (to search for secrets in all of it). */
  bodies: string[]
  /** Every span received, with its resource's service.name. */
  spans(): (OtlpSpan & { service: string | undefined })[]
  close(): Promise<void>
}> {
  const bodies: string[] = []
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const raw = Buffer.concat(chunks)
      const text = (request.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8')
      if (request.method !== 'POST' || request.url !== '/v1/traces') {
        response.writeHead(404).end()
        return
      }
      bodies.push(text)
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bodies,
    spans() {
      const spans: (OtlpSpan & { service: string | undefined })[] = []
      for (const body of bodies) {
        const parsed = JSON.parse(body) as {
          resourceSpans?: {
            resource?: { attributes?: { key: string; value: { stringValue?: string } }[] }
            scopeSpans?: { spans?: OtlpSpan[] }[]
          }[]
        }
        for (const resourceSpans of parsed.resourceSpans ?? []) {
          const service = resourceSpans.resource?.attributes?.find((a) => a.key === 'service.name')?.value.stringValue
          for (const scope of resourceSpans.scopeSpans ?? [])
            for (const span of scope.spans ?? []) spans.push({ ...span, service })
        }
      }
      return spans
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
