import assert from 'node:assert/strict'
import { mkdtempSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'
import { check, ensure, explain, type Probe } from '../../scripts/prerequisites.ts'
import { runToExit } from '../helpers/process.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')
const file = (f: string) => path.join(ROOT, f)
const bare: Probe = { onPath: () => false, exists: () => false, userExists: () => false, isRoot: () => false }
const complete: Probe = { onPath: () => true, exists: () => true, userExists: () => true, isRoot: () => false }

/** The README's test command works on a fresh machine: it installs what the tests run, or says at once what to install. */
describe('test prerequisites', () => {
  it('asks each test file only for the tools it runs', () => {
    const needs = (f: string, postgres = true) => check([file(f)], { postgres, probe: bare }).flatMap((u) => u.need.apt)
    assert.deepEqual(needs('test/vault/pkcs11.test.ts'), ['softhsm2'])
    assert.deepEqual(needs('test/disclosure/security-txt.test.ts'), ['gnupg'])
    assert.deepEqual(needs('test/privacy/backups.test.ts'), ['postgresql-client'])
    assert.deepEqual(needs('test/privacy/backups.test.ts', false), [], 'pg_dump only matters with PostgreSQL tests')
    assert.deepEqual(needs('test/vault/db-rotation.test.ts'), ['postgresql-15', 'util-linux'])
    assert.deepEqual(needs('test/vault/sources.test.ts'), [])
    assert.deepEqual(needs('src/modules/compliance/render.test.ts', false), ['poppler-utils', 'fonts-dejavu-core'])
    assert.deepEqual(
      check([file('test/vault/pkcs11.test.ts'), file('test/disclosure/security-txt.test.ts')], {
        postgres: true,
        probe: complete,
      }),
      [],
    )
  })

  it('names exactly what is missing and the command that installs it', () => {
    const message = explain(
      check([file('test/vault/pkcs11.test.ts'), file('test/disclosure/security-txt.test.ts')], {
        postgres: false,
        probe: bare,
      }),
    )
    assert.match(message, /softhsm2-util, \/usr\/lib\/softhsm\/libsofthsm2\.so/)
    assert.match(message, /missing gpg, gpgconf/)
    assert.match(message, /sudo apt-get install -y softhsm2 gnupg/)
    // Not root, or not allowed to install: the message, nothing run.
    assert.equal(
      ensure([file('test/vault/pkcs11.test.ts')], {
        postgres: false,
        probe: bare,
        log: () => assert.fail('no install'),
      })?.includes('softhsm2'),
      true,
    )
  })

  it('stops at once, before preparing any database, when a tool is missing', async () => {
    // A PATH with node and nothing else: no gpg.
    const bin = mkdtempSync(path.join(tmpdir(), 'custodian-bare-path-'))
    symlinkSync(process.execPath, path.join(bin, 'node'))
    const started = Date.now()
    const run = await runToExit(
      [file('scripts/test.ts'), 'test/disclosure/security-txt.test.ts'],
      { PATH: bin, CUSTODIAN_TEST_NO_INSTALL: '1', CUSTODIAN_TEST_NAMESPACE: 'prereq' },
      60_000,
    )
    assert.equal(run.code, 1, run.output)
    assert.match(run.output, /GnuPG/)
    assert.match(run.output, /apt-get install -y gnupg/)
    assert.doesNotMatch(run.output, /PostgreSQL|▶|tests \d+/, 'nothing prepared, nothing run')
    assert.ok(Date.now() - started < 30_000, 'at once')
  })
})
