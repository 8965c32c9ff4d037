import { createRequire } from 'node:module'
import type { Context } from '@opentelemetry/api'
import { FastifyOtelInstrumentation } from '@fastify/otel'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { registerInstrumentations } from '@opentelemetry/instrumentation'
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg'
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources'
import {
  BatchSpanProcessor,
  NodeTracerProvider,
  type ReadableSpan,
  type Span,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-node'
import type { FastifyPluginCallback } from 'fastify'

/**
 * OpenTelemetry tracing (`CUSTODIAN_TRACING=otlp`; off by default, and then this module is
 * never loaded: no provider, no patched module, no Fastify hook). Spans go over OTLP/HTTP
 * to the collector the standard variables name — `OTEL_EXPORTER_OTLP_ENDPOINT` or
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_SERVICE_NAME`,
 * `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`/`_ARG`, `OTEL_BSP_*`, read by the SDK itself
 * (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/).
 *
 * Spans: one per HTTP request (@fastify/otel), named `<method> <route pattern>`, and one
 * per PostgreSQL query made while serving it (@opentelemetry/instrumentation-pg, which needs
 * `pg` loaded after {@link startTracing}: main.ts imports the server only then). No secret
 * or personal value reaches an attribute: {@link redactSpan} keeps only allowed attributes,
 * puts the route pattern where the URL's path was (no ids), drops query strings, SQL
 * parameters (never recorded: enhancedDatabaseReporting stays off), string literals of SQL
 * text (an `ALTER ROLE … PASSWORD '…'` of the credential rotation), exception events and
 * error messages (a database error can quote a value).
 */
export interface Tracing {
  /** The Fastify plugin that opens a span per request; registered first in buildApp. */
  fastifyPlugin(): FastifyPluginCallback
  /** Ends tracing: exports what is buffered, then stops. */
  shutdown(): Promise<void>
}

/** Attributes a span may keep (semantic conventions of HTTP, databases, Fastify's own). */
const ALLOWED = new Set([
  'http.request.method',
  'http.route',
  'http.response.status_code',
  'url.path',
  'url.scheme',
  'server.address',
  'server.port',
  'network.peer.address',
  'network.peer.port',
  'network.transport',
  'db.system',
  'db.system.name',
  'db.name',
  'db.namespace',
  'db.operation.name',
  'db.collection.name',
  'db.query.text',
  'db.statement',
  'db.response.status_code',
  'error.type',
  'fastify.root',
  'fastify.type',
  'hook.name',
  'hook.callback.name',
  'service.name',
])

/** SQL with its string literals ('…', E'…', $tag$…$tag$) replaced by `'?'`. */
export function withoutLiterals(text: string): string {
  return text.replace(/\$([A-Za-z_]*)\$[\s\S]*?\$\1\$/g, "'?'").replace(/'(?:[^']|'')*'/g, "'?'")
}

/**
 * Makes a span safe to export, just before it ends (SpanProcessor.onEnding: the span is
 * still writable): an allowlist of attributes, the route pattern as the path, SQL without
 * literals, no exception events, no status message.
 */
export function redactSpan(span: Span): void {
  const attributes = span.attributes as Record<string, unknown>
  const route = attributes['http.route']
  for (const key of Object.keys(attributes)) if (!ALLOWED.has(key)) Reflect.deleteProperty(attributes, key)
  if ('url.path' in attributes) attributes['url.path'] = typeof route === 'string' ? route : 'unmatched'
  for (const key of ['db.query.text', 'db.statement'])
    if (typeof attributes[key] === 'string') attributes[key] = withoutLiterals(attributes[key])
  ;(span.events as unknown[]).length = 0
  if (span.status.message !== undefined) span.setStatus({ code: span.status.code })
  // A pg span's name can carry the statement's first words only (`pg.query:SELECT db`): no literal.
}

class RedactingProcessor implements SpanProcessor {
  onStart(_span: Span, _context: Context): void {}
  onEnding(span: Span): void {
    redactSpan(span)
  }
  onEnd(_span: ReadableSpan): void {}
  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

/**
 * Starts the tracer provider and the PostgreSQL instrumentation. Call before `pg` is first
 * loaded (main.ts), once per process.
 */
export function startTracing(): Tracing {
  const resource = defaultResource()
    .merge(resourceFromAttributes({ 'service.name': 'custodian' }))
    .merge(detectResources({ detectors: [envDetector] }))
  const provider = new NodeTracerProvider({
    resource,
    // The redaction runs first, so the exporter only ever sees redacted spans.
    spanProcessors: [new RedactingProcessor(), new BatchSpanProcessor(new OTLPTraceExporter())],
  })
  provider.register()
  const pgInstrumentation = new PgInstrumentation({
    // Only queries made while serving a request: the background jobs' queries would be
    // root spans every few hundred milliseconds.
    requireParentSpan: true,
    enhancedDatabaseReporting: false,
    ignoreConnectSpans: true,
  })
  const unregister = registerInstrumentations({ instrumentations: [pgInstrumentation], tracerProvider: provider })
  // Loaded through require, with the hook above in place: ESM's `import pg` then gets the patched module.
  createRequire(import.meta.url)('pg')
  const fastify = new FastifyOtelInstrumentation({
    registerOnInitialization: false,
    instrumentHooks: false,
    recordExceptions: false,
    requestHook: (span, request) => {
      span.updateName(`${request.method} ${request.routeOptions.url ?? 'unmatched'}`)
    },
  })
  fastify.setTracerProvider(provider)
  return {
    fastifyPlugin: () => fastify.plugin(),
    async shutdown() {
      unregister()
      await provider.shutdown()
    },
  }
}
