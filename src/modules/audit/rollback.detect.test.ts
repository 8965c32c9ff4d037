import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { appendFileSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'
import { ed25519FromSeed } from '../../crypto/keys.ts'
import { checkpointOrigin, checkpointText, signNote } from './audit.note.ts'
import { checkpointOfNote, createFileWitness } from './rollback.detect.ts'

const log = ed25519FromSeed(randomBytes(32))
const stranger = ed25519FromSeed(randomBytes(32))
const raw = (signer: typeof log) => Buffer.from(signer.publicKey, 'base64url')

/** A checkpoint note of `orgId`'s log at `size`, signed as audit.witness.ts writes it to the file (`note\n`). */
function note(orgId: string, size: number, hash = randomBytes(32), signer = log): string {
  const origin = checkpointOrigin('custodian.test', orgId)
  return `${signNote(checkpointText(origin, size, hash), origin, raw(signer), (m) => signer.sign(m))}\n`
}

describe('the witness file read back for rollback detection (P8.1)', () => {
  it('P8.1: keeps per org the largest checkpoint signed by the log’s key, reading only what was appended', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'rollback-file-')), 'witness.notes')
    const witness = createFileWitness({ file, publicKeys: () => [log.publicKey] })
    const a = randomUUID()
    const b = randomUUID()
    await witness.refresh()
    assert.equal(witness.newest(a), undefined, 'a missing file holds nothing')

    const root5 = randomBytes(32)
    writeFileSync(file, note(a, 3) + note(a, 5, root5) + note(b, 2) + note(a, 9, randomBytes(32), stranger))
    await witness.refresh()
    assert.deepEqual(
      witness.newest(a),
      { source: 'file', size: 5, hash: root5.toString('hex') },
      'another key’s note is not counted',
    )
    assert.equal(witness.newest(b)?.size, 2)

    // A note being written (its text, not yet its signature): kept for the next read, not lost.
    const next = note(a, 7)
    const cut = next.indexOf('\n\n') + 2
    appendFileSync(file, next.slice(0, cut))
    await witness.refresh()
    assert.equal(witness.newest(a)?.size, 5)
    appendFileSync(file, next.slice(cut))
    await witness.refresh()
    assert.equal(witness.newest(a)?.size, 7)

    // At the same size the later note counts (a chain continued after an acknowledged fork).
    const later = randomBytes(32)
    appendFileSync(file, note(a, 7, later))
    await witness.refresh()
    assert.equal(witness.newest(a)?.hash, later.toString('hex'))

    // A rotated file (another inode) is read from its start.
    const rotated = `${file}.new`
    writeFileSync(rotated, note(b, 4))
    renameSync(rotated, file)
    await witness.refresh()
    assert.equal(witness.newest(a), undefined)
    assert.equal(witness.newest(b)?.size, 4)
  })

  it('reads a verified note’s size and hash line', () => {
    const hash = randomBytes(32)
    assert.deepEqual(checkpointOfNote('w', note(randomUUID(), 12, hash)), {
      source: 'w',
      size: 12,
      hash: hash.toString('hex'),
    })
    assert.equal(checkpointOfNote('w', 'origin\nnot-a-size\nxx\n'), undefined)
  })
})
