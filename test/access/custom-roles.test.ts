import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { forEachEngine } from '../helpers/db.ts'
import {
  auditActions,
  bootstrapProvider,
  createCustomerOrg,
  fingerprint,
  principalWithRole,
  useTestApp,
  type Org,
} from '../helpers/app.ts'

// P2.3: custom roles are changed in place (PUT /v1/orgs/{orgId}/roles/{name}, issue 12's
// role editor): the holders have the new set on their next request, the change is audited
// with what was added and removed, and a built-in role, an unknown role or a permission
// outside the catalog is refused with nothing changed.
forEachEngine('P2.3 custom roles changed in place', (engine) => {
  const t = useTestApp(engine)
  let org: Org
  let holder: string

  const put = (name: string, body: unknown) =>
    t().request({ method: 'PUT', url: `/v1/orgs/${org.orgId}/roles/${name}`, token: org.ownerToken, body })

  before(async () => {
    const provider = await bootstrapProvider(t())
    org = await createCustomerOrg(t(), provider, 'Roles Org', 'owner@roles.test')
    const role = await t().request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/roles`,
      token: org.ownerToken,
      body: { name: 'lister', description: 'lists secrets', permissions: ['org:read', 'secrets:read'] },
    })
    assert.equal(role.status, 201, role.text)
    holder = (await principalWithRole(t(), org, 'lister')).token
  })

  it('P2.3 gives the holders the new permissions on their next request, and audits what changed', async () => {
    const secrets = () => t().request({ method: 'GET', url: `/v1/orgs/${org.orgId}/secrets`, token: holder })
    const members = () => t().request({ method: 'GET', url: `/v1/orgs/${org.orgId}/members`, token: holder })
    assert.equal((await secrets()).status, 200)
    assert.equal((await members()).status, 403)

    const changed = await put('lister', { permissions: ['org:read', 'members:read'] })
    assert.equal(changed.status, 200, changed.text)
    assert.deepEqual(changed.body, {
      name: 'lister',
      builtIn: false,
      description: 'lists secrets',
      permissions: ['members:read', 'org:read'],
    })
    assert.equal((await secrets()).status, 403, 'the permission taken away is gone at once')
    assert.equal((await members()).status, 200, 'the permission added works at once')
    const me = await t().request({ method: 'GET', url: '/v1/me', token: holder })
    assert.deepEqual(me.body.permissions, ['members:read', 'org:read'])

    const listed = await t().request({ method: 'GET', url: `/v1/orgs/${org.orgId}/roles`, token: org.ownerToken })
    const lister = listed.body.roles.find((r: { name: string }) => r.name === 'lister')
    assert.deepEqual(lister.permissions, ['members:read', 'org:read'])

    const event = (await auditActions(t(), org.orgId)).filter((e) => e.action === 'role.update').at(-1)
    assert.equal(event?.outcome, 'success')
    assert.deepEqual(event?.details, {
      added: ['members:read'],
      removed: ['secrets:read'],
      permissions: ['members:read', 'org:read'],
    })

    const described = await put('lister', { permissions: ['org:read'], description: 'sees the org' })
    assert.equal(described.status, 200, described.text)
    assert.equal(described.body.description, 'sees the org')
  })

  it('refuses a built-in role (409), an unknown role (404) and a permission outside the catalog (400), nothing changed', async () => {
    const before = await fingerprint(t())
    const builtIn = await put('viewer', { permissions: ['org:read'] })
    assert.equal(builtIn.status, 409, builtIn.text)
    assert.equal(builtIn.body.code, 'CONFLICT')
    const unknown = await put('nobody', { permissions: ['org:read'] })
    assert.equal(unknown.status, 404, unknown.text)
    const bad = await put('lister', { permissions: ['org:read', 'secrets:everything'] })
    assert.equal(bad.status, 400, bad.text)
    assert.match(String(bad.headers['content-type']), /application\/problem\+json/)
    assert.deepEqual(bad.body.errors, [{ path: '/body/permissions', message: 'unknown permission secrets:everything' }])
    const empty = await put('lister', { permissions: [] })
    assert.equal(empty.status, 400, empty.text)
    const extra = await put('lister', { permissions: ['org:read'], name: 'renamed' })
    assert.equal(extra.status, 400, extra.text)
    assert.equal(await fingerprint(t()), before, 'nothing changed')
  })
})
