/**
 * Builds the embedded database's migrated template (src/db/template.ts), unless the one
 * there is current: `node scripts/db-template.ts [dir]` (default CUSTODIAN_PGLITE_TEMPLATE,
 * else .cache/pglite-template). `npm ci` runs it (the package's `prepare` script), so that the
 * first start copies the template instead of building it; a first start builds it too when
 * there is none, and running this after a `git pull` that brings migrations keeps that start fast.
 */
import path from 'node:path'
import { DEFAULT_PGLITE_TEMPLATE } from '../src/config.ts'
import { ensureTemplate } from '../src/db/template.ts'

const configured = process.env.CUSTODIAN_PGLITE_TEMPLATE
const dir = path.resolve(
  process.argv[2] ?? (configured === undefined || configured === 'off' ? DEFAULT_PGLITE_TEMPLATE : configured),
)
const started = performance.now()
const built = await ensureTemplate(dir)
process.stdout.write(
  built
    ? `Built the embedded database's template in ${dir} (${((performance.now() - started) / 1000).toFixed(1)} s)\n`
    : `The embedded database's template in ${dir} is current\n`,
)
