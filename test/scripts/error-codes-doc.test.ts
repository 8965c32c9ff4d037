import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, it } from 'node:test'
import { ERROR_STATUS } from '../../src/errors.ts'
import { BACKUP_REFUSAL_CODES } from '../../src/modules/ops/backup/backup.file.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')
const page = readFileSync(path.join(ROOT, 'docs/errors.md'), 'utf8')

/** The rows of docs/errors.md's tables: `| \`CODE\` | …`, by code, with the cells after it. */
function documented(): Map<string, string[]> {
  const rows = new Map<string, string[]>()
  for (const line of page.split('\n')) {
    const match = /^\| `([A-Z0-9_]+)` \|(.*)\|$/.exec(line)
    if (match === null) continue
    assert.equal(rows.has(match[1] as string), false, `${match[1]} is documented twice`)
    rows.set(
      match[1] as string,
      (match[2] as string).split('|').map((cell) => cell.trim()),
    )
  }
  return rows
}

// docs/errors.md is where a caller looks a code up: every stable code the service or the
// CLI answers has its row, and no row names a code that is gone.
describe('docs/errors.md documents every stable error code', () => {
  it('every code of ERROR_STATUS, with its HTTP status', () => {
    const rows = documented()
    for (const [code, status] of Object.entries(ERROR_STATUS)) {
      const row = rows.get(code)
      assert.ok(row !== undefined, `${code} is not documented in docs/errors.md`)
      assert.equal(
        row[0],
        String(status),
        `${code}: docs/errors.md gives status ${row[0]}, the service answers ${status}`,
      )
    }
  })

  it('every code a backup command refuses with (BACKUP_*)', () => {
    const rows = documented()
    for (const code of BACKUP_REFUSAL_CODES) assert.ok(rows.has(code), `${code} is not documented in docs/errors.md`)
  })

  it('no documented code that neither the service nor the CLI has', () => {
    const known = new Set<string>([...Object.keys(ERROR_STATUS), ...BACKUP_REFUSAL_CODES])
    for (const code of documented().keys())
      assert.ok(known.has(code), `docs/errors.md documents ${code}, which no code answers`)
  })
})
