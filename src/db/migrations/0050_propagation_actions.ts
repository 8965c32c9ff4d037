import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * More acts told to consent recipients (P7.7, GDPR Art. 19; docs/consent.md#propagation-to-recipients):
 * a completed restriction, its lift and a rectification (the privacy requests), and a
 * consent whose lifetime ended (`expire`, told like a withdrawal: processing on it stops).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    ALTER TABLE consent_propagations DROP CONSTRAINT consent_propagations_action_check;
    ALTER TABLE consent_propagations ADD CONSTRAINT consent_propagations_action_check CHECK (action IN (
      'withdraw', 'object', 'objection_upheld', 'erasure', 'expire', 'restrict', 'lift_restriction', 'rectify'
    ));
    `,
  )
}
