import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { it } from 'node:test'
import { sql } from 'kysely'
import { loadConfig } from '../../src/config.ts'
import { deriveKey, ed25519FromSeed } from '../../src/crypto/keys.ts'
import { createLocalProvider } from '../../src/crypto/providers/local.ts'
import { applyRetention, basicTime, createBackupScheduler } from '../../src/modules/ops/backup/backup.schedule.ts'
import { bootstrapProvider, testClock, useTestApp, type Org } from '../helpers/app.ts'
import { forEachEngine } from '../helpers/db.ts'

forEachEngine('scheduled backups (P8.1)', (engine) => {
  const rootKey = randomBytes(32)
  const time = testClock()
  const dir = mkdtempSync(path.join(tmpdir(), 'custodian-scheduled-'))
  const env = {
    CUSTODIAN_BACKUP_DIR: dir,
    CUSTODIAN_BACKUP_INTERVAL_MINUTES: '60',
    CUSTODIAN_BACKUP_KEEP: '5',
    CUSTODIAN_AUDIT_CHECKPOINT_EVERY: '1',
    CUSTODIAN_SHRED_RING_FILE: path.join(dir, '..', `${path.basename(dir)}-ring.json`),
  }
  const t = useTestApp(engine, env, undefined, undefined, { clock: time.clock, rootKey })
  let provider: Org

  /** A second process's scheduler on the same database (same deployment, same keys). */
  function otherProcess(overrides: Record<string, string> = {}) {
    const { services } = t().app
    return createBackupScheduler({
      database: t().db,
      databaseUrl: t().db.url,
      keys: {
        signer: ed25519FromSeed(deriveKey(rootKey, 'audit-signing-v1')),
        hmacKey: deriveKey(rootKey, 'audit-hmac-v1'),
        rootKey: createLocalProvider(rootKey),
      },
      config: loadConfig({ ...env, ...overrides }).backup,
      audit: services.audit,
      alerts: () => services.alerts,
      providerOrgId: () => services.auth.providerOrgId(),
      clock: time.clock,
      log: { info() {}, error() {} },
    })
  }

  const p81 = async () => {
    await t().app.services.compliance.evaluate(provider.orgId, 'schedule')
    const result = (await t().app.services.compliance.results(provider.orgId)).find((c) => c.check === 'p8.1/backups')
    assert.ok(result)
    return result
  }

  it('P8.1: the P8.1 check fails while no backup has been verified', async () => {
    provider = await bootstrapProvider(t())
    await t().app.sequencer.flush()
    const result = await p81()
    assert.equal(result.verdict, 'fail')
    assert.match(result.summary, /no backup has been verified yet/)
  })

  it('P8.1: a due run is taken by one process of several, verified, recorded and audited; then not again until due', async () => {
    const runs = await Promise.all([t().app.services.backups.runDue(), otherProcess().runDue()])
    const done = runs.filter((r) => r.status === 'succeeded')
    assert.equal(done.length, 1, JSON.stringify(runs))
    assert.equal(runs.filter((r) => r.status === 'not_due').length, 1)
    assert.ok(done[0]?.status === 'succeeded' && done[0].verified)
    assert.equal((await t().app.services.backups.runDue()).status, 'not_due')
    const state = await t().app.services.backups.state()
    assert.equal(state.lastRuns[0]?.status, 'succeeded')
    assert.equal(state.lastRuns[0]?.verified, true)
    assert.ok(state.nextDueAt !== null && Date.parse(state.nextDueAt) > time.clock().getTime() + 59 * 60_000)
    await t().app.sequencer.flush()
    const audited = await sql<{ action: string; outcome: string }>`
      SELECT action, outcome FROM audit_events WHERE org_id = ${provider.orgId} AND action = 'backup.create'`.execute(
      t().db.kysely,
    )
    assert.deepEqual(audited.rows, [{ action: 'backup.create', outcome: 'success' }])
    const result = await p81()
    assert.equal(result.verdict, 'pass', result.summary)
  })

  it('P8.1: the check fails once the newest verified backup is older than twice the interval', async () => {
    time.advance(3 * 3_600_000)
    const result = await p81()
    assert.equal(result.verdict, 'fail')
    assert.match(result.summary, /hours old: scheduled backups are failing/)
  })

  it('P8.1: a failed run is recorded, raises backup_failed in the provider org, and is retried within 15 minutes', async () => {
    const blocked = path.join(dir, 'not-a-directory')
    writeFileSync(blocked, 'x')
    const failing = otherProcess({ CUSTODIAN_BACKUP_DIR: blocked })
    const run = await failing.runDue()
    assert.equal(run.status, 'failed')
    const state = await failing.state()
    assert.equal(state.lastRuns[0]?.status, 'failed')
    assert.ok(state.nextDueAt !== null && Date.parse(state.nextDueAt) <= time.clock().getTime() + 15 * 60_000)
    const alerts = await t().request({
      method: 'GET',
      url: `/v1/orgs/${provider.orgId}/alerts`,
      token: provider.ownerToken,
    })
    assert.equal(alerts.status, 200, alerts.text)
    assert.ok(
      (alerts.body.alerts as { rule: string }[]).some((a) => a.rule === 'backup_failed'),
      'backup_failed raised',
    )
  })

  it('P8.1: retention deletes only scheduled backups past the count or the age, never the newest nor other files', () => {
    const own = mkdtempSync(path.join(tmpdir(), 'custodian-retention-'))
    const now = new Date('2026-12-03T12:00:00Z')
    const at = (hoursAgo: number) =>
      `custodian-${basicTime(new Date(now.getTime() - hoursAgo * 3_600_000))}-${engine}.cbk`
    const names = [0, 1, 2, 3, 24 * 40].map(at)
    for (const name of [...names, 'notes.txt', 'custodian-manual.cbk']) writeFileSync(path.join(own, name), 'x')
    assert.deepEqual(applyRetention({ dir: own, keep: 3, maxAgeDays: 30 }, now).sort(), [names[3], names[4]].sort())
    assert.deepEqual(
      readdirSync(own).sort(),
      [names[0], names[1], names[2], 'custodian-manual.cbk', 'notes.txt'].sort(),
    )
    // By age only: the newest stays even when it is older than the limit.
    const aged = mkdtempSync(path.join(tmpdir(), 'custodian-retention-'))
    const old = [24 * 50, 24 * 60].map(at)
    for (const name of old) writeFileSync(path.join(aged, name), 'x')
    assert.deepEqual(applyRetention({ dir: aged, keep: 10, maxAgeDays: 30 }, now), [old[1]])
    assert.deepEqual(readdirSync(aged), [old[0]])
  })
})
