import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Links to the hosted consent preference page (issue 22; docs/consent.md#hosted-preference-page),
 * per org under row-level security.
 *
 * - A link is minted by the host application's backend for one signed-in subject; it is
 *   short-lived (`expires_at`) and opened once: its first load trades it for a page session
 *   (a cookie) and the link is dead from then on (`opened_at`).
 * - Only SHA-256 of each secret is stored (`link_hash`, then `session_hash`).
 * - `subject_ref`: the privacy module's keyed reference of the subject. The subject's id is
 *   stored only sealed (`subject_sealed`: AES-256-GCM under a key derived from the live
 *   secret — the link's, then the session's — which the database never holds): a copy of
 *   this table names nobody.
 * - `gpc_applied_at`: when the page last applied a `Sec-GPC: 1` it saw for this session.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE TABLE consent_page_links (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      subject_ref bytea NOT NULL,
      subject_sealed bytea NOT NULL CHECK (length(subject_sealed) BETWEEN 29 AND 1100),
      link_hash bytea NOT NULL,
      session_hash bytea,
      created_by_type text NOT NULL,
      created_by_id text,
      created_at timestamptz NOT NULL,
      expires_at timestamptz NOT NULL CHECK (expires_at > created_at),
      opened_at timestamptz,
      session_expires_at timestamptz,
      gpc_applied_at timestamptz,
      CHECK ((opened_at IS NULL) = (session_hash IS NULL))
    );
    CREATE INDEX consent_page_links_org ON consent_page_links (org_id, created_at, id);
    ALTER TABLE consent_page_links ENABLE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON consent_page_links TO custodian_app
      USING (org_id = custodian_current_org()) WITH CHECK (org_id = custodian_current_org());
    GRANT SELECT, INSERT, UPDATE ON consent_page_links TO custodian_app;
    `,
  )
}
