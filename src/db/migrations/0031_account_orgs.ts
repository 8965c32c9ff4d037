import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * GET /v1/me/orgs pages an account's memberships in the order they were made: index
 * `(user_id, created_at, org_id)`, read in index order whatever the statistics, so the page
 * costs the same for a member of two orgs and of two thousand. It also serves every lookup
 * by user alone, so the older `memberships_user (user_id)` goes.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE INDEX memberships_user_joined ON memberships (user_id, created_at, org_id);
    DROP INDEX memberships_user;
    `,
  )
}
