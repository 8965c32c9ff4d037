import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import net from 'node:net'
import { after, before, describe, it } from 'node:test'
import { sql, type Kysely } from 'kysely'
import pg from 'pg'
import type { DB } from '../../src/db/schema.ts'
import {
  CommitRolledBack,
  DeferredStatementFailed,
  LAST_STATEMENT,
  OPENS_TRANSACTION,
  prepareStatements,
  WITH_COMMIT,
} from '../../src/db/prepared.ts'
import {
  executeWithCommit,
  isDatabaseUnavailable,
  queryInOrg,
  sqlState,
  withOrg,
  type Trx,
} from '../../src/db/tenant.ts'
import { openDatabase, type Database } from '../../src/db/connect.ts'
import { type CredentialCheck, runWithCredentialCheck } from '../../src/db/credential-epoch.ts'
import { bootstrapProvider, useTestApp } from '../helpers/app.ts'
import { createTestDatabase, ENGINES, postgresAvailable, type TestDatabase } from '../helpers/db.ts'

/**
 * A write whose result is not needed (the audit event, P5.2) is held back and sent with the
 * transaction's COMMIT in one submission (src/db/prepared.ts, `WITH_COMMIT`;
 * src/db/tenant.ts, `executeWithCommit`): one round trip fewer, and still all or nothing —
 * after the held statement fails the COMMIT does not run.
 */
const skip = postgresAvailable() ? false : 'TEST_DATABASE_URL not set'
const TABLE = 'held_for_commit_test'

class Refused extends Error {}

describe('statements held for COMMIT, on one PostgreSQL connection', { skip }, () => {
  let database: TestDatabase
  let client: pg.Client
  /** ReadyForQuery messages: one per round trip. */
  let roundTrips = 0

  const connect = async (capacity: number): Promise<pg.Client> => {
    const next = new pg.Client({ connectionString: database.url })
    await next.connect()
    prepareStatements(next, capacity)
    ;(next as unknown as { connection: pg.Connection }).connection.on('readyForQuery', () => roundTrips++)
    return next
  }
  const held = (c: pg.Client, id: number) => c.query(`${WITH_COMMIT}INSERT INTO ${TABLE} (id) VALUES ($1)`, [id])
  const ids = async (): Promise<number[]> =>
    (await client.query<{ id: number }>(`SELECT id FROM ${TABLE} ORDER BY id`)).rows.map((row) => row.id)
  /** Named statements of the connection. */
  const named = async (c: pg.Client): Promise<string[]> =>
    (await c.query<{ statement: string }>('SELECT statement FROM pg_prepared_statements WHERE NOT from_sql')).rows.map(
      (row) => row.statement,
    )

  before(async () => {
    database = await createTestDatabase('postgres')
    await sql.raw(`CREATE TABLE ${TABLE} (id int PRIMARY KEY CHECK (id > 0))`).execute(database.kysely)
    client = await connect(100)
  })
  after(async () => {
    await client?.end()
    await database?.close()
  })

  it('sends the held statement with COMMIT: one round trip, committed, and the statement prepared for next time (P5.2)', async () => {
    await client.query('BEGIN')
    const before = roundTrips
    const given = await held(client, 1)
    assert.equal(given.rows.length, 0, 'a held statement resolves at once, with no rows')
    assert.equal(roundTrips, before, 'nothing sent yet')
    await client.query('COMMIT')
    assert.equal(roundTrips, before + 1, 'the insert and COMMIT in one round trip')
    assert.equal(client.getTransactionStatus(), 'I')
    assert.deepEqual(await ids(), [1])
    assert.ok(
      (await named(client)).some((text) => text.includes(`INSERT INTO ${TABLE}`)),
      'the held insert is a named statement of the connection',
    )
    await client.query('BEGIN')
    await held(client, 2)
    await client.query('COMMIT')
    assert.deepEqual(await ids(), [1, 2])
    assert.equal((await named(client)).filter((text) => text.includes(`INSERT INTO ${TABLE}`)).length, 1, 'parsed once')
  })

  it('does not run COMMIT after a held statement fails: the error names it, nothing is committed (P5.2)', async () => {
    await client.query('BEGIN')
    await client.query(`INSERT INTO ${TABLE} (id) VALUES ($1)`, [10])
    await held(client, 1) // a duplicate key
    const failed = await client.query('COMMIT').then(
      () => undefined,
      (e: unknown) => e,
    )
    assert.ok(failed instanceof DeferredStatementFailed, 'the COMMIT reports the held statement')
    assert.equal(sqlState(failed.cause), '23505')
    assert.match(failed.statement, /INSERT INTO held_for_commit_test/)
    // The transaction is left failed, not committed: nothing else runs in it.
    await assert.rejects(client.query('SELECT 1'), DeferredStatementFailed)
    await client.query('ROLLBACK')
    assert.deepEqual(await ids(), [1, 2], 'the statement before it was not committed either')
    // The connection goes on, and the same text works again.
    await client.query('BEGIN')
    await held(client, 3)
    await client.query('COMMIT')
    assert.deepEqual(await ids(), [1, 2, 3])
  })

  it('sends held statements before the next statement, in order, which then sees them', async () => {
    await client.query('BEGIN')
    await held(client, 4)
    await held(client, 5)
    const seen = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${TABLE} WHERE id IN (4, 5)`)
    assert.equal(seen.rows[0]?.n, 2)
    const before = roundTrips
    await client.query('COMMIT')
    assert.equal(roundTrips, before + 1, 'nothing left to send with COMMIT')
    assert.deepEqual(await ids(), [1, 2, 3, 4, 5])
  })

  it('a held failure fails the next statement, every later one and the COMMIT, even when the caller swallows it', async () => {
    await client.query('BEGIN')
    await held(client, -1) // violates the CHECK
    const next = await client.query('SELECT 1').then(
      () => undefined,
      (e: unknown) => e,
    )
    assert.ok(next instanceof DeferredStatementFailed)
    assert.equal(sqlState(next.cause), '23514')
    // A caller that catches the error and goes on: nothing else runs, COMMIT is refused.
    await assert.rejects(client.query(`INSERT INTO ${TABLE} (id) VALUES ($1)`, [6]), DeferredStatementFailed)
    await assert.rejects(held(client, 7), DeferredStatementFailed)
    await assert.rejects(client.query('COMMIT'), DeferredStatementFailed)
    await client.query('ROLLBACK')
    assert.deepEqual(await ids(), [1, 2, 3, 4, 5])
  })

  it('refuses a COMMIT that PostgreSQL answers with ROLLBACK: the transaction had failed on a statement whose error was caught', async () => {
    await client.query('BEGIN')
    await client.query(`INSERT INTO ${TABLE} (id) VALUES ($1)`, [50])
    await client.query('SELECT 1 / $1::int', [0]).catch(() => undefined) // caught, and the caller goes on
    await assert.rejects(client.query('COMMIT'), CommitRolledBack)
    assert.equal(client.getTransactionStatus(), 'I', 'the server rolled it back')
    assert.ok(!(await ids()).includes(50), 'nothing committed')
    // A statement for COMMIT in the failed transaction fails — at once, or with the COMMIT it is
    // then sent with: node-postgres reports a statement's error before the server's
    // ReadyForQuery tells it the transaction failed — and so does the COMMIT.
    await client.query('BEGIN')
    await client.query('SELECT 1 / $1::int', [0]).catch(() => undefined)
    const given = await held(client, 51).then(
      () => undefined,
      (e: unknown) => e,
    )
    if (given !== undefined) assert.equal(sqlState(given), '25P02')
    await assert.rejects(client.query('COMMIT'), (e: unknown) =>
      given === undefined
        ? e instanceof DeferredStatementFailed && sqlState(e.cause) === '25P02'
        : e instanceof CommitRolledBack,
    )
    await client.query('ROLLBACK')
    assert.equal(client.getTransactionStatus(), 'I')
    assert.ok(!(await ids()).includes(51))
  })

  it('drops held statements at ROLLBACK', async () => {
    await client.query('BEGIN')
    await held(client, 8)
    await client.query('ROLLBACK')
    assert.equal(client.getTransactionStatus(), 'I')
    await client.query('BEGIN')
    await client.query('COMMIT')
    assert.deepEqual(await ids(), [1, 2, 3, 4, 5])
  })

  it('knows COMMIT and ROLLBACK however spelled: a rollback after a held failure is sent', async () => {
    await client.query('BEGIN')
    await held(client, -3)
    await assert.rejects(client.query('SELECT 1'), DeferredStatementFailed)
    await client.query('rollback;')
    await client.query('BEGIN')
    await held(client, 40)
    const before = roundTrips
    const result = await client.query('commit')
    assert.equal(result.command, 'COMMIT')
    assert.equal(roundTrips, before + 1, 'sent with the lower-case commit')
    assert.ok((await ids()).includes(40))
    await client.query(`DELETE FROM ${TABLE} WHERE id = 40`) // the tests below list the table
  })

  it('runs a held statement at once outside a transaction', async () => {
    await held(client, 9)
    assert.deepEqual(await ids(), [1, 2, 3, 4, 5, 9])
    await assert.rejects(held(client, 9), (e: unknown) => sqlState(e) === '23505')
  })

  it('writes no COMMIT when a held statement’s values cannot be sent', async () => {
    await client.query('BEGIN')
    await held(client, 11)
    await client.query(`${WITH_COMMIT}INSERT INTO ${TABLE} (id) VALUES ($1)`, [
      {
        toPostgres() {
          throw new Refused('cannot serialise')
        },
      },
    ])
    const failed = await client.query('COMMIT').then(
      () => undefined,
      (e: unknown) => e,
    )
    assert.ok(failed instanceof DeferredStatementFailed)
    assert.ok(failed.cause instanceof Refused)
    assert.equal(client.getTransactionStatus(), 'T', 'the transaction is open, not committed')
    await client.query('ROLLBACK')
    assert.deepEqual(await ids(), [1, 2, 3, 4, 5, 9], 'the statement before it was not committed')
  })

  it('answers COMMIT with its own command tag', async () => {
    await client.query('BEGIN')
    await held(client, 20)
    const result = await client.query('COMMIT')
    assert.equal(result.command, 'COMMIT')
  })

  it('never binds again a statement node-postgres closed because its values could not be sent', async () => {
    const text = `INSERT INTO ${TABLE} (id) VALUES ($1)`
    const unsendable = {
      toPostgres() {
        throw new Refused('cannot serialise')
      },
    }
    // Held: the text is a named statement of the connection already (earlier tests).
    await client.query('BEGIN')
    await client.query(`${WITH_COMMIT}${text}`, [unsendable])
    await assert.rejects(client.query('COMMIT'), DeferredStatementFailed)
    await client.query('ROLLBACK')
    await client.query('BEGIN')
    await held(client, 21)
    await client.query('COMMIT')
    await client.query(text, [22])
    // Sent at once: the same.
    await assert.rejects(client.query(text, [unsendable]), Refused)
    await client.query(text, [23])
    assert.deepEqual((await ids()).slice(-3), [21, 22, 23])
  })

  it('fails a callback-style query after a held failure with that failure', async () => {
    await client.query('BEGIN')
    await held(client, -2)
    await assert.rejects(client.query('SELECT 1'), DeferredStatementFailed)
    const failure = await new Promise<unknown>((resolve) => {
      client.query('SELECT 1', (error: Error | null) => {
        resolve(error)
      })
    })
    assert.ok(failure instanceof DeferredStatementFailed)
    await client.query('ROLLBACK')
  })

  it('does not report a lost connection as a held failure: whether the COMMIT ran is unknown', async () => {
    // A proxy that passes the submission with COMMIT to the server, then drops the answer and
    // the connection: the server commits, the client never hears it.
    let armed = false
    const proxy = net.createServer((socket) => {
      const server = net.connect(
        new URL(database.url as string).port === '' ? 5432 : Number(new URL(database.url as string).port),
        '127.0.0.1',
      )
      let deaf = false
      socket.on('data', (chunk: Buffer) => {
        server.write(chunk)
        if (armed && chunk.includes(Buffer.from('COMMIT\0'))) {
          armed = false
          deaf = true
          setTimeout(() => {
            socket.destroy()
            server.destroy()
          }, 300)
        }
      })
      server.on('data', (chunk: Buffer) => {
        if (!deaf) socket.write(chunk)
      })
      for (const end of [socket, server]) end.on('error', () => {})
      socket.on('close', () => server.destroy())
      server.on('close', () => socket.destroy())
    })
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
    try {
      const url = new URL(database.url as string)
      url.host = `127.0.0.1:${(proxy.address() as net.AddressInfo).port}`
      const lossy = new pg.Client({ connectionString: url.toString() })
      lossy.on('error', () => {})
      await lossy.connect()
      prepareStatements(lossy, 100)
      await lossy.query('BEGIN')
      await held(lossy, 30)
      armed = true
      const lost = await lossy.query('COMMIT').then(
        () => undefined,
        (e: unknown) => e,
      )
      assert.ok(lost instanceof Error, 'the COMMIT fails on the lost connection')
      assert.ok(!(lost instanceof DeferredStatementFailed), `not reported as a held failure: ${String(lost)}`)
      assert.ok((await ids()).includes(30), 'the server did commit: the outcome was unknown to the client')
    } finally {
      proxy.close()
    }
  })

  it('works without named statements (a pooler that cannot hold them)', async () => {
    const unnamed = await connect(0)
    try {
      await unnamed.query('BEGIN')
      await held(unnamed, 12)
      await held(unnamed, 13)
      const before = roundTrips
      await unnamed.query('COMMIT')
      assert.equal(roundTrips, before + 1)
      assert.deepEqual(await named(unnamed), [])
      const committed = await ids()
      assert.ok(committed.includes(12) && committed.includes(13))
    } finally {
      await unnamed.end()
    }
  })
})

/**
 * A transaction's opening (BEGIN and a statement such as withOrg's tenant settings) held back
 * and sent in one submission with the transaction's next statement (src/db/prepared.ts,
 * `OPENS_TRANSACTION`): one round trip fewer for every request, and the next statement never
 * runs without it (P2.1, P2.6).
 */
describe('a transaction opened with its next statement, on one PostgreSQL connection', { skip }, () => {
  let database: TestDatabase
  let client: pg.Client
  let roundTrips = 0
  const TABLE_OPENED = 'opened_with_next_test'
  /** Opens a transaction whose setting `test.org` is `value`; `$2` (when given) divides by it. */
  const open = (c: pg.Client, value: string, divisor?: number) =>
    c.query(
      divisor === undefined
        ? `${OPENS_TRANSACTION}SELECT set_config('test.org', $1, true)`
        : `${OPENS_TRANSACTION}SELECT set_config('test.org', $1, true), 1 / $2::int`,
      divisor === undefined ? [value] : [value, divisor],
    )
  const setting = (c: pg.Client) =>
    c.query<{ org: string; n: number }>(`SELECT current_setting('test.org', true) AS org, $1::int AS n`, [7])
  const ids = async (): Promise<number[]> =>
    (await client.query<{ id: number }>(`SELECT id FROM ${TABLE_OPENED} ORDER BY id`)).rows.map((row) => row.id)
  const insert = (c: pg.Client, id: number) => c.query(`INSERT INTO ${TABLE_OPENED} (id) VALUES ($1)`, [id])

  before(async () => {
    database = await createTestDatabase('postgres')
    await sql.raw(`CREATE TABLE ${TABLE_OPENED} (id int PRIMARY KEY CHECK (id > 0))`).execute(database.kysely)
    client = new pg.Client({ connectionString: database.url })
    await client.connect()
    prepareStatements(client, 100)
    ;(client as unknown as { connection: pg.Connection }).connection.on('readyForQuery', () => roundTrips++)
  })
  after(async () => {
    await client?.end()
    await database?.close()
  })

  it('sends BEGIN, the opening and the next statement in one round trip; the next statement sees the opening (P2.1)', async () => {
    const before = roundTrips
    const opened = await open(client, 'org-a')
    assert.equal(opened.rows.length, 0, 'the opening resolves at once, with no rows')
    assert.equal(roundTrips, before, 'nothing sent yet')
    const seen = await setting(client)
    assert.deepEqual(seen.rows, [{ org: 'org-a', n: 7 }], 'the next statement’s own rows, after the opening ran')
    assert.equal(roundTrips, before + 1, 'BEGIN, the opening and the statement in one round trip')
    assert.equal(client.getTransactionStatus(), 'T', 'the transaction stays open')
    await insert(client, 1)
    await client.query('COMMIT')
    assert.equal(roundTrips, before + 3)
    assert.equal((await setting(client)).rows[0]?.org ?? '', '', 'the setting was local to the transaction')
    assert.deepEqual(await ids(), [1])
    // The opening is a named statement of the connection: parsed once, then only bound.
    await open(client, 'org-b')
    await insert(client, 2)
    await client.query('COMMIT')
    const prepared = await client.query<{ statement: string }>(
      "SELECT statement FROM pg_prepared_statements WHERE statement LIKE '%set_config(''test.org''%'",
    )
    assert.equal(prepared.rows.length, 1, 'one named opening for both transactions')
    assert.deepEqual(await ids(), [1, 2])
  })

  it('never runs the next statement after the opening failed: it, every later statement and the COMMIT fail with the opening’s error (P2.6)', async () => {
    await open(client, 'org-a', 0) // division by zero
    const failed = await insert(client, 3).then(
      () => undefined,
      (e: unknown) => e,
    )
    assert.ok(failed instanceof DeferredStatementFailed, `the opening's failure, not ${String(failed)}`)
    assert.equal(sqlState(failed.cause), '22012')
    assert.match(failed.statement, /set_config\('test.org'/)
    // A caller that catches the error and goes on: nothing else runs, COMMIT is refused.
    await assert.rejects(insert(client, 4), DeferredStatementFailed)
    await assert.rejects(
      client.query(`${WITH_COMMIT}INSERT INTO ${TABLE_OPENED} (id) VALUES ($1)`, [5]),
      DeferredStatementFailed,
    )
    await assert.rejects(client.query('COMMIT'), DeferredStatementFailed)
    await client.query('ROLLBACK')
    assert.equal(client.getTransactionStatus(), 'I')
    assert.deepEqual(await ids(), [1, 2], 'nothing of it ran or committed')
  })

  it('reports the next statement’s own failure as its own, after the opening ran', async () => {
    await open(client, 'org-a')
    const failed = await insert(client, 1).then(
      () => undefined,
      (e: unknown) => e,
    )
    assert.ok(!(failed instanceof DeferredStatementFailed))
    assert.equal(sqlState(failed), '23505')
    // The transaction was opened, and failed: nothing else runs in it.
    await assert.rejects(client.query('SELECT 1'), (e: unknown) => sqlState(e) === '25P02')
    await client.query('ROLLBACK')
    await open(client, 'org-a')
    await insert(client, 6)
    await client.query('COMMIT')
    assert.deepEqual(await ids(), [1, 2, 6])
  })

  it('sends the opening with COMMIT when nothing else came, and nothing at a ROLLBACK before anything was sent', async () => {
    let before = roundTrips
    await open(client, 'org-a')
    const committed = await client.query('COMMIT')
    assert.equal(committed.command, 'COMMIT')
    assert.equal(roundTrips, before + 1, 'BEGIN, the opening and COMMIT in one round trip')
    before = roundTrips
    await open(client, 'org-a', 0) // would fail: never sent
    const rolledBack = await client.query('ROLLBACK')
    assert.equal(rolledBack.command, 'ROLLBACK')
    assert.equal(roundTrips, before, 'nothing sent')
    assert.equal(client.getTransactionStatus(), 'I')
    // The connection goes on as new.
    await open(client, 'org-c')
    assert.equal((await setting(client)).rows[0]?.org, 'org-c')
    await client.query('ROLLBACK')
  })

  it('holds a statement for COMMIT given before any other, and sends all with COMMIT', async () => {
    const before = roundTrips
    await open(client, 'org-a')
    await client.query(`${WITH_COMMIT}INSERT INTO ${TABLE_OPENED} (id) VALUES ($1)`, [7])
    assert.equal(roundTrips, before, 'held, not run outside the transaction')
    await client.query('COMMIT')
    assert.equal(roundTrips, before + 1)
    assert.deepEqual(await ids(), [1, 2, 6, 7])
  })

  it('sends a next statement without parameters, a cursor or a callback after the opening, in a round trip of its own', async () => {
    let before = roundTrips
    await open(client, 'org-d')
    const plain = await client.query("SELECT current_setting('test.org') AS org")
    assert.deepEqual(plain.rows, [{ org: 'org-d' }])
    assert.equal(roundTrips, before + 2)
    await client.query('ROLLBACK')
    before = roundTrips
    await open(client, 'org-e')
    const viaCallback = await new Promise<unknown>((resolve, reject) => {
      client.query("SELECT current_setting('test.org') AS org", (error: Error | null, result: pg.QueryResult) => {
        if (error) reject(error)
        else resolve(result.rows)
      })
    })
    assert.deepEqual(viaCallback, [{ org: 'org-e' }])
    assert.equal(roundTrips, before + 2)
    await client.query('ROLLBACK')
    await open(client, 'org-f', 0)
    const failure = await new Promise<unknown>((resolve) => {
      client.query('SELECT 1', (error: Error | null) => {
        resolve(error)
      })
    })
    assert.ok(failure instanceof DeferredStatementFailed, 'a callback after a failed opening gets its failure')
    await client.query('ROLLBACK')
    assert.equal(client.getTransactionStatus(), 'I')
  })

  it('fails a next statement whose values cannot be sent with its own error, after the opening ran', async () => {
    await open(client, 'org-a')
    const failed = await client
      .query(`INSERT INTO ${TABLE_OPENED} (id) VALUES ($1)`, [
        {
          toPostgres() {
            throw new Refused('cannot serialise')
          },
        },
      ])
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    assert.ok(failed instanceof Refused, String(failed))
    assert.equal(client.getTransactionStatus(), 'T', 'the opening ran: the transaction is open')
    assert.equal((await setting(client)).rows[0]?.org, 'org-a')
    await client.query('ROLLBACK')
    // Nor does an unsendable opening send anything after it.
    await open(client, 'org-a')
    await client.query('ROLLBACK')
    await client.query(`${OPENS_TRANSACTION}SELECT set_config('test.org', $1, true)`, [
      {
        toPostgres() {
          throw new Refused('cannot serialise')
        },
      },
    ])
    await assert.rejects(
      insert(client, 8),
      (e: unknown) => e instanceof DeferredStatementFailed && e.cause instanceof Refused,
    )
    await client.query('ROLLBACK')
    assert.deepEqual(await ids(), [1, 2, 6, 7])
  })

  it('leaves nothing of a transaction rolled back while its opening was in flight to the connection’s next user', async () => {
    await open(client, 'org-a', 0) // fails, once sent
    const inFlight = insert(client, 9).then(
      () => undefined,
      (e: unknown) => e,
    )
    await client.query('ROLLBACK') // the caller gave up before the answer
    assert.ok((await inFlight) instanceof DeferredStatementFailed)
    // The next user: a plain statement, an owner's transaction, an org transaction.
    assert.deepEqual((await client.query('SELECT $1::int AS n', [1])).rows, [{ n: 1 }])
    await client.query('BEGIN')
    await insert(client, 9)
    await client.query('ROLLBACK')
    await open(client, 'org-b')
    assert.equal((await setting(client)).rows[0]?.org, 'org-b')
    await client.query('ROLLBACK')
    assert.equal(client.getTransactionStatus(), 'I')
    assert.deepEqual(await ids(), [1, 2, 6, 7])
  })

  /** A transaction's last statement: COMMIT sent right after it, in the same submission. */
  const last = (c: pg.Client, text: string, values?: unknown[]) => c.query(`${LAST_STATEMENT}${text}`, values)

  it('sends BEGIN, the opening, a last statement and COMMIT in one round trip: its rows once committed (P2.1)', async () => {
    const before = roundTrips
    await open(client, 'org-g')
    const read = await last(client, `SELECT current_setting('test.org') AS org, $1::int AS n`, [3])
    assert.deepEqual(read.rows, [{ org: 'org-g', n: 3 }], 'the statement’s own rows, after the opening ran')
    assert.equal(roundTrips, before + 1, 'one round trip')
    assert.equal(client.getTransactionStatus(), 'I', 'committed: no transaction left open')
    const written = await (async () => {
      await open(client, 'org-g')
      return last(client, `INSERT INTO ${TABLE_OPENED} (id) VALUES ($1) RETURNING id`, [10])
    })()
    assert.deepEqual(written.rows, [{ id: 10 }])
    assert.equal(roundTrips, before + 2)
    assert.deepEqual(await ids(), [1, 2, 6, 7, 10], 'committed')
    // In a transaction already under way: the statement and COMMIT, one round trip.
    await open(client, 'org-h')
    await insert(client, 11)
    const mid = roundTrips
    assert.deepEqual(
      (await last(client, 'SELECT count(*)::int AS n FROM opened_with_next_test WHERE id > $1', [9])).rows,
      [{ n: 2 }],
    )
    assert.equal(roundTrips, mid + 1)
    assert.deepEqual(await ids(), [1, 2, 6, 7, 10, 11])
  })

  it('never sends COMMIT after a last statement that failed: its own error, nothing committed, the transaction left for ROLLBACK', async () => {
    await open(client, 'org-a')
    await insert(client, 12)
    const failed = await last(client, `INSERT INTO ${TABLE_OPENED} (id) VALUES ($1)`, [1]).then(
      () => undefined,
      (e: unknown) => e,
    )
    assert.ok(!(failed instanceof DeferredStatementFailed), String(failed))
    assert.equal(sqlState(failed), '23505')
    // The COMMIT was skipped: the transaction failed and is still open. (The error comes before
    // the server's ReadyForQuery, so the client's own status may not say so yet.)
    await assert.rejects(client.query('SELECT 1'), (e: unknown) => sqlState(e) === '25P02')
    await client.query('ROLLBACK')
    assert.deepEqual(await ids(), [1, 2, 6, 7, 10, 11], 'nothing of it committed')
    // After a failed opening the statement does not run: the opening's failure.
    await open(client, 'org-a', 0)
    await assert.rejects(
      last(client, `INSERT INTO ${TABLE_OPENED} (id) VALUES ($1) RETURNING id`, [13]),
      (e: unknown) => e instanceof DeferredStatementFailed && sqlState(e.cause) === '22012',
    )
    await client.query('ROLLBACK')
    assert.deepEqual(await ids(), [1, 2, 6, 7, 10, 11])
  })

  it('rejects when the COMMIT after the last statement fails: nothing committed', async () => {
    await client.query('CREATE TABLE IF NOT EXISTS last_deferred_test (id int UNIQUE DEFERRABLE INITIALLY DEFERRED)')
    await open(client, 'org-a')
    await client.query('INSERT INTO last_deferred_test (id) VALUES ($1)', [1])
    // The duplicate is checked at COMMIT (a deferred constraint): the statement succeeds, COMMIT fails.
    const failed = await last(client, 'INSERT INTO last_deferred_test (id) VALUES ($1) RETURNING id', [1]).then(
      () => undefined,
      (e: unknown) => e,
    )
    assert.equal(sqlState(failed), '23505', String(failed))
    assert.deepEqual((await client.query('SELECT count(*)::int AS n FROM last_deferred_test')).rows, [{ n: 0 }])
    assert.equal(client.getTransactionStatus(), 'I', 'a failed COMMIT ends the transaction')
  })

  it('refuses a last statement outside a transaction, and sends one without parameters on its own, then COMMIT', async () => {
    await assert.rejects(last(client, 'SELECT $1::int AS n', [1]), /no transaction is open/)
    await assert.rejects(last(client, 'SELECT 1 AS n'), /no transaction is open/)
    const before = roundTrips
    await open(client, 'org-i')
    const plain = await last(client, "SELECT current_setting('test.org') AS org")
    assert.deepEqual(plain.rows, [{ org: 'org-i' }])
    assert.equal(roundTrips, before + 3, 'the opening, the statement, the COMMIT')
    assert.equal(client.getTransactionStatus(), 'I')
  })

  it('sends a last statement in a failed transaction, where it fails as any statement would (25P02)', async () => {
    await open(client, 'org-j')
    await client.query('SELECT 1 / $1::int', [0]).catch(() => undefined)
    // Once the server's ReadyForQuery has told the client the transaction failed.
    while (client.getTransactionStatus() !== 'E') await new Promise((resolve) => setTimeout(resolve, 5))
    await assert.rejects(last(client, 'SELECT $1::int AS n', [1]), (e: unknown) => sqlState(e) === '25P02')
    await client.query('ROLLBACK')
    assert.equal(client.getTransactionStatus(), 'I')
  })

  it('never runs a statement without parameters after a ROLLBACK given while the opening was in flight, first, last or with a callback', async () => {
    const before = await ids()
    for (const mark of ['', LAST_STATEMENT]) {
      await open(client, 'org-k')
      const statement = client.query(`${mark}INSERT INTO ${TABLE_OPENED} (id) VALUES (20) RETURNING id`).then(
        () => 'resolved',
        (e: unknown) => e,
      )
      await client.query('ROLLBACK') // the caller gave up: given before the opening was answered
      assert.ok((await statement) instanceof Error, `${mark || 'first'}: refused, not run after the ROLLBACK`)
      assert.equal(client.getTransactionStatus(), 'I')
      assert.deepEqual(await ids(), before, 'nothing ran outside the transaction, nothing committed')
    }
    // Nor a callback-style statement.
    await open(client, 'org-k')
    const viaCallback = new Promise<unknown>((resolve) => {
      client.query(`INSERT INTO ${TABLE_OPENED} (id) VALUES (21)`, (error: Error | null) => {
        resolve(error)
      })
    })
    await client.query('ROLLBACK')
    assert.ok((await viaCallback) instanceof Error, 'callback: refused, not run after the ROLLBACK')
    assert.deepEqual(await ids(), before)
  })

  it('refuses to open a transaction inside another', async () => {
    await client.query('BEGIN')
    await assert.rejects(open(client, 'org-a'), /already open/)
    await client.query('ROLLBACK')
    await open(client, 'org-a')
    await assert.rejects(open(client, 'org-b'), /already open/)
    await client.query('ROLLBACK')
  })
})

for (const engine of ENGINES) {
  describe(`executeWithCommit in an org transaction (${engine})`, {
    skip: engine === 'postgres' ? skip : false,
  }, () => {
    let database: TestDatabase
    let db: Kysely<DB>
    const orgId = randomUUID()
    const insert = (trx: Trx, id: number) =>
      executeWithCommit(
        trx,
        sql`INSERT INTO ${sql.table(TABLE)} (id) VALUES (${id})`,
        (cause) => new Refused('not recorded', { cause }),
      )
    const ids = async (): Promise<number[]> =>
      (await sql<{ id: number }>`SELECT id FROM ${sql.table(TABLE)} ORDER BY id`.execute(db)).rows.map((r) => r.id)

    before(async () => {
      database = await createTestDatabase(engine)
      db = database.kysely
      await sql.raw(`CREATE TABLE ${TABLE} (id int PRIMARY KEY CHECK (id > 0))`).execute(db)
      await sql.raw(`GRANT SELECT, INSERT ON ${TABLE} TO custodian_app`).execute(db)
    })
    after(async () => {
      await database?.close()
    })

    it('commits the write with the transaction (P5.2)', async () => {
      const result = await withOrg(db, orgId, async (trx) => {
        await sql`INSERT INTO ${sql.table(TABLE)} (id) VALUES (${1})`.execute(trx)
        await insert(trx, 2)
        return 'done'
      })
      assert.equal(result, 'done')
      assert.deepEqual(await ids(), [1, 2])
    })

    it('fails the transaction with the caller’s error and commits nothing when the write fails (P5.2)', async () => {
      const failed = await withOrg(db, orgId, async (trx) => {
        await sql`INSERT INTO ${sql.table(TABLE)} (id) VALUES (${3})`.execute(trx)
        await insert(trx, 1) // a duplicate key
      }).then(
        () => undefined,
        (e: unknown) => e,
      )
      assert.ok(failed instanceof Refused, `the caller's error, not ${String(failed)}`)
      assert.equal(sqlState(failed.cause), '23505')
      assert.deepEqual(await ids(), [1, 2], 'the change before it was rolled back')
    })

    it('does not report as committed a transaction whose statement failed and was caught (P5.2)', async () => {
      const before = await ids()
      const outcome = await withOrg(db, orgId, async (trx) => {
        await sql`INSERT INTO ${sql.table(TABLE)} (id) VALUES (${70})`.execute(trx)
        await sql`SELECT 1 / ${0}::int`.execute(trx).catch(() => undefined) // caught: the transaction has failed
        return 'done'
      }).then(
        () => 'resolved',
        (e: unknown) => e,
      )
      assert.ok(outcome instanceof Error, `refused, not ${String(outcome)}`)
      assert.deepEqual(await ids(), before, 'nothing committed')
    })

    it('runs a single statement in the org’s transaction and answers its rows, committed (P2.1)', async () => {
      const rows = await queryInOrg(db, orgId, (trx) =>
        trx.selectNoFrom(() => [
          sql<string>`current_setting('custodian.org_id', true)`.as('org'),
          sql<string>`current_user`.as('role'),
          sql<number>`${41}::int`.as('n'),
          sql<number>`${41}::bigint`.as('big'),
        ]),
      )
      assert.deepEqual(rows, [{ org: orgId, role: 'custodian_app', n: 41, big: 41 }])
      const inserted = await queryInOrg(db, orgId, (trx) =>
        trx
          .insertInto(TABLE as never)
          .values({ id: 80 } as never)
          .returning(sql<number>`id`.as('id')),
      )
      assert.deepEqual(inserted, [{ id: 80 }])
      assert.ok((await ids()).includes(80), 'committed')
      const failed = await queryInOrg(db, orgId, (trx) =>
        trx
          .insertInto(TABLE as never)
          .values({ id: 80 } as never)
          .returning(sql<number>`id`.as('id')),
      ).then(
        () => undefined,
        (e: unknown) => e,
      )
      assert.equal(sqlState(failed), '23505', String(failed))
      // The pool's connection is usable afterwards, and a moved credential runs the statement again.
      let refreshed = 0
      const again = await runWithCredentialCheck(
        movedCheck(async () => {
          refreshed++
        }),
        () => queryInOrg(db, orgId, (trx) => trx.selectNoFrom(() => sql<number>`${1}::int`.as('one'))),
      )
      assert.deepEqual(again, [{ one: 1 }])
      assert.equal(refreshed, 1, 'the credential read afresh once')
      await sql`DELETE FROM ${sql.table(TABLE)} WHERE id = ${80}`.execute(db)
    })

    it('parses the first statement’s rows as every other’s (int8 as a number)', async () => {
      const read = (trx: Trx) =>
        sql<{
          n: unknown
          big: unknown
        }>`SELECT count(*) AS n, ${41}::bigint AS big FROM generate_series(1, 3)`.execute(trx)
      const [first, second] = await withOrg(db, orgId, async (trx) => [
        (await read(trx)).rows[0],
        (await read(trx)).rows[0],
      ])
      assert.deepEqual(first, { n: 3, big: 41 })
      assert.deepEqual(second, { n: 3, big: 41 })
    })

    /** A request's pending check of a cached credential whose epoch has moved (its org does not exist). */
    const movedCheck = (refresh: () => Promise<void>): CredentialCheck => {
      const check: CredentialCheck = {
        orgId: randomUUID(),
        epoch: 0,
        state: 'pending',
        refresh: async () => {
          await refresh()
          check.state = 'confirmed'
        },
        confirm: async () => {},
      }
      return check
    }

    it('sees a moved credential epoch however the callback handles its first statement’s failure: read afresh, run again (P2.6)', async () => {
      for (const handle of ['swallows', 'wraps'] as const) {
        let refreshed = 0
        let runs = 0
        const check = movedCheck(async () => {
          refreshed++
        })
        const result = await runWithCredentialCheck(check, () =>
          withOrg(db, orgId, async (trx) => {
            runs++
            await sql`SELECT ${1}::int AS one`.execute(trx).catch((error: unknown) => {
              if (handle === 'wraps') throw new Error('the callback’s own error', { cause: error })
            })
            return 'done'
          }),
        )
        assert.equal(result, 'done', handle)
        assert.equal(refreshed, 1, `${handle}: the credential read afresh once`)
        assert.ok(runs <= 2, `${handle}: run again after the refresh only`)
      }
    })

    it('runs nothing of a callback’s statements when the refreshed credential is refused (P2.6)', async () => {
      const before = await ids()
      const check = movedCheck(async () => {
        throw new Refused('the credential was revoked')
      })
      const failed = await runWithCredentialCheck(check, () =>
        withOrg(db, orgId, async (trx) => {
          await sql`INSERT INTO ${sql.table(TABLE)} (id) VALUES (${99})`.execute(trx)
          await insert(trx, 98)
        }),
      ).then(
        () => undefined,
        (e: unknown) => e,
      )
      assert.ok(failed instanceof Refused, String(failed))
      assert.deepEqual(await ids(), before, 'nothing written')
    })

    it('reports the failure as the caller’s error when a later statement, caught by the caller, met it', async () => {
      const failed = await withOrg(db, orgId, async (trx) => {
        await insert(trx, -1) // violates the CHECK
        await sql`SELECT 1`.execute(trx).catch(() => undefined)
        await sql`INSERT INTO ${sql.table(TABLE)} (id) VALUES (${4})`.execute(trx).catch(() => undefined)
      }).then(
        () => undefined,
        (e: unknown) => e,
      )
      assert.ok(failed instanceof Refused, `the caller's error, not ${String(failed)}`)
      assert.equal(sqlState(failed.cause), '23514')
      assert.deepEqual(await ids(), [1, 2])
      // The pool's connection is usable afterwards.
      await withOrg(db, orgId, (trx) => insert(trx, 5))
      assert.deepEqual(await ids(), [1, 2, 5])
    })
  })
}

/**
 * The server ends the session (an operator's shutdown, a failover: SQLSTATE 57P01) while a
 * transaction's opening is on its way: withOrg reports the database's unavailability (503 for
 * a request), as for any statement — not a held statement's failure (500).
 */
describe('a session ended under the opening (PostgreSQL)', { skip }, () => {
  let database: TestDatabase
  let viaProxy: Database
  let proxy: net.Server
  let holding = false
  const heldBack: { upstream: net.Socket; data: Buffer }[] = []

  before(async () => {
    database = await createTestDatabase('postgres')
    const url = new URL(database.url as string)
    const port = url.port === '' ? 5432 : Number(url.port)
    // A proxy that can hold the client's bytes back: the batch is written, not yet received.
    proxy = net.createServer((socket) => {
      const upstream = net.connect(port, '127.0.0.1')
      socket.on('data', (data: Buffer) => (holding ? heldBack.push({ upstream, data }) : upstream.write(data)))
      upstream.on('data', (data: Buffer) => socket.write(data))
      upstream.on('close', () => socket.destroy())
      socket.on('close', () => upstream.destroy())
      for (const end of [socket, upstream]) end.on('error', () => {})
    })
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
    url.host = `127.0.0.1:${(proxy.address() as net.AddressInfo).port}`
    viaProxy = await openDatabase({ databaseUrl: url.toString(), poolSize: 1 })
  })
  after(async () => {
    await viaProxy?.close().catch(() => {})
    proxy?.close()
    await database?.close()
  })

  it('answers as the database unavailable, not as a failed statement', async () => {
    const db = viaProxy.kysely
    const pid = (await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(db)).rows[0]?.pid
    holding = true
    const request = withOrg(db, randomUUID(), (trx) => sql`SELECT ${1}::int AS one`.execute(trx)).then(
      () => undefined,
      (e: unknown) => e,
    )
    await new Promise((resolve) => setTimeout(resolve, 50))
    await sql`SELECT pg_terminate_backend(${pid})`.execute(database.kysely)
    await new Promise((resolve) => setTimeout(resolve, 100))
    holding = false
    for (const { upstream, data } of heldBack.splice(0)) if (!upstream.destroyed) upstream.write(data)
    const error = await request
    assert.ok(!(error instanceof DeferredStatementFailed), `the database's error, not ${String(error)}`)
    assert.ok(isDatabaseUnavailable(error), `unavailable: ${String(error)}`)
  })

  it('drops a connection whose ROLLBACK the ended session refused: the next transaction waiting for the pool runs on a new one', async () => {
    const db = viaProxy.kysely
    const pid = (await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(db)).rows[0]?.pid
    // The transaction fails on a statement; its ROLLBACK is held in the proxy while the server
    // ends the session, so the server's FATAL (57P01) is the ROLLBACK's answer, and the
    // socket's close comes after it.
    const failing = withOrg(db, randomUUID(), async (trx) => {
      try {
        await sql`SELECT 1 / ${0}::int`.execute(trx)
      } finally {
        holding = true
      }
    }).then(
      () => undefined,
      (e: unknown) => e,
    )
    // The pool's only connection is busy: this one waits for it.
    const next = withOrg(
      db,
      randomUUID(),
      async (trx) => (await sql<{ one: number }>`SELECT ${1}::int AS one`.execute(trx)).rows,
    )
    await new Promise((resolve) => setTimeout(resolve, 50))
    holding = false
    await sql`SELECT pg_terminate_backend(${pid})`.execute(database.kysely)
    await new Promise((resolve) => setTimeout(resolve, 50))
    for (const { upstream, data } of heldBack.splice(0)) if (!upstream.destroyed) upstream.write(data)
    assert.equal(sqlState(await failing), '22012', 'the statement’s own error')
    assert.deepEqual(
      await next,
      [{ one: 1 }],
      'run on a new connection, not refused as inside the dropped one’s transaction',
    )
  })
})

/**
 * The service's own audited requests on PostgreSQL: the audit event's insert reaches the
 * server in the same submission (one Sync) as the COMMIT. Read off the wire: every message
 * node-postgres writes on any connection, grouped by Sync.
 */
describe('audited requests send their event with COMMIT (PostgreSQL)', { skip }, () => {
  const t = useTestApp('postgres')
  /** The finished submissions (statement texts, in order), and per connection the one being written. */
  const submissions: string[][] = []
  const pending = new Map<object, string[]>()
  const names = new Map<string, string>()
  type Send = (this: object, ...args: unknown[]) => unknown
  const wire = pg.Connection.prototype as unknown as Record<'parse' | 'bind' | 'query' | 'sync', Send>
  const original = { parse: wire.parse, bind: wire.bind, query: wire.query, sync: wire.sync }
  const statementsOf = (connection: object): string[] => {
    const known = pending.get(connection)
    if (known !== undefined) return known
    const fresh: string[] = []
    pending.set(connection, fresh)
    return fresh
  }
  /** Wraps one of the connection's message writers with `observe`, called first. */
  const observe = (method: keyof typeof original, see: (connection: object, ...args: unknown[]) => void): void => {
    wire[method] = function (this: object, ...args: unknown[]) {
      see(this, ...args)
      return original[method].apply(this, args)
    }
  }

  before(() => {
    observe('parse', (connection, message) => {
      const { text, name } = message as { text: string; name?: string }
      if (name) names.set(name, text)
      statementsOf(connection).push(text)
    })
    observe('bind', (connection, message) => {
      // A named statement parsed in an earlier submission: its text, from its Parse.
      const { statement } = message as { statement?: string }
      const statements = statementsOf(connection)
      if (statement && statements.at(-1) !== names.get(statement)) statements.push(names.get(statement) ?? statement)
    })
    observe('query', (_connection, text) => {
      submissions.push([text as string])
    })
    observe('sync', (connection) => {
      submissions.push(statementsOf(connection).splice(0))
    })
  })
  after(() => {
    Object.assign(wire, original)
  })

  /** The submissions that wrote an audit event during `request`. */
  const eventSubmissions = async (request: () => Promise<unknown>): Promise<string[][]> => {
    submissions.length = 0
    await request()
    return submissions.filter((statements) => statements.some((text) => /insert into "audit_events"/i.test(text)))
  }

  let org: Awaited<ReturnType<typeof bootstrapProvider>>

  it('an audited write and a reveal: the event and COMMIT in one submission (P5.2)', async () => {
    org = await bootstrapProvider(t())
    const write = await eventSubmissions(async () => {
      const response = await t().request({
        method: 'POST',
        url: `/v1/orgs/${org.orgId}/service-accounts`,
        token: org.ownerToken,
        body: { name: 'held-for-commit', role: 'viewer' },
      })
      assert.equal(response.status, 201, response.text)
    })
    assert.equal(write.length, 1, 'one submission wrote the event')
    assert.deepEqual(write[0]?.slice(-1), ['COMMIT'], `the event went with COMMIT: ${JSON.stringify(write)}`)
    const secret = await t().request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/secrets`,
      token: org.ownerToken,
      body: { name: 'held', type: 'api_key', value: 'sk_held_0123456789' },
    })
    assert.equal(secret.status, 201, secret.text)
    const reveal = await eventSubmissions(async () => {
      const response = await t().request({
        method: 'POST',
        url: `/v1/orgs/${org.orgId}/secrets/${String(secret.body.id)}/reveal`,
        token: org.ownerToken,
        body: { reason: 'test' },
      })
      assert.equal(response.status, 200, response.text)
    })
    assert.equal(reveal.length, 1)
    assert.deepEqual(reveal[0]?.slice(-1), ['COMMIT'], `the event went with COMMIT: ${JSON.stringify(reveal)}`)
  })

  it('an authenticated read of one statement in one round trip (the opening, the statement and COMMIT), an audited write and a reveal in two, the opening sent with the first statement (P2.1, P2.6)', async () => {
    const secret = await t().request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/secrets`,
      token: org.ownerToken,
      body: { name: 'opened', type: 'api_key', value: 'sk_opened_0123456789' },
    })
    assert.equal(secret.status, 201, secret.text)
    const purpose = await t().request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/consent/purposes`,
      token: org.ownerToken,
      body: { key: 'analytics', name: 'Analytics', lawfulBasis: 'consent' },
    })
    assert.equal(purpose.status, 201, purpose.text)
    const requests = [
      { method: 'GET', url: `/v1/orgs/${org.orgId}` },
      { method: 'GET', url: `/v1/orgs/${org.orgId}/secrets/${String(secret.body.id)}` },
      // The consent check (P7.7), one and a batch: a read of one statement, though a POST.
      {
        method: 'POST',
        url: `/v1/orgs/${org.orgId}/consent/check`,
        read: true,
        body: () => ({ subject: 'user-1', purpose: 'analytics' }),
      },
      {
        method: 'POST',
        url: `/v1/orgs/${org.orgId}/consent/check`,
        read: true,
        body: () => ({
          checks: [
            { subject: 'user-1', purpose: 'analytics' },
            { subject: 'user-2', purpose: 'unknown' },
          ],
        }),
      },
      {
        method: 'POST',
        url: `/v1/orgs/${org.orgId}/service-accounts`,
        body: () => ({ name: randomUUID(), role: 'viewer' }),
      },
      {
        method: 'POST',
        url: `/v1/orgs/${org.orgId}/secrets/${String(secret.body.id)}/reveal`,
        body: () => ({ reason: 'test' }),
      },
    ] as const
    for (const { method, url, ...rest } of requests) {
      const send = () =>
        t().request({ method, url, token: org.ownerToken, ...('body' in rest ? { body: rest.body() } : {}) })
      const read = method === 'GET' || ('read' in rest && rest.read)
      assert.ok((await send()).status < 300) // the credential now cached; its usage recorded
      submissions.length = 0
      const response = await send()
      assert.ok(response.status < 300, response.text)
      const seen = JSON.stringify(submissions)
      if (read) {
        // A read of one statement (queryInOrg): everything in one submission.
        assert.equal(submissions.length, 1, `${method} ${url}: ${seen}`)
        const [only] = submissions as [string[]]
        assert.equal(only.length, 4, seen)
        assert.equal(only[0], 'BEGIN', seen)
        assert.match(only[1] ?? '', /set_config\('custodian\.org_id'.*custodian_credential_epoch_is/)
        assert.match(only[2] ?? '', /^\s*select .* from ("orgs"|"secrets"|unnest|consent_purposes)/is, seen)
        assert.equal(only[3], 'COMMIT', seen)
        continue
      }
      assert.equal(submissions.length, 2, `${method} ${url}: ${seen}`)
      const [first, last] = submissions as [string[], string[]]
      assert.equal(first[0], 'BEGIN', seen)
      assert.match(
        first[1] ?? '',
        /set_config\('custodian\.org_id'.*custodian_credential_epoch_is/,
        'the opening checks the cached credential',
      )
      assert.equal(first.length, 3, `the request's first statement in the same submission: ${seen}`)
      assert.equal(last.at(-1), 'COMMIT', seen)
    }
  })
})
