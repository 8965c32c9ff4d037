/**
 * The audit tree's storage as C2SP tlog-tiles (https://c2sp.org/tlog-tiles), after Go's
 * golang.org/x/mod/sumdb/tlog (the reference, which test/audit/tlog-interop.test.ts runs
 * against these functions):
 *
 * - Stored hashes: every complete subtree hash of the tree, numbered in the dense order of
 *   `storedHashIndex(level, n)` (Crosby and Wallach §3.3): appending leaf n stores its leaf
 *   hash and the hash of each subtree it completes — under two hashes per leaf on average.
 * - Tiles of height 8: tile (L, N) holds up to 256 consecutive hashes of tree level 8·L,
 *   starting at hash N·256 of that level; a full tile has 256 (8,192 bytes), a partial one
 *   1–255. Levels 8·L+1 … 8·L+7 are rehashed from the tile. A partial tile is a prefix of
 *   every wider version of it, so a store may keep only the widest version of each (L, N)
 *   and answer any narrower one with a prefix.
 * - Proofs and roots read O(log n) stored hashes through a `HashReader`; a `TileReader`
 *   serves them from tiles with one `readTiles` call (one query) per proof.
 *
 * Nothing here does I/O: the caller reads the tiles named by `rightEdgeTiles` (to append)
 * or by the readers (to prove), and persists what `appendLeaves` returns in the transaction
 * that assigns `seq`.
 *
 * Written by hand: no npm package implements tlog-tiles or stored-hash proofs (see
 * merkle.ts for the packages looked at).
 *
 * Paths are the C2SP ones, `tile/<L>/<N>[.p/<W>]` and `tile/entries/<N>[.p/<W>]`; Go's
 * `Tile.Path` writes the same with the height as an extra element (`tile/8/<L>/…`, and
 * `tile/8/data/…` for its own record tiles, which C2SP entry bundles replace).
 */
import { EMPTY_TREE_HASH, HASH_SIZE, isCount, nodeHash } from './merkle.ts'

/** Tile height: levels of the tree one tile spans (C2SP tlog-tiles fixes 8). */
export const TILE_HEIGHT = 8
/** Hashes in a full tile (2^TILE_HEIGHT). */
export const TILE_WIDTH = 256

/** Tile L, N of width W (1 ≤ W ≤ 256; 256 is a full tile). Go's tlog.Tile with H = 8. */
export interface Tile {
  level: number
  n: number
  width: number
}

/** A tile with its hashes, `width` × 32 bytes. */
export interface TileData {
  tile: Tile
  data: Buffer
}

/** Reads hashes by stored hash index (Go's tlog.HashReader): one hash per index, in order. */
export interface HashReader {
  readHashes(indexes: readonly number[]): Promise<Buffer[]>
}

/**
 * Reads tiles: for each requested tile, its data of at least `width` hashes (a wider
 * version of the same L, N is fine: the extra hashes are ignored). Throws when one is
 * missing.
 */
export interface TileReader {
  readTiles(tiles: readonly Tile[]): Promise<Buffer[]>
}

/** A stored hash: its index (`storedHashIndex`) and value. */
export interface StoredHash {
  index: number
  hash: Buffer
}

/** Go's tlog.StoredHashIndex: the dense storage position of the hash of subtree (level, n). */
export function storedHashIndex(level: number, n: number): number {
  let m = n
  for (let l = level; l > 0; l--) m = 2 * m + 1
  // Level 0's m'th hash is stored at m + m/2 + m/4 + …
  let i = 0
  for (; m > 0; m = Math.floor(m / 2)) i += m
  return i + level
}

/** Go's tlog.SplitStoredHashIndex: the (level, n) stored at `index`. */
export function splitStoredHashIndex(index: number): { level: number; n: number } {
  // storedHashIndex(0, n) < 2n, so the leaf before `index` is in [index/2, index/2 + log2(index)].
  let n = Math.floor(index / 2)
  let indexN = storedHashIndex(0, n)
  for (;;) {
    // Leaf n + 1 is stored after leaf n's 1 + trailingZeros(n + 1) hashes.
    const next = indexN + 1 + trailingZeros(n + 1)
    if (next > index) break
    n++
    indexN = next
  }
  const level = index - indexN
  return { level, n: Math.floor(n / 2 ** level) }
}

/** Go's tlog.StoredHashCount: how many hashes a tree of `size` leaves stores. */
export function storedHashCount(size: number): number {
  if (size === 0) return 0
  return storedHashIndex(0, size - 1) + 1 + trailingZeros(size)
}

/**
 * Go's tlog.TileForIndex with height 8: the narrowest tile holding stored hash `index`,
 * and where in it (in hashes, [start, end)) the hashes are that rehash to it.
 */
export function tileForIndex(index: number): { tile: Tile; start: number; end: number } {
  const split = splitStoredHashIndex(index)
  const level = Math.floor(split.level / TILE_HEIGHT)
  const within = split.level - level * TILE_HEIGHT
  const span = 2 ** within
  const first = split.n * span // position at tree level 8·level
  const n = Math.floor(first / TILE_WIDTH)
  const start = first - n * TILE_WIDTH
  return { tile: { level, n, width: start + span }, start, end: start + span }
}

/**
 * Go's tlog.HashFromTile: stored hash `index` from the data of its tile (or of a wider
 * version of that tile). Throws when the tile is not the one holding it or is too short.
 */
export function hashFromTile(tile: Tile, data: Buffer, index: number): Buffer {
  const at = tileForIndex(index)
  if (at.tile.level !== tile.level || at.tile.n !== tile.n || tile.width < at.tile.width)
    throw new RangeError(`stored hash ${index} is in ${formatTilePath(at.tile)}, not ${formatTilePath(tile)}`)
  if (data.length < at.end * HASH_SIZE) throw new RangeError(`tile ${formatTilePath(tile)} data is too short`)
  return subtreeOfTile(data.subarray(at.start * HASH_SIZE, at.end * HASH_SIZE))
}

/**
 * The partial tiles of a tree of `size` leaves (at most one per level, lowest level
 * first): what C2SP requires be served for a checkpoint of that size, and what an append
 * to that tree must read (`appendLeaves`).
 */
export function rightEdgeTiles(size: number): Tile[] {
  checkSize(size)
  const tiles: Tile[] = []
  for (let level = 0, span = 1; size >= span; level++, span *= TILE_WIDTH) {
    const hashes = Math.floor(size / span)
    const width = hashes % TILE_WIDTH
    if (width > 0) tiles.push({ level, n: Math.floor(hashes / TILE_WIDTH), width })
  }
  return tiles
}

/**
 * The full and partial tiles of a tree of `size` leaves at one level: how many full tiles
 * (numbered 0 … full − 1) and the partial one, if any.
 */
export function tilesAtLevel(size: number, level: number): { full: number; partial: Tile | undefined } {
  checkSize(size)
  const hashes = Math.floor(size / TILE_WIDTH ** level)
  const full = Math.floor(hashes / TILE_WIDTH)
  const width = hashes % TILE_WIDTH
  return { full, partial: width > 0 ? { level, n: full, width } : undefined }
}

/** What appending leaves changes: the stored hashes and tiles to write, and the new size. */
export interface Append {
  size: number
  /** Every new stored hash, in index order (Go's tlog.StoredHashes for each new leaf). */
  storedHashes: StoredHash[]
  /** Each tile that gained hashes, at its new width (full or partial), whole. */
  tiles: TileData[]
}

/**
 * Appends leaves (their leaf hashes, `leafHash(data)`) to a tree of `oldSize` leaves whose
 * right-edge tiles are `edge` (the data of `rightEdgeTiles(oldSize)`, in that order).
 * Pure: returns what to store; throws RangeError on a malformed edge.
 */
export function appendLeaves(oldSize: number, edge: readonly Buffer[], leafHashes: readonly Uint8Array[]): Append {
  checkSize(oldSize)
  const edgeTiles = rightEdgeTiles(oldSize)
  if (edge.length !== edgeTiles.length) throw new RangeError(`expected ${edgeTiles.length} right-edge tiles`)
  edgeTiles.forEach((tile, i) => {
    if ((edge[i] as Buffer).length < tile.width * HASH_SIZE)
      throw new RangeError(`right-edge tile ${formatTilePath(tile)} is too short`)
  })
  const fresh = new Map<number, Buffer>()
  const storedHashes: StoredHash[] = []
  const read = (index: number): Buffer => {
    const found = fresh.get(index)
    if (found !== undefined) return found
    const { tile } = tileForIndex(index)
    const i = edgeTiles.findIndex((t) => t.level === tile.level && t.n === tile.n)
    if (i < 0) throw new RangeError(`stored hash ${index} is not on the right edge of a tree of size ${oldSize}`)
    const hash = hashFromTile(edgeTiles[i] as Tile, edge[i] as Buffer, index)
    fresh.set(index, hash)
    return hash
  }
  let size = oldSize
  for (const leaf of leafHashes) {
    if (leaf.length !== HASH_SIZE) throw new RangeError('a leaf hash is 32 bytes')
    // Go's StoredHashesForRecordHash: each trailing 1 bit of the leaf's index completes a subtree.
    let h: Buffer = Buffer.from(leaf)
    const add = (index: number) => {
      fresh.set(index, h)
      storedHashes.push({ index, hash: h })
    }
    add(storedHashIndex(0, size))
    for (let level = 0; level < trailingZeros(size + 1); level++) {
      h = nodeHash(read(storedHashIndex(level, Math.floor(size / 2 ** level) - 1)), h)
      add(storedHashIndex(level + 1, Math.floor(size / 2 ** (level + 1))))
    }
    size++
    checkSize(size)
  }
  return { size, storedHashes, tiles: changedTiles(oldSize, size, edgeTiles, edge, fresh) }
}

function changedTiles(
  oldSize: number,
  size: number,
  edgeTiles: readonly Tile[],
  edge: readonly Buffer[],
  fresh: ReadonlyMap<number, Buffer>,
): TileData[] {
  const tiles: TileData[] = []
  for (let level = 0, span = 1; size >= span; level++, span *= TILE_WIDTH) {
    const from = Math.floor(oldSize / span)
    const to = Math.floor(size / span)
    for (let n = Math.floor(from / TILE_WIDTH); n * TILE_WIDTH < to; n++) {
      const start = n * TILE_WIDTH
      const width = Math.min(TILE_WIDTH, to - start)
      if (start + width <= from) continue
      const hashes: Buffer[] = []
      const old = edgeTiles.findIndex((t) => t.level === level && t.n === n)
      const kept = old < 0 ? 0 : (edgeTiles[old] as Tile).width
      if (kept > 0) hashes.push((edge[old] as Buffer).subarray(0, kept * HASH_SIZE))
      for (let i = kept; i < width; i++)
        hashes.push(fresh.get(storedHashIndex(level * TILE_HEIGHT, start + i)) as Buffer)
      tiles.push({ tile: { level, n, width }, data: Buffer.concat(hashes) })
    }
  }
  return tiles
}

/**
 * The tiles to read for these stored hashes (each (L, N) once, at the widest width
 * needed): pass them to one `TileReader.readTiles` call.
 */
export function tilesForIndexes(indexes: readonly number[]): Tile[] {
  const byKey = new Map<string, Tile>()
  for (const index of indexes) {
    const { tile } = tileForIndex(index)
    const key = `${tile.level}/${tile.n}`
    const seen = byKey.get(key)
    if (seen === undefined || seen.width < tile.width) byKey.set(key, tile)
  }
  return [...byKey.values()]
}

/**
 * A HashReader over tiles: each `readHashes` reads the tiles it needs with one
 * `readTiles` call. It trusts the tiles (they come from our own store); a client reading
 * someone else's tiles checks what it derives against a signed checkpoint.
 */
export function tileHashReader(tiles: TileReader): HashReader {
  return {
    async readHashes(indexes) {
      if (indexes.length === 0) return []
      const needed = tilesForIndexes(indexes)
      const data = await tiles.readTiles(needed)
      if (data.length !== needed.length) throw new Error(`readTiles answered ${data.length} of ${needed.length} tiles`)
      const byKey = new Map(needed.map((t, i) => [`${t.level}/${t.n}`, { tile: t, data: data[i] as Buffer }]))
      return indexes.map((index) => {
        const { tile } = tileForIndex(index)
        const found = byKey.get(`${tile.level}/${tile.n}`) as TileData
        return hashFromTile(found.tile, found.data, index)
      })
    },
  }
}

/** The stored hashes `treeHash(size)` reads (at most 1 + log2 n; Go's subTreeIndex). */
export function treeHashIndexes(size: number): number[] {
  checkSize(size)
  return subtreeIndexes(0, size, [])
}

/**
 * The Merkle tree hash of the first `size` leaves (any size up to the stored tree's),
 * from stored hashes with one read. The empty tree's hash is SHA-256() (RFC 9162).
 */
export async function treeHash(size: number, reader: HashReader): Promise<Buffer> {
  if (size === 0) return EMPTY_TREE_HASH
  const hashes = await readAll(reader, treeHashIndexes(size))
  return subtreeHash(0, size, hashes)
}

/** The stored hashes `proveInclusion(index, size)` reads (Go's leafProofIndex). */
export function inclusionProofIndexes(index: number, size: number): number[] {
  checkSize(size)
  if (!isCount(index) || index >= size) throw new RangeError(`leaf index ${index} is not in a tree of size ${size}`)
  return leafProofIndexes(0, size, index, [])
}

/**
 * The RFC 9162 §2.1.3.1 inclusion proof of leaf `index` in the tree of its first `size`
 * leaves, from stored hashes with one read (Go's tlog.ProveRecord). Throws RangeError
 * unless 0 ≤ index < size.
 */
export async function proveInclusion(index: number, size: number, reader: HashReader): Promise<Buffer[]> {
  const hashes = await readAll(reader, inclusionProofIndexes(index, size))
  return leafProof(0, size, index, hashes)
}

/** The stored hashes `proveConsistency(oldSize, newSize)` reads (Go's treeProofIndex). */
export function consistencyProofIndexes(oldSize: number, newSize: number): number[] {
  checkSize(newSize)
  if (!isCount(oldSize) || oldSize > newSize)
    throw new RangeError(`tree size ${oldSize} is not a prefix size of a tree of size ${newSize}`)
  if (oldSize === 0) return []
  return treeProofIndexes(0, newSize, oldSize, [])
}

/**
 * The RFC 9162 §2.1.4.1 consistency proof from the tree of `oldSize` leaves to the tree of
 * `newSize`, from stored hashes with one read (Go's tlog.ProveTree). Empty when the sizes
 * are equal or `oldSize` is 0. Throws RangeError unless 0 ≤ oldSize ≤ newSize.
 */
export async function proveConsistency(oldSize: number, newSize: number, reader: HashReader): Promise<Buffer[]> {
  const indexes = consistencyProofIndexes(oldSize, newSize)
  if (indexes.length === 0) return []
  const hashes = await readAll(reader, indexes)
  return treeProof(0, newSize, oldSize, hashes)
}

// The proof assembly below follows Go's tlog.go (subTreeIndex/subTreeHash, leafProofIndex/
// leafProof, treeProofIndex/treeProof): the *Indexes functions list the stored hashes in
// the order the matching builders consume them.

function subtreeIndexes(lo: number, hi: number, need: number[]): number[] {
  for (let at = lo; at < hi; ) {
    const { k, level } = maxPow2(hi - at + 1)
    need.push(storedHashIndex(level, at / k))
    at += k
  }
  return need
}

/** Consumes the hashes of subtreeIndexes(lo, hi) from the front of `hashes`. */
function subtreeHash(lo: number, hi: number, hashes: Buffer[]): Buffer {
  let count = 0
  for (let at = lo; at < hi; count++) at += maxPow2(hi - at + 1).k
  const parts = hashes.splice(0, count)
  let h = parts[count - 1] as Buffer
  for (let i = count - 2; i >= 0; i--) h = nodeHash(parts[i] as Buffer, h)
  return h
}

function leafProofIndexes(lo: number, hi: number, n: number, need: number[]): number[] {
  if (lo + 1 === hi) return need
  const { k } = maxPow2(hi - lo)
  if (n < lo + k) {
    leafProofIndexes(lo, lo + k, n, need)
    subtreeIndexes(lo + k, hi, need)
  } else {
    subtreeIndexes(lo, lo + k, need)
    leafProofIndexes(lo + k, hi, n, need)
  }
  return need
}

function leafProof(lo: number, hi: number, n: number, hashes: Buffer[]): Buffer[] {
  if (lo + 1 === hi) return []
  const { k } = maxPow2(hi - lo)
  if (n < lo + k) {
    const proof = leafProof(lo, lo + k, n, hashes)
    return [...proof, subtreeHash(lo + k, hi, hashes)]
  }
  const sibling = subtreeHash(lo, lo + k, hashes)
  return [...leafProof(lo + k, hi, n, hashes), sibling]
}

function treeProofIndexes(lo: number, hi: number, n: number, need: number[]): number[] {
  if (n === hi) return lo === 0 ? need : subtreeIndexes(lo, hi, need)
  const { k } = maxPow2(hi - lo)
  if (n <= lo + k) {
    treeProofIndexes(lo, lo + k, n, need)
    subtreeIndexes(lo + k, hi, need)
  } else {
    subtreeIndexes(lo, lo + k, need)
    treeProofIndexes(lo + k, hi, n, need)
  }
  return need
}

function treeProof(lo: number, hi: number, n: number, hashes: Buffer[]): Buffer[] {
  if (n === hi) return lo === 0 ? [] : [subtreeHash(lo, hi, hashes)]
  const { k } = maxPow2(hi - lo)
  if (n <= lo + k) {
    const proof = treeProof(lo, lo + k, n, hashes)
    return [...proof, subtreeHash(lo + k, hi, hashes)]
  }
  const sibling = subtreeHash(lo, lo + k, hashes)
  return [...treeProof(lo + k, hi, n, hashes), sibling]
}

/** Go's maxpow2: the largest power of two k < n (k = 1 for n ≤ 2), and log2 k. */
function maxPow2(n: number): { k: number; level: number } {
  let level = 0
  while (2 ** (level + 1) < n) level++
  return { k: 2 ** level, level }
}

/** The hash of the perfect subtree whose lowest hashes are `data` (a power of two of them). */
function subtreeOfTile(data: Buffer): Buffer {
  if (data.length === HASH_SIZE) return Buffer.from(data)
  const half = data.length / 2
  return nodeHash(subtreeOfTile(data.subarray(0, half)), subtreeOfTile(data.subarray(half)))
}

function trailingZeros(n: number): number {
  let count = 0
  for (let m = n; m > 0 && m % 2 === 0; m /= 2) count++
  return count
}

async function readAll(reader: HashReader, indexes: number[]): Promise<Buffer[]> {
  const hashes = await reader.readHashes(indexes)
  if (hashes.length !== indexes.length || hashes.some((h) => h.length !== HASH_SIZE))
    throw new Error(`readHashes answered ${hashes.length} hashes for ${indexes.length} indexes`)
  return [...hashes]
}

/** Trees up to 2^50 leaves keep every stored hash index a safe integer. */
const MAX_SIZE = 2 ** 50

function checkSize(size: number): void {
  if (!isCount(size) || size > MAX_SIZE) throw new RangeError(`tree size ${size} is not an integer in 0…2^50`)
}

// Paths (C2SP tlog-tiles).

/** An entry bundle: the leaves of level-0 tile N, `width` of them. */
export interface EntryBundle {
  n: number
  width: number
}

/** A parsed tile path: a hash tile or an entry bundle. */
export type TilePath = { kind: 'tile'; tile: Tile } | { kind: 'entries'; bundle: EntryBundle }

/** `tile/<L>/<N>[.p/<W>]`, N in 3-digit elements (`x001/x234/067`). */
export function formatTilePath(tile: Tile): string {
  return `tile/${tile.level}/${formatIndex(tile.n, tile.width)}`
}

/** `tile/entries/<N>[.p/<W>]`. */
export function formatEntriesPath(bundle: EntryBundle): string {
  return `tile/entries/${formatIndex(bundle.n, bundle.width)}`
}

/**
 * Parses `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]` exactly as C2SP writes them
 * (no leading zeros, 0 ≤ L ≤ 63, 1 ≤ W ≤ 255 for a partial tile), or undefined. A path
 * is accepted only if formatting what it parses to gives it back.
 */
export function parseTilePath(path: string): TilePath | undefined {
  const parts = path.split('/')
  if (parts.length < 3 || parts[0] !== 'tile') return undefined
  let width = TILE_WIDTH
  const last = parts.length - 1
  if ((parts[last - 1] ?? '').endsWith('.p')) {
    if (!/^[1-9][0-9]{0,2}$/.test(parts[last] as string)) return undefined
    width = Number(parts[last])
    if (width >= TILE_WIDTH) return undefined
    parts.splice(last - 1, 2, (parts[last - 1] as string).slice(0, -2))
  }
  const elements = parts.slice(2)
  if (elements.length === 0 || elements.length > 5) return undefined
  let n = 0
  for (const [i, element] of elements.entries()) {
    const match = (i < elements.length - 1 ? /^x([0-9]{3})$/ : /^([0-9]{3})$/).exec(element)
    if (match === null) return undefined
    n = n * 1000 + Number(match[1])
  }
  const levelPart = parts[1] as string
  const result: TilePath | undefined =
    levelPart === 'entries'
      ? { kind: 'entries', bundle: { n, width } }
      : /^(0|[1-9][0-9]?)$/.test(levelPart) && Number(levelPart) <= 63
        ? { kind: 'tile', tile: { level: Number(levelPart), n, width } }
        : undefined
  if (result === undefined) return undefined
  const again = result.kind === 'tile' ? formatTilePath(result.tile) : formatEntriesPath(result.bundle)
  return again === path ? result : undefined
}

function formatIndex(n: number, width: number): string {
  if (!isCount(n)) throw new RangeError(`tile index ${n} is not a non-negative integer`)
  if (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH)
    throw new RangeError(`tile width ${width} is not 1…256`)
  let rest = n
  let text = String(rest % 1000).padStart(3, '0')
  while (rest >= 1000) {
    rest = Math.floor(rest / 1000)
    text = `x${String(rest % 1000).padStart(3, '0')}/${text}`
  }
  return width === TILE_WIDTH ? text : `${text}.p/${width}`
}

// Entry bundles (C2SP tlog-tiles "Log entries").

/** An entry bundle: each entry as a big-endian uint16 length and its bytes. Throws RangeError for an entry over 65,535 bytes. */
export function encodeEntryBundle(entries: readonly Uint8Array[]): Buffer {
  const parts: Buffer[] = []
  for (const entry of entries) {
    if (entry.length > 0xffff)
      throw new RangeError(`an entry of ${entry.length} bytes exceeds an entry bundle's 65,535`)
    const length = Buffer.alloc(2)
    length.writeUInt16BE(entry.length)
    parts.push(length, Buffer.from(entry))
  }
  return Buffer.concat(parts)
}

/** The entries of an entry bundle. Throws RangeError when it is truncated. */
export function decodeEntryBundle(bundle: Uint8Array): Buffer[] {
  const data = Buffer.from(bundle)
  const entries: Buffer[] = []
  for (let at = 0; at < data.length; ) {
    if (at + 2 > data.length) throw new RangeError('entry bundle truncated in a length')
    const length = data.readUInt16BE(at)
    if (at + 2 + length > data.length) throw new RangeError('entry bundle truncated in an entry')
    entries.push(data.subarray(at + 2, at + 2 + length))
    at += 2 + length
  }
  return entries
}
