import type { ColumnType, Generated } from 'kysely'

export interface OrgKeysTable {
  org_id: string
  version: number
  wrapped_key: Uint8Array | null
  root_key_id: string
  state: 'active' | 'retiring' | 'retired'
  created_at: Generated<Date>
  retired_at: Date | null
}

/**
 * Live data keys each org-key version wraps, in stripes (migration 0024): kept by
 * triggers in the transaction of every write; a version's count is the sum of its stripes.
 */
export interface OrgKeyDataKeysTable {
  org_id: string
  version: number
  stripe: number
  data_keys: ColumnType<string, number | string, number | string>
}

export type SecretType = 'api_key' | 'database_credential' | 'generic'

export interface SecretsTable {
  id: string
  org_id: string
  name: string
  type: SecretType
  description: Generated<string>
  metadata: ColumnType<Record<string, unknown>, string | undefined, string>
  current_version: number
  created_by: string
  created_at: Generated<Date>
  updated_at: Generated<Date>
  last_revealed_at: Date | null
  paused_at: Date | null
  exposed_at: Date | null
  exposed_version: number | null
  last_checked_at: Date | null
  last_check: ColumnType<Record<string, unknown> | null, string | null, string | null>
}

export interface SecretVersionsTable {
  org_id: string
  secret_id: string
  version: number
  kek_version: number | null
  wrapped_dek: Uint8Array | null
  ciphertext: Uint8Array | null
  created_by: string
  created_at: Generated<Date>
  destroyed_at: Date | null
  /** Soft-deleted (KV version 2 `delete`): kept, but not revealed until undeleted. */
  deleted_at: ColumnType<Date | null, Date | null | undefined, Date | null>
}

export interface VaultPoliciesTable {
  org_id: string
  read_only_connectors: boolean
  updated_at: Generated<Date>
  updated_by: string
}

export interface TransitKeysTable {
  org_id: string
  name: string
  current_version: number
  created_by: string
  created_at: Generated<Date>
  rotated_at: Date | null
  /** Migration 0060: Vault's key types; HMAC works with every type. */
  type: Generated<TransitKeyType>
  min_decryption_version: Generated<number>
  /** 0: the newest version (Vault's meaning). */
  min_encryption_version: Generated<number>
  /** Always false (a CHECK): key material is never exported. */
  exportable: Generated<boolean>
}

export type TransitKeyType = 'aes256-gcm96' | 'ed25519' | 'ecdsa-p256'

export interface TransitKeyVersionsTable {
  org_id: string
  name: string
  version: number
  kek_version: number
  wrapped_key: Uint8Array
  created_at: Generated<Date>
  /** Migration 0060: SubjectPublicKeyInfo, PEM, for ed25519 and ecdsa-p256 keys; null for aes256-gcm96. */
  public_key: string | null
}

export interface SecretRotationsTable {
  secret_id: string
  org_id: string
  managing_secret_id: string
  interval_seconds: number
  rotate_on_exposure: Generated<boolean>
  next_due_at: Date
  state: Generated<'idle' | 'pending'>
  pending_version: number | null
  lease_until: Date | null
  last_rotated_at: Date | null
  last_status: string | null
  last_error: string | null
  failures: Generated<number>
  created_by: string
  created_at: Generated<Date>
}

export interface UserSecretsTable {
  user_id: string
  purpose: string
  wrapped: Uint8Array
  root_key_id: string
  created_at: Generated<Date>
}

export interface VaultTables {
  user_secrets: UserSecretsTable
  secret_rotations: SecretRotationsTable
  transit_keys: TransitKeysTable
  transit_key_versions: TransitKeyVersionsTable
  org_keys: OrgKeysTable
  org_key_data_keys: OrgKeyDataKeysTable
  secrets: SecretsTable
  secret_versions: SecretVersionsTable
  vault_policies: VaultPoliciesTable
}
