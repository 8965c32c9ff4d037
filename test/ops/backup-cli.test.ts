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
      assert.doesNotMatch(busy.output, /Restoring/, 'refused before any progress line')
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

    // Refusals a restore or a verify can know up front come before any progress line.
    const notEmpty = await cli(['backup', 'restore', file], env)
    assert.equal(notEmpty.code, 1, notEmpty.output)
    assert.match(notEmpty.output, /BACKUP_TARGET_NOT_EMPTY: .*holds 1 org\(s\): restore with --force/)
    assert.doesNotMatch(notEmpty.output, /Restoring/)
    for (const command of ['restore', 'verify']) {
      const missing = await cli(['backup', command, path.join(out, 'no-such.cbk')], env)
      assert.equal(missing.code, 1, missing.output)
      assert.match(missing.output, /BACKUP_NOT_FOUND: .*no-such\.cbk does not exist/)
      assert.doesNotMatch(missing.output, /Restoring|Verifying/, missing.output)
    }

    // Verifying where the service has no database (a recipient backup checked on another
    // machine, with the deployment's key files) creates none: reported, not recorded.
    const identity = path.join(out, 'offline.key')
    assert.equal((await cli(['backup', 'keygen', '--out', identity], env)).code, 0)
    const sealed = path.join(out, 'sealed.cbk')
    const toRecipient = await cli(['backup', 'create', '--out', sealed, '--recipient', `${identity}.pub`], env)
    assert.equal(toRecipient.code, 0, toRecipient.output)
    const elsewhere = path.join(mkdtempSync(path.join(tmpdir(), 'custodian-verify-elsewhere-')), 'data')
    const elsewhereEnv = {
      CUSTODIAN_DATA_DIR: elsewhere,
      CUSTODIAN_ROOT_KEY_FILE: path.join(dataDir, 'root.key'),
      CUSTODIAN_AUDIT_KEY_FILE: path.join(dataDir, 'audit.key'),
      CUSTODIAN_LOG_LEVEL: 'warn',
    }
    const offline = await cli(['backup', 'verify', sealed, '--identity', identity], elsewhereEnv)
    assert.equal(offline.code, 0, offline.output)
    assert.match(offline.output, /verifies:/)
    assert.match(offline.output, /No service database in .*: this verification is reported here only, not recorded/)
    assert.equal(existsSync(elsewhere), false, 'no data directory was created to record it in')
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
