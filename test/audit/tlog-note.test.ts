import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ed25519FromSeed } from '../../src/crypto/keys.ts'
import {
  addSignatureLines,
  noteVerifierKey,
  openNote,
  parseNote,
  parseVerifierKey,
  signNote,
} from '../../src/modules/audit/audit.note.ts'
import {
  cosignCheckpoint,
  cosignatureVerifier,
  cosignerVerifierKey,
  formatCheckpoint,
  openCheckpoint,
  parseCheckpoint,
  verifierFromKey,
} from '../../src/modules/audit/tlog-checkpoint.ts'
import {
  decodeEntryBundle,
  encodeEntryBundle,
  formatEntriesPath,
  parseTilePath,
  rightEdgeTiles,
  tilesAtLevel,
} from '../../src/modules/audit/tlog-tiles.ts'

// The examples of the C2SP specifications (github.com/C2SP/C2SP, signed-note.md,
// tlog-checkpoint.md, tlog-cosignature.md), byte for byte.
const SIGNED_NOTE_VKEY = 'example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k'
const SIGNED_NOTE =
  'This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n'
const QUASIMODO =
  'Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n\n— quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n'
const CHECKPOINT_TEXT = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n'
const COSIGNED_CHECKPOINT = `${CHECKPOINT_TEXT}
— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==
`

describe('C2SP signed notes (the specification examples)', () => {
  it('verifies the signed-note example with its verifier key, and refuses it changed', () => {
    const key = parseVerifierKey(SIGNED_NOTE_VKEY)
    assert.equal(key.name, 'example.com/foo')
    assert.equal(key.keyId.toString('hex'), '530d903a')
    assert.equal(key.type, 0x01)
    const opened = openNote(SIGNED_NOTE, [verifierFromKey(SIGNED_NOTE_VKEY)])
    assert.equal(opened.text, 'This is an example message.\n')
    assert.equal(opened.verified.length, 1)
    assert.throws(
      () => openNote(SIGNED_NOTE.replace('example message', 'exemplary message'), [verifierFromKey(SIGNED_NOTE_VKEY)]),
      /does not verify/,
    )
  })

  it('splits the Quasimodo example at its last blank line (the text may hold blank lines)', () => {
    const parsed = parseNote(QUASIMODO)
    assert.equal(
      parsed.text,
      'Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n',
    )
    assert.equal(parsed.signatures.length, 1)
    assert.equal(parsed.signatures[0]?.name, 'quasimodo.example/salvatore')
    assert.equal(parsed.signatures[0]?.keyId.toString('hex'), '367ba04b')
    assert.equal(parsed.signatures[0]?.signature.length, 64)
    // Its key is not published: no known key signed it.
    assert.throws(() => openNote(QUASIMODO, [verifierFromKey(SIGNED_NOTE_VKEY)]), /no known key/)
  })

  it('ignores signatures by unknown keys, and refuses a note whose known signature fails', () => {
    const withStranger = addSignatureLines(SIGNED_NOTE, [`— example.com/foo ${Buffer.alloc(68, 1).toString('base64')}`])
    // Same name, another key ID: unknown, ignored.
    assert.equal(openNote(withStranger, [verifierFromKey(SIGNED_NOTE_VKEY)]).unknown.length, 1)
    const forged = `${SIGNED_NOTE}— example.com/foo ${Buffer.concat([Buffer.from('530d903a', 'hex'), Buffer.alloc(64)]).toString('base64')}\n`
    assert.throws(() => openNote(forged, [verifierFromKey(SIGNED_NOTE_VKEY)]), /does not verify/)
  })

  it('refuses malformed notes and keys', () => {
    for (const bad of [
      'no signatures\n',
      'text\n\n',
      'text\n\n— example.com/foo Uw2Q\n', // under 5 bytes
      'text\n\n— example.com/foo Uw2QOkn8\n\n',
      'text\n\n- example.com/foo Uw2QOkn8srV1\n',
      'text\n\n— example.com/foo Uw2QOkn8srV1 extra\n',
      'text\n\n— example.com+foo Uw2QOkn8srV1\n',
      'te\u0007xt\n\n— example.com/foo Uw2QOkn8srV1\n',
      'text\n\n— example.com/foo Uw2QOkn8srV1',
    ])
      assert.throws(() => parseNote(bad), Error, JSON.stringify(bad))
    assert.throws(() => parseNote(Buffer.from([0x74, 0xff, 0x0a, 0x0a])), /UTF-8/)
    assert.throws(() => parseVerifierKey(SIGNED_NOTE_VKEY.replace('530d903a', '530d903b')), /key ID/)
    assert.throws(() => parseVerifierKey('example.com/foo+530d903a'), /verifier key/)
  })
})

describe('C2SP tlog-checkpoint and tlog-cosignature (the specification examples)', () => {
  it('parses the checkpoint example and formats it back byte for byte', () => {
    const checkpoint = parseCheckpoint(CHECKPOINT_TEXT)
    assert.equal(checkpoint.origin, 'example.com/behind-the-sofa')
    assert.equal(checkpoint.size, 20_852_163)
    assert.equal(checkpoint.rootHash.length, 32)
    assert.deepEqual(checkpoint.extensions, [])
    assert.equal(formatCheckpoint(checkpoint), CHECKPOINT_TEXT)
    const extended = `${CHECKPOINT_TEXT}extension line\n`
    assert.equal(formatCheckpoint(parseCheckpoint(extended)), extended)
  })

  it('reads the cosignature example: key ID, then a big-endian timestamp (1679315147), then 64 signature bytes', () => {
    const { text, signatures } = parseNote(COSIGNED_CHECKPOINT)
    assert.equal(text, CHECKPOINT_TEXT)
    const witness = signatures[1]
    assert.equal(witness?.name, 'witness.example.com/w1')
    assert.equal(witness?.keyId.toString('hex'), '8d66cf3f')
    assert.equal(witness?.signature.length, 72)
    assert.equal(witness?.signature.readBigUInt64BE(0), 1_679_315_147n)
  })

  it('refuses malformed checkpoint bodies', () => {
    for (const bad of [
      'origin\n20\n',
      'origin\n020\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n',
      'origin\n-1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n',
      'origin\n20\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n',
      'origin\n20\nCsUYapGGPo4dkMgIAUqom_Xajj7h2fB2MPA3j2jxq2I=\n',
      'origin\n20\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=',
      'origin\n20\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n',
      '\n20\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n',
    ])
      assert.throws(() => parseCheckpoint(bad), Error, JSON.stringify(bad))
  })

  it('cosigns a checkpoint so that the cosigner verifier key opens it, and binds the timestamp and text', () => {
    const log = ed25519FromSeed(Buffer.alloc(32, 1))
    const witness = ed25519FromSeed(Buffer.alloc(32, 2))
    const logKey = Buffer.from(log.publicKey, 'base64url')
    const witnessKey = Buffer.from(witness.publicKey, 'base64url')
    const signed = signNote(CHECKPOINT_TEXT, 'example.com/behind-the-sofa', logKey, (m) => log.sign(m))
    const line = cosignCheckpoint(
      CHECKPOINT_TEXT,
      'witness.example/w',
      witnessKey,
      (m) => witness.sign(m),
      1_700_000_000,
    )
    const note = addSignatureLines(signed, [line, line])
    assert.equal(note.split('\n— ').length, 3, 'a repeated line is added once')
    const vkey = cosignerVerifierKey('witness.example/w', witnessKey)
    assert.equal(parseVerifierKey(vkey).type, 0x04)
    const opened = openCheckpoint(note, verifierFromKey(noteVerifierKey('example.com/behind-the-sofa', logKey)), [
      verifierFromKey(vkey),
    ])
    assert.deepEqual(opened.cosignatures, [{ name: 'witness.example/w', timestamp: 1_700_000_000 }])
    // The cosignature is not an Ed25519 note signature (type 0x01) by the same key and name.
    const asPlain = verifierFromKey(noteVerifierKey('witness.example/w', witnessKey))
    assert.notDeepEqual(asPlain.keyId, cosignatureVerifier('witness.example/w', witnessKey).keyId)
    // The log's own key must sign; a witness alone does not open a checkpoint.
    const other = ed25519FromSeed(Buffer.alloc(32, 3))
    assert.throws(
      () =>
        openCheckpoint(
          note,
          verifierFromKey(noteVerifierKey('example.com/behind-the-sofa', Buffer.from(other.publicKey, 'base64url'))),
          [verifierFromKey(vkey)],
        ),
      /did not sign/,
    )
  })
})

describe('C2SP tlog-tiles layout (the specification examples)', () => {
  it('represents a tree of 70,000 leaves as the specification says', () => {
    assert.deepEqual(tilesAtLevel(70_000, 0), { full: 273, partial: { level: 0, n: 273, width: 112 } })
    assert.deepEqual(tilesAtLevel(70_000, 1), { full: 1, partial: { level: 1, n: 1, width: 17 } })
    assert.deepEqual(tilesAtLevel(70_000, 2), { full: 0, partial: { level: 2, n: 0, width: 1 } })
    assert.deepEqual(rightEdgeTiles(70_000), [
      { level: 0, n: 273, width: 112 },
      { level: 1, n: 1, width: 17 },
      { level: 2, n: 0, width: 1 },
    ])
  })

  it('represents a tree of 256 leaves as a full level-0 tile and a level-1 tile of width 1', () => {
    assert.deepEqual(tilesAtLevel(256, 0), { full: 1, partial: undefined })
    assert.deepEqual(rightEdgeTiles(256), [{ level: 1, n: 0, width: 1 }])
  })

  it('names entry bundles tile/entries/<N>[.p/<W>] and refuses levels above 63', () => {
    assert.equal(formatEntriesPath({ n: 1_234_067, width: 3 }), 'tile/entries/x001/x234/067.p/3')
    assert.deepEqual(parseTilePath('tile/entries/x001/x234/067.p/3'), {
      kind: 'entries',
      bundle: { n: 1_234_067, width: 3 },
    })
    assert.deepEqual(parseTilePath('tile/63/000'), { kind: 'tile', tile: { level: 63, n: 0, width: 256 } })
    assert.equal(parseTilePath('tile/64/000'), undefined)
    assert.equal(parseTilePath('tile/entries/000.p/256'), undefined)
  })

  it('encodes entry bundles as big-endian uint16 length-prefixed entries', () => {
    const entries = [Buffer.from('{"seq":1}'), Buffer.alloc(0), Buffer.alloc(300, 7)]
    const bundle = encodeEntryBundle(entries)
    assert.equal(bundle.subarray(0, 2).toString('hex'), '0009')
    assert.deepEqual(decodeEntryBundle(bundle), entries)
    assert.throws(() => decodeEntryBundle(bundle.subarray(0, bundle.length - 1)), RangeError)
    assert.throws(() => encodeEntryBundle([Buffer.alloc(65_536)]), RangeError)
  })
})
