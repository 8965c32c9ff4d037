import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  bootstrapOverHttps,
  httpsJson,
  spawnServer,
  type HttpsResponse,
  type ServerProcess,
} from '../helpers/process.ts'
import { freePort, startReplicatedPair, type ReplicatedPair } from '../helpers/pg-replication.ts'

/**
 * PostgreSQL failover under load (issue 16): the service runs against a primary with a
 * synchronous streaming standby, through HAProxy — the single writable endpoint a
 * failover manager keeps pointed at the primary (Patroni's documented HAProxy setup; with
 * pg_auto_failover, libpq's multi-host URLs play that part, which node-postgres does not
 * read). The test plays the failover manager: it crashes the primary, promotes the
 * standby and repoints HAProxy through its runtime API, while writes keep coming.
 */

interface Haproxy {
  port: number
  /** One command on HAProxy's runtime API (the admin stats socket); resolves to its answer. */
  command(line: string): Promise<string>
  stop(): Promise<void>
}

/**
 * HAProxy in TCP mode in front of both servers: the primary serving, the standby in
 * maintenance until promoted. A minimal configuration of this test's own (HAProxy 2.6
 * "Configuration Manual": `mode tcp`, `server … disabled`, `stats socket … level admin`).
 */
async function startHaproxy(primaryPort: number, standbyPort: number): Promise<Haproxy> {
  const dir = mkdtempSync(path.join(tmpdir(), 'haproxy-failover-'))
  const socket = path.join(dir, 'admin.sock')
  const port = await freePort()
  const config = path.join(dir, 'haproxy.cfg')
  writeFileSync(
    config,
    [
      'global',
      `  stats socket ${socket} mode 600 level admin`,
      '  maxconn 256',
      'defaults',
      '  mode tcp',
      '  timeout connect 5s',
      // Pooled connections sit idle between requests: longer than the pool keeps them.
      '  timeout client 30m',
      '  timeout server 30m',
      'frontend postgres_writable',
      `  bind 127.0.0.1:${port}`,
      '  default_backend postgres',
      'backend postgres',
      `  server primary 127.0.0.1:${primaryPort}`,
      `  server standby 127.0.0.1:${standbyPort} disabled`,
      '',
    ].join('\n'),
  )
  const child: ChildProcess = spawn('haproxy', ['-db', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  // A test process that dies before `after` runs must not leave the proxy behind.
  const orphan = () => child.kill('SIGKILL')
  process.once('exit', orphan)
  const command = (line: string) =>
    new Promise<string>((resolve, reject) => {
      const client = connect(socket)
      let answer = ''
      client.on('data', (chunk: Buffer) => (answer += chunk.toString()))
      client.on('end', () => resolve(answer))
      client.on('error', reject)
      client.end(`${line}\n`)
    })
  // The runtime API answers once HAProxy has bound its listeners (bounded wait).
  for (let attempt = 0; ; attempt++) {
    if (child.exitCode !== null) throw new Error(`haproxy exited:\n${output}`)
    const info = await command('show info').catch(() => '')
    if (info.includes('Pid:')) break
    if (attempt > 600) throw new Error(`haproxy did not start:\n${output}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return {
    port,
    command,
    async stop() {
      process.off('exit', orphan)
      child.kill('SIGTERM')
      await exited
    },
  }
}

describe('PostgreSQL failover: a synchronous standby promoted under load', () => {
  let pair: ReplicatedPair
  let proxy: Haproxy
  let server: ServerProcess

  before(async () => {
    pair = await startReplicatedPair()
    await pair.waitForSyncStandby()
    await pair.primary.query('CREATE DATABASE custodian')
    proxy = await startHaproxy(pair.primary.port, pair.standby.port)
    const keys = mkdtempSync(path.join(tmpdir(), 'custodian-failover-'))
    server = await spawnServer({
      DATABASE_URL: `postgres://postgres@127.0.0.1:${proxy.port}/custodian`,
      CUSTODIAN_DATA_DIR: path.join(keys, 'data'),
      CUSTODIAN_ROOT_KEY_FILE: path.join(keys, 'root.key'),
      CUSTODIAN_AUDIT_KEY_FILE: path.join(keys, 'audit.key'),
      CUSTODIAN_AUDIT_SEQUENCER_INTERVAL_MS: '50',
      CUSTODIAN_AUDIT_CHECKPOINT_EVERY: '50',
      CUSTODIAN_AUDIT_CHECKPOINT_SECONDS: '1',
    })
  })
  after(async () => {
    await server?.stop()
    await proxy?.stop()
    pair?.stop()
  })

  it('loses no acknowledged write, answers 503 problem+json during the outage, half-applies nothing, and recovers without a restart', async () => {
    const boot = await bootstrapOverHttps(server.httpsPort, server.bootstrapToken)
    assert.equal(boot.status, 201, boot.text)
    const { apiToken, orgId } = boot.body
    const pid = server.child.pid

    // The load: writers create service accounts with unique names until told to stop
    // (bounded by `cap` attempts), recording every answer.
    const answers = new Map<string, HttpsResponse>()
    let acknowledged = 0
    let failed = 0
    let stop = false
    const waiters: { until: () => boolean; resolve: () => void }[] = []
    const notify = () => {
      for (const waiter of waiters.splice(0)) {
        if (waiter.until()) waiter.resolve()
        else waiters.push(waiter)
      }
    }
    // Resolves once `until` holds, or the writers ran out of attempts (the asserts then say what is missing).
    const when = (until: () => boolean) =>
      new Promise<void>((resolve) => {
        waiters.push({ until: () => until() || next >= cap, resolve })
        notify()
      })
    const cap = 2_000
    let next = 0
    const writer = async () => {
      while (!stop && next < cap) {
        const name = `sa-${next++}`
        const answer = await httpsJson(server.httpsPort, 'POST', `/v1/orgs/${orgId}/service-accounts`, {
          token: apiToken,
          body: { name, role: 'viewer' },
        }).catch((error: unknown): HttpsResponse => ({ status: 0, headers: {}, body: {}, text: String(error) }))
        answers.set(name, answer)
        if (answer.status === 201) acknowledged++
        else {
          failed++
          // The outage answers at once: pace the retries instead of spinning on two cores.
          await new Promise((resolve) => setTimeout(resolve, 50))
        }
        notify()
      }
    }
    let switched = 0
    /** The failover, while the writers run. */
    const failOver = async () => {
      await when(() => acknowledged >= 40)
      pair.crashPrimary()
      await when(() => failed >= 5)
      const during = await httpsJson(server.httpsPort, 'GET', '/readyz')
      assert.equal(during.status, 503, during.text)
      assert.equal(during.body.checks.database, 'unreachable')

      // A proxy whose health check asks only "does it answer?" (HAProxy's pgsql-check) sends
      // the traffic to the standby before it is promoted: writes meet a read-only server.
      for (const line of [
        'set server postgres/primary state maint',
        'shutdown sessions server postgres/primary',
        'set server postgres/standby state ready',
      ])
        assert.equal((await proxy.command(line)).trim(), '', line)
      const beforePromotion = failed
      await when(() => failed >= beforePromotion + 5)
      const early = await httpsJson(server.httpsPort, 'GET', '/readyz')
      assert.equal(early.status, 503, early.text)
      assert.equal(early.body.checks.database, 'read_only')

      // The failover manager promotes the standby: the same connections now take writes.
      pair.promoteStandby()
      switched = acknowledged
      await when(() => acknowledged >= switched + 40)
    }
    const writers = Promise.all(Array.from({ length: 4 }, writer))
    try {
      await failOver()
    } finally {
      stop = true
      await writers
    }

    assert.ok(acknowledged >= switched + 40, `writes resumed after the failover (${acknowledged} acknowledged)`)

    // The same process served before, during and after: no restart.
    assert.equal(server.child.exitCode, null)
    assert.equal(server.child.pid, pid)
    const ready = await httpsJson(server.httpsPort, 'GET', '/readyz')
    assert.equal(ready.status, 200, ready.text)

    // Every failure was a 503 problem+json that says to retry and leaks no driver message.
    for (const [name, answer] of answers) {
      if (answer.status === 201) continue
      assert.equal(answer.status, 503, `${name}: ${answer.text}`)
      assert.match(String(answer.headers['content-type']), /application\/problem\+json/)
      assert.equal(answer.body.code, 'SERVICE_UNAVAILABLE')
      assert.ok(answer.headers['retry-after'] !== undefined)
      assert.ok(!/terminat|ECONN|connection/i.test(answer.text), answer.text)
    }
    assert.ok(failed >= 5)

    // On the new primary (read directly, not through the proxy or the service):
    const rows = await pair.standby.query<{ name: string }>(
      'SELECT name FROM service_accounts WHERE org_id = $1',
      [orgId],
      'custodian',
    )
    const stored = new Set(rows.map((r) => r.name))
    const lost = [...answers].filter(([name, a]) => a.status === 201 && !stored.has(name)).map(([name]) => name)
    assert.deepEqual(lost, [], 'every acknowledged write is on the new primary')
    // A write whose commit was under way when the primary died has no known outcome (its
    // answer was a 503): it may be there. Nothing else is.
    for (const name of stored) assert.ok(answers.has(name), `${name} was never requested`)
    // Nothing half-applied: each stored service account has its audit event (same transaction).
    const events = await pair.standby.query<{ count: number }>(
      `SELECT count(*)::int AS count FROM audit_events WHERE org_id = $1 AND action = 'service_account.create'`,
      [orgId],
      'custodian',
    )
    assert.equal(events[0]?.count, stored.size)

    // The audit chain, sequenced across the failover, verifies and has no gap.
    let verified = (await httpsJson(server.httpsPort, 'GET', `/v1/orgs/${orgId}/audit/verify`, { token: apiToken }))
      .body
    for (let attempt = 0; attempt < 600 && !(verified.ok === true && verified.unchained === 0); attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      verified = (await httpsJson(server.httpsPort, 'GET', `/v1/orgs/${orgId}/audit/verify`, { token: apiToken })).body
    }
    assert.equal(verified.ok, true, JSON.stringify(verified))
    assert.equal(verified.unchained, 0)
    const chain = await pair.standby.query<{ seq: number }>(
      'SELECT seq::int AS seq FROM audit_chain WHERE org_id = $1 ORDER BY seq',
      [orgId],
      'custodian',
    )
    assert.deepEqual(
      chain.map((r) => r.seq),
      chain.map((_, i) => i + 1),
    )
    assert.equal(chain.length, verified.events)
  })
})
