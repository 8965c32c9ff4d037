/**
 * `npm test`: prepares what every test file clones, then runs node's test runner.
 *
 * - PostgreSQL (TEST_DATABASE_URL): a migrated template database; each test file clones
 *   it into a database of its own (CREATE DATABASE … TEMPLATE), dropped at the end.
 * - PGlite: the embedded database's migrated template (src/db/template.ts, built when missing
 *   or stale), which every spawned server's first start copies and each test file's database
 *   (test/helpers/db.ts) is a copy of; and a dump of it, for the tests that load one (a
 *   service's data directory written from it, the idle-memory fixture).
 *
 * With CI=true an unreachable TEST_DATABASE_URL fails the run instead of skipping the
 * PostgreSQL half of the suite.
 *
 * - The web console (console/), when a test under test/console/ is selected: built once
 *   (types from /openapi.json, then Vite), before any test file starts.
 *
 * - A temporary directory of the run's own (scripts/test-temporary.ts), TMPDIR of every test
 *   file and every process it starts, removed when the run ends, also when interrupted: the
 *   tests' data directories, key files, GnuPG homes and browser profiles are not left behind.
 *
 * First of all, the machine's prerequisites of the selected tests (scripts/prerequisites.ts):
 * installed with apt-get when running as root, otherwise named with the command that
 * installs them, and the run stops at once.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import {
  cpSync,
  existsSync,
  globSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { constants } from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import { DEFAULT_PGLITE_TEMPLATE } from '../src/config.ts'
import { openDatabase, pgliteParsers } from '../src/db/connect.ts'
import { migrateToLatest } from '../src/db/migrate.ts'
import { ensureTemplate } from '../src/db/template.ts'
import { build as buildConsole } from './console.ts'
import { ensure } from './prerequisites.ts'
import { openRunTemporary, type RunTemporary } from './test-temporary.ts'
import { ENGINES } from '../test/helpers/db.ts'
import { DURATIONS_FILE, readDurations, SPLIT_SUFFIX } from './test-durations.ts'

const root = path.resolve(import.meta.dirname, '..')
const cache = path.join(root, '.cache')
mkdirSync(cache, { recursive: true })
const env: Record<string, string | undefined> = { ...process.env }

async function preparePGlite(): Promise<void> {
  // The template every spawned server's first start copies and each test file's PGlite
  // database is a copy of (built once, kept while current), and, from a copy of it, a dump
  // for the tests that load one.
  await ensureTemplate(DEFAULT_PGLITE_TEMPLATE)
  const copy = mkdtempSync(path.join(cache, 'pglite-dump-'))
  try {
    cpSync(path.join(DEFAULT_PGLITE_TEMPLATE, 'pgdata'), path.join(copy, 'pgdata'), { recursive: true })
    const pglite = await PGlite.create({ dataDir: path.join(copy, 'pgdata'), parsers: pgliteParsers() })
    const dump = await pglite.dumpDataDir('none')
    // Written beside and renamed: a run of test/scripts/test-temporary.test.ts writes it while
    // the outer run's files read it.
    const partial = path.join(cache, `pglite-template.tar.${process.pid}`)
    writeFileSync(partial, Buffer.from(await dump.arrayBuffer()))
    renameSync(partial, path.join(cache, 'pglite-template.tar'))
    await pglite.close()
  } finally {
    rmSync(copy, { recursive: true, force: true })
  }
  env.CUSTODIAN_TEST_PGLITE_DUMP = path.join(cache, 'pglite-template.tar')
  env.CUSTODIAN_TEST_PGLITE_TEMPLATE = path.join(DEFAULT_PGLITE_TEMPLATE, 'pgdata')
  // Each test file's copies of it (test/helpers/db.ts), under one directory per namespace:
  // what a killed test process left is removed here, at the next run's start.
  const copies = path.join(cache, namespace === '' ? 'pglite-copies' : `pglite-copies-${namespace}`)
  rmSync(copies, { recursive: true, force: true })
  mkdirSync(copies, { recursive: true })
  env.CUSTODIAN_TEST_PGLITE_COPIES = copies
}

// CUSTODIAN_TEST_NAMESPACE separates the databases of runs from two checkouts on one server.
const namespace = process.env.CUSTODIAN_TEST_NAMESPACE ?? ''
if (!/^[a-z0-9]*$/.test(namespace)) {
  process.stderr.write('CUSTODIAN_TEST_NAMESPACE: use lower-case letters and digits only\n')
  process.exit(1)
}
const template = `custodian_template${namespace}`

async function preparePostgres(url: string): Promise<void> {
  const admin = new pg.Client({ connectionString: url })
  try {
    await admin.connect()
  } catch (error) {
    if (process.env.CI === 'true') {
      process.stderr.write(
        `TEST_DATABASE_URL is unreachable (${(error as Error).message}) and CI=true: failing instead of skipping\n`,
      )
      process.exit(1)
    }
    process.stderr.write(
      `PostgreSQL at TEST_DATABASE_URL unreachable (${(error as Error).message}): PostgreSQL tests will be skipped\n`,
    )
    delete env.TEST_DATABASE_URL
    return
  }
  // Leftovers of an interrupted earlier run.
  const stale = await admin.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [
    `custodian\\_t${namespace}\\_%`,
  ])
  for (const { datname } of stale.rows) await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`)
  await admin.query(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`)
  await admin.query(`CREATE DATABASE ${template}`)
  await admin.end()
  const templateUrl = new URL(url)
  templateUrl.pathname = `/${template}`
  const database = await openDatabase({ databaseUrl: templateUrl.toString(), poolSize: 1 })
  await migrateToLatest(database.kysely)
  await database.close()
  env.CUSTODIAN_TEST_PG_TEMPLATE = template
}

const files = process.argv.slice(2)
// Test files at once: CUSTODIAN_TEST_CONCURRENCY, else 3 (2 cores; files wait on I/O and
// on PostgreSQL much of the time).
const concurrency = Number(process.env.CUSTODIAN_TEST_CONCURRENCY ?? 3)
if (!Number.isInteger(concurrency) || concurrency < 1) {
  process.stderr.write('CUSTODIAN_TEST_CONCURRENCY: a whole number of test files, 1 or more\n')
  process.exit(1)
}
const patterns = ['test/**/*.test.ts', 'src/**/*.test.ts']

// Tools the selected tests run (SoftHSM2, GnuPG, PostgreSQL's programs): installed now or
// named now, before any database is prepared.
const selected =
  files.length > 0
    ? files.map((f) => path.resolve(root, f))
    : patterns.flatMap((p) => globSync(p, { cwd: root })).map((f) => path.join(root, f))
const unmet = ensure(selected, { postgres: Boolean(process.env.TEST_DATABASE_URL) })
if (unmet !== undefined) {
  process.stderr.write(`${unmet}\n`)
  process.exit(1)
}

if (process.env.CI === 'true' && !process.env.TEST_DATABASE_URL) {
  process.stderr.write('CI=true but TEST_DATABASE_URL is not set: the PostgreSQL half of the suite would not run\n')
  process.exit(1)
}
// Every temporary file of the run — this process's, the console build's, the test files' and
// whatever they start — under one directory, removed when the run ends (process.exit included).
let temporary: RunTemporary
try {
  temporary = openRunTemporary()
} catch (error) {
  process.stderr.write(
    `The system's temporary directory (TMPDIR=${process.env.TMPDIR ?? ''}) cannot hold the run's own: ${(error as Error).message}\n`,
  )
  process.exit(1)
}
process.on('exit', () => temporary[Symbol.dispose]())
env.TMPDIR = process.env.TMPDIR = temporary.directory
// Interrupted while preparing, the run removes its directory (at exit) and ends; once the
// tests run, the signal is passed on to them (below).
let onSignal: (signal: NodeJS.Signals) => void = (signal) => process.exit(128 + constants.signals[signal])
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => onSignal(signal))
removeAbandonedDumps()
// The web console is built once here, from the sources as they are, for every console test file.
if (selected.some((f) => path.relative(root, f).startsWith(`test${path.sep}console${path.sep}`))) await buildConsole()
await preparePGlite()
if (env.TEST_DATABASE_URL) await preparePostgres(env.TEST_DATABASE_URL)
else process.stderr.write('TEST_DATABASE_URL not set: PostgreSQL tests will be skipped (set it to run them)\n')

// A file whose every suite is a forEachEngine one runs as two units, one per engine, in two
// processes at once (a wrapper in .cache/split/ sets CUSTODIAN_TEST_ENGINE_ONLY and imports
// it): a file's two halves no longer wait for each other.
// Per namespace: two runs in one checkout (a subset beside a full run) must not remove each
// other's wrappers.
const splitDir = path.join(cache, namespace === '' ? 'split' : `split-${namespace}`)
rmSync(splitDir, { recursive: true, force: true })
const units = selected.flatMap((file) => {
  const relative = path.relative(root, file)
  const source = readFileSync(file, 'utf8')
  const splittable =
    env.TEST_DATABASE_URL !== undefined && /^forEachEngine\(/m.test(source) && !/^(describe|it|test)\(/m.test(source)
  if (!splittable) return [{ name: relative, file: relative }]
  return ENGINES.map((engine) => {
    const wrapper = path.join(splitDir, `${relative}.${engine}${SPLIT_SUFFIX}`)
    mkdirSync(path.dirname(wrapper), { recursive: true })
    writeFileSync(
      wrapper,
      `process.env.CUSTODIAN_TEST_ENGINE_ONLY = '${engine}'\nawait import(${JSON.stringify(pathToFileURL(file).href)})\n`,
    )
    return { name: `${relative} [${engine}]`, file: path.relative(root, wrapper) }
  })
})

// Longest units first (test/durations.json, from an earlier recorded run; a half of a file
// counts as half of the whole file's time; a unit not in it counts as long, so a new file
// never starts last): the run ends when its longest unit does.
const known = readDurations()
const expected = (name: string) => known[name] ?? (known[name.replace(/ \[\w+\]$/, '')] ?? Number.POSITIVE_INFINITY) / 2
const order = units
  .sort((a, b) => expected(b.name) - expected(a.name) || a.name.localeCompare(b.name))
  .map((unit) => unit.file)
const record = process.env.CUSTODIAN_TEST_RECORD_DURATIONS === '1'
const recorded = path.join(cache, 'durations.json')
if (record) env.CUSTODIAN_TEST_DURATIONS_OUT = recorded
env.CUSTODIAN_TEST_CONCURRENCY = String(concurrency)
// Node's own cache of compiled code (checksummed, silent) for the test files' processes and,
// through test/helpers/process.ts, the services and CLI runs they start: each of the suite's
// hundreds of processes otherwise compiles the same sources again.
env.NODE_COMPILE_CACHE ??= path.join(cache, 'node-compile-cache')
// The runner leads a process group of its own, which the test files and every process they
// start join: an interrupted run passes the signal to the runner (which stops the test files
// and prints its summary), and when the runner has ended whatever is left in its group (a
// service, a browser or a database cluster a killed test file had started) is stopped before
// the directory they write in is removed.
const runner = spawn(process.execPath, [path.join(root, 'scripts', 'test-run.ts'), ...order], {
  cwd: root,
  env,
  stdio: 'inherit',
  detached: true,
})
onSignal = (signal) => {
  runner.kill(signal)
}
const [code, signal] = (await once(runner, 'exit')) as [number | null, NodeJS.Signals | null]
if (runner.pid !== undefined) await stopGroup(runner.pid)
if (record && existsSync(recorded)) {
  const merged = { ...known }
  for (const [file, seconds] of Object.entries(JSON.parse(readFileSync(recorded, 'utf8')) as Record<string, number>))
    merged[file] = Math.round(seconds)
  const sorted = Object.fromEntries(Object.entries(merged).sort(([a], [b]) => a.localeCompare(b)))
  writeFileSync(DURATIONS_FILE, `${JSON.stringify(sorted, null, 2)}\n`)
}
process.exitCode = code ?? (signal === null ? 1 : 128 + constants.signals[signal])

/** SIGTERM to process group `group`, then SIGKILL to what is left of it after 10 s. */
async function stopGroup(group: number): Promise<void> {
  // 0 sends nothing: it asks whether any process of the group is left.
  const signal = (name: NodeJS.Signals | 0) => {
    try {
      process.kill(-group, name)
      return true
    } catch {
      return false // ESRCH: no process left in the group
    }
  }
  if (!signal('SIGTERM')) return
  for (let waited = 0; waited < 10_000; waited += 100) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    if (!signal(0)) return
  }
  signal('SIGKILL')
}

/** The dumps an interrupted run wrote and did not rename (`pglite-template.tar.<pid>`, its runner no longer alive). */
function removeAbandonedDumps(): void {
  for (const name of readdirSync(cache)) {
    const pid = /^pglite-template\.tar\.([0-9]+)$/.exec(name)?.[1]
    if (pid === undefined) continue
    try {
      process.kill(Number(pid), 0)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') rmSync(path.join(cache, name), { force: true })
    }
  }
}
