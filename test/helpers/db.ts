import { randomBytes } from 'node:crypto'
import { openAsBlob } from 'node:fs'
import { after, before, describe } from 'node:test'
import { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import { openDatabase, pgliteParsers, type Database, type Engine, type OpenOptions } from '../../src/db/connect.ts'

/**
 * Each test file gets databases of its own on both engines: a PGlite loaded from the
 * migrated dump, and a PostgreSQL database cloned from the migrated template. Nothing is
 * shared between files, so they run in parallel.
 */
export const ENGINES: Engine[] = ['pglite', 'postgres']

/**
 * Prefix of every database a test run creates. CUSTODIAN_TEST_NAMESPACE (letters and digits)
 * keeps two runs on one PostgreSQL server (two checkouts) from dropping each other's databases.
 */
export const TEST_DB_PREFIX = `custodian_t${process.env.CUSTODIAN_TEST_NAMESPACE ?? ''}_`

export function postgresAvailable(): boolean {
  return process.env.TEST_DATABASE_URL !== undefined && process.env.CUSTODIAN_TEST_PG_TEMPLATE !== undefined
}

/**
 * Runs `body` once per engine, as a suite named after it; PostgreSQL is skipped only outside CI.
 * CUSTODIAN_TEST_ENGINE_ONLY names one engine: the test runner runs a file's two engines as
 * two processes at once that way (scripts/test.ts), each registering only its own.
 */
export function forEachEngine(name: string, body: (engine: Engine) => void): void {
  const only = process.env.CUSTODIAN_TEST_ENGINE_ONLY
  for (const engine of ENGINES) {
    if (only !== undefined && engine !== only) continue
    const skip = engine === 'postgres' && !postgresAvailable() ? 'TEST_DATABASE_URL not set' : false
    describe(`${name} [${engine}]`, { skip }, () => body(engine))
  }
}

export interface TestDatabase extends Database {
  /** postgres:// URL of this file's own database (PostgreSQL only), e.g. for a child process. */
  url: string | undefined
  /** The PGlite instance (PGlite only), e.g. to dump its data files. */
  pglite: PGlite | undefined
}

/** `options.wrapDialect` instruments the connection (see test/helpers/explain.ts). */
export async function createTestDatabase(
  engine: Engine,
  options: Pick<OpenOptions, 'wrapDialect' | 'preparedStatements' | 'poolSize'> = {},
): Promise<TestDatabase> {
  if (engine === 'pglite') {
    const dumpFile = process.env.CUSTODIAN_TEST_PGLITE_DUMP
    if (dumpFile === undefined) throw new Error('run tests through `npm test` (it prepares the PGlite dump)')
    // A Blob backed by the file (openAsBlob): PGlite's arrayBuffer() of the 45 MB dump costs
    // ≈0.3–0.5 s of CPU so, ≈1 s as the file's bytes read into memory and wrapped in a Blob.
    const pglite = await PGlite.create({ loadDataDir: await openAsBlob(dumpFile), parsers: pgliteParsers() })
    return Object.assign(await openDatabase({ pglite, ...options }), { url: undefined, pglite })
  }
  const base = process.env.TEST_DATABASE_URL as string
  const name = `${TEST_DB_PREFIX}${process.pid}_${randomBytes(4).toString('hex')}`
  const admin = new pg.Client({ connectionString: base })
  await admin.connect()
  try {
    await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${process.env.CUSTODIAN_TEST_PG_TEMPLATE}"`)
  } finally {
    await admin.end()
  }
  const url = new URL(base)
  url.pathname = `/${name}`
  const database = await openDatabase({ databaseUrl: url.toString(), poolSize: 10, ...options })
  return {
    ...database,
    url: url.toString(),
    pglite: undefined,
    async close() {
      await database.close()
      const dropper = new pg.Client({ connectionString: base })
      await dropper.connect()
      await dropper.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
      await dropper.end()
    },
  }
}

/**
 * Call in a suite's body: a database created before its tests and dropped after them.
 * Returns an accessor, since the database exists only once the suite starts.
 */
export function useDatabase(engine: Engine): () => TestDatabase {
  let database: TestDatabase | undefined
  before(async () => {
    database = await createTestDatabase(engine)
  })
  after(async () => {
    await database?.close()
  })
  return () => {
    if (database === undefined) throw new Error('database used outside the suite’s tests')
    return database
  }
}
