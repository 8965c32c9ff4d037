import assert from 'node:assert/strict'
import { after, before, it } from 'node:test'
import { sql } from 'kysely'
import { forEachEngine } from '../helpers/db.ts'
import { auditActions, bootstrapProvider, createCustomerOrg, useTestApp, type Org } from '../helpers/app.ts'
import { startCluster, type Cluster } from '../helpers/pg-cluster.ts'

/**
 * P1.6 against a real PostgreSQL with SCRAM authentication and TLS (a throwaway cluster:
 * the machine's shared server trusts every password, so it could not show the old one
 * being refused).
 */
let cluster: Cluster
before(async () => {
  cluster = await startCluster()
  await cluster.asSuperuser(
    ...['pglite', 'postgres'].flatMap((engine) => [
      `CREATE ROLE app_${engine} LOGIN PASSWORD 'initial-app-pw'`,
      `CREATE ROLE weak_${engine} LOGIN PASSWORD 'weak-pw'`,
    ]),
    `CREATE ROLE manager LOGIN CREATEROLE PASSWORD 'manager-pw'`,
  )
})
after(() => cluster?.stop())

forEachEngine('database credentials rotated automatically (P1.6)', (engine) => {
  const t = useTestApp(engine, { CUSTODIAN_AUTH_RATE_LIMIT: '1000' })
  let org: Org
  let app: string
  let manager: string
  let weak: string
  const url = (path = '') => `/v1/orgs/${org.orgId}${path}`
  const password = async (id: string) =>
    (
      await t().request({
        method: 'POST',
        url: url(`/secrets/${id}/reveal`),
        token: org.ownerToken,
        body: { reason: 'verify rotation' },
      })
    ).body.value.password as string
  const store = async (name: string, value: unknown) =>
    (
      await t().request({
        method: 'POST',
        url: url('/secrets'),
        token: org.ownerToken,
        body: { name, type: 'database_credential', value },
      })
    ).body.id as string

  before(async () => {
    const provider = await bootstrapProvider(t())
    org = await createCustomerOrg(t(), provider, 'Rotation Org', 'owner@dbrot.test')
    app = await store('app', cluster.credential(`app_${engine}`, 'initial-app-pw'))
    manager = await store('manager', cluster.credential('manager', 'manager-pw'))
    weak = await store('weak', cluster.credential(`weak_${engine}`, 'weak-pw'))
  })

  it('rotates through the managing credential: the new password connects, the old one no longer does', async () => {
    const policy = await t().request({
      method: 'PUT',
      url: url(`/secrets/${app}/rotation`),
      token: org.ownerToken,
      body: { managingSecretId: manager, intervalHours: 24 },
    })
    assert.equal(policy.status, 200, policy.text)
    const rotated = await t().request({ method: 'POST', url: url(`/secrets/${app}/rotate`), token: org.ownerToken })
    assert.equal(rotated.status, 200, rotated.text)
    assert.equal(rotated.body.version, 2)
    const fresh = await password(app)
    assert.notEqual(fresh, 'initial-app-pw')
    assert.equal(await cluster.canLogIn(`app_${engine}`, fresh), true)
    assert.equal(await cluster.canLogIn(`app_${engine}`, 'initial-app-pw'), false)
    const state = (await t().request({ method: 'GET', url: url(`/secrets/${app}/rotation`), token: org.ownerToken }))
      .body
    assert.equal(state.lastStatus, 'ok')
    assert.ok(new Date(state.nextDueAt).getTime() > Date.now() + 23 * 3600_000)
    const events = await auditActions(t(), org.orgId)
    assert.ok(events.some((e) => e.action === 'secret.rotate' && e.outcome === 'success'))
    assert.ok(!JSON.stringify(events).includes(fresh), 'no password in the audit log')
  })

  it('rotates on schedule from the background job', async () => {
    await sql`UPDATE secret_rotations SET next_due_at = now() - interval '1 second' WHERE secret_id = ${app}`.execute(
      t().db.kysely,
    )
    await t().app.services.dbRotation.worker.runOnce()
    const current = (await t().request({ method: 'GET', url: url(`/secrets/${app}`), token: org.ownerToken })).body
    assert.equal(current.currentVersion, 3)
    assert.equal(await cluster.canLogIn(`app_${engine}`, await password(app)), true)
  })

  it('keeps the current version when the managing credential cannot change the password', async () => {
    const before = await password(app)
    await t().request({
      method: 'PUT',
      url: url(`/secrets/${app}/rotation`),
      token: org.ownerToken,
      body: { managingSecretId: weak, intervalHours: 24 },
    })
    const failed = await t().request({ method: 'POST', url: url(`/secrets/${app}/rotate`), token: org.ownerToken })
    assert.equal(failed.status, 502)
    assert.equal(failed.body.code, 'ROTATION_FAILED')
    assert.ok(!failed.text.includes('weak-pw'))
    assert.equal(await password(app), before, 'the current password is unchanged')
    assert.equal(await cluster.canLogIn(`app_${engine}`, before), true)
    const state = (await t().request({ method: 'GET', url: url(`/secrets/${app}/rotation`), token: org.ownerToken }))
      .body
    assert.equal(state.lastStatus, 'failed')
    assert.equal(state.failures, 1)
    const versions = (await t().request({ method: 'GET', url: url(`/secrets/${app}/versions`), token: org.ownerToken }))
      .body.versions
    assert.ok(versions[0].destroyedAt !== null, 'the abandoned pending version is destroyed')
    await t().request({
      method: 'PUT',
      url: url(`/secrets/${app}/rotation`),
      token: org.ownerToken,
      body: { managingSecretId: manager, intervalHours: 24 },
    })
  })

  it('finishes a rotation interrupted after the password changed', async () => {
    const rotation = t().app.services.dbRotation
    await rotation.beginAndApply(
      org.orgId,
      app,
      { type: 'system', id: 'test' },
      { requestId: null, ip: null, userAgent: null },
    )
    // The "crash": the role has the pending password, the vault still serves the old one.
    await sql`UPDATE secret_rotations SET lease_until = now() - interval '1 second' WHERE secret_id = ${app}`.execute(
      t().db.kysely,
    )
    const recovered = await t().request({ method: 'POST', url: url(`/secrets/${app}/rotate`), token: org.ownerToken })
    assert.equal(recovered.status, 200, recovered.text)
    assert.equal(await cluster.canLogIn(`app_${engine}`, await password(app)), true)
  })

  it('rotates at once on exposure when the policy says so, which lifts the block', async () => {
    await t().request({
      method: 'PUT',
      url: url(`/secrets/${app}/rotation`),
      token: org.ownerToken,
      body: { managingSecretId: manager, intervalHours: 24, rotateOnExposure: true },
    })
    const leaked = await password(app)
    const reported = await t().request({
      method: 'POST',
      url: url(`/secrets/${app}/report-exposed`),
      token: org.ownerToken,
      body: { reason: 'found in a log' },
    })
    assert.equal(reported.body.rotated, true)
    const fresh = await password(app)
    assert.notEqual(fresh, leaked)
    assert.equal(await cluster.canLogIn(`app_${engine}`, leaked), false)
    assert.equal(await cluster.canLogIn(`app_${engine}`, fresh), true)
  })

  it('refuses to delete a managing credential still named by a rotation policy (409), nothing changed', async () => {
    const policy = () => t().request({ method: 'GET', url: url(`/secrets/${app}/rotation`), token: org.ownerToken })
    assert.equal((await policy()).status, 200, 'app is rotated through manager')
    const refused = await t().request({ method: 'DELETE', url: url(`/secrets/${manager}`), token: org.ownerToken })
    assert.equal(refused.status, 409, refused.text)
    assert.match(refused.body.detail, /manager manages the rotation of app/)
    assert.equal((await policy()).status, 200, 'the policy is still there')
    const still = await t().request({ method: 'GET', url: url(`/secrets/${manager}`), token: org.ownerToken })
    assert.equal(still.status, 200)
    // The database refuses it too, whatever the service checks first (0032).
    await assert.rejects(
      sql`DELETE FROM secrets WHERE id = ${manager}`.execute(t().db.kysely),
      (error: { code?: string }) => error.code === '23503',
    )
    // Once the policy is gone, so may the credential go.
    const removed = await t().request({ method: 'DELETE', url: url(`/secrets/${app}/rotation`), token: org.ownerToken })
    assert.equal(removed.status, 204, removed.text)
    const deleted = await t().request({ method: 'DELETE', url: url(`/secrets/${manager}`), token: org.ownerToken })
    assert.equal(deleted.status, 204, deleted.text)
  })
})
