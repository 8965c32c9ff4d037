import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'
import { originHash, openStateStore, StateUnreadable } from './witness.state.ts'

describe('witness state', () => {
  it('survives a reopen, and leaves no temporary file behind', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'custodian-witness-state-'))
    const store = openStateStore(dir)
    const record = { origin: 'log.test/a', size: 7, rootHash: Buffer.alloc(32, 3), note: 'n\n', cosignedAt: 1 }
    await store.write(record)
    await store.write({ ...record, size: 9 })
    assert.deepEqual(await openStateStore(dir).read('log.test/a'), { ...record, size: 9 })
    assert.deepEqual(readdirSync(path.join(dir, 'state')), [`${originHash('log.test/a')}.json`])
    assert.equal(await store.read('log.test/b'), undefined)
  })

  it('refuses a record it cannot trust instead of treating the log as never cosigned', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'custodian-witness-state-'))
    openStateStore(dir)
    const file = path.join(dir, 'state', `${originHash('log.test/a')}.json`)
    writeFileSync(file, '{"origin":"log.test/a","size":')
    await assert.rejects(openStateStore(dir).read('log.test/a'), StateUnreadable)
    // A record moved under another origin's name.
    writeFileSync(
      file,
      JSON.stringify({
        origin: 'log.test/b',
        size: 1,
        rootHash: Buffer.alloc(32).toString('base64'),
        note: '',
        cosignedAt: 1,
      }),
    )
    await assert.rejects(openStateStore(dir).read('log.test/a'), StateUnreadable)
  })

  it('drops temporary files of writes a crash interrupted (never acknowledged)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'custodian-witness-state-'))
    openStateStore(dir)
    writeFileSync(path.join(dir, 'state', `${originHash('x')}.1234.tmp`), '{}')
    openStateStore(dir)
    assert.deepEqual(readdirSync(path.join(dir, 'state')), [])
  })
})
