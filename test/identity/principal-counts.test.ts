import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { sql } from 'kysely'
import { forEachEngine } from '../helpers/db.ts'
import {
  bootstrapProvider,
  createCustomerOrg,
  PASSWORD,
  principalWithRole,
  testClock,
  useTestApp,
  type Org,
} from '../helpers/app.ts'

const HOUR = 3_600_000

/**
 * The operator's list of orgs says how many members and service accounts each org has
 * without counting them at request time (issue 20): the counts are kept by the database
 * in the transaction of each write (migration 0030). After every kind of write that adds
 * or removes a principal, they must equal a count of the rows themselves.
 */
forEachEngine('member and service-account counts kept at write time (issue 20)', (engine) => {
  const time = testClock()
  const t = useTestApp(
    engine,
    { CUSTODIAN_AUTH_RATE_LIMIT: '1000', CUSTODIAN_SHRED_RING_GRACE_MS: '0' },
    undefined,
    undefined,
    { clock: time.clock },
  )
  let provider: Org
  let org: Org
  let other: Org

  /** Members and service accounts of an org, counted row by row. */
  async function scanned(orgId: string): Promise<{ members: number; serviceAccounts: number }> {
    const row = await sql<{ members: number; service_accounts: number }>`
      SELECT (SELECT count(*) FROM memberships WHERE org_id = ${orgId})::int AS members,
             (SELECT count(*) FROM service_accounts WHERE org_id = ${orgId})::int AS service_accounts`.execute(
      t().db.kysely,
    )
    return { members: row.rows[0]?.members ?? -1, serviceAccounts: row.rows[0]?.service_accounts ?? -1 }
  }

  /** What GET /v1/operator/orgs reports for each org, checked against the scan. */
  async function check(label: string): Promise<void> {
    const listed = await t().request({ method: 'GET', url: '/v1/operator/orgs?limit=500', token: provider.ownerToken })
    assert.equal(listed.status, 200, listed.text)
    const orgs = listed.body.orgs as { id: string; members: number; serviceAccounts: number }[]
    for (const o of orgs)
      assert.deepEqual(
        { members: o.members, serviceAccounts: o.serviceAccounts },
        await scanned(o.id),
        `${label}: ${o.id}`,
      )
  }

  const invite = async (who: Org, email: string) => {
    const invited = await t().request({
      method: 'POST',
      url: `/v1/orgs/${who.orgId}/invitations`,
      token: who.ownerToken,
      body: { email, role: 'viewer' },
    })
    assert.equal(invited.status, 201, invited.text)
    const joined = await t().request({
      method: 'POST',
      url: '/v1/invitations/accept',
      body: { token: invited.body.token, password: PASSWORD },
    })
    assert.ok(joined.status < 300, joined.text)
    return joined.body.userId as string
  }

  before(async () => {
    provider = await bootstrapProvider(t())
    org = await createCustomerOrg(t(), provider, 'Counted', 'owner@counted.test')
    other = await createCustomerOrg(t(), provider, 'Other', 'owner@other.test')
  })

  it('counts the owner of a new org and the orgs that existed before the migration', async () => {
    await check('after creating two orgs')
  })

  it('counts members who join and leave, and service accounts made and deleted', async () => {
    const members = [await invite(org, 'one@counted.test'), await invite(org, 'two@counted.test')]
    await invite(other, 'one@counted.test') // one account, two orgs: counted in each
    await check('after invitations')
    const removed = await t().request({
      method: 'DELETE',
      url: `/v1/orgs/${org.orgId}/members/${members[0]}`,
      token: org.ownerToken,
    })
    assert.ok(removed.status < 300, removed.text)
    await check('after removing a member')
    const accounts = [await principalWithRole(t(), org, 'viewer'), await principalWithRole(t(), org, 'admin')]
    await check('after making service accounts')
    const deleted = await t().request({
      method: 'DELETE',
      url: `/v1/orgs/${org.orgId}/service-accounts/${accounts[0]?.serviceAccountId}`,
      token: org.ownerToken,
    })
    assert.ok(deleted.status < 300, deleted.text)
    await check('after deleting a service account')
  })

  it('keeps the counts exact when a write rolls back', async () => {
    const before = await scanned(org.orgId)
    await t()
      .db.kysely.transaction()
      .execute(async (trx) => {
        await sql`DELETE FROM memberships WHERE org_id = ${org.orgId} AND role <> 'owner'`.execute(trx)
        throw new Error('roll back')
      })
      .catch(() => undefined)
    assert.deepEqual(await scanned(org.orgId), before)
    await check('after a rolled-back delete')
  })

  it('drops an offboarded org’s counts with it and leaves the others exact', async () => {
    const asked = await t().request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/offboarding`,
      token: org.ownerToken,
      body: { confirmName: 'Counted' },
    })
    assert.equal(asked.status, 201, asked.text)
    time.advance(25 * HOUR)
    assert.equal(await t().app.services.offboarding.runDue(), 1)
    const left = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM org_principal_counts WHERE org_id = ${org.orgId}`.execute(t().db.kysely)
    assert.equal(left.rows[0]?.n, 0)
    await check('after offboarding an org')
  })
})
