import type { KmsKind } from './kms.ts'

/**
 * A root-key provider holds the key at the top of the hierarchy and does exactly two
 * things with it: wrap and unwrap the per-org key-encryption keys. The root key itself
 * never leaves the provider's boundary (for `pkcs11`, the HSM).
 *
 * Providers:
 * - `local`  — a 32-byte key file (mode 0600); always unsealed.
 * - `shamir` — the key exists only in memory, reassembled from N-of-M shares at unseal.
 * - `pkcs11` — the key is created in and never leaves an HSM.
 * - `aws-kms`, `gcp-kms`, `azure-keyvault`, `transit` — the key is in a cloud KMS (or a
 *   Vault-compatible Transit engine) and never leaves it: `wrap`/`unwrap` are KMS calls
 *   with the AAD bound in, `keyId` names the KMS key and its version (see kms.ts).
 */
export interface RootKeyProvider {
  readonly kind: 'local' | 'shamir' | 'pkcs11' | KmsKind
  /** Identifies the root key (and its version) that wrapped a key; stored beside it. */
  keyId(): string
  /**
   * Names the root key whatever its version: every node on one database must start with the
   * same (src/crypto/key-record.ts). For `local`, `shamir` and `pkcs11` it is the key id; for a
   * KMS, `<kind>:<key name>`, the part of its key ids (`<kind>:<key name>#<version>`) before `#`.
   */
  keyName(): string
  sealed(): boolean
  /** Wraps a 32-byte key; `aad` binds it to its owner (org, purpose, version). */
  wrap(key: Buffer, aad: string): Promise<Buffer>
  unwrap(wrapped: Uint8Array, aad: string, keyId: string): Promise<Buffer>
  /** Releases what the provider holds (an HSM session); the process is stopping. */
  close?(): void
}

export class SealedError extends Error {
  constructor(message = 'the vault is sealed: secret operations are unavailable until it is unsealed') {
    super(message)
    this.name = 'SealedError'
  }
}
