import { spawnSync } from 'node:child_process'
import { chmodSync, cpSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs'
import { enableCompileCache } from 'node:module'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

/** The package's root (this file is in src/). */
const ROOT = path.resolve(import.meta.dirname, '..')

/**
 * The compile cache `npm ci` prepares for a first start (scripts/db-template.ts `--prepare`):
 * Node's cache of the modules a start loads, built by loading them once. By default under the
 * install's `.cache`, written by whoever installed the package — the same trust as its source
 * files; `CUSTODIAN_COMPILE_CACHE_SEED` names another directory, or `off` (none built, none
 * used). Returns undefined for `off`.
 */
export function moduleCacheSeed(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const configured = env.CUSTODIAN_COMPILE_CACHE_SEED
  if (configured === 'off') return undefined
  return configured ? path.resolve(configured) : path.join(ROOT, '.cache', 'compile-cache-seed')
}

/**
 * Node's compile cache (https://nodejs.org/api/module.html#module-compile-cache) for the few
 * hundred modules a start loads: their type-stripped source and V8 code are kept under the
 * data directory and reused by the next start (about half a start's CPU on the test machine,
 * docs/benchmarks.md). Under the data directory, not the shared temporary directory: a cache
 * entry is code this process runs, so it lives where only the service's user can write
 * (the directory is created 0700 here, as the database would create it). Entries are
 * checksummed against their source: an edited, stale or torn entry is compiled again.
 *
 * A first start (no cache in the data directory yet) begins from a copy of the prepared `seed`
 * ({@link moduleCacheSeed}, the configuration's `compileCacheSeed`) when there is one, so that it does not compile every module (the
 * embedded first start's `modules` step: 1.2 s cold, 0.7 s seeded, on the test machine).
 *
 * A non-empty `NODE_COMPILE_CACHE` set by the operator wins (Node enabled it before this
 * runs); an empty one is taken as unset. The cache is an optimisation: a directory it cannot
 * use is ignored.
 */
export function enableModuleCache(dataDir: string, seed: string | undefined): void {
  if (process.env.NODE_COMPILE_CACHE) return
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
    const cache = path.join(dataDir, 'compile-cache')
    if (seed !== undefined) seedModuleCache(seed, cache)
    enableCompileCache(cache)
  } catch {
    // A read-only data directory: start without the cache.
  }
}

/**
 * Copies `seed` to `cache` when `cache` does not exist and `seed` does: into a sibling first,
 * renamed at the end, so that an interrupted copy never passes for a cache (mode 0700).
 * Returns whether it copied. Never throws: without a seed the start compiles, as before.
 */
export function seedModuleCache(seed: string, cache: string): boolean {
  if (existsSync(cache) || !existsSync(seed)) return false
  const partial = `${cache}.partial-${process.pid}`
  try {
    cpSync(seed, partial, { recursive: true })
    chmodSync(partial, 0o700)
    renameSync(partial, cache)
    return true
  } catch {
    rmSync(partial, { recursive: true, force: true })
    return false
  }
}

/**
 * Builds the seed in `seed` afresh: a Node process with the cache enabled
 * there loads the service's modules (src/server.ts and what it imports), and exits. Into a
 * sibling first, renamed at the end. Throws when that process fails.
 */
export function buildModuleCacheSeed(seed: string): void {
  const partial = `${seed}.partial-${process.pid}`
  rmSync(partial, { recursive: true, force: true })
  const server = pathToFileURL(path.join(ROOT, 'src', 'server.ts')).href
  const run = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', `await import(${JSON.stringify(server)}); process.exit(0)`],
    { env: { ...process.env, NODE_COMPILE_CACHE: partial }, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' },
  )
  if (run.status !== 0) {
    rmSync(partial, { recursive: true, force: true })
    throw new Error(`loading the service's modules failed: ${run.stderr.trim().split('\n').at(-1) ?? run.status}`)
  }
  rmSync(seed, { recursive: true, force: true })
  renameSync(partial, seed)
}
