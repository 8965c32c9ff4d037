import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * A subject's privacy requests, found by its keyed reference: an erasure drops the personal
 * data of the subject's other requests, and a second erase request of an erased subject is
 * completed by naming the erasure that did it — both without reading the org's history.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(db, `CREATE INDEX privacy_requests_subject ON privacy_requests (org_id, subject_ref);`)
}
