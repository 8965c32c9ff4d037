import { sql, type Kysely } from 'kysely'
import type { Clock } from '../../clock.ts'
import type { DB } from '../../db/schema.ts'
import { withOrg, type Trx } from '../../db/tenant.ts'
import type { Principal } from '../../context.ts'

/**
 * When each principal last used each permission (P2.3), recorded at the authorization
 * point — reads included, which the audit log does not hold. At most one write per
 * principal and permission an hour per process: a request pays nothing most of the time.
 * A failed write is logged and the request goes on: this is a statistic, not a control.
 */
export interface UsageRecorder {
  /**
   * `confirm`, for a credential taken from the process's cache: awaited before the use is
   * written (only when it is), so a credential revoked meanwhile records nothing; its
   * refusal is thrown, never logged and passed over.
   */
  record(principal: Principal, permission: string, confirm?: () => Promise<void>): Promise<void>
  /** The last use of each permission by each principal of the current org since `since`. */
  usedSince(trx: Trx, since: Date): Promise<Map<string, Set<string>>>
  /**
   * The same for the named principals only (a page of a report), keyed by
   * {@link principalKey}: read through the primary key `(org_id, principal_type,
   * principal_id, permission)`, so the cost follows those principals, not the org.
   */
  usedBy(
    trx: Trx,
    since: Date,
    principals: readonly { type: 'user' | 'service_account'; id: string }[],
  ): Promise<Map<string, Set<string>>>
}

const WRITE_EVERY_MS = 60 * 60_000

export function principalKey(type: string, id: string): string {
  return `${type}:${id}`
}

interface UsageRow {
  principal_type: string
  principal_id: string
  permission: string
}

function byPrincipal(rows: readonly UsageRow[]): Map<string, Set<string>> {
  const used = new Map<string, Set<string>>()
  for (const row of rows) {
    const key = principalKey(row.principal_type, row.principal_id)
    const set = used.get(key)
    if (set === undefined) used.set(key, new Set([row.permission]))
    else set.add(row.permission)
  }
  return used
}

export function createUsageRecorder(deps: {
  db: Kysely<DB>
  clock: Clock
  log: { error(obj: object, msg: string): void }
}): UsageRecorder {
  const written = new Map<string, number>()
  return {
    async record(principal, permission, confirm) {
      // Uses under a diagnostic grant are the operator's, recorded as grant uses instead.
      if (principal.grant !== undefined || principal.kind === 'system') return
      const now = deps.clock()
      const key = `${principal.orgId}|${principal.kind}|${principal.id}|${permission}`
      const last = written.get(key)
      if (last !== undefined && now.getTime() - last < WRITE_EVERY_MS && now.getTime() >= last) return
      written.set(key, now.getTime())
      if (written.size > 100_000) written.clear()
      try {
        await confirm?.()
      } catch (refusal) {
        written.delete(key)
        throw refusal
      }
      try {
        await withOrg(deps.db, principal.orgId, (trx) =>
          sql`INSERT INTO permission_usage (org_id, principal_type, principal_id, permission, last_used_at)
              VALUES (${principal.orgId}, ${principal.kind}, ${principal.id}, ${permission}, ${now})
              ON CONFLICT (org_id, principal_type, principal_id, permission)
              DO UPDATE SET last_used_at = greatest(permission_usage.last_used_at, EXCLUDED.last_used_at)`.execute(trx),
        )
      } catch (error) {
        written.delete(key)
        deps.log.error({ err: error }, 'could not record permission use')
      }
    },

    async usedSince(trx, since) {
      const rows = await trx
        .selectFrom('permission_usage')
        .select(['principal_type', 'principal_id', 'permission'])
        .where('last_used_at', '>=', since)
        .execute()
      return byPrincipal(rows)
    },

    async usedBy(trx, since, principals) {
      const rows: UsageRow[] = []
      for (const type of ['user', 'service_account'] as const) {
        const ids = principals.filter((p) => p.type === type).map((p) => p.id)
        if (ids.length === 0) continue
        rows.push(
          ...(await trx
            .selectFrom('permission_usage')
            .select(['principal_type', 'principal_id', 'permission'])
            .where('principal_type', '=', type)
            .where('principal_id', 'in', ids)
            .where('last_used_at', '>=', since)
            .execute()),
        )
      }
      return byPrincipal(rows)
    },
  }
}
