import assert from 'node:assert/strict'
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'
import { createLocalRootKey, loadLocalRootKey } from './root-key.ts'
import { issueToken, parseToken, secretMatches } from './tokens.ts'

describe('root key (local provider)', () => {
  const dir = () => mkdtempSync(path.join(tmpdir(), 'rootkey-'))

  it('creates a 32-byte key readable only by its owner, and refuses to overwrite it', () => {
    const file = path.join(dir(), 'root.key')
    createLocalRootKey(file)
    assert.equal(loadLocalRootKey(file).length, 32)
    assert.throws(() => createLocalRootKey(file), /EEXIST/)
  })

  it('refuses a key of the wrong size, with loose permissions, or missing', () => {
    const short = path.join(dir(), 'short.key')
    writeFileSync(short, Buffer.alloc(31), { mode: 0o600 })
    assert.throws(() => loadLocalRootKey(short), /exactly 32/)
    const loose = path.join(dir(), 'loose.key')
    writeFileSync(loose, Buffer.alloc(32))
    chmodSync(loose, 0o644)
    assert.throws(() => loadLocalRootKey(loose), /readable by group or others/)
    assert.throws(() => loadLocalRootKey(path.join(dir(), 'absent.key')), /custodian init/)
  })
})

describe('credentials', () => {
  it('parses only its own kind, and matches only the right secret', () => {
    const issued = issueToken('cst_api')
    const parsed = parseToken('cst_api', issued.token)
    assert.ok(parsed)
    assert.equal(parsed.id, issued.id)
    assert.ok(secretMatches(parsed.secret, issued.secretHash))
    assert.equal(
      secretMatches(`${parsed.secret.slice(0, -1)}A`, issued.secretHash) && !parsed.secret.endsWith('A'),
      false,
    )
    assert.equal(parseToken('cst_ses', issued.token), undefined)
    assert.equal(parseToken('cst_api', `${issued.token}x`), undefined)
    assert.equal(parseToken('cst_api', ''), undefined)
  })
})
