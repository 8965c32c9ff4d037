import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { sql, type Kysely } from 'kysely'
import type { DB } from '../../src/db/schema.ts'
import { PREPARED_STATEMENTS_PER_CONNECTION } from '../../src/db/prepared.ts'
import { sqlState } from '../../src/db/tenant.ts'
import { findTokenForAuth } from '../../src/modules/identity/identity.store.ts'
import { createTestDatabase, postgresAvailable, type TestDatabase } from '../helpers/db.ts'

/**
 * PostgreSQL plans a named prepared statement once per connection (src/db/prepared.ts). These
 * tests hold one connection (pool of 1), so `pg_prepared_statements`, which lists the
 * session's own statements, shows what that connection has prepared.
 */
const skip = postgresAvailable() ? false : 'TEST_DATABASE_URL not set'

/** The named statements of the session: text to name. */
async function prepared(db: Kysely<DB>): Promise<Map<string, string>> {
  const result = await sql<{ name: string; statement: string }>`
    SELECT name, statement FROM pg_prepared_statements WHERE NOT from_sql`.execute(db)
  return new Map(result.rows.map((row) => [row.statement, row.name]))
}

const tokenLookup = (db: Kysely<DB>) => findTokenForAuth(db, randomUUID())

describe('prepared statements on PostgreSQL', { skip }, () => {
  let database: TestDatabase
  let db: Kysely<DB>
  before(async () => {
    database = await createTestDatabase('postgres', { poolSize: 1 })
    db = database.kysely
  })
  after(async () => {
    await database?.close()
  })

  it('prepares a parameterised statement once and reuses it; statements without parameters stay unnamed', async () => {
    await tokenLookup(db)
    const first = await prepared(db)
    const lookups = [...first.keys()].filter((text) => text.includes('from "api_tokens" as "t"'))
    assert.equal(lookups.length, 1, 'the credential lookup is a named statement of the session')
    await tokenLookup(db)
    await tokenLookup(db)
    const again = await prepared(db)
    assert.equal(again.get(lookups[0] as string), first.get(lookups[0] as string), 'the same name, parsed once')
    assert.equal(again.size, first.size, 'no new statement for the same text')
    await sql`SELECT 41 + 1`.execute(db)
    assert.ok(![...(await prepared(db)).keys()].some((text) => text.includes('41 + 1')))
  })

  it('keeps at most the bound per connection, dropping the least recently used', async () => {
    const count = PREPARED_STATEMENTS_PER_CONNECTION + 20
    for (let i = 0; i < count; i++) await sql`SELECT ${i}::int + ${sql.raw(String(i))} AS n`.execute(db)
    const statements = await prepared(db)
    assert.equal(statements.size, PREPARED_STATEMENTS_PER_CONNECTION)
    assert.ok(
      [...statements.keys()].some((text) => text.includes(`+ ${count - 1} AS n`)),
      'the newest is kept',
    )
    assert.ok(![...statements.keys()].some((text) => text.includes('+ 0 AS n')), 'the oldest was closed')
    const { rows } = await sql<{ n: number }>`SELECT ${5}::int + ${sql.raw(String(count - 1))} AS n`.execute(db)
    assert.equal(rows[0]?.n, count + 4, 'a kept statement still answers')
  })

  it('does not remember a statement whose Parse failed: the same text works once it can', async () => {
    const query = (executor: Kysely<DB> = db) =>
      sql<{ id: number }>`SELECT id FROM later_table WHERE id = ${1}`.execute(executor)
    const missing = await query().then(
      () => undefined,
      (e: unknown) => e,
    )
    assert.equal(sqlState(missing), '42P01', 'the table does not exist yet')
    assert.ok(![...(await prepared(db)).keys()].some((text) => text.includes('later_table')))
    // The same inside a transaction, which the failure aborts.
    const inTransaction = await db
      .transaction()
      .execute((trx) => query(trx))
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    assert.equal(sqlState(inTransaction), '42P01')
    await sql`CREATE TABLE later_table (id int PRIMARY KEY)`.execute(db)
    await sql`INSERT INTO later_table VALUES (1)`.execute(db)
    assert.deepEqual((await query()).rows, [{ id: 1 }])
    assert.ok([...(await prepared(db)).keys()].some((text) => text.includes('later_table')))
  })

  it('answers a cached SELECT * after ADD COLUMN: retried outside a transaction, failing once inside one', async () => {
    await tokenLookup(db)
    await db.transaction().execute(async (trx) => {
      await tokenLookup(trx)
    })
    await sql`ALTER TABLE api_tokens ADD COLUMN added_by_test text`.execute(db)
    // Outside a transaction: sent again under a new name, with the new column.
    assert.equal(await tokenLookup(db), undefined)
    // Inside one: the statement was forgotten with the rest of the connection's statements
    // above, so the transaction prepares afresh and succeeds.
    await db.transaction().execute(async (trx) => {
      assert.equal(await tokenLookup(trx), undefined)
    })
    // A change under a statement cached inside a transaction fails that transaction once.
    await sql`ALTER TABLE api_tokens ADD COLUMN added_again text`.execute(db)
    const stale = await db
      .transaction()
      .execute((trx) => tokenLookup(trx))
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    assert.equal(sqlState(stale), '0A000', 'cached plan must not change result type')
    await db.transaction().execute(async (trx) => {
      assert.equal(await tokenLookup(trx), undefined, 'the next attempt prepares afresh')
    })
    const statements = await prepared(db)
    assert.equal(
      [...statements.keys()].filter((text) => text.includes('from "api_tokens" as "t"')).length,
      1,
      'the stale statements were closed',
    )
  })
})

describe('prepared statements turned off (CUSTODIAN_DB_PREPARED_STATEMENTS=off)', { skip }, () => {
  let database: TestDatabase
  before(async () => {
    database = await createTestDatabase('postgres', { poolSize: 1, preparedStatements: false })
  })
  after(async () => {
    await database?.close()
  })

  it('sends every statement unnamed', async () => {
    const db = database.kysely
    await tokenLookup(db)
    await db.transaction().execute(async (trx) => {
      await tokenLookup(trx)
      await sql`SELECT ${1}::int AS one`.execute(trx)
    })
    assert.equal((await prepared(db)).size, 0)
  })
})
