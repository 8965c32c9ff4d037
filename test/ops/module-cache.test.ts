import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'
import { buildModuleCacheSeed, moduleCacheSeed, seedModuleCache } from '../../src/module-cache.ts'
import { spawnServer } from '../helpers/process.ts'

/**
 * A first start begins from the compile cache `npm ci` prepared (src/module-cache.ts), copied
 * into the data directory, instead of compiling every module (issue 18: the embedded first
 * start within 3 s).
 */
describe('the compile cache a first start begins from', () => {
  const scratch = () => mkdtempSync(path.join(tmpdir(), 'custodian-module-cache-'))

  it('copies the seed into a data directory that has no cache yet, 0700, and never over an existing one', () => {
    const dir = scratch()
    const seed = path.join(dir, 'seed')
    mkdirSync(path.join(seed, 'v0'), { recursive: true })
    writeFileSync(path.join(seed, 'v0', 'entry'), 'seeded')
    const cache = path.join(dir, 'data', 'compile-cache')
    mkdirSync(path.dirname(cache))
    assert.equal(seedModuleCache(seed, cache), true)
    assert.equal(readFileSync(path.join(cache, 'v0', 'entry'), 'utf8'), 'seeded')
    assert.equal(statSync(cache).mode & 0o777, 0o700)
    assert.deepEqual(
      readdirSync(path.dirname(cache)).filter((name) => name.includes('partial')),
      [],
      'no partial copy left',
    )
    writeFileSync(path.join(cache, 'v0', 'entry'), 'the start’s own')
    assert.equal(seedModuleCache(seed, cache), false, 'an existing cache is the start’s own')
    assert.equal(readFileSync(path.join(cache, 'v0', 'entry'), 'utf8'), 'the start’s own')
  })

  it('does nothing without a seed (the start compiles, as before)', () => {
    const dir = scratch()
    const cache = path.join(dir, 'compile-cache')
    assert.equal(seedModuleCache(path.join(dir, 'no-seed'), cache), false)
    assert.equal(existsSync(cache), false)
  })

  it('builds a seed by loading the service’s modules once', () => {
    const seed = path.join(scratch(), 'seed')
    buildModuleCacheSeed(seed)
    const version = readdirSync(seed)[0] ?? ''
    assert.ok(version?.startsWith(`${process.version}-`), `a cache of this Node: ${version}`)
    assert.ok(readdirSync(path.join(seed, version)).length > 100, 'an entry per module of the start')
  })

  it('a first start with no NODE_COMPILE_CACHE copies the seed into its data directory; `off` copies none', async () => {
    const seed = path.join(scratch(), 'seed')
    buildModuleCacheSeed(seed)
    assert.equal(moduleCacheSeed({ CUSTODIAN_COMPILE_CACHE_SEED: seed }), seed)
    assert.equal(moduleCacheSeed({ CUSTODIAN_COMPILE_CACHE_SEED: 'off' }), undefined)
    for (const setting of [seed, 'off']) {
      const dataDir = scratch()
      const server = await spawnServer({
        CUSTODIAN_DATA_DIR: dataDir,
        NODE_COMPILE_CACHE: '',
        CUSTODIAN_COMPILE_CACHE_SEED: setting,
      })
      try {
        const cache = path.join(dataDir, 'compile-cache')
        // The seed's copy is made 0700; a cache Node creates itself is 0755.
        assert.equal(statSync(cache).mode & 0o777, setting === 'off' ? 0o755 : 0o700, setting)
        assert.deepEqual(readdirSync(cache), readdirSync(seed), 'a cache for this Node')
      } finally {
        await server.stop()
      }
    }
  })
})
