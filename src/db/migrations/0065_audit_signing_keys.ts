import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Every audit signing key a database was kept with: its Ed25519 key id and raw public key
 * (base64url; public, never key material). Each start records the key it holds
 * (src/crypto/key-record.ts). `custodian keys replace-audit-key` retires the replaced key:
 * `retired_at`, `signed_up_to` (per org, the highest checkpoint seq it had signed: it verifies
 * none beyond) and the successor key's Ed25519 signature over that record
 * (`retirement_signature`, by `successor_key_id`). A retirement is trusted only through an
 * unbroken chain of such signatures from the key a node holds, so a row written by anyone
 * who can write to the database but holds no audit key adds no verification key.
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
      retired_at timestamptz,
      signed_up_to jsonb,
      successor_key_id text,
      retirement_signature text,
      CHECK ((retired_at IS NULL) = (signed_up_to IS NULL)
         AND (retired_at IS NULL) = (successor_key_id IS NULL)
         AND (retired_at IS NULL) = (retirement_signature IS NULL))
    );
    ALTER TABLE audit_signing_keys ENABLE ROW LEVEL SECURITY;
    `,
  )
}
