import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Rollback acknowledgements (P8.1, docs/operations.md "Rollback detection and point-in-time
 * recovery"): a witnessed checkpoint of an org's log that the database no longer holds (its
 * size is beyond the chain, or the chain has another root at that size) is accepted by an
 * operator as superseded, so the org is served again and its chain continues from the
 * restored head. One row per witnessed checkpoint accepted, with where the chain stood.
 *
 * Only the owner connection reads and writes it (the rollback check and the acknowledgement
 * span orgs); the app role has no grant.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE TABLE audit_rollback_acknowledgements (
      org_id uuid NOT NULL,
      source text NOT NULL CHECK (length(source) BETWEEN 1 AND 500),
      witnessed_size bigint NOT NULL CHECK (witnessed_size > 0),
      witnessed_hash bytea NOT NULL CHECK (length(witnessed_hash) = 32),
      local_size bigint NOT NULL CHECK (local_size >= 0),
      local_hash bytea,
      acknowledged_at timestamptz NOT NULL,
      acknowledged_by text NOT NULL,
      reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 1000),
      PRIMARY KEY (org_id, source, witnessed_size, witnessed_hash)
    );
    ALTER TABLE audit_rollback_acknowledgements ENABLE ROW LEVEL SECURITY;
  `,
  )
}
