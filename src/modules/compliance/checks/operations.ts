import { sql } from 'kysely'
import type { Trx } from '../../../db/tenant.ts'
import { check, count, fail, iso, notApplicable, pass, some, verdict, type CheckDefinition } from './check.ts'

/** P8 Resilience and residency, P9 Disclosure and communication, P10 Governance. */
export const OPERATIONS_CHECKS: readonly CheckDefinition[] = [
  check(
    'p8.1/backups',
    'service',
    'The database can be restored: a recent backup verified by restoring it (scheduled backups), or PostgreSQL archiving its write-ahead log',
    async ({ trx, env, now }) => {
      const archive = env.engine === 'postgres' ? await walArchiving(trx) : undefined
      const schedule = env.config.backup
      if (schedule !== undefined) {
        // The newest backup that was restored into a scratch database and passed every
        // check, by the scheduled job or by `custodian backup verify`.
        const r = await sql<{ created: Date | null; failed: string; last_error: string | null }>`
          SELECT (SELECT max(backup_created_at) FROM backup_runs WHERE status = 'succeeded' AND verified) AS created,
                 (SELECT count(*) FROM backup_runs WHERE status = 'failed'
                    AND started_at > coalesce((SELECT max(started_at) FROM backup_runs WHERE status = 'succeeded'), '-infinity'))::text AS failed,
                 (SELECT error FROM backup_runs WHERE status = 'failed' ORDER BY started_at DESC LIMIT 1) AS last_error`.execute(
          trx,
        )
        const row = r.rows[0] as NonNullable<(typeof r.rows)[0]>
        // One interval late is tolerated (a run in flight, a retry), twice is not.
        const allowedMs = 2 * schedule.intervalMs + RETRY_GRACE_MS
        const ageMs = row.created === null ? null : now.getTime() - new Date(row.created).getTime()
        const evidence = {
          engine: env.engine,
          scheduledEveryMinutes: schedule.intervalMs / 60_000,
          lastVerifiedBackupAt: iso(row.created),
          lastVerifiedBackupAgeMinutes: ageMs === null ? null : Math.floor(ageMs / 60_000),
          allowedAgeMinutes: Math.floor(allowedMs / 60_000),
          failedRunsSinceLastSuccess: Number(row.failed),
          keep: schedule.keep,
          ...(archive === undefined ? {} : { walArchiving: archive.archiving }),
        }
        const fresh = ageMs !== null && ageMs <= allowedMs
        return verdict(
          fresh,
          fresh
            ? `the newest verified backup is ${Math.floor(ageMs / 60_000)} minutes old (one every ${schedule.intervalMs / 60_000} minutes, restored into a scratch database and checked)`
            : row.created === null
              ? 'scheduled backups are configured but no backup has been verified yet'
              : `the newest verified backup is ${Math.floor((ageMs as number) / 3_600_000)} hours old: scheduled backups are failing`,
          evidence,
        )
      }
      if (archive === undefined)
        return fail(
          'the embedded database has no backup: set CUSTODIAN_BACKUP_DIR for scheduled, verified backups (docs/operations.md)',
          { engine: 'pglite', scheduledBackups: false },
        )
      return verdict(
        archive.archiving,
        archive.archiving
          ? `WAL archiving is on (${archive.evidence.archivedSegments ?? 0} segments archived): the database can be recovered to a point in time`
          : 'PostgreSQL does not archive its write-ahead log and no backups are scheduled: no restore point',
        { ...archive.evidence, scheduledBackups: false },
      )
    },
  ),
  check(
    'p8.1/rollback-detection',
    'service',
    'A rollback is detected: each org’s chain is compared with checkpoints its witnesses keep outside the database',
    async ({ trx, env }) => {
      const audit = env.config.audit
      const sources = [...(audit.witnessFile === undefined ? [] : ['file']), ...audit.tlogWitnesses.map((w) => w.name)]
      const r = await sql<{ acknowledged: string; orgs: string }>`
        SELECT count(*)::text AS acknowledged, count(DISTINCT org_id)::text AS orgs
          FROM audit_rollback_acknowledgements`.execute(trx)
      const evidence = {
        readableWitnesses: sources,
        writeOnlyWitnesses: audit.witnessUrl === undefined ? [] : ['https'],
        acknowledgedRollbacks: Number(r.rows[0]?.acknowledged ?? 0),
        orgsEverRolledBack: Number(r.rows[0]?.orgs ?? 0),
      }
      return verdict(
        sources.length > 0,
        sources.length > 0
          ? `rollback detection is armed: every org’s chain is compared with ${sources.join(', ')} at start and periodically, and a rolled-back org is refused until acknowledged`
          : 'rollback detection is not armed: no witness it can read back is configured (CUSTODIAN_AUDIT_WITNESS_FILE, CUSTODIAN_AUDIT_TLOG_WITNESSES), so a database restored to an earlier state would be served unnoticed',
        evidence,
      )
    },
  ),
  check(
    'p8.2/residency',
    'service',
    'Every org is pinned to this deployment’s region and its data is kept in this region’s database only',
    async ({ env, trx }) => {
      const residency = env.config.residency
      const r = await sql<{ orgs: string; pinned: string }>`
        SELECT count(*)::text AS orgs,
               count(*) FILTER (WHERE region = ${residency?.region ?? null})::text AS pinned
          FROM orgs`.execute(trx)
      const orgs = Number(r.rows[0]?.orgs ?? 0)
      const pinned = Number(r.rows[0]?.pinned ?? 0)
      if (residency === undefined)
        return notApplicable(
          'no data residency region is configured (CUSTODIAN_REGION): all orgs’ data is kept in this deployment’s one database',
          { engine: env.engine, region: null, regions: [], orgs },
        )
      // The service does not start on a database holding another region's org (residency.ts pinOrgs):
      // this reads the same rows again, as evidence.
      return verdict(
        pinned === orgs,
        pinned === orgs
          ? `this is the ${residency.region} deployment: all ${orgs} orgs are pinned to ${residency.region}, their data in this region’s database; requests for another region’s orgs are refused (421) and recorded`
          : `${orgs - pinned} of ${orgs} orgs in this database are not pinned to ${residency.region}`,
        {
          engine: env.engine,
          region: residency.region,
          regions: [...residency.regions.keys()],
          orgs,
          pinnedHere: pinned,
        },
      )
    },
  ),
  check(
    'p9.1/reports-acknowledged',
    'service',
    'Every vulnerability report is acknowledged within its deadline in business days',
    async ({ trx, now, env }) => {
      const r = await sql<{ open: string; overdue: string; ids: string[]; late: string; total: string }>`
        SELECT (SELECT count(*) FROM vulnerability_reports WHERE acknowledged_at IS NULL)::text AS open,
               (SELECT count(*) FROM vulnerability_reports WHERE acknowledged_at IS NULL AND ack_due_at < ${now})::text AS overdue,
               coalesce((SELECT array_agg(reference) FROM (SELECT reference FROM vulnerability_reports
                  WHERE acknowledged_at IS NULL AND ack_due_at < ${now} ORDER BY ack_due_at LIMIT 20) o), '{}') AS ids,
               (SELECT count(*) FROM vulnerability_reports WHERE acknowledged_at > ack_due_at AND received_at >= ${new Date(now.getTime() - 365 * 86_400_000)})::text AS late,
               (SELECT count(*) FROM vulnerability_reports WHERE received_at >= ${new Date(now.getTime() - 365 * 86_400_000)})::text AS total`.execute(
        trx,
      )
      const row = r.rows[0] as NonNullable<(typeof r.rows)[0]>
      const overdue = Number(row.overdue)
      const evidence = {
        ackBusinessDays: env.config.disclosure.ackBusinessDays,
        awaitingAcknowledgement: Number(row.open),
        overdue,
        references: some(row.ids),
        reportsLastYear: Number(row.total),
        acknowledgedLateLastYear: Number(row.late),
      }
      if (Number(row.total) === 0 && Number(row.open) === 0) return pass('no vulnerability report is waiting', evidence)
      return verdict(
        overdue === 0,
        overdue === 0
          ? `no report waits past its ${env.config.disclosure.ackBusinessDays}-business-day acknowledgement deadline (${row.open} awaiting)`
          : `${count(overdue, 'vulnerability report')} not acknowledged in time`,
        evidence,
      )
    },
  ),
  check(
    'p9.2/security-txt',
    'service',
    'security.txt (RFC 9116) is served with a contact and an expiry in the future (checked by connecting to itself)',
    async ({ env, now }) => {
      const listeners = env.listeners()
      if (listeners === null) {
        const contacts = env.config.disclosure.contacts.length
        return verdict(
          contacts > 0,
          contacts > 0
            ? `${count(contacts, 'contact')} configured for security.txt`
            : 'no security contact is configured',
          {
            contacts,
          },
        )
      }
      const host = listeners.host === '0.0.0.0' || listeners.host === '::' ? '127.0.0.1' : listeners.host
      const { request } = await import('node:https')
      const text = await new Promise<{ status: number; body: string } | { error: string }>((resolve) => {
        const req = request(
          `https://${host.includes(':') ? `[${host}]` : host}:${listeners.httpsPort}/.well-known/security.txt`,
          { rejectUnauthorized: false, timeout: 5000 },
          (res) => {
            let body = ''
            res.setEncoding('utf8')
            res.on('data', (chunk: string) => {
              if (body.length < 65_536) body += chunk
            })
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
          },
        )
        req.once('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }))
        req.once('timeout', () => req.destroy(new Error('timeout')))
        req.end()
      })
      if ('error' in text)
        return fail(`security.txt could not be fetched (${text.error})`, { port: listeners.httpsPort })
      const contacts = [...text.body.matchAll(/^Contact:\s*(\S+)/gim)].length
      const expires = /^Expires:\s*(\S+)/im.exec(text.body)?.[1]
      const expiresAt = expires === undefined ? Number.NaN : Date.parse(expires)
      const evidence = {
        status: text.status,
        contacts,
        expires: expires ?? null,
        signed: text.body.includes('-----BEGIN PGP SIGNED MESSAGE-----'),
      }
      const ok = text.status === 200 && contacts > 0 && expiresAt > now.getTime()
      return verdict(
        ok,
        ok
          ? `security.txt names ${count(contacts, 'contact')} and expires ${expires}`
          : text.status !== 200
            ? `security.txt answered ${text.status}`
            : 'security.txt lacks a contact or has expired',
        evidence,
      )
    },
  ),
  check(
    'p10.1/policy-backed',
    'service',
    'Each statement of the living security policy states a promise that has a live check',
    async ({ env }) => {
      const stated = env.policyPromises()
      const checked = env.checkedPromises()
      const unbacked = [...new Set(stated.filter((p) => !checked.has(p)))]
      return verdict(
        stated.length > 0 && unbacked.length === 0,
        unbacked.length === 0
          ? `${count(stated.length, 'statement')} generated from the running configuration, each backed by a live check`
          : `${count(unbacked.length, 'promise')} stated without a check: ${unbacked.join(', ')}`,
        { statements: stated.length, promisesStated: new Set(stated).size, unbacked: some(unbacked) },
      )
    },
  ),
  check(
    'p10.2/frameworks-evidenced',
    'service',
    'Every promise has a live check and is mapped to SOC 2 criteria and ISO/IEC 27001:2022 Annex A controls',
    async ({ env }) => {
      const checked = env.checkedPromises()
      const catalogue = env.catalogue()
      const unchecked = catalogue.filter((p) => !checked.has(p.id)).map((p) => p.id)
      const unmapped = catalogue
        .filter((p) => p.frameworks.soc2.length === 0 || p.frameworks.iso27001.length === 0)
        .map((p) => p.id)
      return verdict(
        unchecked.length === 0 && unmapped.length === 0,
        unchecked.length === 0 && unmapped.length === 0
          ? `all ${catalogue.length} promises have live checks and are mapped to SOC 2, ISO/IEC 27001 and (where one applies) GDPR`
          : `${count(unchecked.length, 'promise')} without a check, ${count(unmapped.length, 'promise')} without a mapping`,
        { promises: catalogue.length, withoutCheck: some(unchecked), withoutMapping: some(unmapped) },
      )
    },
  ),
  check(
    'p10.3/integrations-visible',
    'org',
    'Every active data-source connection was checked recently, so its status shown to the org is current',
    async ({ trx, orgId, now, env }) => {
      const r = await sql<{ id: string; paused: boolean; last_checked_at: Date | null }>`
        SELECT id, paused_at IS NOT NULL AS paused, last_checked_at FROM secrets
         WHERE org_id = ${orgId} AND type = 'database_credential' ORDER BY name LIMIT 500`.execute(trx)
      if (r.rows.length === 0) return notApplicable('the org has no data-source connection')
      const maxAge = env.config.connectorCheck.maxAgeMs + env.config.connectorCheck.intervalMs
      const stale = r.rows
        .filter(
          (c) => !c.paused && (c.last_checked_at === null || now.getTime() - c.last_checked_at.getTime() > maxAge),
        )
        .map((c) => c.id)
      const paused = r.rows.filter((c) => c.paused).length
      return verdict(
        stale.length === 0,
        stale.length === 0
          ? `${count(r.rows.length, 'connection')} (${paused} paused), each with a current status`
          : `${count(stale.length, 'connection')} not checked within ${Math.round(maxAge / 60_000)} minutes`,
        { connections: r.rows.length, paused, stale: stale.length, ids: some(stale) },
      )
    },
  ),
]

/** A run in flight or a retry after a failure may add this much to a backup's age. */
const RETRY_GRACE_MS = 15 * 60_000

async function walArchiving(
  trx: Trx,
): Promise<{ archiving: boolean; evidence: Record<string, unknown> & { archivedSegments: number | null } }> {
  const r = await sql<{ archive_mode: string; archive_command: string; archive_library: string | null }>`
    SELECT current_setting('archive_mode') AS archive_mode, current_setting('archive_command') AS archive_command,
           current_setting('archive_library', true) AS archive_library`.execute(trx)
  const row = r.rows[0] as NonNullable<(typeof r.rows)[0]>
  const archiving =
    row.archive_mode !== 'off' &&
    ((row.archive_command !== '' && row.archive_command !== '(disabled)') || (row.archive_library ?? '') !== '')
  const archived = archiving
    ? await sql<{ archived_count: string; last_archived_time: Date | null; failed_count: string }>`
        SELECT archived_count::text, last_archived_time, failed_count::text FROM pg_stat_archiver`.execute(trx)
    : undefined
  const stats = archived?.rows[0]
  return {
    archiving,
    evidence: {
      engine: 'postgres',
      archiveMode: row.archive_mode,
      walArchiving: archiving,
      archivedSegments: stats === undefined ? null : Number(stats.archived_count),
      lastArchivedAt: iso(stats?.last_archived_time),
      failedArchives: stats === undefined ? null : Number(stats.failed_count),
    },
  }
}
