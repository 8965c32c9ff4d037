import { sql } from 'kysely'
import type { RetentionClassProof } from '../../privacy/privacy.tables.ts'
import { check, count, iso, notApplicable, pass, some, verdict, type CheckDefinition } from './check.ts'

/** P7 Data rights, retention, deletion. */
export const PRIVACY_CHECKS: readonly CheckDefinition[] = [
  check(
    'p7.1/requests-handled',
    'org',
    'Every privacy request of the last year (access, rectify, erase, restrict, object) was handled or is in hand: none left open unassigned past half its deadline',
    async ({ trx, orgId, now }) => {
      const r = await sql<{ kind: string; status: string; n: string; neglected: string }>`
        SELECT kind, status, count(*)::text AS n,
               count(*) FILTER (WHERE status = 'open' AND assignee_user_id IS NULL
                 AND ${now} > received_at + (due_at - received_at) / 2)::text AS neglected
          FROM privacy_requests WHERE org_id = ${orgId} AND received_at >= ${new Date(now.getTime() - 365 * 86_400_000)}
         GROUP BY kind, status`.execute(trx)
      if (r.rows.length === 0) return notApplicable('no privacy request in the last year')
      const total = r.rows.reduce((n, row) => n + Number(row.n), 0)
      const neglected = r.rows.reduce((n, row) => n + Number(row.neglected), 0)
      return verdict(
        neglected === 0,
        neglected === 0
          ? `${count(total, 'privacy request')} in the last year, each completed, rejected with a reason, or in hand`
          : `${count(neglected, 'request')} open, unassigned and past half their deadline`,
        {
          requestsLastYear: total,
          byKindAndStatus: some(r.rows.map((row) => `${row.kind} ${row.status}: ${row.n}`)),
          neglected,
        },
      )
    },
  ),
  check(
    'p7.2/requests-on-time',
    'org',
    'The org answers privacy requests within 72 hours or less, none is past its deadline, and every completed erasure has its signed certificate',
    async ({ trx, orgId, now }) => {
      const r = await sql<{
        overdue: string
        ids: string[]
        erasures: string
        certified: string
        response_hours: number | null
      }>`
        SELECT (SELECT count(*) FROM privacy_requests WHERE org_id = ${orgId} AND status IN ('open', 'in_progress') AND due_at < ${now})::text AS overdue,
               coalesce((SELECT array_agg(id::text) FROM (SELECT id FROM privacy_requests WHERE org_id = ${orgId}
                  AND status IN ('open', 'in_progress') AND due_at < ${now} ORDER BY due_at LIMIT 20) o), '{}') AS ids,
               (SELECT count(*) FROM privacy_requests WHERE org_id = ${orgId} AND kind = 'erase' AND status = 'completed'
                  AND result->>'erasedBy' IS NULL)::text AS erasures,
               (SELECT count(*) FROM erasure_certificates WHERE org_id = ${orgId})::text AS certified,
               (SELECT response_hours FROM org_privacy_policies WHERE org_id = ${orgId}) AS response_hours`.execute(trx)
      const row = r.rows[0] as NonNullable<(typeof r.rows)[0]>
      const overdue = Number(row.overdue)
      const uncertified = Math.max(0, Number(row.erasures) - Number(row.certified))
      const evidence = {
        responseHours: row.response_hours ?? 72,
        overdue,
        requests: some(row.ids),
        completedErasures: Number(row.erasures),
        erasureCertificates: Number(row.certified),
      }
      if (evidence.responseHours > 72)
        return verdict(
          false,
          `the org answers requests within ${evidence.responseHours} hours, more than the 72 promised`,
          evidence,
        )
      return verdict(
        overdue === 0 && uncertified === 0,
        overdue === 0 && uncertified === 0
          ? `no request past its ${evidence.responseHours}-hour deadline; ${count(Number(row.certified), 'erasure certificate')} issued`
          : overdue > 0
            ? `${count(overdue, 'privacy request')} past the deadline`
            : `${count(uncertified, 'completed erasure')} without a certificate`,
        evidence,
      )
    },
  ),
  check(
    'p7.3/retention-purged',
    'org',
    'The retention purge ran within the last day for the org’s data, and its proof leaves nothing past its period',
    async ({ trx, orgId, now, env }) => {
      const r = await sql<{ records: string; ran_at: Date | null; purged: number | null; classes: unknown }>`
        SELECT (SELECT count(*) FROM data_records WHERE org_id = ${orgId})::text AS records, ran_at, purged, classes
          FROM (SELECT 1) one LEFT JOIN LATERAL (
            SELECT ran_at, purged, classes FROM retention_runs WHERE org_id = ${orgId} ORDER BY ran_at DESC, id DESC LIMIT 1
          ) last ON true`.execute(trx)
      const row = r.rows[0] as NonNullable<(typeof r.rows)[0]>
      const records = Number(row.records)
      const classes = Array.isArray(row.classes) ? (row.classes as Partial<RetentionClassProof>[]) : []
      // A class whose oldest remaining record is older than its period still holds what should be gone.
      const left = classes.filter(
        (c) =>
          typeof c.retainSeconds === 'number' &&
          typeof c.oldestRemainingAgeSeconds === 'number' &&
          c.oldestRemainingAgeSeconds > c.retainSeconds + env.config.retentionCheckMs / 1000,
      ).length
      const evidence = {
        dataRecords: records,
        lastPurgeAt: iso(row.ran_at),
        lastPurged: row.purged,
        classes: some(classes.map((c) => String(c.dataClass ?? '?'))),
        pastPeriodAfterPurge: left,
        checkEverySeconds: Math.round(env.config.retentionCheckMs / 1000),
      }
      if (row.ran_at === null)
        return records === 0
          ? notApplicable('the org stores no data record yet', evidence)
          : verdict(false, 'the retention purge never ran for the org', evidence)
      const age = now.getTime() - row.ran_at.getTime()
      if (age > 86_400_000 + 2 * env.config.retentionCheckMs)
        return verdict(false, `the last retention purge ran ${Math.round(age / 3_600_000)} hours ago`, evidence)
      return verdict(
        left === 0,
        left === 0
          ? `the last purge ran at ${iso(row.ran_at)} and removed ${row.purged ?? 0}; its proof leaves nothing past its period`
          : `${count(left, 'data class', 'data classes')} still hold records past their period after the last purge`,
        evidence,
      )
    },
  ),
  check(
    'p7.4/offboarding-on-time',
    'org',
    'An org deletion that was asked for is carried out within 24 hours of its grace period’s end',
    async ({ trx, orgId, now }) => {
      const r = await sql<{ status: string; scheduled_for: Date; requested_at: Date }>`
        SELECT status, scheduled_for, requested_at FROM org_offboardings WHERE org_id = ${orgId}`.execute(trx)
      const row = r.rows[0]
      if (row === undefined || row.status !== 'scheduled') return notApplicable('the org’s deletion is not scheduled')
      const late = now.getTime() - row.scheduled_for.getTime() > 86_400_000
      return verdict(
        !late,
        late
          ? 'the org’s deletion is over 24 hours past its scheduled time'
          : `the org is to be deleted at ${row.scheduled_for.toISOString()}, with a certificate`,
        { requestedAt: iso(row.requested_at), scheduledFor: iso(row.scheduled_for) },
      )
    },
  ),
  check(
    'p7.5/egress-declared',
    'org',
    'Data leaves only to declared destinations: every webhook is the org’s own registration and every delivery is logged',
    async ({ trx, orgId, now }) => {
      // The last day's deliveries, newest first, at most 10,000 (webhook_deliveries_org_time).
      const since = new Date(now.getTime() - 86_400_000)
      const r = await sql<{
        webhooks: string
        recipients: string
        siem: string
        deliveries: string
        undeclared: string
      }>`
        WITH recent AS (
          SELECT webhook_id, destination FROM webhook_deliveries WHERE org_id = ${orgId} AND created_at >= ${since}
           ORDER BY created_at DESC LIMIT 10000)
        SELECT (SELECT count(*) FROM webhooks WHERE org_id = ${orgId})::text AS webhooks,
               (SELECT count(*) FROM consent_recipients WHERE org_id = ${orgId})::text AS recipients,
               (SELECT count(*) FROM siem_destinations WHERE org_id = ${orgId})::text AS siem,
               (SELECT count(*) FROM recent)::text AS deliveries,
               (SELECT count(*) FROM recent d
                 WHERE NOT EXISTS (SELECT 1 FROM webhooks w WHERE w.id = d.webhook_id AND w.url = d.destination))::text AS undeclared`.execute(
        trx,
      )
      const row = r.rows[0] as NonNullable<(typeof r.rows)[0]>
      const n = Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Number(v)])) as Record<
        keyof typeof row,
        number
      >
      const destinations = n.webhooks + n.recipients + n.siem
      const evidence = {
        webhooks: n.webhooks,
        consentRecipients: n.recipients,
        siemDestinations: n.siem,
        deliveriesLastDay: n.deliveries,
        toUndeclaredDestination: n.undeclared,
      }
      if (destinations === 0 && n.deliveries === 0)
        return notApplicable('the org declared no destination and nothing was sent', evidence)
      return verdict(
        n.undeclared === 0,
        n.undeclared === 0
          ? `${count(destinations, 'declared destination')}; ${count(n.deliveries, 'delivery', 'deliveries')} in the last day, all to them`
          : `${count(n.undeclared, 'delivery', 'deliveries')} to an address no current webhook declares (removed or changed since)`,
        evidence,
      )
    },
  ),
  check(
    'p7.6/exports-expire',
    'org',
    'Data-subject exports are only downloadable signed in, and every expired export has been erased',
    async ({ trx, orgId, now, env }) => {
      const grace = new Date(now.getTime() - 2 * env.config.privacyCheckMs - 3_600_000)
      const r = await sql<{ live: string; lingering: string }>`
        SELECT count(*) FILTER (WHERE sealed IS NOT NULL AND expires_at > ${now})::text AS live,
               count(*) FILTER (WHERE sealed IS NOT NULL AND expires_at < ${grace})::text AS lingering
          FROM privacy_exports WHERE org_id = ${orgId}`.execute(trx)
      const row = r.rows[0] as NonNullable<(typeof r.rows)[0]>
      const lingering = Number(row.lingering)
      return verdict(
        lingering === 0,
        lingering === 0
          ? `${count(Number(row.live), 'export')} downloadable (signed in, until it expires); no expired export kept; no public share link exists`
          : `${count(lingering, 'expired export')} not erased`,
        { downloadable: Number(row.live), expiredNotErased: lingering, publicLinks: 0 },
      )
    },
  ),
  check(
    'p7.7/consent-honoured',
    'org',
    'Consent is kept with proof and withdrawals reach every recipient: no recipient is past its deadline to acknowledge, no objection past its deadline undecided, and every consent purpose has a published notice',
    async ({ trx, orgId, now }) => {
      const r = await sql<{
        purposes: string
        consent_purposes: string
        without_notice: string
        overdue_acks: string
        overdue_objections: string
        events: string
      }>`
        SELECT (SELECT count(*) FROM consent_purposes WHERE org_id = ${orgId})::text AS purposes,
               (SELECT count(*) FROM consent_purposes WHERE org_id = ${orgId} AND lawful_basis IN ('consent', 'explicit_consent'))::text AS consent_purposes,
               (SELECT count(*) FROM consent_purposes p WHERE p.org_id = ${orgId} AND p.lawful_basis IN ('consent', 'explicit_consent')
                   AND NOT EXISTS (SELECT 1 FROM consent_notices n WHERE n.org_id = p.org_id AND p.key = ANY(n.purposes)))::text AS without_notice,
               (SELECT count(*) FROM consent_propagations WHERE org_id = ${orgId} AND acknowledged_at IS NULL AND deadline_at < ${now})::text AS overdue_acks,
               (SELECT count(*) FROM consent_objections WHERE org_id = ${orgId} AND status = 'pending' AND due_at < ${now})::text AS overdue_objections,
               (SELECT coalesce(sum(subjects), 0) FROM consent_state_counts WHERE org_id = ${orgId})::text AS events`.execute(
        trx,
      )
      const row = r.rows[0] as NonNullable<(typeof r.rows)[0]>
      const n = Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Number(v)])) as Record<
        keyof typeof row,
        number
      >
      const evidence = {
        purposes: n.purposes,
        consentPurposes: n.consent_purposes,
        consentPurposesWithoutNotice: n.without_notice,
        unacknowledgedPastDeadline: n.overdue_acks,
        objectionsPastDeadline: n.overdue_objections,
        subjectStates: n.events,
      }
      if (n.purposes === 0) return notApplicable('the org declared no purpose of processing', evidence)
      const problems = [
        n.without_notice > 0 ? `${count(n.without_notice, 'consent purpose')} without a published notice` : null,
        n.overdue_acks > 0 ? `${count(n.overdue_acks, 'withdrawal')} not acknowledged by a recipient in time` : null,
        n.overdue_objections > 0 ? `${count(n.overdue_objections, 'objection')} undecided past the deadline` : null,
      ].filter((p): p is string => p !== null)
      return problems.length === 0
        ? pass(
            `${count(n.purposes, 'purpose')}, ${count(n.events, 'consent event')} in 30 days, each in the audit log; every withdrawal acknowledged in time`,
            evidence,
          )
        : verdict(false, problems.join('; '), evidence)
    },
  ),
]
