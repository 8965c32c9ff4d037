import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * The audit log as a transparency log (issue 21): each org's events, in `seq` order, are
 * the leaves of an RFC 9162 Merkle tree, stored as C2SP tlog-tiles.
 *
 * - `audit_tiles`: one row per tile (org, level, index) holding its hashes, 32 bytes each,
 *   at the widest width stored so far (1 to 256). A partial tile is a prefix of every
 *   wider version of itself, so a `.p/W` request is served by cutting the row to W
 *   hashes, and only the few tiles on the tree's right edge are ever rewritten.
 * - `audit_heads.tree_size`, `root_hash`: how many chained events the tree covers, and its
 *   root at that size. The sequencer extends the tree in the transaction that assigns
 *   `seq`; an existing chain is taken into the tree a batch per pass (resumable), and a
 *   checkpoint is signed only when the tree has caught up with the chain.
 * - `audit_checkpoints.root_hash`: the tree's root at the checkpoint's size — the hash line
 *   of its signed note. Null on checkpoints signed before the tree, whose note's hash line
 *   is the chain head (docs/audit-format.md, version 1).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE TABLE audit_tiles (
      org_id uuid NOT NULL,
      level smallint NOT NULL CHECK (level >= 0),
      n bigint NOT NULL CHECK (n >= 0),
      hashes bytea NOT NULL CHECK (length(hashes) BETWEEN 32 AND 8192 AND length(hashes) % 32 = 0),
      PRIMARY KEY (org_id, level, n)
    );
    ALTER TABLE audit_tiles ENABLE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON audit_tiles TO custodian_app USING (org_id = custodian_current_org());
    GRANT SELECT ON audit_tiles TO custodian_app;

    ALTER TABLE audit_heads ADD COLUMN tree_size bigint NOT NULL DEFAULT 0, ADD COLUMN root_hash bytea;
    ALTER TABLE audit_checkpoints ADD COLUMN root_hash bytea;
  `,
  )
}
