import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'
import { currentManifest, templateIsCurrent, usableTemplate, type TemplateManifest } from './template.ts'

/** A template directory holding `manifest` (and a PG_VERSION, as a real data directory has). */
function fakeTemplate(manifest: TemplateManifest): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'custodian-template-'))
  mkdirSync(path.join(dir, 'pgdata'))
  writeFileSync(path.join(dir, 'pgdata', 'PG_VERSION'), '18\n')
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest))
  return dir
}

describe('the embedded database template', () => {
  const current = currentManifest()

  it('is used when it holds every migration, or the first ones (the rest are applied after the copy)', () => {
    assert.ok(templateIsCurrent(fakeTemplate(current)))
    const older = { ...current, migrations: current.migrations.slice(0, -2) }
    assert.deepEqual(usableTemplate(fakeTemplate(older)), older)
    assert.equal(templateIsCurrent(fakeTemplate(older)), false)
  })

  it('is not used when written by another PGlite release, a migration differs, is missing, or is unknown', () => {
    assert.equal(usableTemplate(fakeTemplate({ ...current, pglite: '0.0.1' })), undefined)
    const edited = current.migrations.map((m, i) => (i === 3 ? { ...m, sha256: '0'.repeat(64) } : m))
    assert.equal(usableTemplate(fakeTemplate({ ...current, migrations: edited })), undefined)
    const gap = current.migrations.filter((_, i) => i !== 1)
    assert.equal(usableTemplate(fakeTemplate({ ...current, migrations: gap })), undefined)
    const newer = [...current.migrations, { name: '9999_from_the_future', sha256: '0'.repeat(64) }]
    assert.equal(usableTemplate(fakeTemplate({ ...current, migrations: newer })), undefined)
  })

  it('is not used without a data directory or a readable manifest', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'custodian-template-'))
    assert.equal(usableTemplate(dir), undefined)
    writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(current))
    assert.equal(usableTemplate(dir), undefined, 'no pgdata/PG_VERSION')
    mkdirSync(path.join(dir, 'pgdata'))
    writeFileSync(path.join(dir, 'pgdata', 'PG_VERSION'), '18\n')
    writeFileSync(path.join(dir, 'manifest.json'), '{not json')
    assert.equal(usableTemplate(dir), undefined)
  })
})
