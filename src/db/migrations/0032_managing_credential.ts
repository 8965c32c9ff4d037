import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * A managing credential named by another credential's rotation policy can no longer be
 * deleted from under it: the foreign key was ON DELETE CASCADE, which took those policies
 * with the credential, unseen and unaudited. The service refuses such a deletion with a
 * clear 409 first; NO ACTION makes the database refuse it too, even against a policy set
 * concurrently. The check runs at the end of the statement, so an org's deletion (which
 * takes its policies and its secrets in one cascade) and a credential that manages its own
 * rotation are deleted as before.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    ALTER TABLE secret_rotations DROP CONSTRAINT secret_rotations_managing_secret_id_fkey;
    ALTER TABLE secret_rotations ADD CONSTRAINT secret_rotations_managing_secret_id_fkey
      FOREIGN KEY (managing_secret_id) REFERENCES secrets (id) ON DELETE NO ACTION;
    `,
  )
}
