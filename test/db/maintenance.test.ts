import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { sql } from 'kysely'
import { useTestApp } from '../helpers/app.ts'
import { createTestDatabase, forEachEngine, type TestDatabase } from '../helpers/db.ts'
import { maintainTables } from '../../src/db/maintenance.ts'
import { openDatabase, PGLITE_SETTINGS } from '../../src/db/connect.ts'
import { spawnServer } from '../helpers/process.ts'

/**
 * The service says when the database does not keep its statistics and dead rows in check
 * (issue 20): without them pages read whole orgs. /readyz carries it as a detail that
 * does not make the service unready.
 */
forEachEngine('readiness reports when autovacuum is off', (engine) => {
  const t = useTestApp(engine)

  it('reports autovacuum turned off for a table, and ok once it is back on (PostgreSQL)', {
    skip: engine === 'pglite' ? 'PGlite runs no autovacuum at all' : false,
  }, async () => {
    const global = await sql<{ setting: string }>`SELECT setting FROM pg_settings WHERE name = 'autovacuum'`.execute(
      t().db.kysely,
    )
    const expectedOk = global.rows[0]?.setting === 'on' ? 'ok' : /autovacuum.* off for the database/
    await sql`ALTER TABLE audit_events SET (autovacuum_enabled = false)`.execute(t().db.kysely)
    try {
      const off = await t().request({ method: 'GET', url: '/readyz' })
      assert.equal(off.status, 200, off.text)
      assert.equal(off.body.status, 'ready')
      if (expectedOk === 'ok') assert.match(off.body.details.autovacuum, /autovacuum off for tables: audit_events/)
      else assert.match(off.body.details.autovacuum, expectedOk)
    } finally {
      await sql`ALTER TABLE audit_events RESET (autovacuum_enabled)`.execute(t().db.kysely)
    }
    const on = await t().request({ method: 'GET', url: '/readyz' })
    if (expectedOk === 'ok') assert.equal(on.body.details.autovacuum, 'ok')
    else assert.match(on.body.details.autovacuum, expectedOk)
  })

  it('says the embedded database runs no autovacuum (PGlite)', {
    skip: engine === 'postgres' ? 'PostgreSQL runs autovacuum' : false,
  }, async () => {
    const ready = await t().request({ method: 'GET', url: '/readyz' })
    assert.equal(ready.status, 200, ready.text)
    assert.match(ready.body.details.autovacuum, /^embedded database: no autovacuum runs; the embedded maintenance job/)
  })
})

/**
 * PGlite runs no autovacuum: the service's maintenance job (src/db/maintenance.ts) applies
 * autovacuum's thresholds to PGlite's own activity counters and analyzes or vacuums only
 * the tables that changed enough.
 */
describe('embedded database maintenance (PGlite)', () => {
  let db: TestDatabase | undefined
  before(async () => {
    db = await createTestDatabase('pglite')
  })
  after(async () => {
    await db?.close()
  })
  // PostgreSQL publishes a backend's activity counters at most once a second; this makes
  // the next statement publish them, as a later tick of the job would see them.
  const publishCounters = async (k: TestDatabase['kysely']) => {
    await sql`SELECT pg_stat_force_next_flush()`.execute(k)
    await sql`SELECT 1`.execute(k)
  }
  const lastAnalyze = async (k: TestDatabase['kysely']) =>
    (
      await sql<{ at: Date | null; dead: number }>`
        SELECT last_analyze AS at, n_dead_tup AS dead FROM pg_stat_user_tables WHERE relname = 'retention_runs'`.execute(
        k,
      )
    ).rows[0]

  it('analyzes a table after enough writes, vacuums its dead rows, and does nothing when nothing changed', async () => {
    const k = (db as TestDatabase).kysely
    // A restored database: every table holding rows was never analyzed. The first runs settle that.
    for (let run = 0; run < 20 && (await maintainTables(k)).analyzed.length > 0; run++);
    await publishCounters(k)
    assert.deepEqual(await maintainTables(k), { analyzed: [], vacuumed: [] }, 'nothing changed: nothing to do')

    const orgId = (
      await sql<{ id: string }>`
        INSERT INTO orgs (id, kind, name) VALUES (gen_random_uuid(), 'customer', 'maintenance') RETURNING id`.execute(k)
    ).rows[0]?.id
    await sql`
      INSERT INTO retention_runs (id, org_id, ran_at, purged, classes)
      SELECT gen_random_uuid(), ${orgId}, now() - g * interval '1 minute', 0, '[]' FROM generate_series(1, 2000) AS g`.execute(
      k,
    )
    await publishCounters(k)
    const first = await maintainTables(k)
    assert.ok(first.analyzed.includes('retention_runs'), JSON.stringify(first))
    assert.ok((await lastAnalyze(k))?.at instanceof Date)
    const stats = await sql<{
      n: number
    }>`SELECT count(*)::int AS n FROM pg_stats WHERE tablename = 'retention_runs'`.execute(k)
    assert.ok((stats.rows[0]?.n ?? 0) > 0, 'column statistics gathered')

    // A few writes stay under autovacuum's thresholds (50 + 10% of the table to analyze).
    await sql`UPDATE retention_runs SET purged = 1 WHERE ctid IN (SELECT ctid FROM retention_runs LIMIT 20)`.execute(k)
    await publishCounters(k)
    assert.deepEqual(
      await maintainTables(k),
      { analyzed: [], vacuumed: [] },
      '20 changed rows of 2,000: under the thresholds',
    )

    await sql`UPDATE retention_runs SET purged = 2`.execute(k)
    await publishCounters(k)
    const second = await maintainTables(k)
    assert.ok(
      second.analyzed.includes('retention_runs') && second.vacuumed.includes('retention_runs'),
      JSON.stringify(second),
    )
    await publishCounters(k)
    assert.equal((await lastAnalyze(k))?.dead, 0, 'dead rows removed')
    assert.deepEqual(await maintainTables(k), { analyzed: [], vacuumed: [] }, 'and nothing left to do')
  })
})

describe('embedded database maintenance in the running service (PGlite)', () => {
  it('says at start that it maintains the embedded database, and analyzes the tables migrations filled', async () => {
    const server = await spawnServer({
      CUSTODIAN_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'custodian-maintenance-')),
      CUSTODIAN_DB_MAINTENANCE_CHECK_MS: '1000',
      CUSTODIAN_LOG_LEVEL: 'debug',
    })
    try {
      const logged = async (pattern: RegExp) => {
        const deadline = Date.now() + 30_000
        while (!pattern.test(server.output()) && Date.now() < deadline)
          await new Promise((resolve) => setTimeout(resolve, 200))
        assert.match(server.output(), pattern)
      }
      await logged(/the service analyzes and vacuums changed tables itself/)
      await logged(/"analyzed":\["[a-z_]+"[^\n]*"msg":"embedded database maintenance"/)
    } finally {
      await server.stop()
    }
  })
})

describe('embedded database memory (PGlite)', () => {
  it('runs with the bounded buffer pool (16MB) and maintenance memory of PGLITE_SETTINGS, not PostgreSQL’s 128MB pool', async () => {
    const database = await openDatabase({ dataDir: mkdtempSync(path.join(tmpdir(), 'custodian-memory-')) })
    try {
      for (const [name, value] of Object.entries(PGLITE_SETTINGS)) {
        const shown = await sql<Record<string, string>>`SHOW ${sql.id(name)}`.execute(database.kysely)
        assert.equal(shown.rows[0]?.[name], value, name)
      }
      assert.equal(PGLITE_SETTINGS.shared_buffers, '16MB')
    } finally {
      await database.close()
    }
  })
})
