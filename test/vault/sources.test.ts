import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, it } from 'node:test'
import pg from 'pg'
import { forEachEngine, postgresAvailable } from '../helpers/db.ts'
import { auditActions, bootstrapProvider, createCustomerOrg, useTestApp, type Org } from '../helpers/app.ts'

/**
 * Real roles on the PostgreSQL at TEST_DATABASE_URL, whatever engine Custodian itself
 * stores in: one that can only read, one that can write.
 */
const suffix = randomBytes(4).toString('hex')
const target = { database: `custodian_src_${suffix}`, ro: `ro_${suffix}`, rw: `rw_${suffix}` }
const base = () => new URL(process.env.TEST_DATABASE_URL as string)
const credential = (user: string, sslmode: 'disable' | 'require' = 'disable') => ({ host: base().hostname, port: Number(base().port || 5432), database: target.database, user, password: `pw-${suffix}`, sslmode })

async function admin<T>(fn: (client: pg.Client) => Promise<T>, database?: string): Promise<T> {
  const url = base()
  if (database !== undefined) url.pathname = `/${database}`
  const client = new pg.Client({ connectionString: url.toString() })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

if (postgresAvailable()) {
  before(async () => {
    await admin(async (c) => {
      await c.query(`CREATE DATABASE ${target.database}`)
      await c.query(`CREATE ROLE ${target.ro} LOGIN PASSWORD 'pw-${suffix}'`)
      await c.query(`CREATE ROLE ${target.rw} LOGIN PASSWORD 'pw-${suffix}'`)
    })
    await admin(async (c) => {
      await c.query('CREATE TABLE accounts (id int PRIMARY KEY, name text)')
      await c.query(`GRANT SELECT ON accounts TO ${target.ro}, ${target.rw}`)
      await c.query(`GRANT INSERT, UPDATE ON accounts TO ${target.rw}`)
    }, target.database)
  })
  after(async () => {
    await admin(async (c) => {
      await c.query(`DROP DATABASE IF EXISTS ${target.database} WITH (FORCE)`)
      await c.query(`DROP ROLE IF EXISTS ${target.ro}`)
      await c.query(`DROP ROLE IF EXISTS ${target.rw}`)
    })
  })
}

forEachEngine('connected data sources (P1.5, P1.7, P10.3)', (engine) => {
  const t = useTestApp(engine, { CUSTODIAN_AUTH_RATE_LIMIT: '1000' })
  let org: Org
  const url = () => `/v1/orgs/${org.orgId}`
  const store = async (name: string, value: unknown) => t().request({ method: 'POST', url: `${url()}/secrets`, token: org.ownerToken, body: { name, type: 'database_credential', value } })
  const reveal = (id: string) => t().request({ method: 'POST', url: `${url()}/secrets/${id}/reveal`, token: org.ownerToken, body: { reason: 'connect' } })
  const check = (id: string) => t().request({ method: 'POST', url: `${url()}/secrets/${id}/check`, token: org.ownerToken })

  before(async () => {
    const provider = await bootstrapProvider(t())
    org = await createCustomerOrg(t(), provider, 'Sources Org', 'owner@sources.test')
  })

  it('reports a read-only role as unable to write, and a read-write role with its writable tables', { skip: !postgresAvailable() }, async () => {
    const ro = (await store('reader', credential(target.ro))).body
    const rw = (await store('writer', credential(target.rw))).body
    const roCheck = (await check(ro.id)).body
    assert.equal(roCheck.reachable, true, JSON.stringify(roCheck))
    assert.equal(roCheck.role, target.ro)
    assert.equal(roCheck.superuser, false)
    assert.equal(roCheck.canWrite, false)
    assert.deepEqual(roCheck.writableTables, [])
    const rwCheck = (await check(rw.id)).body
    assert.equal(rwCheck.canWrite, true)
    assert.deepEqual(rwCheck.writableTables, [{ schema: 'public', table: 'accounts', privileges: ['INSERT', 'UPDATE'] }])
    const events = (await auditActions(t(), org.orgId)).filter((e) => e.action === 'secret.check')
    assert.equal(events.length, 2)
    assert.ok(!JSON.stringify(events).includes(`pw-${suffix}`))
  })

  it('requires TLS unless the secret says sslmode disable', { skip: !postgresAvailable() }, async () => {
    const tls = (await store('tls-required', credential(target.ro, 'require'))).body
    const result = (await check(tls.id)).body
    assert.equal(result.reachable, false)
    assert.match(result.error, /SSL/i)
    assert.ok(!result.error.includes(`pw-${suffix}`))
  })

  it('with the read-only policy, refuses to store or use a credential that can write', { skip: !postgresAvailable() }, async () => {
    const before: number = (await t().request({ method: 'GET', url: `${url()}/secrets`, token: org.ownerToken })).body.secrets.length
    const earlierWriter = (await store('writer-before-policy', credential(target.rw))).body
    assert.equal((await t().request({ method: 'PUT', url: `${url()}/vault/policy`, token: org.ownerToken, body: { readOnlyConnectors: true } })).body.readOnlyConnectors, true)
    const refused = await store('writer-2', credential(target.rw))
    assert.equal(refused.status, 409)
    assert.equal(refused.body.code, 'CONNECTOR_NOT_READ_ONLY')
    assert.match(refused.body.detail, new RegExp(`role ${target.rw} can write`))
    const accepted = await store('reader-2', credential(target.ro))
    assert.equal(accepted.status, 201)
    assert.ok(accepted.body.lastCheckedAt)
    assert.equal((await reveal(accepted.body.id)).status, 200)
    const blocked = await reveal(earlierWriter.id)
    assert.equal(blocked.status, 409)
    assert.equal(blocked.body.code, 'CONNECTOR_NOT_READ_ONLY')
    assert.equal((await t().request({ method: 'GET', url: `${url()}/secrets`, token: org.ownerToken })).body.secrets.length, before + 2)
    await t().request({ method: 'PUT', url: `${url()}/vault/policy`, token: org.ownerToken, body: { readOnlyConnectors: false } })
  })

  it('pauses and resumes a data source, and lists its status', async () => {
    const secret = (await store('pausable', credential('someone'))).body
    assert.equal((await t().request({ method: 'POST', url: `${url()}/secrets/${secret.id}/pause`, token: org.ownerToken })).status, 204)
    const paused = await reveal(secret.id)
    assert.equal(paused.status, 409)
    assert.equal(paused.body.code, 'SECRET_PAUSED')
    const list = (await t().request({ method: 'GET', url: `${url()}/data-sources`, token: org.ownerToken })).body.dataSources
    assert.equal(list.find((s: { id: string }) => s.id === secret.id).status, 'paused')
    await t().request({ method: 'POST', url: `${url()}/secrets/${secret.id}/resume`, token: org.ownerToken })
    assert.equal((await reveal(secret.id)).status, 200)
    const source = (await t().request({ method: 'GET', url: `${url()}/data-sources`, token: org.ownerToken })).body.dataSources.find((s: { id: string }) => s.id === secret.id)
    assert.equal(source.status, 'active')
    assert.ok(source.lastUsedAt)
    assert.equal(source.user, 'someone')
    assert.ok(!JSON.stringify(source).includes(`pw-${suffix}`))
  })

  it('blocks an exposed secret at once, notifies without the value, and clears only with a new version (P1.5)', async () => {
    const secret = (await t().request({ method: 'POST', url: `${url()}/secrets`, token: org.ownerToken, body: { name: 'leaked-key', type: 'api_key', value: 'sk_live_leaked_value' } })).body
    const reported = await t().request({ method: 'POST', url: `${url()}/secrets/${secret.id}/report-exposed`, token: org.ownerToken, body: { reason: 'pasted in a public issue' } })
    assert.equal(reported.status, 200)
    assert.ok(reported.body.notified >= 1)
    const blocked = await reveal(secret.id)
    assert.equal(blocked.status, 409)
    assert.equal(blocked.body.code, 'SECRET_EXPOSED')
    const notes = await t().db.kysely.selectFrom('notifications').selectAll().where('org_id', '=', org.orgId).where('kind', '=', 'secret.exposed').execute()
    assert.ok(notes.length >= 1)
    assert.ok(!JSON.stringify(notes).includes('sk_live_leaked_value'), 'a notification never carries the value')
    await t().request({ method: 'POST', url: `${url()}/secrets/${secret.id}/versions`, token: org.ownerToken, body: { value: 'sk_live_new_value' } })
    const after = await reveal(secret.id)
    assert.equal(after.status, 200)
    assert.equal(after.body.value, 'sk_live_new_value')
    const old = await t().request({ method: 'POST', url: `${url()}/secrets/${secret.id}/reveal`, token: org.ownerToken, body: { reason: 'old', version: 1 } })
    assert.equal(old.status, 200, 'the exposure was cleared by the new version')
    const actions = (await auditActions(t(), org.orgId)).map((e) => e.action)
    for (const action of ['secret.exposed', 'secret.exposure.cleared']) assert.ok(actions.includes(action), action)
    const denied = (await auditActions(t(), org.orgId)).filter((e) => e.action === 'secret.reveal' && e.outcome === 'denied')
    assert.ok(denied.some((e) => (e.details as { error?: string }).error === 'SECRET_EXPOSED'))
  })
})
