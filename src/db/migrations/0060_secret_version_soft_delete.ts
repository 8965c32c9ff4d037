import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * A soft delete of a secret version (the Vault-compatible API's KV version 2 `delete`):
 * the version keeps its data key and ciphertext, but no reveal returns it until it is
 * undeleted (`deleted_at` cleared). Destroying a version is still the only erasure.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(db, `ALTER TABLE secret_versions ADD COLUMN deleted_at timestamptz;`)
}
