import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'
import { bootstrapOverHttps, httpsJson, runToExit, spawnServer } from '../helpers/process.ts'
import type { JsonBody } from '../helpers/json.ts'

/**
 * The embedded database (PGlite) is single-process and does not fsync: an acknowledged
 * write must survive the process being killed at any moment, and a second process must
 * refuse the same data directory.
 */
describe('embedded database: single process, durable across kill -9', () => {
  it('refuses a second process on the same data directory, with a clear message', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'custodian-lock-'))
    const first = await spawnServer({ CUSTODIAN_DATA_DIR: dataDir })
    try {
      const second = await runToExit(['src/main.ts'], {
        CUSTODIAN_DATA_DIR: dataDir,
        CUSTODIAN_HTTPS_PORT: '0',
        CUSTODIAN_HTTP_PORT: '0',
      })
      assert.notEqual(second.code, 0)
      assert.match(second.output, /in use by another Custodian process \(pid \d+\)/)
      // A command that must own the directory is refused, naming the service (the others run
      // inside it over the control socket: test/cli/control-socket.test.ts).
      const cli = await runToExit(['bin/custodian.js', 'init'], { CUSTODIAN_DATA_DIR: dataDir })
      assert.notEqual(cli.code, 0)
      assert.match(cli.output, /a Custodian service \(pid \d+\) runs on the data directory/)
    } finally {
      await first.stop()
    }
  })

  it('keeps every acknowledged write after kill -9, and the audit chain verifies after restart', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'custodian-kill-'))
    const first = await spawnServer({ CUSTODIAN_DATA_DIR: dataDir })
    const boot = await bootstrapOverHttps(first.httpsPort, first.bootstrapToken)
    assert.equal(boot.status, 201, boot.text)
    const { apiToken, orgId } = boot.body
    const acknowledged: string[] = []
    for (let i = 0; i < 25; i++) {
      const response = await httpsJson(first.httpsPort, 'POST', `/v1/orgs/${orgId}/service-accounts`, {
        token: apiToken,
        body: { name: `durable-${i}`, role: 'viewer' },
      })
      assert.equal(response.status, 201)
      acknowledged.push(response.body.id)
    }
    await first.kill() // straight after the last acknowledgement: no shutdown, no flush

    const second = await spawnServer({ CUSTODIAN_DATA_DIR: dataDir })
    try {
      const listed = await httpsJson(second.httpsPort, 'GET', `/v1/orgs/${orgId}/service-accounts`, { token: apiToken })
      assert.equal(listed.status, 200)
      const ids = new Set((listed.body.serviceAccounts as { id: string }[]).map((a) => a.id))
      for (const id of acknowledged) assert.ok(ids.has(id), `acknowledged write ${id} lost`)
      let verified: JsonBody = {}
      for (let attempt = 0; attempt < 50; attempt++) {
        verified = (await httpsJson(second.httpsPort, 'GET', `/v1/orgs/${orgId}/audit/verify`, { token: apiToken }))
          .body
        if (verified.unchained === 0) break
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      assert.equal(verified.ok, true, JSON.stringify(verified.problems))
      assert.ok(verified.events >= 28, `events: ${verified.events}`)
    } finally {
      await second.stop()
    }
  })
})
