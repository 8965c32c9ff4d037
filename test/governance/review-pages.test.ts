import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { type Kysely, sql } from 'kysely'
import { countReviewItems } from '../../src/db/migrations/0027_membership_costs.ts'
import { forEachEngine } from '../helpers/db.ts'
import {
  bootstrapProvider,
  createCustomerOrg,
  principalWithRole,
  useTestApp,
  type Org,
  type TestApp,
} from '../helpers/app.ts'
import type { JsonBody } from '../helpers/json.ts'

/**
 * The least-privilege report and an access review's items come a page at a time (issue
 * 20): walked in pages of any size, they give exactly what one page of 500 gives — across
 * the boundary between members and service accounts too — and a campaign's item counts
 * follow its decisions without a count over its items.
 */
const MEMBERS = 12
const ACCOUNTS = 5
const cursorOf = (key: string[]) => Buffer.from(JSON.stringify(key)).toString('base64url')
const NO_ID = '00000000-0000-0000-0000-000000000000'

interface Fixture {
  org: Org
  /** The SQL-made members by number (1-based). */
  member: (n: number) => string
  accounts: string[]
  usedAt: Date
  seenAt: Date
}

/** An org of MEMBERS members (half of them joined at the same instant) beside its owner, and ACCOUNTS service accounts. */
async function buildFixture(t: TestApp): Promise<Fixture> {
  const provider = await bootstrapProvider(t)
  const org = await createCustomerOrg(t, provider, 'Paged Reviews', 'owner@paged-reviews.test')
  const accounts: string[] = []
  for (let i = 0; i < ACCOUNTS; i++) {
    const sa = await principalWithRole(t, org, i % 2 === 0 ? 'viewer' : 'admin')
    accounts.push(sa.serviceAccountId)
    // Permission use and token use of the first two accounts.
    if (i < 2)
      assert.equal((await t.request({ method: 'GET', url: `/v1/orgs/${org.orgId}`, token: sa.token })).status, 200)
  }
  const email = (n: number) => `member${n}@paged-reviews.test`
  await sql`INSERT INTO users (id, email) SELECT gen_random_uuid(), 'member' || g || '@paged-reviews.test'
              FROM generate_series(1, ${MEMBERS}) AS g`.execute(t.db.kysely)
  await sql`INSERT INTO memberships (org_id, user_id, role, created_at)
            SELECT ${org.orgId}, u.id, CASE WHEN g % 3 = 0 THEN 'admin' ELSE 'viewer' END,
                   now() + CASE WHEN g <= ${MEMBERS / 2} THEN interval '1 hour' ELSE g * interval '1 minute' + interval '2 hours' END
              FROM generate_series(1, ${MEMBERS}) AS g JOIN users u ON u.email = 'member' || g || '@paged-reviews.test'`.execute(
    t.db.kysely,
  )
  const ids = new Map(
    (
      await t.db.kysely
        .selectFrom('users')
        .select(['id', 'email'])
        .where('email', 'like', '%@paged-reviews.test')
        .execute()
    ).map((u) => [u.email, u.id]),
  )
  const member = (n: number) => ids.get(email(n)) as string
  const usedAt = new Date(Date.now() - 3_600_000)
  const seenAt = new Date(Date.now() - 7_200_000)
  // Member 3 used a token; member 4's only token use is on a revoked token (not activity);
  // member 5 has a session; member 7 used members:read (viewers hold it).
  await sql`INSERT INTO api_tokens (id, org_id, user_id, name, secret_hash, expires_at, created_by, last_used_at, revoked_at)
            VALUES (gen_random_uuid(), ${org.orgId}, ${member(3)}, 'm3', '\\x00', now() + interval '1 day', 'test', ${usedAt}, NULL),
                   (gen_random_uuid(), ${org.orgId}, ${member(4)}, 'm4', '\\x00', now() + interval '1 day', 'test', ${usedAt}, now())`.execute(
    t.db.kysely,
  )
  await sql`INSERT INTO sessions (id, org_id, user_id, secret_hash, csrf_hash, last_seen_at, expires_at)
            VALUES (gen_random_uuid(), ${org.orgId}, ${member(5)}, '\\x00', '\\x00', ${seenAt}, now() + interval '1 day')`.execute(
    t.db.kysely,
  )
  await sql`INSERT INTO permission_usage (org_id, principal_type, principal_id, permission, last_used_at)
            VALUES (${org.orgId}, 'user', ${member(7)}, 'members:read', now())`.execute(t.db.kysely)
  return { org, member, accounts, usedAt, seenAt }
}

/** Every row of a list walked in pages of `limit`, with the number of pages it took. */
async function walk(
  t: TestApp,
  url: string,
  key: string,
  token: string,
  limit: number,
): Promise<{ rows: JsonBody[]; pages: number }> {
  const rows: JsonBody[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const separator = url.includes('?') ? '&' : '?'
    const page = await t.request({
      method: 'GET',
      url: `${url}${separator}limit=${limit}${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`,
      token,
    })
    assert.equal(page.status, 200, page.text)
    const got = page.body[key] as JsonBody[]
    assert.ok(got.length <= limit, `${url}: ${got.length} rows in a page of ${limit}`)
    rows.push(...got)
    cursor = page.body.nextCursor as string | null
    pages++
    assert.ok(pages <= 100, 'the walk ends')
  } while (cursor !== null)
  return { rows, pages }
}

forEachEngine('least privilege and review items a page at a time (issue 20, P2.3, P2.5)', (engine) => {
  const t = useTestApp(engine)
  let f: Fixture
  const url = (path: string) => `/v1/orgs/${f.org.orgId}${path}`
  const get = (path: string) => t().request({ method: 'GET', url: url(path), token: f.org.ownerToken })
  before(async () => {
    f = await buildFixture(t())
  })

  it('P2.3 walks the least-privilege report in pages of any size to exactly one page of 500, across the member/service-account boundary', async () => {
    const whole = await get('/least-privilege?limit=500')
    assert.equal(whole.status, 200, whole.text)
    assert.equal(whole.body.nextCursor, null)
    const all = whole.body.principals as JsonBody[]
    assert.equal(all.length, 1 + MEMBERS + ACCOUNTS)
    assert.deepEqual(
      all.map((p) => p.kind),
      [...Array<string>(1 + MEMBERS).fill('member'), ...Array<string>(ACCOUNTS).fill('service_account')],
      'members first, then service accounts',
    )
    assert.deepEqual(
      all.filter((p) => p.kind === 'service_account').map((p) => p.id),
      f.accounts,
      'service accounts in creation order',
    )
    // 13 members: pages of 13 end exactly at the boundary, pages of 5 and 6 cross it.
    for (const limit of [1, 2, 5, 6, 1 + MEMBERS, 17, 18, 100]) {
      const { rows, pages } = await walk(t(), url('/least-privilege'), 'principals', f.org.ownerToken, limit)
      assert.deepEqual(rows, all, `pages of ${limit}`)
      assert.equal(
        pages,
        Math.max(1, Math.ceil(all.length / limit)),
        `pages of ${limit}: no page short of ${limit} but the last`,
      )
    }
  })

  it('P2.3 reads each page’s activity and use for its own principals: live tokens, sessions, permission use', async () => {
    const entries = new Map(
      ((await get('/least-privilege?limit=500')).body.principals as JsonBody[]).map((p) => [p.id as string, p]),
    )
    assert.equal(entries.get(f.member(3))?.lastActivityAt, f.usedAt.toISOString(), 'a token’s use')
    assert.equal(entries.get(f.member(4))?.lastActivityAt, null, 'a revoked token is not activity')
    assert.equal(entries.get(f.member(5))?.lastActivityAt, f.seenAt.toISOString(), 'a session')
    assert.deepEqual(entries.get(f.member(7))?.used, ['members:read'])
    assert.deepEqual(entries.get(f.accounts[0] as string)?.used, ['org:read'])
    assert.notEqual(entries.get(f.accounts[0] as string)?.lastActivityAt, null)
    assert.equal(entries.get(f.accounts[2] as string)?.lastActivityAt, null)
    // The same figures as the whole-org inventory an access review starts from.
    const inventory = await t().app.services.identity.inventory(f.org.orgId)
    for (const m of inventory.members)
      assert.equal(entries.get(m.userId)?.lastActivityAt, m.lastActivityAt?.toISOString() ?? null, m.email)
    for (const s of inventory.serviceAccounts)
      assert.equal(entries.get(s.id)?.lastActivityAt, s.lastActivityAt?.toISOString() ?? null, s.name)
  })

  it('refuses a cursor it did not issue with 400 VALIDATION_FAILED at /query/cursor', async () => {
    const members = await get('/members?limit=1')
    assert.equal(members.status, 200)
    const refused = async (path: string, cursor: string) => {
      const r = await get(`${path}?cursor=${encodeURIComponent(cursor)}`)
      assert.equal(r.status, 400, `${path} ${cursor}: ${r.text}`)
      assert.equal(r.body.code, 'VALIDATION_FAILED')
      assert.equal(r.body.errors[0].path, '/query/cursor')
      assert.match(r.headers['content-type'] as string, /application\/problem\+json/)
    }
    for (const cursor of [
      'not-a-cursor',
      members.body.nextCursor as string,
      cursorOf(['grant', '2026-01-01 00:00:00+00', NO_ID]),
      cursorOf(['member', '2026-02-31 00:00:00+00', NO_ID]),
      cursorOf(['member', NO_ID]),
    ])
      await refused('/least-privilege', cursor)
    const started = await t().request({ method: 'POST', url: url('/access-reviews'), token: f.org.ownerToken })
    assert.equal(started.status, 201, started.text)
    for (const cursor of [
      'not-a-cursor',
      cursorOf(['bogus', NO_ID]),
      cursorOf(['member', 'not-a-uuid']),
      cursorOf(['member', '2026-01-01 00:00:00+00', NO_ID]),
    ])
      await refused(`/access-reviews/${started.body.id}/items`, cursor)
    const filter = await get(`/access-reviews/${started.body.id}/items?decision=certify`)
    assert.equal(filter.status, 400, 'decision=pending is the one filter')
    assert.equal(filter.body.errors[0].path, '/query/decision')
  })

  it('P2.5 pages a review’s items by kind then id, and its undecided ones alone; the counts follow each decision', async () => {
    const review = (await get('/access-reviews?limit=1')).body.reviews[0] as JsonBody
    const reviewId = review.id as string
    const items = `/access-reviews/${reviewId}/items`
    const all = (await get(`${items}?limit=500`)).body.items as JsonBody[]
    // Owner, members and service accounts, and every live token: the SQL-made members’ and the owner’s.
    assert.equal(all.length, (review.itemCounts as JsonBody).total)
    assert.ok(all.length >= 1 + MEMBERS + 2 * ACCOUNTS + 2)
    const order = all.map((i) => `${i.kind as string}/${i.id as string}`)
    assert.deepEqual(order, [...order].sort(), 'by kind, then id')
    for (const limit of [1, 3, 7]) {
      const { rows } = await walk(t(), url(items), 'items', f.org.ownerToken, limit)
      assert.deepEqual(rows, all, `pages of ${limit}`)
    }
    assert.deepEqual(review.itemCounts, { total: all.length, decided: 0, pending: all.length })

    // Certify the SQL-made members: never the owner's own items.
    const decided = all.filter((i) => i.kind === 'member' && i.subjectId !== f.org.ownerId).slice(0, 5)
    for (const i of decided) {
      const r = await t().request({
        method: 'POST',
        url: url(`${items}/${i.id as string}/decision`),
        token: f.org.ownerToken,
        body: { decision: 'certify' },
      })
      assert.equal(r.status, 200, r.text)
    }
    const again = await t().request({
      method: 'POST',
      url: url(`${items}/${decided[0]?.id as string}/decision`),
      token: f.org.ownerToken,
      body: { decision: 'revoke' },
    })
    assert.equal(again.status, 409, 'a decision stands, and is counted once')
    const detail = (await get(`/access-reviews/${reviewId}`)).body
    assert.equal(detail.items, undefined)
    assert.deepEqual(detail.itemCounts, { total: all.length, decided: 5, pending: all.length - 5 })
    const decidedIds = new Set(decided.map((i) => i.id))
    const undecided = all.filter((i) => !decidedIds.has(i.id)).map((i) => i.id)
    for (const limit of [2, 500]) {
      const { rows } = await walk(t(), url(`${items}?decision=pending`), 'items', f.org.ownerToken, limit)
      assert.deepEqual(
        rows.map((i) => i.id),
        undecided,
        `decision=pending in pages of ${limit}: the undecided items, in order`,
      )
      assert.ok(rows.every((i) => i.decision === null))
    }
    const refused = await t().request({
      method: 'POST',
      url: url(`/access-reviews/${reviewId}/close`),
      token: f.org.ownerToken,
    })
    assert.equal(refused.status, 409)
    assert.match(refused.body.detail, new RegExp(`^${all.length - 5} items are undecided`))
  })

  it('counts the items of existing campaigns when migrating (0027 backfill)', async () => {
    const review = (await get('/access-reviews?limit=1')).body.reviews[0] as JsonBody
    const counts = review.itemCounts as JsonBody
    await sql`UPDATE access_reviews SET items_total = 0, items_decided = 0`.execute(t().db.kysely)
    assert.deepEqual((await get(`/access-reviews/${review.id as string}`)).body.itemCounts, {
      total: 0,
      decided: 0,
      pending: 0,
    })
    await countReviewItems(t().db.kysely as unknown as Kysely<unknown>)
    assert.deepEqual((await get(`/access-reviews/${review.id as string}`)).body.itemCounts, counts)
  })
})
