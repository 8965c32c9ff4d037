import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'

/**
 * Prometheus's own checker of the text exposition format: `promtool check metrics` (Debian's
 * `prometheus` package) parses what it is given and lints names, types and help. Passes only
 * when it exits 0 and reports nothing.
 */
export function assertPromtoolAccepts(exposition: string): void {
  const run = spawnSync('promtool', ['check', 'metrics'], { input: exposition, encoding: 'utf8' })
  if (run.error !== undefined) throw run.error
  assert.equal(run.status, 0, `promtool check metrics refused the exposition:\n${run.stdout}${run.stderr}`)
  assert.equal(`${run.stdout}${run.stderr}`.trim(), '', 'promtool check metrics reported problems')
}

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/**
 * The samples of a text exposition (already checked by promtool): one per line
 * `name{label="value",…} value`, label values unescaped (`\\`, `\"`, `\n`).
 */
export function samplesOf(exposition: string): Sample[] {
  const samples: Sample[] = []
  for (const line of exposition.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line)
    assert.ok(match !== null, `not a sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[pair[1] as string] = (pair[2] as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c))
    samples.push({ name: match[1] as string, labels, value: Number(match[3]) })
  }
  return samples
}

/** The metric families an exposition declares (`# TYPE name type`), by name. */
export function familiesOf(exposition: string): Map<string, string> {
  const families = new Map<string, string>()
  for (const match of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm))
    families.set(match[1] as string, match[2] as string)
  return families
}

/** The value of the one sample of `name` whose labels include `labels` (0 when there is none). */
export function valueOf(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value),
  )
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} matches ${found.length} samples`)
  return found[0]?.value ?? 0
}
