import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { postgresAvailable } from '../helpers/db.ts'
import { bootstrapOverHttps, httpsJson, type ServerProcess, useServersOnOnePostgres } from '../helpers/process.ts'
import type { JsonBody } from '../helpers/json.ts'

/**
 * DESIGN "Audit log": requests of one org commit in parallel, in any process; sequencers
 * in every process race for each org's chain. The result must still be one gap-free
 * chain per org.
 */
describe('two processes on one PostgreSQL keep one gap-free chain per org (P5.2)', {
  skip: postgresAvailable() ? false : 'TEST_DATABASE_URL not set',
}, () => {
  const nodes = useServersOnOnePostgres(['one', 'two'], {
    CUSTODIAN_AUDIT_SEQUENCER_INTERVAL_MS: '20',
    CUSTODIAN_AUDIT_CHECKPOINT_EVERY: '50',
    CUSTODIAN_AUDIT_CHECKPOINT_SECONDS: '1',
    CUSTODIAN_LOG_LEVEL: 'info',
  })

  it('interleaves concurrent appends from both processes into seq 1..N with no gap or duplicate', async () => {
    const [one, two] = nodes().servers as [ServerProcess, ServerProcess]
    const boot = await bootstrapOverHttps(one.httpsPort, one.bootstrapToken)
    assert.equal(boot.status, 201, boot.text)
    const { apiToken, orgId } = boot.body

    const perProcess = 60
    const concurrency = 8
    const jobs = Array.from({ length: perProcess * 2 }, (_, i) => ({ server: i % 2 === 0 ? one : two, i }))
    const statuses: number[] = []
    await Promise.all(
      Array.from({ length: concurrency }, async (_, worker) => {
        for (let j = worker; j < jobs.length; j += concurrency) {
          const job = jobs[j] as (typeof jobs)[number]
          const response = await httpsJson(job.server.httpsPort, 'POST', `/v1/orgs/${orgId}/service-accounts`, {
            token: apiToken,
            body: { name: `sa-${job.i}`, role: 'viewer' },
          })
          statuses.push(response.status)
        }
      }),
    )
    assert.deepEqual(new Set(statuses), new Set([201]))

    let verified: JsonBody = {}
    for (let attempt = 0; attempt < 100; attempt++) {
      verified = (await httpsJson(two.httpsPort, 'GET', `/v1/orgs/${orgId}/audit/verify`, { token: apiToken })).body
      if (verified.unchained === 0 && verified.lastCheckpointSeq === verified.lastSeq) break
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    assert.equal(verified.ok, true, JSON.stringify(verified.problems))
    assert.equal(verified.unchained, 0)
    const rows = await nodes()
      .db.kysely.selectFrom('audit_chain')
      .select(['seq'])
      .where('org_id', '=', orgId)
      .orderBy('seq')
      .execute()
    assert.equal(rows.length, verified.events)
    assert.deepEqual(
      rows.map((r) => r.seq),
      rows.map((_, i) => i + 1),
    )
    assert.ok(rows.length >= perProcess * 2 + 3)
    const serviceAccountEvents = await nodes()
      .db.kysely.selectFrom('audit_events')
      .select('id')
      .where('org_id', '=', orgId)
      .where('action', '=', 'service_account.create')
      .execute()
    assert.equal(serviceAccountEvents.length, perProcess * 2)
  })
})
