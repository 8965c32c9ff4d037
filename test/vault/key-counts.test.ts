import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, it } from 'node:test'
import { sql } from 'kysely'
import { withOrg, withOwner } from '../../src/db/tenant.ts'
import { forEachEngine } from '../helpers/db.ts'
import { bootstrapProvider, createCustomerOrg, principalWithRole, useTestApp, type Org } from '../helpers/app.ts'
import { startHttpsReceiver } from '../helpers/https-receiver.ts'

const caFile = path.join(mkdtempSync(path.join(tmpdir(), 'custodian-key-counts-')), 'receiver-ca.pem')
let receiver: Awaited<ReturnType<typeof startHttpsReceiver>>
before(async () => {
  receiver = await startHttpsReceiver(caFile, () => 200)
})
after(async () => {
  await receiver?.close()
})

/**
 * `GET /keys` says how many live data keys each org-key version wraps without counting
 * them at request time (issue 20): the counts are kept by the database in the transaction
 * of each write. After every kind of write that adds, moves or removes a data key, they
 * must equal a count of the objects themselves (by each table's own notion of alive, as
 * the rewrap job sees it).
 */
forEachEngine('org-key data-key counts kept at write time (issue 20)', (engine) => {
  const t = useTestApp(engine, {
    CUSTODIAN_AUTH_RATE_LIMIT: '1000',
    CUSTODIAN_REWRAP_BATCH: '3',
    CUSTODIAN_EXTRA_CA_FILE: caFile,
    CUSTODIAN_SHRED_RING_GRACE_MS: '0',
  })
  let provider: Org
  let org: Org
  let app: { token: string }
  const as = (method: string, p: string, body?: unknown, token = org.ownerToken) =>
    t().request({ method, url: `/v1/orgs/${org.orgId}${p}`, token, body })

  /** Live data keys per org-key version, counted object by object. */
  async function scanned(orgId: string): Promise<Record<number, number>> {
    const rows = await sql<{ version: number; n: number }>`
      SELECT kek_version AS version, count(*)::int AS n FROM (
        SELECT kek_version FROM secret_versions WHERE org_id = ${orgId} AND destroyed_at IS NULL
        UNION ALL SELECT kek_version FROM transit_key_versions WHERE org_id = ${orgId}
        UNION ALL SELECT kek_version FROM subject_keys WHERE org_id = ${orgId} AND shredded_at IS NULL
        UNION ALL SELECT kek_version FROM webhook_deliveries WHERE org_id = ${orgId} AND wrapped_key IS NOT NULL
        UNION ALL SELECT kek_version FROM vulnerability_reports WHERE org_id = ${orgId}
      ) AS x GROUP BY kek_version`.execute(t().db.kysely)
    return Object.fromEntries(rows.rows.map((r) => [r.version, r.n]))
  }

  /** The counts `GET /keys` reports, checked against the scan; returns them. */
  async function counts(who: Org = org, label = ''): Promise<Record<number, number>> {
    const status = await t().request({ method: 'GET', url: `/v1/orgs/${who.orgId}/keys`, token: who.ownerToken })
    assert.equal(status.status, 200, status.text)
    const reported = Object.fromEntries(
      (status.body.versions as { version: number; dataKeys: number }[])
        .filter((v) => v.dataKeys !== 0)
        .map((v) => [v.version, v.dataKeys]),
    )
    assert.deepEqual(reported, await scanned(who.orgId), `counts after ${label}`)
    return reported
  }

  before(async () => {
    provider = await bootstrapProvider(t())
    org = await createCustomerOrg(t(), provider, 'Counting Org', 'owner@count.test')
    app = await principalWithRole(t(), org, 'admin')
  })

  it('counts secrets’ versions as they are added, destroyed and deleted, also concurrently', async () => {
    const start = (await counts(org, 'start'))[1] ?? 0
    const created = await Promise.all(
      Array.from({ length: 8 }, (_, i) => as('POST', '/secrets', { name: `s${i}`, type: 'generic', value: `v${i}` })),
    )
    for (const r of created) assert.equal(r.status, 201, r.text)
    assert.equal((await counts(org, 'concurrent creates'))[1], start + 8)
    const [a, b] = created.map((r) => r.body.id as string)
    assert.equal((await as('POST', `/secrets/${a}/versions`, { value: 'v2' })).status, 201)
    assert.equal((await as('POST', `/secrets/${a}/versions`, { value: 'v3' })).status, 201)
    assert.equal((await counts(org, 'new versions'))[1], start + 10)
    assert.equal((await as('DELETE', `/secrets/${a}/versions/1`)).status, 204)
    assert.equal((await counts(org, 'a destroyed version'))[1], start + 9)
    assert.equal((await as('DELETE', `/secrets/${a}`)).status, 204)
    assert.equal((await counts(org, 'a deleted secret (its versions cascade)'))[1], start + 7)
    assert.equal((await as('DELETE', `/secrets/${b}`)).status, 204)
    assert.equal((await counts(org, 'another deleted secret'))[1], start + 6)
  })

  it('leaves the counts as they were when the write rolls back', async () => {
    const before = await counts(org, 'before the rollback')
    const secret = (await as('POST', '/secrets', { name: 'rolled', type: 'generic', value: 'x' })).body.id as string
    const after = await counts(org, 'one more secret')
    await assert.rejects(
      withOrg(t().db.kysely, org.orgId, async (trx) => {
        await t().app.services.vault.writeVersion(trx, org.orgId, secret, 2, 'y', 'test')
        // Counted inside the write's transaction (one connection only: PGlite has one)...
        const inside = await trx
          .selectFrom('org_key_data_keys')
          .select(sql<string>`sum(data_keys)`.as('n'))
          .where('version', '=', 1)
          .executeTakeFirstOrThrow()
        assert.equal(Number(inside.n), (after[1] ?? 0) + 1)
        throw new Error('roll back')
      }),
      /roll back/,
    )
    // ...and gone with it.
    assert.equal((await counts(org, 'the rollback'))[1], after[1])
    assert.equal(after[1], (before[1] ?? 0) + 1)
  })

  it('counts transit keys, subject keys, their shredding and the shred ring’s resealing', async () => {
    const start = (await counts(org, 'start'))[1] ?? 0
    assert.equal((await as('POST', '/transit/keys', { name: 'payments' })).status, 201)
    assert.equal((await as('POST', '/transit/keys/payments/rotate')).status, 200)
    assert.equal((await counts(org, 'a transit key and its rotation'))[1], start + 2)
    for (const subjectId of ['subject-a', 'subject-b'])
      assert.equal(
        (await as('POST', '/records', { subjectId, dataClass: 'contact', payload: { x: 1 } }, app.token)).status,
        201,
      )
    assert.equal((await counts(org, 'two subjects'))[1], start + 4)
    await t().app.services.shredding.pass()
    assert.equal((await counts(org, 'the shred ring sealing subject keys'))[1], start + 4)
  })

  it('counts erasure webhook deliveries until they settle, and the erased subject’s key no more', async () => {
    const start = (await counts(org, 'start'))[1] ?? 0
    assert.equal(
      (await as('POST', '/webhooks', { name: 'crm', url: `${receiver.url}/crm`, events: ['erasure.requested'] }))
        .status,
      201,
    )
    const request = await as('POST', '/privacy-requests', {
      kind: 'erase',
      subjectId: 'subject-a',
      verification: { method: 'signed-in-account' },
    })
    assert.equal(request.status, 201, request.text)
    assert.equal((await as('POST', `/privacy-requests/${request.body.id}/complete`, {})).status, 200)
    // One key more for the webhook's signing secret (kept in the vault) and one for the
    // delivery (until it is settled); one less for the subject's, shredded.
    assert.equal((await counts(org, 'an erasure'))[1], start + 1)
    const received = receiver.received.length // one receiver for both engines' suites
    await t().app.services.webhooks.deliverDue()
    assert.equal(receiver.received.length, received + 1)
    assert.equal((await counts(org, 'the delivery settled'))[1], start)
  })

  it('moves counts from the old version to the new one as the rewrap job runs, to zero at retirement', async () => {
    const before = await counts(org, 'before rotating')
    const total = before[1] ?? 0
    assert.ok(total > 3, 'more keys than one rewrap batch')
    assert.equal((await as('POST', '/keys/rotate')).status, 200)
    assert.deepEqual(await counts(org, 'the rotation'), { 1: total })
    assert.equal((await as('POST', '/secrets', { name: 'after', type: 'generic', value: 'x' })).status, 201)
    assert.deepEqual(await counts(org, 'a secret under the new version'), { 1: total, 2: 1 })
    let remaining = total
    while (remaining > 0) {
      const batch = await t().app.services.rotation.rewrapBatch(org.orgId)
      assert.equal(batch.remaining, remaining - batch.rewrapped)
      remaining = batch.remaining
      const now = await counts(org, 'a rewrap batch')
      assert.equal(now[1] ?? 0, remaining)
      assert.equal(now[2], total - remaining + 1)
    }
    const status = (await as('GET', '/keys')).body
    assert.deepEqual(
      status.versions.map((v: { version: number; state: string; dataKeys: number }) => [
        v.version,
        v.state,
        v.dataKeys,
      ]),
      [
        [2, 'active', total + 1],
        [1, 'retired', 0],
      ],
    )
    assert.equal(status.pending, 0)
  })

  it('counts vulnerability reports under the provider org’s key', async () => {
    const before = (await counts(provider, 'start'))[1] ?? 0
    const submitted = await t().request({
      method: 'POST',
      url: '/v1/vulnerability-reports',
      body: { title: 'counted', location: 'here', impact: 'some', steps: 'these' },
    })
    assert.equal(submitted.status, 201, submitted.text)
    assert.equal((await counts(provider, 'a report'))[1], before + 1)
  })

  it('drops an org’s counts with the org', async () => {
    const rows = () =>
      t().db.kysely.selectFrom('org_key_data_keys').select('version').where('org_id', '=', org.orgId).execute()
    assert.ok((await rows()).length > 0)
    await withOwner(t().db.kysely, (trx) => t().app.services.identity.deleteOrgIn(trx, org.orgId))
    assert.deepEqual(await rows(), [])
  })
})
