import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * The host application's own events in each org's audit log (issue 14 §1;
 * docs/application-events.md).
 *
 * - `audit_events.origin`: `custodian` (every event before this migration, and every event
 *   Custodian writes) or `application` (recorded through `POST …/audit/events`). A chained
 *   application event carries `"origin": "application"`; Custodian's carry no such key, so
 *   the hash of every event chained before stays what it was. The constant default adds the
 *   column without rewriting the table; the CHECK reads it once. `(org_id, origin, id)`
 *   serves the events page filtered by origin, newest first, whatever the mix of the two.
 * - `audit_app_events`: the application's own event id per org, the Custodian event it
 *   became, and a keyed fingerprint (HMAC-SHA-256) of what was submitted: a retry with the
 *   same id and content answers that event, the same id with other content is refused.
 *   The primary key makes two concurrent requests with one id wait for each other: one
 *   inserts, the other then sees its row. The id is claimed before its event is written
 *   (so a duplicate writes nothing), hence the foreign key is checked at commit.
 *   Insert-only for the application, like the log; deleted with its event (offboarding).
 * - `audit_event_schemas`: the provider's declared event schema (its actions, their
 *   metadata and personal keys, and what to do with undeclared ones), one row in the
 *   provider org, under row-level security like every org row. Every org's application
 *   events are checked against it: `custodian_provider_event_schema()` (SECURITY DEFINER,
 *   reading that one row and nothing else) lets a request of any org read it.
 * - `alert_rule_settings.actions`: the application actions the `application_action` rule
 *   watches (exact actions or `family.*`); null for every other rule.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    ALTER TABLE audit_events ADD COLUMN origin text NOT NULL DEFAULT 'custodian'
      CHECK (origin IN ('custodian', 'application'));
    CREATE INDEX audit_events_org_origin ON audit_events (org_id, origin, id);

    CREATE TABLE audit_app_events (
      org_id uuid NOT NULL,
      app_event_id text NOT NULL CHECK (length(app_event_id) BETWEEN 1 AND 200),
      event_id uuid NOT NULL UNIQUE REFERENCES audit_events (event_id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
      fingerprint bytea NOT NULL,
      PRIMARY KEY (org_id, app_event_id)
    );
    ALTER TABLE audit_app_events ENABLE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON audit_app_events TO custodian_app
      USING (org_id = custodian_current_org()) WITH CHECK (org_id = custodian_current_org());
    GRANT SELECT, INSERT ON audit_app_events TO custodian_app;

    CREATE TABLE audit_event_schemas (
      org_id uuid PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
      document jsonb NOT NULL,
      version integer NOT NULL CHECK (version > 0),
      updated_at timestamptz NOT NULL DEFAULT now(),
      updated_by text NOT NULL
    );
    ALTER TABLE audit_event_schemas ENABLE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON audit_event_schemas TO custodian_app
      USING (org_id = custodian_current_org()) WITH CHECK (org_id = custodian_current_org());
    GRANT SELECT, INSERT, UPDATE ON audit_event_schemas TO custodian_app;

    -- The provider's schema, for a request of any org: that one row, nothing else.
    CREATE FUNCTION custodian_provider_event_schema()
      RETURNS TABLE (document jsonb, version integer, updated_at timestamptz)
      LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
        SELECT s.document, s.version, s.updated_at
          FROM audit_event_schemas s JOIN orgs o ON o.id = s.org_id
         WHERE o.kind = 'provider'
      $$;
    REVOKE ALL ON FUNCTION custodian_provider_event_schema() FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION custodian_provider_event_schema() TO custodian_app;

    ALTER TABLE alert_rule_settings ADD COLUMN actions text[];
  `,
  )
}
