/**
 * The permission catalog (P2.3): every action a principal can be allowed, as
 * `resource:action`. A route names exactly one of these (or is public, or needs only a
 * signed-in principal); anything not granted is denied.
 *
 * Later modules add their permissions here (vault:reveal, grants:approve, …) so the
 * catalog stays the one list a least-privilege report and a custom role can draw from.
 */
export const PERMISSIONS = {
  'org:read': 'See the org’s name and settings',
  'org:update': 'Rename the org and change its settings',
  'org:security': 'Change the org’s security policy (require 2FA, step-up window)',
  'orgs:create': 'Create customer orgs (provider org only)',
  'orgs:list': 'Operators: list every org’s name and health figures, nothing inside (provider org only)',
  'members:read': 'List members and pending invitations',
  'members:invite': 'Invite people to the org',
  'members:update': 'Change a member’s role',
  'members:remove': 'Remove a member (revokes their sessions and tokens at once)',
  'roles:read': 'List built-in and custom roles',
  'roles:manage': 'Create and delete custom roles',
  'service_accounts:read': 'List service accounts',
  'service_accounts:manage': 'Create and delete service accounts and issue their tokens',
  'tokens:read': 'List API tokens (metadata only)',
  'sessions:read': 'List every member’s browser sessions',
  'sessions:revoke': 'End any member’s browser session',
  'tokens:create': 'Issue API tokens for oneself',
  'tokens:revoke': 'Revoke any API token of the org',
  'audit:read': 'Query the org’s audit log and its status',
  'audit:export': 'Export the org’s audit log (JSON Lines)',
  'audit:verify': 'Verify the org’s audit chain',
  'audit:viewer':
    'Issue and revoke short-lived, read-only audit viewer tokens that embed the org’s audit log in the host application’s page, for one origin',
  'audit:write': 'Record the host application’s own events in the org’s audit log (never as Custodian’s own actions)',
  'audit:schema': 'Declare the host application’s event schema for every org (provider org only)',
  'audit:rollback':
    'Operators: acknowledge an org detected as rolled back, so it is served again from its restored state (provider org only)',
  'secrets:read': 'List secrets and their versions (metadata only, never values)',
  'secrets:write': 'Create secrets and add new versions',
  'secrets:delete': 'Destroy secret versions and delete secrets (crypto-erasure)',
  'vault:reveal': 'Reveal a secret’s value (audited, with a reason)',
  'vault:seal': 'Seal the vault (provider org only): drop every key from memory until unsealed',
  'keys:read': 'See the org’s key versions and rotation progress',
  'secrets:check': 'Check what a database credential can do (the service connects with it)',
  'secrets:report': 'Report a secret as exposed: it is blocked until a new version replaces it',
  'vault:policy': 'Change the vault policy (read-only connectors)',
  'transit:manage':
    'Create, rotate and configure named keys (encryption as a service: minimum versions; export is always refused)',
  'transit:encrypt': 'Encrypt, make data keys, and rewrap to the newest key version, with a named key',
  'transit:sign': 'Sign (Ed25519, ECDSA P-256) and HMAC data with a named key',
  'transit:verify': 'Verify signatures and HMACs made with a named key',
  'transit:decrypt': 'Decrypt with a named key (audited)',
  'keys:rotate': 'Rotate the org’s key (data keys are rewrapped in the background)',
  'grants:request': 'Operators: request time-boxed diagnostic access to an org’s data (provider org only)',
  'grants:read': 'List the diagnostic access grants asked of the org, current and past',
  'grants:approve': 'Approve or deny provider staff’s requests for diagnostic access',
  'grants:revoke': 'End a diagnostic access grant at once',
  'reviews:read': 'See access reviews, current and finished, with every decision',
  'reviews:manage': 'Start and close access reviews, and set their schedule',
  'reviews:decide': 'Certify or revoke items of an access review (a revoke deprovisions at once)',
  'access:report': 'See the least-privilege report: permissions granted against permissions used',
  'records:read': 'Read customer data records (sealed per data subject)',
  'records:write': 'Store and update customer data records',
  'records:delete': 'Delete customer data records',
  'privacy:read': 'See retention policies and purge proofs, privacy requests and erasure certificates',
  'privacy:manage': 'Register and handle data-subject requests (access, rectify, erase, restrict) and erasure webhooks',
  'privacy:export': 'Download a data-subject access export while it has not expired',
  'retention:manage': 'Set how long each data class is kept',
  'org:delete': 'Owners: have the whole org deleted after a grace period (offboarding), or cancel that',
  'webhooks:read': 'List webhooks and their deliveries',
  'webhooks:manage': 'Register and remove webhooks (erasures, notifications)',
  'siem:read': 'See SIEM destinations, their lag and dead letters (never a credential)',
  'siem:manage':
    'Add, change, test, pause, resume and remove SIEM destinations (the audit log streams out to them: adding or redirecting one also needs audit:export)',
  'consent:read': 'See purposes of processing, notice versions and objections (never a subject’s id or evidence)',
  'consent:check': 'Ask whether a purpose may be processed for a data subject now (the check before processing)',
  'consent:record': 'Record consent events, withdrawals and objections of data subjects',
  'consent:manage': 'Declare purposes and their lawful basis, publish notice versions and decide objections',
  'compliance:read':
    'See the live compliance checks of every promise, their history, the signed compliance report and the living security policy',
  'compliance:evidence':
    'Download the evidence bundle for auditors: the signed report and policy, the audit chain’s verification, access reviews with their decisions, erasure and offboarding certificates, incidents and compliance history (people by user id only)',
  'compliance:run': 'Evaluate the compliance checks now (they also run on a schedule)',
  'notifications:read': 'See the org’s notification outbox and each delivery’s state',
  'alerts:read': 'See alerts and the alert rules',
  'alerts:manage': 'Acknowledge and resolve alerts, and set the alert rules',
  'incidents:read': 'See incidents, their timelines and breach clocks, and the response plan',
  'incidents:manage': 'Open and run incidents: roles, steps, notes, links, breach confirmation and notifications',
  'response_plan:manage':
    'Change the incident response plan (types, playbooks, escalation, breach parties) and record its reviews',
  'disclosure:read':
    'Security team: read vulnerability reports, their reporters’ contacts and attachments (provider org only)',
  'disclosure:manage':
    'Security team: acknowledge vulnerability reports and keep their reporters informed (provider org only)',
} as const

export type Permission = keyof typeof PERMISSIONS

/** Permissions that only make sense in the provider's own org. */
export const PROVIDER_ONLY: ReadonlySet<Permission> = new Set([
  'orgs:create',
  'orgs:list',
  'audit:schema',
  'audit:rollback',
  'vault:seal',
  'grants:request',
  'disclosure:read',
  'disclosure:manage',
])

export const ALL_PERMISSIONS = Object.keys(PERMISSIONS) as Permission[]

export function isPermission(value: string): value is Permission {
  return Object.hasOwn(PERMISSIONS, value)
}

const READ_ONLY: Permission[] = ['org:read', 'members:read', 'roles:read']

/**
 * What a diagnostic access grant can open (P2.8): seeing, checking and — for named
 * secrets — revealing. Nothing that changes the org's people, keys or policies.
 */
export const GRANTABLE: ReadonlySet<Permission> = new Set([
  'org:read',
  'members:read',
  'roles:read',
  'service_accounts:read',
  'tokens:read',
  'sessions:read',
  'audit:read',
  'audit:export',
  'audit:verify',
  'secrets:read',
  'keys:read',
  'secrets:check',
  'vault:reveal',
  'grants:read',
] as const)

/** Built-in roles. Names are reserved: a custom role cannot take one. */
export const BUILT_IN_ROLES = {
  owner: { description: 'Everything, including granting ownership', permissions: ALL_PERMISSIONS },
  admin: {
    description: 'Manages the org and its members; cannot grant ownership or delete the org',
    permissions: ALL_PERMISSIONS.filter((p) => p !== 'org:delete'),
  },
  member: {
    description: 'Uses the org; issues own API tokens; sees secrets’ metadata; reports exposed secrets',
    permissions: [...READ_ONLY, 'tokens:create', 'secrets:read', 'secrets:report'],
  },
  auditor: {
    description: 'Reads, exports and verifies the audit log; sees secrets’ metadata',
    permissions: [
      ...READ_ONLY,
      'audit:read',
      'audit:export',
      'audit:verify',
      'audit:viewer',
      'secrets:read',
      'keys:read',
      'grants:read',
      'reviews:read',
      'access:report',
      'alerts:read',
      'incidents:read',
      'siem:read',
      'consent:read',
      'compliance:read',
      'compliance:evidence',
    ],
  },
  viewer: { description: 'Reads the org’s membership and settings', permissions: READ_ONLY },
} as const satisfies Record<string, { description: string; permissions: readonly Permission[] }>

export type BuiltInRole = keyof typeof BUILT_IN_ROLES

export function isBuiltInRole(name: string): name is BuiltInRole {
  return Object.hasOwn(BUILT_IN_ROLES, name)
}
