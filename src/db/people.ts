import { sql } from 'kysely'
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
  // its row-level policy's membership check), all in one statement: a page's names cost its
  // rows, never the org's size, and one round trip. The LIMIT keeps the planner from
  // flattening the lateral subquery into a join, which without statistics it may plan as a
  // hash of the org's memberships whole (test/perf/row-bounds.test.ts); a statement per id
  // cost a page of 100 tokens ≈130 ms of CPU on PGlite (docs/benchmarks.md).
  const { rows } = await sql<{ id: string; email: string }>`
    SELECT found.id, found.email FROM unnest(${[...ids]}::uuid[]) AS wanted(id)
      CROSS JOIN LATERAL (
        SELECT u.id, u.email FROM memberships m JOIN users u ON u.id = m.user_id
          WHERE m.org_id = ${orgId} AND m.user_id = wanted.id
          LIMIT 1
      ) AS found`.execute(trx)
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
