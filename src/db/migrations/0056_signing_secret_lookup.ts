import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * A reveal asks, in its one statement, whether the secret signs a feature's deliveries (a
 * webhook's, a consent recipient's: those are shown once and never revealed through the
 * vault). These indexes answer it without reading the org's webhooks or recipients whole.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `CREATE INDEX webhooks_by_secret ON webhooks (org_id, secret_id);
     CREATE INDEX consent_recipients_by_secret ON consent_recipients (org_id, secret_id);`,
  )
}
