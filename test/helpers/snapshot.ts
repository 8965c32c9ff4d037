import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import { openDatabase, pgliteParsers, pgliteStartParams } from '../../src/db/connect.ts'
import { TEST_DB_PREFIX, type TestDatabase } from './db.ts'

/**
 * A copy of a test database as it is now, restorable later as a database of its own — a
 * backup taken while the service runs: PGlite's data directory (`dumpDataDir`), or for
 * PostgreSQL `pg_dump --format=custom` restored by `pg_restore` into a new database.
 * Returns the restore; each call makes a new database, closed (PostgreSQL: dropped) by its
 * `close`.
 */
export async function snapshotDatabase(db: TestDatabase, dir: string): Promise<() => Promise<TestDatabase>> {
  if (db.pglite !== undefined) {
    const dump = await db.pglite.dumpDataDir('none')
    return async () => {
      const pglite = await PGlite.create({
        loadDataDir: dump,
        parsers: pgliteParsers(),
        startParams: pgliteStartParams(),
      })
      return Object.assign(await openDatabase({ pglite }), { url: undefined, pglite })
    }
  }
  const file = path.join(dir, `snapshot-${randomBytes(3).toString('hex')}.pgc`)
  execFileSync('pg_dump', ['--format=custom', '--no-owner', `--file=${file}`, db.url as string])
  return async () => {
    const base = new URL(db.url as string)
    const name = `${TEST_DB_PREFIX}restore_${process.pid}_${randomBytes(3).toString('hex')}`
    const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL })
    await admin.connect()
    await admin.query(`CREATE DATABASE "${name}"`)
    await admin.end()
    base.pathname = `/${name}`
    execFileSync('pg_restore', ['--no-owner', `--dbname=${base.toString()}`, file])
    const database = await openDatabase({ databaseUrl: base.toString(), poolSize: 4 })
    return {
      ...database,
      url: base.toString(),
      pglite: undefined,
      async close() {
        await database.close()
        const dropper = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL })
        await dropper.connect()
        await dropper.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
        await dropper.end()
      },
    }
  }
}
