import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'

const ROOT = path.resolve(import.meta.dirname, '../..')

/** Runs the prepare script as npm does: with sh, the package's own Node first on PATH (node_modules/.bin/node, Node 24). */
function prepare(script: string, cwd: string, template: string, seed = path.join(path.dirname(template), 'seed')) {
  return spawnSync('sh', ['-c', script], {
    cwd,
    // The compile cache's seed beside the template, never the checkout's (other test files
    // start services that copy that one).
    env: {
      PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}`,
      CUSTODIAN_PGLITE_TEMPLATE: template,
      CUSTODIAN_COMPILE_CACHE_SEED: seed,
    },
    encoding: 'utf8',
    timeout: 300_000,
  })
}

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
      const run = () => prepare(scripts.prepare as string, ROOT, path.join(dir, 'template'))
      const first = run()
      assert.equal(first.status, 0, first.stderr)
      assert.match(first.stdout, /Built the embedded database's template in .*template/)
      assert.ok(existsSync(path.join(dir, 'template', 'manifest.json')), 'the template has its manifest')
      assert.match(first.stdout, /Prepared the first start's compile cache in .*seed/)
      assert.ok(existsSync(path.join(dir, 'seed')), 'and the compile cache a first start copies')
      const again = run()
      assert.equal(again.status, 0, again.stderr)
      assert.match(again.stdout, /is current/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('never fails an install: skipped where the script is not there yet (the dependency layer of the image), with the template off, or where it cannot be written', () => {
    const script = (
      JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
    ).scripts.prepare as string
    const bare = mkdtempSync(path.join(tmpdir(), 'prepare-bare-'))
    try {
      const layer = prepare(script, bare, path.join(bare, 'template'))
      assert.equal(layer.status, 0, layer.stderr)
      assert.ok(!existsSync(path.join(bare, 'template')))
      const off = prepare(script, ROOT, 'off')
      assert.equal(off.status, 0, off.stderr)
      assert.match(off.stdout, /CUSTODIAN_PGLITE_TEMPLATE=off: no template built/)
      const unwritable = prepare(script, ROOT, '/dev/null/template')
      assert.equal(unwritable.status, 0, unwritable.stderr)
      assert.match(unwritable.stderr, /could not be built in \/dev\/null\/template .*the first start builds it/)
    } finally {
      rmSync(bare, { recursive: true, force: true })
    }
  })
})
