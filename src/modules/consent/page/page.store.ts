import { sql, type Insertable, type Kysely, type Selectable } from 'kysely'
import type { DB } from '../../../db/schema.ts'
import type { Trx } from '../../../db/tenant.ts'
import type { ConsentEventsTable } from '../consent.tables.ts'
import type { ConsentPageLinksTable } from './page.tables.ts'

/** SQL of the hosted preference page (migration 0045): the transaction first; rows or undefined. */

export type PageLinkRow = Selectable<ConsentPageLinksTable>

export async function insertLink(trx: Trx, row: Insertable<ConsentPageLinksTable>): Promise<void> {
  await trx.insertInto('consent_page_links').values(row).execute()
}

/**
 * A link by id with what its use needs — its org's name and kind, and whether its issuer
 * still has access (a member not removed or suspended, a service account not deleted) — over
 * the owner connection: the link is what tells us the org (one read-only statement).
 */
export async function linkForAuth(db: Kysely<DB>, id: string) {
  return db
    .selectFrom('consent_page_links as l')
    .innerJoin('orgs as o', 'o.id', 'l.org_id')
    .leftJoin('org_security_policies as osp', 'osp.org_id', 'l.org_id')
    .selectAll('l')
    .select(['o.name as org_name', 'o.kind as org_kind', 'osp.ip_allowlist'])
    .select(
      sql<boolean>`CASE l.created_by_type
        WHEN 'user' THEN EXISTS (SELECT 1 FROM memberships m WHERE m.org_id = l.org_id
          AND m.user_id = l.created_by_id::uuid AND m.suspended_at IS NULL)
        WHEN 'service_account' THEN EXISTS (SELECT 1 FROM service_accounts s WHERE s.org_id = l.org_id
          AND s.id = l.created_by_id::uuid)
        ELSE false END`.as('issuer_active'),
    )
    .where('l.id', '=', id)
    .executeTakeFirst()
}

/** Trades an unopened link for a session; false when it was opened already (one statement: one winner). */
export async function openLink(
  trx: Trx,
  id: string,
  session: { hash: Buffer; sealed: Buffer; at: Date; expiresAt: Date },
): Promise<boolean> {
  const row = await trx
    .updateTable('consent_page_links')
    .set({
      opened_at: session.at,
      session_hash: session.hash,
      session_expires_at: session.expiresAt,
      subject_sealed: session.sealed,
    })
    .where('id', '=', id)
    .where('opened_at', 'is', null)
    .returning('id')
    .executeTakeFirst()
  return row !== undefined
}

/** Marks the session's GPC signal applied; true only the first time (one statement). */
export async function markGpcApplied(trx: Trx, id: string, at: Date): Promise<boolean> {
  const row = await trx
    .updateTable('consent_page_links')
    .set({ gpc_applied_at: at })
    .where('id', '=', id)
    .where('gpc_applied_at', 'is', null)
    .returning('id')
    .executeTakeFirst()
  return row !== undefined
}

export type SubjectEventRow = Pick<
  Selectable<ConsentEventsTable>,
  | 'id'
  | 'purpose_id'
  | 'action'
  | 'method'
  | 'notice_version'
  | 'collected_at'
  | 'received_at'
  | 'gpc_conflict'
  | 'expires_at'
  | 'subject_key_id'
>

/** The subject's consent events, newest first (at most `limit`): the history the page shows. */
export async function subjectEvents(trx: Trx, subjectRef: Buffer, limit: number): Promise<SubjectEventRow[]> {
  return trx
    .selectFrom('consent_events')
    .select([
      'id',
      'purpose_id',
      'action',
      'method',
      'notice_version',
      'collected_at',
      'received_at',
      'gpc_conflict',
      'expires_at',
      'subject_key_id',
    ])
    .where('subject_ref', '=', subjectRef)
    .orderBy('collected_at', 'desc')
    .orderBy('received_at', 'desc')
    .limit(limit)
    .execute()
}

/** The event with `id` of this subject, or undefined (another subject's event is not there). */
export async function subjectEvent(trx: Trx, subjectRef: Buffer, id: string): Promise<{ id: string } | undefined> {
  return trx
    .selectFrom('consent_events')
    .select('id')
    .where('subject_ref', '=', subjectRef)
    .where('id', '=', id)
    .executeTakeFirst()
}
