import { randomUUID } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import type { Clock } from '../../clock.ts'
import { actorOf, type RequestContext } from '../../context.ts'
import type { DB } from '../../db/schema.ts'
import { newestFirst, pageOf, toPage, type Page, type PageRequest } from '../../db/page.ts'
import { withOrg, withOwner, type Trx, orgsNotServed } from '../../db/tenant.ts'
import { AppError, isAppError } from '../../errors.ts'
import type { AuditService, AuditStatus } from '../audit/audit.service.ts'
import type { AlertsService } from '../response/alerts.service.ts'
import { PROMISES } from './catalogue.ts'
import type { CheckDefinition, ComplianceEnvironment } from './checks/index.ts'
import type { CheckOutcome, CheckResult, CheckScope, Evidence, Verdict } from './compliance.types.ts'

/** One change of a check's verdict or summary (compliance_history). */
export interface HistoryEntry {
  id: string
  check: string
  promise: string
  verdict: Verdict
  previousVerdict: Verdict | null
  summary: string
  evidence: Evidence
  ranAt: string
}

/** One evaluation of an org (compliance_runs). */
export interface RunView {
  id: string
  trigger: 'schedule' | 'demand'
  startedAt: string
  finishedAt: string
  passed: number
  failed: number
  notApplicable: number
}

/** An org check across every org, for operators. */
export interface OverviewCheck {
  check: string
  promise: string
  title: string
  pass: number
  fail: number
  notApplicable: number
  /** Up to 20 orgs where it fails, by name (operators see orgs' names and figures, nothing inside). */
  failingOrgs: { id: string; name: string }[]
}

export interface ComplianceService {
  /**
   * Evaluates an org now: its org checks, and — for the provider org — the service's checks.
   * Results replace the latest (compliance_status), a change of verdict or summary is kept
   * (compliance_history), the run is recorded (compliance_runs), and a check that turns to
   * fail (from pass or not applicable; not at its first evaluation) raises
   * `compliance_check_failed` in the org. A check that throws is a `fail` naming
   * the error's kind (never its message, which may quote data).
   */
  evaluate(orgId: string, trigger: 'schedule' | 'demand', requestedBy?: RequestContext): Promise<RunView>
  /** The job: evaluates the orgs that are due, a few at a time; answers how many were evaluated. */
  runDue(limit?: number): Promise<number>
  /**
   * On demand (POST …/compliance/runs): evaluates the caller's org now, audited. RATE_LIMITED
   * (429, Retry-After) within a minute of the org's last evaluation or of the last request that
   * claimed one (requests sent together: one evaluates, the others are refused).
   */
  runNow(ctx: RequestContext): Promise<RunView>
  /** The latest result of every check that applies to the org: the service's and its own, in catalogue order. */
  results(orgId: string): Promise<CheckResult[]>
  /** Changes of verdict, newest first, a page at a time; optionally of one check. */
  history(ctx: RequestContext, page: PageRequest, check?: string): Promise<Page<HistoryEntry>>
  /** Evaluations of the org, newest first, a page at a time. */
  runs(ctx: RequestContext, page: PageRequest): Promise<Page<RunView>>
  /** Operators: every org check with how many orgs pass, fail or are not concerned. */
  overview(): Promise<OverviewCheck[]>
}

const ORDER = new Map(PROMISES.map((p, i) => [p.id, i]))

export function createComplianceService(deps: {
  db: Kysely<DB>
  clock: Clock
  audit: Pick<AuditService, 'append'>
  alerts: () => Pick<AlertsService, 'raiseIn'>
  env: ComplianceEnvironment
  checks: readonly CheckDefinition[]
  providerOrgId: () => Promise<string | undefined>
  intervalMs: number
  /** The least time (ms) after an org's last evaluation before one on demand. */
  onDemandMs: number
}): ComplianceService {
  const { db, clock, env, checks } = deps

  async function outcomeOf(
    definition: CheckDefinition,
    orgId: string,
    orgKind: 'provider' | 'customer',
    now: Date,
    audit: AuditStatus,
  ): Promise<CheckOutcome> {
    const run = (trx: Trx) => definition.evaluate({ now, orgId, orgKind, trx, audit, env })
    try {
      // Org checks read under the org's row-level security; the service's span orgs, and the
      // few org checks declared `owner` read people's factors (each query names the org).
      return await (definition.scope === 'org' && !definition.owner ? withOrg(db, orgId, run) : withOwner(db, run))
    } catch (error) {
      const kind = error instanceof Error ? error.name : 'unknown error'
      const code = (error as { code?: unknown }).code
      return {
        verdict: 'fail',
        summary: `the check could not run (${kind}${typeof code === 'string' ? ` ${code}` : ''})`,
        evidence: { error: kind, code: typeof code === 'string' ? code : null },
      }
    }
  }

  async function evaluate(orgId: string, trigger: 'schedule' | 'demand', by?: RequestContext): Promise<RunView> {
    const org = await withOwner(db, (trx) =>
      trx.selectFrom('orgs').select(['id', 'kind']).where('id', '=', orgId).executeTakeFirst(),
    )
    if (org === undefined) throw new AppError('NOT_FOUND', 'no such org')
    const startedAt = clock()
    const due = checks.filter((c) => c.scope === 'org' || org.kind === 'provider')
    const outcomes: [CheckDefinition, CheckOutcome][] = []
    // Read before any check's transaction: the embedded database has one connection.
    const audit = await env.auditStatus(orgId)
    // One after another: a run's load on the database stays one query at a time.
    for (const definition of due)
      outcomes.push([definition, await outcomeOf(definition, orgId, org.kind, startedAt, audit)])
    const finishedAt = clock()
    const run: RunView = {
      id: randomUUID(),
      trigger,
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      passed: outcomes.filter(([, o]) => o.verdict === 'pass').length,
      failed: outcomes.filter(([, o]) => o.verdict === 'fail').length,
      notApplicable: outcomes.filter(([, o]) => o.verdict === 'not_applicable').length,
    }
    await withOrg(db, orgId, async (trx) => {
      const previous = new Map(
        (
          await trx
            .selectFrom('compliance_status')
            .select(['check_id', 'verdict', 'summary', 'since'])
            .where('org_id', '=', orgId)
            .execute()
        ).map((r) => [r.check_id, r]),
      )
      for (const [definition, outcome] of outcomes) {
        const before = previous.get(definition.id)
        const changed = before === undefined || before.verdict !== outcome.verdict
        const evidence = JSON.stringify(outcome.evidence)
        const latest = {
          promise: definition.promise,
          scope: definition.scope,
          verdict: outcome.verdict,
          summary: outcome.summary,
          evidence,
          ran_at: startedAt,
          since: changed ? startedAt : before.since,
        }
        await trx
          .insertInto('compliance_status')
          .values({ org_id: orgId, check_id: definition.id, ...latest })
          .onConflict((oc) => oc.columns(['org_id', 'check_id']).doUpdateSet(latest))
          .execute()
        if (changed || before.summary !== outcome.summary)
          await trx
            .insertInto('compliance_history')
            .values({
              id: randomUUID(),
              org_id: orgId,
              check_id: definition.id,
              promise: definition.promise,
              verdict: outcome.verdict,
              previous_verdict: before?.verdict ?? null,
              summary: outcome.summary,
              evidence,
              ran_at: startedAt,
            })
            .execute()
        // A turn to fail (a regression) raises an alert; an org's first evaluation shows its
        // standing on the compliance page and in the report instead of alerting on each gap.
        if (outcome.verdict === 'fail' && before !== undefined && before.verdict !== 'fail')
          await deps.alerts().raiseIn(trx, orgId, 'compliance_check_failed', {
            key: definition.id,
            title: `${definition.promise} not met: ${outcome.summary}`,
            details: {
              check: definition.id,
              promise: definition.promise,
              scope: definition.scope,
              summary: outcome.summary,
            },
          })
      }
      await trx
        .insertInto('compliance_runs')
        .values({
          id: run.id,
          org_id: orgId,
          trigger,
          started_at: startedAt,
          finished_at: finishedAt,
          passed: run.passed,
          failed: run.failed,
          not_applicable: run.notApplicable,
          requested_by: by?.principal.id ?? null,
        })
        .execute()
      await trx
        .insertInto('compliance_schedule')
        .values({ org_id: orgId, next_run_at: new Date(startedAt.getTime() + deps.intervalMs) })
        .onConflict((oc) =>
          oc.column('org_id').doUpdateSet({ next_run_at: new Date(startedAt.getTime() + deps.intervalMs) }),
        )
        .execute()
      if (by !== undefined)
        await deps.audit.append(trx, {
          orgId,
          actor: actorOf(by.principal),
          action: 'compliance.evaluate',
          target: { type: 'compliance_run', id: run.id },
          outcome: 'success',
          details: { passed: run.passed, failed: run.failed, notApplicable: run.notApplicable },
          meta: by.meta,
        })
    })
    return run
  }

  const runView = (r: {
    id: string
    trigger: 'schedule' | 'demand'
    started_at: Date
    finished_at: Date
    passed: number
    failed: number
    not_applicable: number
  }): RunView => ({
    id: r.id,
    trigger: r.trigger,
    startedAt: r.started_at.toISOString(),
    finishedAt: r.finished_at.toISOString(),
    passed: r.passed,
    failed: r.failed,
    notApplicable: r.not_applicable,
  })

  const resultOf = (r: {
    check_id: string
    promise: string
    scope: CheckScope
    verdict: Verdict
    summary: string
    evidence: Record<string, unknown>
    ran_at: Date
    since: Date
  }): CheckResult => ({
    check: r.check_id,
    promise: r.promise,
    scope: r.scope,
    title: checks.find((c) => c.id === r.check_id)?.title ?? r.check_id,
    verdict: r.verdict,
    summary: r.summary,
    evidence: r.evidence as Evidence,
    ranAt: r.ran_at.toISOString(),
    since: r.since.toISOString(),
  })

  const known = new Set(checks.map((c) => c.id))
  const byCatalogue = (a: CheckResult, b: CheckResult) =>
    (ORDER.get(a.promise) ?? 0) - (ORDER.get(b.promise) ?? 0) || a.check.localeCompare(b.check)

  return {
    evaluate,

    async runDue(limit = 5) {
      const now = clock()
      // Which orgs are due spans tenants: owner connection, rows locked and pushed forward so
      // another process skips them (a run that dies leaves the org due again in 10 minutes).
      // P8.1: a refused org is not evaluated (its checks write runs, history and alerts).
      const refused = orgsNotServed(db)
      const served = refused.length > 0 ? sql`AND org_id NOT IN (${sql.join(refused)})` : sql``
      const due = await withOwner(db, async (trx) => {
        const rows = await sql<{ org_id: string }>`
          SELECT org_id FROM compliance_schedule WHERE next_run_at <= ${now} ${served}
           ORDER BY next_run_at LIMIT ${limit} FOR UPDATE SKIP LOCKED`.execute(trx)
        const ids = rows.rows.map((r) => r.org_id)
        if (ids.length > 0)
          await trx
            .updateTable('compliance_schedule')
            .set({ next_run_at: new Date(now.getTime() + Math.min(deps.intervalMs, 600_000)) })
            .where('org_id', 'in', ids)
            .execute()
        return ids
      })
      // One org's failure (deleted meanwhile, a database error) never holds the others back:
      // the rest of the batch is evaluated, then the first failure goes to the job's log.
      const failures: unknown[] = []
      for (const orgId of due)
        await evaluate(orgId, 'schedule').catch((error: unknown) => {
          if (!(isAppError(error) && error.code === 'NOT_FOUND')) failures.push(error)
        })
      if (failures.length > 0) throw failures[0]
      return due.length
    },

    async runNow(ctx) {
      // One evaluation on demand per `onDemandMs` (a minute) per org: each connects to the
      // service's own listeners and reads every check's figures, and each run is kept.
      // The run's row is written only when it ends, so the minute is also claimed at once on
      // the org's schedule row (one conditional upsert, which locks the row): requests sent
      // together would otherwise each find no recent run and start an evaluation each.
      const now = clock()
      const cutoff = new Date(now.getTime() - deps.onDemandMs)
      // The time the minute counts from when it has not passed; undefined: this request claimed it.
      const since = await withOrg(db, ctx.orgId, async (trx) => {
        const run = await trx
          .selectFrom('compliance_runs')
          .select('started_at')
          .where('org_id', '=', ctx.orgId)
          .orderBy('started_at', 'desc')
          .orderBy('id', 'desc')
          .limit(1)
          .executeTakeFirst()
        if (run !== undefined && run.started_at > cutoff) return run.started_at
        const claim = await trx
          .insertInto('compliance_schedule')
          .values({ org_id: ctx.orgId, next_run_at: now, demanded_at: now })
          .onConflict((oc) =>
            oc
              .column('org_id')
              .doUpdateSet({ demanded_at: now })
              .where((eb) =>
                eb.or([
                  eb('compliance_schedule.demanded_at', 'is', null),
                  eb('compliance_schedule.demanded_at', '<=', cutoff),
                ]),
              ),
          )
          .returning('org_id')
          .executeTakeFirst()
        if (claim !== undefined) return undefined
        const schedule = await trx
          .selectFrom('compliance_schedule')
          .select('demanded_at')
          .where('org_id', '=', ctx.orgId)
          .executeTakeFirst()
        return schedule?.demanded_at ?? now
      })
      const wait =
        since === undefined ? 0 : Math.max(1, Math.ceil((since.getTime() + deps.onDemandMs - now.getTime()) / 1000))
      if (wait > 0)
        throw new AppError(
          'RATE_LIMITED',
          `the org was evaluated ${Math.round(deps.onDemandMs / 1000)} s ago or less and its results are current; evaluate again in ${wait} s`,
          { retryAfter: wait },
        )
      return evaluate(ctx.orgId, 'demand', ctx)
    },

    async results(orgId) {
      const providerOrgId = await deps.providerOrgId()
      const own = await withOrg(db, orgId, (trx) =>
        trx
          .selectFrom('compliance_status')
          .selectAll()
          .where('org_id', '=', orgId)
          .where('scope', '=', 'org')
          .execute(),
      )
      // The service's results are kept in the provider org: read over the owner connection,
      // its scope only (figures about the deployment, nothing of the provider's own data).
      const service =
        providerOrgId === undefined
          ? []
          : await withOwner(db, (trx) =>
              trx
                .selectFrom('compliance_status')
                .selectAll()
                .where('org_id', '=', providerOrgId)
                .where('scope', '=', 'service')
                .execute(),
            )
      return [...service, ...own]
        .filter((r) => known.has(r.check_id))
        .map(resultOf)
        .sort(byCatalogue)
    },

    async history(ctx, page, check) {
      const order = newestFirst('ran_at')
      return withOrg(db, ctx.orgId, async (trx) => {
        let q = trx.selectFrom('compliance_history').selectAll().where('org_id', '=', ctx.orgId)
        if (check !== undefined) q = q.where('check_id', '=', check)
        const rows = await pageOf(q, order, page).execute()
        const { items, nextCursor } = toPage(rows, order, page.limit)
        return {
          nextCursor,
          items: items.map((r) => ({
            id: r.id,
            check: r.check_id,
            promise: r.promise,
            verdict: r.verdict,
            previousVerdict: r.previous_verdict,
            summary: r.summary,
            evidence: r.evidence as Evidence,
            ranAt: r.ran_at.toISOString(),
          })),
        }
      })
    },

    async runs(ctx, page) {
      const order = newestFirst('started_at')
      return withOrg(db, ctx.orgId, async (trx) => {
        const rows = await pageOf(
          trx.selectFrom('compliance_runs').selectAll().where('org_id', '=', ctx.orgId),
          order,
          page,
        ).execute()
        const { items, nextCursor } = toPage(rows, order, page.limit)
        return { nextCursor, items: items.map(runView) }
      })
    },

    async overview() {
      // Across orgs by nature (operators): counts per check and verdict, and the first
      // failing orgs' names, never anything inside them.
      return withOwner(db, async (trx) => {
        const counts = await sql<{ check_id: string; verdict: Verdict; n: string }>`
          SELECT check_id, verdict, count(*)::text AS n FROM compliance_status WHERE scope = 'org'
           GROUP BY check_id, verdict`.execute(trx)
        const failing = await sql<{ check_id: string; id: string; name: string }>`
          SELECT c.check_id, o.id, o.name FROM (SELECT DISTINCT check_id FROM compliance_status WHERE scope = 'org' AND verdict = 'fail') c
            CROSS JOIN LATERAL (SELECT s.org_id FROM compliance_status s WHERE s.check_id = c.check_id AND s.verdict = 'fail'
                                 ORDER BY s.org_id LIMIT 20) f
            JOIN orgs o ON o.id = f.org_id`.execute(trx)
        return checks
          .filter((c) => c.scope === 'org')
          .map((c) => {
            const n = (v: Verdict) => Number(counts.rows.find((r) => r.check_id === c.id && r.verdict === v)?.n ?? 0)
            return {
              check: c.id,
              promise: c.promise,
              title: c.title,
              pass: n('pass'),
              fail: n('fail'),
              notApplicable: n('not_applicable'),
              failingOrgs: failing.rows.filter((r) => r.check_id === c.id).map((r) => ({ id: r.id, name: r.name })),
            }
          })
      })
    },
  }
}
