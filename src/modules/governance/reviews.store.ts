import { sql, type Insertable, type Kysely, type Selectable } from 'kysely'
import type { DB } from '../../db/schema.ts'
import { newestFirst, type Page, type PageRequest, readPage } from '../../db/page.ts'
import type { Trx } from '../../db/tenant.ts'
import type { AccessReviewItemsTable, AccessReviewsTable } from './governance.tables.ts'

/** SQL for access reviews. Every function takes the transaction first; none decides a rule. */

export type ReviewRow = Selectable<AccessReviewsTable>
export type ReviewItemRow = Selectable<AccessReviewItemsTable>

export interface ReviewPolicyRow {
  cadence_days: number
  window_days: number
  on_overdue: 'remind' | 'revoke'
  inactive_days: number
}

export const DEFAULT_POLICY: ReviewPolicyRow = {
  cadence_days: 91,
  window_days: 14,
  on_overdue: 'remind',
  inactive_days: 90,
}

export async function policyOf(trx: Kysely<DB>, orgId: string): Promise<ReviewPolicyRow> {
  const row = await trx
    .selectFrom('access_review_policies')
    .select(['cadence_days', 'window_days', 'on_overdue', 'inactive_days'])
    .where('org_id', '=', orgId)
    .executeTakeFirst()
  return row ?? DEFAULT_POLICY
}

export async function savePolicy(trx: Trx, orgId: string, policy: ReviewPolicyRow, by: string): Promise<void> {
  await trx
    .insertInto('access_review_policies')
    .values({ org_id: orgId, ...policy, updated_by: by })
    .onConflict((oc) => oc.column('org_id').doUpdateSet({ ...policy, updated_by: by, updated_at: new Date() }))
    .execute()
}

export async function insertReview(trx: Trx, row: Insertable<AccessReviewsTable>): Promise<ReviewRow> {
  return trx.insertInto('access_reviews').values(row).returningAll().executeTakeFirstOrThrow()
}

export async function insertItems(trx: Trx, rows: Insertable<AccessReviewItemsTable>[]): Promise<void> {
  if (rows.length > 0) await trx.insertInto('access_review_items').values(rows).execute()
}

/** Newest campaign first (index `(org_id, started_at, id)`). */
const NEWEST = newestFirst('started_at')

export async function listReviews(trx: Trx, page: PageRequest): Promise<Page<ReviewRow>> {
  return readPage(trx, trx.selectFrom('access_reviews').selectAll(), NEWEST, page)
}

export async function findReview(trx: Trx, id: string, lock = false): Promise<ReviewRow | undefined> {
  const query = trx.selectFrom('access_reviews').selectAll().where('id', '=', id)
  return (lock ? query.forUpdate() : query).executeTakeFirst()
}

export async function itemsOf(trx: Trx, reviewId: string): Promise<ReviewItemRow[]> {
  return trx
    .selectFrom('access_review_items')
    .selectAll()
    .where('review_id', '=', reviewId)
    .orderBy('kind')
    .orderBy('label')
    .execute()
}

export async function findItem(trx: Trx, reviewId: string, itemId: string): Promise<ReviewItemRow | undefined> {
  return trx
    .selectFrom('access_review_items')
    .selectAll()
    .where('review_id', '=', reviewId)
    .where('id', '=', itemId)
    .forUpdate()
    .executeTakeFirst()
}

export async function recordDecision(
  trx: Trx,
  itemId: string,
  decision: Pick<ReviewItemRow, 'decision' | 'reduce_to' | 'decided_by' | 'decided_at' | 'note' | 'outcome'>,
): Promise<ReviewItemRow> {
  return trx
    .updateTable('access_review_items')
    .set(decision)
    .where('id', '=', itemId)
    .returningAll()
    .executeTakeFirstOrThrow()
}

export async function closeReview(
  trx: Trx,
  id: string,
  changes: { closed_at: Date; closed_by: string; summary: string },
): Promise<ReviewRow> {
  return trx
    .updateTable('access_reviews')
    .set({ status: 'closed', ...changes })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow()
}

export async function markReminded(trx: Trx, id: string, at: Date): Promise<void> {
  await trx.updateTable('access_reviews').set({ last_reminded_at: at }).where('id', '=', id).execute()
}

// ---- the scheduler (owner connection: it looks across orgs, then acts in each org's own transaction) ----

/** Orgs with no open review whose last one (or whose creation) is a cadence ago. */
export async function orgsDueForReview(
  db: Kysely<DB>,
  now: Date,
): Promise<{ id: string; kind: 'provider' | 'customer' }[]> {
  const result = await sql<{ id: string; kind: 'provider' | 'customer' }>`
    SELECT o.id, o.kind
      FROM orgs o
      LEFT JOIN access_review_policies p ON p.org_id = o.id
     WHERE NOT EXISTS (SELECT 1 FROM access_reviews r WHERE r.org_id = o.id AND r.status = 'open')
       AND coalesce((SELECT max(r.started_at) FROM access_reviews r WHERE r.org_id = o.id), o.created_at)
           + make_interval(days => coalesce(p.cadence_days, ${DEFAULT_POLICY.cadence_days})) <= ${now}
     ORDER BY o.created_at
     LIMIT 100`.execute(db)
  return result.rows
}

export async function overdueReviews(db: Kysely<DB>, now: Date): Promise<{ id: string; org_id: string }[]> {
  return db
    .selectFrom('access_reviews')
    .select(['id', 'org_id'])
    .where('status', '=', 'open')
    .where('due_at', '<=', now)
    .limit(100)
    .execute()
}

export async function orgKindOf(db: Kysely<DB>, orgId: string): Promise<'provider' | 'customer' | undefined> {
  return (await db.selectFrom('orgs').select('kind').where('id', '=', orgId).executeTakeFirst())?.kind
}
