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
/**
 * One throwaway login role per way of being able to write without a direct table grant
 * (P1.7), each with what the check must name; and group roles they reach through.
 */
const writers: {
  role: string
  setup: (r: string) => string[]
  inDatabase?: (r: string) => string[]
  reason: RegExp
}[] = [
  { role: `w_super_${suffix}`, setup: (r) => [`ALTER ROLE ${r} SUPERUSER`], reason: /superuser/ },
  { role: `w_createrole_${suffix}`, setup: (r) => [`ALTER ROLE ${r} CREATEROLE`], reason: /CREATEROLE/ },
  { role: `w_bypassrls_${suffix}`, setup: (r) => [`ALTER ROLE ${r} BYPASSRLS`], reason: /BYPASSRLS/ },
  // Owners can grant themselves back whatever they revoke from themselves.
  {
    role: `w_owntable_${suffix}`,
    setup: () => [],
    inDatabase: (r) => [
      `CREATE TABLE owned_${suffix} (id int)`,
      `ALTER TABLE owned_${suffix} OWNER TO ${r}`,
      `REVOKE ALL ON owned_${suffix} FROM ${r}`,
    ],
    reason: /owns table public\.owned_/,
  },
  {
    role: `w_ownschema_${suffix}`,
    setup: () => [],
    inDatabase: (r) => [`CREATE SCHEMA s_${suffix} AUTHORIZATION ${r}`, `REVOKE ALL ON SCHEMA s_${suffix} FROM ${r}`],
    reason: /owns schema s_/,
  },
  {
    role: `w_writeall_${suffix}`,
    setup: (r) => [`GRANT pg_write_all_data TO ${r}`],
    reason: /member of pg_write_all_data/,
  },
  // NOINHERIT: the privileges of its groups are not its own until SET ROLE — still write-capable.
  {
    role: `w_member_${suffix}`,
    setup: (r) => [`ALTER ROLE ${r} NOINHERIT`, `GRANT g_insert_${suffix} TO ${r}`],
    reason: /member of g_insert_/,
  },
  {
    role: `w_nested_${suffix}`,
    setup: (r) => [`ALTER ROLE ${r} NOINHERIT`, `GRANT g_mid_${suffix} TO ${r}`],
    reason: /member of g_owner_/,
  },
]
const groups = [`g_insert_${suffix}`, `g_mid_${suffix}`, `g_owner_${suffix}`]
const stale = { checked: `st_${suffix}`, job: `sj_${suffix}` }
const base = () => new URL(process.env.TEST_DATABASE_URL as string)
const credential = (user: string, sslmode: 'disable' | 'require' = 'disable') => ({
  host: base().hostname,
  port: Number(base().port || 5432),
  database: target.database,
  user,
  password: `pw-${suffix}`,
  sslmode,
})

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
      await c.query(`GRANT pg_read_all_data TO ${target.ro}`)
      for (const g of groups) await c.query(`CREATE ROLE ${g} NOLOGIN`)
      await c.query(`GRANT g_owner_${suffix} TO g_mid_${suffix}`)
      for (const r of [stale.checked, stale.job]) await c.query(`CREATE ROLE ${r} LOGIN PASSWORD 'pw-${suffix}'`)
      for (const w of writers) {
        await c.query(`CREATE ROLE ${w.role} LOGIN PASSWORD 'pw-${suffix}'`)
        for (const statement of w.setup(w.role)) await c.query(statement)
      }
    })
    await admin(async (c) => {
      await c.query('CREATE TABLE accounts (id int PRIMARY KEY, name text)')
      await c.query(`GRANT SELECT ON accounts TO ${target.ro}, ${target.rw}, ${stale.checked}, ${stale.job}`)
      await c.query(`GRANT INSERT, UPDATE ON accounts TO ${target.rw}`)
      await c.query(`GRANT INSERT ON accounts TO g_insert_${suffix}`)
      await c.query(`CREATE TABLE group_owned (id int)`)
      await c.query(`ALTER TABLE group_owned OWNER TO g_owner_${suffix}`)
      for (const w of writers) for (const statement of w.inDatabase?.(w.role) ?? []) await c.query(statement)
    }, target.database)
  })
  after(async () => {
    await admin(async (c) => {
      await c.query(`DROP DATABASE IF EXISTS ${target.database} WITH (FORCE)`)
      await c.query(`DROP ROLE IF EXISTS ${target.ro}`)
      await c.query(`DROP ROLE IF EXISTS ${target.rw}`)
      for (const r of [...writers.map((w) => w.role), stale.checked, stale.job, ...groups.reverse()])
        await c.query(`DROP ROLE IF EXISTS ${r}`)
    })
  })
}

forEachEngine('connected data sources (P1.5, P1.7, P10.3)', (engine) => {
  const t = useTestApp(engine, { CUSTODIAN_AUTH_RATE_LIMIT: '1000', CUSTODIAN_CONNECTOR_CHECK_MAX_AGE_MS: '3600000' })
  let org: Org
  const url = () => `/v1/orgs/${org.orgId}`
  const store = async (name: string, value: unknown) =>
    t().request({
      method: 'POST',
      url: `${url()}/secrets`,
      token: org.ownerToken,
      body: { name, type: 'database_credential', value },
    })
  const reveal = (id: string) =>
    t().request({
      method: 'POST',
      url: `${url()}/secrets/${id}/reveal`,
      token: org.ownerToken,
      body: { reason: 'connect' },
    })
  const check = (id: string) =>
    t().request({ method: 'POST', url: `${url()}/secrets/${id}/check`, token: org.ownerToken })

  before(async () => {
    const provider = await bootstrapProvider(t())
    org = await createCustomerOrg(t(), provider, 'Sources Org', 'owner@sources.test')
  })

  it('reports a read-only role as unable to write, and a read-write role with its writable tables', {
    skip: !postgresAvailable(),
  }, async () => {
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
    assert.deepEqual(rwCheck.writableTables, [
      { schema: 'public', table: 'accounts', privileges: ['INSERT', 'UPDATE'] },
    ])
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

  it('with the read-only policy, refuses to store or use a credential that can write', {
    skip: !postgresAvailable(),
  }, async () => {
    const before: number = (await t().request({ method: 'GET', url: `${url()}/secrets`, token: org.ownerToken })).body
      .secrets.length
    const earlierWriter = (await store('writer-before-policy', credential(target.rw))).body
    assert.equal(
      (
        await t().request({
          method: 'PUT',
          url: `${url()}/vault/policy`,
          token: org.ownerToken,
          body: { readOnlyConnectors: true },
        })
      ).body.readOnlyConnectors,
      true,
    )
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
    assert.equal(
      (await t().request({ method: 'GET', url: `${url()}/secrets`, token: org.ownerToken })).body.secrets.length,
      before + 2,
    )
    await t().request({
      method: 'PUT',
      url: `${url()}/vault/policy`,
      token: org.ownerToken,
      body: { readOnlyConnectors: false },
    })
  })

  it('counts every way a role can write — superuser, CREATEROLE, BYPASSRLS, ownership, writing roles it belongs to — and refuses it as one that can write (P1.7)', {
    skip: !postgresAvailable(),
  }, async () => {
    const reader = (await check((await store('reader-all-data', credential(target.ro))).body.id)).body
    assert.equal(reader.canWrite, false, `pg_read_all_data only reads: ${JSON.stringify(reader.writeReasons)}`)
    assert.deepEqual(reader.writeReasons, [])
    for (const w of writers) {
      const stored = await store(`writer-${w.role}`, credential(w.role))
      assert.equal(stored.status, 201, stored.text)
      const result = (await check(stored.body.id)).body
      assert.equal(result.reachable, true, JSON.stringify(result))
      assert.equal(result.canWrite, true, `${w.role}: ${JSON.stringify(result)}`)
      assert.ok(
        result.writeReasons.some((reason: string) => w.reason.test(reason)),
        `${w.role}: ${JSON.stringify(result.writeReasons)}`,
      )
    }
    await t().request({
      method: 'PUT',
      url: `${url()}/vault/policy`,
      token: org.ownerToken,
      body: { readOnlyConnectors: true },
    })
    try {
      for (const w of writers) {
        const refused = await store(`writer-refused-${w.role}`, credential(w.role))
        assert.equal(refused.status, 409, w.role)
        assert.equal(refused.body.code, 'CONNECTOR_NOT_READ_ONLY')
        assert.match(refused.body.detail, /can write/)
        assert.match(refused.body.detail, w.reason)
      }
    } finally {
      await t().request({
        method: 'PUT',
        url: `${url()}/vault/policy`,
        token: org.ownerToken,
        body: { readOnlyConnectors: false },
      })
    }
  })

  it('checks again before use when the last check is older than the configured age, and on a schedule (P1.7)', {
    skip: !postgresAvailable(),
  }, async () => {
    await t().request({
      method: 'PUT',
      url: `${url()}/vault/policy`,
      token: org.ownerToken,
      body: { readOnlyConnectors: true },
    })
    try {
      const used = (await store('stale-before-use', credential(stale.checked))).body
      const scheduled = (await store('stale-scheduled', credential(stale.job))).body
      assert.equal((await reveal(used.id)).status, 200)
      // The roles gain a write privilege after their last check…
      await admin((c) => c.query(`GRANT DELETE ON accounts TO ${stale.checked}, ${stale.job}`), target.database)
      // …and a check younger than the configured age is trusted as it is.
      assert.equal((await reveal(used.id)).status, 200)
      const old = new Date(Date.now() - 2 * 3_600_000)
      await t()
        .db.kysely.updateTable('secrets')
        .set({ last_checked_at: old })
        .where('id', 'in', [used.id, scheduled.id])
        .execute()
      const refused = await reveal(used.id)
      assert.equal(refused.status, 409)
      assert.equal(refused.body.code, 'CONNECTOR_NOT_READ_ONLY')
      assert.match(refused.body.detail, /can write/)
      // The scheduled check finds the other one without anyone using it.
      await t().app.connectorCheckWorker.runOnce()
      const row = await t()
        .db.kysely.selectFrom('secrets')
        .select(['last_checked_at', 'last_check'])
        .where('id', '=', scheduled.id)
        .executeTakeFirstOrThrow()
      assert.ok(row.last_checked_at !== null && row.last_checked_at > old)
      assert.equal((row.last_check as { canWrite?: boolean }).canWrite, true)
      const list = (await t().request({ method: 'GET', url: `${url()}/data-sources`, token: org.ownerToken })).body
        .dataSources
      assert.equal(list.find((s: { id: string }) => s.id === scheduled.id).lastCheck.canWrite, true)
      const checks = await t()
        .db.kysely.selectFrom('audit_events')
        .select(['actor_type', 'actor_id'])
        .where('action', '=', 'secret.check')
        .where('target_id', '=', scheduled.id)
        .execute()
      assert.ok(
        checks.some((e) => e.actor_type === 'system'),
        'the scheduled check is audited as the system',
      )
    } finally {
      // The roles are shared by both engines' runs.
      await admin((c) => c.query(`REVOKE DELETE ON accounts FROM ${stale.checked}, ${stale.job}`), target.database)
      await t().request({
        method: 'PUT',
        url: `${url()}/vault/policy`,
        token: org.ownerToken,
        body: { readOnlyConnectors: false },
      })
    }
  })

  it('pauses and resumes a data source, and lists its status', async () => {
    const secret = (await store('pausable', credential('someone'))).body
    assert.equal(
      (await t().request({ method: 'POST', url: `${url()}/secrets/${secret.id}/pause`, token: org.ownerToken })).status,
      204,
    )
    const paused = await reveal(secret.id)
    assert.equal(paused.status, 409)
    assert.equal(paused.body.code, 'SECRET_PAUSED')
    const list = (await t().request({ method: 'GET', url: `${url()}/data-sources`, token: org.ownerToken })).body
      .dataSources
    assert.equal(list.find((s: { id: string }) => s.id === secret.id).status, 'paused')
    await t().request({ method: 'POST', url: `${url()}/secrets/${secret.id}/resume`, token: org.ownerToken })
    assert.equal((await reveal(secret.id)).status, 200)
    const source = (
      await t().request({ method: 'GET', url: `${url()}/data-sources`, token: org.ownerToken })
    ).body.dataSources.find((s: { id: string }) => s.id === secret.id)
    assert.equal(source.status, 'active')
    assert.ok(source.lastUsedAt)
    assert.equal(source.user, 'someone')
    assert.ok(!JSON.stringify(source).includes(`pw-${suffix}`))
  })

  it('blocks an exposed secret at once, notifies without the value, and clears only with a new version (P1.5)', async () => {
    const secret = (
      await t().request({
        method: 'POST',
        url: `${url()}/secrets`,
        token: org.ownerToken,
        body: { name: 'leaked-key', type: 'api_key', value: 'sk_live_leaked_value' },
      })
    ).body
    const reported = await t().request({
      method: 'POST',
      url: `${url()}/secrets/${secret.id}/report-exposed`,
      token: org.ownerToken,
      body: { reason: 'pasted in a public issue' },
    })
    assert.equal(reported.status, 200)
    assert.ok(reported.body.notified >= 1)
    const blocked = await reveal(secret.id)
    assert.equal(blocked.status, 409)
    assert.equal(blocked.body.code, 'SECRET_EXPOSED')
    const notes = await t()
      .db.kysely.selectFrom('notifications')
      .selectAll()
      .where('org_id', '=', org.orgId)
      .where('kind', '=', 'secret.exposed')
      .execute()
    assert.ok(notes.length >= 1)
    assert.ok(!JSON.stringify(notes).includes('sk_live_leaked_value'), 'a notification never carries the value')
    await t().request({
      method: 'POST',
      url: `${url()}/secrets/${secret.id}/versions`,
      token: org.ownerToken,
      body: { value: 'sk_live_new_value' },
    })
    const after = await reveal(secret.id)
    assert.equal(after.status, 200)
    assert.equal(after.body.value, 'sk_live_new_value')
    const old = await t().request({
      method: 'POST',
      url: `${url()}/secrets/${secret.id}/reveal`,
      token: org.ownerToken,
      body: { reason: 'old', version: 1 },
    })
    assert.equal(old.status, 409, 'the exposed version stays blocked after a new one replaces it')
    assert.equal(old.body.code, 'SECRET_VERSION_EXPOSED')
    const actions = (await auditActions(t(), org.orgId)).map((e) => e.action)
    for (const action of ['secret.exposed', 'secret.exposure.cleared']) assert.ok(actions.includes(action), action)
    const denied = (await auditActions(t(), org.orgId)).filter(
      (e) => e.action === 'secret.reveal' && e.outcome === 'denied',
    )
    assert.ok(denied.some((e) => (e.details as { error?: string }).error === 'SECRET_EXPOSED'))
  })

  it('keeps a version reported exposed, and every older one, blocked for good; the newest clean version reveals (P1.5)', async () => {
    const secret = (
      await t().request({
        method: 'POST',
        url: `${url()}/secrets`,
        token: org.ownerToken,
        body: { name: 'twice-leaked', type: 'api_key', value: 'v1' },
      })
    ).body
    const addVersion = (value: string) =>
      t().request({
        method: 'POST',
        url: `${url()}/secrets/${secret.id}/versions`,
        token: org.ownerToken,
        body: { value },
      })
    const revealVersion = (version?: number) =>
      t().request({
        method: 'POST',
        url: `${url()}/secrets/${secret.id}/reveal`,
        token: org.ownerToken,
        body: { reason: 'check', ...(version === undefined ? {} : { version }) },
      })
    assert.equal((await addVersion('v2')).status, 201)
    assert.equal((await addVersion('v3')).status, 201)
    // Version 3 is current when reported.
    assert.equal(
      (
        await t().request({
          method: 'POST',
          url: `${url()}/secrets/${secret.id}/report-exposed`,
          token: org.ownerToken,
          body: { reason: 'in a screenshot' },
        })
      ).status,
      200,
    )
    assert.equal((await revealVersion()).body.code, 'SECRET_EXPOSED')
    const replaced = await addVersion('v4')
    assert.equal(replaced.body.exposed, false, 'the secret is usable again through its new version')
    const current = await revealVersion()
    assert.equal(current.status, 200)
    assert.equal(current.body.value, 'v4')
    assert.equal(current.body.version, 4)
    for (const version of [1, 2, 3]) {
      const refused = await revealVersion(version)
      assert.equal(refused.status, 409, `version ${version}`)
      assert.equal(refused.body.code, 'SECRET_VERSION_EXPOSED', `version ${version}`)
      assert.ok(!JSON.stringify(refused.body).includes(`v${version}"`))
    }
    // Still blocked after yet another version: forever, not until the next store.
    assert.equal((await addVersion('v5')).status, 201)
    assert.equal((await revealVersion(3)).body.code, 'SECRET_VERSION_EXPOSED')
    assert.equal((await revealVersion(4)).status, 200, 'a version never reported exposed still reveals')
    const versions = (
      await t().request({ method: 'GET', url: `${url()}/secrets/${secret.id}/versions`, token: org.ownerToken })
    ).body.versions as { version: number; exposed: boolean }[]
    assert.deepEqual(versions.map((v) => [v.version, v.exposed]).sort(), [
      [1, true],
      [2, true],
      [3, true],
      [4, false],
      [5, false],
    ])
    const denied = (await auditActions(t(), org.orgId)).filter(
      (e) =>
        e.action === 'secret.reveal' &&
        e.outcome === 'denied' &&
        (e.details as { error?: string }).error === 'SECRET_VERSION_EXPOSED',
    )
    assert.ok(denied.length >= 4)
  })
})

forEachEngine('data-source connections go only where the outbound guard allows (issue 11 K10)', (engine) => {
  // No CUSTODIAN_OUTBOUND_ALLOW: loopback, private and metadata addresses are refused.
  const t = useTestApp(engine, { CUSTODIAN_AUTH_RATE_LIMIT: '1000', CUSTODIAN_OUTBOUND_ALLOW: '' })
  let org: Org
  before(async () => {
    const provider = await bootstrapProvider(t())
    org = await createCustomerOrg(t(), provider, 'Guarded Org', 'owner@guarded.test')
  })

  it('refuses to check a credential whose host is loopback, by address or by name, without connecting', async () => {
    // A listener that fails the test if the service connects to it.
    const { createServer } = await import('node:net')
    let connections = 0
    const listener = createServer((socket) => {
      connections++
      socket.destroy()
    })
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
    const port = (listener.address() as { port: number }).port
    try {
      for (const host of ['127.0.0.1', 'localhost', '[::1]', '::ffff:127.0.0.1']) {
        const stored = await t().request({
          method: 'POST',
          url: `/v1/orgs/${org.orgId}/secrets`,
          token: org.ownerToken,
          body: {
            name: `loopback-${host.replace(/\W/g, '')}`,
            type: 'database_credential',
            value: { host, port, database: 'x', user: 'x', password: 'pw-guarded', sslmode: 'disable' },
          },
        })
        assert.equal(stored.status, 201, stored.text)
        const checked = await t().request({
          method: 'POST',
          url: `/v1/orgs/${org.orgId}/secrets/${stored.body.id}/check`,
          token: org.ownerToken,
        })
        assert.equal(checked.body.reachable, false, `${host}: ${checked.text}`)
        assert.match(String(checked.body.error), /destination refused/, host)
      }
      assert.equal(connections, 0, 'nothing connected')
    } finally {
      listener.close()
    }
  })
})
