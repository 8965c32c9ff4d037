import { sql, type Kysely, type Selectable } from 'kysely'
import type { DB } from '../../db/schema.ts'
import type { Trx } from '../../db/tenant.ts'
import { inIndexOrder, newestFirst, pageOf, type PageRequest } from '../../db/page.ts'
import type { AuditViewerTokensTable } from './audit.tables.ts'

/** SQL of the embedded viewer's tokens (migration 0039). Takes the transaction first. */

export type ViewerTokenRow = Selectable<AuditViewerTokensTable>

/** Newest first, by creation (index `(org_id, created_at, id)`). */
export const VIEWER_TOKENS_NEWEST = newestFirst('created_at')

export async function insertViewerToken(trx: Trx, row: ViewerTokenRow): Promise<void> {
  await trx.insertInto('audit_viewer_tokens').values(row).execute()
}

/**
 * A token by id with what its use needs — its org's name and IP allowlist, and whether its
 * issuer still has access (`issuer_active`: a member not removed or suspended, a service
 * account not deleted; P2.6) — over the owner connection: the token is what tells us the
 * org (one read-only statement).
 */
export async function findViewerTokenForAuth(db: Kysely<DB>, id: string) {
  return db
    .selectFrom('audit_viewer_tokens as t')
    .innerJoin('orgs as o', 'o.id', 't.org_id')
    .leftJoin('org_security_policies as osp', 'osp.org_id', 't.org_id')
    .selectAll('t')
    .select(['o.name as org_name', 'osp.ip_allowlist'])
    .select(
      sql<boolean>`CASE t.created_by_type
        WHEN 'user' THEN EXISTS (SELECT 1 FROM memberships m WHERE m.org_id = t.org_id
          AND m.user_id = t.created_by_id::uuid AND m.suspended_at IS NULL)
        WHEN 'service_account' THEN EXISTS (SELECT 1 FROM service_accounts s WHERE s.org_id = t.org_id
          AND s.id = t.created_by_id::uuid)
        ELSE false END`.as('issuer_active'),
    )
    .where('t.id', '=', id)
    .executeTakeFirst()
}

/** A page of the org's tokens, newest first (pass to toPage with VIEWER_TOKENS_NEWEST). */
export async function pageOfViewerTokens(trx: Trx, page: PageRequest) {
  return inIndexOrder(trx, () =>
    pageOf(trx.selectFrom('audit_viewer_tokens').selectAll(), VIEWER_TOKENS_NEWEST, page).execute(),
  )
}

/** Revokes a live token of the org; the row as it now is, or undefined when there is none by that id. */
export async function revokeViewerToken(
  trx: Trx,
  orgId: string,
  id: string,
  at: Date,
): Promise<ViewerTokenRow | undefined> {
  const revoked = await trx
    .updateTable('audit_viewer_tokens')
    .set({ revoked_at: at })
    .where('org_id', '=', orgId)
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .returningAll()
    .executeTakeFirst()
  if (revoked !== undefined) return revoked
  return trx
    .selectFrom('audit_viewer_tokens')
    .selectAll()
    .where('org_id', '=', orgId)
    .where('id', '=', id)
    .executeTakeFirst()
}

/** Marks the token used; true only for the first use (one statement, so two first uses cannot both win). */
export async function markFirstUse(trx: Trx, id: string, at: Date): Promise<boolean> {
  const row = await trx
    .updateTable('audit_viewer_tokens')
    .set({ first_used_at: at })
    .where('id', '=', id)
    .where('first_used_at', 'is', null)
    .returning('id')
    .executeTakeFirst()
  return row !== undefined
}
