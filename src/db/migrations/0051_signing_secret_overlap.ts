import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * A signing secret's rotation (webhooks and consent recipients): the vault version that
 * was current before the last rotation, and until when deliveries are still signed with
 * it as well as with the new one (24 hours), so a receiver can switch without losing any.
 * Both set, or both null.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
ALTER TABLE webhooks
  ADD COLUMN previous_secret_version integer,
  ADD COLUMN previous_secret_until timestamptz,
  ADD CONSTRAINT webhooks_previous_secret_both
    CHECK ((previous_secret_version IS NULL) = (previous_secret_until IS NULL));
ALTER TABLE consent_recipients
  ADD COLUMN previous_secret_version integer,
  ADD COLUMN previous_secret_until timestamptz,
  ADD CONSTRAINT consent_recipients_previous_secret_both
    CHECK ((previous_secret_version IS NULL) = (previous_secret_until IS NULL));
`,
  )
}
