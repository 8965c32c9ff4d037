import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * When an org last claimed an evaluation on demand (POST …/compliance/runs): the claim is one
 * conditional upsert of the org's schedule row, so requests sent together cannot each read
 * "no run in the last minute" before the first run is written and start one evaluation each.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(db, `ALTER TABLE compliance_schedule ADD COLUMN demanded_at timestamptz;`)
}
