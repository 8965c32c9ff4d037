import { randomBytes } from 'node:crypto'
import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe } from 'node:test'
import { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import {
  openDatabase,
  pgliteParsers,
  pgliteStartParams,
  type Database,
  type Engine,
  type OpenOptions,
} from '../../src/db/connect.ts'

/**
 * Each test file gets databases of its own on both engines: a PGlite on a copy of the
 * migrated template's data directory, and a PostgreSQL database cloned from the migrated template. Nothing is
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

/**
 * The PGlite copies this process has open: removed at exit too, when a test ends without
 * closing its database (scripts/test.ts also clears their directory at the start of a run,
 * for a process that was killed).
 */
const liveCopies = new Set<string>()
process.once('exit', () => {
  for (const dir of liveCopies) rmSync(dir, { recursive: true, force: true })
})

/** `options.wrapDialect` instruments the connection (see test/helpers/explain.ts). */
export async function createTestDatabase(
  engine: Engine,
  options: Pick<OpenOptions, 'wrapDialect' | 'preparedStatements' | 'poolSize'> = {},
): Promise<TestDatabase> {
  if (engine === 'pglite') {
    const template = process.env.CUSTODIAN_TEST_PGLITE_TEMPLATE
    if (template === undefined) throw new Error('run tests through `npm test` (it prepares the PGlite template)')
    // A copy of the migrated template's data directory, opened as the service opens its own
    // (src/db/connect.ts: files on disk, the service's start parameters). Loading the 45 MB
    // dump into PGlite's in-memory file system with PostgreSQL's default 128MB buffer pool,
    // as before, cost ≈1.5 s more CPU per database (docs/benchmarks.md, "Where the test
    // suite's CPU goes"): most of it emscripten's mmap zero-filling the pool, and the tar
    // unpacked in JavaScript. Not openDatabase({ dataDir, template }), which copies the same
    // way: tests need the PGlite instance itself (its raw data files, in the checks that no
    // secret is stored in the clear).
    const dataDir = mkdtempSync(
      path.join(process.env.CUSTODIAN_TEST_PGLITE_COPIES ?? tmpdir(), 'custodian-test-pglite-'),
    )
    liveCopies.add(dataDir)
    const remove = () => {
      rmSync(dataDir, { recursive: true, force: true })
      liveCopies.delete(dataDir)
    }
    let pglite: PGlite | undefined
    try {
      cpSync(template, dataDir, { recursive: true })
      pglite = await PGlite.create({ dataDir, parsers: pgliteParsers(), startParams: pgliteStartParams() })
      const opened = pglite
      const database = await openDatabase({ pglite: opened, ...options })
      return {
        ...database,
        url: undefined,
        pglite: opened,
        async close() {
          try {
            await database.close()
          } finally {
            remove()
          }
        },
      }
    } catch (error) {
      if (pglite !== undefined && !pglite.closed) await pglite.close()
      remove()
      throw error
    }
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
