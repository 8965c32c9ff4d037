import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { before, describe, it } from 'node:test'
import pg from 'pg'
import { postgresAvailable } from '../helpers/db.ts'
import { bootstrapOverHttps, httpsJson, spawnServer } from '../helpers/process.ts'
import { bootstrapProvider, fingerprint, useTestApp, type Org } from '../helpers/app.ts'

describe('graceful shutdown', () => {
  it('finishes in-flight requests, chains their audit events, and exits 0', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'custodian-stop-'))
    const env = { CUSTODIAN_DATA_DIR: dataDir, CUSTODIAN_AUDIT_SEQUENCER_INTERVAL_MS: '60000' }
    const server = await spawnServer(env)
    const boot = await bootstrapOverHttps(server.httpsPort, server.bootstrapToken)
    const { apiToken, orgId } = boot.body
    const inFlight = Array.from({ length: 20 }, (_, i) =>
      httpsJson(server.httpsPort, 'POST', `/v1/orgs/${orgId}/service-accounts`, {
        token: apiToken,
        body: { name: `late-${i}`, role: 'viewer' },
      }).catch((error: unknown) => ({ status: 0, error })),
    )
    await new Promise((resolve) => setTimeout(resolve, 5))
    const exit = server.stop()
    const responses = await Promise.all(inFlight)
    assert.equal(await exit, 0, server.output())
    const created = responses.filter((r) => r.status === 201).length
    assert.ok(
      responses.every((r) => r.status === 201 || r.status === 0 || r.status === 503),
      JSON.stringify(responses.map((r) => r.status)),
    )

    // The sequencer ran only at shutdown (its interval is a minute): every event is chained.
    const again = await spawnServer(env)
    try {
      const verify = (await httpsJson(again.httpsPort, 'GET', `/v1/orgs/${orgId}/audit/verify`, { token: apiToken }))
        .body
      assert.equal(verify.ok, true)
      assert.equal(verify.unchained, 0, 'shutdown flushed the audit chain')
      const listed = (
        await httpsJson(again.httpsPort, 'GET', `/v1/orgs/${orgId}/service-accounts`, { token: apiToken })
      ).body
      assert.equal(listed.serviceAccounts.length, created, 'every acknowledged request was applied, and only those')
    } finally {
      await again.stop()
    }
  })
})

describe('database outage (PostgreSQL)', { skip: postgresAvailable() ? false : 'TEST_DATABASE_URL not set' }, () => {
  const t = useTestApp('postgres')
  let provider: Org

  before(async () => {
    provider = await bootstrapProvider(t())
  })

  it('answers 503 problem+json while the database refuses connections, changes nothing, and recovers', async () => {
    const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL })
    await admin.connect()
    const name = new URL(t().db.url as string).pathname.slice(1)
    const before = await fingerprint(t())
    try {
      await admin.query(`ALTER DATABASE "${name}" WITH ALLOW_CONNECTIONS false`)
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [name])
      const write = await t().request({
        method: 'POST',
        url: `/v1/orgs/${provider.orgId}/service-accounts`,
        token: provider.ownerToken,
        body: { name: 'during-outage', role: 'viewer' },
      })
      assert.equal(write.status, 503, write.text)
      assert.match(String(write.headers['content-type']), /problem\+json/)
      assert.equal(write.body.code, 'SERVICE_UNAVAILABLE')
      assert.ok(!write.text.includes('terminat') && !write.text.includes('connection'), 'no driver message leaks')
      const ready = await t().request({ method: 'GET', url: '/readyz' })
      assert.equal(ready.status, 503)
    } finally {
      await admin.query(`ALTER DATABASE "${name}" WITH ALLOW_CONNECTIONS true`)
      await admin.end()
    }
    assert.equal(await fingerprint(t()), before)
    const after = await t().request({
      method: 'POST',
      url: `/v1/orgs/${provider.orgId}/service-accounts`,
      token: provider.ownerToken,
      body: { name: 'after-outage', role: 'viewer' },
    })
    assert.equal(after.status, 201)
  })
})
