import assert from 'node:assert/strict'
import { after, before, it } from 'node:test'
import { PGlite } from '@electric-sql/pglite'
import { sql } from 'kysely'
import { openDatabase, type Database } from '../../src/db/connect.ts'
import { MIGRATIONS, migrateToLatest, pendingMigrations } from '../../src/db/migrate.ts'
import { createTestDatabase, forEachEngine, type TestDatabase } from '../helpers/db.ts'

/**
 * A start on a current schema reads the applied migrations and goes on, without the
 * migrator (src/db/migrate.ts: its table checks list every table and column of the schema);
 * anything else — a migration pending, one this build does not know, a database never
 * migrated — is still the migrator's, or readiness's, to report.
 */
forEachEngine('migrations on start', (engine) => {
  let database: TestDatabase
  const latest = Object.keys(MIGRATIONS).at(-1) as string
  before(async () => {
    database = await createTestDatabase(engine)
  })
  after(async () => {
    await database?.close()
  })

  it('finds a migrated database current: nothing applied, nothing pending', async () => {
    assert.deepEqual(await migrateToLatest(database.kysely), [])
    assert.deepEqual(await pendingMigrations(database.kysely), [])
  })

  it('reports a migration the database has not applied as pending', async () => {
    const row = await sql<{ name: string; timestamp: string }>`
      DELETE FROM custodian_migrations WHERE name = ${latest} RETURNING name, timestamp`.execute(database.kysely)
    try {
      assert.deepEqual(await pendingMigrations(database.kysely), [latest])
    } finally {
      const { name, timestamp } = row.rows[0] as { name: string; timestamp: string }
      await sql`INSERT INTO custodian_migrations (name, timestamp) VALUES (${name}, ${timestamp})`.execute(
        database.kysely,
      )
    }
    assert.deepEqual(await pendingMigrations(database.kysely), [])
  })

  it('refuses a database that recorded a migration this build does not know (a newer build’s)', async () => {
    await sql`INSERT INTO custodian_migrations (name, timestamp) VALUES ('9999_from_a_newer_build', ${new Date().toISOString()})`.execute(
      database.kysely,
    )
    try {
      await assert.rejects(migrateToLatest(database.kysely), /9999_from_a_newer_build/)
      assert.deepEqual(await pendingMigrations(database.kysely), [], 'nothing of this build pending')
    } finally {
      await sql`DELETE FROM custodian_migrations WHERE name = '9999_from_a_newer_build'`.execute(database.kysely)
    }
  })

  // A database of its own, in memory (once: on PGlite).
  if (engine === 'pglite')
    it('lists every migration as pending on a database never migrated, then applies them all', async () => {
      const empty: Database = await openDatabase({ pglite: new PGlite() })
      try {
        assert.deepEqual(await pendingMigrations(empty.kysely), Object.keys(MIGRATIONS))
        assert.deepEqual(await migrateToLatest(empty.kysely), Object.keys(MIGRATIONS))
        assert.deepEqual(await pendingMigrations(empty.kysely), [])
        assert.deepEqual(await migrateToLatest(empty.kysely), [])
      } finally {
        await empty.close()
      }
    })
})
