import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { describe, it } from 'node:test'
import pg from 'pg'
import { postgresAvailable, TEST_DB_PREFIX } from '../helpers/db.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')

interface Acquired {
  dir: string
  hello: number
  backend: number
}

/** Runs test/fixtures/bench-part.ts; `interrupt`: SIGINT once it has printed what it holds. */
async function runPart(
  database: string,
  how: { fail?: boolean; interrupt?: NodeJS.Signals; again?: boolean },
): Promise<{ code: number | null; acquired: Acquired; output: string }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'test/fixtures/bench-part.ts')], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      TEST_DATABASE_URL: process.env.TEST_DATABASE_URL ?? '',
      BENCH_PART_DATABASE: database,
      BENCH_PART_FAIL: how.fail === true ? '1' : '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  let acquired: Acquired | undefined
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString()
    const line = /^\{.*\}$/m.exec(output)?.[0]
    if (acquired === undefined && line !== undefined) {
      acquired = JSON.parse(line) as Acquired
      if (how.interrupt !== undefined) child.kill(how.interrupt)
      if (how.interrupt !== undefined && how.again === true) setTimeout(() => child.kill(how.interrupt), 10)
    }
  })
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  assert.ok(acquired, `the part printed what it holds:\n${output}`)
  return { code, acquired, output }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function leftBehind(database: string, acquired: Acquired): Promise<string[]> {
  const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL })
  await admin.connect()
  try {
    const left: string[] = []
    const databases = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database])
    if (databases.rowCount !== 0) left.push(`database ${database}`)
    const backends = await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [acquired.backend])
    if (backends.rowCount !== 0) left.push(`connection ${acquired.backend}`)
    if (existsSync(acquired.dir)) left.push(`directory ${acquired.dir}`)
    if (alive(acquired.hello)) left.push(`process ${acquired.hello}`)
    return left
  } finally {
    await admin.end()
  }
}

// The performance issue's constraint: the bench uses its own database and leaves none behind —
// nor a directory, a process or a connection, however a part ends.
describe('bench parts leave nothing behind (bench/processes.ts)', { skip: !postgresAvailable() }, () => {
  it('a part that fails releases its database, directory, process and connection, and reports the failure', async () => {
    const database = `${TEST_DB_PREFIX}${process.pid}_bench_failed`
    const { code, acquired, output } = await runPart(database, { fail: true })
    assert.equal(code, 1)
    assert.match(output, /the part failed/)
    assert.deepEqual(await leftBehind(database, acquired), [])
  })

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`a part interrupted by ${signal} releases them too, then exits with 128 + the signal's number`, async () => {
      const database = `${TEST_DB_PREFIX}${process.pid}_bench_${signal.toLowerCase()}`
      const { code, acquired } = await runPart(database, { interrupt: signal })
      assert.equal(code, signal === 'SIGINT' ? 130 : 143)
      assert.deepEqual(await leftBehind(database, acquired), [])
    })
  }

  it('a second SIGINT while it releases (an impatient Ctrl-C) says so and does not cut the release short', async () => {
    const database = `${TEST_DB_PREFIX}${process.pid}_bench_twice`
    const { code, acquired, output } = await runPart(database, { interrupt: 'SIGINT', again: true })
    assert.equal(code, 130)
    assert.match(output, /still releasing/)
    assert.deepEqual(await leftBehind(database, acquired), [])
  })

  it('refuses a database name that is not a plain identifier before creating anything', async () => {
    const { freshDatabase } = await import('../../bench/processes.ts')
    await using resources = new AsyncDisposableStack()
    await assert.rejects(freshDatabase(resources, 'x; DROP DATABASE test'), /lower-case letters, digits and _/)
  })
})
