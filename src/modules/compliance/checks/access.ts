import { isIP } from 'node:net'
import { sql } from 'kysely'
import {
  ALL_PERMISSIONS,
  BUILT_IN_ROLES,
  isBuiltInRole,
  PROVIDER_ONLY,
  type Permission,
} from '../../access/permissions.ts'
import { check, count, daysBetween, fail, iso, notApplicable, some, verdict, type CheckDefinition } from './check.ts'

/**
 * Routes open without credentials by design (P2.2): health and readiness; sign-in, bootstrap,
 * invitations and single sign-on's redirects; the vault's seal status and unseal (key shares
 * are the credential); the public disclosure surface (security.txt, the report form and its
 * status pages, P9); the transparency log's keys, checkpoints and tiles (P5.2); the consent
 * preference page, Global Privacy Control and recipients' acknowledgements (P7.7); the trust
 * page; the console's and the embedded viewer's static files and the viewer's CORS preflight.
 * Anything else open is a finding.
 */
const PUBLIC_BY_DESIGN: readonly RegExp[] = [
  /^GET \/(healthz|readyz)$/,
  /^GET \/openapi\.json$/,
  /^POST \/v1\/(bootstrap|login|invitations\/accept|login\/passkey\/(options|verify))$/,
  /^GET \/v1\/sso\/(:orgId\/start|callback)$/,
  /^(GET \/v1\/vault\/status|POST \/v1\/vault\/unseal)$/,
  /^GET \/\.well-known\/(security\.txt|gpc\.json)$/,
  /^(GET|POST) \/v1\/vulnerability-reports(\/policy|\/status|\/status\/messages)?$/,
  /^(GET|POST) \/report(\/style\.css|\/status|\/status\/messages)?$/,
  /^GET \/v1\/audit\/(keys|tlog\/|checkpoints|tiles|log\/)/,
  /^(GET|POST) \/consent(\/|$)/,
  /^POST \/v1\/consent\/acknowledgements$/,
  /^GET \/trust$/,
  /^GET \/(console|embed)(\/|$)/,
  /^OPTIONS \/v1\/viewer\/\*$/,
  // Only with CUSTODIAN_METRICS_TOKEN_FILE, behind that operator token (not an account's credential).
  /^GET \/metrics$/,
]

/** Permissions that reach customer data itself (P3.2: such personnel must use a second factor). */
export const DATA_ACCESS = [
  'vault:reveal',
  'transit:decrypt',
  'records:read',
  'privacy:export',
  'audit:export',
  'disclosure:read',
] as const

/** The org's roles in use, each with its permissions (built-in, or the org's custom role). */
async function rolePermissions(
  trx: Parameters<CheckDefinition['evaluate']>[0]['trx'],
  orgId: string,
  kind: 'provider' | 'customer',
): Promise<Map<string, Set<string>>> {
  const custom = await sql<{ name: string; permissions: string[] }>`
    SELECT name, permissions FROM custom_roles WHERE org_id = ${orgId}`.execute(trx)
  const roles = new Map<string, Set<string>>()
  for (const name of Object.keys(BUILT_IN_ROLES))
    if (isBuiltInRole(name))
      roles.set(
        name,
        new Set(
          (BUILT_IN_ROLES[name].permissions as readonly string[]).filter(
            (p) => kind === 'provider' || !PROVIDER_ONLY.has(p as Permission),
          ),
        ),
      )
  for (const row of custom.rows) roles.set(row.name, new Set(row.permissions))
  return roles
}

/** P2 Tenant isolation and access control. */
export const ACCESS_CHECKS: readonly CheckDefinition[] = [
  check(
    'p2.1/row-level-security',
    'service',
    'Every table holding an org’s rows has row-level security, and requests run as a role that can neither bypass it nor own the tables',
    async ({ trx }) => {
      const tables = await sql<{ table_name: string; rls: boolean; policies: string }>`
        SELECT c.relname AS table_name, c.relrowsecurity AS rls,
               (SELECT count(*) FROM pg_policies p WHERE p.schemaname = 'public' AND p.tablename = c.relname)::text AS policies
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind = 'r'
           AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'org_id' AND NOT a.attisdropped)`.execute(
        trx,
      )
      const role = await sql<{ rolbypassrls: boolean; rolsuper: boolean; owns: string }>`
        SELECT r.rolbypassrls, r.rolsuper,
               (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = 'public' AND c.relowner = r.oid)::text AS owns
          FROM pg_roles r WHERE r.rolname = 'custodian_app'`.execute(trx)
      const app = role.rows[0]
      // Row-level security on and no policy is "deny all" to the request role: owner-only tables
      // (the audit heads, SSO login states) are kept that way on purpose.
      const open = tables.rows.filter((t) => !t.rls).map((t) => t.table_name)
      const ownerOnly = tables.rows.filter((t) => t.rls && Number(t.policies) === 0).length
      const evidence = {
        tenantTables: tables.rows.length,
        withoutRowLevelSecurity: open.length,
        ownerOnly,
        tables: some(open),
        appRole: 'custodian_app',
        appRoleBypassesRls: app?.rolbypassrls ?? null,
        appRoleIsSuperuser: app?.rolsuper ?? null,
        appRoleOwnsTables: app === undefined ? null : Number(app.owns),
      }
      if (app === undefined) return fail('the request role custodian_app does not exist', evidence)
      const ok = open.length === 0 && !app.rolbypassrls && !app.rolsuper && Number(app.owns) === 0
      return verdict(
        ok,
        ok
          ? `${count(tables.rows.length, 'tenant table')}, each under row-level security; requests run as custodian_app, which cannot bypass it`
          : `${count(open.length, 'tenant table')} without row-level security${app.rolbypassrls || app.rolsuper ? '; the request role bypasses it' : ''}`,
        evidence,
      )
    },
  ),
  check(
    'p2.2/deny-by-default',
    'service',
    'Only health, sign-in and the public disclosure, transparency and consent surfaces answer without credentials',
    async ({ env }) => {
      const open = env.publicRoutes()
      const unexpected = open.filter((route) => !PUBLIC_BY_DESIGN.some((pattern) => pattern.test(route)))
      return verdict(
        unexpected.length === 0,
        unexpected.length === 0
          ? `${count(open.length, 'route')} open without credentials, each public by design; every other route requires a credential`
          : `${count(unexpected.length, 'route')} open without credentials that are not public by design`,
        { publicRoutes: open.length, unexpected: some(unexpected) },
      )
    },
  ),
  check(
    'p2.3/roles-from-catalog',
    'org',
    'Every role held in the org grants only permissions from the catalog, and the org has an active owner',
    async ({ trx, orgId, orgKind }) => {
      const roles = await rolePermissions(trx, orgId, orgKind)
      const held = await sql<{ role: string; members: string }>`
        SELECT role, count(*)::text AS members FROM (
          SELECT role FROM memberships WHERE org_id = ${orgId} AND suspended_at IS NULL
          UNION ALL SELECT role FROM service_accounts WHERE org_id = ${orgId}) r GROUP BY role`.execute(trx)
      const catalog = new Set<string>(ALL_PERMISSIONS)
      const unknownRoles = held.rows.filter((r) => !roles.has(r.role)).map((r) => r.role)
      const outside = [...roles.entries()]
        .filter(([name]) => held.rows.some((r) => r.role === name))
        .flatMap(([, permissions]) => [...permissions].filter((p) => !catalog.has(p)))
      const owners = Number(held.rows.find((r) => r.role === 'owner')?.members ?? 0)
      const evidence = {
        rolesHeld: some(held.rows.map((r) => `${r.role}: ${r.members}`)),
        customRoles: roles.size - Object.keys(BUILT_IN_ROLES).length,
        unknownRoles: some(unknownRoles),
        permissionsOutsideCatalog: some([...new Set(outside)]),
        owners,
      }
      const ok = unknownRoles.length === 0 && outside.length === 0 && owners > 0
      return verdict(
        ok,
        ok
          ? `${count(held.rows.length, 'role')} held, all from the permission catalog; ${count(owners, 'owner')}`
          : owners === 0
            ? 'the org has no active owner'
            : 'a role held grants something outside the permission catalog',
        evidence,
      )
    },
  ),
  check(
    'p2.4/no-default-credentials',
    'service',
    'No bootstrap token is left usable once the provider org has an owner, and every API token expires',
    async ({ trx, now }) => {
      const r = await sql<{ bootstrapped: boolean; usable: string; never_expiring: string }>`
        SELECT EXISTS (SELECT 1 FROM memberships m JOIN orgs o ON o.id = m.org_id WHERE o.kind = 'provider' AND m.role = 'owner') AS bootstrapped,
               (SELECT count(*) FROM bootstrap_tokens WHERE used_at IS NULL AND expires_at > ${now})::text AS usable,
               (SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL AND expires_at IS NULL)::text AS never_expiring`.execute(
        trx,
      )
      const row = r.rows[0] as NonNullable<(typeof r.rows)[0]>
      const usable = Number(row.usable)
      const evidence = {
        bootstrapped: row.bootstrapped,
        usableBootstrapTokens: usable,
        tokensWithoutExpiry: Number(row.never_expiring),
      }
      if (!row.bootstrapped)
        return notApplicable('not bootstrapped yet: the one-time bootstrap token creates the first owner', evidence)
      const ok = usable === 0 && Number(row.never_expiring) === 0
      return verdict(
        ok,
        ok
          ? 'no default account and no usable bootstrap token; every principal is an individual identity and every API token expires'
          : [
              usable > 0 ? `${count(usable, 'bootstrap token')} still usable after bootstrap` : null,
              Number(row.never_expiring) > 0
                ? `${count(Number(row.never_expiring), 'API token')} without an expiry`
                : null,
            ]
              .filter((part) => part !== null)
              .join('; '),
        evidence,
      )
    },
  ),
  check(
    'p2.5/access-reviewed',
    'org',
    'An access review of the org was completed within the last 92 days (one quarter)',
    async ({ trx, orgId, now }) => {
      const r = await sql<{ created_at: Date; closed_at: Date | null; open_due: Date | null; members: string }>`
        SELECT o.created_at,
               (SELECT max(closed_at) FROM access_reviews WHERE org_id = ${orgId} AND status = 'closed') AS closed_at,
               (SELECT due_at FROM access_reviews WHERE org_id = ${orgId} AND status = 'open') AS open_due,
               (SELECT count(*) FROM memberships WHERE org_id = ${orgId})::text AS members
          FROM orgs o WHERE o.id = ${orgId}`.execute(trx)
      const row = r.rows[0]
      if (row === undefined) return notApplicable('the org is gone')
      const evidence = {
        lastCompletedAt: iso(row.closed_at),
        daysSince: row.closed_at === null ? null : daysBetween(row.closed_at, now),
        openReviewDueAt: iso(row.open_due),
        members: Number(row.members),
      }
      if (row.closed_at === null && daysBetween(row.created_at, now) < 92)
        return notApplicable('the org is younger than a quarter and has not completed an access review yet', evidence)
      if (row.closed_at === null) return fail('no access review of the org was ever completed', evidence)
      const days = daysBetween(row.closed_at, now)
      return verdict(
        days <= 92,
        days <= 92
          ? `the last access review was completed ${days} days ago`
          : `the last access review was completed ${days} days ago, over 92`,
        evidence,
      )
    },
  ),
  check(
    'p2.6/removed-have-no-access',
    'org',
    'No session or API token of the org belongs to someone who is no longer an active member',
    async ({ trx, orgId, now, env }) => {
      // A live session was seen within the idle timeout: that bound reads only the active
      // sessions (sessions_active), however many ended ones the org has.
      const seen = new Date(now.getTime() - env.config.auth.sessionIdleMinutes * 60_000)
      const r = await sql<{ sessions: string; tokens: string; ids: string[] }>`
        WITH s AS (
          SELECT s.user_id FROM sessions s WHERE s.org_id = ${orgId} AND s.revoked_at IS NULL AND s.last_seen_at > ${seen}
             AND s.expires_at > ${now}
             AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.org_id = s.org_id AND m.user_id = s.user_id AND m.suspended_at IS NULL)),
        t AS (
          SELECT t.user_id FROM api_tokens t WHERE t.org_id = ${orgId} AND t.revoked_at IS NULL AND t.expires_at > ${now} AND t.user_id IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.org_id = t.org_id AND m.user_id = t.user_id AND m.suspended_at IS NULL))
        SELECT (SELECT count(*) FROM s)::text AS sessions, (SELECT count(*) FROM t)::text AS tokens,
               coalesce((SELECT array_agg(DISTINCT user_id::text) FROM (SELECT user_id FROM s UNION SELECT user_id FROM t) g), '{}') AS ids`.execute(
        trx,
      )
      const row = r.rows[0] as NonNullable<(typeof r.rows)[0]>
      const sessions = Number(row.sessions)
      const tokens = Number(row.tokens)
      return verdict(
        sessions + tokens === 0,
        sessions + tokens === 0
          ? 'every live session and API token belongs to an active member'
          : `${count(sessions, 'session')} and ${count(tokens, 'token')} of people removed or suspended still live`,
        { liveSessionsOfFormerMembers: sessions, liveTokensOfFormerMembers: tokens, users: some(row.ids) },
      )
    },
  ),
  check(
    'p2.7/no-standing-operator-access',
    'org',
    'No operator of the provider org is a member of this customer org (provider staff reach it only through a grant)',
    async ({ trx, orgId, orgKind }) => {
      if (orgKind === 'provider') return notApplicable('this is the provider’s own org')
      const rows = await sql<{ user_id: string }>`
        SELECT m.user_id FROM memberships m JOIN memberships p ON p.user_id = m.user_id
          JOIN orgs o ON o.id = p.org_id AND o.kind = 'provider'
         WHERE m.org_id = ${orgId} LIMIT 100`.execute(trx)
      const ids = rows.rows.map((r) => r.user_id)
      return verdict(
        ids.length === 0,
        ids.length === 0
          ? 'no operator is a member of the org: provider staff have no standing access'
          : `${count(ids.length, 'operator')} of the provider org also members of this org`,
        { operatorsWithMembership: ids.length, users: some(ids) },
      )
    },
    // Owner: the provider org's memberships are outside this org's row-level security.
    { owner: true },
  ),
  check(
    'p2.8/grants-approved-and-bounded',
    'org',
    'Every diagnostic access grant that ran was approved as the policy requires and lasted at most 21 days',
    async ({ trx, orgId, now }) => {
      const policy = await sql<{ max_days: number; required_approvals: number }>`
        SELECT max_days, required_approvals FROM org_grant_policies WHERE org_id = ${orgId}`.execute(trx)
      const maxDays = policy.rows[0]?.max_days ?? 21
      const rows = await sql<{
        id: string
        starts_at: Date | null
        expires_at: Date | null
        required_approvals: number
        approvals: string
      }>`
        SELECT g.id, g.starts_at, g.expires_at, g.required_approvals,
               (SELECT count(*) FROM access_grant_approvals a WHERE a.grant_id = g.id)::text AS approvals
          FROM access_grants g WHERE g.org_id = ${orgId} AND g.status IN ('approved', 'revoked', 'withdrawn') AND g.starts_at IS NOT NULL
           AND (g.expires_at IS NULL OR g.expires_at > ${new Date(now.getTime() - 92 * 86_400_000)})
         ORDER BY g.starts_at DESC LIMIT 200`.execute(trx)
      const unapproved = rows.rows.filter((g) => Number(g.approvals) < g.required_approvals).map((g) => g.id)
      const tooLong = rows.rows
        .filter(
          (g) =>
            g.expires_at === null ||
            g.starts_at === null ||
            g.expires_at.getTime() - g.starts_at.getTime() > 21 * 86_400_000 + 60_000,
        )
        .map((g) => g.id)
      const active = rows.rows.filter((g) => g.expires_at !== null && g.expires_at > now).length
      const evidence = {
        policyMaxDays: maxDays,
        grantsLast92Days: rows.rows.length,
        active,
        withoutApprovals: unapproved.length,
        longerThan21Days: tooLong.length,
        grants: some([...unapproved, ...tooLong]),
      }
      if (maxDays > 21) return fail(`the org’s grant policy allows ${maxDays} days, more than 21`, evidence)
      const ok = unapproved.length === 0 && tooLong.length === 0
      return verdict(
        ok,
        ok
          ? `${count(rows.rows.length, 'grant')} in the last 92 days (${active} active), each approved and at most ${maxDays} days`
          : `${count(unapproved.length + tooLong.length, 'grant')} not approved as required or longer than 21 days`,
        evidence,
      )
    },
  ),
  check(
    'p2.9/ip-allowlist',
    'org',
    'The org’s IP allowlist, when it has one, holds only valid networks and none that admits every address',
    async ({ trx, orgId }) => {
      const r = await sql<{ ip_allowlist: { cidr: string }[] | null }>`
        SELECT ip_allowlist FROM org_security_policies WHERE org_id = ${orgId}`.execute(trx)
      const list = (r.rows[0]?.ip_allowlist ?? []).map((e) => e.cidr)
      if (list.length === 0)
        return notApplicable('the org has no IP allowlist: any address may sign in with valid credentials')
      const everything = list.filter((cidr) => /\/0$/.test(cidr))
      const invalid = list.filter((cidr) => isIP(cidr.split('/')[0] ?? '') === 0)
      return verdict(
        everything.length === 0 && invalid.length === 0,
        everything.length === 0 && invalid.length === 0
          ? `${count(list.length, 'network')} allowed; requests from any other address are refused`
          : everything.length > 0
            ? `the allowlist admits every ${everything.map((cidr) => (cidr.includes(':') ? 'IPv6' : 'IPv4')).join(' and ')} address (${everything.join(', ')})`
            : `${count(invalid.length, 'entry', 'entries')} of the allowlist not a network`,
        { networks: list.length, admitsEverything: everything.length > 0, invalid: invalid.length },
      )
    },
  ),
]
