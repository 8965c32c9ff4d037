/**
 * The org's pages, in the order a team meets them: its data first, then who may touch
 * it. One line a page: its path under /orgs/{orgId}/, its label, and the permission its
 * own list needs (the API's route for it), so an operator acting under a diagnostic
 * access grant is offered only the pages the grant opens.
 */
export const ORG_PAGES: readonly { path: string; label: string; permission: string }[] = [
  { path: 'secrets', label: 'Secrets', permission: 'secrets:read' },
  { path: 'integrations', label: 'Integrations', permission: 'secrets:read' },
  { path: 'transit-keys', label: 'Transit keys', permission: 'keys:read' },
  { path: 'keys', label: 'Org keys', permission: 'keys:read' },
  { path: 'audit', label: 'Audit log', permission: 'audit:read' },
  { path: 'notifications', label: 'Notifications', permission: 'notifications:read' },
  { path: 'alerts', label: 'Alerts', permission: 'alerts:read' },
  { path: 'incidents', label: 'Incidents', permission: 'incidents:read' },
  { path: 'response-plan', label: 'Response plan', permission: 'incidents:read' },
  { path: 'grants', label: 'Diagnostic access', permission: 'grants:read' },
  { path: 'records', label: 'Records', permission: 'records:read' },
  { path: 'privacy-requests', label: 'Privacy requests', permission: 'privacy:read' },
  { path: 'erasure-certificates', label: 'Erasure certificates', permission: 'privacy:read' },
  { path: 'retention', label: 'Retention', permission: 'privacy:read' },
  { path: 'consent', label: 'Consent', permission: 'consent:read' },
  { path: 'compliance', label: 'Compliance', permission: 'compliance:read' },
  { path: 'members', label: 'Members', permission: 'members:read' },
  { path: 'roles', label: 'Roles', permission: 'roles:read' },
  { path: 'service-accounts', label: 'Service accounts', permission: 'service_accounts:read' },
  { path: 'tokens', label: 'API tokens', permission: 'tokens:read' },
  { path: 'access-reviews', label: 'Access reviews', permission: 'reviews:read' },
  { path: 'least-privilege', label: 'Least privilege', permission: 'access:report' },
  { path: 'security', label: 'Security policy', permission: 'org:read' },
  { path: 'offboarding', label: 'Offboarding', permission: 'org:read' },
]

/**
 * Where acting under a diagnostic access grant starts: its first named secret when it may
 * read secrets, else the first page in nav order whose permission it holds; `null` when it
 * opens no page (the grant is then used from the API alone). Never a page outside the grant.
 */
export function landingUnder(grant: {
  orgId: string
  permissions: readonly string[]
  secretIds: readonly string[]
}): string | null {
  const held = new Set(grant.permissions)
  const first = grant.secretIds[0]
  if (first !== undefined && held.has('secrets:read')) return `/orgs/${grant.orgId}/secrets/${first}`
  const page = ORG_PAGES.find((p) => held.has(p.permission))
  return page === undefined ? null : `/orgs/${grant.orgId}/${page.path}`
}

/**
 * Where a member of an org starts: the first page in nav order their permissions open, or
 * their account page when none does (`/orgs/{orgId}/…`).
 */
export function landingIn(orgId: string, permissions: readonly string[]): string {
  const held = new Set(permissions)
  const page = ORG_PAGES.find((p) => held.has(p.permission))
  return `/orgs/${orgId}/${page === undefined ? 'account' : page.path}`
}
