import { randomUUID } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import type { Clock } from '../../clock.ts'
import type { DB } from '../../db/schema.ts'
import { newestFirst, pageOf, toPage, type Page, type PageRequest, inIndexOrder } from '../../db/page.ts'
import { withOrg, withOwner, type Trx, orgsNotServed } from '../../db/tenant.ts'
import { actorOf, type RequestContext } from '../../context.ts'
import type { AuditService } from '../audit/audit.service.ts'
import type { RetentionClassProof } from './privacy.tables.ts'

/**
 * Retention lifecycle (P7.3): each data class is kept for its org's period, or the
 * default — customer data 24 hours; metadata and credentials kept. A purge job, run by
 * every process and coordinated per org with an advisory lock, deletes what is past its
 * period and records proof: per class, how many were purged, how many remain, and how
 * old the oldest remaining one is.
 */
export const DEFAULT_RETENTION: Readonly<Record<string, number | null>> = {
  customer_data: 24 * 3600,
  metadata: null,
  credentials: null,
}

export interface RetentionPolicyView {
  dataClass: string
  /** null: kept until erased. */
  retainSeconds: number | null
  source: 'default' | 'org'
}

export interface RetentionRunView {
  id: string
  ranAt: string
  purged: number
  classes: RetentionClassProof[]
}

export interface RetentionService {
  policies(ctx: RequestContext): Promise<RetentionPolicyView[]>
  setPolicy(ctx: RequestContext, dataClass: string, retainSeconds: number | null): Promise<RetentionPolicyView>
  resetPolicy(ctx: RequestContext, dataClass: string): Promise<RetentionPolicyView>
  /** Newest first (index `(org_id, ran_at, id)`). */
  runs(ctx: RequestContext, page: PageRequest): Promise<Page<RetentionRunView>>
  /** The job: purges every org's expired records; returns how many were purged. */
  purgeExpired(): Promise<number>
}

const PROOF_HEARTBEAT_MS = 60 * 60_000
const BATCH = 5000
const SYSTEM = { type: 'system' as const, id: 'retention' }

export function createRetentionService(deps: {
  db: Kysely<DB>
  audit: Pick<AuditService, 'append'>
  clock: Clock
}): RetentionService {
  const { db, audit, clock } = deps
  const by = (ctx: RequestContext) => `${ctx.principal.kind}:${ctx.principal.id}`

  async function effective(trx: Trx): Promise<RetentionPolicyView[]> {
    const rows = await trx.selectFrom('retention_policies').select(['data_class', 'retain_seconds']).execute()
    const byClass = new Map<string, RetentionPolicyView>(
      Object.entries(DEFAULT_RETENTION).map(([dataClass, retainSeconds]) => [
        dataClass,
        { dataClass, retainSeconds, source: 'default' as const },
      ]),
    )
    for (const row of rows)
      byClass.set(row.data_class, { dataClass: row.data_class, retainSeconds: row.retain_seconds, source: 'org' })
    return [...byClass.values()].sort((a, b) => a.dataClass.localeCompare(b.dataClass))
  }

  async function purgeOrg(orgId: string): Promise<number> {
    return withOrg(db, orgId, async (trx) => {
      // One purger per org at a time, whatever the number of processes.
      const locked = await sql<{
        locked: boolean
      }>`SELECT pg_try_advisory_xact_lock(hashtext(${`custodian:retention:${orgId}`})) AS locked`.execute(trx)
      if (locked.rows[0]?.locked !== true) return 0
      const now = clock()
      const policies = new Map((await effective(trx)).map((p) => [p.dataClass, p.retainSeconds]))
      const present = await sql<{ data_class: string }>`SELECT DISTINCT data_class FROM data_records`.execute(trx)
      const proof: RetentionClassProof[] = []
      let total = 0
      for (const { data_class: dataClass } of present.rows) {
        const retain = policies.get(dataClass) ?? null
        let purged = 0
        if (retain !== null) {
          const cutoff = new Date(now.getTime() - retain * 1000)
          for (;;) {
            const gone =
              await sql`DELETE FROM data_records WHERE id IN (SELECT id FROM data_records WHERE data_class = ${dataClass} AND created_at <= ${cutoff} LIMIT ${BATCH})`.execute(
                trx,
              )
            const n = Number(gone.numAffectedRows ?? 0)
            purged += n
            if (n < BATCH) break
          }
        }
        const left = await sql<{
          n: number
          oldest: Date | null
        }>`SELECT count(*)::int AS n, min(created_at) AS oldest FROM data_records WHERE data_class = ${dataClass}`.execute(
          trx,
        )
        const oldest = left.rows[0]?.oldest ?? null
        proof.push({
          dataClass,
          retainSeconds: retain,
          purged,
          remaining: Number(left.rows[0]?.n ?? 0),
          oldestRemainingAgeSeconds:
            oldest === null ? null : Math.max(0, Math.floor((now.getTime() - new Date(oldest).getTime()) / 1000)),
        })
        total += purged
      }
      const last = await trx
        .selectFrom('retention_runs')
        .select('ran_at')
        .orderBy('ran_at', 'desc')
        .limit(1)
        .executeTakeFirst()
      if (total > 0 || last === undefined || now.getTime() - last.ran_at.getTime() >= PROOF_HEARTBEAT_MS) {
        const runId = randomUUID()
        await trx
          .insertInto('retention_runs')
          .values({ id: runId, org_id: orgId, ran_at: now, purged: total, classes: JSON.stringify(proof) })
          .execute()
        if (total > 0) {
          await audit.append(trx, {
            orgId,
            actor: SYSTEM,
            action: 'retention.purge',
            target: { type: 'retention_run', id: runId },
            outcome: 'success',
            details: { purged: total, classes: proof },
            meta: { requestId: null, ip: null, userAgent: null },
          })
        }
      }
      return total
    })
  }

  return {
    async policies(ctx) {
      return withOrg(db, ctx.orgId, effective)
    },

    async setPolicy(ctx, dataClass, retainSeconds) {
      return withOrg(db, ctx.orgId, async (trx) => {
        await trx
          .insertInto('retention_policies')
          .values({ org_id: ctx.orgId, data_class: dataClass, retain_seconds: retainSeconds, updated_by: by(ctx) })
          .onConflict((oc) =>
            oc
              .columns(['org_id', 'data_class'])
              .doUpdateSet({ retain_seconds: retainSeconds, updated_by: by(ctx), updated_at: new Date() }),
          )
          .execute()
        await audit.append(trx, {
          orgId: ctx.orgId,
          actor: actorOf(ctx.principal),
          action: 'retention.policy.update',
          target: { type: 'data_class', id: dataClass },
          outcome: 'success',
          details: { retainSeconds },
          meta: ctx.meta,
        })
        return { dataClass, retainSeconds, source: 'org' as const }
      })
    },

    async resetPolicy(ctx, dataClass) {
      return withOrg(db, ctx.orgId, async (trx) => {
        await trx.deleteFrom('retention_policies').where('data_class', '=', dataClass).execute()
        await audit.append(trx, {
          orgId: ctx.orgId,
          actor: actorOf(ctx.principal),
          action: 'retention.policy.reset',
          target: { type: 'data_class', id: dataClass },
          outcome: 'success',
          meta: ctx.meta,
        })
        return (
          (await effective(trx)).find((p) => p.dataClass === dataClass) ?? {
            dataClass,
            retainSeconds: null,
            source: 'default' as const,
          }
        )
      })
    },

    async runs(ctx, page) {
      const order = newestFirst('ran_at')
      const rows = await withOrg(db, ctx.orgId, (trx) =>
        inIndexOrder(trx, () => pageOf(trx.selectFrom('retention_runs').selectAll(), order, page).execute()),
      )
      const { items, nextCursor } = toPage(rows, order, page.limit)
      return {
        items: items.map((r) => ({ id: r.id, ranAt: r.ran_at.toISOString(), purged: r.purged, classes: r.classes })),
        nextCursor,
      }
    },

    async purgeExpired() {
      // Which orgs hold records spans tenants: owner connection; each purge runs in its org.
      // P8.1: a refused org's records are left as they are until its rollback is acknowledged.
      const refused = orgsNotServed(db)
      const orgs = await withOwner(db, (trx) =>
        trx
          .selectFrom('data_records')
          .select('org_id')
          .distinct()
          .$if(refused.length > 0, (q) => q.where('org_id', 'not in', refused))
          .execute(),
      )
      let purged = 0
      for (const { org_id: orgId } of orgs) purged += await purgeOrg(orgId)
      return purged
    },
  }
}
