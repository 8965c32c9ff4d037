import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Scheduled backups (P8.1; src/modules/ops/backup/, docs/operations.md):
 *
 * - `backup_schedule`: one row, when the next scheduled backup is due and who holds the
 *   lease on the run in flight. A process claims a due run with one conditional UPDATE
 *   (due, and no lease or an expired one), so across several processes one takes each run;
 *   a crashed holder's lease runs out and the next process takes it over.
 * - `backup_runs`: one row per scheduled run and per `custodian backup verify`, never updated
 *   after it ends: which backup (its id and creation time), where, whether it verified, and
 *   the error of a failed run — the job's state, and what the P8.1 live check reads.
 *
 * Neither holds an org's rows: no org_id, read and written only over the owner connection
 * (no grant to custodian_app).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE TABLE backup_schedule (
      id smallint PRIMARY KEY CHECK (id = 1),
      next_due_at timestamptz NOT NULL,
      lease_until timestamptz,
      leased_by text
    );
    CREATE TABLE backup_runs (
      id uuid PRIMARY KEY,
      trigger text NOT NULL CHECK (trigger IN ('schedule', 'cli')),
      backup_id uuid,
      backup_created_at timestamptz,
      started_at timestamptz NOT NULL,
      finished_at timestamptz NOT NULL,
      status text NOT NULL CHECK (status IN ('succeeded', 'failed')),
      file text,
      bytes bigint,
      verified boolean NOT NULL,
      figures jsonb,
      error text
    );
    CREATE INDEX backup_runs_by_time ON backup_runs (started_at DESC, id DESC);
    CREATE INDEX backup_runs_verified ON backup_runs (backup_created_at DESC) WHERE status = 'succeeded' AND verified;
  `,
  )
}
