import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { it } from 'node:test'
import { ed25519FromSeed } from '../../src/crypto/keys.ts'
import { noteVerifierKey, openCheckpointNote, signNote } from '../../src/modules/audit/audit.note.ts'
import {
  consistencyProofOfLeaves,
  inclusionProofOfLeaves,
  leafHash,
  treeHashOfLeaves,
  verifyConsistency,
  verifyInclusion,
} from '../../src/modules/audit/merkle.ts'
import { formatCheckpoint } from '../../src/modules/audit/tlog-checkpoint.ts'

/**
 * docs/audit-format.md's worked example of version 2 is what the code computes: a verifier
 * written from the document alone gets the same bytes (issue 21).
 */
it('the worked example of docs/audit-format.md (version 2) is recomputed byte for byte', () => {
  const doc = readFileSync(path.join(import.meta.dirname, '..', '..', 'docs', 'audit-format.md'), 'utf8')
  const section = doc.slice(doc.indexOf('### A worked example'), doc.indexOf('### Building blocks'))
  const blocks = [...section.matchAll(/```\n([\s\S]*?)```/g)].map((m) => m[1] as string)
  const [eventsBlock, leavesBlock, noteBlock] = blocks as [string, string, string]
  const data = eventsBlock
    .trimEnd()
    .split('\n')
    .map((line) => Buffer.from(line, 'utf8'))
  assert.equal(data.length, 3)
  const leaves = data.map(leafHash)
  assert.deepEqual(
    leavesBlock
      .trimEnd()
      .split('\n')
      .map((line) => line.split(/\s+/)[2]),
    leaves.map((h) => h.toString('hex')),
  )
  const root2 = treeHashOfLeaves(leaves.slice(0, 2))
  const root3 = treeHashOfLeaves(leaves)
  assert.ok(section.includes(root2.toString('hex')) && section.includes(root3.toString('hex')))

  const org = '0190a6f2-7c1e-7d3a-9b2e-5f4c3d2b1a00'
  const origin = `custodian.example.com/audit/${org}`
  const signer = ed25519FromSeed(Buffer.alloc(32, 1))
  const publicKey = Buffer.from(signer.publicKey, 'base64url')
  const note = signNote(
    formatCheckpoint({ origin, size: 3, rootHash: root3, extensions: [] }),
    origin,
    publicKey,
    (m) => signer.sign(m),
  )
  assert.equal(note, noteBlock)
  assert.equal(openCheckpointNote(noteBlock, publicKey).hash, root3.toString('hex'))
  assert.ok(section.includes(noteVerifierKey(origin, publicKey)))

  const quoted = (label: string) =>
    JSON.parse(
      new RegExp(`${label} is\\s+\`(\\[[^\`]*\\])\``).exec(section.replace(/\n/g, ' '))?.[1] ?? 'null',
    ) as string[]
  const inclusion = quoted('The inclusion proof of `seq=2` in `size=3`')
  const consistency = quoted('The consistency proof from 2 to 3')
  assert.deepEqual(
    inclusion,
    inclusionProofOfLeaves(1, leaves).map((h) => h.toString('base64')),
  )
  assert.deepEqual(
    consistency,
    consistencyProofOfLeaves(2, leaves).map((h) => h.toString('base64')),
  )
  const b = (list: string[]) => list.map((h) => Buffer.from(h, 'base64'))
  assert.ok(verifyInclusion(1, 3, leaves[1] as Buffer, b(inclusion), root3))
  assert.ok(verifyConsistency(2, 3, root2, root3, b(consistency)))
})
