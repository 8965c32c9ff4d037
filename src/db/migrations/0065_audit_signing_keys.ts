import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Every audit signing key a database was kept with: its Ed25519 key id and raw public key
 * (base64url; public, never key material), and — once `custodian keys replace-audit-key`
 * replaced it after a loss — when it was retired. A retired key still verifies the
 * checkpoints it signed before its retirement (`custodian audit verify`, the API's verify,
 * exports' header), so replacing a lost key does not leave the log's history unverifiable;
 * a checkpoint it signed dated after its retirement is refused. Each start records the key it
 * holds (src/crypto/key-record.ts); a key retired before this table existed is not in it.
 *
 * No tenant data: row-level security is on with no policy, so only the owner reads or writes it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE TABLE audit_signing_keys (
      key_id text PRIMARY KEY CHECK (length(key_id) BETWEEN 1 AND 300),
      public_key text NOT NULL CHECK (public_key ~ '^[A-Za-z0-9_-]{43}$'),
      recorded_at timestamptz NOT NULL DEFAULT now(),
      retired_at timestamptz
    );
    ALTER TABLE audit_signing_keys ENABLE ROW LEVEL SECURITY;
    `,
  )
}
