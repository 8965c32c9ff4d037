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
  // One lookup per id, by primary key (memberships' (org_id, user_id), then users' id and
  // its row-level policy's membership check): a page's names cost its rows, never the
  // org's size. One statement for many ids lets the planner, without statistics, hash the
  // org's memberships whole for the users table's policy (test/perf/row-bounds.test.ts).
  const rows: { id: string; email: string }[] = []
  for (const id of ids) {
    const row = await trx
      .selectFrom('memberships as m')
      .innerJoin('users as u', 'u.id', 'm.user_id')
      .select(['u.id', 'u.email'])
      .where('m.org_id', '=', orgId)
      .where('m.user_id', '=', id)
      .executeTakeFirst()
    if (row !== undefined) rows.push(row)
  }
  return Object.fromEntries(rows.map((r) => [r.id, r.email]))
}

/**
 * Who each actor reference names, in words, for pages to show a person or an account rather
 * than an id: `refs` are actor references ("user:<id>", "service_account:<id>"); the answer
 * maps each reference to the member's email (members of `orgId` only, as {@link memberEmails})
 * or the org's service account's name. Other references (`system:…`), former members and
 * deleted accounts are left out: the page says what kind of actor it was.
 */
export async function actorNames(
  trx: Trx,
  orgId: string,
  refs: Iterable<string | null | undefined>,
): Promise<Record<string, string>> {
  const all = [...refs].filter((r): r is string => typeof r === 'string')
  const users = all.filter((r) => r.startsWith('user:'))
  const accounts = [
    ...new Set(
      all
        .filter((r) => r.startsWith('service_account:'))
        .map((r) => r.slice('service_account:'.length).toLowerCase())
        .filter((id) => UUID.test(id)),
    ),
  ]
  const emails = await memberEmails(trx, orgId, users)
  const names: Record<string, string> = {}
  for (const ref of users) {
    const email = emails[ref.slice('user:'.length).toLowerCase()]
    if (email !== undefined) names[ref] = email
  }
  if (accounts.length > 0) {
    const rows = await trx
      .selectFrom('service_accounts')
      .select(['id', 'name'])
      .where('org_id', '=', orgId)
      .where('id', 'in', accounts)
      .execute()
    for (const row of rows) names[`service_account:${row.id}`] = row.name
  }
  return names
}
