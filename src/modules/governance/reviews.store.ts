import { sql, type Insertable, type Kysely, type Selectable } from 'kysely'
import type { DB } from '../../db/schema.ts'
import { newestFirst, type Page, type PageOrder, type PageRequest, readPage } from '../../db/page.ts'
import type { Trx } from '../../db/tenant.ts'
import type { AccessReviewItemsTable, AccessReviewsTable, ReviewItemKind } from './governance.tables.ts'

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

/** Rows per INSERT: 20 columns each, well under the 65,535 parameters of one statement. */
const INSERT_BATCH = 1000

/**
 * Adds a campaign's items and counts them on the campaign (`items_total`), in the caller's
 * transaction. Returns the campaign as it now stands.
 */
export async function insertItems(
  trx: Trx,
  reviewId: string,
  rows: Insertable<AccessReviewItemsTable>[],
): Promise<ReviewRow> {
  for (let i = 0; i < rows.length; i += INSERT_BATCH)
    await trx
      .insertInto('access_review_items')
      .values(rows.slice(i, i + INSERT_BATCH))
      .execute()
  return trx
    .updateTable('access_reviews')
    .set((eb) => ({ items_total: eb('items_total', '+', rows.length) }))
    .where('id', '=', reviewId)
    .returningAll()
    .executeTakeFirstOrThrow()
}

/** Newest campaign first (index `(org_id, started_at, id)`). */
const NEWEST = newestFirst('started_at')

export async function listReviews(trx: Trx, page: PageRequest): Promise<Page<ReviewRow>> {
  return readPage(trx, trx.selectFrom('access_reviews').selectAll(), NEWEST, page)
}

/**
 * The emails of those of `userIds` who are members of the current org (its row-level
 * security keeps other orgs' people out): id → email. Former members are not named.
 */
export async function memberEmails(trx: Trx, userIds: string[]): Promise<Map<string, string>> {
  if (userIds.length === 0) return new Map()
  const rows = await trx
    .selectFrom('memberships as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .select(['m.user_id', 'u.email'])
    .where('m.user_id', 'in', userIds)
    .execute()
  return new Map(rows.map((r) => [r.user_id, r.email]))
}

export async function findReview(trx: Trx, id: string, lock = false): Promise<ReviewRow | undefined> {
  const query = trx.selectFrom('access_reviews').selectAll().where('id', '=', id)
  return (lock ? query.forUpdate() : query).executeTakeFirst()
}

const KINDS: readonly ReviewItemKind[] = ['member', 'service_account', 'api_token', 'grant']

/** A campaign's items by kind, then id (index `(review_id, kind, id)`; undecided ones: `access_review_items_pending`). */
const BY_KIND: PageOrder = {
  keys: [
    { column: 'kind', type: 'text', oneOf: KINDS },
    { column: 'id', type: 'uuid' },
  ],
  direction: 'asc',
}

/** A page of a campaign's items; `pending`: only those not decided yet. */
export async function pageItems(
  trx: Trx,
  reviewId: string,
  page: PageRequest,
  pending: boolean,
): Promise<Page<ReviewItemRow>> {
  let query = trx.selectFrom('access_review_items').selectAll().where('review_id', '=', reviewId)
  if (pending) query = query.where('decision', 'is', null)
  return readPage(trx, query, BY_KIND, page)
}

/** The first `limit` undecided items of a campaign, in page order (the overdue policy works through them). */
export async function undecidedItems(trx: Trx, reviewId: string, limit: number): Promise<ReviewItemRow[]> {
  return (await pageItems(trx, reviewId, { limit }, true)).items
}

/** What a closing campaign's summary counts, over its items (once, when it closes). */
export async function summaryOf(
  trx: Trx,
  reviewId: string,
): Promise<{
  items: number
  certified: number
  revoked: number
  reduced: number
  selfCertified: number
  inactive: number
}> {
  const result = await sql<{
    items: number
    certified: number
    revoked: number
    reduced: number
    selfCertified: number
    inactive: number
  }>`
    SELECT count(*)::int AS items,
           count(*) FILTER (WHERE decision = 'certify')::int AS certified,
           count(*) FILTER (WHERE decision = 'revoke')::int AS revoked,
           count(*) FILTER (WHERE decision = 'reduce')::int AS reduced,
           count(*) FILTER (WHERE decision IS NOT NULL AND decided_by = 'user:' || CASE kind
                              WHEN 'member' THEN subject_id WHEN 'api_token' THEN details->>'holder' END)::int AS "selfCertified",
           count(*) FILTER (WHERE inactive)::int AS inactive
      FROM access_review_items WHERE review_id = ${reviewId}`.execute(trx)
  return result.rows[0] ?? { items: 0, certified: 0, revoked: 0, reduced: 0, selfCertified: 0, inactive: 0 }
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

/**
 * The undecided items about these subjects (members' user ids, service accounts' ids) in
 * the org's open campaign, if one is open: the open campaign by `access_reviews_one_open`,
 * its items by `access_review_items_subject`, so a page of subjects reads its own items only.
 */
export async function pendingItemsAbout(
  trx: Trx,
  orgId: string,
  subjects: { kind: 'member' | 'service_account'; id: string }[],
): Promise<Pick<ReviewItemRow, 'id' | 'review_id' | 'kind' | 'subject_id'>[]> {
  if (subjects.length === 0) return []
  const open = await trx
    .selectFrom('access_reviews')
    .select('id')
    .where('org_id', '=', orgId)
    .where('status', '=', 'open')
    .executeTakeFirst()
  if (open === undefined) return []
  // By review and subject alone (the subject index); the kind and the decision are checked
  // here, on the few rows found, so no other index of the campaign looks cheaper to the
  // planner (the undecided items' partial index would walk the whole campaign).
  const kindOf = new Map(subjects.map((s) => [s.id, s.kind]))
  const rows = await trx
    .selectFrom('access_review_items')
    .select(['id', 'review_id', 'kind', 'subject_id', 'decision'])
    .where('review_id', '=', open.id)
    .where(
      'subject_id',
      'in',
      subjects.map((s) => s.id),
    )
    .execute()
  return rows
    .filter((r) => r.decision === null && kindOf.get(r.subject_id) === r.kind)
    .map(({ id, review_id, kind, subject_id }) => ({ id, review_id, kind, subject_id }))
}

/** Records an undecided item's decision and counts it on its campaign (`items_decided`), in the caller's transaction. */
export async function recordDecision(
  trx: Trx,
  item: Pick<ReviewItemRow, 'id' | 'review_id'>,
  decision: Pick<ReviewItemRow, 'decision' | 'reduce_to' | 'decided_by' | 'decided_at' | 'note' | 'outcome'>,
): Promise<ReviewItemRow> {
  const decided = await trx
    .updateTable('access_review_items')
    .set(decision)
    .where('id', '=', item.id)
    .where('decision', 'is', null)
    .returningAll()
    .executeTakeFirstOrThrow()
  await trx
    .updateTable('access_reviews')
    .set((eb) => ({ items_decided: eb('items_decided', '+', 1) }))
    .where('id', '=', item.review_id)
    .execute()
  return decided
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
  refused: readonly string[],
): Promise<{ id: string; kind: 'provider' | 'customer' }[]> {
  const served = refused.length > 0 ? sql`o.id NOT IN (${sql.join(refused)}) AND` : sql``
  const result = await sql<{ id: string; kind: 'provider' | 'customer' }>`
    SELECT o.id, o.kind
      FROM orgs o
      LEFT JOIN access_review_policies p ON p.org_id = o.id
     WHERE ${served} NOT EXISTS (SELECT 1 FROM access_reviews r WHERE r.org_id = o.id AND r.status = 'open')
       AND coalesce((SELECT max(r.started_at) FROM access_reviews r WHERE r.org_id = o.id), o.created_at)
           + make_interval(days => coalesce(p.cadence_days, ${DEFAULT_POLICY.cadence_days})) <= ${now}
     ORDER BY o.created_at
     LIMIT 100`.execute(db)
  return result.rows
}

export async function overdueReviews(
  db: Kysely<DB>,
  now: Date,
  refused: readonly string[],
): Promise<{ id: string; org_id: string }[]> {
  return db
    .selectFrom('access_reviews')
    .select(['id', 'org_id'])
    .where('status', '=', 'open')
    .$if(refused.length > 0, (q) => q.where('org_id', 'not in', refused))
    .where('due_at', '<=', now)
    .limit(100)
    .execute()
}

export async function orgKindOf(db: Kysely<DB>, orgId: string): Promise<'provider' | 'customer' | undefined> {
  return (await db.selectFrom('orgs').select('kind').where('id', '=', orgId).executeTakeFirst())?.kind
}
