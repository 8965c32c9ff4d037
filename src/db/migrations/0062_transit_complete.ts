import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Transit, complete (docs/vault.md, docs/vault-compat.md): a key's type (AES-256-GCM,
 * Ed25519 or ECDSA P-256 — every type also HMACs), Vault's minimum decryption and
 * encryption versions, and each version's public key (asymmetric types only) so reading a
 * key does not open its private half. `exportable` is Vault's field, held false by a CHECK:
 * Custodian never exports key material.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    ALTER TABLE transit_keys
      ADD COLUMN type text NOT NULL DEFAULT 'aes256-gcm96'
        CHECK (type IN ('aes256-gcm96', 'ed25519', 'ecdsa-p256')),
      ADD COLUMN min_decryption_version integer NOT NULL DEFAULT 1 CHECK (min_decryption_version >= 1),
      ADD COLUMN min_encryption_version integer NOT NULL DEFAULT 0 CHECK (min_encryption_version >= 0),
      ADD COLUMN exportable boolean NOT NULL DEFAULT false CHECK (NOT exportable);
    ALTER TABLE transit_keys
      ADD CONSTRAINT transit_keys_min_versions CHECK (
        min_decryption_version <= current_version AND min_encryption_version <= current_version
        AND (min_encryption_version = 0 OR min_encryption_version >= min_decryption_version)
      );
    ALTER TABLE transit_key_versions ADD COLUMN public_key text;
    `,
  )
}
