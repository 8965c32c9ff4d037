import assert from 'node:assert/strict'
import { chmodSync, mkdtempSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'
import { BUCKETS, createShredRing, ShredRingError } from './shred-ring.ts'

describe('shred ring (P7.2)', () => {
  const fresh = () => createShredRing(path.join(mkdtempSync(path.join(tmpdir(), 'custodian-ring-')), 'ring.json'))

  it('is created once, mode 0600, with epoch 1 of every bucket', () => {
    const ring = fresh()
    ring.create()
    assert.equal(statSync(ring.file).mode & 0o777, 0o600)
    assert.deepEqual(ring.epochs(0), [1])
    assert.deepEqual(ring.epochs(BUCKETS - 1), [1])
    assert.throws(() => ring.create(), ShredRingError)
  })

  it('seals under an epoch, and nothing opens it once the epoch is retired', () => {
    const ring = fresh()
    ring.create()
    const sealed = ring.seal(7, 1, Buffer.from('wrapped subject key'), 'subject/a')
    assert.equal(ring.open(7, 1, sealed, 'subject/a').toString(), 'wrapped subject key')
    assert.throws(() => ring.open(7, 1, sealed, 'subject/b'), /authenticate/, 'bound to its object')
    assert.equal(ring.advance(7), 2)
    assert.equal(ring.current(7), 2)
    ring.retire(7, 1)
    assert.throws(() => ring.open(7, 1, sealed, 'subject/a'), ShredRingError)
    assert.throws(() => ring.retire(7, 2), ShredRingError, 'a bucket keeps one epoch')
    assert.deepEqual(ring.epochs(8), [1], 'other buckets untouched')
  })

  it('sees another process’s changes, and refuses a file others can read', () => {
    const ring = fresh()
    ring.create()
    const other = createShredRing(ring.file)
    assert.equal(other.current(3), 1)
    ring.advance(3)
    assert.equal(other.current(3), 2, 'a newer file is read again')
    chmodSync(ring.file, 0o644)
    assert.throws(() => createShredRing(ring.file).current(3), /readable by group or others/)
  })
})
