import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Certificates that name their own audit event (issue 21, "Erasure and offboarding
 * certificates embed the receipt of their event").
 *
 * An erasure or offboarding certificate is signed in the transaction that records its
 * issuance in an audit log, before the sequencer has placed that event in the log's tree;
 * so the certificate names the event (`auditEvent` in its payload: the log's org and the
 * event's id, chosen before the event is written), and the receipt — the inclusion proof
 * of that event under a signed checkpoint — is handed out with the certificate once a
 * checkpoint covers it. These columns keep the event each certificate names:
 * - `erasure_certificates.audit_event_id`: the `privacy.erasure.certificate` event in the
 *   org's own log;
 * - `org_offboardings.audit_org_id`, `audit_event_id`: the `org.offboarding.complete` event
 *   in the provider's log (the org's own log is deleted with it).
 * Certificates issued before this migration name no event (NULL): they carry no receipt.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    ALTER TABLE erasure_certificates ADD COLUMN audit_event_id uuid;
    ALTER TABLE org_offboardings ADD COLUMN audit_org_id uuid;
    ALTER TABLE org_offboardings ADD COLUMN audit_event_id uuid;
    ALTER TABLE org_offboardings ADD CONSTRAINT org_offboardings_audit_event_check
      CHECK ((audit_org_id IS NULL) = (audit_event_id IS NULL));
    `,
  )
}
