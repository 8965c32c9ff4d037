import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Where a single sign-on in flight goes back to (issue 12): `console` when the web console
 * started it (`GET /v1/sso/{orgId}/start?returnTo=console`), so the callback answers the
 * browser with a redirect into the console instead of JSON. Kept with the flow's state,
 * never taken from the callback's query. A name from a closed list, never a URL: the
 * column accepts nothing else, so no redirect target can be smuggled in.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    ALTER TABLE sso_login_states ADD COLUMN return_to text CHECK (return_to IN ('console'));
  `,
  )
}
