#!/usr/bin/env node
// The `custodian` command. Custodian runs on Node.js 24, which the `node@24` dependency
// installs; when this file is started by an older Node (the system's), it re-runs itself
// with that one, so `./bin/custodian.js` works as well as `npx custodian`.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

const major = Number(process.versions.node.split('.')[0])
if (major < 24) {
  const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
  const pinned = path.join(root, 'node_modules', 'node', 'bin', 'node')
  if (!existsSync(pinned)) {
    process.stderr.write(
      `custodian needs Node.js 24 (this is ${process.version}); run \`npm ci\` first to install it\n`,
    )
    process.exit(1)
  }
  const result = spawnSync(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' })
  process.exit(result.status ?? 1)
}
await import('../src/cli/index.ts')
