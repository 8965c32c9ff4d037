import type { ColumnType, Generated } from 'kysely'

/** Kysely table types for the identity module (see migrations/0001_foundation.ts). */
export interface OrgsTable {
  id: string
  kind: 'provider' | 'customer'
  name: string
  /** IANA time zone in which the org's hours of the day are counted (migration 0019). */
  time_zone: Generated<string>
  /** The region the org is pinned to (P8.2, migration 0059); null where none is configured. */
  region: Generated<string | null>
  created_at: Generated<Date>
}

export interface UsersTable {
  id: string
  email: string
  password_hash: string | null
  last_login_at: Date | null
  created_at: Generated<Date>
}

export interface MembershipsTable {
  org_id: string
  user_id: string
  role: string
  created_at: Generated<Date>
  /** P2.6: a suspended member keeps the membership but no access until resumed. */
  suspended_at: Generated<Date | null>
  /** Secret path patterns the role reaches (src/modules/vault/secret-paths.ts); null: every secret. */
  secret_paths: Generated<string[] | null>
}

export interface ServiceAccountsTable {
  id: string
  org_id: string
  name: string
  role: string
  created_at: Generated<Date>
  /** Secret path patterns the role reaches; null: every secret. */
  secret_paths: Generated<string[] | null>
}

export interface ApiTokensTable {
  id: string
  org_id: string
  user_id: string | null
  service_account_id: string | null
  name: string
  secret_hash: Uint8Array
  scopes: string[] | null
  /** Secret path patterns, narrowing its owner's; null: the owner's as they are. */
  secret_paths: Generated<string[] | null>
  expires_at: Date
  created_at: Generated<Date>
  created_by: string
  last_used_at: Date | null
  revoked_at: Date | null
}

export interface SessionsTable {
  id: string
  org_id: string
  user_id: string
  secret_hash: Uint8Array
  csrf_hash: Uint8Array
  created_at: Generated<Date>
  last_seen_at: Generated<Date>
  expires_at: Date
  ip: string | null
  user_agent: string | null
  revoked_at: Date | null
  /** When the session last passed a second factor (login or step-up). */
  mfa_at: Date | null
}

export interface UserMfaTable {
  user_id: string
  confirmed_at: Date | null
  last_used_counter: Generated<number>
  created_at: Generated<Date>
}

export interface UserRecoveryCodesTable {
  id: string
  user_id: string
  code_hash: Uint8Array
  used_at: Date | null
  created_at: Generated<Date>
}

/** A registered passkey (migrations/0029_passkeys.ts): public material only. */
export interface UserPasskeysTable {
  id: string
  user_id: string
  credential_id: Uint8Array
  /** COSE_Key, as the authenticator gave it. */
  public_key: Uint8Array
  sign_count: number
  transports: string[]
  device_type: 'singleDevice' | 'multiDevice'
  backed_up: boolean
  name: string
  created_at: Generated<Date>
  last_used_at: Date | null
}

/** The random WebAuthn user handle of a person (32 bytes; never the email). */
export interface UserWebauthnHandlesTable {
  user_id: string
  user_handle: Uint8Array
}

/** A WebAuthn challenge handed out (its SHA-256 only), consumed once. */
export interface WebauthnChallengesTable {
  challenge_hash: Uint8Array
  ceremony: 'registration' | 'authentication'
  user_id: string | null
  expires_at: Date
  created_at: Generated<Date>
}

export interface InvitationsTable {
  id: string
  org_id: string
  email: string
  role: string
  secret_hash: Uint8Array
  expires_at: Date
  created_by: string
  created_at: Generated<Date>
  accepted_at: Date | null
  /** The membership's secret path patterns once accepted; null: every secret. */
  secret_paths: Generated<string[] | null>
}

export interface BootstrapTokensTable {
  id: string
  secret_hash: Uint8Array
  expires_at: Date
  created_at: Generated<Date>
  used_at: Date | null
}

export interface IpAllowlistEntry {
  cidr: string
  description: string
}

export interface OrgSecurityPoliciesTable {
  org_id: string
  require_2fa: Generated<boolean>
  step_up_minutes: Generated<number>
  /** P2.9: ranges in network form; empty means no restriction. */
  ip_allowlist: ColumnType<IpAllowlistEntry[], string | undefined, string>
  updated_at: Generated<Date>
  updated_by: string
}

export interface OrgSsoConfigsTable {
  org_id: string
  preset: 'google' | 'microsoft' | 'oidc'
  issuer: string
  client_id: string
  /** The vault secret holding the client secret. */
  client_secret_id: string
  allowed_domains: string[]
  default_role: string
  jit_provisioning: Generated<boolean>
  enabled: Generated<boolean>
  sso_only: Generated<boolean>
  last_login_at: Date | null
  updated_at: Generated<Date>
  updated_by: string
}

export interface SsoIdentitiesTable {
  org_id: string
  issuer: string
  subject: string
  user_id: string
  email: string
  created_at: Generated<Date>
  last_login_at: Date | null
  blocked_at: Date | null
}

export interface SsoLoginStatesTable {
  state_hash: Uint8Array
  org_id: string
  binding_hash: Uint8Array
  expires_at: Date
  used_at: Date | null
  created_at: Generated<Date>
  /** Where the callback sends the browser (migration 0033); null: it answers JSON. */
  return_to: 'console' | null
}

/** Brute-force throttle counters (migrations/0019_auth_throttle.ts); `key` is an HMAC. */
export interface AuthThrottleTable {
  key: string
  failures: Generated<number>
  last_failure_at: Generated<Date>
}

export interface IdentityTables {
  auth_throttle: AuthThrottleTable
  org_sso_configs: OrgSsoConfigsTable
  sso_identities: SsoIdentitiesTable
  sso_login_states: SsoLoginStatesTable
  org_security_policies: OrgSecurityPoliciesTable
  orgs: OrgsTable
  users: UsersTable
  memberships: MembershipsTable
  service_accounts: ServiceAccountsTable
  api_tokens: ApiTokensTable
  sessions: SessionsTable
  invitations: InvitationsTable
  bootstrap_tokens: BootstrapTokensTable
  user_mfa: UserMfaTable
  user_recovery_codes: UserRecoveryCodesTable
  user_passkeys: UserPasskeysTable
  user_webauthn_handles: UserWebauthnHandlesTable
  webauthn_challenges: WebauthnChallengesTable
}
