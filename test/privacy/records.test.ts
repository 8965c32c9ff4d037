import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { sql } from 'kysely'
import { forEachEngine } from '../helpers/db.ts'
import {
  auditActions,
  bootstrapProvider,
  createCustomerOrg,
  fingerprint,
  principalWithRole,
  testClock,
  useTestApp,
  type Org,
} from '../helpers/app.ts'

const HOUR = 3_600_000
const SUBJECT = 'customer-7731@example.test'
const MARKER = 'favourite-colour-ultramarine-4417'

/** Customer data records sealed per data subject (P7.1, P1.3) and their retention (P7.3). */
forEachEngine('customer data records and retention (P7.1, P7.3, P1.3)', (engine) => {
  const time = testClock()
  const t = useTestApp(engine, { CUSTODIAN_RECORD_MAX_BYTES: '1024' }, undefined, undefined, { clock: time.clock })
  let provider: Org
  let acme: Org
  let other: Org
  let app: { token: string }
  let recordId = ''
  const url = (org: Org, path: string) => `/v1/orgs/${org.orgId}${path}`
  const put = (body: Record<string, unknown>, org: Org = acme, token = app.token) =>
    t().request({ method: 'POST', url: url(org, '/records'), token, body })

  before(async () => {
    provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', 'owner@acme.test')
    other = await createCustomerOrg(t(), provider, 'Other', 'owner@other.test')
    app = await principalWithRole(t(), acme, 'admin')
  })

  it('stores a record sealed with its subject’s key, and finds it by subject', async () => {
    const created = await put({
      subjectId: SUBJECT,
      dataClass: 'contact',
      payload: { name: 'Ada', note: MARKER },
      tags: ['crm'],
    })
    assert.equal(created.status, 201, created.text)
    recordId = created.body.id
    assert.equal(created.body.subjectId, SUBJECT)
    const read = await t().request({ method: 'GET', url: url(acme, `/records/${recordId}`), token: app.token })
    assert.deepEqual(read.body.payload, { name: 'Ada', note: MARKER })
    const found = await t().request({
      method: 'POST',
      url: url(acme, '/records/search'),
      token: app.token,
      body: { subjectId: SUBJECT },
    })
    assert.deepEqual(
      found.body.records.map((r: { id: string }) => r.id),
      [recordId],
    )
    assert.deepEqual(
      (
        await t().request({
          method: 'POST',
          url: url(acme, '/records/search'),
          token: app.token,
          body: { subjectId: 'nobody' },
        })
      ).body.records,
      [],
    )
  })

  it('keeps neither the payload nor the subject id in clear in any table (P1.3)', async () => {
    if (engine === 'pglite') await sql`CHECKPOINT`.execute(t().db.kysely)
    const tables = await sql<{
      tablename: string
    }>`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`.execute(t().db.kysely)
    for (const { tablename } of tables.rows) {
      for (const needle of [MARKER, SUBJECT, Buffer.from(SUBJECT).toString('hex')]) {
        const hit = await sql<{
          n: number
        }>`SELECT count(*)::int AS n FROM ${sql.table(tablename)} AS x WHERE x::text LIKE ${`%${needle}%`}`.execute(
          t().db.kysely,
        )
        assert.equal(hit.rows[0]?.n, 0, `${needle} found in ${tablename}`)
      }
    }
  })

  it('audits every change with the subject only as a sealed, committed personal field', async () => {
    const events = (await auditActions(t(), acme.orgId)).filter((e) => e.action === 'record.create')
    assert.equal(events.length, 1)
    assert.match(String(events[0]?.details.personal), /^sha256:[0-9a-f]{64}$/)
    assert.doesNotMatch(JSON.stringify(events), /customer-7731/)
    assert.equal(
      (await t().db.kysely.selectFrom('audit_personal').select('event_id').where('org_id', '=', acme.orgId).execute())
        .length,
      1,
    )
  })

  it('updates and deletes; another org sees nothing', async () => {
    assert.equal(
      (await t().request({ method: 'GET', url: url(other, `/records/${recordId}`), token: other.ownerToken })).status,
      404,
    )
    const updated = await t().request({
      method: 'PUT',
      url: url(acme, `/records/${recordId}`),
      token: app.token,
      body: { payload: { name: 'Ada L.' } },
    })
    assert.equal(updated.status, 200, updated.text)
    assert.deepEqual(updated.body.payload, { name: 'Ada L.' })
    assert.deepEqual(updated.body.tags, ['crm'])
    const temp = await put({ subjectId: SUBJECT, dataClass: 'usage', payload: 1 })
    assert.equal(
      (await t().request({ method: 'DELETE', url: url(acme, `/records/${temp.body.id}`), token: app.token })).status,
      204,
    )
    assert.equal(
      (await t().request({ method: 'GET', url: url(acme, `/records/${temp.body.id}`), token: app.token })).status,
      404,
    )
    const actions = (await auditActions(t(), acme.orgId)).map((e) => e.action)
    assert.ok(actions.includes('record.update') && actions.includes('record.delete'))
  })

  it('refuses a bad class or an oversized payload with the field named, storing nothing', async () => {
    const before = await fingerprint(t())
    const records = async () => (await t().db.kysely.selectFrom('data_records').select('id').execute()).length
    const count = await records()
    const badClass = await put({ subjectId: SUBJECT, dataClass: 'Customer Data', payload: {} })
    assert.equal(badClass.status, 400)
    const big = await put({ subjectId: SUBJECT, dataClass: 'contact', payload: 'x'.repeat(2000) })
    assert.equal(big.status, 400)
    assert.equal(big.body.errors[0].path, '/body/payload')
    assert.equal(await records(), count)
    assert.equal(await fingerprint(t()), before)
  })

  it('purges customer data after 24 hours by default, keeps metadata, and records proof (test clock)', async () => {
    for (let i = 0; i < 3; i++) await put({ subjectId: `s-${i}`, dataClass: 'customer_data', payload: { i } })
    await put({ subjectId: 's-0', dataClass: 'metadata', payload: { plan: 'pro' } })
    const policies = (await t().request({ method: 'GET', url: url(acme, '/retention'), token: acme.ownerToken })).body
      .policies
    assert.deepEqual(
      policies.find((p: { dataClass: string }) => p.dataClass === 'customer_data'),
      { dataClass: 'customer_data', retainSeconds: 86_400, source: 'default' },
    )
    assert.equal(await t().app.services.retention.purgeExpired(), 0, 'nothing is due yet')
    time.advance(24 * HOUR + 1000)
    assert.equal(await t().app.services.retention.purgeExpired(), 3)
    const left = await t()
      .db.kysely.selectFrom('data_records')
      .select('data_class')
      .where('org_id', '=', acme.orgId)
      .execute()
    assert.ok(!left.some((r) => r.data_class === 'customer_data'), 'customer data is gone')
    assert.ok(
      left.some((r) => r.data_class === 'metadata'),
      'metadata is kept',
    )
    const runs = (await t().request({ method: 'GET', url: url(acme, '/retention/runs'), token: acme.ownerToken })).body
      .runs
    const proof = runs[0].classes.find((c: { dataClass: string }) => c.dataClass === 'customer_data')
    assert.deepEqual(proof, {
      dataClass: 'customer_data',
      retainSeconds: 86_400,
      purged: 3,
      remaining: 0,
      oldestRemainingAgeSeconds: null,
    })
    const metadata = runs[0].classes.find((c: { dataClass: string }) => c.dataClass === 'metadata')
    assert.equal(metadata.remaining, 1)
    assert.ok(metadata.oldestRemainingAgeSeconds >= 86_400)
    assert.ok((await auditActions(t(), acme.orgId)).some((e) => e.action === 'retention.purge'))
  })

  it('follows the org’s own period for a class', async () => {
    const set = await t().request({
      method: 'PUT',
      url: url(acme, '/retention/usage'),
      token: acme.ownerToken,
      body: { retainSeconds: 3600 },
    })
    assert.equal(set.status, 200)
    const usage = await put({ subjectId: 's-9', dataClass: 'usage', payload: { clicks: 3 } })
    time.advance(HOUR - 60_000)
    await t().app.services.retention.purgeExpired()
    assert.equal(
      (await t().request({ method: 'GET', url: url(acme, `/records/${usage.body.id}`), token: app.token })).status,
      200,
    )
    time.advance(2 * 60_000)
    await t().app.services.retention.purgeExpired()
    assert.equal(
      (await t().request({ method: 'GET', url: url(acme, `/records/${usage.body.id}`), token: app.token })).status,
      404,
    )
  })

  it('survives an org-key rotation: subject keys are rewrapped, records stay readable', async () => {
    assert.equal(
      (await t().request({ method: 'POST', url: url(acme, '/keys/rotate'), token: acme.ownerToken })).status,
      200,
    )
    while ((await t().app.services.rotation.rewrapBatch(acme.orgId)).remaining > 0) {
      // batches until every data key moved
    }
    const keys = (await t().request({ method: 'GET', url: url(acme, '/keys'), token: acme.ownerToken })).body
    assert.deepEqual(
      keys.versions.map((v: { state: string }) => v.state),
      ['active', 'retired'],
    )
    assert.equal(
      (await t().request({ method: 'GET', url: url(acme, `/records/${recordId}`), token: app.token })).body.payload
        .name,
      'Ada L.',
    )
  })
})
