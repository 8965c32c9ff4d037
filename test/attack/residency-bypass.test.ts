import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { before, it } from 'node:test'
import { sql } from 'kysely'
import { loadConfig } from '../../src/config.ts'
import { createLogger } from '../../src/logger.ts'
import { addressBlock } from '../../src/http/access-control.ts'
import { mintRegionOrgId, orgIdDigest, pinOrgs, ResidencyError } from '../../src/modules/ops/residency.ts'
import { bootstrapProvider, startTestApp, useTestApp, type Org } from '../helpers/app.ts'
import { createTestDatabase, forEachEngine } from '../helpers/db.ts'

/**
 * Attacks on data residency (P8.2, src/modules/ops/residency.ts): an org of another region
 * named somewhere the guard did not look — a path parameter not called `orgId`, a query
 * string — reaches this region's handlers; an org row whose
 * id names another region is pinned here at start; a directory URL carrying credentials is
 * handed to every anonymous caller in the 421.
 */
const ENV = {
  CUSTODIAN_REGION: 'eu',
  CUSTODIAN_REGIONS: 'eu=https://eu.custodian.test,us=https://us.custodian.test',
}

it('attack: a region URL with credentials, a query or a fragment is refused — the 421 hands it to anyone (P8.2)', () => {
  const problems = (regions: string) => {
    try {
      loadConfig({ CUSTODIAN_DATA_DIR: '/tmp/x', CUSTODIAN_REGION: 'eu', CUSTODIAN_REGIONS: regions })
      return ''
    } catch (error) {
      return String((error as Error).message)
    }
  }
  const eu = 'eu=https://eu.custodian.test'
  assert.equal(problems(`${eu},us=https://us.custodian.test/custodian`), '', 'a path is fine')
  for (const url of [
    'https://admin:hunter2@us.custodian.test',
    'https://token@us.custodian.test',
    'https://us.custodian.test/?key=secret',
    'https://us.custodian.test/#frag',
  ])
    assert.match(problems(`${eu},us=${url}`), /CUSTODIAN_REGIONS: us: /, url)
})

forEachEngine('attack: data residency bypasses (P8.2)', (engine) => {
  const t = useTestApp(engine, { ...ENV, CUSTODIAN_AUTH_RATE_LIMIT: '1000' })
  let provider: Org
  const us = mintRegionOrgId('us')

  before(async () => {
    provider = await bootstrapProvider(t())
  })

  it('attack: another region’s org named by a path parameter other than {orgId}, or by ?org=, is refused 421 and recorded by digest', async () => {
    const cases = [
      { method: 'POST', url: `/v1/operator/rollback/orgs/${us}/acknowledge`, body: { reason: 'restored' } },
      { method: 'GET', url: `/v1/operator/offboardings/${us}` },
      // A verifier key for another region's org, made with this region's key: a wrong key a witness would adopt.
      { method: 'GET', url: `/v1/audit/keys?org=${us}` },
      { method: 'GET', url: `/v1/audit/keys?org=${us.toUpperCase()}` },
      // The URN spelling of a UUID, which the uuid format took and the guard did not.
      { method: 'GET', url: `/v1/audit/keys?org=urn:uuid:${us}` },
      { method: 'GET', url: `/v1/orgs/urn:uuid:${us}` },
      { method: 'GET', url: `/v1/orgs/URN:UUID:${us}/members` },
      {
        method: 'POST',
        url: '/v1/login',
        body: { email: 'owner@provider.test', password: 'correct horse battery staple', orgId: `urn:uuid:${us}` },
      },
    ]
    for (const [i, c] of cases.entries())
      for (const token of [provider.ownerToken, undefined]) {
        const response = await t().request({ ...c, token, remoteAddress: `10.77.${i}.${token === undefined ? 1 : 2}` })
        assert.equal(response.status, 421, `${c.method} ${c.url}: ${response.text}`)
        assert.equal(response.body.code, 'REGION_MISDIRECTED')
        assert.equal(response.body.region, 'us')
        assert.equal(response.body.regionUrl, 'https://us.custodian.test')
      }
    await t().app.sequencer.flush()
    const refusals = await t()
      .db.kysely.selectFrom('audit_events')
      .select(['org_id', 'details'])
      .where('action', '=', 'access.denied')
      .where(sql<boolean>`details->>'code' = 'REGION_MISDIRECTED'`)
      .execute()
    assert.equal(refusals.length, cases.length * 2)
    for (const r of refusals) {
      assert.equal(r.org_id, provider.orgId)
      assert.equal((r.details as { requestedOrgDigest: string }).requestedOrgDigest, orgIdDigest(us))
      assert.ok(!JSON.stringify(r.details).includes(us), 'the id itself is not kept')
    }
  })

  it('attack: 421s sprayed from one IPv6 /64, a new address each, grow the provider’s log by the budget of one address', async () => {
    const count = async () =>
      (
        await t()
          .db.kysely.selectFrom('audit_events')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .where('action', '=', 'access.denied')
          .executeTakeFirstOrThrow()
      ).n
    await t().app.sequencer.flush()
    const before = Number(await count())
    for (let i = 1; i <= 40; i++) {
      const response = await t().request({
        method: 'GET',
        url: `/v1/orgs/${mintRegionOrgId('us')}`,
        remoteAddress: `2001:db8:77:1::${i.toString(16)}`,
      })
      assert.equal(response.status, 421)
    }
    await t().app.sequencer.flush()
    assert.equal(Number(await count()) - before, 30, 'the budget of one address (30 a minute)')
    assert.equal(addressBlock('2001:db8:77:1::28'), addressBlock('2001:0db8:0077:0001:ffff::1'))
    assert.notEqual(addressBlock('2001:db8:77:1::1'), addressBlock('2001:db8:77:2::1'))
    assert.equal(addressBlock('::ffff:10.1.2.3'), '10.1.2.3')
    assert.equal(addressBlock('10.1.2.3'), '10.1.2.3')
  })

  it('attack: an org id spelt as a URN is no id: refused by validation (400), never handed to SQL (P8.2, P8.1)', async () => {
    for (const url of [`/v1/orgs/urn:uuid:${provider.orgId}`, `/v1/audit/keys?org=urn:uuid:${provider.orgId}`]) {
      const response = await t().request({ method: 'GET', url, token: provider.ownerToken })
      assert.ok([400, 404].includes(response.status), `${url}: ${response.text}`)
    }
    const login = await t().request({
      method: 'POST',
      url: '/v1/login',
      body: { email: 'owner@provider.test', password: 'wrong password', orgId: `urn:uuid:${provider.orgId}` },
    })
    assert.equal(login.status, 400, login.text)
  })

  it('attack: an org row whose id names another region, with no region yet, is not pinned here at start (it would move)', async () => {
    const db = await createTestDatabase(engine)
    try {
      const copied = mintRegionOrgId('us')
      await db.kysely.insertInto('orgs').values({ id: copied, kind: 'customer', name: 'Copied by hand' }).execute()
      await assert.rejects(pinOrgs(db.kysely, 'eu'), (error: unknown) => {
        assert.ok(error instanceof ResidencyError)
        assert.match(error.message, new RegExp(copied))
        return true
      })
      const row = await db.kysely.selectFrom('orgs').select('region').where('id', '=', copied).executeTakeFirstOrThrow()
      assert.equal(row.region, null, 'left unpinned: nothing moved')
      // Its region column saying this region does not make it this region's either.
      await db.kysely.deleteFrom('orgs').where('id', '=', copied).execute()
      await db.kysely
        .insertInto('orgs')
        .values({ id: mintRegionOrgId('us'), kind: 'customer', name: 'Relabelled', region: 'eu' })
        .execute()
      await assert.rejects(pinOrgs(db.kysely, 'eu'), ResidencyError)
    } finally {
      await db.close()
    }
  })

  it('attack: a region’s database started without CUSTODIAN_REGION is refused — leaving the variable out does not switch residency off', async () => {
    const db = await createTestDatabase(engine)
    try {
      const legacy = randomUUID()
      await db.kysely.insertInto('orgs').values({ id: legacy, kind: 'customer', name: 'Legacy' }).execute()
      assert.equal(await pinOrgs(db.kysely, undefined), 0, 'a database of unpinned orgs starts as before')
      const pinned = mintRegionOrgId('eu')
      await db.kysely.insertInto('orgs').values({ id: pinned, kind: 'customer', name: 'Of eu', region: 'eu' }).execute()
      await assert.rejects(startTestApp(engine, db, {}), (error: unknown) => {
        assert.ok(error instanceof ResidencyError)
        assert.match(error.message, new RegExp(`${pinned}: eu.*no CUSTODIAN_REGION`))
        return true
      })
      // Only its id naming a region (its row not pinned yet) is enough.
      await db.kysely.deleteFrom('orgs').where('id', '=', pinned).execute()
      await db.kysely
        .insertInto('orgs')
        .values({ id: mintRegionOrgId('us'), kind: 'customer', name: 'Of us' })
        .execute()
      await assert.rejects(pinOrgs(db.kysely, undefined), ResidencyError)
    } finally {
      await db.close()
    }
  })
})

it('attack: a misdirected request’s URL in this region’s request log names the other region’s org only by digest (P8.2)', () => {
  const lines: string[] = []
  const logger = createLogger(loadConfig({ CUSTODIAN_DATA_DIR: '/tmp/x', ...ENV, CUSTODIAN_LOG_LEVEL: 'info' }), {
    write: (line: string) => lines.push(line),
  })
  const us = mintRegionOrgId('us')
  const eu = mintRegionOrgId('eu')
  const legacy = '0b7c3a4e-1f2d-4c5b-8a9e-112233445566'
  for (const url of [
    `/v1/orgs/${us}/members`,
    `/v1/orgs/urn%3Auuid%3A${us.toUpperCase()}`,
    `/v1/orgs/${eu}/x/${legacy}`,
  ])
    logger.info(
      { req: { method: 'GET', url, ip: '10.0.0.1', routeOptions: { url: '/v1/orgs/:orgId' } } },
      'incoming request',
    )
  const text = lines.join('')
  assert.ok(!text.toLowerCase().includes(us.toLowerCase()), text)
  assert.equal(text.split(orgIdDigest(us)).length - 1, 2, 'its digest stands in for it')
  assert.ok(text.includes(eu) && text.includes(legacy), 'this region’s ids and untagged ids are logged as before')
})
