import { sql, type Insertable, type Kysely, type Selectable } from 'kysely'
import type { DB } from '../../db/schema.ts'
import {
  decodeCursor,
  encodeCursor,
  inIndexOrder,
  keyOf,
  type Page,
  type PageOrder,
  type PageRequest,
  pageOf,
  readPage,
  toPage,
} from '../../db/page.ts'
import type { Trx } from '../../db/tenant.ts'
import type {
  ApiTokensTable,
  InvitationsTable,
  OrgsTable,
  ServiceAccountsTable,
  SessionsTable,
  UsersTable,
} from './identity.tables.ts'

/** SQL for identity. Every function takes the transaction first; none decides a rule. */

export type OrgRow = Selectable<OrgsTable>
export type UserRow = Selectable<UsersTable>
export type ApiTokenRow = Selectable<ApiTokensTable>
export type SessionRow = Selectable<SessionsTable>
export type InvitationRow = Selectable<InvitationsTable>
export type ServiceAccountRow = Selectable<ServiceAccountsTable>

// ---- credential resolution: single statements on the owner connection (the org is not
// known yet), so they take the database handle rather than a transaction ----

export interface AuthExtras {
  org_kind: 'provider' | 'customer'
  /** The principal's current role; null when the member was removed. */
  role: string | null
  mfa_confirmed_at: Date | null
  /** A passkey counts as a second factor (issue 12). */
  has_passkey: boolean
  require_2fa: boolean | null
  step_up_minutes: number | null
  ip_allowlist: { cidr: string }[] | null
  /** The owner's binding's secret path patterns (membership or service account); null: unrestricted. */
  owner_secret_paths: string[] | null
  /**
   * The org's credential epoch (migration 0063) in the same snapshot as the rest: what a
   * cached copy of this credential is confirmed against (src/db/credential-epoch.ts).
   */
  credential_epoch: string
}

export interface TokenForAuth extends ApiTokenRow, AuthExtras {}

export async function findTokenForAuth(trx: Kysely<DB>, id: string): Promise<TokenForAuth | undefined> {
  return (
    trx
      .selectFrom('api_tokens as t')
      .innerJoin('orgs as o', 'o.id', 't.org_id')
      .leftJoin('memberships as m', (join) =>
        join.onRef('m.org_id', '=', 't.org_id').onRef('m.user_id', '=', 't.user_id'),
      )
      .leftJoin('service_accounts as sa', 'sa.id', 't.service_account_id')
      .leftJoin('user_mfa as um', 'um.user_id', 't.user_id')
      .leftJoin('org_security_policies as osp', 'osp.org_id', 't.org_id')
      .selectAll('t')
      // A suspended member's role reads as null: no access until resumed (P2.6).
      .select([
        'o.kind as org_kind',
        sql<string | null>`CASE WHEN t.user_id IS NULL THEN sa.role WHEN m.suspended_at IS NULL THEN m.role END`.as(
          'role',
        ),
        sql<string[] | null>`CASE WHEN t.user_id IS NULL THEN sa.secret_paths ELSE m.secret_paths END`.as(
          'owner_secret_paths',
        ),
        'um.confirmed_at as mfa_confirmed_at',
        sql<boolean>`EXISTS (SELECT 1 FROM user_passkeys up WHERE up.user_id = t.user_id)`.as('has_passkey'),
        'osp.require_2fa',
        'osp.step_up_minutes',
        'osp.ip_allowlist',
        sql<string>`COALESCE((SELECT e.epoch FROM credential_epochs e WHERE e.org_id = t.org_id), 0)`.as(
          'credential_epoch',
        ),
      ])
      .where('t.id', '=', id)
      .executeTakeFirst()
  )
}

/** Records use at most once a minute per token: a write per request would cap throughput. */
export async function touchToken(trx: Kysely<DB>, id: string): Promise<void> {
  await sql`
    UPDATE api_tokens SET last_used_at = now()
     WHERE id = ${id} AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
  `.execute(trx)
}

export interface SessionForAuth extends SessionRow, AuthExtras {}

export async function findSessionForAuth(trx: Kysely<DB>, id: string): Promise<SessionForAuth | undefined> {
  return trx
    .selectFrom('sessions as s')
    .innerJoin('orgs as o', 'o.id', 's.org_id')
    .leftJoin('memberships as m', (join) =>
      join.onRef('m.org_id', '=', 's.org_id').onRef('m.user_id', '=', 's.user_id'),
    )
    .leftJoin('user_mfa as um', 'um.user_id', 's.user_id')
    .leftJoin('org_security_policies as osp', 'osp.org_id', 's.org_id')
    .selectAll('s')
    .select([
      'o.kind as org_kind',
      sql<string | null>`CASE WHEN m.suspended_at IS NULL THEN m.role END`.as('role'),
      'm.secret_paths as owner_secret_paths',
      'um.confirmed_at as mfa_confirmed_at',
      sql<boolean>`EXISTS (SELECT 1 FROM user_passkeys up WHERE up.user_id = s.user_id)`.as('has_passkey'),
      'osp.require_2fa',
      'osp.step_up_minutes',
      'osp.ip_allowlist',
      sql<string>`COALESCE((SELECT e.epoch FROM credential_epochs e WHERE e.org_id = s.org_id), 0)`.as(
        'credential_epoch',
      ),
    ])
    .where('s.id', '=', id)
    .executeTakeFirst()
}

export async function touchSession(trx: Kysely<DB>, id: string): Promise<void> {
  await sql`
    UPDATE sessions SET last_seen_at = now()
     WHERE id = ${id} AND last_seen_at < now() - interval '30 seconds'
  `.execute(trx)
}

/**
 * What an org requires of a sign-in before any org context exists (owner connection, one
 * statement): its IP allowlist ranges (P2.9) and whether it is SSO-only (P3.4).
 */
export async function signInPolicy(
  trx: Kysely<DB>,
  orgId: string,
): Promise<{ ipAllowlist: string[]; ssoOnly: boolean }> {
  const row = await trx
    .selectFrom('orgs as o')
    .leftJoin('org_security_policies as p', 'p.org_id', 'o.id')
    .leftJoin('org_sso_configs as s', 's.org_id', 'o.id')
    .select(['p.ip_allowlist', 's.sso_only'])
    .where('o.id', '=', orgId)
    .executeTakeFirst()
  return { ipAllowlist: (row?.ip_allowlist ?? []).map((e) => e.cidr), ssoOnly: row?.sso_only === true }
}

export async function customRolePermissions(
  trx: Kysely<DB>,
  orgId: string,
  name: string,
): Promise<string[] | undefined> {
  const row = await trx
    .selectFrom('custom_roles')
    .select('permissions')
    .where('org_id', '=', orgId)
    .where('name', '=', name)
    .executeTakeFirst()
  return row?.permissions
}

// ---- bootstrap ----

export async function providerOrg(trx: Trx): Promise<OrgRow | undefined> {
  return trx.selectFrom('orgs').selectAll().where('kind', '=', 'provider').executeTakeFirst()
}

export async function replaceBootstrapToken(
  trx: Trx,
  row: { id: string; secret_hash: Buffer; expires_at: Date },
): Promise<void> {
  // Only the newest bootstrap token works: issuing one retires every unused older one.
  await trx.deleteFrom('bootstrap_tokens').where('used_at', 'is', null).execute()
  await trx.insertInto('bootstrap_tokens').values(row).execute()
}

export async function lockBootstrapToken(trx: Trx, id: string) {
  return trx.selectFrom('bootstrap_tokens').selectAll().where('id', '=', id).forUpdate().executeTakeFirst()
}

export async function markBootstrapTokenUsed(trx: Trx, id: string): Promise<void> {
  await trx.updateTable('bootstrap_tokens').set({ used_at: new Date() }).where('id', '=', id).execute()
}

// ---- orgs and users ----

export async function insertOrg(trx: Trx, row: Insertable<OrgsTable>): Promise<OrgRow> {
  return trx.insertInto('orgs').values(row).returningAll().executeTakeFirstOrThrow()
}

export async function findOrg(trx: Trx, id: string): Promise<OrgRow | undefined> {
  return orgQuery(trx, id).executeTakeFirst()
}

/** The org's row, as a statement to run (`queryInOrg`: a read of one round trip). */
export function orgQuery(trx: Trx, id: string) {
  return trx.selectFrom('orgs').selectAll().where('id', '=', id)
}

/** The org's time zone (an IANA name), read in the org's own transaction. */
export async function orgTimeZone(trx: Trx, id: string): Promise<string> {
  return (await trx.selectFrom('orgs').select('time_zone').where('id', '=', id).executeTakeFirst())?.time_zone ?? 'UTC'
}

export async function updateOrg(
  trx: Trx,
  id: string,
  change: { name?: string | undefined; time_zone?: string | undefined },
): Promise<OrgRow | undefined> {
  const set = {
    ...(change.name === undefined ? {} : { name: change.name }),
    ...(change.time_zone === undefined ? {} : { time_zone: change.time_zone }),
  }
  return trx.updateTable('orgs').set(set).where('id', '=', id).returningAll().executeTakeFirst()
}

export async function findUserByEmail(trx: Trx, email: string): Promise<UserRow | undefined> {
  return trx.selectFrom('users').selectAll().where(sql`lower(email)`, '=', email.toLowerCase()).executeTakeFirst()
}

export async function insertUser(trx: Trx, row: Insertable<UsersTable>): Promise<void> {
  await trx.insertInto('users').values(row).execute()
}

export async function recordLoginSuccess(trx: Trx, userId: string): Promise<void> {
  await trx.updateTable('users').set({ last_login_at: new Date() }).where('id', '=', userId).execute()
}

// ---- brute-force throttle (owner transaction; docs/authentication.md) ----

export interface ThrottleRow {
  key: string
  failures: number
  /** Seconds since the key's last failure, by the database's clock (shared by N processes). */
  idle_seconds: number
}

/**
 * Locks the counters of `keys` for this transaction (creating missing ones at zero), in
 * key order so that concurrent attempts cannot deadlock. Counters older than the window
 * read as zero.
 */
export async function lockThrottle(trx: Trx, keys: string[], windowSeconds: number): Promise<Map<string, ThrottleRow>> {
  const sorted = [...new Set(keys)].sort()
  const rows = new Map<string, ThrottleRow>()
  for (const key of sorted) {
    await sql`INSERT INTO auth_throttle (key, failures) VALUES (${key}, 0) ON CONFLICT (key) DO NOTHING`.execute(trx)
    const found = await sql<ThrottleRow>`
      SELECT key,
             CASE WHEN last_failure_at < now() - make_interval(secs => ${windowSeconds}) THEN 0 ELSE failures END AS failures,
             extract(epoch FROM now() - last_failure_at)::float8 AS idle_seconds
        FROM auth_throttle WHERE key = ${key} FOR UPDATE`.execute(trx)
    const row = found.rows[0]
    if (row !== undefined)
      rows.set(key, { key, failures: Number(row.failures), idle_seconds: Number(row.idle_seconds) })
  }
  return rows
}

/** Counts one failure against each key, in SQL; a counter past the window starts again at one. */
export async function chargeThrottle(trx: Trx, keys: string[], windowSeconds: number): Promise<void> {
  for (const key of [...new Set(keys)].sort()) {
    await sql`
      UPDATE auth_throttle
         SET failures = CASE WHEN last_failure_at < now() - make_interval(secs => ${windowSeconds}) THEN 1 ELSE failures + 1 END,
             last_failure_at = now()
       WHERE key = ${key}`.execute(trx)
  }
}

/** Takes back one charged failure (the attempt succeeded); the pair's counter is cleared. */
export async function refundThrottle(trx: Trx, input: { clear?: string; decrement: string[] }): Promise<void> {
  if (input.clear !== undefined) await sql`DELETE FROM auth_throttle WHERE key = ${input.clear}`.execute(trx)
  for (const key of [...new Set(input.decrement)].sort()) {
    await sql`UPDATE auth_throttle SET failures = greatest(failures - 1, 0) WHERE key = ${key}`.execute(trx)
  }
}

/** Forgets counters idle longer than the window (they read as zero anyway). */
export async function purgeThrottle(trx: Trx, windowSeconds: number): Promise<number> {
  const result =
    await sql`DELETE FROM auth_throttle WHERE last_failure_at < now() - make_interval(secs => ${windowSeconds})`.execute(
      trx,
    )
  return Number(result.numAffectedRows ?? 0n)
}

// ---- memberships (tenant transaction) ----

export interface MemberRow {
  user_id: string
  email: string
  role: string
  created_at: Date
  suspended_at: Date | null
  /** Secret path patterns the role reaches; null: every secret. */
  secret_paths: string[] | null
}

export async function insertMembership(
  trx: Trx,
  row: { org_id: string; user_id: string; role: string; secret_paths?: string[] | null },
): Promise<void> {
  await trx.insertInto('memberships').values(row).execute()
}

export async function listMembers(trx: Trx): Promise<MemberRow[]> {
  return trx
    .selectFrom('memberships as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .select(['m.user_id', 'u.email', 'm.role', 'm.created_at', 'm.suspended_at', 'm.secret_paths'])
    .orderBy('m.created_at')
    .execute()
}

/** Members in the order they joined (index `(org_id, created_at, user_id)`). */
const JOINED: PageOrder = {
  keys: [
    { column: 'm.created_at', type: 'timestamptz' },
    { column: 'm.user_id', type: 'uuid' },
  ],
  direction: 'asc',
}

export async function pageMembers(trx: Trx, page: PageRequest): Promise<Page<MemberRow>> {
  const query = trx
    .selectFrom('memberships as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .select(['m.user_id', 'u.email', 'm.role', 'm.created_at', 'm.suspended_at', 'm.secret_paths'])
  return readPage(trx, query, JOINED, page)
}

export async function findMember(trx: Trx, userId: string): Promise<MemberRow | undefined> {
  return trx
    .selectFrom('memberships as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .select(['m.user_id', 'u.email', 'm.role', 'm.created_at', 'm.suspended_at', 'm.secret_paths'])
    .where('m.user_id', '=', userId)
    .executeTakeFirst()
}

export async function setMemberRole(
  trx: Trx,
  userId: string,
  role: string,
  secretPaths: string[] | null,
): Promise<void> {
  await trx.updateTable('memberships').set({ role, secret_paths: secretPaths }).where('user_id', '=', userId).execute()
}

export async function countActiveOwners(trx: Trx): Promise<number> {
  const row = await trx
    .selectFrom('memberships')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('role', '=', 'owner')
    .where('suspended_at', 'is', null)
    .executeTakeFirstOrThrow()
  return Number(row.n)
}

/** Active owners with no secret path scope (docs/secret-paths.md): those who reach every secret. */
export async function countActiveUnrestrictedOwners(trx: Trx): Promise<number> {
  const row = await trx
    .selectFrom('memberships')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('role', '=', 'owner')
    .where('suspended_at', 'is', null)
    .where('secret_paths', 'is', null)
    .executeTakeFirstOrThrow()
  return Number(row.n)
}

/** Whether a member of the org other than `userId`, not suspended, holds one of `roles`: through memberships_org_role, the roles' members only. */
export async function anotherActiveMember(
  trx: Trx,
  orgId: string,
  userId: string,
  roles: readonly string[],
): Promise<boolean> {
  const row = await trx
    .selectFrom('memberships')
    .select('user_id')
    .where('org_id', '=', orgId)
    .where('role', 'in', [...roles])
    .where('user_id', '<>', userId)
    .where('suspended_at', 'is', null)
    .limit(1)
    .executeTakeFirst()
  return row !== undefined
}

export async function setSuspended(trx: Trx, userId: string, suspended: boolean): Promise<boolean> {
  const result = await trx
    .updateTable('memberships')
    .set({ suspended_at: suspended ? new Date() : null })
    .where('user_id', '=', userId)
    .where('suspended_at', suspended ? 'is' : 'is not', null)
    .executeTakeFirst()
  return Number(result.numUpdatedRows) === 1
}

export async function deleteMembership(trx: Trx, userId: string): Promise<void> {
  await trx.deleteFrom('memberships').where('user_id', '=', userId).execute()
}

/** Revokes every API token and session a user holds in the current org. */
export async function revokeCredentialsOfUser(trx: Trx, userId: string): Promise<{ tokens: number; sessions: number }> {
  const now = new Date()
  const tokens = await trx
    .updateTable('api_tokens')
    .set({ revoked_at: now })
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst()
  const sessions = await trx
    .updateTable('sessions')
    .set({ revoked_at: now })
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst()
  return { tokens: Number(tokens.numUpdatedRows), sessions: Number(sessions.numUpdatedRows) }
}

// ---- invitations ----

export async function insertInvitation(trx: Trx, row: Insertable<InvitationsTable>): Promise<void> {
  await trx.insertInto('invitations').values(row).execute()
}

export async function lockInvitation(trx: Trx, id: string): Promise<InvitationRow | undefined> {
  return trx.selectFrom('invitations').selectAll().where('id', '=', id).forUpdate().executeTakeFirst()
}

export async function markInvitationAccepted(trx: Trx, id: string): Promise<void> {
  await trx.updateTable('invitations').set({ accepted_at: new Date() }).where('id', '=', id).execute()
}

export async function listPendingInvitations(trx: Trx): Promise<InvitationRow[]> {
  return trx
    .selectFrom('invitations')
    .selectAll()
    .where('accepted_at', 'is', null)
    .where('expires_at', '>', new Date())
    .orderBy('created_at')
    .execute()
}

// ---- service accounts ----

export async function insertServiceAccount(
  trx: Trx,
  row: Insertable<ServiceAccountsTable>,
): Promise<ServiceAccountRow> {
  return trx.insertInto('service_accounts').values(row).returningAll().executeTakeFirstOrThrow()
}

export async function listServiceAccounts(trx: Trx): Promise<ServiceAccountRow[]> {
  return trx.selectFrom('service_accounts').selectAll().orderBy('created_at').execute()
}

/** Oldest first, as they were created (index `(org_id, created_at, id)`). */
const CREATED: PageOrder = {
  keys: [
    { column: 'created_at', type: 'timestamptz' },
    { column: 'id', type: 'uuid' },
  ],
  direction: 'asc',
}

export async function pageServiceAccounts(trx: Trx, page: PageRequest): Promise<Page<ServiceAccountRow>> {
  return readPage(trx, trx.selectFrom('service_accounts').selectAll(), CREATED, page)
}

// ---- everyone with access, a page at a time (the least-privilege report) ----

/** A principal's last activity in the org, from the newest of its live tokens' uses and (members) of its sessions. */
export interface Activity {
  last_token_use: Date | null
  last_session: Date | null
}

/**
 * The principals' list: members in join order, then service accounts in creation order.
 * Its cursor names the part first, then the last row's key in that part's order.
 */
const PRINCIPALS: PageOrder = {
  keys: [{ column: 'part', type: 'text', oneOf: ['member', 'service_account'] }, ...CREATED.keys],
  direction: 'asc',
}

/** Service accounts in creation order, under the alias the principals' page reads them by. */
const ACCOUNTS: PageOrder = {
  keys: CREATED.keys.map((k) => ({ ...k, column: `a.${k.column}` })),
  direction: 'asc',
}

/**
 * One page of the org's principals (members, then service accounts), each with its last
 * token use and (members) session, read by one probe of an index per principal
 * (`api_tokens_*_used`, `sessions_org_user`): the page costs its own rows, whatever the
 * membership. A page fills across the boundary between members and service accounts.
 * Errors: 400 VALIDATION_FAILED for a cursor this list did not issue.
 */
export async function pagePrincipals(
  trx: Trx,
  page: PageRequest,
): Promise<{
  members: (MemberRow & Activity)[]
  serviceAccounts: (ServiceAccountRow & Activity)[]
  nextCursor: string | null
}> {
  const [part, ...key] = page.cursor === undefined ? [] : decodeCursor(PRINCIPALS, page.cursor)
  const from = key.length === 0 ? undefined : encodeCursor(key)
  const members = trx
    .selectFrom('memberships as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .select(['m.user_id', 'u.email', 'm.role', 'm.created_at', 'm.suspended_at', 'm.secret_paths'])
    .select((eb) => [
      eb
        .selectFrom('api_tokens as t')
        .select((e) => e.fn.max('t.last_used_at').as('used'))
        .whereRef('t.user_id', '=', 'm.user_id')
        .where('t.revoked_at', 'is', null)
        .as('last_token_use'),
      eb
        .selectFrom('sessions as s')
        .select((e) => e.fn.max('s.last_seen_at').as('seen'))
        .whereRef('s.user_id', '=', 'm.user_id')
        .as('last_session'),
    ])
  const accounts = trx
    .selectFrom('service_accounts as a')
    .selectAll('a')
    .select((eb) =>
      eb
        .selectFrom('api_tokens as t')
        .select((e) => e.fn.max('t.last_used_at').as('used'))
        .whereRef('t.service_account_id', '=', 'a.id')
        .where('t.revoked_at', 'is', null)
        .as('last_token_use'),
    )
  const cursorAt = (which: string, row: Record<`page_key_${number}`, string>, order: PageOrder) =>
    encodeCursor([which, ...keyOf(row, order)])

  return inIndexOrder(trx, async () => {
    let memberRows: (MemberRow & Activity & Record<`page_key_${number}`, string>)[] = []
    if (part === undefined || part === 'member') {
      const read = toPage(
        await pageOf(members, JOINED, { limit: page.limit, cursor: from }).execute(),
        JOINED,
        page.limit,
      )
      const last = read.items[read.items.length - 1]
      if (read.nextCursor !== null && last !== undefined)
        return { members: read.items, serviceAccounts: [], nextCursor: cursorAt('member', last, JOINED) }
      memberRows = read.items
    }
    // The rest of the page from the service accounts. With no room left, the one row read
    // (pageOf reads limit + 1) says whether any follow.
    const room = page.limit - memberRows.length
    const rows = await pageOf(accounts, ACCOUNTS, {
      limit: room,
      cursor: part === 'service_account' ? from : undefined,
    }).execute()
    const read = toPage(rows, ACCOUNTS, room)
    const lastAccount = read.items[read.items.length - 1]
    const lastMember = memberRows[memberRows.length - 1]
    const nextCursor =
      read.nextCursor !== null && lastAccount !== undefined
        ? cursorAt('service_account', lastAccount, ACCOUNTS)
        : room === 0 && rows.length > 0 && lastMember !== undefined
          ? cursorAt('member', lastMember, JOINED)
          : null
    return {
      members: memberRows,
      serviceAccounts: read.items.map((r) => ({ ...r, last_session: null })),
      nextCursor,
    }
  })
}

export async function findServiceAccount(trx: Trx, id: string): Promise<ServiceAccountRow | undefined> {
  return trx.selectFrom('service_accounts').selectAll().where('id', '=', id).executeTakeFirst()
}

/** The names of the given service accounts of the org in scope (ids not found are left out). */
export async function serviceAccountNames(trx: Trx, ids: string[]): Promise<{ id: string; name: string }[]> {
  if (ids.length === 0) return []
  return trx.selectFrom('service_accounts').select(['id', 'name']).where('id', 'in', ids).execute()
}

/** Gives a service account another role; its tokens read their permissions from it at each request. */
export async function setServiceAccountRole(
  trx: Trx,
  id: string,
  role: string,
  secretPaths: string[] | null,
): Promise<void> {
  await trx.updateTable('service_accounts').set({ role, secret_paths: secretPaths }).where('id', '=', id).execute()
}

export async function deleteServiceAccount(trx: Trx, id: string): Promise<boolean> {
  const result = await trx.deleteFrom('service_accounts').where('id', '=', id).executeTakeFirst()
  return Number(result.numDeletedRows) > 0
}

// ---- API tokens and sessions ----

export async function insertApiToken(trx: Trx, row: Insertable<ApiTokensTable>): Promise<ApiTokenRow> {
  return trx.insertInto('api_tokens').values(row).returningAll().executeTakeFirstOrThrow()
}

export async function listApiTokens(trx: Trx): Promise<ApiTokenRow[]> {
  return trx.selectFrom('api_tokens').selectAll().orderBy('created_at').execute()
}

export async function pageApiTokens(trx: Trx, page: PageRequest): Promise<Page<ApiTokenRow>> {
  return readPage(trx, trx.selectFrom('api_tokens').selectAll(), CREATED, page)
}

export async function revokeApiToken(trx: Trx, id: string): Promise<ApiTokenRow | undefined> {
  return trx
    .updateTable('api_tokens')
    .set({ revoked_at: new Date() })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .returningAll()
    .executeTakeFirst()
}

export async function findApiToken(trx: Trx, id: string): Promise<ApiTokenRow | undefined> {
  return trx.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirst()
}

export async function insertSession(trx: Trx, row: Insertable<SessionsTable>): Promise<void> {
  await trx.insertInto('sessions').values(row).execute()
}

export async function revokeSession(trx: Trx, id: string): Promise<void> {
  await trx.updateTable('sessions').set({ revoked_at: new Date() }).where('id', '=', id).execute()
}

export interface AccountOrgRow {
  org_id: string
  name: string
  kind: 'provider' | 'customer'
  role: string
  created_at: Date
  suspended_at: Date | null
}

/** An account's memberships in the order they were made (index `(user_id, created_at, org_id)`, 0031). */
const ACCOUNT_JOINED: PageOrder = {
  keys: [
    { column: 'm.created_at', type: 'timestamptz' },
    { column: 'm.org_id', type: 'uuid' },
  ],
  direction: 'asc',
}

/**
 * A page of the orgs one account belongs to, across orgs: run it in the owner's
 * transaction (withOwner), as the credential gate reads memberships, and only for the
 * account the caller has proven to be.
 */
export async function pageOrgsOfUser(
  trx: Trx,
  userId: string,
  page: PageRequest,
  onlyOrg?: string,
): Promise<Page<AccountOrgRow>> {
  let query = trx
    .selectFrom('memberships as m')
    .innerJoin('orgs as o', 'o.id', 'm.org_id')
    .select(['m.org_id', 'o.name', 'o.kind', 'm.role', 'm.created_at', 'm.suspended_at'])
    .where('m.user_id', '=', userId)
  if (onlyOrg !== undefined) query = query.where('m.org_id', '=', onlyOrg)
  return readPage(trx, query, ACCOUNT_JOINED, page)
}

/** A service account's one org, in the shape of {@link pageOrgsOfUser}'s rows. */
export async function orgOfServiceAccount(trx: Trx, accountId: string): Promise<AccountOrgRow | undefined> {
  return trx
    .selectFrom('service_accounts as s')
    .innerJoin('orgs as o', 'o.id', 's.org_id')
    .select(['s.org_id', 'o.name', 'o.kind', 's.role', 's.created_at', sql<null>`NULL::timestamptz`.as('suspended_at')])
    .where('s.id', '=', accountId)
    .executeTakeFirst()
}
