import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { forEachEngine } from '../helpers/db.ts'
import {
  auditActions,
  bootstrapProvider,
  createCustomerOrg,
  PASSWORD,
  principalWithRole,
  testClock,
  useTestApp,
  type Org,
  type TestApp,
} from '../helpers/app.ts'

const DAY = 86_400_000

interface ReviewItem {
  id: string
  kind: string
  subjectId: string
  label: string
  decision: string | null
  note: string | null
  mfaEnabled: boolean | null
  inactive: boolean
  details: { holder?: string }
  holderEmail: string | null
  allowedDecisions: string[]
}

/** Every item of a review through GET …/items, a page of 500 at a time; `query`: a filter. */
async function itemsOf(t: TestApp, orgId: string, reviewId: string, token: string, query = ''): Promise<ReviewItem[]> {
  const all: ReviewItem[] = []
  let cursor: string | null = null
  do {
    const page = await t.request({
      method: 'GET',
      url: `/v1/orgs/${orgId}/access-reviews/${reviewId}/items?limit=500${query === '' ? '' : `&${query}`}${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`,
      token,
    })
    assert.equal(page.status, 200, page.text)
    all.push(...(page.body.items as ReviewItem[]))
    cursor = page.body.nextCursor as string | null
  } while (cursor !== null)
  return all
}

/**
 * Access reviews (P2.5) and the least-privilege report (P2.3): every principal with
 * access is listed, certified or revoked; a revoke removes access at once; schedule and
 * overdue policy run on a clock the test advances.
 */
forEachEngine('access reviews and least privilege (P2.3, P2.5)', (engine) => {
  const time = testClock()
  const t = useTestApp(engine, { CUSTODIAN_AUTH_RATE_LIMIT: '1000' }, undefined, undefined, { clock: time.clock })
  let provider: Org
  let acme: Org
  let bob: { userId: string; apiToken: string }
  let carol: { userId: string; apiToken: string }
  let app: { token: string; serviceAccountId: string }
  let reviewId = ''
  const url = (path = '') => `/v1/orgs/${acme.orgId}${path}`
  const join = async (email: string, role: string) => {
    const invite = await t().request({
      method: 'POST',
      url: url('/invitations'),
      token: acme.ownerToken,
      body: { email, role },
    })
    return (
      await t().request({
        method: 'POST',
        url: '/v1/invitations/accept',
        body: { token: invite.body.token, password: PASSWORD },
      })
    ).body as { userId: string; apiToken: string }
  }
  const decide = (itemId: string, body: Record<string, unknown>, token = acme.ownerToken) =>
    t().request({ method: 'POST', url: url(`/access-reviews/${reviewId}/items/${itemId}/decision`), token, body })
  const review = async (token = acme.ownerToken) =>
    (await t().request({ method: 'GET', url: url(`/access-reviews/${reviewId}`), token })).body
  const item = async (kind: string, label: string) =>
    (await items()).find((i) => i.kind === kind && i.label === label) as ReviewItem
  /** Every item of a review, walked page by page (…/items). */
  const items = (id = reviewId, token = acme.ownerToken, org = acme) => itemsOf(t(), org.orgId, id, token)

  before(async () => {
    provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', 'owner@acme.test')
    bob = await join('bob@acme.test', 'admin')
    carol = await join('carol@acme.test', 'admin')
    app = await principalWithRole(t(), acme, 'admin')
    // The service account uses only two permissions; bob reads the audit log.
    await t().request({ method: 'GET', url: url(), token: app.token })
    await t().request({ method: 'GET', url: url('/secrets'), token: app.token })
    await t().request({ method: 'GET', url: url('/audit/events'), token: bob.apiToken })
  })

  it('reports permissions granted against used, with a narrower role where one would do (P2.3)', async () => {
    const report = await t().request({ method: 'GET', url: url('/least-privilege'), token: acme.ownerToken })
    assert.equal(report.status, 200, report.text)
    assert.equal(report.body.windowDays, 90)
    const sa = report.body.principals.find((p: { id: string }) => p.id === app.serviceAccountId)
    assert.deepEqual(sa.used, ['org:read', 'secrets:read'])
    assert.ok(sa.unused.includes('vault:reveal'))
    assert.equal(sa.suggestedRole, 'member', 'member is the smallest built-in role with org:read and secrets:read')
    const bobEntry = report.body.principals.find((p: { id: string }) => p.id === bob.userId)
    assert.deepEqual(bobEntry.used, ['audit:read'])
    assert.equal(bobEntry.suggestedRole, 'auditor')
    const carolEntry = report.body.principals.find((p: { id: string }) => p.id === carol.userId)
    assert.equal(carolEntry.suggestRemoval, true, 'nothing used at all')
    assert.equal(
      (await t().request({ method: 'GET', url: url('/least-privilege'), token: bob.apiToken })).status,
      200,
      'admins see it',
    )
  })

  it('lists every principal with access: members with 2FA state, service accounts, tokens, active grants', async () => {
    const asked = await t().request({
      method: 'POST',
      url: '/v1/operator/grants',
      token: provider.ownerToken,
      body: { orgId: acme.orgId, reason: 'investigating an import problem', permissions: ['org:read'] },
    })
    await t().request({
      method: 'POST',
      url: url(`/grants/${asked.body.id}/approve`),
      token: acme.ownerToken,
      body: {},
    })
    const started = await t().request({ method: 'POST', url: url('/access-reviews'), token: acme.ownerToken })
    assert.equal(started.status, 201, started.text)
    reviewId = started.body.id
    assert.equal(new Date(started.body.dueAt).getTime() - new Date(started.body.startedAt).getTime(), 14 * DAY)
    assert.equal(started.body.items, undefined, 'the items come a page at a time, from …/items')
    const listed = await items()
    assert.deepEqual(started.body.itemCounts, { total: listed.length, decided: 0, pending: listed.length })
    const kinds = (label: string) => listed.filter((i) => i.label === label).map((i) => i.kind)
    assert.deepEqual(kinds('bob@acme.test'), ['member'])
    assert.deepEqual(kinds('owner@provider.test'), ['grant'])
    assert.ok(listed.some((i) => i.kind === 'service_account' && i.subjectId === app.serviceAccountId))
    assert.ok(listed.filter((i) => i.kind === 'api_token').length >= 4)
    const owner = listed.find((i) => i.label === 'owner@acme.test') as ReviewItem
    assert.equal(owner.mfaEnabled, false)
    assert.equal(owner.inactive, false)
    assert.equal(
      (await t().request({ method: 'POST', url: url('/access-reviews'), token: acme.ownerToken })).status,
      409,
      'one open review at a time',
    )
    assert.ok(
      (await t().db.kysely.selectFrom('notifications').select('kind').where('org_id', '=', acme.orgId).execute()).some(
        (n) => n.kind === 'access_review.started',
      ),
    )
  })

  it('revokes at once on a revoke decision: a member, a service account, a grant', async () => {
    assert.equal((await t().request({ method: 'GET', url: url(), token: carol.apiToken })).status, 200)
    const carolItem = await item('member', 'carol@acme.test')
    const decided = await decide(carolItem.id, { decision: 'revoke', note: 'left the team' })
    assert.equal(decided.status, 200, decided.text)
    assert.match(decided.body.outcome, /membership removed/)
    assert.equal(
      (await t().request({ method: 'GET', url: url(), token: carol.apiToken })).status,
      401,
      'carol’s token stops at once',
    )

    const saItem = (await items()).find(
      (i) => i.kind === 'service_account' && i.subjectId === app.serviceAccountId,
    ) as ReviewItem
    assert.equal((await decide(saItem.id, { decision: 'revoke' })).status, 200)
    assert.equal((await t().request({ method: 'GET', url: url(), token: app.token })).status, 401)

    const grantItem = await item('grant', 'owner@provider.test')
    assert.equal((await decide(grantItem.id, { decision: 'revoke' })).body.outcome, 'grant revoked')
    assert.equal(
      (
        await t().request({
          method: 'GET',
          url: url(),
          token: provider.ownerToken,
          headers: { 'x-custodian-grant': grantItem.subjectId },
        })
      ).status,
      404,
    )
    assert.equal((await decide(grantItem.id, { decision: 'certify' })).status, 409, 'a decision stands')
    const counts = (await review()).itemCounts
    assert.deepEqual(counts, { total: counts.total, decided: 3, pending: counts.total - 3 }, 'three decided, once each')
  })

  it('reduces a role, and never lets anyone decide on their own access', async () => {
    const bobItem = await item('member', 'bob@acme.test')
    // Each item says which decisions its caller may record, as the decision rules them (issue 13).
    assert.deepEqual(bobItem.allowedDecisions, ['certify', 'reduce', 'revoke'])
    const asBob = await items(reviewId, bob.apiToken)
    const bobsOwn = asBob.filter((i) => i.subjectId === bob.userId || i.details.holder === bob.userId)
    assert.ok(bobsOwn.length >= 2, 'Bob’s membership and token')
    for (const i of bobsOwn) assert.deepEqual(i.allowedDecisions, [], 'another admin decides Bob’s own access')
    const bobsToken = asBob.find((i) => i.kind === 'api_token' && i.details.holder === bob.userId)
    assert.equal(bobsToken?.holderEmail, 'bob@acme.test')
    assert.deepEqual(
      asBob.find((i) => i.kind === 'api_token' && i.details.holder !== bob.userId && i.decision === null)
        ?.allowedDecisions,
      ['certify', 'revoke'],
      'a token is certified or revoked, never reduced',
    )
    const own = await decide(bobItem.id, { decision: 'certify' }, bob.apiToken)
    assert.equal(own.status, 403)
    const reduced = await decide(bobItem.id, { decision: 'reduce', role: 'auditor' })
    assert.equal(reduced.status, 200, reduced.text)
    assert.equal((await t().request({ method: 'GET', url: '/v1/me', token: bob.apiToken })).body.role, 'auditor')
    const member = await t().request({ method: 'GET', url: url('/members'), token: acme.ownerToken })
    assert.equal(member.body.members.find((m: { userId: string }) => m.userId === bob.userId).role, 'auditor')
  })

  it('closes only when every item is decided, and keeps it as evidence', async () => {
    assert.equal(
      (await t().request({ method: 'POST', url: url(`/access-reviews/${reviewId}/close`), token: acme.ownerToken }))
        .status,
      409,
    )
    // The owner decides everything but their own membership and tokens.
    const own = (i: ReviewItem) =>
      (i.kind === 'member' && i.subjectId === acme.ownerId) || i.details.holder === acme.ownerId
    const pending = await itemsOf(t(), acme.orgId, reviewId, acme.ownerToken, 'decision=pending')
    assert.deepEqual(
      pending.map((i) => i.id),
      (await items()).filter((i) => i.decision === null).map((i) => i.id),
      'decision=pending: the undecided items, in the same order',
    )
    for (const open of pending) {
      if (!own(open)) assert.equal((await decide(open.id, { decision: 'certify' })).status, 200, open.label)
    }
    const left = await itemsOf(t(), acme.orgId, reviewId, acme.ownerToken, 'decision=pending')
    assert.ok(left.length > 0, 'the owner’s own items wait for someone else')
    assert.ok(left.every(own))
    const counts = (await review()).itemCounts
    assert.equal(counts.pending, left.length)
    assert.equal(counts.decided, counts.total - left.length)
    const closed = await t().request({
      method: 'POST',
      url: url(`/access-reviews/${reviewId}/close`),
      token: acme.ownerToken,
    })
    assert.equal(closed.status, 409)
    const actions = (await auditActions(t(), acme.orgId)).map((e) => e.action)
    assert.ok(actions.includes('access_review.start') && actions.includes('access_review.decide'))
  })

  it('applies the org’s overdue policy at the due date: remind daily, or revoke (test clock)', async () => {
    time.advance(15 * DAY)
    const first = await t().app.services.reviews.runScheduled()
    assert.equal(first.reminded, 1)
    assert.equal((await t().app.services.reviews.runScheduled()).reminded, 0, 'once a day')
    assert.ok((await auditActions(t(), acme.orgId)).some((e) => e.action === 'access_review.overdue'))
    assert.equal((await review()).overdue, true)

    assert.equal(
      (
        await t().request({
          method: 'PUT',
          url: url('/access-review-policy'),
          token: acme.ownerToken,
          body: { cadenceDays: 91, windowDays: 14, onOverdue: 'revoke', inactiveDays: 90 },
        })
      ).status,
      200,
    )
    const undecided = (await items()).filter((i) => i.decision === null)
    const pass = await t().app.services.reviews.runScheduled()
    assert.ok(pass.revoked >= 1)
    const after = await review(bob.apiToken) // the owner's own tokens were among the undecided
    assert.equal(after.status, 'closed', JSON.stringify(after))
    assert.equal(after.status, 'closed')
    assert.equal(after.closedBy, 'system:access-review-overdue')
    assert.deepEqual(after.itemCounts, { total: after.itemCounts.total, decided: after.itemCounts.total, pending: 0 })
    assert.equal(after.summary.items, after.itemCounts.total)
    const afterItems = await items(reviewId, bob.apiToken)
    assert.equal(afterItems.length, after.itemCounts.total)
    assert.deepEqual(await itemsOf(t(), acme.orgId, reviewId, bob.apiToken, 'decision=pending'), [])
    const ownerItem = afterItems.find((i) => i.kind === 'member' && i.label === 'owner@acme.test') as ReviewItem
    assert.equal(ownerItem.decision, 'certify', 'the last active owner is kept')
    assert.match(String(ownerItem.note), /last active owner/)
    for (const i of undecided.filter((x) => x.kind === 'api_token')) {
      assert.equal(afterItems.find((x) => x.id === i.id)?.decision, 'revoke')
    }
    assert.equal(
      (await t().request({ method: 'GET', url: url(), token: acme.ownerToken })).status,
      401,
      'the owner’s undecided token was revoked',
    )
  })

  it('starts the next campaign on its cadence, and flags inactive accounts (test clock)', async () => {
    const owner = await t().request({
      method: 'POST',
      url: '/v1/login',
      body: { email: 'owner@acme.test', password: PASSWORD },
    })
    assert.equal(owner.status, 200)
    assert.equal((await t().app.services.reviews.runScheduled()).started, 0, 'not due yet')
    time.advance(91 * DAY)
    const pass = await t().app.services.reviews.runScheduled()
    assert.ok(pass.started >= 1)
    const list = await t()
      .db.kysely.selectFrom('access_reviews')
      .selectAll()
      .where('org_id', '=', acme.orgId)
      .orderBy('started_at')
      .execute()
    assert.equal(list.length, 2)
    assert.equal(list[1]?.started_by, 'system:access-review-schedule')
    const items = await t()
      .db.kysely.selectFrom('access_review_items')
      .selectAll()
      .where('review_id', '=', list[1]?.id)
      .execute()
    const bobItem = items.find((i) => i.label === 'bob@acme.test')
    assert.equal(bobItem?.inactive, true, 'no activity for over 90 days')
    assert.equal((await t().app.services.reviews.runScheduled()).started, 0, 'one open review per org')
  })

  it('closes the review of an org with a single admin: what nobody else may decide is self-certified, and the evidence says so (P2.5)', async () => {
    const solo = await createCustomerOrg(t(), provider, 'Solo', 'only@solo.test')
    const soloUrl = (path = '') => `/v1/orgs/${solo.orgId}${path}`
    const started = await t().request({ method: 'POST', url: soloUrl('/access-reviews'), token: solo.ownerToken })
    assert.equal(started.status, 201, started.text)
    const items = await itemsOf(t(), solo.orgId, started.body.id, solo.ownerToken)
    assert.ok(items.length >= 2, 'the owner’s membership and token')
    assert.ok(
      items.every((i) => (i.kind === 'member' && i.subjectId === solo.ownerId) || i.details.holder === solo.ownerId),
      'everything is the owner’s own',
    )
    const decideSolo = (itemId: string, body: Record<string, unknown>) =>
      t().request({
        method: 'POST',
        url: soloUrl(`/access-reviews/${started.body.id}/items/${itemId}/decision`),
        token: solo.ownerToken,
        body,
      })
    for (const i of items) assert.deepEqual(i.allowedDecisions, ['certify'], 'alone: certify only, offered as such')
    const member = items.find((i) => i.kind === 'member') as { id: string }
    const refused = await decideSolo(member.id, { decision: 'reduce', role: 'auditor' })
    assert.equal(refused.status, 400, 'alone, one’s own access can only be certified')
    assert.equal(refused.body.code, 'VALIDATION_FAILED')
    for (const i of items) {
      const decided = await decideSolo(i.id, { decision: 'certify', note: 'still needed' })
      assert.equal(decided.status, 200, decided.text)
      assert.equal(decided.body.selfCertified, true)
      assert.match(decided.body.outcome, /self-certified/)
    }
    const closed = await t().request({
      method: 'POST',
      url: soloUrl(`/access-reviews/${started.body.id}/close`),
      token: solo.ownerToken,
    })
    assert.equal(closed.status, 200, closed.text)
    assert.equal(closed.body.summary.selfCertified, items.length)
    assert.deepEqual(closed.body.itemCounts, { total: items.length, decided: items.length, pending: 0 })
    const events = (await auditActions(t(), solo.orgId)).filter((e) => e.action === 'access_review.decide')
    assert.equal(events.length, items.length)
    assert.ok(events.every((e) => e.details.selfCertified === true && typeof e.details.reason === 'string'))
    // Once someone else may decide, one’s own access waits for them again.
    const invite = await t().request({
      method: 'POST',
      url: soloUrl('/invitations'),
      token: solo.ownerToken,
      body: { email: 'second@solo.test', role: 'admin' },
    })
    const accepted = await t().request({
      method: 'POST',
      url: '/v1/invitations/accept',
      body: { token: invite.body.token, password: PASSWORD },
    })
    assert.ok(accepted.status < 300, accepted.text)
    const next = await t().request({ method: 'POST', url: soloUrl('/access-reviews'), token: solo.ownerToken })
    const mine = (await itemsOf(t(), solo.orgId, next.body.id, solo.ownerToken)).find(
      (i) => i.kind === 'member' && i.subjectId === solo.ownerId,
    ) as ReviewItem
    const own = await t().request({
      method: 'POST',
      url: soloUrl(`/access-reviews/${next.body.id}/items/${mine.id}/decision`),
      token: solo.ownerToken,
      body: { decision: 'certify' },
    })
    assert.equal(own.status, 403)
    assert.equal(own.body.code, 'FORBIDDEN')
  })

  it('names each principal’s undecided item in the open review, so a suggestion is decided in one step — a service account’s reduce included (P2.3, P2.5, issue 13)', async () => {
    const org = await createCustomerOrg(t(), provider, 'OneStep', 'owner@onestep.test')
    const at = (path = '') => `/v1/orgs/${org.orgId}${path}`
    const invite = await t().request({
      method: 'POST',
      url: at('/invitations'),
      token: org.ownerToken,
      body: { email: 'dana@onestep.test', role: 'admin' },
    })
    const dana = (
      await t().request({
        method: 'POST',
        url: '/v1/invitations/accept',
        body: { token: invite.body.token, password: PASSWORD },
      })
    ).body as { userId: string }
    const robot = await principalWithRole(t(), org, 'admin')
    type Entry = { id: string; reviewItem: { reviewId: string; itemId: string } | null }
    const report = async (token = org.ownerToken) => {
      const answer = await t().request({ method: 'GET', url: at('/least-privilege'), token })
      assert.equal(answer.status, 200, answer.text)
      return new Map((answer.body.principals as Entry[]).map((p) => [p.id, p.reviewItem]))
    }
    assert.equal((await report()).get(dana.userId), null, 'no review is open')

    const started = await t().request({ method: 'POST', url: at('/access-reviews'), token: org.ownerToken })
    assert.equal(started.status, 201, started.text)
    const listed = await itemsOf(t(), org.orgId, started.body.id, org.ownerToken)
    const itemOf = (kind: string, subject: string) => listed.find((i) => i.kind === kind && i.subjectId === subject)?.id
    const open = await report()
    assert.deepEqual(open.get(dana.userId), { reviewId: started.body.id, itemId: itemOf('member', dana.userId) })
    assert.deepEqual(open.get(robot.serviceAccountId), {
      reviewId: started.body.id,
      itemId: itemOf('service_account', robot.serviceAccountId),
    })

    // Without reviews:read the report still answers, but names no review item.
    const scoped = await t().request({
      method: 'POST',
      url: at('/tokens'),
      token: org.ownerToken,
      body: { name: 'report-only', expiresInDays: 1, scopes: ['access:report'] },
    })
    assert.equal(scoped.status, 201, scoped.text)
    assert.ok([...(await report(scoped.body.token as string)).values()].every((item) => item === null))

    // The suggestion decided there: the item is decided, and the report names it no more.
    const item = open.get(dana.userId)
    assert.ok(item)
    const decided = await t().request({
      method: 'POST',
      url: at(`/access-reviews/${item.reviewId}/items/${item.itemId}/decision`),
      token: org.ownerToken,
      body: { decision: 'reduce', role: 'viewer', note: 'the least-privilege report: nothing used' },
    })
    assert.equal(decided.status, 200, decided.text)
    // Who decided and who started, by email: the org's own members only (issue 13).
    assert.equal(decided.body.decidedByEmail, 'owner@onestep.test')
    assert.equal(started.body.startedByEmail, 'owner@onestep.test')
    assert.equal(started.body.closedByEmail, null)
    const after = await report()
    assert.equal(after.get(dana.userId), null, 'decided')
    assert.notEqual(after.get(robot.serviceAccountId), null, 'still undecided')

    // A service account's suggestion too: reduce changes its role, and its token follows at once (P2.5).
    const robotItem = after.get(robot.serviceAccountId)
    assert.ok(robotItem)
    assert.equal((await t().request({ method: 'GET', url: at('/secrets'), token: robot.token })).status, 200)
    const reduced = await t().request({
      method: 'POST',
      url: at(`/access-reviews/${robotItem.reviewId}/items/${robotItem.itemId}/decision`),
      token: org.ownerToken,
      body: { decision: 'reduce', role: 'viewer' },
    })
    assert.equal(reduced.status, 200, reduced.text)
    assert.equal(reduced.body.outcome, 'role changed from admin to viewer')
    assert.equal((await report()).get(robot.serviceAccountId), null, 'decided')
    const accounts = await t().request({ method: 'GET', url: at('/service-accounts'), token: org.ownerToken })
    assert.equal(
      accounts.body.serviceAccounts.find((a: { id: string }) => a.id === robot.serviceAccountId).role,
      'viewer',
    )
    assert.equal(
      (await t().request({ method: 'GET', url: at('/secrets'), token: robot.token })).status,
      403,
      'the account’s token has the narrower role’s permissions at its next use',
    )
    const changes = (await auditActions(t(), org.orgId)).filter((e) => e.action === 'service_account.role_change')
    assert.deepEqual(
      changes.map((e) => [e.details.from, e.details.to]),
      [['admin', 'viewer']],
      'audited beside the decision, with the old and new role',
    )
  })

  it('never suggests reducing or removing the org’s only owner, in the report or in a campaign; with a second owner it does (issue 13)', async () => {
    const solo = await createCustomerOrg(t(), provider, 'Solo', 'solo@solo.test')
    const at = (path = '') => `/v1/orgs/${solo.orgId}${path}`
    const ownerId = (await t().request({ method: 'GET', url: '/v1/me', token: solo.ownerToken })).body.id as string
    // The owner reads the audit log and the report: a narrower role would cover it.
    assert.equal((await t().request({ method: 'GET', url: at('/audit/events'), token: solo.ownerToken })).status, 200)
    const entryOf = async (userId: string) => {
      const report = await t().request({ method: 'GET', url: at('/least-privilege'), token: solo.ownerToken })
      assert.equal(report.status, 200, report.text)
      return (report.body.principals as { id: string; suggestedRole: string | null; suggestRemoval: boolean }[]).find(
        (p) => p.id === userId,
      )
    }
    const alone = await entryOf(ownerId)
    assert.deepEqual([alone?.suggestedRole, alone?.suggestRemoval], [null, false], 'the only owner: nothing suggested')
    const started = await t().request({ method: 'POST', url: at('/access-reviews'), token: solo.ownerToken })
    assert.equal(started.status, 201, started.text)
    const ownerItem = (await itemsOf(t(), solo.orgId, started.body.id, solo.ownerToken)).find(
      (i) => i.kind === 'member' && i.label === 'solo@solo.test',
    ) as ReviewItem & { suggestedRole: string | null }
    assert.equal(ownerItem.suggestedRole, null, 'nor in the campaign’s item')

    // A second owner: the first may now be reduced, and the report says so.
    const invite = await t().request({
      method: 'POST',
      url: at('/invitations'),
      token: solo.ownerToken,
      body: { email: 'second@solo.test', role: 'owner' },
    })
    assert.equal(invite.status, 201, invite.text)
    const accepted = await t().request({
      method: 'POST',
      url: '/v1/invitations/accept',
      body: { token: invite.body.token, password: PASSWORD },
    })
    assert.ok(accepted.status < 300, accepted.text)
    const shared = await entryOf(ownerId)
    // What it used by now (the audit log, the report, a review, an invitation) fits admin.
    assert.equal(shared?.suggestedRole, 'admin', 'one of two owners: the narrower role is suggested')
  })
})
