import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'
import { openDatabase } from '../../src/db/connect.ts'
import { bootstrapOverHttps, runToExit, spawnServer } from '../helpers/process.ts'

const cli = (args: string[], env: Record<string, string>) => runToExit(['bin/custodian.js', ...args], env)

/**
 * The `custodian backup` commands against an embedded data directory, as an operator runs
 * them: create beside the running service (it takes the copy itself, over its control
 * socket; restore is refused there), then create, verify, list and restore with the service
 * stopped, each audited in the provider org.
 */
describe('custodian backup (P8.1, embedded)', () => {
  it('P8.1: create works beside a running embedded service (over its control socket) and restore is refused there; with it stopped, create, verify, list and restore work and are audited', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'custodian-backup-cli-'))
    const out = mkdtempSync(path.join(tmpdir(), 'custodian-backup-out-'))
    const env = { CUSTODIAN_DATA_DIR: dataDir, CUSTODIAN_LOG_LEVEL: 'warn' }
    const server = await spawnServer(env)
    try {
      assert.equal((await bootstrapOverHttps(server.httpsPort, server.bootstrapToken)).status, 201)
      // Beside the running service: taken by the service itself, over its control socket.
      const live = await cli(['backup', 'create', '--out', path.join(out, 'live.cbk')], env)
      assert.equal(live.code, 0, live.output)
      assert.match(live.output, /written: \d+ bytes, 1 org\(s\), key wrapped by the root key/)
      assert.equal(existsSync(path.join(out, 'live.cbk')), true)
      // Restore is refused while the service runs, whoever asks.
      const busy = await cli(['backup', 'restore', path.join(out, 'live.cbk'), '--force'], env)
      assert.equal(busy.code, 1, busy.output)
    } finally {
      await server.stop()
    }
    const liveVerified = await cli(['backup', 'verify', path.join(out, 'live.cbk')], env)
    assert.equal(liveVerified.code, 0, liveVerified.output)

    const file = path.join(out, 'stopped.cbk')
    const created = await cli(['backup', 'create', '--out', file], env)
    assert.equal(created.code, 0, created.output)
    assert.match(created.output, /written: \d+ bytes, 1 org\(s\), key wrapped by the root key/)
    const verified = await cli(['backup', 'verify', file], env)
    assert.equal(verified.code, 0, verified.output)
    assert.match(verified.output, /verifies:[\s\S]*orgs: 1; audit events: \d+/)
    const listed = await cli(['backup', 'list', '--dir', out], env)
    assert.equal(listed.code, 0, listed.output)
    assert.match(listed.output, /stopped\.cbk .* pglite .* signed/)
    assert.match(listed.output, /cli {2}succeeded, verified/)

    const notEmpty = await cli(['backup', 'restore', file], env)
    assert.equal(notEmpty.code, 1, notEmpty.output)
    assert.match(notEmpty.output, /holds 1 org\(s\): restore with --force/)
    const forced = await cli(['backup', 'restore', file, '--force'], env)
    assert.equal(forced.code, 0, forced.output)
    assert.match(forced.output, /Restored backup .* kept as .*pgdata\.before-restore-/)
    assert.ok(readdirSync(dataDir).some((name) => name.startsWith('pgdata.before-restore-')))

    const database = await openDatabase({ dataDir })
    try {
      const actions = (
        await database.kysely.selectFrom('audit_events').select('action').where('action', 'like', 'backup.%').execute()
      ).map((r) => r.action)
      // The restored database records its restore, and what was done before its snapshot
      // (the backup taken beside the service, and its verification). The stopped create and
      // verify events were written after the snapshot, into the database the restore
      // replaced (kept beside it).
      assert.equal(actions.at(-1), 'backup.restore', actions.join(', '))
      assert.equal(actions.filter((a) => a === 'backup.create').length, 1, actions.join(', '))
    } finally {
      await database.close()
    }
  })
})
