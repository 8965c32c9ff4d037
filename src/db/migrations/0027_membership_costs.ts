import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Costs that do not grow with an org's membership (issue 20, after 0024).
 *
 * - `api_tokens_user_used`, `api_tokens_service_account_used`: a principal's last token
 *   use is one probe (the newest `last_used_at` of its live tokens), so the least-privilege
 *   report computes a page's activity from the page's principals alone. Each is partial
 *   to its kind of holder: without statistics the planner cannot tell two indexes of one
 *   shape apart, and a member's probe must not walk the org's service-account tokens.
 * - `access_review_items`: a campaign's items come a page at a time in `(kind, id)` order
 *   (index `(review_id, kind, id)`, which replaces `(review_id)`), and its undecided items
 *   have their own partial index, so the `decision=pending` page, the close check and the
 *   overdue policy read only what is undecided.
 * - `access_reviews.items_total`, `items_decided`: a campaign's item counts, kept in the
 *   transaction that inserts its items or records a decision, so showing a campaign costs
 *   no count over its items. Counted here for the campaigns that exist.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE INDEX api_tokens_user_used ON api_tokens (org_id, user_id, last_used_at)
      WHERE revoked_at IS NULL AND user_id IS NOT NULL;
    CREATE INDEX api_tokens_service_account_used ON api_tokens (org_id, service_account_id, last_used_at)
      WHERE revoked_at IS NULL AND service_account_id IS NOT NULL;

    DROP INDEX access_review_items_review;
    CREATE INDEX access_review_items_review ON access_review_items (review_id, kind, id);
    CREATE INDEX access_review_items_pending ON access_review_items (review_id, kind, id) WHERE decision IS NULL;

    ALTER TABLE access_reviews
      ADD COLUMN items_total integer NOT NULL DEFAULT 0,
      ADD COLUMN items_decided integer NOT NULL DEFAULT 0;
  `,
  )
  await countReviewItems(db)
  await runScript(
    db,
    `
    ALTER TABLE access_reviews ADD CONSTRAINT access_reviews_item_counts
      CHECK (items_decided >= 0 AND items_decided <= items_total);
  `,
  )
}

/**
 * Sets every campaign's `items_total` and `items_decided` from its items (the migration's
 * backfill; exported for its test). Owner connection: it spans every org.
 */
export async function countReviewItems(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    UPDATE access_reviews r
       SET items_total = c.total, items_decided = c.decided
      FROM (SELECT review_id, count(*)::int AS total, count(decision)::int AS decided
              FROM access_review_items GROUP BY review_id) AS c
     WHERE c.review_id = r.id;
  `,
  )
}
