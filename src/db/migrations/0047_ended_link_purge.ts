import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Short-lived links that have ended are deleted (src/jobs/housekeeping.ts): each table gets
 * an index over the moment its rows end, so the purge reads only the rows due.
 *
 * - `consent_page_links`: a link never opened ends at `expires_at`; an opened one when its
 *   page session ends (`session_expires_at`).
 * - `audit_viewer_tokens`: at `expires_at` (a revoked token's expiry is still in the past
 *   soon enough: at most the longest lifetime a token can be given).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE INDEX consent_page_links_unopened_expiry ON consent_page_links (expires_at) WHERE opened_at IS NULL;
    CREATE INDEX consent_page_links_session_expiry ON consent_page_links (session_expires_at)
      WHERE session_expires_at IS NOT NULL;
    CREATE INDEX audit_viewer_tokens_expiry ON audit_viewer_tokens (expires_at);
    `,
  )
}
