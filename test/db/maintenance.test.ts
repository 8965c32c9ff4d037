import assert from 'node:assert/strict'
import { it } from 'node:test'
import { sql } from 'kysely'
import { useTestApp } from '../helpers/app.ts'
import { forEachEngine } from '../helpers/db.ts'

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
    assert.match(ready.body.details.autovacuum, /^embedded database: no autovacuum/)
  })
})
