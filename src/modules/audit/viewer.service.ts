import type { Kysely } from 'kysely'
import type { DB } from '../../db/schema.ts'
import { withOrg } from '../../db/tenant.ts'
import { toPage, type Page, type PageRequest } from '../../db/page.ts'
import { issueToken, parseToken, secretMatches } from '../../crypto/tokens.ts'
import type { Clock } from '../../clock.ts'
import type { RequestContext } from '../../context.ts'
import { actorOf } from '../../context.ts'
import { AppError } from '../../errors.ts'
import { assertWithinOwn } from '../access/bounds.ts'
import type { AuditService } from './audit.service.ts'
import type { AuditEventView, RequestMeta } from './audit.types.ts'
import type { AuditReceipt } from './audit.receipt.ts'
import { actionCovers, checkViewerOrigin, intersectActions } from './viewer.origin.ts'
import * as store from './viewer.store.ts'

/**
 * The embedded audit-log viewer's tokens (issue 14; docs/embedded-viewer.md).
 *
 * A host application's backend, holding `audit:viewer` (and the `audit:read` and
 * `audit:export` a viewer token exercises: nothing derived exceeds its maker), mints a
 * token for one web origin and hands it to its customer's browser. The token:
 * - reads only its own org's audit log, narrowed by its scope (actions, actor), through the
 *   `/v1/viewer/…` routes, and is accepted by no other route (its prefix is `cst_view`,
 *   which the API's bearer check never takes);
 * - expires minutes after issue (60–900 s), checked at every use against the service's
 *   clock, and can be revoked at once;
 * - is refused (403) from any browser origin but its own, before anything is read;
 * - is stored only as SHA-256 of its secret, and never appears in an audit detail.
 */
export interface ViewerScope {
  /** Exact actions or `family.*` prefixes; null: every action. */
  actions: string[] | null
  /** Only events of this actor id; null: every actor. */
  actorId: string | null
}

/** A live viewer token, as the access-control point resolves it. */
export interface ViewerSession {
  tokenId: string
  orgId: string
  orgName: string
  origin: string
  scope: ViewerScope
  expiresAt: Date
  /** The org's IP allowlist (P2.9): it applies to every credential of the org, this one included. */
  ipAllowlist: string[]
  /** `live`, or why the (authentic) token no longer opens anything: refused with 401 at the access-control point. */
  state: 'live' | 'expired' | 'revoked'
}

export interface ViewerTokenView {
  id: string
  origin: string
  scope: ViewerScope
  createdAt: string
  expiresAt: string
  revokedAt: string | null
  firstUsedAt: string | null
  createdBy: { type: string; id: string | null }
}

/** Filters of the viewer's event search (the org's audit query without `origin`'s absence: all the same). */
export interface ViewerQuery {
  origin?: 'custodian' | 'application' | undefined
  actor?: string | undefined
  action?: string | undefined
  target?: string | undefined
  outcome?: 'success' | 'denied' | 'failure' | undefined
  from?: string | undefined
  to?: string | undefined
}

export const VIEWER_TTL = { min: 60, max: 900, default: 300 } as const
export const VIEWER_MAX_ACTIONS = 50
export const VIEWER_EXPORT_FORMAT = 'custodian-audit-viewer-export/1'

export interface ViewerService {
  issue(
    ctx: RequestContext,
    input: { origin: string; actions?: string[] | undefined; actorId?: string | undefined; ttlSeconds: number },
  ): Promise<{ id: string; token: string; expiresAt: Date; origin: string; scope: ViewerScope }>
  list(ctx: RequestContext, page: PageRequest): Promise<Page<ViewerTokenView>>
  revoke(ctx: RequestContext, tokenId: string): Promise<ViewerTokenView>
  /**
   * The session a bearer stands for — with `state` expired or revoked when it is authentic
   * but no longer opens anything — or null for anything else (unknown id, wrong secret).
   */
  authenticate(bearer: string | undefined): Promise<ViewerSession | null>
  /** Records `audit.viewer.session` at the token's first successful use (once per token). */
  recordFirstUse(session: ViewerSession, meta: RequestMeta): Promise<void>
  events(
    session: ViewerSession,
    query: ViewerQuery & { cursor?: string | undefined; limit: number },
  ): Promise<{ events: AuditEventView[]; nextCursor: string | null }>
  receipt(session: ViewerSession, eventId: string): Promise<AuditReceipt>
  /** The scoped events matching `query` as JSON Lines, newest first; audited as `audit.viewer.export` before the first line. */
  exportLines(session: ViewerSession, query: ViewerQuery, meta: RequestMeta): Promise<AsyncGenerator<string>>
}

export function createViewerService(deps: {
  db: Kysely<DB>
  audit: Pick<AuditService, 'append' | 'query' | 'event' | 'receipt'>
  clock: Clock
}): ViewerService {
  const { db, audit, clock } = deps

  const inScope = (scope: ViewerScope, event: Pick<AuditEventView, 'action' | 'actor'>) =>
    (scope.actions === null || scope.actions.some((pattern) => actionCovers(pattern, event.action))) &&
    (scope.actorId === null || event.actor.id === scope.actorId)

  const viewOf = (row: store.ViewerTokenRow): ViewerTokenView => ({
    id: row.id,
    origin: row.origin,
    scope: { actions: row.actions, actorId: row.actor_id },
    createdAt: row.created_at.toISOString(),
    expiresAt: row.expires_at.toISOString(),
    revokedAt: row.revoked_at?.toISOString() ?? null,
    firstUsedAt: row.first_used_at?.toISOString() ?? null,
    createdBy: { type: row.created_by_type, id: row.created_by_id },
  })

  const service: ViewerService = {
    async issue(ctx, input) {
      const origin = checkViewerOrigin(input.origin)
      if (!origin.ok)
        throw new AppError('VALIDATION_FAILED', `origin: ${origin.message}`, {
          errors: [{ path: '/body/origin', message: origin.message }],
        })
      // What the token lets its holder do, the issuer must be able to do itself.
      assertWithinOwn(ctx.principal, ['audit:read', 'audit:export'], 'a viewer token')
      const scope: ViewerScope = {
        actions: input.actions === undefined ? null : [...new Set(input.actions)],
        actorId: input.actorId ?? null,
      }
      const issued = issueToken('cst_view')
      const now = clock()
      const expiresAt = new Date(now.getTime() + input.ttlSeconds * 1000)
      const actor = actorOf(ctx.principal)
      await withOrg(db, ctx.orgId, async (trx) => {
        await store.insertViewerToken(trx, {
          id: issued.id,
          org_id: ctx.orgId,
          secret_hash: issued.secretHash,
          origin: origin.origin,
          actions: scope.actions,
          actor_id: scope.actorId,
          created_by_type: actor.type,
          created_by_id: actor.id,
          created_at: now,
          expires_at: expiresAt,
          revoked_at: null,
          first_used_at: null,
        })
        await audit.append(trx, {
          orgId: ctx.orgId,
          actor,
          action: 'audit.viewer_token.issue',
          target: { type: 'viewer_token', id: issued.id },
          outcome: 'success',
          details: { origin: origin.origin, scope, expiresAt: expiresAt.toISOString() },
          meta: ctx.meta,
        })
      })
      return { id: issued.id, token: issued.token, expiresAt, origin: origin.origin, scope }
    },

    async list(ctx, page) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const rows = await store.pageOfViewerTokens(trx, page)
        const { items, nextCursor } = toPage(rows, store.VIEWER_TOKENS_NEWEST, page.limit)
        return { items: items.map(viewOf), nextCursor }
      })
    },

    async revoke(ctx, tokenId) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const wasLive = await trx
          .selectFrom('audit_viewer_tokens')
          .select('revoked_at')
          .where('id', '=', tokenId)
          .executeTakeFirst()
        const row = await store.revokeViewerToken(trx, ctx.orgId, tokenId, clock())
        if (row === undefined || wasLive === undefined) throw new AppError('NOT_FOUND', 'no such viewer token')
        if (wasLive.revoked_at === null)
          await audit.append(trx, {
            orgId: ctx.orgId,
            actor: actorOf(ctx.principal),
            action: 'audit.viewer_token.revoke',
            target: { type: 'viewer_token', id: tokenId },
            outcome: 'success',
            details: { origin: row.origin },
            meta: ctx.meta,
          })
        return viewOf(row)
      })
    },

    async authenticate(bearer) {
      const parsed = bearer === undefined ? undefined : parseToken('cst_view', bearer)
      if (parsed === undefined) return null
      const row = await store.findViewerTokenForAuth(db, parsed.id)
      if (row === undefined || !secretMatches(parsed.secret, row.secret_hash)) return null
      // A token outlives neither its revocation nor its issuer's access (P2.6: removing a
      // member or deleting a service account ends what it holds at once).
      const revoked = row.revoked_at !== null || !row.issuer_active
      return {
        state: revoked ? 'revoked' : row.expires_at.getTime() <= clock().getTime() ? 'expired' : 'live',
        tokenId: row.id,
        orgId: row.org_id,
        orgName: row.org_name,
        origin: row.origin,
        scope: { actions: row.actions, actorId: row.actor_id },
        expiresAt: row.expires_at,
        ipAllowlist: (row.ip_allowlist ?? []).map((entry) => entry.cidr),
      }
    },

    async recordFirstUse(session, meta) {
      if (firstUseSeen.has(session.tokenId)) return
      await withOrg(db, session.orgId, async (trx) => {
        if (!(await store.markFirstUse(trx, session.tokenId, clock()))) return
        await audit.append(trx, {
          orgId: session.orgId,
          actor: { type: 'anonymous', id: null },
          action: 'audit.viewer.session',
          target: { type: 'viewer_token', id: session.tokenId },
          outcome: 'success',
          details: { origin: session.origin, scope: session.scope, expiresAt: session.expiresAt.toISOString() },
          meta,
        })
      })
      rememberFirstUse(session.tokenId)
    },

    async events(session, query) {
      const { scope } = session
      if (scope.actorId !== null && query.actor !== undefined && query.actor !== scope.actorId)
        return { events: [], nextCursor: null }
      const actions = intersectActions(scope.actions, query.action)
      if (actions?.length === 0) return { events: [], nextCursor: null }
      return audit.query(session.orgId, {
        origin: query.origin,
        actorId: scope.actorId ?? query.actor,
        ...(actions === undefined ? {} : actions.length === 1 ? { action: actions[0] } : { actions }),
        targetId: query.target,
        outcome: query.outcome,
        from: query.from === undefined ? undefined : new Date(query.from),
        to: query.to === undefined ? undefined : new Date(query.to),
        cursor: query.cursor,
        limit: query.limit,
      })
    },

    async receipt(session, eventId) {
      // Out of scope reads exactly like absent: the token learns nothing of what it may not see.
      const event = await audit.event(session.orgId, eventId)
      if (event === undefined || !inScope(session.scope, event))
        throw new AppError('NOT_FOUND', 'no such event in this viewer’s scope')
      return audit.receipt(session.orgId, eventId)
    },

    async exportLines(session, query, meta) {
      // The export is an egress of the log: recorded before the first byte leaves.
      await withOrg(db, session.orgId, (trx) =>
        audit.append(trx, {
          orgId: session.orgId,
          actor: { type: 'anonymous', id: null },
          action: 'audit.viewer.export',
          target: { type: 'viewer_token', id: session.tokenId },
          outcome: 'success',
          details: { origin: session.origin, scope: session.scope, filters: { ...query } },
          meta,
        }),
      )
      const exportedAt = clock().toISOString()
      return (async function* () {
        yield `${JSON.stringify({
          kind: 'header',
          format: VIEWER_EXPORT_FORMAT,
          org: session.orgId,
          scope: session.scope,
          filters: query,
          exportedAt,
        })}\n`
        let cursor: string | undefined
        do {
          const page = await service.events(session, { ...query, cursor, limit: 500 })
          for (const event of page.events) yield `${JSON.stringify({ kind: 'event', event })}\n`
          cursor = page.nextCursor ?? undefined
        } while (cursor !== undefined)
      })()
    },
  }

  // Tokens whose first use is recorded: their later requests skip the write. Bounded (a
  // token lives 15 minutes at most); losing it only costs one more no-op UPDATE.
  const firstUseSeen = new Set<string>()
  const rememberFirstUse = (id: string) => {
    if (firstUseSeen.size >= 10_000) firstUseSeen.clear()
    firstUseSeen.add(id)
  }

  return service
}
