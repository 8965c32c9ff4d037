import { sql } from 'kysely'
import { check, count, daysBetween, iso, notApplicable, some, verdict, type CheckDefinition } from './check.ts'

/** P6 Incident response. */
export const RESPONSE_CHECKS: readonly CheckDefinition[] = [
  check(
    'p6.1/response-plan',
    'org',
    'The incident response plan has incident types with playbooks (one affecting third parties), an escalation path and breach parties',
    async ({ trx, orgId }) => {
      const r = await sql<{
        types: string
        with_playbook: string
        third_party: string
        levels: string
        parties: string
      }>`
        SELECT (SELECT count(*) FROM incident_types WHERE org_id = ${orgId})::text AS types,
               (SELECT count(*) FROM incident_types WHERE org_id = ${orgId} AND jsonb_array_length(playbook::jsonb) > 0)::text AS with_playbook,
               (SELECT count(*) FROM incident_types WHERE org_id = ${orgId} AND affects_third_parties)::text AS third_party,
               coalesce((SELECT jsonb_array_length(levels::jsonb) FROM escalation_policies WHERE org_id = ${orgId}), 0)::text AS levels,
               (SELECT count(*) FROM breach_party_rules WHERE org_id = ${orgId})::text AS parties`.execute(trx)
      const row = r.rows[0] as NonNullable<(typeof r.rows)[0]>
      const n = Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Number(v)])) as Record<
        keyof typeof row,
        number
      >
      const missing = [
        n.types === 0 ? 'incident types' : null,
        n.with_playbook < n.types ? 'a playbook for every type' : null,
        n.third_party === 0 ? 'a type affecting third parties' : null,
        n.levels === 0 ? 'an escalation path' : null,
        n.parties === 0 ? 'breach notification parties' : null,
      ].filter((m): m is string => m !== null)
      return verdict(
        missing.length === 0,
        missing.length === 0
          ? `${count(n.types, 'incident type')} with playbooks, ${count(n.levels, 'escalation level')}, ${count(n.parties, 'breach party', 'breach parties')}`
          : `the plan lacks ${missing.join(', ')}`,
        {
          incidentTypes: n.types,
          withPlaybook: n.with_playbook,
          affectingThirdParties: n.third_party,
          escalationLevels: n.levels,
          breachParties: n.parties,
        },
      )
    },
  ),
  check(
    'p6.2/plan-reviewed',
    'org',
    'The incident response plan was reviewed within the last 183 days (six months)',
    async ({ trx, orgId, now }) => {
      const r = await sql<{ reviewed_at: Date | null; created_at: Date }>`
        SELECT (SELECT max(reviewed_at) FROM response_plan_reviews WHERE org_id = ${orgId}) AS reviewed_at, created_at
          FROM orgs WHERE id = ${orgId}`.execute(trx)
      const row = r.rows[0]
      if (row === undefined) return notApplicable('the org is gone')
      const evidence = {
        lastReviewedAt: iso(row.reviewed_at),
        daysSince: row.reviewed_at === null ? null : daysBetween(row.reviewed_at, now),
      }
      if (row.reviewed_at === null)
        return daysBetween(row.created_at, now) <= 183
          ? notApplicable('the org is younger than six months and has not reviewed its plan yet', evidence)
          : verdict(false, 'the response plan was never reviewed', evidence)
      const days = daysBetween(row.reviewed_at, now)
      return verdict(
        days <= 183,
        `the plan was last reviewed ${days} days ago${days > 183 ? ', over 183' : ''}`,
        evidence,
      )
    },
  ),
  check(
    'p6.3/breach-notifications-on-time',
    'org',
    'No breach notification is past its deadline unsent, and none was sent late',
    async ({ trx, orgId, now }) => {
      const r = await sql<{ id: string; status: string; due_at: Date; late: boolean | null; sent_at: Date | null }>`
        SELECT id, status, due_at, late, sent_at FROM breach_notifications WHERE org_id = ${orgId}
         ORDER BY due_at DESC LIMIT 500`.execute(trx)
      if (r.rows.length === 0) return notApplicable('no breach was confirmed: nothing to notify')
      const overdue = r.rows.filter((n) => n.status !== 'sent' && n.due_at < now).map((n) => n.id)
      const late = r.rows.filter((n) => n.status === 'sent' && n.late === true).map((n) => n.id)
      const pending = r.rows.filter((n) => n.status === 'pending' && n.due_at >= now).length
      return verdict(
        overdue.length === 0 && late.length === 0,
        overdue.length === 0 && late.length === 0
          ? `${count(r.rows.length, 'breach notification')}, every one sent on time or still within its deadline (${pending} pending)`
          : `${count(overdue.length, 'notification')} past the deadline unsent, ${count(late.length, 'notification')} sent late`,
        {
          notifications: r.rows.length,
          pending,
          overdue: overdue.length,
          sentLate: late.length,
          ids: some([...overdue, ...late]),
        },
      )
    },
  ),
  check(
    'p6.4/breach-clocks-opened',
    'org',
    'Every confirmed breach opened its notification tasks at once',
    async ({ trx, orgId }) => {
      const r = await sql<{ id: string; confirmed_at: Date; tasks: string }>`
        SELECT i.id, i.breach_confirmed_at AS confirmed_at,
               (SELECT count(*) FROM breach_notifications n WHERE n.incident_id = i.id)::text AS tasks
          FROM incidents i WHERE i.org_id = ${orgId} AND i.breach_confirmed_at IS NOT NULL
         ORDER BY i.breach_confirmed_at DESC LIMIT 200`.execute(trx)
      if (r.rows.length === 0) return notApplicable('no breach was confirmed')
      const without = r.rows.filter((i) => Number(i.tasks) === 0).map((i) => i.id)
      return verdict(
        without.length === 0,
        without.length === 0
          ? `${count(r.rows.length, 'confirmed breach', 'confirmed breaches')}, each with its notification clocks`
          : `${count(without.length, 'confirmed breach', 'confirmed breaches')} without notification tasks`,
        {
          confirmedBreaches: r.rows.length,
          withoutTasks: without.length,
          incidents: some(without),
          lastConfirmedAt: iso(r.rows[0]?.confirmed_at),
        },
      )
    },
  ),
]
