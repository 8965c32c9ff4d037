import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Database credentials as connected data sources (P1.7, P10.3), exposure (P1.5) and the
 * notification outbox that later issues deliver by mail and webhook.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    ALTER TABLE secrets
      ADD COLUMN paused_at timestamptz,
      ADD COLUMN exposed_at timestamptz,
      ADD COLUMN exposed_version integer,
      ADD COLUMN last_checked_at timestamptz,
      ADD COLUMN last_check jsonb;

    CREATE TABLE vault_policies (
      org_id uuid PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
      read_only_connectors boolean NOT NULL DEFAULT false,
      updated_at timestamptz NOT NULL DEFAULT now(),
      updated_by text NOT NULL
    );

    CREATE TABLE notifications (
      id uuid PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      kind text NOT NULL,
      recipient_user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      subject text NOT NULL,
      body text NOT NULL,
      data jsonb NOT NULL DEFAULT '{}',
      created_at timestamptz NOT NULL DEFAULT now(),
      delivered_at timestamptz,
      attempts integer NOT NULL DEFAULT 0
    );
    CREATE INDEX notifications_undelivered ON notifications (created_at) WHERE delivered_at IS NULL;
  `,
  )
  for (const table of ['vault_policies', 'notifications']) {
    await runScript(
      db,
      `
      ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY;
      CREATE POLICY tenant_isolation ON ${table} TO custodian_app
        USING (org_id = custodian_current_org()) WITH CHECK (org_id = custodian_current_org());
      GRANT SELECT, INSERT, UPDATE, DELETE ON ${table} TO custodian_app;
    `,
    )
  }
}
