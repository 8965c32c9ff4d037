import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Embedded audit-log viewer tokens (issue 14, docs/embedded-viewer.md): short-lived,
 * read-only credentials a host application mints for one org and hands to the browser of
 * its own customer.
 *
 * - Only SHA-256 of the secret is stored (`secret_hash`), like every other credential.
 * - `origin`: the one web origin (scheme, host, port) the token is bound to.
 * - `actions` (exact actions or `family.*` prefixes) and `actor_id` narrow what it reads;
 *   null means no narrowing on that axis.
 * - `first_used_at`: set once, in the transaction that records `audit.viewer.session`.
 * - `(org_id, created_at, id)`: the org's tokens newest first, a page at a time.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE TABLE audit_viewer_tokens (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      secret_hash bytea NOT NULL,
      origin text NOT NULL CHECK (length(origin) BETWEEN 1 AND 300),
      actions text[] CHECK (actions IS NULL OR cardinality(actions) BETWEEN 1 AND 50),
      actor_id text CHECK (actor_id IS NULL OR length(actor_id) BETWEEN 1 AND 200),
      created_by_type text NOT NULL,
      created_by_id text,
      created_at timestamptz NOT NULL,
      expires_at timestamptz NOT NULL CHECK (expires_at > created_at),
      revoked_at timestamptz,
      first_used_at timestamptz
    );
    CREATE INDEX audit_viewer_tokens_org ON audit_viewer_tokens (org_id, created_at, id);
    ALTER TABLE audit_viewer_tokens ENABLE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON audit_viewer_tokens TO custodian_app
      USING (org_id = custodian_current_org()) WITH CHECK (org_id = custodian_current_org());
    GRANT SELECT, INSERT, UPDATE ON audit_viewer_tokens TO custodian_app;
    `,
  )
}
