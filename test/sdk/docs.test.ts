import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { startSdkWorld, type SdkWorld } from '../helpers/sdk-world.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')

/**
 * docs/sdk.md's examples are a program: its `ts` blocks, in order, run against a real
 * service with the page's placeholders (URL, CA file, token variable) replaced by the
 * test's. A change to the SDK that breaks an example fails here, so the page cannot rot.
 */
describe('docs/sdk.md', () => {
  let world: SdkWorld
  before(async () => {
    world = await startSdkWorld('pglite')
  })
  after(async () => {
    await world?.stop()
  })

  it('runs every example on the page, in order, against a running service', async () => {
    const page = readFileSync(path.join(ROOT, 'docs/sdk.md'), 'utf8')
    const blocks = [...page.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? '')
    assert.ok(blocks.length >= 8, `the page's examples (${blocks.length})`)
    const program = blocks
      .join('\n')
      .replace("'https://custodian.internal:8443'", JSON.stringify(world.url))
      .replace("'/etc/custodian/ca.pem'", JSON.stringify(world.caFile))
    assert.ok(
      program.includes(world.url) && program.includes(world.caFile),
      'the placeholders are where the test expects',
    )
    // Inside the checkout, so that `@custodian/client` resolves as it does for a linked host app.
    const dir = path.join(ROOT, '.cache', `sdk-docs-${process.pid}`)
    mkdirSync(dir, { recursive: true })
    const file = path.join(dir, 'examples.ts')
    writeFileSync(file, program)
    const run = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = spawn(process.execPath, [file], {
        cwd: dir,
        env: { PATH: process.env.PATH ?? '', BILLING_CUSTODIAN_TOKEN: world.appToken },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let output = ''
      child.stdout.on('data', (c: Buffer) => (output += c.toString()))
      child.stderr.on('data', (c: Buffer) => (output += c.toString()))
      child.once('exit', (code) => resolve({ code, output }))
    })
    assert.equal(run.code, 0, run.output)
    assert.match(run.output, new RegExp(`working in org ${world.orgId}`))
    assert.match(run.output, /^version 2 of a string value$/m)
    assert.match(run.output, /^cst:v1:. true$/m)
    assert.match(run.output, /^not there: /m)
    // The application's event is recorded through the batch route and read back from the log.
    assert.doesNotMatch(run.output, /audit events not recorded yet/)
    assert.match(run.output, /^\d+ invoice\.export$/m)
    assert.match(run.output, /^0 audit event\(s\) not sent$/m)
    assert.ok(!run.output.includes('sk_live_rotated'), 'the examples print no secret value')
  })
})
