import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Each decision about a diagnostic access grant keeps its own note (issue 13): until now
 * one column, `decision_note`, took the approval's or denial's note and was overwritten by
 * a revocation's, so a grant revoked without a note showed its approval note as if it
 * were the revocation's.
 *
 * - `access_grants.end_note`: the note of the revocation or withdrawal that ended it.
 *   `decision_note` keeps the approval's (the last approver's) or the denial's note.
 * - `access_grant_approvals.note`: each approver's own note.
 * - `access_grant_approvals.approver_email`: who approved, as the grant's `grantee_email`
 *   keeps who asked — the org's console names people, not ids. Filled for past approvals
 *   from the approver's account.
 *
 * Grants ended before this migration keep what `decision_note` held then: which decision
 * wrote it is not recorded outside the audit log.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    ALTER TABLE access_grants ADD COLUMN end_note text CHECK (end_note IS NULL OR length(end_note) <= 1000);
    ALTER TABLE access_grant_approvals ADD COLUMN note text CHECK (note IS NULL OR length(note) <= 1000);
    ALTER TABLE access_grant_approvals ADD COLUMN approver_email text;
    UPDATE access_grant_approvals a SET approver_email = u.email FROM users u WHERE u.id = a.approver_user_id;
    `,
  )
}
