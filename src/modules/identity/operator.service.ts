import { sql, type Kysely } from 'kysely'
import type { DB } from '../../db/schema.ts'
import { withOwner } from '../../db/tenant.ts'
import { AppError } from '../../errors.ts'
import type { RequestContext } from '../../context.ts'
import type { AuditService, ChainHealth } from '../audit/audit.service.ts'

/**
 * What an operator — a member of the provider org — may see of the orgs Custodian serves
 * (P2.7): each org's name and its health figures, never anything inside it (no member,
 * secret, record or audit event). Going inside takes a grant the org approved (P2.8).
 */
export interface OrgHealthView {
  id: string
  name: string
  kind: 'provider' | 'customer'
  /** The region the org is pinned to (P8.2); null where none is configured. */
  region: string | null
  createdAt: string
  members: number
  serviceAccounts: number
  audit: ChainHealth
}

export interface OperatorService {
  listOrgs(
    ctx: RequestContext,
    page: { limit: number; cursor?: string | undefined },
  ): Promise<{ orgs: OrgHealthView[]; nextCursor: string | null }>
}

export function createOperatorService(deps: {
  db: Kysely<DB>
  audit: Pick<AuditService, 'chainHealth'>
}): OperatorService {
  const { db, audit } = deps
  return {
    async listOrgs(ctx, page) {
      if (ctx.principal.orgKind !== 'provider')
        throw new AppError('FORBIDDEN', 'only operators see the list of orgs', { permission: 'orgs:list' })
      const after = page.cursor === undefined ? undefined : decodeCursor(page.cursor)
      // Owner connection: the list spans every org, which no org-scoped role can see. It
      // reads names and the counts kept at write time only (never a count over members).
      const rows = await withOwner(db, (trx) =>
        sql<{
          id: string
          name: string
          kind: 'provider' | 'customer'
          region: string | null
          created_at: Date
          created_text: string
          members: number
          service_accounts: number
        }>`
          SELECT o.id, o.name, o.kind, o.region, o.created_at, o.created_at::text AS created_text,
                 coalesce(c.members, 0)::int AS members, coalesce(c.service_accounts, 0)::int AS service_accounts
            FROM orgs o
            -- Counts kept at write time (migration 0030): at most 8 stripes per org.
            LEFT JOIN LATERAL (
              SELECT sum(members) AS members, sum(service_accounts) AS service_accounts
                FROM org_principal_counts WHERE org_id = o.id) AS c ON true
           WHERE ${after === undefined ? sql`true` : sql`(o.created_at, o.id) > (${after.createdAt}::timestamptz, ${after.id}::uuid)`}
           ORDER BY o.created_at, o.id
           LIMIT ${page.limit + 1}`.execute(trx),
      )
      const shown = rows.rows.slice(0, page.limit)
      const health = await audit.chainHealth(shown.map((r) => r.id))
      const last = shown[shown.length - 1]
      return {
        orgs: shown.map((r) => ({
          id: r.id,
          name: r.name,
          kind: r.kind,
          region: r.region,
          createdAt: r.created_at.toISOString(),
          members: r.members,
          serviceAccounts: r.service_accounts,
          audit: health.get(r.id) ?? { headSeq: 0, lastCheckpointAt: null, unchained: 0, lastEventAt: null },
        })),
        nextCursor:
          rows.rows.length > page.limit && last !== undefined ? encodeCursor(last.created_text, last.id) : null,
      }
    },
  }
}

/** The cursor keeps the database's own text of the timestamp: microseconds, which a JS Date would drop. */
function encodeCursor(createdAt: string, id: string): string {
  return Buffer.from(`${createdAt}|${id}`).toString('base64url')
}

function decodeCursor(cursor: string): { createdAt: string; id: string } {
  const [createdAt, id] = Buffer.from(cursor, 'base64url').toString().split('|')
  if (
    createdAt === undefined ||
    id === undefined ||
    !/^[0-9a-f-]{36}$/.test(id) ||
    !/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})?[+-]\d\d(:\d\d)?$/.test(createdAt)
  ) {
    throw new AppError('VALIDATION_FAILED', 'the cursor is not one this API returned', {
      errors: [{ path: '/query/cursor', message: 'invalid cursor' }],
    })
  }
  return { createdAt, id }
}
