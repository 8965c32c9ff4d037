import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * The keys a database was started with (src/crypto/key-record.ts): for each purpose — the
 * audit key (`audit`, the Ed25519 key id its checkpoints are signed with; the chain's HMAC key
 * comes from the same file) and the root key (`root`, the name of the key that wraps the org
 * keys) — the identifier every node must start with. Identifiers only (key ids and check
 * values, never key material). The first start records them; a node started with another key
 * is refused before it writes anything; `custodian keys rotate-root` and `keys migrate-root`
 * change the root's in the transaction that rewraps the org keys.
 *
 * No tenant data: row-level security is on with no policy, so only the owner reads or writes it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE TABLE service_keys (
      purpose text PRIMARY KEY CHECK (purpose IN ('audit', 'root')),
      key_id text NOT NULL CHECK (length(key_id) BETWEEN 1 AND 300),
      recorded_at timestamptz NOT NULL DEFAULT now()
    );
    ALTER TABLE service_keys ENABLE ROW LEVEL SECURITY;
    `,
  )
}
