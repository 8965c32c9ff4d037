import { sql } from 'kysely'
import { BUILT_IN_ROLES, isBuiltInRole } from '../../access/permissions.ts'
import { DATA_ACCESS } from './access.ts'
import { check, count, iso, notApplicable, pass, some, verdict, type CheckDefinition } from './check.ts'

/**
 * What must never be in a notification (P3.5): Custodian's own credentials, each recognisable
 * by its prefix (src/crypto/tokens.ts) — but an invitation (`cst_inv`), which only lets its
 * addressee create an account or join with the credentials they have — and private keys.
 */
const CREDENTIAL_PATTERNS: readonly [string, RegExp][] = [
  ['a Custodian credential', /\bcst_(api|boot|ses|vrs|view|cpl|cps|cpa)_[0-9a-f]{32}_/],
  ['a private key', /-----BEGIN [A-Z ]*PRIVATE KEY-----/],
]

/** P3 Authentication. */
export const AUTHENTICATION_CHECKS: readonly CheckDefinition[] = [
  check(
    'p3.1/second-factor-available',
    'service',
    'Two-factor authentication is offered to every account and works: TOTP seeds and passkeys can be checked (the vault that opens the seeds is unsealed)',
    async ({ env, trx }) => {
      // Codes themselves are checked by the sign-in gate alone (identity/credential-gate.ts);
      // what can stop them working is the vault: TOTP seeds are sealed under the root key.
      const sealed = env.rootKey.sealed()
      const enrolled = await sql<{ totp: string; passkeys: string }>`
        SELECT (SELECT count(*) FROM user_mfa WHERE confirmed_at IS NOT NULL)::text AS totp,
               (SELECT count(DISTINCT user_id) FROM user_passkeys)::text AS passkeys`.execute(trx)
      const row = enrolled.rows[0] as NonNullable<(typeof enrolled.rows)[0]>
      const evidence = {
        totp: 'RFC 6238, SHA-1, 6 digits, 30 s',
        passkeys: 'WebAuthn',
        vaultSealed: sealed,
        accountsWithTotp: Number(row.totp),
        accountsWithPasskeys: Number(row.passkeys),
      }
      return verdict(
        !sealed,
        sealed
          ? 'the vault is sealed: TOTP codes cannot be checked until it is unsealed'
          : 'TOTP (with recovery codes) and passkeys are offered to every account, and codes can be checked',
        evidence,
      )
    },
  ),
  check(
    'p3.2/data-access-needs-2fa',
    'org',
    'Everyone who can reach the org’s data has a second factor, and the org’s policy requires one',
    async ({ trx, orgId, orgKind }) => {
      const policy = await sql<{ require_2fa: boolean }>`
        SELECT require_2fa FROM org_security_policies WHERE org_id = ${orgId}`.execute(trx)
      const required = orgKind === 'provider' || policy.rows[0]?.require_2fa === true
      const custom = await sql<{ name: string; permissions: string[] }>`
        SELECT name, permissions FROM custom_roles WHERE org_id = ${orgId}`.execute(trx)
      const dataRoles = new Set<string>()
      for (const name of Object.keys(BUILT_IN_ROLES))
        if (
          isBuiltInRole(name) &&
          (BUILT_IN_ROLES[name].permissions as readonly string[]).some((p) =>
            (DATA_ACCESS as readonly string[]).includes(p),
          )
        )
          dataRoles.add(name)
      for (const row of custom.rows)
        if (row.permissions.some((p) => (DATA_ACCESS as readonly string[]).includes(p))) dataRoles.add(row.name)
      const rows = await sql<{ user_id: string; role: string; enrolled: boolean }>`
        SELECT m.user_id, m.role,
               (EXISTS (SELECT 1 FROM user_mfa f WHERE f.user_id = m.user_id AND f.confirmed_at IS NOT NULL)
                OR EXISTS (SELECT 1 FROM user_passkeys p WHERE p.user_id = m.user_id)) AS enrolled
          FROM memberships m WHERE m.org_id = ${orgId} AND m.suspended_at IS NULL
           AND m.role = ANY(${[...dataRoles]}::text[])`.execute(trx)
      const without = rows.rows.filter((r) => !r.enrolled).map((r) => r.user_id)
      const evidence = {
        policyRequires2fa: required,
        membersWithDataAccess: rows.rows.length,
        withoutSecondFactor: without.length,
        users: some(without),
        dataPermissions: DATA_ACCESS as unknown as string[],
      }
      if (rows.rows.length === 0) return notApplicable('no member can reach the org’s data', evidence)
      const ok = required && without.length === 0
      return verdict(
        ok,
        ok
          ? `every member with data access (${rows.rows.length}) uses a second factor, and the org requires it`
          : !required
            ? `the org does not require two-factor authentication; members with data access without a second factor: ${without.length}`
            : `members with data access without a second factor yet: ${without.length} (they can do nothing but enrol)`,
        evidence,
      )
    },
    // Owner: second factors are readable only on the authentication path.
    { owner: true },
  ),
  check(
    'p3.3/single-sign-on',
    'org',
    'Single sign-on through the org’s OpenID provider is configured and enabled',
    async ({ trx, orgId }) => {
      const r = await sql<{ preset: string; enabled: boolean; sso_only: boolean; last_login_at: Date | null }>`
        SELECT preset, enabled, sso_only, last_login_at FROM org_sso_configs WHERE org_id = ${orgId}`.execute(trx)
      const sso = r.rows[0]
      if (sso === undefined) return notApplicable('the org has not configured single sign-on')
      return verdict(
        sso.enabled,
        sso.enabled
          ? `single sign-on (${sso.preset}) is enabled${sso.sso_only ? ', and the only way in' : ''}`
          : 'single sign-on is configured but disabled',
        { provider: sso.preset, enabled: sso.enabled, ssoOnly: sso.sso_only, lastLoginAt: iso(sso.last_login_at) },
      )
    },
  ),
  check(
    'p3.4/no-passwords-when-sso-only',
    'org',
    'When sign-in is delegated to single sign-on only, no member has a stored password',
    async ({ trx, orgId }) => {
      const r = await sql<{ sso_only: boolean; enabled: boolean }>`
        SELECT sso_only, enabled FROM org_sso_configs WHERE org_id = ${orgId}`.execute(trx)
      const sso = r.rows[0]
      if (sso === undefined || !sso.sso_only || !sso.enabled)
        return notApplicable('the org does not use single sign-on only')
      const rows = await sql<{ id: string }>`
        SELECT u.id FROM users u JOIN memberships m ON m.user_id = u.id
         WHERE m.org_id = ${orgId} AND u.password_hash IS NOT NULL LIMIT 100`.execute(trx)
      const ids = rows.rows.map((row) => row.id)
      return verdict(
        ids.length === 0,
        ids.length === 0
          ? 'no member of the org has a stored password'
          : `${count(ids.length, 'member')} still have a stored password`,
        { membersWithPassword: ids.length, users: some(ids) },
      )
    },
    // Owner: password hashes are readable only on the authentication path.
    { owner: true },
  ),
  check(
    'p3.5/no-credentials-by-email',
    'org',
    'No notification of the last 7 days carries a credential, a private key or a link that signs someone in by itself',
    async ({ trx, orgId, now }) => {
      const rows = await sql<{ id: string; subject: string; body: string }>`
        SELECT id, subject, body FROM notifications WHERE org_id = ${orgId} AND created_at >= ${new Date(now.getTime() - 7 * 86_400_000)}
         ORDER BY created_at DESC LIMIT 1000`.execute(trx)
      const found: string[] = []
      const kinds = new Set<string>()
      for (const row of rows.rows)
        for (const [what, pattern] of CREDENTIAL_PATTERNS)
          if (pattern.test(row.subject) || pattern.test(row.body)) {
            found.push(row.id)
            kinds.add(what)
          }
      if (rows.rows.length === 0) return pass('no notification was sent in the last 7 days', { notifications: 0 })
      return verdict(
        found.length === 0,
        found.length === 0
          ? `${count(rows.rows.length, 'notification')} of the last 7 days, none with a credential or sign-in link`
          : `${count(found.length, 'notification')} carry ${[...kinds].join(', ')}`,
        { notifications: rows.rows.length, withCredentials: found.length, notificationIds: some(found) },
      )
    },
  ),
]
