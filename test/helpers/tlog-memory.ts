import {
  appendLeaves,
  formatTilePath,
  rightEdgeTiles,
  type HashReader,
  type Tile,
  type TileReader,
} from '../../src/modules/audit/tlog-tiles.ts'

/**
 * A tree kept in memory the way a database keeps it: the widest version of each tile
 * (L, N), and every stored hash by index — so tests read proofs both through tiles and
 * through stored hashes. Counts `readTiles` calls, to show a proof costs one read.
 */
export class MemoryTlog implements TileReader {
  size = 0
  readonly tiles = new Map<string, Buffer>()
  readonly stored = new Map<number, Buffer>()
  tileReads = 0

  async readTiles(tiles: readonly Tile[]): Promise<Buffer[]> {
    this.tileReads++
    return tiles.map((tile) => {
      const data = this.tiles.get(`${tile.level}/${tile.n}`)
      if (data === undefined || data.length < tile.width * 32) throw new Error(`no tile ${formatTilePath(tile)}`)
      return data
    })
  }

  async append(leafHashes: readonly Buffer[]): Promise<void> {
    const edge = await this.readTiles(rightEdgeTiles(this.size))
    const result = appendLeaves(this.size, edge, leafHashes)
    for (const { index, hash } of result.storedHashes) {
      if (this.stored.has(index)) throw new Error(`stored hash ${index} written twice`)
      this.stored.set(index, hash)
    }
    for (const { tile, data } of result.tiles) {
      const old = this.tiles.get(`${tile.level}/${tile.n}`)
      if (old !== undefined && !data.subarray(0, old.length).equals(old))
        throw new Error(`tile ${formatTilePath(tile)} changed below its old width`)
      this.tiles.set(`${tile.level}/${tile.n}`, data)
    }
    this.size = result.size
  }

  /** A HashReader over the stored hashes (no tiles). */
  readonly storedHashes: HashReader = {
    readHashes: async (indexes) =>
      indexes.map((i) => {
        const hash = this.stored.get(i)
        if (hash === undefined) throw new Error(`no stored hash ${i}`)
        return hash
      }),
  }
}
