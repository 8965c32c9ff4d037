import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/** Scheduled rotation of database credentials (P1.6). */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE TABLE secret_rotations (
      secret_id uuid PRIMARY KEY REFERENCES secrets (id) ON DELETE CASCADE,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      managing_secret_id uuid NOT NULL REFERENCES secrets (id) ON DELETE CASCADE,
      interval_seconds integer NOT NULL CHECK (interval_seconds >= 3600),
      rotate_on_exposure boolean NOT NULL DEFAULT false,
      next_due_at timestamptz NOT NULL,
      state text NOT NULL DEFAULT 'idle' CHECK (state IN ('idle', 'pending')),
      pending_version integer,
      lease_until timestamptz,
      last_rotated_at timestamptz,
      last_status text,
      last_error text,
      failures integer NOT NULL DEFAULT 0,
      created_by text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      CHECK ((state = 'pending') = (pending_version IS NOT NULL))
    );
    CREATE INDEX secret_rotations_due ON secret_rotations (next_due_at);
    ALTER TABLE secret_rotations ENABLE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON secret_rotations TO custodian_app
      USING (org_id = custodian_current_org()) WITH CHECK (org_id = custodian_current_org());
    GRANT SELECT, INSERT, UPDATE, DELETE ON secret_rotations TO custodian_app;
  `,
  )
}
