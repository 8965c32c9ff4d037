import { sql } from 'kysely'
import { ALERT_RULES, SIGNAL_RULES } from '../../response/alert.rules.ts'
import { check, count, iso, notApplicable, pass, some, verdict, type CheckDefinition } from './check.ts'

/** P5 Logging, monitoring, audit. */
export const LOGGING_CHECKS: readonly CheckDefinition[] = [
  check(
    'p5.1/events-chained',
    'org',
    'Every recorded event reaches the org’s audit log: none waits for the chain longer than 5 minutes',
    async ({ audit, now }) => {
      const status = audit
      const waiting =
        status.oldestUnchainedAt === null ? 0 : (now.getTime() - Date.parse(status.oldestUnchainedAt)) / 1000
      const evidence = {
        chainedEvents: status.headSeq,
        unchained: status.unchained,
        oldestUnchainedAt: status.oldestUnchainedAt,
      }
      return verdict(
        waiting <= 300,
        waiting <= 300
          ? `${count(status.headSeq, 'event')} in the org’s audit log, none waiting to be chained for more than 5 minutes`
          : `${count(status.unchained, 'event')} not chained, the oldest for ${Math.round(waiting / 60)} minutes`,
        evidence,
      )
    },
  ),
  check(
    'p5.2/log-tamper-evident',
    'org',
    'The audit chain has no open integrity failure, its newest events are under a signed checkpoint, and the witnesses have cosigned in time',
    async ({ trx, orgId, env, now, audit }) => {
      const status = audit
      const integrity = await sql<{ id: string; first_seen_at: Date }>`
        SELECT id, first_seen_at FROM alerts WHERE org_id = ${orgId} AND rule = 'audit_integrity' AND status <> 'resolved'
         ORDER BY last_seen_at DESC LIMIT 5`.execute(trx)
      const { checkpointSeconds, unwitnessedAlertSeconds } = env.config.audit
      const behind = status.headSeq > status.lastCheckpointSeq
      const checkpointAge =
        status.lastCheckpointAt === null
          ? null
          : Math.round((now.getTime() - Date.parse(status.lastCheckpointAt)) / 1000)
      const lateCheckpoint = behind && (checkpointAge === null || checkpointAge > 2 * checkpointSeconds + 60)
      const w = status.witnessing
      const unwitnessedFor =
        w.unwitnessedSince === null ? 0 : Math.round((now.getTime() - Date.parse(w.unwitnessedSince)) / 1000)
      const lateWitness = w.quorum > 0 && unwitnessedFor > unwitnessedAlertSeconds
      const evidence = {
        headSeq: status.headSeq,
        lastCheckpointSeq: status.lastCheckpointSeq,
        lastCheckpointAt: status.lastCheckpointAt,
        checkpointAgeSeconds: checkpointAge,
        checkpointEverySeconds: checkpointSeconds,
        openIntegrityAlerts: integrity.rows.length,
        alerts: some(integrity.rows.map((r) => r.id)),
        witnessQuorum: w.quorum,
        witnessedSize: w.witnessedSize,
        unwitnessedSeconds: unwitnessedFor,
      }
      if (status.headSeq === 0) return notApplicable('the org’s audit log is empty', evidence)
      if (integrity.rows.length > 0)
        return verdict(false, 'the audit chain failed verification (an integrity alert is open)', evidence)
      if (lateCheckpoint)
        return verdict(
          false,
          `events after the last signed checkpoint wait longer than ${2 * checkpointSeconds + 60} s`,
          evidence,
        )
      if (lateWitness)
        return verdict(
          false,
          `the newest checkpoint has waited ${unwitnessedFor} s for the witnesses’ cosignatures`,
          evidence,
        )
      return pass(
        `chain verified with no open integrity failure; last checkpoint at seq ${status.lastCheckpointSeq}${w.quorum > 0 ? `, cosigned by ${w.quorum} witness${w.quorum === 1 ? '' : 'es'}` : ''}`,
        evidence,
      )
    },
  ),
  check(
    'p5.3/alert-rules-running',
    'org',
    'The alert rules are enabled and evaluate the org’s events as they are chained (no more than 10 minutes behind)',
    async ({ trx, orgId, now, audit }) => {
      const status = audit
      const r = await sql<{ last_seq: string | null; updated_at: Date | null; disabled: string[] }>`
        SELECT (SELECT last_seq::text FROM alert_cursors WHERE org_id = ${orgId}) AS last_seq,
               (SELECT updated_at FROM alert_cursors WHERE org_id = ${orgId}) AS updated_at,
               coalesce((SELECT array_agg(rule) FROM alert_rule_settings WHERE org_id = ${orgId} AND NOT enabled), '{}') AS disabled`.execute(
        trx,
      )
      const row = r.rows[0] as NonNullable<(typeof r.rows)[0]>
      const evaluated = Number(row.last_seq ?? 0)
      const lagging =
        status.headSeq > evaluated && (row.updated_at === null || now.getTime() - row.updated_at.getTime() > 600_000)
      const evidence = {
        rules: ALERT_RULES.length + Object.keys(SIGNAL_RULES).length,
        disabledRules: some(row.disabled),
        evaluatedUpToSeq: evaluated,
        headSeq: status.headSeq,
        cursorMovedAt: iso(row.updated_at),
      }
      if (lagging)
        return verdict(false, `the alert rules are ${status.headSeq - evaluated} events behind the audit log`, evidence)
      return verdict(
        row.disabled.length === 0,
        row.disabled.length === 0
          ? `all ${ALERT_RULES.length + Object.keys(SIGNAL_RULES).length} alert rules enabled; events evaluated up to seq ${evaluated}`
          : `${count(row.disabled.length, 'alert rule')} disabled: ${row.disabled.join(', ')}`,
        evidence,
      )
    },
  ),
  check(
    'p5.4/evaluated-regularly',
    'org',
    'The org’s promises were evaluated on schedule: before this run, the last one was within twice the interval',
    async ({ trx, orgId, env, now }) => {
      const r = await sql<{ started_at: Date; runs: string }>`
        SELECT started_at, (SELECT count(*) FROM compliance_runs WHERE org_id = ${orgId} AND started_at >= ${new Date(now.getTime() - 30 * 86_400_000)})::text AS runs
          FROM compliance_runs WHERE org_id = ${orgId} ORDER BY started_at DESC LIMIT 1`.execute(trx)
      const last = r.rows[0]
      const interval = env.config.compliance.intervalMs
      const evidence = {
        intervalSeconds: Math.round(interval / 1000),
        previousRunAt: iso(last?.started_at),
        runsLast30Days: Number(last?.runs ?? 0),
      }
      if (last === undefined) return pass('this is the org’s first evaluation', evidence)
      const gap = now.getTime() - last.started_at.getTime()
      return verdict(
        gap <= 2 * interval,
        gap <= 2 * interval
          ? `evaluated every ${Math.round(interval / 60_000)} minutes; ${count(evidence.runsLast30Days, 'run')} in the last 30 days`
          : `the previous evaluation was ${Math.round(gap / 3_600_000)} hours ago, more than twice the interval`,
        evidence,
      )
    },
  ),
]
