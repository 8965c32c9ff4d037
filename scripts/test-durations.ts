/**
 * A node:test reporter that records how long each test file took, so that `npm test`
 * can start the longest files first (longest-processing-time-first scheduling: with a
 * few workers, a long file started last is what makes a run long).
 *
 * It writes `{ "<file relative to the project>": <seconds> }` as JSON to its destination,
 * for the files that ran; scripts/test.ts merges that into test/durations.json when asked
 * to record (CUSTODIAN_TEST_RECORD_DURATIONS=1). A file's time is the sum of its top-level
 * tests' durations (they run one after another in the file's own process), in seconds.
 */
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import type { TestEvent } from 'node:test/reporters'

const root = path.resolve(import.meta.dirname, '..')
export const DURATIONS_FILE = path.join(root, 'test', 'durations.json')

/** Reads test/durations.json: seconds by file path relative to the project; `{}` when absent or unreadable. */
export function readDurations(): Record<string, number> {
  if (!existsSync(DURATIONS_FILE)) return {}
  try {
    const parsed: unknown = JSON.parse(readFileSync(DURATIONS_FILE, 'utf8'))
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, number>) : {}
  } catch {
    return {}
  }
}

export default async function* durations(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  const totals = new Map<string, number>()
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue
    const { file, nesting, details } = event.data
    if (nesting !== 0 || file === undefined) continue
    const relative = path.relative(root, file)
    totals.set(relative, (totals.get(relative) ?? 0) + details.duration_ms / 1000)
  }
  yield `${JSON.stringify(Object.fromEntries(totals))}\n`
}
