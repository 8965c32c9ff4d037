import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * An org's time zone (issue 11 K7): the IANA zone in which its hours of the day are
 * counted (the `reveal_off_hours` alert rule). `UTC` for every existing org. The name is
 * checked by the service (a zone both the runtime and PostgreSQL know); the column only
 * bounds its size.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    ALTER TABLE orgs ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC' CHECK (length(time_zone) BETWEEN 1 AND 64);
    GRANT UPDATE (time_zone) ON orgs TO custodian_app;
  `,
  )
}
