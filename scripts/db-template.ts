/**
 * Builds the embedded database's migrated template (src/db/template.ts), unless the one
 * there is current: `node scripts/db-template.ts [dir]` (default CUSTODIAN_PGLITE_TEMPLATE,
 * else .cache/pglite-template). `npm ci` runs it with `--prepare` (the package's `prepare`
 * script; skipped where the script is not there yet, as in the image's dependency layer), so
 * that the first start copies the template instead of building it; a first start builds it
 * too when there is none, and running this after a `git pull` that brings migrations keeps
 * that start fast. It also prepares the compile cache a first start begins from
 * (src/module-cache.ts, .cache/compile-cache-seed), never failing an install over it.
 */
import path from 'node:path'
import { DEFAULT_PGLITE_TEMPLATE } from '../src/config.ts'
import { ensureTemplate } from '../src/db/template.ts'
import { buildModuleCacheSeed, moduleCacheSeed } from '../src/module-cache.ts'

// `--prepare` (npm's `prepare` script, run by `npm ci`): an optimisation of the first start,
// never a reason for an install to fail — skipped when the embedded database's template is
// off, and a template that cannot be built (a read-only checkout, say) is only reported: the
// first start then builds it, or migrates from nothing.
const prepare = process.argv.includes('--prepare')
const [argument] = process.argv.slice(2).filter((a) => a !== '--prepare')
const configured = process.env.CUSTODIAN_PGLITE_TEMPLATE
if (prepare && configured === 'off') {
  process.stdout.write('CUSTODIAN_PGLITE_TEMPLATE=off: no template built\n')
  process.exit(0)
}
const dir = path.resolve(
  argument ?? (configured === undefined || configured === 'off' ? DEFAULT_PGLITE_TEMPLATE : configured),
)
const started = performance.now()
let built: boolean
try {
  built = await ensureTemplate(dir)
} catch (error) {
  if (!prepare) throw error
  process.stderr.write(
    `The embedded database's template could not be built in ${dir} (${error instanceof Error ? error.message : String(error)}); the first start builds it\n`,
  )
  process.exit(0)
}
process.stdout.write(
  built
    ? `Built the embedded database's template in ${dir} (${((performance.now() - started) / 1000).toFixed(1)} s)\n`
    : `The embedded database's template in ${dir} is current\n`,
)

// The compile cache a first start copies (src/module-cache.ts): an optimisation too, so a
// failure is only reported.
const seed = moduleCacheSeed()
if (seed === undefined) {
  process.stdout.write('CUSTODIAN_COMPILE_CACHE_SEED=off: no compile cache prepared\n')
} else {
  const seeding = performance.now()
  try {
    buildModuleCacheSeed(seed)
    process.stdout.write(
      `Prepared the first start's compile cache in ${seed} (${((performance.now() - seeding) / 1000).toFixed(1)} s)\n`,
    )
  } catch (error) {
    process.stderr.write(
      `The first start's compile cache could not be prepared in ${seed} (${error instanceof Error ? error.message : String(error)}); the first start compiles its modules\n`,
    )
  }
}
