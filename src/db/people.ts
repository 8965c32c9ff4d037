import type { Trx } from './tenant.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * The emails of the people a response names, for pages to show a person rather than an id:
 * `refs` are actor references ("user:<id>", or a bare user id); the answer maps each user id
 * to the email of that user — only for members of `orgId`, so never another org's people
 * (the users table's row-level policy says the same inside `withOrg`). Other references
 * (`service_account:…`, `system:…`) and former members are left out: the page shows the
 * reference as it is.
 */
export async function memberEmails(
  trx: Trx,
  orgId: string,
  refs: Iterable<string | null | undefined>,
): Promise<Record<string, string>> {
  const ids = new Set<string>()
  for (const ref of refs) {
    if (ref === null || ref === undefined) continue
    const id = ref.startsWith('user:') ? ref.slice('user:'.length) : ref
    if (UUID.test(id)) ids.add(id.toLowerCase())
  }
  if (ids.size === 0) return {}
  const rows = await trx
    .selectFrom('memberships')
    .innerJoin('users', 'users.id', 'memberships.user_id')
    .select(['users.id', 'users.email'])
    .where('memberships.org_id', '=', orgId)
    .where('users.id', 'in', [...ids])
    .execute()
  return Object.fromEntries(rows.map((r) => [r.id, r.email]))
}
