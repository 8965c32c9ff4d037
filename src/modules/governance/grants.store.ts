import { sql, type Insertable, type Kysely, type Selectable } from 'kysely'
import type { DB } from '../../db/schema.ts'
import { memberEmails } from '../../db/people.ts'
import { newestFirst, type Page, type PageRequest, readPage } from '../../db/page.ts'
import type { Trx } from '../../db/tenant.ts'
import type { AccessGrantsTable } from './governance.tables.ts'

/** SQL for diagnostic access grants. Every function takes the transaction first; none decides a rule. */

export type GrantRow = Selectable<AccessGrantsTable>

export async function insertGrant(trx: Trx, row: Insertable<AccessGrantsTable>): Promise<GrantRow> {
  return trx.insertInto('access_grants').values(row).returningAll().executeTakeFirstOrThrow()
}

export async function findGrant(trx: Trx, id: string, lock = false): Promise<GrantRow | undefined> {
  const query = trx.selectFrom('access_grants').selectAll().where('id', '=', id)
  return (lock ? query.forUpdate() : query).executeTakeFirst()
}

/** Newest request first (index `(org_id, requested_at, id)`). */
const NEWEST = newestFirst('requested_at')

export async function listGrants(trx: Trx, page: PageRequest): Promise<Page<GrantRow>> {
  return readPage(trx, trx.selectFrom('access_grants').selectAll(), NEWEST, page)
}

/** An operator's own requests, across orgs, a page at a time (index `(grantee_user_id, requested_at, id)`). */
export async function pageGrantsOfGrantee(
  db: Kysely<DB>,
  userId: string,
  page: PageRequest,
): Promise<Page<GrantRow & { org_name: string }>> {
  const order = newestFirst('g.requested_at', 'g.id')
  // A transaction of its own: the page is read in index order (settings local to it).
  return db.transaction().execute((trx) => {
    const query = trx
      .selectFrom('access_grants as g')
      .innerJoin('orgs as o', 'o.id', 'g.org_id')
      .selectAll('g')
      .select('o.name as org_name')
      .where('g.grantee_user_id', '=', userId)
    return readPage(trx, query, order, page)
  })
}

/**
 * One grant of a grantee, by id, whichever org it is in (owner connection: the operator acts
 * from the provider org); undefined when it is not theirs. One primary-key read.
 */
export async function grantOfGrantee(db: Kysely<DB>, userId: string, grantId: string): Promise<GrantRow | undefined> {
  return db
    .selectFrom('access_grants')
    .selectAll()
    .where('id', '=', grantId)
    .where('grantee_user_id', '=', userId)
    .executeTakeFirst()
}

/**
 * One grant of a grantee with its org's name, as their list shows it (owner connection);
 * undefined when it is not theirs. One primary-key read and one join.
 */
export async function namedGrantOfGrantee(
  db: Kysely<DB>,
  userId: string,
  grantId: string,
): Promise<(GrantRow & { org_name: string }) | undefined> {
  return db
    .selectFrom('access_grants as g')
    .innerJoin('orgs as o', 'o.id', 'g.org_id')
    .selectAll('g')
    .select('o.name as org_name')
    .where('g.id', '=', grantId)
    .where('g.grantee_user_id', '=', userId)
    .executeTakeFirst()
}

export async function updateGrant(
  trx: Trx,
  id: string,
  changes: Partial<
    Pick<
      GrantRow,
      | 'status'
      | 'starts_at'
      | 'expires_at'
      | 'decided_at'
      | 'decided_by'
      | 'decision_note'
      | 'required_approvals'
      | 'ended_at'
      | 'ended_by'
      | 'end_note'
    >
  >,
): Promise<GrantRow> {
  return trx.updateTable('access_grants').set(changes).where('id', '=', id).returningAll().executeTakeFirstOrThrow()
}

export async function approvalsOf(
  trx: Trx,
  grantIds: string[],
): Promise<
  {
    grant_id: string
    approver_user_id: string
    approver_email: string | null
    approved_at: Date
    note: string | null
  }[]
> {
  if (grantIds.length === 0) return []
  return trx
    .selectFrom('access_grant_approvals')
    .select(['grant_id', 'approver_user_id', 'approver_email', 'approved_at', 'note'])
    .where('grant_id', 'in', grantIds)
    .orderBy('approved_at')
    .execute()
}

/** How many other approvers a grant's answer names by email; the rest are counted. */
export const APPROVERS_SHOWN = 10

/**
 * The members of the current org, not suspended and not in `excluded`, whose role holds
 * `grants:approve` and every permission in `needed` (the built-in roles in `builtInRoles`,
 * decided in code; the org's custom roles, read here): the first {@link APPROVERS_SHOWN}
 * emails in order, and how many there are. The members are read through
 * memberships_org_role (migration 0049) by role name, never the org's whole membership;
 * each email is one primary-key lookup (as db/people.ts, for the users table's policy).
 */
export async function approversOf(
  trx: Trx,
  orgId: string,
  input: { builtInRoles: readonly string[]; needed: readonly string[]; excluded: readonly string[] },
): Promise<{ emails: string[]; count: number }> {
  const needed = [...new Set(['grants:approve', ...input.needed])]
  const custom = await trx
    .selectFrom('custom_roles')
    .select('name')
    .where('org_id', '=', orgId)
    .where(sql<boolean>`permissions @> ${needed}::text[]`)
    .execute()
  const roles = [...input.builtInRoles, ...custom.map((r) => r.name)]
  if (roles.length === 0) return { emails: [], count: 0 }
  let members = trx
    .selectFrom('memberships')
    .select('user_id')
    .where('org_id', '=', orgId)
    .where('role', 'in', roles)
    .where('suspended_at', 'is', null)
  if (input.excluded.length > 0) members = members.where('user_id', 'not in', [...input.excluded])
  const ids = (await members.execute()).map((r) => r.user_id)
  const emails = Object.values(await memberEmails(trx, orgId, ids)).sort()
  return { emails: emails.slice(0, APPROVERS_SHOWN), count: ids.length }
}

/** Adds an approval; false if this approver had approved already. */
export async function addApproval(
  trx: Trx,
  row: {
    grant_id: string
    org_id: string
    approver_user_id: string
    approver_email: string | null
    approved_at: Date
    note: string | null
  },
): Promise<boolean> {
  const inserted = await trx
    .insertInto('access_grant_approvals')
    .values(row)
    .onConflict((oc) => oc.doNothing())
    .returning('grant_id')
    .executeTakeFirst()
  return inserted !== undefined
}

export async function policyOf(
  trx: Kysely<DB>,
  orgId: string,
): Promise<{ max_days: number; required_approvals: number }> {
  const row = await trx
    .selectFrom('org_grant_policies')
    .select(['max_days', 'required_approvals'])
    .where('org_id', '=', orgId)
    .executeTakeFirst()
  return row ?? { max_days: 21, required_approvals: 1 }
}

export async function savePolicy(
  trx: Trx,
  row: { org_id: string; max_days: number; required_approvals: number; updated_by: string },
): Promise<void> {
  await trx
    .insertInto('org_grant_policies')
    .values(row)
    .onConflict((oc) =>
      oc.column('org_id').doUpdateSet({
        max_days: row.max_days,
        required_approvals: row.required_approvals,
        updated_by: row.updated_by,
        updated_at: new Date(),
      }),
    )
    .execute()
}

/**
 * A grant at the moment of use, with the org's IP allowlist, in one statement on the owner
 * connection (the request's org context is what the grant is about to establish).
 */
export async function grantForUse(
  db: Kysely<DB>,
  id: string,
  orgId: string,
): Promise<(GrantRow & { ip_allowlist: { cidr: string }[] | null }) | undefined> {
  return db
    .selectFrom('access_grants as g')
    .leftJoin('org_security_policies as p', 'p.org_id', 'g.org_id')
    .selectAll('g')
    .select('p.ip_allowlist')
    .where('g.id', '=', id)
    .where('g.org_id', '=', orgId)
    .executeTakeFirst()
}

export async function customerOrg(db: Kysely<DB>, orgId: string): Promise<{ id: string; name: string } | undefined> {
  return db
    .selectFrom('orgs')
    .select(['id', 'name'])
    .where('id', '=', orgId)
    .where('kind', '=', 'customer')
    .executeTakeFirst()
}

export async function userEmail(db: Kysely<DB>, userId: string): Promise<string | undefined> {
  return (await db.selectFrom('users').select('email').where('id', '=', userId).executeTakeFirst())?.email
}

/** Active grants of the current org at `now` (access reviews list them). */
export async function activeGrants(trx: Trx, now: Date): Promise<GrantRow[]> {
  return trx
    .selectFrom('access_grants')
    .selectAll()
    .where('status', '=', 'approved')
    .where('expires_at', '>', now)
    .execute()
}
