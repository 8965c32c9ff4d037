/**
 * The test runner's child process (started by scripts/test.ts): node:test's `run()` over the
 * files in the order given — the CLI's `--test` sorts files by name, `run()` keeps the order,
 * which is what lets the longest files start first.
 *
 * Arguments: the files. Environment: CUSTODIAN_TEST_CONCURRENCY (files at once),
 * CUSTODIAN_TEST_DURATIONS_OUT (when set, the durations reporter writes there).
 * Output: the spec reporter on standard output, ending with its summary; exit status 1
 * when any test failed.
 */
import { createWriteStream } from 'node:fs'
import { constants } from 'node:os'
import path from 'node:path'
import { run } from 'node:test'
import { spec } from 'node:test/reporters'
import durations from './test-durations.ts'

const files = process.argv.slice(2).map((file) => path.resolve(file))
// Interrupted, the run stops its test files' processes (node:test kills them when its signal
// aborts) before this process ends, so that scripts/test.ts removes the run's temporary
// directory with nothing still writing into it.
const interrupted = new AbortController()
// Every signal handled for the process's life (a terminal's Ctrl-C and the one scripts/test.ts
// passes on arrive both): the first aborts, the others change nothing.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
  process.on(signal, () => {
    if (interrupted.signal.aborted) return
    process.exitCode = 128 + constants.signals[signal]
    interrupted.abort()
  })
const stream = run({
  files,
  signal: interrupted.signal,
  concurrency: Number(process.env.CUSTODIAN_TEST_CONCURRENCY ?? 3),
  // A hang detector, not a speed target: a test that starts several services and CLI
  // processes (each booting PGlite) takes minutes while the longest files run together.
  timeout: 600_000,
  // node:test's async hook made inert in each test file's process (the module says why).
  execArgv: ['--import', path.join(import.meta.dirname, 'test-file-preload.ts')],
})
stream.on('test:fail', (data) => {
  if (!data.todo && !interrupted.signal.aborted) process.exitCode = 1
})
stream.compose(spec).pipe(process.stdout)
const out = process.env.CUSTODIAN_TEST_DURATIONS_OUT
if (out) stream.compose(durations).pipe(createWriteStream(out))
