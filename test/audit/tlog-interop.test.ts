import assert from 'node:assert/strict'
import { before, describe, it } from 'node:test'
import { ed25519FromSeed } from '../../src/crypto/keys.ts'
import { noteVerifierKey, signNote } from '../../src/modules/audit/audit.note.ts'
import { leafHash, treeHashOfLeaves } from '../../src/modules/audit/merkle.ts'
import {
  cosignCheckpoint,
  cosignerVerifierKey,
  formatCheckpoint,
  openCheckpoint,
  verifierFromKey,
} from '../../src/modules/audit/tlog-checkpoint.ts'
import {
  formatTilePath,
  parseTilePath,
  proveConsistency,
  proveInclusion,
  rightEdgeTiles,
  storedHashCount,
  tileForIndex,
  tileHashReader,
  treeHash,
  type Tile,
} from '../../src/modules/audit/tlog-tiles.ts'
import { MemoryTlog } from '../helpers/tlog-memory.ts'
import { buildGoChecker, type GoChecker } from '../helpers/go-tlog.ts'

/**
 * Interoperability with the reference implementation, Go's golang.org/x/mod/sumdb/tlog and
 * sumdb/note (Debian's golang-golang-x-mod-dev, built from /usr/share/gocode): Go accepts
 * Custodian's notes, tiles and proofs and rejects them changed; Custodian accepts Go's.
 */

let go: GoChecker

before(() => {
  go = buildGoChecker()
})

const b64 = (h: Buffer) => h.toString('base64')
const flipped = (h: Buffer) => {
  const copy = Buffer.from(h)
  copy[0] = (copy[0] as number) ^ 0x80
  return copy
}
const leafData = (i: number) => Buffer.from(`{"event":${i},"seq":${i + 1}}`)

async function buildTree(size: number, batch: (i: number) => number) {
  const data = Array.from({ length: size }, (_, i) => leafData(i))
  const leaves = data.map((d) => leafHash(d))
  const tlog = new MemoryTlog()
  for (let at = 0; at < size; ) {
    const step = Math.max(1, Math.min(batch(at), size - at))
    await tlog.append(leaves.slice(at, at + step))
    at += step
  }
  const tiles = [...tlog.tiles.entries()].map(([key, bytes]) => {
    const [level, n] = key.split('/').map(Number) as [number, number]
    return { path: formatTilePath({ level, n, width: bytes.length / 32 }), data: bytes }
  })
  return { data, leaves, tlog, tiles }
}

for (const { size, batch, stride } of [
  { size: 300, batch: (i: number) => (i % 5) + 1, stride: (n: number) => (n <= 64 ? 1 : 13) },
  { size: 70_000, batch: () => 997, stride: () => 4999 },
]) {
  describe(`a tree of ${size} leaves, checked by Go's sumdb/tlog`, () => {
    let tree: Awaited<ReturnType<typeof buildTree>>
    let roots: Map<number, Buffer>
    const sizes: number[] = []
    const pairs: [number, number][] = []

    before(async () => {
      tree = await buildTree(size, batch)
      for (let n = 1; n <= size; n += size <= 300 ? 1 : 3331) sizes.push(n)
      sizes.push(size, 256, 257, 65_536 <= size ? 65_536 : 255)
      roots = new Map()
      const reader = tileHashReader(tree.tlog)
      for (const n of sizes) roots.set(n, await treeHash(n, reader))
      for (const n of sizes) for (let i = 0; i < n; i += stride(n)) pairs.push([i, n])
      // The roots the changed proofs are checked against (other sizes, other old sizes).
      for (const [i, n] of pairs)
        for (const other of [i, i + 1, i + 2, n + 1])
          if (other >= 1 && other <= size && !roots.has(other))
            roots.set(other, await treeHash(other, tree.tlog.storedHashes))
    })

    it('has the tiles Go makes from the same leaves, and Go computes every root from them', () => {
      assert.equal(tree.tlog.stored.size, storedHashCount(size))
      const answer = go({
        leaves: tree.data,
        size,
        root: roots.get(size),
        tiles: tree.tiles,
        treeSizes: sizes,
      })
      assert.deepEqual(answer.errors, [])
      assert.deepEqual(answer.tileErrors, [])
      for (const n of sizes) assert.equal(answer.treeHashes[n], b64(roots.get(n) as Buffer), `size ${n}`)
      if (size <= 300) for (const n of sizes) assert.ok(roots.get(n)?.equals(treeHashOfLeaves(tree.leaves.slice(0, n))))
    })

    it('makes the proofs Go makes, byte for byte, and Go accepts ours', async () => {
      const reader = tileHashReader(tree.tlog)
      const inclusion = await Promise.all(pairs.map(([i, n]) => proveInclusion(i, n, reader)))
      const consistencyPairs = pairs.map(([i, n]) => [i + 1, n] as [number, number])
      const consistency = await Promise.all(consistencyPairs.map(([m, n]) => proveConsistency(m, n, reader)))
      const answer = go({
        size,
        root: roots.get(size),
        tiles: tree.tiles,
        proveInclusion: pairs,
        proveConsistency: consistencyPairs,
        inclusion: pairs.map(([i, n], k) => ({
          index: i,
          size: n,
          leaf: tree.leaves[i],
          root: roots.get(n),
          proof: inclusion[k],
        })),
        consistency: consistencyPairs.map(([m, n], k) => ({
          old: m,
          new: n,
          oldRoot: treeHashOfPrefix(m),
          newRoot: roots.get(n),
          proof: consistency[k],
        })),
      })
      assert.deepEqual(answer.errors, [])
      assert.deepEqual(
        answer.provedInclusion?.map((p) => p ?? []),
        inclusion.map((p) => p.map(b64)),
      )
      assert.deepEqual(
        answer.provedConsistency?.map((p) => p ?? []),
        consistency.map((p) => p.map(b64)),
      )
      assert.ok(
        answer.inclusion?.every((r) => r === 'ok'),
        'Go CheckRecord accepts every inclusion proof',
      )
      assert.ok(
        answer.consistency?.every((r) => r === 'ok'),
        'Go CheckTree accepts every consistency proof',
      )
    })

    it('is rejected by Go when a proof hash, an index, a size or a tile is changed', async () => {
      const reader = tileHashReader(tree.tlog)
      const bad: Record<string, unknown>[] = []
      const badTrees: Record<string, unknown>[] = []
      for (const [i, n] of pairs.filter((_, k) => k % 7 === 0)) {
        const proof = await proveInclusion(i, n, reader)
        const root = roots.get(n) as Buffer
        const leaf = tree.leaves[i] as Buffer
        if (proof.length > 0)
          bad.push({ index: i, size: n, leaf, root, proof: [flipped(proof[0] as Buffer), ...proof.slice(1)] })
        bad.push({ index: i, size: n, leaf: flipped(leaf), root, proof })
        if (i + 1 < n) bad.push({ index: i + 1, size: n, leaf, root, proof })
        if (n + 1 <= size) bad.push({ index: i, size: n + 1, leaf, root: treeHashOfPrefix(n + 1), proof })
        const m = i + 1
        if (m < n) {
          const tp = await proveConsistency(m, n, reader)
          const good = { old: m, new: n, oldRoot: treeHashOfPrefix(m), newRoot: root }
          badTrees.push({ ...good, proof: [...tp.slice(0, -1), flipped(tp.at(-1) as Buffer)] })
          badTrees.push({ ...good, oldRoot: flipped(good.oldRoot), proof: tp })
          badTrees.push({ ...good, old: m - 1 || m + 1, oldRoot: treeHashOfPrefix(m - 1 || m + 1), proof: tp })
          if (n + 1 <= size) badTrees.push({ ...good, new: n + 1, newRoot: treeHashOfPrefix(n + 1), proof: tp })
        }
      }
      // The partial level-0 tile (read for every root) and the first full one (read to prove leaf 0) changed.
      const edge = formatTilePath(rightEdgeTiles(size)[0] as Tile)
      const tampered = tree.tiles.map((t) =>
        t.path === edge || t.path === 'tile/0/000' ? { path: t.path, data: flipped(t.data) } : t,
      )
      const answer = go({
        size,
        root: roots.get(size),
        tiles: tampered,
        treeSizes: [size],
        proveInclusion: [[0, size]],
        inclusion: bad,
        consistency: badTrees,
      })
      assert.match(
        answer.errors.join('\n'),
        /ProveRecord: .*(inconsistent|tile)/,
        'Go refuses a proof over a tampered full tile',
      )
      assert.ok(bad.length > 10 && badTrees.length > 10)
      answer.inclusion?.forEach((r, k) =>
        assert.notEqual(r, 'ok', `Go accepted changed inclusion proof ${JSON.stringify(bad[k])}`),
      )
      answer.consistency?.forEach((r, k) => assert.notEqual(r, 'ok', `Go accepted changed consistency proof ${k}`))
      assert.equal(answer.inclusion?.length, bad.length)
      assert.equal(answer.consistency?.length, badTrees.length)
      assert.match(answer.treeHashes[size] ?? '', /^error/, 'Go refuses a tree hash over a tampered tile')
    })

    function treeHashOfPrefix(n: number): Buffer {
      const root = roots.get(n)
      if (root === undefined) throw new Error(`no root of size ${n} computed`)
      return root
    }
  })
}

describe("tile paths agree with Go's Tile.Path and ParseTilePath (height 8, without the height element)", () => {
  it('formats and parses the same tiles, and places stored hashes in the same tiles', () => {
    const tiles = [
      { level: 0, n: 0, width: 1 },
      { level: 0, n: 0, width: 256 },
      { level: 1, n: 999, width: 255 },
      { level: 2, n: 1000, width: 256 },
      { level: 4, n: 1_234_067, width: 1 },
      { level: 3, n: 1_234_067_000_123, width: 17 },
    ]
    const paths = tiles.map(formatTilePath)
    assert.equal(paths[4], 'tile/4/x001/x234/067.p/1')
    const indexes = [0, 1, 2, 255, 256, 510, 511, 512, 65_535, 65_536, 131_071, 1_000_000_007, 2 ** 40 + 3]
    const answer = go({ paths, tileIndexes: indexes })
    answer.paths?.forEach((p, k) => {
      assert.equal(p.error, undefined)
      assert.deepEqual({ level: p.level, n: p.n, width: p.width }, tiles[k])
      assert.equal(p.path, paths[k])
      assert.deepEqual(parseTilePath(paths[k] as string), { kind: 'tile', tile: tiles[k] })
    })
    answer.tileForIndex?.forEach((t, k) => {
      assert.deepEqual(
        tileForIndex(indexes[k] as number).tile,
        { level: t.level, n: t.n, width: t.width },
        `index ${indexes[k]}`,
      )
    })
  })

  it('refuses the malformed paths Go refuses', () => {
    const badPaths = [
      'tile/0/00',
      'tile/0/0000',
      'tile/0/x000/001',
      'tile/0/001/x002',
      'tile/00/000',
      'tile/0/000.p/0',
      'tile/0/000.p/256',
      'tile/0/000.p/01',
      'tile/-1/000',
      'tile/0/000.p',
    ]
    const answer = go({ paths: badPaths })
    answer.paths?.forEach((p, k) => {
      assert.ok(p.error !== undefined, `Go accepted ${badPaths[k]}`)
      assert.equal(parseTilePath(badPaths[k] as string), undefined, `we accepted ${badPaths[k]}`)
    })
  })
})

describe("checkpoints and cosignatures opened by Go's sumdb/note, and Go's opened by ours", () => {
  const origin = 'custodian.example/audit/0b7e4b3c-3f6c-4a52-9a55-9ad2f0f4a1c7'
  const log = ed25519FromSeed(Buffer.alloc(32, 7))
  const witness = ed25519FromSeed(Buffer.alloc(32, 9))
  const logKey = Buffer.from(log.publicKey, 'base64url')
  const witnessKey = Buffer.from(witness.publicKey, 'base64url')
  const text = formatCheckpoint({ origin, size: 70_000, rootHash: leafHash(Buffer.from('root')), extensions: [] })

  it('Go opens our signed, cosigned checkpoint with both keys and rejects it changed', () => {
    const signed = signNote(text, origin, logKey, (m) => log.sign(m))
    const cosigned = `${signed}${cosignCheckpoint(text, 'witness.example/w1', witnessKey, (m) => witness.sign(m), 1_679_315_147)}\n`
    const vkey = noteVerifierKey(origin, logKey)
    const cosigner = cosignerVerifierKey('witness.example/w1', witnessKey)
    const tamperedTime = cosigned.replace(/(— witness\.example\/w1 )(\S+)/, (_all, prefix: string, sig: string) => {
      const bytes = Buffer.from(sig, 'base64')
      bytes[11] = (bytes[11] as number) ^ 1
      return `${prefix}${bytes.toString('base64')}`
    })
    const answer = go({
      vkey,
      cosigners: [cosigner],
      notes: [
        cosigned,
        cosigned.replace('70000', '70001'),
        tamperedTime,
        signNote(text, origin, witnessKey, (m) => witness.sign(m)),
      ],
    })
    assert.deepEqual(answer.errors, [])
    const [good, changedText, changedTime, otherKey] = answer.notes ?? []
    assert.equal(good?.error, undefined)
    assert.equal(good?.text, text)
    assert.deepEqual(good?.verified, [vkey.split('+').slice(0, 2).join('+'), cosigner.split('+').slice(0, 2).join('+')])
    assert.match(changedText?.error ?? '', /invalid signature|verifier/)
    assert.match(changedTime?.error ?? '', /invalid signature/)
    assert.match(otherKey?.error ?? '', /no verifiable signatures/)
    // Ours agrees.
    assert.throws(
      () => openCheckpoint(tamperedTime, verifierFromKey(vkey), [verifierFromKey(cosigner)]),
      /does not verify/,
    )
    const opened = openCheckpoint(cosigned, verifierFromKey(vkey), [verifierFromKey(cosigner)])
    assert.deepEqual(opened.cosignatures, [{ name: 'witness.example/w1', timestamp: 1_679_315_147 }])
  })

  it("we open Go's signed checkpoint and its cosignature with the verifier keys Go publishes", () => {
    const answer = go({ sign: text, seed: Buffer.alloc(32, 3), cosignTime: 1_700_000_000 })
    assert.deepEqual(answer.errors, [])
    const opened = openCheckpoint(answer.signed ?? '', verifierFromKey(answer.vkey ?? ''), [
      verifierFromKey(answer.cosignerVkey ?? ''),
    ])
    assert.equal(opened.checkpoint.size, 70_000)
    assert.equal(opened.checkpoint.origin, origin)
    assert.deepEqual(opened.cosignatures, [{ name: 'witness.example/go', timestamp: 1_700_000_000 }])
    assert.throws(
      () => openCheckpoint((answer.signed ?? '').replace('70000', '70001'), verifierFromKey(answer.vkey ?? '')),
      /does not verify/,
    )
  })
})
