import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { PGlite } from '@electric-sql/pglite'
import { createTestDatabase, ENGINES, postgresAvailable, type TestDatabase } from '../helpers/db.ts'
import { bootstrapOverHttps, httpsJson, spawnServer, type ServerProcess } from '../helpers/process.ts'
import { startHttpsSiemReceiver, testCertificate, type HttpsSiemReceiver } from '../helpers/siem-receivers.ts'
import { assertEveryEventOnce, until } from '../helpers/siem-stream.ts'

/**
 * The stream across the service's own life (docs/siem.md, "Guarantees"): the real service
 * (`node src/main.ts`) restarted while it streams skips nothing and sends nothing twice —
 * on shutdown the batch in flight is settled before the database closes, and the next
 * process goes on from the cursor — and two processes on one PostgreSQL never send the
 * same batch (each destination is leased by one process at a time). The receiver counts
 * every copy it gets: no dedupe here.
 */
const dir = mkdtempSync(path.join(tmpdir(), 'custodian-siem-restart-'))
const certFile = path.join(dir, 'receiver.pem')
let receiver: HttpsSiemReceiver
/** A first start creates and migrates the embedded database: up to a minute or more on a busy machine. */
const START_MS = 240_000
/** Two starts of the real service (each may create and migrate a database) and a stream: more than the runner's default. */
const LONG = 900_000

before(async () => {
  const certificate = await testCertificate('restart receiver')
  writeFileSync(certFile, certificate.cert)
  receiver = await startHttpsSiemReceiver({ certificate, delayMs: 40 })
})
after(async () => {
  await receiver?.close()
})

function serviceEnv(name: string, extra: Record<string, string>): Record<string, string> {
  return {
    CUSTODIAN_DATA_DIR: path.join(dir, name),
    CUSTODIAN_OUTBOUND_ALLOW: '127.0.0.1/32',
    CUSTODIAN_EXTRA_CA_FILE: certFile,
    CUSTODIAN_SIEM_CHECK_MS: '50',
    CUSTODIAN_SIEM_BATCH_EVENTS: '4',
    CUSTODIAN_AUDIT_SEQUENCER_INTERVAL_MS: '20',
    CUSTODIAN_AUDIT_CHECKPOINT_SECONDS: '1',
    ...extra,
  }
}

/** `n` audited changes (service accounts), each one event in the org's chain. */
async function produce(server: ServerProcess, orgId: string, token: string, prefix: string, n: number) {
  for (let i = 0; i < n; i++) {
    const response = await httpsJson(server.httpsPort, 'POST', `/v1/orgs/${orgId}/service-accounts`, {
      token,
      body: { name: `${prefix}-${i}`, role: 'viewer' },
    })
    assert.equal(response.status, 201, response.text)
  }
}

/** Waits until the destination acknowledged the whole chain; returns the head. */
async function caughtUp(server: ServerProcess, orgId: string, token: string, destination: string): Promise<number> {
  let head = 0
  await until('the destination to reach the head', async () => {
    const status = await httpsJson(server.httpsPort, 'GET', `/v1/orgs/${orgId}/audit/status`, { token })
    head = status.body.headSeq
    const state = await httpsJson(server.httpsPort, 'GET', `/v1/orgs/${orgId}/siem/destinations/${destination}`, {
      token,
    })
    return status.body.unchained === 0 && state.body.cursorSeq === head
  })
  return head
}

/**
 * The receiver got seq 1…head of the org, each exactly once, in order (raw copies counted);
 * events the service itself chained after `head` (its background jobs) may follow, once each.
 */
function assertExactlyOnce(orgId: string, head: number): void {
  const seqs = receiver.events.filter((e) => e.org === orgId).map((e) => e.seq)
  assert.ok(seqs.length >= head, `${seqs.length} received, head ${head}`)
  assert.deepEqual(
    seqs,
    Array.from({ length: seqs.length }, (_, i) => i + 1),
    'every seq once, in order',
  )
}

/**
 * An embedded data directory loaded from the test run's migrated dump: a first start would
 * otherwise create and migrate the database, minutes on a busy machine.
 */
async function seedEmbedded(dataDir: string): Promise<void> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const dump = process.env.CUSTODIAN_TEST_PGLITE_DUMP
  if (dump === undefined) throw new Error('run tests through `npm test` (it prepares the PGlite dump)')
  const pglite = await PGlite.create({
    dataDir: path.join(dataDir, 'pgdata'),
    loadDataDir: new Blob([readFileSync(dump)]),
  })
  await pglite.close()
}

for (const engine of ENGINES) {
  describe(`the service restarted mid-stream skips nothing and sends nothing twice [${engine}]`, {
    skip: engine === 'postgres' && !postgresAvailable() ? 'TEST_DATABASE_URL not set' : false,
  }, () => {
    let db: TestDatabase | undefined
    let server: ServerProcess | undefined
    after(async () => {
      await server?.stop()
      await db?.close()
    })

    it('stops (SIGTERM) while batches are in flight, starts again, and the receiver has every event once', {
      timeout: LONG,
    }, async () => {
      if (engine === 'postgres') db = await createTestDatabase('postgres')
      const env = serviceEnv(`restart-${engine}`, db?.url === undefined ? {} : { DATABASE_URL: db.url })
      if (engine === 'pglite') await seedEmbedded(env.CUSTODIAN_DATA_DIR as string)
      server = await spawnServer(env, START_MS)
      const boot = await bootstrapOverHttps(server.httpsPort, server.bootstrapToken, {
        email: `o@${engine}.restart.test`,
      })
      assert.equal(boot.status, 201, boot.text)
      const { orgId, apiToken } = boot.body as { orgId: string; apiToken: string }
      const created = await httpsJson(server.httpsPort, 'POST', `/v1/orgs/${orgId}/siem/destinations`, {
        token: apiToken,
        body: { name: 'restart', kind: 'jsonl', url: `https://127.0.0.1:${receiver.port}/restart-${engine}` },
      })
      assert.equal(created.status, 201, created.text)
      await produce(server, orgId, apiToken, 'before', 40)
      await until('a few batches received', () => receiver.events.filter((e) => e.org === orgId).length >= 8)
      assert.equal(await server.stop(), 0, server.output())
      const atStop = receiver.events.filter((e) => e.org === orgId).length
      server = await spawnServer(env, START_MS)
      await produce(server, orgId, apiToken, 'after', 20)
      const head = await caughtUp(server, orgId, apiToken, created.body.id)
      assert.ok(atStop < head, 'the stop came mid-stream')
      assertExactlyOnce(orgId, head)
    })
  })
}

describe('the service killed mid-stream (SIGKILL) loses nothing [postgres]', {
  skip: postgresAvailable() ? false : 'TEST_DATABASE_URL not set',
}, () => {
  let db: TestDatabase
  let server: ServerProcess | undefined
  after(async () => {
    await server?.stop()
    await db?.close()
  })

  it('goes on from the cursor once the dead process’s lease expires: every event, copies only of the batch it was sending', {
    timeout: LONG,
  }, async () => {
    db = await createTestDatabase('postgres')
    // The lease outlasts the timeout by 30 s: a short timeout keeps the wait short.
    const env = serviceEnv('killed-postgres', { DATABASE_URL: db.url as string, CUSTODIAN_SIEM_TIMEOUT_MS: '2000' })
    server = await spawnServer(env, START_MS)
    const boot = await bootstrapOverHttps(server.httpsPort, server.bootstrapToken, { email: 'o@killed.test' })
    assert.equal(boot.status, 201, boot.text)
    const { orgId, apiToken } = boot.body as { orgId: string; apiToken: string }
    const created = await httpsJson(server.httpsPort, 'POST', `/v1/orgs/${orgId}/siem/destinations`, {
      token: apiToken,
      body: { name: 'killed', kind: 'jsonl', url: `https://127.0.0.1:${receiver.port}/killed` },
    })
    assert.equal(created.status, 201, created.text)
    await produce(server, orgId, apiToken, 'before', 40)
    await until('a few batches received', () => receiver.events.filter((e) => e.org === orgId).length >= 8)
    await server.kill()
    server = await spawnServer(env, START_MS)
    await produce(server, orgId, apiToken, 'after', 10)
    const head = await caughtUp(server, orgId, apiToken, created.body.id)
    assertEveryEventOnce(
      receiver.events.filter((e) => e.org === orgId),
      head,
      4,
    )
  })
})

describe('two service processes on one PostgreSQL never send the same batch', {
  skip: postgresAvailable() ? false : 'TEST_DATABASE_URL not set',
}, () => {
  let db: TestDatabase
  const servers: ServerProcess[] = []
  after(async () => {
    for (const server of servers) await server.stop()
    await db?.close()
  })

  it('streams every event once while both processes race for the destination', { timeout: LONG }, async () => {
    db = await createTestDatabase('postgres')
    const shared = {
      DATABASE_URL: db.url as string,
      CUSTODIAN_ROOT_KEY_FILE: path.join(dir, 'two-root.key'),
      CUSTODIAN_AUDIT_KEY_FILE: path.join(dir, 'two-audit.key'),
    }
    servers.push(await spawnServer(serviceEnv('two-a', shared), START_MS))
    servers.push(await spawnServer(serviceEnv('two-b', shared), START_MS))
    const [one, two] = servers as [ServerProcess, ServerProcess]
    const boot = await bootstrapOverHttps(one.httpsPort, one.bootstrapToken, { email: 'o@two.test' })
    assert.equal(boot.status, 201, boot.text)
    const { orgId, apiToken } = boot.body as { orgId: string; apiToken: string }
    const created = await httpsJson(two.httpsPort, 'POST', `/v1/orgs/${orgId}/siem/destinations`, {
      token: apiToken,
      body: { name: 'shared', kind: 'jsonl', url: `https://127.0.0.1:${receiver.port}/two` },
    })
    assert.equal(created.status, 201, created.text)
    await Promise.all([produce(one, orgId, apiToken, 'one', 30), produce(two, orgId, apiToken, 'two', 30)])
    const head = await caughtUp(one, orgId, apiToken, created.body.id)
    assertExactlyOnce(orgId, head)
  })
})
