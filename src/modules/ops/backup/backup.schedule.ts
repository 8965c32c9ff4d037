import { randomUUID } from 'node:crypto'
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs'
import { hostname } from 'node:os'
import path from 'node:path'
import { sql } from 'kysely'
import type { Clock } from '../../../clock.ts'
import type { Config } from '../../../config.ts'
import type { Database } from '../../../db/connect.ts'
import { orgsNotServed, withOrg, withOwner, type Trx } from '../../../db/tenant.ts'
import { periodic, type Periodic } from '../../../jobs/periodic.ts'
import type { AuditService } from '../../audit/audit.service.ts'
import type { AlertsService } from '../../response/alerts.service.ts'
import { readBackupFrame } from './backup.file.ts'
import { readRecipient } from './backup.keys.ts'
import { verifyManifest } from './backup.manifest.ts'
import { createBackup, verifyBackup, type BackupKeys } from './backup.service.ts'

/**
 * Scheduled backup files: `custodian-<UTC time>-<engine>.cbk`. The name alone proves nothing
 * (a `backup create --out` may use it): retention goes by the runs recorded in `backup_runs`.
 */
export const SCHEDULED_NAME = /^custodian-(\d{8}T\d{6}Z)-(pglite|postgres)\.cbk$/

/** A failed run is tried again after this long (or the interval, if shorter). */
export const RETRY_MS = 15 * 60_000

export type BackupConfig = NonNullable<Config['backup']>

/** What one scheduled run did. */
export type ScheduledRun =
  | { status: 'not_due' }
  | { status: 'succeeded'; file: string; bytes: number; verified: boolean; deleted: string[] }
  | { status: 'failed'; error: string }

/** The job's state: what `custodian backup list` and the P8.1 check show. */
export interface BackupScheduleState {
  nextDueAt: string | null
  leasedBy: string | null
  lastRuns: {
    trigger: 'schedule' | 'cli'
    status: 'succeeded' | 'failed'
    backupId: string | null
    backupCreatedAt: string | null
    finishedAt: string
    file: string | null
    verified: boolean
    error: string | null
  }[]
}

/**
 * Scheduled backups. Each process looks for a due run every `checkMs`; one takes it by a
 * lease on the single `backup_schedule` row (one conditional UPDATE), so across N processes
 * a run happens once; a holder that dies loses its lease when it expires. The run creates
 * the backup, verifies it in a scratch database (the check that it restores, not only that
 * it was written), records the run, deletes expired backups, and audits `backup.create`
 * in the provider org. A failure is recorded, raises the `backup_failed` alert in the
 * provider org and is tried again after {@link RETRY_MS}.
 */
export function createBackupScheduler(deps: {
  database: Database
  databaseUrl: string | undefined
  keys: BackupKeys
  config: BackupConfig | undefined
  audit: Pick<AuditService, 'append'>
  alerts: () => Pick<AlertsService, 'raiseIn'>
  providerOrgId: () => Promise<string | undefined>
  clock: Clock
  log: { info(obj: object, msg: string): void; error(obj: object, msg: string): void }
}): { runDue(): Promise<ScheduledRun>; state(): Promise<BackupScheduleState>; worker: Periodic | undefined } {
  const db = deps.database.kysely
  const node = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`

  async function claim(config: BackupConfig): Promise<boolean> {
    const now = deps.clock()
    // Long enough for a backup and its verification; a dead holder's run is taken over after it.
    const lease = new Date(now.getTime() + Math.min(config.intervalMs, 6 * 3_600_000))
    return withOwner(db, async (trx) => {
      await sql`INSERT INTO backup_schedule (id, next_due_at) VALUES (1, ${now}) ON CONFLICT (id) DO NOTHING`.execute(
        trx,
      )
      const claimed = await sql`
        UPDATE backup_schedule SET lease_until = ${lease}, leased_by = ${node}
         WHERE id = 1 AND next_due_at <= ${now} AND (lease_until IS NULL OR lease_until < ${now})`.execute(trx)
      return Number(claimed.numAffectedRows ?? 0) === 1
    })
  }

  async function finish(trx: Trx, nextDue: Date): Promise<void> {
    await sql`UPDATE backup_schedule SET next_due_at = ${nextDue}, lease_until = NULL, leased_by = NULL
               WHERE id = 1 AND leased_by = ${node}`.execute(trx)
  }

  async function run(config: BackupConfig): Promise<ScheduledRun> {
    const started = deps.clock()
    const file = path.join(config.dir, `custodian-${basicTime(started)}-${deps.database.engine}.cbk`)
    // Audited in the provider org while it is served: one rollback detection refuses (P8.1)
    // is written nothing, and the backup (recorded in backup_runs) is not failed for that.
    const provider = await deps.providerOrgId()
    const providerOrg = provider !== undefined && !orgsNotServed(db).includes(provider) ? provider : undefined
    let written: string | undefined // set once this run's own file holds the name
    try {
      mkdirSync(config.dir, { recursive: true, mode: 0o700 })
      const recipient = config.recipientFile === undefined ? undefined : readRecipient(config.recipientFile)
      const created = await createBackup({ database: deps.database, databaseUrl: deps.databaseUrl }, deps.keys, {
        file,
        recipient,
        now: deps.clock,
      })
      written = created.file
      // A backup to an offline recipient key cannot be opened here: it is verified where that
      // key is (`custodian backup verify --identity`), which records its own run.
      const verify = config.verify && recipient === undefined
      const report = verify ? await verifyBackup(file, deps.keys, { postgresUrl: deps.databaseUrl }) : undefined
      const deleted = await applyRetention(
        db,
        new Map([[deps.keys.signer.keyId, deps.keys.signer.publicKey]]),
        config,
        deps.clock(),
        {
          file,
          backupId: created.manifest.backupId,
          createdAt: new Date(created.manifest.createdAt),
          verified: report !== undefined,
        },
      )
      await withOwner(db, async (trx) => {
        await trx
          .insertInto('backup_runs')
          .values({
            id: randomUUID(),
            trigger: 'schedule',
            backup_id: created.manifest.backupId,
            backup_created_at: new Date(created.manifest.createdAt),
            started_at: started,
            finished_at: deps.clock(),
            status: 'succeeded',
            file,
            bytes: created.bytes,
            verified: report !== undefined,
            figures: JSON.stringify({ ...(report?.figures ?? {}), deleted: deleted.length }),
            error: null,
          })
          .execute()
        await finish(trx, new Date(started.getTime() + config.intervalMs))
      })
      if (providerOrg !== undefined)
        await withOrg(db, providerOrg, (trx) =>
          deps.audit.append(trx, {
            orgId: providerOrg,
            actor: { type: 'system', id: 'backup-scheduler' },
            action: 'backup.create',
            target: { type: 'backup', id: created.manifest.backupId },
            outcome: 'success',
            details: {
              trigger: 'schedule',
              file: path.basename(file),
              bytes: created.bytes,
              engine: created.manifest.engine,
              keyWrap: created.manifest.keyWrap.type,
              verified: report !== undefined,
              deleted: deleted.length,
            },
            meta: { requestId: null, ip: null, userAgent: null },
          }),
        )
      deps.log.info({ file, bytes: created.bytes, verified: report !== undefined, deleted }, 'scheduled backup written')
      return { status: 'succeeded', file, bytes: created.bytes, verified: report !== undefined, deleted }
    } catch (error) {
      const message = (error as Error).message
      deps.log.error({ err: error, file }, 'scheduled backup failed; retrying later')
      // Written but not verified: not left to look like a good backup. Only this run's own
      // file: a run refused because another took the name (BACKUP_EXISTS) leaves that one be.
      if (written !== undefined) rmSync(written, { force: true })
      await withOwner(db, async (trx) => {
        await trx
          .insertInto('backup_runs')
          .values({
            id: randomUUID(),
            trigger: 'schedule',
            backup_id: null,
            backup_created_at: null,
            started_at: started,
            finished_at: deps.clock(),
            status: 'failed',
            file: null,
            bytes: null,
            verified: false,
            figures: null,
            error: message.slice(0, 2000),
          })
          .execute()
        await finish(trx, new Date(started.getTime() + Math.min(config.intervalMs, RETRY_MS)))
      })
      if (providerOrg !== undefined)
        await withOrg(db, providerOrg, async (trx) => {
          await deps.audit.append(trx, {
            orgId: providerOrg,
            actor: { type: 'system', id: 'backup-scheduler' },
            action: 'backup.create',
            outcome: 'failure',
            details: { trigger: 'schedule', error: message.slice(0, 500) },
            meta: { requestId: null, ip: null, userAgent: null },
          })
          await deps.alerts().raiseIn(trx, providerOrg, 'backup_failed', {
            key: 'scheduled',
            title: 'a scheduled backup failed',
            details: { error: message.slice(0, 500), at: started.toISOString() },
          })
        })
      return { status: 'failed', error: message }
    }
  }

  const config = deps.config
  async function runDue(): Promise<ScheduledRun> {
    if (config === undefined || !(await claim(config))) return { status: 'not_due' }
    return run(config)
  }
  return {
    runDue,
    state: () => readScheduleState(db),
    worker:
      config === undefined
        ? undefined
        : periodic(
            'scheduled backups',
            config.checkMs,
            async () => {
              await runDue()
            },
            deps.log,
          ),
  }
}

/** The schedule's row and the newest runs (owner connection). */
export async function readScheduleState(db: Database['kysely']): Promise<BackupScheduleState> {
  return withOwner(db, async (trx) => {
    const schedule = await trx.selectFrom('backup_schedule').selectAll().where('id', '=', 1).executeTakeFirst()
    const runs = await trx
      .selectFrom('backup_runs')
      .selectAll()
      .orderBy('started_at', 'desc')
      .orderBy('id', 'desc')
      .limit(10)
      .execute()
    return {
      nextDueAt: schedule?.next_due_at.toISOString() ?? null,
      leasedBy: schedule?.leased_by ?? null,
      lastRuns: runs.map((r) => ({
        trigger: r.trigger,
        status: r.status,
        backupId: r.backup_id,
        backupCreatedAt: r.backup_created_at?.toISOString() ?? null,
        finishedAt: r.finished_at.toISOString(),
        file: r.file,
        verified: r.verified,
        error: r.error,
      })),
    }
  })
}

/** A backup retention may consider: one this scheduler recorded, still on disk and still the same backup. */
interface Kept {
  name: string
  backupId: string
  at: number
  verified: boolean
}

/**
 * Deletes scheduled backups past retention: beyond the newest `keep`, or older than
 * `maxAgeDays` (0: no age limit). Returns the names deleted.
 *
 * Only backups this scheduler made are touched: a file is a candidate when a succeeded
 * `schedule` run in `backup_runs` recorded it in `config.dir` and the file's signed manifest
 * (trusted audit keys) still names that run's backup id — so a `backup create` in the same
 * directory, whatever its name, is never deleted. And only backups older than the newest
 * *verified* one (a run, scheduled or `backup verify`, that restored it): the newest verified
 * backup and everything newer stay, so while no backup has verified nothing is deleted.
 * `current` is the run just made, not yet recorded. A scheduled run's `.partial` older than a
 * day (a run that died) goes too.
 */
export async function applyRetention(
  db: Database['kysely'],
  trusted: ReadonlyMap<string, string>,
  config: Pick<BackupConfig, 'dir' | 'keep' | 'maxAgeDays'>,
  now: Date,
  current?: { file: string; backupId: string; createdAt: Date; verified: boolean },
): Promise<string[]> {
  const dir = path.resolve(config.dir)
  const { runs, verifiedIds } = await withOwner(db, async (trx) => ({
    runs: await trx
      .selectFrom('backup_runs')
      .select(['file', 'backup_id', 'backup_created_at'])
      .where('trigger', '=', 'schedule')
      .where('status', '=', 'succeeded')
      .where('file', 'is not', null)
      .where('backup_id', 'is not', null)
      .execute(),
    verifiedIds: new Set(
      (
        await trx
          .selectFrom('backup_runs')
          .select('backup_id')
          .where('status', '=', 'succeeded')
          .where('verified', '=', true)
          .where('backup_id', 'is not', null)
          .execute()
      ).map((r) => r.backup_id as string),
    ),
  }))
  if (current?.verified === true) verifiedIds.add(current.backupId)
  const recorded = new Map<string, { backupId: string; at: number }>()
  for (const r of runs)
    recorded.set(r.file as string, { backupId: r.backup_id as string, at: (r.backup_created_at as Date).getTime() })
  if (current !== undefined) recorded.set(current.file, { backupId: current.backupId, at: current.createdAt.getTime() })
  const kept: Kept[] = []
  for (const [file, run] of recorded) {
    if (path.dirname(path.resolve(file)) !== dir) continue
    if ((await signedBackupId(file, trusted)) !== run.backupId) continue // gone, or not the backup recorded
    kept.push({
      name: path.basename(file),
      backupId: run.backupId,
      at: run.at,
      verified: verifiedIds.has(run.backupId),
    })
  }
  kept.sort((a, b) => b.at - a.at || (a.name < b.name ? 1 : -1))
  const newestVerified = kept.findIndex((b) => b.verified)
  const oldest = config.maxAgeDays === 0 ? -Infinity : now.getTime() - config.maxAgeDays * 86_400_000
  const expired =
    newestVerified === -1
      ? []
      : kept.filter((b, i) => i > newestVerified && (i >= config.keep || b.at < oldest)).map((b) => b.name)
  const partials = readdirSync(dir).filter((name) => {
    const match = /^(.*\.cbk)(\.[0-9a-f]{16})?\.partial$/.exec(name)
    if (match === null || !SCHEDULED_NAME.test(match[1] as string)) return false
    return now.getTime() - statSync(path.join(dir, name)).mtimeMs > 86_400_000
  })
  for (const name of [...expired, ...partials]) rmSync(path.join(dir, name), { force: true })
  return [...expired, ...partials]
}

/** The backup id a file's manifest signs, or undefined when it is missing or not a trusted backup. */
async function signedBackupId(file: string, trusted: ReadonlyMap<string, string>): Promise<string | undefined> {
  try {
    return (await verifyManifest(readBackupFrame(file).manifestJws, trusted)).backupId
  } catch {
    return undefined
  }
}

/** `20261203T075900Z`: sorts as time, and is a valid file name everywhere. */
export function basicTime(at: Date): string {
  return at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z')
}
