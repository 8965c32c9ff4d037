import { randomUUID } from 'node:crypto'
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs'
import { hostname } from 'node:os'
import path from 'node:path'
import { sql } from 'kysely'
import type { Clock } from '../../../clock.ts'
import type { Config } from '../../../config.ts'
import type { Database } from '../../../db/connect.ts'
import { withOrg, withOwner, type Trx } from '../../../db/tenant.ts'
import { periodic, type Periodic } from '../../../jobs/periodic.ts'
import type { AuditService } from '../../audit/audit.service.ts'
import type { AlertsService } from '../../response/alerts.service.ts'
import { readRecipient } from './backup.keys.ts'
import { createBackup, verifyBackup, type BackupKeys } from './backup.service.ts'

/** Scheduled backup files: `custodian-<UTC time>-<engine>.cbk`; retention touches nothing else in the directory. */
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
    const providerOrg = await deps.providerOrgId()
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
      const deleted = applyRetention(config, deps.clock())
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

/**
 * Deletes scheduled backups past retention: beyond the newest `keep`, or older than
 * `maxAgeDays` (0: no age limit) — never the newest one, whatever its age, so a schedule
 * that keeps failing never leaves no backup. Only files named like scheduled backups are
 * touched; a `.partial` older than a day (a run that died) goes too. Returns the names deleted.
 */
export function applyRetention(config: Pick<BackupConfig, 'dir' | 'keep' | 'maxAgeDays'>, now: Date): string[] {
  const names = readdirSync(config.dir)
  const backups = names
    .flatMap((name) => {
      const match = SCHEDULED_NAME.exec(name)
      return match === null ? [] : [{ name, at: parseBasicTime(match[1] as string) }]
    })
    .sort((a, b) => b.at - a.at || (a.name < b.name ? 1 : -1))
  const oldest = config.maxAgeDays === 0 ? -Infinity : now.getTime() - config.maxAgeDays * 86_400_000
  const expired = backups.filter((b, i) => i > 0 && (i >= config.keep || b.at < oldest)).map((b) => b.name)
  const partials = names.filter((name) => {
    if (!name.endsWith('.cbk.partial') || !SCHEDULED_NAME.test(name.slice(0, -'.partial'.length))) return false
    return now.getTime() - statSync(path.join(config.dir, name)).mtimeMs > 86_400_000
  })
  for (const name of [...expired, ...partials]) rmSync(path.join(config.dir, name), { force: true })
  return [...expired, ...partials]
}

/** `20261203T075900Z`: sorts as time, and is a valid file name everywhere. */
export function basicTime(at: Date): string {
  return at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z')
}

function parseBasicTime(text: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text)
  if (m === null) return Number.NaN
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]))
}
