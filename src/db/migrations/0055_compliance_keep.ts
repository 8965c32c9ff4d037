import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Compliance runs and verdict changes are kept for the evidence window (400 days) and then
 * deleted by housekeeping (src/jobs/housekeeping.ts), oldest first, a batch at a time:
 * these indexes let a pass find its due rows without reading the tables whole.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `CREATE INDEX compliance_runs_by_start ON compliance_runs (started_at);
     CREATE INDEX compliance_history_by_ran ON compliance_history (ran_at);`,
  )
}
