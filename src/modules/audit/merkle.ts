/**
 * RFC 9162 §2.1 Merkle tree hashing, proof definitions and proof verification — the pure
 * core of the audit log as a transparency log (SHA-256, the hash of RFC 6962 and C2SP).
 *
 *   leaf hash  = SHA-256(0x00 || leaf data)
 *   node hash  = SHA-256(0x01 || left || right)
 *   MTH({})    = SHA-256() (the empty tree; a C2SP checkpoint of size 0 carries it)
 *   MTH(D[n])  = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of two < n
 *
 * The proofs here are the RFC's own recursive definitions over leaf hashes held in memory
 * (O(n)): the reference the stored-hash proofs of tlog-tiles.ts (O(log n) reads) are tested
 * against. Verification follows §2.1.3.2 and §2.1.4.2 step by step.
 *
 * Written by hand: the npm packages for RFC 6962/9162 either only verify inside their own
 * bundle format (@sigstore/verify, not exported), work only on a whole in-memory tree
 * (@transmute/rfc9162, 0.0.x, no stored-hash reader) or are other Merkle trees altogether
 * (merkletreejs & co. hash without the 0x00/0x01 domain separation). Go's
 * golang.org/x/mod/sumdb/tlog, the reference, checks these functions in
 * test/audit/tlog-interop.test.ts.
 *
 * Sizes and indexes are JavaScript numbers (safe integers); no 32-bit bitwise operator is
 * used on them, so trees up to 2^53 leaves are handled exactly.
 */
import { createHash, hash } from 'node:crypto'

/** Bytes in a hash (SHA-256). */
export const HASH_SIZE = 32

/** RFC 9162 §2.1.1 leaf hash: SHA-256(0x00 || data). */
export function leafHash(data: Uint8Array): Buffer {
  return createHash('sha256').update(LEAF_PREFIX).update(data).digest()
}

/** RFC 9162 §2.1.1 interior node hash: SHA-256(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  const input = Buffer.allocUnsafe(1 + left.length + right.length)
  input[0] = 0x01
  input.set(left, 1)
  input.set(right, 1 + left.length)
  // One-shot hashing: a proof or an append hashes many small inputs.
  return hash('sha256', input, 'buffer')
}

/** MTH of the empty tree: SHA-256 of nothing (RFC 9162 §2.1.1). */
export const EMPTY_TREE_HASH: Buffer = createHash('sha256').digest()

/**
 * The Merkle Tree Hash (RFC 9162 §2.1.1) of the leaves with these leaf hashes, computed
 * bottom-up in O(n) hashing and O(log n) memory.
 */
export function treeHashOfLeaves(leafHashes: readonly Uint8Array[]): Buffer {
  if (leafHashes.length === 0) return EMPTY_TREE_HASH
  // A stack of perfect subtrees, as a tree is built by appending.
  const stack: { hash: Buffer; size: number }[] = []
  for (const leaf of leafHashes) {
    let entry: { hash: Buffer; size: number } = { hash: Buffer.from(leaf), size: 1 }
    for (let top = stack.at(-1); top !== undefined && top.size === entry.size; top = stack.at(-1)) {
      stack.pop()
      entry = { hash: nodeHash(top.hash, entry.hash), size: top.size * 2 }
    }
    stack.push(entry)
  }
  let root = stack.pop() as { hash: Buffer }
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) root = { hash: nodeHash(next.hash, root.hash) }
  return root.hash
}

/** The largest power of two smaller than n (n ≥ 2): the split point k of RFC 9162 §2.1.1. */
export function splitPoint(n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

/**
 * The inclusion proof PATH(m, D[n]) of RFC 9162 §2.1.3.1 for leaf index m in the tree of
 * these leaf hashes, computed from all of them (the reference definition; O(n)).
 * Throws RangeError unless 0 ≤ m < n.
 */
export function inclusionProofOfLeaves(index: number, leafHashes: readonly Uint8Array[]): Buffer[] {
  checkIndex(index, leafHashes.length)
  const path = (m: number, leaves: readonly Uint8Array[]): Buffer[] => {
    if (leaves.length === 1) return []
    const k = splitPoint(leaves.length)
    return m < k
      ? [...path(m, leaves.slice(0, k)), treeHashOfLeaves(leaves.slice(k))]
      : [...path(m - k, leaves.slice(k)), treeHashOfLeaves(leaves.slice(0, k))]
  }
  return path(index, leafHashes)
}

/**
 * The consistency proof PROOF(m, D[n]) of RFC 9162 §2.1.4.1 between the first m leaves and
 * all n of these leaf hashes (the reference definition; O(n)). Empty when m = n or m = 0
 * (the empty tree is a prefix of every tree). Throws RangeError unless 0 ≤ m ≤ n.
 */
export function consistencyProofOfLeaves(oldSize: number, leafHashes: readonly Uint8Array[]): Buffer[] {
  checkSizes(oldSize, leafHashes.length)
  if (oldSize === 0) return []
  const subproof = (m: number, leaves: readonly Uint8Array[], b: boolean): Buffer[] => {
    const n = leaves.length
    if (m === n) return b ? [] : [treeHashOfLeaves(leaves)]
    const k = splitPoint(n)
    return m <= k
      ? [...subproof(m, leaves.slice(0, k), b), treeHashOfLeaves(leaves.slice(k))]
      : [...subproof(m - k, leaves.slice(k), false), treeHashOfLeaves(leaves.slice(0, k))]
  }
  return subproof(oldSize, leafHashes, true)
}

/**
 * The root an inclusion proof implies for a leaf hash at `index` in a tree of `size`
 * leaves (RFC 9162 §2.1.3.2, steps 1–4), or undefined when the proof has the wrong length
 * for that index and size.
 */
export function rootFromInclusionProof(
  index: number,
  size: number,
  leaf: Uint8Array,
  proof: readonly Uint8Array[],
): Buffer | undefined {
  if (!isCount(index) || !isCount(size) || index >= size || leaf.length !== HASH_SIZE) return undefined
  let fn = index
  let sn = size - 1
  let r: Buffer = Buffer.from(leaf)
  for (const p of proof) {
    if (p.length !== HASH_SIZE || sn === 0) return undefined
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r)
      while (fn % 2 === 0 && fn !== 0) {
        fn = half(fn)
        sn = half(sn)
      }
    } else {
      r = nodeHash(r, p)
    }
    fn = half(fn)
    sn = half(sn)
  }
  return sn === 0 ? r : undefined
}

/**
 * RFC 9162 §2.1.3.2: whether `proof` shows that the leaf with hash `leaf` is at `index` in
 * the tree of `size` leaves whose root is `root`. False for any malformed input.
 */
export function verifyInclusion(
  index: number,
  size: number,
  leaf: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  const computed = rootFromInclusionProof(index, size, leaf, proof)
  return computed !== undefined && computed.equals(root)
}

/**
 * RFC 9162 §2.1.4.2: whether `proof` shows that the tree of `oldSize` leaves with root
 * `oldRoot` is a prefix of the tree of `newSize` leaves with root `newRoot`.
 * Besides the RFC's 0 < m < n: m = n holds with an empty proof and equal roots, and m = 0
 * with an empty proof (the empty tree is a prefix of every tree; C2SP tlog-witness sends
 * that for a witness that has seen nothing). False for any malformed input.
 */
export function verifyConsistency(
  oldSize: number,
  newSize: number,
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
  proof: readonly Uint8Array[],
): boolean {
  if (!isCount(oldSize) || !isCount(newSize) || oldSize > newSize) return false
  if (oldRoot.length !== HASH_SIZE || newRoot.length !== HASH_SIZE) return false
  if (oldSize === 0) return proof.length === 0
  if (oldSize === newSize) return proof.length === 0 && Buffer.from(oldRoot).equals(newRoot)
  // Step 1: an empty path proves nothing between two different sizes.
  if (proof.length === 0 || proof.some((p) => p.length !== HASH_SIZE)) return false
  // Step 2: when the old tree is a perfect subtree its root is the path's first hash.
  const path = isPowerOfTwo(oldSize) ? [oldRoot, ...proof] : [...proof]
  // Steps 3–4.
  let fn = oldSize - 1
  let sn = newSize - 1
  while (fn % 2 === 1) {
    fn = half(fn)
    sn = half(sn)
  }
  // Step 5.
  let fr: Buffer = Buffer.from(path[0] as Uint8Array)
  let sr: Buffer = fr
  // Step 6.
  for (const c of path.slice(1)) {
    if (sn === 0) return false
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr)
      sr = nodeHash(c, sr)
      while (fn % 2 === 0 && fn !== 0) {
        fn = half(fn)
        sn = half(sn)
      }
    } else {
      sr = nodeHash(sr, c)
    }
    fn = half(fn)
    sn = half(sn)
  }
  // Step 7.
  return sn === 0 && fr.equals(oldRoot) && sr.equals(newRoot)
}

const LEAF_PREFIX = Buffer.from([0x00])

function half(n: number): number {
  return Math.floor(n / 2)
}

function isPowerOfTwo(n: number): boolean {
  let k = 1
  while (k < n) k *= 2
  return k === n
}

/** A non-negative safe integer. */
export function isCount(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0
}

function checkIndex(index: number, size: number): void {
  if (!isCount(index) || !isCount(size) || index >= size)
    throw new RangeError(`leaf index ${index} is not in a tree of size ${size}`)
}

function checkSizes(oldSize: number, newSize: number): void {
  if (!isCount(oldSize) || !isCount(newSize) || oldSize > newSize)
    throw new RangeError(`tree size ${oldSize} is not a prefix size of a tree of size ${newSize}`)
}

/**
 * The root of a tree that grows one leaf at a time, in O(log n) memory: the compact range
 * of perfect subtrees that make up the first `size` leaves, largest first (RFC 9162 §2.1.1
 * splits at the largest power of two below n, so the root folds them right to left). For
 * reading a log in order — verification checks the root at each checkpoint's size without
 * holding the log.
 */
export class MerkleAccumulator {
  #ranges: { size: number; hash: Buffer }[] = []
  #size = 0

  /** Leaves appended so far. */
  get size(): number {
    return this.#size
  }

  /** Appends a leaf by its leaf hash (`leafHash(data)`, 32 bytes). */
  append(leafHashValue: Uint8Array): void {
    if (leafHashValue.length !== HASH_SIZE) throw new RangeError('a leaf hash is 32 bytes')
    let node: { size: number; hash: Buffer } = { size: 1, hash: Buffer.from(leafHashValue) }
    for (let last = this.#ranges.at(-1); last !== undefined && last.size === node.size; last = this.#ranges.at(-1)) {
      this.#ranges.pop()
      node = { size: node.size * 2, hash: nodeHash(last.hash, node.hash) }
    }
    this.#ranges.push(node)
    this.#size++
  }

  /** The Merkle tree hash of the leaves appended so far (SHA-256() when none). */
  root(): Buffer {
    const last = this.#ranges.at(-1)
    if (last === undefined) return EMPTY_TREE_HASH
    let hash = last.hash
    for (let i = this.#ranges.length - 2; i >= 0; i--) hash = nodeHash((this.#ranges[i] as { hash: Buffer }).hash, hash)
    return hash
  }
}
