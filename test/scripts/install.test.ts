import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'

const ROOT = path.resolve(import.meta.dirname, '../..')

// The README's first line, `npm ci && npm start`: the first start copies the embedded
// database's migrated template (issue 18: first start ≤ 3 s) because `npm ci` built it —
// npm runs the package's `prepare` script after installing the dependencies.
describe('npm ci builds the embedded database template', () => {
  it("the package's prepare script builds a current template, and says so; run again, it finds it current", () => {
    const scripts = (
      JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
    ).scripts
    assert.ok(scripts.prepare, 'package.json has a prepare script')
    const dir = mkdtempSync(path.join(tmpdir(), 'prepare-template-'))
    try {
      const run = () =>
        spawnSync('sh', ['-c', scripts.prepare as string], {
          cwd: ROOT,
          // As npm runs it: the package's own Node first on PATH (node_modules/.bin/node, Node 24).
          env: {
            PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}`,
            CUSTODIAN_PGLITE_TEMPLATE: path.join(dir, 'template'),
          },
          encoding: 'utf8',
          timeout: 300_000,
        })
      const first = run()
      assert.equal(first.status, 0, first.stderr)
      assert.match(first.stdout, /Built the embedded database's template in .*template/)
      assert.ok(existsSync(path.join(dir, 'template', 'manifest.json')), 'the template has its manifest')
      const again = run()
      assert.equal(again.status, 0, again.stderr)
      assert.match(again.stdout, /is current/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
