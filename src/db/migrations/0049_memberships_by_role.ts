import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * An org's members by role (`memberships_org_role`): "does anyone else hold a role that may
 * decide this?" (access reviews, read on every page of a review's items) reads the members
 * of those roles only, never every membership of the org.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(db, `CREATE INDEX memberships_org_role ON memberships (org_id, role, user_id);`)
}
