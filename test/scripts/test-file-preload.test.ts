import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { it } from 'node:test'
import { runToExit } from '../helpers/process.ts'

/**
 * scripts/test-file-preload.ts (loaded into every test file's process) answers node:test's
 * harness without its per-promise async hook. A harness that lost track of which test is
 * running would let failures pass, pin them on the wrong test, or hang where a test should
 * fail at once: each file below fails in one such way, and is run through node:test's `run()`
 * with and without the preload. The same tests must pass and fail, the run must exit the same,
 * and each failure must still show its error. The preload must also still do its job: a test
 * of 200,000 awaits costs a fraction of the CPU it costs with node:test's own hook.
 */
const dir = mkdtempSync(path.join(tmpdir(), 'custodian-preload-'))
const PRELOAD = path.resolve(import.meta.dirname, '../../scripts/test-file-preload.ts')
writeFileSync(path.join(dir, 'package.json'), '{"type":"module"}')

const CASES: Record<string, string> = {
  // Errors raised away from the test's own stack: in a timer, a rejection nobody handles, a
  // callback that crashes before the event a test awaits (it must fail at once, not time out).
  'timer-throw': `import { test } from 'node:test'
test('timer throw', async () => {
  setTimeout(() => { throw new Error('boom-timer') }, 5)
  await new Promise((r) => setTimeout(r, 50))
})
test('ok', () => {})`,
  rejection: `import { test } from 'node:test'
test('unhandled rejection', async () => {
  await 0
  Promise.reject(new Error('boom-rejection'))
  await new Promise((r) => setTimeout(r, 50))
})
test('ok', () => {})`,
  'crash-before-event': `import { test } from 'node:test'
import { EventEmitter, once } from 'node:events'
test('waits for an event the crashed callback never emits', async () => {
  const e = new EventEmitter()
  setTimeout(() => { throw new Error('boom-before-emit'); e.emit('done') }, 5)
  await once(e, 'done')
})
test('ok', () => {})`,
  // Files that fail while they load, before node:test has installed anything.
  'load-error': `import { test } from 'node:test'
throw new Error('boom-toplevel')
test('never registered', () => {})`,
  'missing-import': `import { test } from 'node:test'
import { nope } from './does-not-exist.ts'
test('never registered', () => { nope })`,
  'exit-handler': `import { test } from 'node:test'
process.on('exit', () => { throw new Error('boom-exit-handler') })
test('t1', () => {})`,
  // Tests, hooks and contexts looked up after an await: they belong where they are called.
  'registered-after-await': `import { test, beforeEach, getTestContext } from 'node:test'
import assert from 'node:assert/strict'
test('parent', async (t) => {
  await new Promise((r) => setTimeout(r, 2))
  test('child-after-await', () => { throw new Error('boom-child-after-await') })
  beforeEach(() => { throw new Error('boom-beforeEach-after-await') })
  await t.test('sub', () => {})
})
test('context after await', async () => {
  await new Promise((r) => setTimeout(r, 1))
  assert.equal(getTestContext()?.name, 'context after await')
})
test('next', () => {})`,
  'suite-with-hooks': `import { after, before, describe, it } from 'node:test'
for (const engine of ['a', 'b']) {
  describe('suite [' + engine + ']', () => {
    let ready = false
    before(async () => { await 0; ready = true })
    after(async () => { await 0 })
    it('sees its before hook', async () => { await 0; if (!ready) throw new Error('no before') })
    it('registers after after await', async () => { await 0; after(() => { throw new Error('boom-late-after') }) })
  })
}`,
}
const runner = path.join(dir, 'run.mjs')
writeFileSync(
  runner,
  `import { run } from 'node:test'
const [preload, ...files] = process.argv.slice(2)
const stream = run({ files, timeout: 30000, execArgv: preload === 'none' ? [] : ['--import', preload] })
const fails = [], passes = [], errors = []
stream.on('test:fail', (d) => { fails.push(d.nesting + ':' + d.name); errors.push(String(d.details?.error?.cause ?? d.details?.error)); if (!d.todo) process.exitCode = 1 })
stream.on('test:pass', (d) => passes.push(d.nesting + ':' + d.name))
stream.on('test:diagnostic', (d) => { if (/boom/.test(d.message)) errors.push(d.message) })
stream.on('end', () => {})
for await (const _ of stream);
process.stdout.write(JSON.stringify({ fails: fails.sort(), passes: passes.sort(), errors }))
`,
)

async function outcome(
  file: string,
  preload: string,
): Promise<{ code: number | null; fails: string[]; passes: string[]; errors: string[] }> {
  const { code, output } = await runToExit([runner, preload, file], {})
  const json = output.slice(output.lastIndexOf('{"fails"'))
  return { code, ...(JSON.parse(json) as { fails: string[]; passes: string[]; errors: string[] }) }
}

for (const [name, source] of Object.entries(CASES)) {
  it(`a file that fails by ${name}: the same tests fail with the preload as without, each with its error`, async () => {
    const file = path.join(dir, `${name}.test.ts`)
    writeFileSync(file, source)
    const [without, withPreload] = await Promise.all([outcome(file, 'none'), outcome(file, PRELOAD)])
    assert.equal(without.code, 1, `the case fails without the preload: ${JSON.stringify(without)}`)
    assert.equal(withPreload.code, without.code)
    assert.deepEqual(withPreload.fails, without.fails)
    assert.deepEqual(withPreload.passes, without.passes)
    for (const boom of without.errors.join('\n').match(/boom-[a-z-]+/g) ?? [])
      assert.ok(withPreload.errors.join('\n').includes(boom), `${boom} is reported with the preload too`)
  })
}

it('costs a fraction of node:test’s own hook: 200,000 awaits in a test', async () => {
  const file = path.join(dir, 'awaits.test.ts')
  writeFileSync(
    file,
    `import { test } from 'node:test'
test('awaits', async () => {
  const start = process.cpuUsage()
  for (let i = 0; i < 200_000; i++) await Promise.resolve(i)
  const used = process.cpuUsage(start)
  throw new Error('cpu ' + (used.user + used.system))
})`,
  )
  const cpu = async (preload: string) => {
    const { errors } = await outcome(file, preload)
    return Number(/cpu (\d+)/.exec(errors.join('\n'))?.[1])
  }
  // CPU time, not wall time, and a ratio of the two in one test: the machine's load moves both.
  const without = await cpu('none')
  const withPreload = await cpu(PRELOAD)
  assert.ok(withPreload * 3 < without, `with the preload ${withPreload} µs, without ${without} µs`)
})
