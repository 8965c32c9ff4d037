import assert from 'node:assert/strict'
import { globSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, it } from 'node:test'
import { PROMISES } from '../../src/modules/compliance/catalogue.ts'
import { CHECKS } from '../../src/modules/compliance/checks/index.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')
const CATALOG = readFileSync(path.join(ROOT, 'docs/promises.md'), 'utf8')

/** The promises of docs/promises.md's catalogue tables (every row before "Framework mappings"). */
function promiseIds(): string[] {
  const catalogue = CATALOG.slice(0, CATALOG.indexOf('## Framework mappings'))
  return [...catalogue.matchAll(/^\| (P\d+\.\d+) \|/gm)].map((m) => m[1] as string)
}

/** The mapping rows: ID → [SOC 2, ISO/IEC 27001:2022 Annex A, GDPR] cells. */
function mappings(): Map<string, [string, string, string]> {
  const section = CATALOG.slice(CATALOG.indexOf('## Framework mappings'))
  const rows = new Map<string, [string, string, string]>()
  for (const m of section.matchAll(/^\| (P\d+\.\d+) \| ([^|]*) \| ([^|]*) \| ([^|]*) \|$/gm))
    rows.set(m[1] as string, [(m[2] as string).trim(), (m[3] as string).trim(), (m[4] as string).trim()])
  return rows
}

/**
 * The criteria of the AICPA Trust Services Criteria (2017): the common criteria CC1–CC9 and
 * the additional ones for availability (A1), confidentiality (C1), processing integrity (PI1)
 * and privacy (P1–P8), each with its number of points.
 */
const TSC: Record<string, number> = {
  CC1: 5,
  CC2: 3,
  CC3: 4,
  CC4: 2,
  CC5: 3,
  CC6: 8,
  CC7: 5,
  CC8: 1,
  CC9: 2,
  A1: 3,
  C1: 2,
  PI1: 5,
  P1: 1,
  P2: 1,
  P3: 2,
  P4: 3,
  P5: 2,
  P6: 7,
  P7: 1,
  P8: 1,
}

/** ISO/IEC 27001:2022 Annex A: themes 5 (37 organizational), 6 (8 people), 7 (14 physical), 8 (34 technological). */
const ANNEX_A: Record<string, number> = { '5': 37, '6': 8, '7': 14, '8': 34 }

/** Every test name (the first argument of it/describe/test/forEachEngine) in the project's test files. */
function testNames(): string[] {
  const files = globSync(['test/**/*.test.ts', 'src/**/*.test.ts'], { cwd: ROOT })
  const names: string[] = []
  for (const file of files) {
    const text = readFileSync(path.join(ROOT, file), 'utf8')
    for (const m of text.matchAll(/\b(?:it|describe|test|forEachEngine)\(\s*(['"`])((?:(?!\1)[^\\]|\\.)*)\1/g))
      names.push(m[2] as string)
  }
  return names
}

/**
 * Promises whose implementation is still an open issue: no test can carry their ID yet. The
 * list must shrink to nothing — a promise that gains its named test must leave it (the test
 * below fails otherwise), and no promise may join it.
 */
const NOT_YET: Record<string, string> = {}

describe('docs/promises.md: the catalogue of promises (issue 15)', () => {
  it('lists every promise once, in order', () => {
    const ids = promiseIds()
    assert.ok(ids.length >= 46, `${ids.length} promises`)
    assert.equal(new Set(ids).size, ids.length, 'no ID twice')
  })

  it('maps every promise to SOC 2, ISO/IEC 27001:2022 Annex A and the GDPR, each reference one that exists', () => {
    const rows = mappings()
    assert.deepEqual([...rows.keys()], promiseIds(), 'one mapping row per promise, in the catalogue’s order')
    for (const [id, [soc2, iso, gdpr]] of rows) {
      for (const ref of soc2.split(', ')) {
        const m = /^(CC\d|A1|C1|PI1|P\d)\.(\d+)$/.exec(ref)
        assert.ok(m !== null && Number(m[2]) >= 1 && Number(m[2]) <= (TSC[m[1] as string] ?? 0), `${id}: SOC 2 ${ref}`)
      }
      for (const ref of iso.split(', ')) {
        const m = /^([5-8])\.(\d+)$/.exec(ref)
        assert.ok(
          m !== null && Number(m[2]) >= 1 && Number(m[2]) <= (ANNEX_A[m[1] as string] ?? 0),
          `${id}: ISO ${ref}`,
        )
      }
      if (gdpr !== '—')
        for (const ref of gdpr.split(', ')) {
          const m = /^Art\. (\d+)$/.exec(ref)
          assert.ok(m !== null && Number(m[1]) >= 1 && Number(m[1]) <= 99, `${id}: GDPR ${ref}`)
        }
    }
  })

  it('has an automated test carrying each promise’s ID in its name, but those still open (and only those)', () => {
    const names = testNames()
    const untested = promiseIds().filter((id) => {
      const word = new RegExp(`(^|[^\\d.])${id.replace('.', '\\.')}(?![\\d])`)
      return !names.some((name) => word.test(name))
    })
    assert.deepEqual(untested, Object.keys(NOT_YET), 'the promises without a named test are exactly those still open')
  })

  it('has a live compliance check for every promise (docs/compliance.md), and the code’s catalogue is this one', () => {
    const checked = new Set(CHECKS.map((c) => c.promise))
    assert.deepEqual(
      promiseIds().filter((id) => !checked.has(id)),
      [],
      'every promise has a live check',
    )
    assert.deepEqual(
      PROMISES.map((p) => p.id),
      promiseIds(),
      'src/modules/compliance/catalogue.ts lists the promises of docs/promises.md, in order',
    )
    const rows = mappings()
    for (const p of PROMISES) {
      const [soc2, iso, gdpr] = rows.get(p.id) ?? ['', '', '']
      assert.deepEqual(
        [p.frameworks.soc2.join(', '), p.frameworks.iso27001.join(', '), p.frameworks.gdpr.join(', ') || '—'],
        [soc2, iso, gdpr],
        `${p.id}: the same mappings in the code and the docs`,
      )
      const row = new RegExp(`^\\| ${p.id.replace('.', '\\.')} \\| ([^|]*) \\| [^|]* \\| ([^|]*) \\|$`, 'm').exec(
        CATALOG,
      )
      assert.equal(row?.[1]?.trim(), p.promise, `${p.id}: the same promise in the code and the docs`)
      assert.equal(row[2]?.trim(), p.enforcedBy, `${p.id}: the same enforcement in the code and the docs`)
    }
    const guide = readFileSync(path.join(ROOT, 'docs/compliance.md'), 'utf8')
    for (const c of CHECKS) assert.ok(guide.includes(`| \`${c.id}\` |`), `docs/compliance.md lists ${c.id}`)
  })
})
