import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * A principal's item in its org's open access review, found by subject (issue 13): the
 * least-privilege report names, for each principal on its page, the open campaign's item
 * about it, so a suggestion becomes that item's decision in one step. Index
 * `(review_id, subject_id)`: the report's page reads its own principals' items only,
 * whatever the size of the campaign.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(db, `CREATE INDEX access_review_items_subject ON access_review_items (review_id, subject_id);`)
}
