import { randomUUID } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Clock } from '../../clock.ts'
import type { DB } from '../../db/schema.ts'
import { memberEmails } from '../../db/people.ts'
import { sqlState, UNIQUE_VIOLATION, withOrg, withOwner, type Trx, orgsNotServed } from '../../db/tenant.ts'
import { AppError } from '../../errors.ts'
import { actorOf, type RequestContext } from '../../context.ts'
import type { AuditService } from '../audit/audit.service.ts'
import { enqueue, membersWithRoles } from '../notify/notify.service.ts'
import type { AlertsService } from './alerts.service.ts'
import type { EscalationLevel, PartyKind, Severity } from './response.tables.ts'

/**
 * The incident response plan (P6.1, P6.2): incident types with their playbooks, the
 * escalation policy, and the parties a breach must be notified to (with each one's
 * deadline). Every change makes a new version (a full snapshot, kept). The plan is
 * reviewed every six months; each review is recorded against the version it reviewed;
 * an overdue review raises an alert (and, weekly, again).
 */
export interface IncidentTypeInput {
  name: string
  description?: string | undefined
  defaultSeverity: Severity
  affectsThirdParties?: boolean | undefined
  playbook: string[]
}

export interface PartyRule {
  kind: PartyKind
  name: string
  deadlineHours: number
}

export interface PlanReview {
  version: number
  reviewedAt: string
  reviewedBy: string
  notes: string
}

export interface PlanView {
  version: number
  types: (IncidentTypeInput & { id: string })[]
  escalation: EscalationLevel[]
  parties: PartyRule[]
  lastReview: PlanReview | null
  /** The reviews recorded, newest first: the last {@link REVIEWS_SHOWN} (the audit log keeps every one). */
  reviews: PlanReview[]
  reviewDueAt: string | null
  reviewOverdue: boolean
  versions: { version: number; createdAt: string; createdBy: string; change: string }[]
  /** The emails of the org's members it names (versions, reviews, escalation), by user id. */
  people: Record<string, string>
}

export interface PlanService {
  get(ctx: RequestContext): Promise<PlanView>
  createType(ctx: RequestContext, input: IncidentTypeInput): Promise<PlanView>
  updateType(ctx: RequestContext, id: string, input: IncidentTypeInput): Promise<PlanView>
  deleteType(ctx: RequestContext, id: string): Promise<PlanView>
  setEscalation(ctx: RequestContext, levels: EscalationLevel[]): Promise<PlanView>
  setParties(ctx: RequestContext, parties: PartyRule[]): Promise<PlanView>
  review(ctx: RequestContext, notes: string): Promise<PlanView>
  /** The parties a breach is notified to: the plan's, or customers and users within 72 hours. */
  partiesIn(trx: Trx): Promise<PartyRule[]>
  escalationIn(trx: Trx): Promise<EscalationLevel[]>
  typeIn(trx: Trx, id: string): Promise<(IncidentTypeInput & { id: string }) | undefined>
  /** The job: alerts on plans whose review is overdue; returns how many. */
  watchReviews(): Promise<number>
}

export const REVIEW_EVERY_DAYS = 183
/** Reviews the plan's view lists: 50 years of six-monthly reviews. */
export const REVIEWS_SHOWN = 100
const DAY_MS = 86_400_000
export const DEFAULT_PARTIES: PartyRule[] = [
  { kind: 'customers', name: 'customers', deadlineHours: 72 },
  { kind: 'users', name: 'users', deadlineHours: 72 },
]
const DEFAULT_ESCALATION: EscalationLevel[] = [{ afterMinutes: 30, notifyRoles: ['owner', 'admin'], notifyUsers: [] }]

export function createPlanService(deps: {
  db: Kysely<DB>
  audit: Pick<AuditService, 'append'>
  alerts: Pick<AlertsService, 'raiseIn'>
  clock: Clock
}): PlanService {
  const { db, audit, clock } = deps
  const by = (ctx: RequestContext) => `${ctx.principal.kind}:${ctx.principal.id}`

  async function typesIn(trx: Trx) {
    const rows = await trx.selectFrom('incident_types').selectAll().orderBy('name').execute()
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      description: r.description,
      defaultSeverity: r.default_severity,
      affectsThirdParties: r.affects_third_parties,
      playbook: r.playbook,
    }))
  }

  async function escalationIn(trx: Trx): Promise<EscalationLevel[]> {
    return (
      (await trx.selectFrom('escalation_policies').select('levels').executeTakeFirst())?.levels ?? DEFAULT_ESCALATION
    )
  }

  async function partyRulesIn(trx: Trx): Promise<PartyRule[]> {
    const rows = await trx
      .selectFrom('breach_party_rules')
      .selectAll()
      .orderBy('deadline_hours')
      .orderBy('name')
      .execute()
    return rows.map((r) => ({ kind: r.kind, name: r.name, deadlineHours: r.deadline_hours }))
  }

  function reviewDue(firstVersionAt: Date | undefined, lastReviewAt: Date | undefined): Date | null {
    const from = lastReviewAt ?? firstVersionAt
    return from === undefined ? null : new Date(from.getTime() + REVIEW_EVERY_DAYS * DAY_MS)
  }

  async function view(trx: Trx, orgId: string): Promise<PlanView> {
    const versions = await trx
      .selectFrom('response_plan_versions')
      .select(['version', 'created_at', 'created_by', 'change'])
      .orderBy('version')
      .execute()
    const reviews = (
      await trx
        .selectFrom('response_plan_reviews')
        .select(['version', 'reviewed_at', 'reviewed_by', 'notes'])
        .orderBy('reviewed_at', 'desc')
        .orderBy('id', 'desc')
        .limit(REVIEWS_SHOWN)
        .execute()
    ).map((r) => ({
      version: r.version,
      reviewedAt: r.reviewed_at.toISOString(),
      reviewedBy: r.reviewed_by,
      notes: r.notes,
    }))
    const last = reviews[0]
    const due = reviewDue(versions[0]?.created_at, last === undefined ? undefined : new Date(last.reviewedAt))
    const escalation = await escalationIn(trx)
    return {
      version: versions.at(-1)?.version ?? 0,
      types: await typesIn(trx),
      escalation,
      parties: await partyRulesIn(trx),
      lastReview: last ?? null,
      reviews,
      reviewDueAt: due?.toISOString() ?? null,
      reviewOverdue: due !== null && clock().getTime() >= due.getTime(),
      versions: versions.map((v) => ({
        version: v.version,
        createdAt: v.created_at.toISOString(),
        createdBy: v.created_by,
        change: v.change,
      })),
      people: await memberEmails(trx, orgId, [
        ...versions.map((v) => v.created_by),
        ...reviews.map((r) => r.reviewedBy),
        ...escalation.flatMap((l) => l.notifyUsers),
      ]),
    }
  }

  /** Applies a change, snapshots the whole plan as the next version, audits it. */
  async function change(
    ctx: RequestContext,
    description: string,
    apply: (trx: Trx) => Promise<void>,
  ): Promise<PlanView> {
    try {
      return await withOrg(db, ctx.orgId, async (trx) => {
        await apply(trx)
        const current = await view(trx, ctx.orgId)
        const version = current.version + 1
        await trx
          .insertInto('response_plan_versions')
          .values({
            org_id: ctx.orgId,
            version,
            snapshot: JSON.stringify({
              types: current.types,
              escalation: current.escalation,
              parties: current.parties,
            }),
            created_at: clock(),
            created_by: by(ctx),
            change: description,
          })
          .execute()
        await audit.append(trx, {
          orgId: ctx.orgId,
          actor: actorOf(ctx.principal),
          action: 'response_plan.update',
          target: { type: 'response_plan', id: String(version) },
          outcome: 'success',
          details: { version, change: description },
          meta: ctx.meta,
        })
        return view(trx, ctx.orgId)
      })
    } catch (error) {
      if (sqlState(error) === UNIQUE_VIOLATION)
        throw new AppError('CONFLICT', 'an incident type of that name (or a party of that kind and name) exists')
      throw error
    }
  }

  const typeRow = (org: string, input: IncidentTypeInput) => ({
    org_id: org,
    name: input.name,
    description: input.description ?? '',
    default_severity: input.defaultSeverity,
    affects_third_parties: input.affectsThirdParties ?? false,
    playbook: JSON.stringify(input.playbook),
  })

  return {
    async get(ctx) {
      return withOrg(db, ctx.orgId, (trx) => view(trx, ctx.orgId))
    },

    createType: (ctx, input) =>
      change(ctx, `type created: ${input.name}`, async (trx) => {
        await trx
          .insertInto('incident_types')
          .values({ id: randomUUID(), ...typeRow(ctx.orgId, input) })
          .execute()
      }),

    updateType: (ctx, id, input) =>
      change(ctx, `type changed: ${input.name}`, async (trx) => {
        const updated = await trx
          .updateTable('incident_types')
          .set({ ...typeRow(ctx.orgId, input), updated_at: new Date() })
          .where('id', '=', id)
          .executeTakeFirst()
        if (Number(updated.numUpdatedRows) === 0) throw new AppError('NOT_FOUND', 'no such incident type')
      }),

    deleteType: (ctx, id) =>
      change(ctx, 'type deleted', async (trx) => {
        const deleted = await trx.deleteFrom('incident_types').where('id', '=', id).executeTakeFirst()
        if (Number(deleted.numDeletedRows) === 0) throw new AppError('NOT_FOUND', 'no such incident type')
      }),

    setEscalation: (ctx, levels) =>
      change(ctx, 'escalation policy changed', async (trx) => {
        const sorted = [...levels].sort((a, b) => a.afterMinutes - b.afterMinutes)
        await trx
          .insertInto('escalation_policies')
          .values({ org_id: ctx.orgId, levels: JSON.stringify(sorted), updated_by: by(ctx) })
          .onConflict((oc) =>
            oc
              .column('org_id')
              .doUpdateSet({ levels: JSON.stringify(sorted), updated_by: by(ctx), updated_at: new Date() }),
          )
          .execute()
      }),

    setParties: (ctx, parties) =>
      change(ctx, 'breach notification parties changed', async (trx) => {
        await trx.deleteFrom('breach_party_rules').execute()
        if (parties.length > 0)
          await trx
            .insertInto('breach_party_rules')
            .values(
              parties.map((p) => ({
                id: randomUUID(),
                org_id: ctx.orgId,
                kind: p.kind,
                name: p.name,
                deadline_hours: p.deadlineHours,
              })),
            )
            .execute()
      }),

    async review(ctx, notes) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const current = await view(trx, ctx.orgId)
        if (current.version === 0)
          throw new AppError(
            'CONFLICT',
            'there is no plan to review yet: define incident types, escalation and breach parties first',
          )
        await trx
          .insertInto('response_plan_reviews')
          .values({
            id: randomUUID(),
            org_id: ctx.orgId,
            version: current.version,
            reviewed_at: clock(),
            reviewed_by: by(ctx),
            notes,
          })
          .execute()
        await trx
          .insertInto('response_plan_state')
          .values({ org_id: ctx.orgId, overdue_notified_at: null })
          .onConflict((oc) => oc.column('org_id').doUpdateSet({ overdue_notified_at: null }))
          .execute()
        await audit.append(trx, {
          orgId: ctx.orgId,
          actor: actorOf(ctx.principal),
          action: 'response_plan.review',
          target: { type: 'response_plan', id: String(current.version) },
          outcome: 'success',
          details: { version: current.version },
          meta: ctx.meta,
        })
        return view(trx, ctx.orgId)
      })
    },

    async partiesIn(trx) {
      const rules = await partyRulesIn(trx)
      return rules.length === 0 ? DEFAULT_PARTIES : rules
    },

    escalationIn,

    async typeIn(trx, id) {
      return (await typesIn(trx)).find((t) => t.id === id)
    },

    async watchReviews() {
      const now = clock()
      const refused = orgsNotServed(db) // P8.1
      const orgs = await withOwner(db, (trx) =>
        trx
          .selectFrom('response_plan_versions')
          .select('org_id')
          .distinct()
          .$if(refused.length > 0, (q) => q.where('org_id', 'not in', refused))
          .execute(),
      )
      let raised = 0
      for (const { org_id: orgId } of orgs) {
        await withOrg(db, orgId, async (trx) => {
          const plan = await view(trx, orgId)
          if (!plan.reviewOverdue) return
          const state = await trx.selectFrom('response_plan_state').select('overdue_notified_at').executeTakeFirst()
          if (state?.overdue_notified_at != null && now.getTime() - state.overdue_notified_at.getTime() < 7 * DAY_MS)
            return
          await trx
            .insertInto('response_plan_state')
            .values({ org_id: orgId, overdue_notified_at: now })
            .onConflict((oc) => oc.column('org_id').doUpdateSet({ overdue_notified_at: now }))
            .execute()
          await deps.alerts.raiseIn(trx, orgId, 'plan_review_overdue', {
            key: 'plan',
            title: `the incident response plan’s review was due ${plan.reviewDueAt}`,
            details: {
              version: plan.version,
              reviewDueAt: plan.reviewDueAt,
              lastReview: plan.lastReview?.reviewedAt ?? null,
            },
          })
          await enqueue(trx, await membersWithRoles(trx, ['owner', 'admin']), {
            orgId,
            kind: 'response_plan.review_overdue',
            subject: 'The incident response plan is due for review',
            body: `Version ${plan.version} has not been reviewed in six months (due ${plan.reviewDueAt}). Review it and record the review in Custodian.`,
            data: { version: plan.version },
          })
          raised++
        })
      }
      return raised
    },
  }
}
