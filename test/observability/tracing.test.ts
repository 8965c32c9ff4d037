import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { trace } from '@opentelemetry/api'
import pg from 'pg'
import { withoutLiterals } from '../../src/observability/tracing.ts'
import { useTestApp } from '../helpers/app.ts'
import { createTestDatabase, forEachEngine, type TestDatabase } from '../helpers/db.ts'
import { assertNoSecret } from '../helpers/no-secret.ts'
import { startOtlpReceiver, type OtlpSpan } from '../helpers/otlp-receiver.ts'
import { bootstrapOverHttps, httpsJson, spawnServer } from '../helpers/process.ts'

/**
 * OpenTelemetry tracing (docs/operations.md, "Metrics and tracing"): with
 * `CUSTODIAN_TRACING=otlp` the real service exports, over OTLP/HTTP to a receiver on
 * 127.0.0.1, a span per request named by its route pattern (a child of the caller's W3C
 * traceparent) and, on PostgreSQL, a span per query under it — and nothing it exports holds
 * a secret or personal value. Off (the default), nothing is exported and nothing is hooked.
 */

const SERVER = 2
const REVEAL = 'POST /v1/orgs/:orgId/secrets/:secretId/reveal'

function attribute(span: OtlpSpan, key: string): unknown {
  const value = span.attributes?.find((a) => a.key === key)?.value
  return value === undefined ? undefined : Object.values(value)[0]
}

describe('SQL text in spans', () => {
  it('loses its string literals, dollar-quoted ones too', () => {
    assert.equal(
      withoutLiterals(`ALTER ROLE "app" WITH PASSWORD 'SCRAM-SHA-256$4096:abc''d$x'`),
      `ALTER ROLE "app" WITH PASSWORD '?'`,
    )
    assert.equal(
      withoutLiterals("SELECT set_config('custodian.org_id', 'a-b', true)"),
      "SELECT set_config('?', '?', true)",
    )
    assert.equal(withoutLiterals('SELECT $q$secret$q$, $$x$$, $1'), "SELECT '?', '?', $1")
  })
})

forEachEngine('tracing on', (engine) => {
  let receiver: Awaited<ReturnType<typeof startOtlpReceiver>>
  let db: TestDatabase | undefined
  const traceId = randomBytes(16).toString('hex')
  const parentId = randomBytes(8).toString('hex')
  const SECRET_VALUE = `traced-secret-${randomBytes(8).toString('hex')}`
  const QUERY_TOKEN = `cst_api_${randomBytes(16).toString('hex')}`
  const EMAIL = 'tracing-owner@trace.test'
  const secrets: string[] = [SECRET_VALUE, QUERY_TOKEN, EMAIL, 'correct horse battery staple']
  let orgId = ''

  before(async () => {
    receiver = await startOtlpReceiver()
    if (engine === 'postgres') db = await createTestDatabase('postgres')
    const server = await spawnServer({
      CUSTODIAN_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'custodian-tracing-')),
      CUSTODIAN_AUTH_RATE_LIMIT: '1000',
      CUSTODIAN_TRACING: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_SERVICE_NAME: 'custodian-trace-test',
      OTEL_BSP_SCHEDULE_DELAY: '200',
      ...(db === undefined ? {} : { DATABASE_URL: db.url as string }),
    })
    try {
      assert.ok(server.bootstrapToken !== undefined)
      secrets.push(server.bootstrapToken)
      const boot = await bootstrapOverHttps(server.httpsPort, server.bootstrapToken, { email: EMAIL })
      assert.equal(boot.status, 201, boot.text)
      const operator = boot.body.apiToken as string
      secrets.push(operator, boot.body.totpSecret, ...(boot.body.recoveryCodes as string[]))
      const created = await httpsJson(server.httpsPort, 'POST', '/v1/orgs', {
        token: operator,
        body: { name: 'Traced', ownerEmail: 'traced-customer@trace.test' },
      })
      assert.equal(created.status, 201, created.text)
      orgId = created.body.org.id
      secrets.push('traced-customer@trace.test', created.body.invitation.token)
      const accepted = await httpsJson(server.httpsPort, 'POST', '/v1/invitations/accept', {
        body: { token: created.body.invitation.token, password: 'correct horse battery staple' },
      })
      assert.equal(accepted.status, 201, accepted.text)
      const owner = accepted.body.apiToken as string
      secrets.push(owner)
      const secret = await httpsJson(server.httpsPort, 'POST', `/v1/orgs/${orgId}/secrets`, {
        token: owner,
        body: { name: 'traced', type: 'api_key', value: SECRET_VALUE },
      })
      assert.equal(secret.status, 201, secret.text)
      const revealed = await httpsJson(server.httpsPort, 'POST', `/v1/orgs/${orgId}/secrets/${secret.body.id}/reveal`, {
        token: owner,
        body: { reason: 'tracing test' },
        headers: { traceparent: `00-${traceId}-${parentId}-01` },
      })
      assert.equal(revealed.status, 200, revealed.text)
      assert.equal(revealed.body.value, SECRET_VALUE)
      // A token in a query string and an unknown path: neither reaches a span.
      await httpsJson(server.httpsPort, 'GET', `/v1/orgs/${orgId}/secrets?limit=1&token=${QUERY_TOKEN}`, {
        token: owner,
      })
      await httpsJson(server.httpsPort, 'GET', `/no/such/${orgId}?access_token=${QUERY_TOKEN}`)
    } finally {
      // SIGTERM: the service exports what it buffered before exiting.
      assert.equal(await server.stop(), 0)
    }
  })
  after(async () => {
    await receiver?.close()
    await db?.close()
  })

  it('exports a span per request, named by method and route pattern, child of the caller’s traceparent', () => {
    const spans = receiver.spans()
    assert.ok(spans.length > 0, 'nothing was exported')
    assert.ok(spans.every((s) => s.service === 'custodian-trace-test'))
    const reveal = spans.filter((s) => s.name === REVEAL)
    assert.equal(reveal.length, 1, spans.map((s) => s.name).join(', '))
    const span = reveal[0] as OtlpSpan
    assert.equal(span.kind, SERVER)
    assert.equal(span.traceId, traceId)
    assert.equal(span.parentSpanId, parentId)
    assert.equal(attribute(span, 'http.route'), '/v1/orgs/:orgId/secrets/:secretId/reveal')
    assert.equal(attribute(span, 'url.path'), '/v1/orgs/:orgId/secrets/:secretId/reveal')
    assert.equal(Number(attribute(span, 'http.response.status_code')), 200)
    assert.ok(spans.some((s) => s.name === 'GET /v1/orgs/:orgId/secrets'))
    assert.ok(spans.some((s) => s.name === 'GET unmatched'))
  })

  it(`traces the request's database queries under it${engine === 'pglite' ? ' (none on PGlite: no pg driver)' : ''}`, () => {
    const spans = receiver.spans()
    const byId = new Map(spans.map((s) => [s.spanId, s]))
    const request = spans.find((s) => s.name === REVEAL) as OtlpSpan
    const queries = spans.filter((s) => s.name.startsWith('pg.query'))
    if (engine === 'pglite') {
      assert.equal(queries.length, 0)
      return
    }
    const under = queries.filter((q) => {
      for (let at: OtlpSpan | undefined = q; at !== undefined; at = byId.get(at.parentSpanId ?? ''))
        if (at.spanId === request.spanId) return true
      return false
    })
    assert.ok(under.length >= 3, `${under.length} queries under the reveal`)
    for (const query of under) {
      assert.equal(query.traceId, traceId)
      assert.equal(attribute(query, 'db.system.name'), 'postgresql')
      assert.ok(!String(attribute(query, 'db.query.text')).includes(orgId), 'an org id in SQL text')
    }
    // Background jobs' queries have no request above them: not traced.
    assert.ok(queries.every((q) => q.parentSpanId !== undefined && q.parentSpanId !== ''))
  })

  it('exports no secret or personal value: no token, password, secret value, e-mail, query string or id', () => {
    assert.ok(receiver.bodies.length > 0)
    const parsed = receiver.bodies.map((b) => JSON.parse(b) as unknown)
    assertNoSecret(parsed, [...secrets, orgId])
    for (const body of receiver.bodies) for (const secret of [...secrets, orgId]) assert.ok(!body.includes(secret))
    for (const span of receiver.spans()) {
      assert.deepEqual(span.events ?? [], [])
      assert.equal(span.status?.message ?? '', '')
      assert.equal(attribute(span, 'url.query'), undefined)
    }
  })
})

describe('tracing off (the default)', () => {
  it('exports nothing, even with OTEL_EXPORTER_OTLP_ENDPOINT set', async () => {
    const receiver = await startOtlpReceiver()
    try {
      const server = await spawnServer({
        CUSTODIAN_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'custodian-tracing-off-')),
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_BSP_SCHEDULE_DELAY: '200',
      })
      const ready = await httpsJson(server.httpsPort, 'GET', '/readyz')
      assert.equal(ready.status, 200)
      await httpsJson(server.httpsPort, 'GET', '/no/such/path')
      assert.equal(await server.stop(), 0)
      assert.deepEqual(receiver.bodies, [])
    } finally {
      await receiver.close()
    }
  })
})

forEachEngine('tracing off in process', (engine) => {
  const t = useTestApp(engine)
  it('installs no hook: no tracer provider, the pg driver unpatched, no request span decorator', () => {
    // The API's no-op tracer: spans that record nothing and carry the invalid trace id.
    const span = trace.getTracer('probe').startSpan('probe')
    assert.equal(span.isRecording(), false)
    assert.equal(span.spanContext().traceId, '0'.repeat(32))
    span.end()
    assert.equal((pg.Client.prototype.query as { __wrapped?: boolean }).__wrapped, undefined)
    assert.equal(t().app.hasRequestDecorator('opentelemetry'), false)
  })
})
