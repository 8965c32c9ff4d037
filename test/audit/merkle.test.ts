import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { before, describe, it } from 'node:test'
import {
  EMPTY_TREE_HASH,
  consistencyProofOfLeaves,
  inclusionProofOfLeaves,
  leafHash,
  treeHashOfLeaves,
  verifyConsistency,
  verifyInclusion,
} from '../../src/modules/audit/merkle.ts'
import {
  proveConsistency,
  proveInclusion,
  storedHashCount,
  storedHashIndex,
  splitStoredHashIndex,
  tileHashReader,
  treeHash,
} from '../../src/modules/audit/tlog-tiles.ts'
import { MemoryTlog } from '../helpers/tlog-memory.ts'

const hex = (h: Buffer) => h.toString('hex')
const fromHex = (s: string) => Buffer.from(s, 'hex')
const leafData = (i: number) => Buffer.from(`{"seq":${i + 1}}`)
const flipped = (h: Buffer) => {
  const copy = Buffer.from(h)
  copy[copy.length - 1] = (copy[copy.length - 1] as number) ^ 1
  return copy
}

/** The RFC 6962 test vectors of the certificate-transparency reference implementation (its merkle tree tests). */
const CT_LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f']
const CT_ROOTS = [
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
]

describe('RFC 9162 §2.1 Merkle tree (the CT reference vectors)', () => {
  const leaves = CT_LEAVES.map((l) => leafHash(fromHex(l)))

  it('hashes trees of 0 to 8 leaves to the reference roots (the empty tree is SHA-256 of nothing)', () => {
    for (let n = 0; n <= 8; n++) assert.equal(hex(treeHashOfLeaves(leaves.slice(0, n))), CT_ROOTS[n], `size ${n}`)
    assert.equal(hex(EMPTY_TREE_HASH), createHash('sha256').digest('hex'))
  })

  it('proves inclusion of leaves 0 and 5 in the tree of 8 with the reference paths', () => {
    assert.deepEqual(inclusionProofOfLeaves(0, leaves).map(hex), [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ])
    const path5 = [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ]
    assert.deepEqual(inclusionProofOfLeaves(5, leaves).map(hex), path5)
    assert.ok(verifyInclusion(5, 8, leaves[5] as Buffer, path5.map(fromHex), fromHex(CT_ROOTS[8] as string)))
  })

  it('proves consistency 1→1, 1→8, 6→8 and 2→5 with the reference proofs', () => {
    const cases: [number, number, string[]][] = [
      [1, 1, []],
      [
        1,
        8,
        [
          '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
          '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
          '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
        ],
      ],
      [
        6,
        8,
        [
          '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
          'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
          'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
        ],
      ],
      [
        2,
        5,
        [
          '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
          'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
        ],
      ],
    ]
    for (const [m, n, proof] of cases) {
      assert.deepEqual(consistencyProofOfLeaves(m, leaves.slice(0, n)).map(hex), proof, `${m}→${n}`)
      const [oldRoot, newRoot] = [fromHex(CT_ROOTS[m] as string), fromHex(CT_ROOTS[n] as string)]
      assert.ok(verifyConsistency(m, n, oldRoot, newRoot, proof.map(fromHex)), `${m}→${n} verifies`)
    }
  })

  it('treats the empty tree as a prefix of every tree only with an empty proof', () => {
    const root = fromHex(CT_ROOTS[3] as string)
    assert.ok(verifyConsistency(0, 3, EMPTY_TREE_HASH, root, []))
    assert.ok(!verifyConsistency(0, 3, EMPTY_TREE_HASH, root, [root]))
    assert.ok(!verifyConsistency(3, 3, root, fromHex(CT_ROOTS[4] as string), []))
    assert.ok(!verifyConsistency(3, 2, root, root, []))
    assert.ok(!verifyConsistency(1, 8, fromHex(CT_ROOTS[1] as string), fromHex(CT_ROOTS[8] as string), []))
  })

  it('refuses indexes and sizes outside the tree', () => {
    assert.throws(() => inclusionProofOfLeaves(8, leaves), RangeError)
    assert.throws(() => consistencyProofOfLeaves(9, leaves), RangeError)
    const proof = inclusionProofOfLeaves(0, leaves)
    const root = fromHex(CT_ROOTS[8] as string)
    for (const [index, size] of [
      [8, 8],
      [-1, 8],
      [0.5, 8],
      [0, Number.NaN],
    ] as const)
      assert.ok(!verifyInclusion(index, size, leaves[0] as Buffer, proof, root), `${index} of ${size}`)
  })
})

describe('proofs from stored hashes and tiles (every size 1…300)', () => {
  const MAX = 300
  const leaves = Array.from({ length: MAX }, (_, i) => leafHash(leafData(i)))
  const roots = [EMPTY_TREE_HASH]
  for (let n = 1; n <= MAX; n++) roots.push(treeHashOfLeaves(leaves.slice(0, n)))
  const one = new MemoryTlog()
  const batched = new MemoryTlog()

  before(async () => {
    for (const leaf of leaves) await one.append([leaf])
    // Batches of uneven sizes, some crossing tile boundaries.
    for (let at = 0, step = 1; at < MAX; at += step, step = (step * 7 + 3) % 97)
      await batched.append(leaves.slice(at, at + step))
  })

  it('stores the same hashes and tiles whether leaves come one by one or in batches', () => {
    assert.equal(one.size, MAX)
    assert.equal(batched.size, MAX)
    assert.deepEqual(
      [...batched.stored.entries()].sort((a, b) => a[0] - b[0]),
      [...one.stored.entries()].sort((a, b) => a[0] - b[0]),
    )
    assert.deepEqual(batched.tiles, one.tiles)
    assert.equal(one.stored.size, storedHashCount(MAX))
  })

  it('numbers stored hashes densely: storedHashIndex and splitStoredHashIndex are inverse', () => {
    for (let index = 0; index < storedHashCount(MAX); index++) {
      const { level, n } = splitStoredHashIndex(index)
      assert.equal(storedHashIndex(level, n), index)
    }
    for (const n of [2 ** 20 - 1, 2 ** 32 + 5, 2 ** 45 + 12345]) {
      for (const level of [0, 1, 7, 8, 20]) {
        const m = Math.floor(n / 2 ** level)
        assert.deepEqual(splitStoredHashIndex(storedHashIndex(level, m)), { level, n: m })
      }
    }
  })

  it('reads every stored hash back from the tiles', async () => {
    const indexes = [...one.stored.keys()]
    const fromTiles = await tileHashReader(one).readHashes(indexes)
    indexes.forEach((index, i) => assert.ok(fromTiles[i]?.equals(one.stored.get(index) as Buffer), `hash ${index}`))
  })

  it('computes the root of every size from stored hashes and from tiles', async () => {
    const tiles = tileHashReader(one)
    for (let n = 0; n <= MAX; n++) {
      assert.ok((await treeHash(n, one.storedHashes)).equals(roots[n] as Buffer), `size ${n} (stored hashes)`)
      assert.ok((await treeHash(n, tiles)).equals(roots[n] as Buffer), `size ${n} (tiles)`)
    }
  })

  it('proves inclusion of every leaf in every tree size: the RFC path, verified, and refused when changed', async () => {
    for (let n = 1; n <= MAX; n++) {
      const root = roots[n] as Buffer
      for (let i = 0; i < n; i++) {
        const leaf = leaves[i] as Buffer
        const proof = await proveInclusion(i, n, one.storedHashes)
        if (n <= 40 || i % 37 === 0)
          assert.deepEqual(proof, inclusionProofOfLeaves(i, leaves.slice(0, n)), `${i} in ${n}`)
        assert.ok(verifyInclusion(i, n, leaf, proof, root), `${i} in ${n}`)
        // Every change on trees up to 100 leaves, then on every 7th leaf (the check is linear in pairs).
        if (n > 100 && i % 7 !== 3) continue
        assert.ok(!verifyInclusion(i, n, flipped(leaf), proof, root), `${i} in ${n}: other leaf`)
        assert.ok(!verifyInclusion(i, n, leaf, proof, flipped(root)), `${i} in ${n}: other root`)
        if (proof.length > 0) {
          const bad = [...proof]
          bad[i % proof.length] = flipped(bad[i % proof.length] as Buffer)
          assert.ok(!verifyInclusion(i, n, leaf, bad, root), `${i} in ${n}: changed hash`)
          assert.ok(!verifyInclusion(i, n, leaf, proof.slice(1), root), `${i} in ${n}: hash missing`)
        }
        assert.ok(!verifyInclusion(i, n, leaf, [...proof, root], root), `${i} in ${n}: hash added`)
        for (const other of [i - 1, i + 1, n - 1 - i])
          if (other !== i && other >= 0 && other < n)
            assert.ok(!verifyInclusion(other, n, leaf, proof, root), `${i} in ${n}: claimed at ${other}`)
        for (const size of [n - 1, n + 1])
          if (size > i && size <= MAX)
            assert.ok(!verifyInclusion(i, size, leaf, proof, roots[size] as Buffer), `${i} in ${n}: claimed in ${size}`)
      }
    }
  })

  it('proves consistency between every pair of sizes: the RFC proof, verified, and refused when changed', async () => {
    for (let n = 1; n <= MAX; n++) {
      const newRoot = roots[n] as Buffer
      for (let m = 1; m <= n; m++) {
        const oldRoot = roots[m] as Buffer
        const proof = await proveConsistency(m, n, one.storedHashes)
        if (n <= 40 || m % 37 === 0)
          assert.deepEqual(proof, consistencyProofOfLeaves(m, leaves.slice(0, n)), `${m}→${n}`)
        assert.ok(verifyConsistency(m, n, oldRoot, newRoot, proof), `${m}→${n}`)
        if (n > 100 && m % 7 !== 3) continue
        assert.ok(!verifyConsistency(m, n, flipped(oldRoot), newRoot, proof), `${m}→${n}: other old root`)
        assert.ok(!verifyConsistency(m, n, oldRoot, flipped(newRoot), proof), `${m}→${n}: other new root`)
        if (proof.length > 0) {
          const bad = [...proof]
          bad[m % proof.length] = flipped(bad[m % proof.length] as Buffer)
          assert.ok(!verifyConsistency(m, n, oldRoot, newRoot, bad), `${m}→${n}: changed hash`)
          assert.ok(!verifyConsistency(m, n, oldRoot, newRoot, proof.slice(1)), `${m}→${n}: hash missing`)
        }
        assert.ok(!verifyConsistency(m, n, oldRoot, newRoot, [...proof, newRoot]), `${m}→${n}: hash added`)
        for (const old of [m - 1, m + 1])
          if (old >= 1 && old <= n && old !== m)
            assert.ok(
              !verifyConsistency(old, n, roots[old] as Buffer, newRoot, proof),
              `${m}→${n}: claimed from ${old}`,
            )
        for (const size of [n - 1, n + 1])
          if (size >= m && size <= MAX && size !== n)
            assert.ok(
              !verifyConsistency(m, size, oldRoot, roots[size] as Buffer, proof),
              `${m}→${n}: claimed to ${size}`,
            )
      }
    }
  })

  it('reads tiles once per proof or root, whatever the tree size', async () => {
    const tiles = tileHashReader(one)
    for (const [i, n] of [
      [0, 300],
      [299, 300],
      [137, 256],
      [5, 257],
    ] as const) {
      const before = one.tileReads
      const proof = await proveInclusion(i, n, tiles)
      assert.equal(one.tileReads - before, 1)
      assert.deepEqual(proof, await proveInclusion(i, n, one.storedHashes))
      const consistency = await proveConsistency(Math.max(1, i), n, tiles)
      assert.deepEqual(consistency, await proveConsistency(Math.max(1, i), n, one.storedHashes))
      assert.equal(one.tileReads - before, 2)
    }
  })
})
