import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { bootstrapProvider, createCustomerOrg, principalWithRole, useTestApp, type Org } from '../helpers/app.ts'
import { startCluster, type Cluster } from '../helpers/pg-cluster.ts'

/**
 * Security review (branch `attack`), around DELETE of a managing credential (409) and P1.6:
 * a rotation policy names any database credential of the org as its managing credential,
 * and POST …/rotate then logs in with it and runs ALTER ROLE for the user named by the
 * *rotated* secret — a secret the caller wrote itself. So a principal with secrets:write but
 * without vault:reveal makes Custodian use a credential it cannot read to change the
 * password of any role of that database (a confused deputy). Also: the 409 of a managing
 * credential's deletion names the secrets it manages, also to a caller without secrets:read.
 */
let cluster: Cluster
before(async () => {
  cluster = await startCluster()
  await cluster.asSuperuser(
    `CREATE ROLE payments LOGIN PASSWORD 'payments-live-pw'`,
    `CREATE ROLE dba LOGIN CREATEROLE PASSWORD 'dba-pw'`,
  )
})
after(() => cluster?.stop())

describe('security: rotation through a managing credential the caller cannot read', () => {
  const t = useTestApp('pglite', { CUSTODIAN_AUTH_RATE_LIMIT: '1000' })
  let org: Org
  let dba: string
  let writer: string
  const credential = (user: string, password: string) => cluster.credential(user, password)
  const url = (path: string) => `/v1/orgs/${org.orgId}${path}`

  before(async () => {
    const provider = await bootstrapProvider(t())
    org = await createCustomerOrg(t(), provider, 'Deputy Org', 'owner@deputy.test')
    const stored = await t().request({
      method: 'POST',
      url: url('/secrets'),
      token: org.ownerToken,
      body: { name: 'dba', type: 'database_credential', value: credential('dba', 'dba-pw') },
    })
    assert.equal(stored.status, 201, stored.text)
    dba = stored.body.id
    // A CI writer: writes secrets, never reads their values.
    const role = await t().request({
      method: 'POST',
      url: url('/roles'),
      token: org.ownerToken,
      body: {
        name: 'ci-writer',
        description: 'writes secrets',
        permissions: ['org:read', 'secrets:read', 'secrets:write'],
      },
    })
    assert.equal(role.status, 201, role.text)
    writer = (await principalWithRole(t(), org, 'ci-writer')).token
  })

  it('P1.6 secrets:write without vault:reveal cannot change a live database role’s password through the dba credential', async () => {
    const reveal = await t().request({
      method: 'POST',
      url: url(`/secrets/${dba}/reveal`),
      token: writer,
      body: { reason: 'try' },
    })
    assert.equal(reveal.status, 403, 'the writer cannot read the dba credential')
    // The writer stores a "credential" for someone else's role, with a password it made up…
    const own = await t().request({
      method: 'POST',
      url: url('/secrets'),
      token: writer,
      body: { name: 'payments-takeover', type: 'database_credential', value: credential('payments', 'made-up') },
    })
    assert.equal(own.status, 201, own.text)
    // …and has it rotated through the dba credential.
    const policy = await t().request({
      method: 'PUT',
      url: url(`/secrets/${own.body.id}/rotation`),
      token: writer,
      body: { managingSecretId: dba, intervalHours: 24 },
    })
    assert.equal(policy.status, 403, policy.text)
    assert.equal(policy.body.code, 'EXCEEDS_OWN_PERMISSIONS')
    assert.deepEqual(policy.body.missingPermissions, ['vault:reveal'])
    const rotated = await t().request({ method: 'POST', url: url(`/secrets/${own.body.id}/rotate`), token: writer })
    assert.equal(rotated.status, 403, rotated.text)
    assert.equal(await cluster.canLogIn('payments', 'payments-live-pw'), true, 'payments’ live password still works')
  })

  it('the 409 for a managing credential names the secrets it manages only to a caller with secrets:read', async () => {
    const role = await t().request({
      method: 'POST',
      url: url('/roles'),
      token: org.ownerToken,
      body: { name: 'deleter', description: 'deletes', permissions: ['org:read', 'secrets:delete'] },
    })
    assert.equal(role.status, 201, role.text)
    const deleter = (await principalWithRole(t(), org, 'deleter')).token
    const target = await t().request({
      method: 'POST',
      url: url('/secrets'),
      token: org.ownerToken,
      body: { name: 'payroll-db-hidden-name', type: 'database_credential', value: credential('payments', 'x') },
    })
    assert.equal(target.status, 201, target.text)
    const policy = await t().request({
      method: 'PUT',
      url: url(`/secrets/${target.body.id}/rotation`),
      token: org.ownerToken,
      body: { managingSecretId: dba, intervalHours: 24 },
    })
    assert.equal(policy.status, 200, policy.text)
    const refused = await t().request({ method: 'DELETE', url: url(`/secrets/${dba}`), token: deleter })
    assert.equal(refused.status, 409, refused.text)
    assert.doesNotMatch(refused.text, /payroll-db-hidden-name/, 'a name the caller may not read')
  })
})
