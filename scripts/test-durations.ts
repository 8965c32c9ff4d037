/**
 * A node:test reporter that records how long each test file took, so that `npm test`
 * can start the longest files first (longest-processing-time-first scheduling: with a
 * few workers, a long file started last is what makes a run long).
 *
 * It writes `{ "<unit>": <seconds> }` as JSON to its destination, for the units that ran
 * (a unit: a test file, or one engine's half of it, see {@link unitName}); scripts/test.ts
 * merges that into test/durations.json when asked to record (CUSTODIAN_TEST_RECORD_DURATIONS=1).
 * A unit's time is its process's, start to exit, in seconds.
 */
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import type { TestEvent } from 'node:test/reporters'

const root = path.resolve(import.meta.dirname, '..')
export const DURATIONS_FILE = path.join(root, 'test', 'durations.json')
/** How a per-engine wrapper's name ends: `.cache/split[-<namespace>]/<file>.<engine>.split.test.ts`. */
export const SPLIT_SUFFIX = '.split.test.ts'

/** The unit a test file stands for: its path, or `<path> [<engine>]` for a per-engine wrapper. */
export function unitName(file: string): string {
  const relative = path.relative(root, file)
  const split = new RegExp(`^\\.cache/split(?:-[a-z0-9]+)?/(.+)\\.(\\w+)${SPLIT_SUFFIX.replaceAll('.', '\\.')}$`).exec(
    relative,
  )
  return split === null ? relative : `${split[1]} [${split[2]}]`
}

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
    // The file's own entry (named after its path) completes when its process ends: its time
    // from start to exit. Tests inside carry the file where they were declared (a helper's,
    // for forEachEngine suites), so they cannot say which unit they ran in.
    if (event.type !== 'test:complete') continue
    const { file, name, nesting, details } = event.data
    if (nesting !== 0 || file === undefined || name !== file) continue
    totals.set(unitName(file), details.duration_ms / 1000)
  }
  yield `${JSON.stringify(Object.fromEntries(totals))}\n`
}
