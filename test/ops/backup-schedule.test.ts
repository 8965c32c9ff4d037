import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import { it } from 'node:test'
import { sql } from 'kysely'
import { loadConfig } from '../../src/config.ts'
import { deriveKey, ed25519FromSeed } from '../../src/crypto/keys.ts'
import { createLocalProvider } from '../../src/crypto/providers/local.ts'
import { withOwner } from '../../src/db/tenant.ts'
import { writeBackupFile } from '../../src/modules/ops/backup/backup.file.ts'
import { BACKUP_FORMAT, signManifest } from '../../src/modules/ops/backup/backup.manifest.ts'
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

  const signer = () => ed25519FromSeed(deriveKey(rootKey, 'audit-signing-v1'))
  const trusted = () => new Map([[signer().keyId, signer().publicKey]])

  /**
   * A small but real backup file (frame and signed manifest) at `dir/name`, and, when `run`
   * is given, the scheduler's record of it (and of its verification).
   */
  async function backupFile(
    dir: string,
    name: string,
    createdAt: Date,
    run: { trigger: 'schedule' | 'cli'; verified: boolean } | undefined,
  ): Promise<string> {
    const backupId = randomUUID()
    const file = path.join(dir, name)
    await writeBackupFile(file, Readable.from([randomBytes(100)]), randomBytes(32), async (payload) =>
      signManifest(signer(), {
        format: BACKUP_FORMAT,
        backupId,
        createdAt: createdAt.toISOString(),
        engine,
        schemaVersion: 'test',
        content: engine === 'postgres' ? 'pg_dump-custom' : 'pglite-datadir-tar.gz',
        payload,
        keyWrap: { type: 'x25519', recipient: 'test', ephemeral: 'test', wrapped: 'test' },
        orgs: [],
      }),
    )
    if (run !== undefined)
      await withOwner(t().db.kysely, (trx) =>
        trx
          .insertInto('backup_runs')
          .values({
            id: randomUUID(),
            trigger: run.trigger,
            backup_id: backupId,
            backup_created_at: createdAt,
            started_at: createdAt,
            finished_at: createdAt,
            status: 'succeeded',
            file,
            bytes: 1,
            verified: run.verified,
            figures: null,
            error: null,
          })
          .execute(),
      )
    return name
  }

  const now = new Date('2026-12-03T12:00:00Z')
  const hoursAgo = (hours: number) => new Date(now.getTime() - hours * 3_600_000)
  const scheduledName = (at: Date) => `custodian-${basicTime(at)}-${engine}.cbk`
  const retention = (dir: string, keep: number, maxAgeDays: number) =>
    applyRetention(t().db.kysely, trusted(), { dir, keep, maxAgeDays }, now)

  it('P8.1: retention deletes scheduled backups past the count or the age — never a manual backup, even one named like a scheduled one', async () => {
    const own = mkdtempSync(path.join(tmpdir(), 'custodian-retention-'))
    const scheduled: string[] = []
    for (const hours of [0, 1, 2, 3, 24 * 40])
      scheduled.push(
        await backupFile(own, scheduledName(hoursAgo(hours)), hoursAgo(hours), { trigger: 'schedule', verified: true }),
      )
    // `backup create` in the directory: its default name, and one named like a scheduled backup.
    const manual = [
      await backupFile(
        own,
        `custodian-manual-${basicTime(hoursAgo(24 * 50))}-${engine}.cbk`,
        hoursAgo(24 * 50),
        undefined,
      ),
      await backupFile(own, scheduledName(hoursAgo(24 * 45)), hoursAgo(24 * 45), undefined),
    ]
    writeFileSync(path.join(own, 'notes.txt'), 'x')
    assert.deepEqual((await retention(own, 3, 30)).sort(), [scheduled[3], scheduled[4]].sort())
    assert.deepEqual(readdirSync(own).sort(), [scheduled[0], scheduled[1], scheduled[2], ...manual, 'notes.txt'].sort())
  })

  it('P8.1: retention never deletes the newest verified backup, nor any backup while no newer one has verified', async () => {
    // Nothing verified (verification off, or failing): nothing is deleted, whatever the age.
    const none = mkdtempSync(path.join(tmpdir(), 'custodian-retention-'))
    for (const days of [40, 50, 60])
      await backupFile(none, scheduledName(hoursAgo(24 * days)), hoursAgo(24 * days), {
        trigger: 'schedule',
        verified: false,
      })
    assert.deepEqual(await retention(none, 1, 30), [])
    assert.equal(readdirSync(none).length, 3)

    // Newer runs that did not verify do not count: the newest verified backup stays, and so does
    // everything newer; only backups older than it go, by count or age.
    const mixed = mkdtempSync(path.join(tmpdir(), 'custodian-retention-'))
    const unverified = [
      await backupFile(mixed, scheduledName(hoursAgo(1)), hoursAgo(1), { trigger: 'schedule', verified: false }),
      await backupFile(mixed, scheduledName(hoursAgo(2)), hoursAgo(2), { trigger: 'schedule', verified: false }),
    ]
    // Verified later by `custodian backup verify` (a cli run naming the same backup).
    const verified = await backupFile(mixed, scheduledName(hoursAgo(24 * 40)), hoursAgo(24 * 40), {
      trigger: 'schedule',
      verified: false,
    })
    await withOwner(t().db.kysely, async (trx) => {
      const row = await trx
        .selectFrom('backup_runs')
        .select(['backup_id', 'backup_created_at'])
        .where('file', '=', path.join(mixed, verified))
        .executeTakeFirstOrThrow()
      await trx
        .insertInto('backup_runs')
        .values({
          id: randomUUID(),
          trigger: 'cli',
          backup_id: row.backup_id,
          backup_created_at: row.backup_created_at,
          started_at: now,
          finished_at: now,
          status: 'succeeded',
          file: path.join(mixed, verified),
          bytes: 1,
          verified: true,
          figures: null,
          error: null,
        })
        .execute()
    })
    const older = await backupFile(mixed, scheduledName(hoursAgo(24 * 41)), hoursAgo(24 * 41), {
      trigger: 'schedule',
      verified: true,
    })
    assert.deepEqual(await retention(mixed, 1, 30), [older])
    assert.deepEqual(readdirSync(mixed).sort(), [...unverified, verified].sort())
  })
})
