import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, describe, it } from 'node:test'
import { OWNER_FILE, openRunTemporary, RUN_PREFIX, removeAbandoned } from '../../scripts/test-temporary.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')
const scratch = mkdtempSync(path.join(tmpdir(), 'test-temporary-'))
after(() => rmSync(scratch, { recursive: true, force: true }))

/** A base directory of its own for one test: the runs it makes are the only things in it. */
function base(name: string): string {
  const dir = path.join(scratch, name)
  mkdirSync(dir)
  return dir
}

/** A process id that no process has any more. */
function deadPid(): number {
  const exited = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' })
  return Number(exited.stdout)
}

/** scripts/test.ts over the fixture, the system's temporary directory being `tmp`; a namespace of its own (its PGlite copies and wrappers apart from this run's), PostgreSQL skipped. */
function runner(tmp: string, report: string, hang: boolean) {
  const env: Record<string, string | undefined> = {
    ...process.env,
    TMPDIR: tmp,
    CUSTODIAN_TEST_NAMESPACE: `${process.env.CUSTODIAN_TEST_NAMESPACE ?? ''}leaver`,
    FIXTURE_REPORT: report,
    FIXTURE_HANG: hang ? '1' : '0',
  }
  // A run of its own, not a test file of this one (node:test marks its files' processes).
  delete env.NODE_TEST_CONTEXT
  delete env.TEST_DATABASE_URL
  delete env.CI
  delete env.CUSTODIAN_TEST_DURATIONS_OUT
  delete env.CUSTODIAN_TEST_RECORD_DURATIONS
  return spawn(process.execPath, [path.join(ROOT, 'scripts/test.ts'), 'test/fixtures/temporary-leaver.ts'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
}

async function waitFor(file: string, lines: number, child: ReturnType<typeof spawn>): Promise<string[]> {
  const until = Date.now() + 240_000
  while (Date.now() < until) {
    const found = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []
    if (found.length >= lines) return found
    if (child.exitCode !== null) break
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  assert.fail(`the fixture reported no directories (${file})`)
}

describe("the test run's temporary directory", () => {
  it('lists nothing to other users, records its runner, and is removed whole when disposed of', () => {
    const dir = base('open')
    const run = openRunTemporary(dir)
    assert.ok(path.basename(run.directory).startsWith(RUN_PREFIX))
    assert.equal(statSync(run.directory).mode & 0o777, 0o711)
    assert.equal(readFileSync(path.join(run.directory, OWNER_FILE), 'utf8'), `${process.pid}\n`)
    mkdirSync(path.join(run.directory, 'custodian-test-x'))
    writeFileSync(path.join(run.directory, 'custodian-test-x', 'root.key'), 'k')
    run[Symbol.dispose]()
    assert.deepEqual(readdirSync(dir), [])
    run[Symbol.dispose]()
  })

  it("the next run removes what a killed run left — never a live run's, another's file or an unrecorded directory", () => {
    const dir = base('abandoned')
    const killed = path.join(dir, `${RUN_PREFIX}killed`)
    mkdirSync(path.join(killed, 'custodian-test-y'), { recursive: true })
    writeFileSync(path.join(killed, OWNER_FILE), `${deadPid()}\n`)
    const live = path.join(dir, `${RUN_PREFIX}live`)
    mkdirSync(live)
    writeFileSync(path.join(live, OWNER_FILE), `${process.pid}\n`)
    const unrecorded = path.join(dir, `${RUN_PREFIX}unrecorded`)
    mkdirSync(unrecorded)
    const garbled = path.join(dir, `${RUN_PREFIX}garbled`)
    mkdirSync(garbled)
    writeFileSync(path.join(garbled, OWNER_FILE), 'not a pid\n')
    const other = path.join(dir, 'someone-else')
    mkdirSync(other)
    writeFileSync(path.join(other, OWNER_FILE), `${deadPid()}\n`)
    const run = openRunTemporary(dir)
    try {
      assert.ok(!existsSync(killed), "a killed run's directory is removed")
      for (const kept of [live, unrecorded, garbled, other]) assert.ok(existsSync(kept), `${kept} is kept`)
      assert.deepEqual(removeAbandoned(dir), [])
    } finally {
      run[Symbol.dispose]()
    }
  })

  it('npm test (scripts/test.ts): the test files and the processes they start write under it; nothing is left when the run ends', async () => {
    const tmp = base('run')
    const report = path.join(scratch, 'run.report')
    const child = runner(tmp, report, false)
    let output = ''
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()))
    const [code] = await once(child, 'exit')
    assert.equal(code, 0, output)
    const made = readFileSync(report, 'utf8').split('\n').filter(Boolean)
    assert.equal(made.length, 2)
    for (const dir of made) {
      assert.equal(path.dirname(path.dirname(dir)), tmp)
      assert.ok(path.basename(path.dirname(dir)).startsWith(RUN_PREFIX), `${dir} is in the run's directory`)
    }
    assert.deepEqual(readdirSync(tmp), [], 'nothing left in the temporary directory')
  })

  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    it(`interrupted (${signal} to npm test alone), the run ends its test files and removes its directory`, async () => {
      const tmp = base(`interrupted-${signal}`)
      const report = path.join(scratch, `${signal}.report`)
      const child = runner(tmp, report, true)
      const made = await waitFor(report, 2, child)
      assert.ok(made.every((dir) => existsSync(dir)))
      child.kill(signal)
      const [code, killedBy] = await once(child, 'exit')
      assert.equal(killedBy, null, 'the runner exits after removing, not killed by the signal')
      assert.notEqual(code, 0)
      assert.deepEqual(readdirSync(tmp), [], 'nothing left in the temporary directory')
    })
})
