import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { before, describe, it } from 'node:test'
import { loadConfig } from '../../src/config.ts'
import { periodic } from '../../src/jobs/periodic.ts'
import { jobRun } from '../../src/observability/events.ts'
import { bootstrapProvider, createCustomerOrg, PASSWORD, useTestApp, type Org, type TestApp } from '../helpers/app.ts'
import { forEachEngine } from '../helpers/db.ts'
import { httpsJson, spawnServer } from '../helpers/process.ts'
import { assertPromtoolAccepts, familiesOf, samplesOf, valueOf, type Sample } from '../helpers/prometheus.ts'

/**
 * /metrics (docs/operations.md, "Metrics and tracing"): after real traffic — a reveal, a
 * refused request, a rate-limited request, a brute-force throttle, job runs — the scrape has
 * the series with the right labels and counts, promtool accepts its format, the token route
 * answers 401/403 without the right token, and no label value names an org, a user or a secret.
 */

const DASHBOARD = path.resolve(import.meta.dirname, '../../docs/grafana/custodian-dashboard.json')
const ALERTS = path.resolve(import.meta.dirname, '../../docs/prometheus/custodian-alerts.yml')

/** PromQL `promtool check rules` accepts: each expression as a recording rule of a throwaway file. */
function assertPromQL(expressions: readonly string[]): void {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'custodian-promql-')), 'rules.yml')
  const rules = expressions.map(
    (expr, i) => `      - record: custodian:dashboard:${i}\n        expr: ${JSON.stringify(expr)}`,
  )
  writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules.join('\n')}\n`)
  const run = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' })
  assert.equal(run.status, 0, `promtool check rules:\n${run.stdout}${run.stderr}`)
}

/** The metric names an expression reads (ours and Node's process metrics). */
function metricNames(expression: string): string[] {
  return [...expression.matchAll(/\b((?:custodian|process|nodejs)_[a-z0-9_]+)\b/g)].map((m) => m[1] as string)
}

function tokenFile(): { file: string; token: string } {
  const token = randomBytes(32).toString('hex')
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'custodian-metrics-')), 'metrics.token')
  writeFileSync(file, `${token}\n`, { mode: 0o600 })
  return { file, token }
}

describe('metrics configuration', () => {
  it('is off by default: no registry, no /metrics route', () => {
    const config = loadConfig({ CUSTODIAN_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'custodian-metrics-')) })
    assert.equal(config.metrics.listen, undefined)
    assert.equal(config.metrics.token, undefined)
    assert.equal(config.tracing, 'off')
  })

  it('puts a listener given only a port on loopback, never a public address', () => {
    const config = loadConfig({ CUSTODIAN_METRICS_LISTEN: '9464' })
    assert.deepEqual(config.metrics.listen, { host: '127.0.0.1', port: 9464 })
    assert.deepEqual(loadConfig({ CUSTODIAN_METRICS_LISTEN: '[::1]:9464' }).metrics.listen, { host: '::1', port: 9464 })
    assert.deepEqual(loadConfig({ CUSTODIAN_METRICS_LISTEN: '10.0.0.5:9464' }).metrics.listen, {
      host: '10.0.0.5',
      port: 9464,
    })
  })

  it('refuses a malformed listener, a short token and a token file others can read', () => {
    assert.throws(() => loadConfig({ CUSTODIAN_METRICS_LISTEN: 'localhost' }), /CUSTODIAN_METRICS_LISTEN/)
    assert.throws(() => loadConfig({ CUSTODIAN_METRICS_LISTEN: '127.0.0.1:70000' }), /CUSTODIAN_METRICS_LISTEN/)
    const dir = mkdtempSync(path.join(tmpdir(), 'custodian-metrics-'))
    const short = path.join(dir, 'short')
    writeFileSync(short, 'too-short', { mode: 0o600 })
    assert.throws(() => loadConfig({ CUSTODIAN_METRICS_TOKEN_FILE: short }), /at least 32 characters/)
    const open = path.join(dir, 'open')
    writeFileSync(open, randomBytes(32).toString('hex'), { mode: 0o644 })
    assert.throws(() => loadConfig({ CUSTODIAN_METRICS_TOKEN_FILE: open }), /chmod 600/)
    assert.throws(() => loadConfig({ CUSTODIAN_TRACING: 'jaeger' }), /CUSTODIAN_TRACING/)
  })
})

describe('metrics listener (CUSTODIAN_METRICS_LISTEN)', () => {
  it('serves only GET /metrics, over plain HTTP on loopback when given a port alone; HTTPS has no /metrics', async () => {
    const server = await spawnServer({
      CUSTODIAN_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'custodian-metrics-listener-')),
      CUSTODIAN_METRICS_LISTEN: '0',
    })
    try {
      const match = /^Metrics: http:\/\/127\.0\.0\.1:(\d+)\/metrics$/m.exec(server.output())
      assert.ok(match !== null, server.output())
      const base = `http://127.0.0.1:${match[1]}`
      assert.equal((await httpsJson(server.httpsPort, 'GET', '/readyz')).status, 200)
      const scrape = async () => {
        const scraped = await fetch(`${base}/metrics`)
        assert.equal(scraped.status, 200)
        assert.match(scraped.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
        return scraped.text()
      }
      // The sequencer runs from the start, a tick (200 ms) after it: scraped again until its first run is counted.
      let text = await scrape()
      const deadline = Date.now() + 60_000
      while (!samplesOf(text).some((s) => s.name === 'custodian_job_runs_total') && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50))
        text = await scrape()
      }
      assertPromtoolAccepts(text)
      const samples = samplesOf(text)
      assert.equal(
        valueOf(samples, 'custodian_http_requests_total', { method: 'GET', route: '/readyz', status: '200' }),
        1,
      )
      assert.equal(valueOf(samples, 'custodian_database_up'), 1)
      assert.equal(valueOf(samples, 'custodian_database_info', { engine: 'pglite' }), 1)
      // The sequencer runs from the start: its runs are counted.
      assert.ok(samples.some((s) => s.name === 'custodian_job_runs_total'))
      for (const other of ['/', '/metrics/x', '/healthz', '/v1/me'])
        assert.equal((await fetch(`${base}${other}`)).status, 404, other)
      assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405)
      // Only the listener was configured: the HTTPS listener has no /metrics route at all.
      assert.equal((await httpsJson(server.httpsPort, 'GET', '/metrics')).status, 404)
    } finally {
      assert.equal(await server.stop(), 0)
    }
  })
})

forEachEngine('metrics off', (engine) => {
  const t = useTestApp(engine)
  it('has no metrics, no /metrics route and no request hook', async () => {
    assert.equal(t().app.metrics, undefined)
    const response = await t().request({ method: 'GET', url: '/metrics' })
    assert.equal(response.status, 404)
    // No metrics-on app is open in this suite: job runs publish to no one.
    assert.equal(jobRun.hasSubscribers, false)
  })
})

forEachEngine('metrics after real traffic', (engine) => {
  const { file, token } = tokenFile()
  const t = useTestApp(engine, {
    CUSTODIAN_METRICS_TOKEN_FILE: file,
    CUSTODIAN_AUTH_RATE_LIMIT: '5',
    CUSTODIAN_LOGIN_FREE_FAILURES: '1',
    // Delays long enough not to run out between two attempts on a loaded machine.
    CUSTODIAN_LOGIN_DELAY_BASE_SECONDS: '600',
  })
  let provider: Org
  let customer: Org
  let secretId: string
  const SECRET_VALUE = `metrics-secret-${randomBytes(8).toString('hex')}`
  const ids = new Set<string>()

  const scrape = async (app: TestApp = t()): Promise<{ text: string; samples: Sample[] }> => {
    const response = await app.request({ method: 'GET', url: '/metrics', token })
    assert.equal(response.status, 200, response.text)
    assert.match(String(response.headers['content-type']), /^text\/plain; version=0\.0\.4/)
    return { text: response.text, samples: samplesOf(response.text) }
  }

  before(async () => {
    provider = await bootstrapProvider(t())
    customer = await createCustomerOrg(t(), provider, 'Metrics Customer', 'owner@metrics.test')
    for (const org of [provider, customer]) ids.add(org.orgId).add(org.ownerId)
    const created = await t().request({
      method: 'POST',
      url: `/v1/orgs/${customer.orgId}/secrets`,
      token: customer.ownerToken,
      body: { name: 'metrics-api-key', type: 'api_key', value: SECRET_VALUE },
    })
    assert.equal(created.status, 201, created.text)
    secretId = created.body.id
    ids.add(secretId)
  })

  it('answers 401 without a token and 403 with another, in constant time, as problem+json', async () => {
    const none = await t().request({ method: 'GET', url: '/metrics' })
    assert.equal(none.status, 401)
    assert.equal(none.body.code, 'UNAUTHENTICATED')
    assert.match(String(none.headers['www-authenticate']), /^Bearer/)
    assert.match(String(none.headers['content-type']), /application\/problem\+json/)
    const basic = await t().request({ method: 'GET', url: '/metrics', headers: { authorization: `Basic ${token}` } })
    assert.equal(basic.status, 401)
    const wrong = await t().request({ method: 'GET', url: '/metrics', token: randomBytes(32).toString('hex') })
    assert.equal(wrong.status, 403)
    assert.equal(wrong.body.code, 'FORBIDDEN')
    // An account's API token is not the metrics token.
    const account = await t().request({ method: 'GET', url: '/metrics', token: customer.ownerToken })
    assert.equal(account.status, 403)
    assert.ok(!none.text.includes('custodian_'), 'a refused scrape shows no metric')
  })

  it('counts a reveal, a refused request and a 404 by route pattern and status', async () => {
    const before = (await scrape()).samples
    const route = '/v1/orgs/:orgId/secrets/:secretId/reveal'
    const revealed = await t().request({
      method: 'POST',
      url: `/v1/orgs/${customer.orgId}/secrets/${secretId}/reveal`,
      token: customer.ownerToken,
      body: { reason: 'metrics test' },
    })
    assert.equal(revealed.status, 200, revealed.text)
    const refused = await t().request({
      method: 'POST',
      url: `/v1/orgs/${customer.orgId}/secrets/${secretId}/reveal`,
      body: { reason: 'no token' },
    })
    assert.equal(refused.status, 401)
    // The provider's owner may not read inside a customer org: 404, never a hint it exists.
    const other = await t().request({
      method: 'POST',
      url: `/v1/orgs/${customer.orgId}/secrets/${secretId}/reveal`,
      token: provider.ownerToken,
      body: { reason: 'not mine' },
    })
    assert.equal(other.status, 404)
    const unknown = await t().request({ method: 'GET', url: `/no/such/${secretId}` })
    assert.equal(unknown.status, 404)

    const after = (await scrape()).samples
    const delta = (labels: Record<string, string>) =>
      valueOf(after, 'custodian_http_requests_total', labels) - valueOf(before, 'custodian_http_requests_total', labels)
    assert.equal(delta({ method: 'POST', route, status: '200' }), 1)
    assert.equal(delta({ method: 'POST', route, status: '401' }), 1)
    assert.equal(delta({ method: 'POST', route, status: '404' }), 1)
    assert.equal(delta({ method: 'GET', route: 'unmatched', status: '404' }), 1)
    const count = (s: Sample[]) =>
      valueOf(s, 'custodian_http_request_duration_seconds_count', { method: 'POST', route })
    assert.equal(count(after) - count(before), 3)
    const inf = valueOf(after, 'custodian_http_request_duration_seconds_bucket', { method: 'POST', route, le: '+Inf' })
    assert.equal(inf, count(after))
  })

  it('counts rate-limit refusals by route and brute-force throttling by action (accounts are never locked)', async () => {
    // Rate limit: 5 requests a minute per address to the sign-in route; the 6th is refused.
    const from = '203.0.113.7'
    let refusedStatus = 0
    for (let i = 0; i < 6; i++) {
      const response = await t().request({
        method: 'POST',
        url: '/v1/login',
        body: { email: `nobody${i}@metrics.test`, password: 'wrong password here' },
        remoteAddress: from,
      })
      refusedStatus = response.status
    }
    assert.equal(refusedStatus, 429)
    // Throttle: after one free failure against an account from an address, a delay is owed.
    const attacker = '198.51.100.9'
    const statuses: number[] = []
    for (let i = 0; i < 3; i++) {
      const response = await t().request({
        method: 'POST',
        url: '/v1/login',
        body: { email: 'owner@metrics.test', password: 'not the password!' },
        remoteAddress: attacker,
      })
      statuses.push(response.status)
    }
    assert.equal(statuses.at(-1), 429, JSON.stringify(statuses))
    const { samples } = await scrape()
    assert.equal(valueOf(samples, 'custodian_rate_limit_refusals_total', { route: '/v1/login' }), 1)
    assert.ok(valueOf(samples, 'custodian_auth_throttled_total', { action: 'auth.login' }) >= 1)
    assert.equal(
      valueOf(samples, 'custodian_http_requests_total', { method: 'POST', route: '/v1/login', status: '429' }),
      1 + statuses.filter((s) => s === 429).length,
    )
    // The owner still signs in from elsewhere.
    const owner = await t().request({
      method: 'POST',
      url: '/v1/login',
      body: { email: 'owner@metrics.test', password: PASSWORD },
      remoteAddress: '192.0.2.44',
    })
    assert.equal(owner.status, 200, owner.text)
  })

  it('counts job runs and failures per job, and the audit commit-to-chain delay', async () => {
    const before = (await scrape()).samples
    await t().app.housekeepingWorker.runOnce()
    await t().app.sequencer.flush()
    const failing = periodic(
      'metrics test: failing job',
      60_000,
      async () => {
        throw new Error('this job fails on purpose')
      },
      { error: () => {} },
    )
    await failing.runOnce()
    await failing.runOnce()
    const after = (await scrape()).samples
    const delta = (name: string, labels: Record<string, string>) =>
      valueOf(after, name, labels) - valueOf(before, name, labels)
    assert.ok(delta('custodian_job_runs_total', { job_name: 'housekeeping' }) >= 1)
    assert.equal(delta('custodian_job_failures_total', { job_name: 'housekeeping' }), 0)
    assert.ok(valueOf(after, 'custodian_job_last_success_timestamp_seconds', { job_name: 'housekeeping' }) > 0)
    assert.ok(valueOf(after, 'custodian_job_runs_total', { job_name: 'audit_sequencer' }) >= 1)
    assert.equal(delta('custodian_job_runs_total', { job_name: 'metrics_test_failing_job' }), 2)
    assert.equal(delta('custodian_job_failures_total', { job_name: 'metrics_test_failing_job' }), 2)
    assert.equal(
      valueOf(after, 'custodian_job_last_success_timestamp_seconds', { job_name: 'metrics_test_failing_job' }),
      0,
    )
    // Every event written so far was chained, each one observed once.
    const chained = valueOf(after, 'custodian_audit_chain_delay_seconds_count')
    const events = await t()
      .db.kysely.selectFrom('audit_chain')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow()
    assert.ok(chained >= 1)
    assert.ok(chained <= Number(events.n), `${chained} observed, ${events.n} chained`)
    assert.equal(valueOf(after, 'custodian_audit_unchained_events'), 0)
  })

  it('reports queue depth and lag from the database, seal status and the pool', async () => {
    // A webhook delivery due since a minute ago: the webhook queue holds one item, a minute late.
    const hook = await t().request({
      method: 'POST',
      url: `/v1/orgs/${customer.orgId}/webhooks`,
      token: customer.ownerToken,
      body: { name: 'metrics-hook', url: 'https://hooks.metrics.test/in', events: ['notifications'] },
    })
    assert.equal(hook.status, 201, hook.text)
    ids.add(hook.body.id)
    await t()
      .db.kysely.insertInto('webhook_deliveries')
      .values({
        id: randomUUID(),
        org_id: customer.orgId,
        webhook_id: hook.body.id,
        webhook_name: 'metrics-hook',
        destination: 'hooks.metrics.test',
        request_id: null,
        event: 'notifications',
        kek_version: null,
        wrapped_key: null,
        sealed: null,
        status: 'pending',
        next_attempt_at: new Date(Date.now() - 60_000),
        dead_lettered_at: null,
        last_status: null,
        last_error: null,
        delivered_at: null,
        created_at: new Date(),
      })
      .execute()
    const { samples } = await scrape()
    assert.equal(valueOf(samples, 'custodian_queue_depth', { queue: 'webhook' }), 1)
    assert.ok(valueOf(samples, 'custodian_queue_lag_seconds', { queue: 'webhook' }) >= 59)
    for (const queue of ['mail', 'witness', 'siem'])
      assert.ok(
        samples.some((s) => s.name === 'custodian_queue_depth' && s.labels.queue === queue),
        queue,
      )
    assert.equal(valueOf(samples, 'custodian_database_up'), 1)
    assert.equal(valueOf(samples, 'custodian_database_info', { engine }), 1)
    assert.equal(valueOf(samples, 'custodian_root_key_sealed'), 0)
    // No witness configured here: detection not armed, nothing refused (P8.1).
    assert.equal(valueOf(samples, 'custodian_rollback_detection_armed'), 0)
    for (const state of ['rolled_back', 'unchecked', 'missing'])
      assert.equal(valueOf(samples, 'custodian_rollback_refused_orgs', { state }), 0, state)
    if (engine === 'postgres') {
      assert.ok(valueOf(samples, 'custodian_db_pool_connections') >= 1)
      assert.ok(samples.some((s) => s.name === 'custodian_db_pool_waiting_clients'))
    } else assert.ok(!samples.some((s) => s.name.startsWith('custodian_db_pool_')))
  })

  it('keeps every label value free of org, user and secret ids, after a sweep over every GET route', async () => {
    const document = (await t().request({ method: 'GET', url: '/openapi.json' })).body as {
      paths: Record<string, Record<string, unknown>>
    }
    let swept = 0
    for (const [template, methods] of Object.entries(document.paths)) {
      if (!('get' in methods)) continue
      const url = template.replace(/\{(\w+)\}/g, (_, name: string) =>
        name === 'orgId' ? customer.orgId : name === 'secretId' ? secretId : randomUUID(),
      )
      for (const who of [customer.ownerToken, undefined]) {
        await t().request({ method: 'GET', url: `${url}?limit=1&cursor=${secretId}`, token: who })
        swept++
      }
    }
    assert.ok(swept > 100, `${swept} requests`)
    const { text, samples } = await scrape()
    assertPromtoolAccepts(text)
    const values = samples.flatMap((s) => Object.values(s.labels))
    for (const id of ids) {
      assert.ok(!text.includes(id), `an id appears in the scrape: ${id}`)
      for (const value of values) assert.ok(!value.includes(id))
    }
    for (const secret of [SECRET_VALUE, token, customer.ownerToken, provider.ownerToken, PASSWORD])
      assert.ok(!text.includes(secret), 'a secret appears in the scrape')
    // Route labels are patterns of registered routes, or `unmatched`.
    const routes = new Set(samples.filter((s) => s.labels.route !== undefined).map((s) => s.labels.route as string))
    assert.ok(routes.size > 50, `${routes.size} routes`)
    for (const route of routes) assert.match(route, /^(unmatched|\/[A-Za-z0-9_.:/*-]*)$/, route)
  })

  it('names only exported metrics in every expression of the Grafana dashboard and the alerting rules', async () => {
    const { text } = await scrape()
    const families = familiesOf(text)
    const exported = (name: string) => {
      if (families.has(name)) return true
      // The pool's gauges exist on PostgreSQL only (PGlite has no pool); the PostgreSQL run checks them.
      if (engine === 'pglite' && name.startsWith('custodian_db_pool_')) return true
      const base = name.replace(/_(bucket|sum|count)$/, '')
      return base !== name && ['histogram', 'summary'].includes(families.get(base) ?? '')
    }
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as unknown
    const expressions: string[] = []
    const walk = (value: unknown): void => {
      if (Array.isArray(value)) value.forEach(walk)
      else if (typeof value === 'object' && value !== null)
        for (const [key, inner] of Object.entries(value)) {
          if (key === 'expr' && typeof inner === 'string') expressions.push(inner)
          else walk(inner)
        }
    }
    walk(dashboard)
    assert.ok(expressions.length >= 20, `${expressions.length} expressions`)
    assertPromQL(expressions)
    // The alerting rules docs/operations.md suggests: valid rules, over exported metrics only.
    const check = spawnSync('promtool', ['check', 'rules', ALERTS], { encoding: 'utf8' })
    assert.equal(check.status, 0, `${check.stdout}${check.stderr}`)
    const alerts = [...readFileSync(ALERTS, 'utf8').matchAll(/^\s+expr: (.+)$/gm)].map((m) => m[1] as string)
    assert.ok(alerts.length >= 8, `${alerts.length} alert expressions`)
    for (const expression of [...expressions, ...alerts]) {
      const names = metricNames(expression)
      assert.ok(names.length > 0, `an expression that names no metric: ${expression}`)
      for (const name of names) assert.ok(exported(name), `${name} is named in docs but not exported`)
    }
  })
})
