import assert from 'node:assert/strict'
import { before, describe, it } from 'node:test'
import { sql } from 'kysely'
import { forEachEngine, postgresAvailable } from '../helpers/db.ts'
import { bootstrapProvider, createCustomerOrg, principalWithRole, useTestApp, type Org } from '../helpers/app.ts'
import { bootstrapOverHttps, httpsJson, type ServerProcess, useServersOnOnePostgres } from '../helpers/process.ts'

/**
 * Issue 18, P2.6: each process keeps the credentials it checked, and a change to one is still
 * seen by the first request that starts after the change commits — by the org's credential
 * epoch, confirmed in the statement that opens the request's transaction, even where the
 * notification that drops cached copies never arrives.
 *
 * The changes below are written with triggers off (`session_replication_role = replica`), so
 * neither the epoch moves nor a notification goes out: what the service answers then can only
 * come from its cached copy. Moving the epoch by hand afterwards is what a change does.
 */
forEachEngine('the credential cache and immediate revocation (P2.6, issue 18)', (engine) => {
  const t = useTestApp(engine)
  let org: Org
  let provider: Org

  before(async () => {
    provider = await bootstrapProvider(t())
    org = await createCustomerOrg(t(), provider, 'Cache Org', 'owner@cache.test')
  })

  /** A change that neither moves the epoch nor notifies: the cache cannot know of it. */
  const unseen = (statement: ReturnType<typeof sql>) =>
    t()
      .db.kysely.transaction()
      .execute(async (trx) => {
        await sql`SET LOCAL session_replication_role = replica`.execute(trx)
        await statement.execute(trx)
      })
  /** What a change does besides: the org's epoch moves (no notification). */
  const moveEpoch = () =>
    sql`INSERT INTO credential_epochs (org_id, epoch) VALUES (${org.orgId}, 1)
        ON CONFLICT (org_id) DO UPDATE SET epoch = credential_epochs.epoch + 1`.execute(t().db.kysely)
  const get = (url: string, token: string) => t().request({ method: 'GET', url, token })

  it('P2.6: a checked token is taken from the cache; once the epoch moves the next request is decided afresh', async () => {
    const sa = await principalWithRole(t(), org, 'admin')
    const tokens = `/v1/orgs/${org.orgId}/tokens`
    assert.equal((await get(tokens, sa.token)).status, 200)
    await unseen(sql`UPDATE service_accounts SET role = 'viewer' WHERE id = ${sa.serviceAccountId}`)
    assert.equal((await get(tokens, sa.token)).status, 200, 'the cached copy (still admin) let it in')
    await moveEpoch()
    const after = await get(tokens, sa.token)
    assert.equal(after.status, 403, after.text)
    assert.equal(after.body.permission, 'tokens:read')
  })

  it('P2.6: a token revoked behind the cache is refused once the epoch moves, on routes with and without a transaction', async () => {
    for (const url of [`/v1/orgs/${org.orgId}/tokens`, '/v1/permissions', '/v1/me']) {
      const sa = await principalWithRole(t(), org, 'admin')
      assert.equal((await get(url, sa.token)).status, 200, url)
      await unseen(sql`UPDATE api_tokens SET revoked_at = now() WHERE service_account_id = ${sa.serviceAccountId}`)
      assert.equal((await get(url, sa.token)).status, 200, `${url}: the cached copy`)
      await moveEpoch()
      const refused = await get(url, sa.token)
      assert.equal(refused.status, 401, `${url}: ${refused.text}`)
      assert.equal(refused.body.code, 'UNAUTHENTICATED')
    }
  })

  it('P2.6: a write on a revoked cached token changes nothing', async () => {
    const sa = await principalWithRole(t(), org, 'admin')
    const accounts = `/v1/orgs/${org.orgId}/service-accounts`
    assert.equal((await get(accounts, sa.token)).status, 200)
    await unseen(sql`UPDATE api_tokens SET revoked_at = now() WHERE service_account_id = ${sa.serviceAccountId}`)
    await moveEpoch()
    const made = await t().request({
      method: 'POST',
      url: accounts,
      token: sa.token,
      body: { name: 'after-revocation', role: 'viewer' },
    })
    assert.equal(made.status, 401, made.text)
    const rows = await t()
      .db.kysely.selectFrom('service_accounts')
      .select('id')
      .where('org_id', '=', org.orgId)
      .where('name', '=', 'after-revocation')
      .execute()
    assert.deepEqual(rows, [])
  })

  it('P2.6: the cached credentials of an org deleted since are refused (its epoch row went with it)', async () => {
    const gone = await createCustomerOrg(t(), provider, 'Gone Org', 'owner@gone.test')
    const url = `/v1/orgs/${gone.orgId}/service-accounts`
    assert.equal((await get(url, gone.ownerToken)).status, 200)
    await t().db.kysely.deleteFrom('orgs').where('id', '=', gone.orgId).execute()
    const refused = await get(url, gone.ownerToken)
    assert.equal(refused.status, 401, refused.text)
  })

  it('P2.6: revoking or changing a role through the API moves the epoch; recording a use does not (the triggers)', async () => {
    const epoch = async () =>
      Number(
        (
          await sql<{
            epoch: number | null
          }>`SELECT (SELECT epoch FROM credential_epochs WHERE org_id = ${org.orgId}) AS epoch`.execute(t().db.kysely)
        ).rows[0]?.epoch ?? 0,
      )
    const sa = await principalWithRole(t(), org, 'admin')
    const o = `/v1/orgs/${org.orgId}`
    let before = await epoch()
    const changed = await t().request({
      method: 'PATCH',
      url: `${o}/service-accounts/${sa.serviceAccountId}`,
      token: org.ownerToken,
      body: { role: 'viewer' },
    })
    assert.equal(changed.status, 200, changed.text)
    assert.ok((await epoch()) > before, 'a role change')
    before = await epoch()
    const listed = await get(`${o}/tokens`, org.ownerToken)
    const token = (listed.body.tokens as { id: string; serviceAccountId: string | null }[]).find(
      (k) => k.serviceAccountId === sa.serviceAccountId,
    )
    assert.ok(token !== undefined)
    const revoked = await t().request({ method: 'DELETE', url: `${o}/tokens/${token.id}`, token: org.ownerToken })
    assert.ok(revoked.status < 300, revoked.text)
    assert.ok((await epoch()) > before, 'a revocation')
    // A token's use is recorded without moving it.
    before = await epoch()
    await sql`UPDATE api_tokens SET last_used_at = now() - interval '1 hour' WHERE org_id = ${org.orgId}`.execute(
      t().db.kysely,
    )
    assert.equal(await epoch(), before, 'last use only')
  })
})

describe('two processes on one PostgreSQL: a revocation through one is seen by the next request to the other (P2.6, issue 18)', {
  skip: postgresAvailable() ? false : 'TEST_DATABASE_URL not set',
}, () => {
  const nodes = useServersOnOnePostgres(['one', 'two'], { CUSTODIAN_AUTH_RATE_LIMIT: '10000' })

  it('P2.6: every revoked token, and a narrowed role, is refused by the other process at once', async () => {
    const [one, two] = nodes().servers as [ServerProcess, ServerProcess]
    const boot = await bootstrapOverHttps(one.httpsPort, one.bootstrapToken)
    assert.equal(boot.status, 201, boot.text)
    const { apiToken, orgId } = boot.body as { apiToken: string; orgId: string }
    const o = `/v1/orgs/${orgId}`
    const account = await httpsJson(one.httpsPort, 'POST', `${o}/service-accounts`, {
      token: apiToken,
      body: { name: 'worker', role: 'admin' },
    })
    assert.equal(account.status, 201, account.text)
    for (let round = 0; round < 10; round++) {
      const issued = await httpsJson(one.httpsPort, 'POST', `${o}/tokens`, {
        token: apiToken,
        body: { name: `worker-${round}`, expiresInDays: 1, serviceAccountId: account.body.id },
      })
      assert.equal(issued.status, 201, issued.text)
      const token = issued.body.token as string
      // Checked, then cached, by the second process.
      for (let i = 0; i < 3; i++)
        assert.equal((await httpsJson(two.httpsPort, 'GET', `${o}/tokens`, { token })).status, 200)
      const revoked = await httpsJson(one.httpsPort, 'DELETE', `${o}/tokens/${issued.body.id}`, { token: apiToken })
      assert.ok(revoked.status < 300, revoked.text)
      const refused = await httpsJson(two.httpsPort, 'GET', `${o}/tokens`, { token })
      assert.equal(refused.status, 401, `round ${round}: ${refused.text}`)
      const write = await httpsJson(two.httpsPort, 'POST', `${o}/service-accounts`, {
        token,
        body: { name: `never-${round}`, role: 'viewer' },
      })
      assert.equal(write.status, 401, `round ${round}: ${write.text}`)
    }

    const issued = await httpsJson(one.httpsPort, 'POST', `${o}/tokens`, {
      token: apiToken,
      body: { name: 'worker-role', expiresInDays: 1, serviceAccountId: account.body.id },
    })
    const token = issued.body.token as string
    assert.equal((await httpsJson(two.httpsPort, 'GET', `${o}/tokens`, { token })).status, 200)
    const narrowed = await httpsJson(one.httpsPort, 'PATCH', `${o}/service-accounts/${account.body.id}`, {
      token: apiToken,
      body: { role: 'viewer' },
    })
    assert.equal(narrowed.status, 200, narrowed.text)
    const refused = await httpsJson(two.httpsPort, 'GET', `${o}/tokens`, { token })
    assert.equal(refused.status, 403, refused.text)
    assert.equal(refused.body.permission, 'tokens:read')
  })
})
