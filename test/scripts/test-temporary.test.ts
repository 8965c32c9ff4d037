import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, describe, it } from 'node:test'
import { openRunTemporary, RUN_NAME, removeAbandoned } from '../../scripts/test-temporary.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')
const scratch = mkdtempSync(path.join(tmpdir(), 'test-temporary-'))
const NAMESPACE = `${process.env.CUSTODIAN_TEST_NAMESPACE ?? ''}leaver`
after(() => {
  rmSync(scratch, { recursive: true, force: true })
  // What the nested runs kept in the checkout's cache under their namespace.
  for (const kept of [`pglite-copies-${NAMESPACE}`, `split-${NAMESPACE}`])
    rmSync(path.join(ROOT, '.cache', kept), { recursive: true, force: true })
})

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
function runner(tmp: string, report: string, hang: boolean, group = false) {
  const env: Record<string, string | undefined> = {
    ...process.env,
    TMPDIR: tmp,
    CUSTODIAN_TEST_NAMESPACE: NAMESPACE,
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
    // A process group of its own: a terminal's Ctrl-C reaches every process of the group.
    detached: group,
  })
}

/** Whether process `pid` exists. */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
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
  it('lists nothing to other users, names its runner, and is removed whole when disposed of', () => {
    const dir = base('open')
    const run = openRunTemporary(dir)
    assert.equal(RUN_NAME.exec(path.basename(run.directory))?.[1], String(process.pid))
    assert.equal(statSync(run.directory).mode & 0o777, 0o711)
    mkdirSync(path.join(run.directory, 'custodian-test-x'))
    writeFileSync(path.join(run.directory, 'custodian-test-x', 'root.key'), 'k')
    run[Symbol.dispose]()
    assert.deepEqual(readdirSync(dir), [])
    run[Symbol.dispose]()
  })

  it("the next run removes what a killed run left — never a live run's, a symbolic link, or another name", () => {
    const dir = base('abandoned')
    const dead = deadPid()
    const killed = path.join(dir, `ct-${dead}-AbC123`)
    mkdirSync(path.join(killed, 'custodian-test-y'), { recursive: true })
    writeFileSync(path.join(killed, 'custodian-test-y', 'root.key'), 'k')
    const live = path.join(dir, `ct-${process.pid}-AbC123`)
    mkdirSync(live)
    const target = path.join(dir, 'target')
    mkdirSync(target)
    writeFileSync(path.join(target, 'kept'), 'k')
    const link = path.join(dir, `ct-${dead}-Link00`)
    symlinkSync(target, link)
    const others = [`ct-${dead}-short`, `ct-0-AbC123`, `custodian-tests-${dead}`, 'someone-else'].map((name) =>
      path.join(dir, name),
    )
    for (const other of others) mkdirSync(other)
    const run = openRunTemporary(dir)
    try {
      assert.ok(!existsSync(killed), "a killed run's directory is removed")
      for (const kept of [live, link, path.join(target, 'kept'), ...others])
        assert.ok(existsSync(kept), `${kept} is kept`)
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
      assert.match(path.basename(path.dirname(dir)), RUN_NAME, `${dir} is in the run's directory`)
    }
    assert.deepEqual(readdirSync(tmp), [], 'nothing left in the temporary directory')
  })

  for (const [signal, to] of [
    ['SIGINT', 'the runner alone'],
    ['SIGTERM', 'the runner alone'],
    ['SIGINT', 'its process group (Ctrl-C in a terminal)'],
  ] as const)
    it(`interrupted (${signal} to ${to}): the test files and what they started stop, the summary is printed, nothing is left`, async () => {
      const tmp = base(`interrupted-${signal}-${to.length}`)
      const report = path.join(scratch, `${signal}-${to.length}.report`)
      const group = to !== 'the runner alone'
      const child = runner(tmp, report, true, group)
      let output = ''
      child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()))
      child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()))
      const made = await waitFor(report, 3, child)
      const sleeper = Number(/^sleeper (\d+)$/.exec(made[2] ?? '')?.[1])
      assert.ok(running(sleeper), 'the process the test file started runs')
      if (group) process.kill(-(child.pid as number), signal)
      else child.kill(signal)
      const [code, killedBy] = await once(child, 'exit')
      assert.equal(killedBy, null, 'the runner exits after removing, not killed by the signal')
      assert.equal(code, signal === 'SIGINT' ? 130 : 143, output)
      assert.match(output, /^ℹ tests 1$/m, "the runner's summary is printed")
      assert.ok(!running(sleeper), 'the process the test file started was stopped')
      assert.deepEqual(readdirSync(tmp), [], 'nothing left in the temporary directory')
    })
})
