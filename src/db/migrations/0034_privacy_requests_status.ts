import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * The privacy requests of one status, newest first (issue 13: the console's status
 * filter, `GET /v1/orgs/{orgId}/privacy-requests?status=`): read from an index in the
 * list's order, like every other page (issue 20), never by filtering the whole history.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE INDEX privacy_requests_org_status_time ON privacy_requests (org_id, status, received_at, id);
  `,
  )
}
