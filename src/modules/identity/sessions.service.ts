import type { Kysely } from 'kysely'
import type { DB } from '../../db/schema.ts'
import { newestFirst, pageOf, toPage, type Page, type PageRequest, inIndexOrder } from '../../db/page.ts'
import { withOrg } from '../../db/tenant.ts'
import { AppError } from '../../errors.ts'
import { actorOf, type RequestContext } from '../../context.ts'
import type { AuditService } from '../audit/audit.service.ts'

/**
 * Browser sessions: each user lists and revokes their own; admins list and revoke any
 * member's in their org. A revoked session fails on its very next request (checked at
 * use, not by a sweeper). Never shows a session's secret — only its id and metadata.
 */
export interface SessionView {
  id: string
  userId: string
  email: string
  createdAt: string
  lastSeenAt: string
  expiresAt: string
  ip: string | null
  userAgent: string | null
  secondFactorAt: string | null
  current: boolean
}

/** Most recently used first (indexes `sessions_active`, `sessions_org_user`). */
const RECENT = newestFirst('s.last_seen_at', 's.id')

export interface SessionsService {
  /**
   * Active sessions, most recently used first, a page at a time (index `(org_id,
   * last_seen_at)` of unrevoked sessions: the idle cutoff ends the walk). A session used
   * between two pages moves to the top and is not shown again.
   */
  list(ctx: RequestContext, scope: 'mine' | 'org', page: PageRequest): Promise<Page<SessionView>>
  revoke(ctx: RequestContext, sessionId: string, scope: 'mine' | 'org'): Promise<void>
}

export function createSessionsService(deps: {
  db: Kysely<DB>
  audit: Pick<AuditService, 'append'>
  idleMinutes: number
}): SessionsService {
  const { db, audit } = deps
  return {
    async list(ctx, scope, page) {
      const current = ctx.principal.via.type === 'session' ? ctx.principal.via.sessionId : null
      const rows = await withOrg(db, ctx.orgId, (trx) => {
        let query = trx
          .selectFrom('sessions as s')
          .innerJoin('users as u', 'u.id', 's.user_id')
          .select([
            's.id',
            's.user_id',
            'u.email',
            's.created_at',
            's.last_seen_at',
            's.expires_at',
            's.ip',
            's.user_agent',
            's.mfa_at',
          ])
          .where('s.revoked_at', 'is', null)
          .where('s.expires_at', '>', new Date())
          .where('s.last_seen_at', '>', new Date(Date.now() - deps.idleMinutes * 60_000))
        if (scope === 'mine') query = query.where('s.user_id', '=', ctx.principal.id)
        return inIndexOrder(trx, () => pageOf(query, RECENT, page).execute())
      })
      const { items, nextCursor } = toPage(rows, RECENT, page.limit)
      return {
        nextCursor,
        items: items.map((r) => ({
          id: r.id,
          userId: r.user_id,
          email: r.email,
          createdAt: r.created_at.toISOString(),
          lastSeenAt: r.last_seen_at.toISOString(),
          expiresAt: r.expires_at.toISOString(),
          ip: r.ip,
          userAgent: r.user_agent,
          secondFactorAt: r.mfa_at?.toISOString() ?? null,
          current: r.id === current,
        })),
      }
    },
    async revoke(ctx, sessionId, scope) {
      await withOrg(db, ctx.orgId, async (trx) => {
        let query = trx
          .updateTable('sessions')
          .set({ revoked_at: new Date() })
          .where('id', '=', sessionId)
          .where('revoked_at', 'is', null)
        if (scope === 'mine') query = query.where('user_id', '=', ctx.principal.id)
        const row = await query.returning(['id', 'user_id']).executeTakeFirst()
        if (row === undefined) throw new AppError('NOT_FOUND', 'no such active session')
        await audit.append(trx, {
          orgId: ctx.orgId,
          actor: actorOf(ctx.principal),
          action: 'session.revoke',
          target: { type: 'session', id: sessionId },
          outcome: 'success',
          details: { userId: row.user_id, scope },
          meta: ctx.meta,
        })
      })
    },
  }
}
