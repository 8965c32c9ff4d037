import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { forEachEngine } from '../helpers/db.ts'
import {
  auditActions,
  bootstrapProvider,
  createCustomerOrg,
  fingerprint,
  PASSWORD,
  principalWithRole,
  useTestApp,
  type Org,
} from '../helpers/app.ts'
import { enrolTotp, totpCode } from '../helpers/totp.ts'

/**
 * Operators are the provider org's people (P2.7): individual accounts that always need a
 * second factor (P3.2), with no standing access to any org's data — only the orgs' names
 * and health figures.
 */
forEachEngine('operators (P2.7, P3.2)', (engine) => {
  const t = useTestApp(engine, { CUSTODIAN_AUTH_RATE_LIMIT: '1000' })
  let provider: Org
  let customer: Org

  before(async () => {
    provider = await bootstrapProvider(t(), 'operator@provider.test', { enrol: false })
  })

  it('must enrol in two-factor authentication before doing anything else (P3.2)', async () => {
    const before = await fingerprint(t())
    const refused = await t().request({
      method: 'POST',
      url: '/v1/orgs',
      token: provider.ownerToken,
      body: { name: 'Too soon', ownerEmail: 'x@soon.test' },
    })
    assert.equal(refused.status, 403)
    assert.equal(refused.body.code, 'MFA_ENROLMENT_REQUIRED')
    assert.equal(await fingerprint(t()), before)
    assert.equal(
      (await t().request({ method: 'GET', url: '/v1/me', token: provider.ownerToken })).status,
      200,
      'who-am-I stays reachable',
    )

    const { secret } = await enrolTotp((method, url, body) =>
      t().request({ method, url, token: provider.ownerToken, body }),
    )
    provider.totpSecret = secret
    customer = await createCustomerOrg(t(), provider, 'Customer', 'owner@customer.test')
  })

  it('cannot turn the provider org’s 2FA requirement off', async () => {
    const url = `/v1/orgs/${provider.orgId}/security-policy`
    assert.equal(
      (await t().request({ method: 'GET', url, token: provider.ownerToken })).body.require2fa,
      true,
      'on without anyone setting it',
    )
    const before = await fingerprint(t())
    const refused = await t().request({
      method: 'PUT',
      url,
      token: provider.ownerToken,
      body: { require2fa: false, stepUpMinutes: 5 },
    })
    assert.equal(refused.status, 400)
    assert.equal(refused.body.code, 'VALIDATION_FAILED')
    assert.equal(refused.body.errors[0].path, '/body/require2fa')
    assert.equal(await fingerprint(t()), before)
    // A customer org keeps its own choice.
    assert.equal(
      (
        await t().request({
          method: 'GET',
          url: `/v1/orgs/${customer.orgId}/security-policy`,
          token: customer.ownerToken,
        })
      ).body.require2fa,
      false,
    )
  })

  it('holds for an operator’s browser session too: password alone only reaches enrolment', async () => {
    const invite = await t().request({
      method: 'POST',
      url: `/v1/orgs/${provider.orgId}/invitations`,
      token: provider.ownerToken,
      body: { email: 'second@provider.test', role: 'admin' },
    })
    assert.equal(invite.status, 201, invite.text)
    assert.equal(
      (
        await t().request({
          method: 'POST',
          url: '/v1/invitations/accept',
          body: { token: invite.body.token, password: PASSWORD },
        })
      ).status,
      201,
    )
    const login = await t().app.inject({
      method: 'POST',
      url: '/v1/login',
      payload: { email: 'second@provider.test', password: PASSWORD },
    })
    assert.equal(login.statusCode, 200)
    const cookie = login.cookies.find((c) => c.name === '__Host-custodian_session')
    const headers = {
      cookie: `${cookie?.name}=${cookie?.value}`,
      'x-csrf-token': JSON.parse(login.body).csrfToken as string,
    }
    const members = await t().request({ method: 'GET', url: `/v1/orgs/${provider.orgId}/members`, headers })
    assert.equal(members.status, 403)
    assert.equal(members.body.code, 'MFA_ENROLMENT_REQUIRED')
    const { secret } = await enrolTotp((method, url, body) => t().request({ method, url, headers, body }))
    // Enrolled, but this session has not passed the factor yet.
    assert.equal(
      (await t().request({ method: 'GET', url: `/v1/orgs/${provider.orgId}/members`, headers })).body.code,
      'STEP_UP_REQUIRED',
    )
    assert.equal(
      (await t().request({ method: 'POST', url: '/v1/me/step-up', headers, body: { code: totpCode(secret, 1) } }))
        .status,
      200,
    )
    assert.equal((await t().request({ method: 'GET', url: `/v1/orgs/${provider.orgId}/members`, headers })).status, 200)
  })

  it('sees nothing inside a customer org, on every org route (P2.7)', async () => {
    const doc = (await t().request({ method: 'GET', url: '/openapi.json' })).body
    const before = await fingerprint(t())
    const deniedBefore = (await auditActions(t(), provider.orgId)).filter((e) => e.action === 'access.denied').length
    let checked = 0
    for (const [path, operations] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
      if (!path.startsWith('/v1/orgs/{orgId}')) continue
      const url = path
        .replace('{orgId}', customer.orgId)
        .replace(/\{(name)\}/g, 'fixture')
        .replace(/\{version\}/g, '1')
        .replace(/\{\w+\}/g, '00000000-0000-4000-8000-000000000000')
      for (const method of Object.keys(operations).filter((m) => m !== 'head')) {
        const response = await t().request({ method: method.toUpperCase(), url, token: provider.ownerToken })
        assert.equal(response.status, 404, `${method.toUpperCase()} ${path}: ${response.text}`)
        assert.equal(response.body.code, 'NOT_FOUND')
        checked++
      }
    }
    assert.ok(checked > 40, `checked ${checked} org routes`)
    assert.equal(await fingerprint(t()), before)
    const denied = (await auditActions(t(), provider.orgId)).filter((e) => e.action === 'access.denied')
    assert.equal(denied.length - deniedBefore, checked, 'each attempt is audited in the operator’s own org')
  })

  it('sees every org’s name and health figures, and nothing inside (P2.7)', async () => {
    await principalWithRole(t(), customer, 'viewer')
    const listed = await t().request({ method: 'GET', url: '/v1/operator/orgs', token: provider.ownerToken })
    assert.equal(listed.status, 200, listed.text)
    const names = listed.body.orgs.map((o: { name: string }) => o.name)
    assert.deepEqual(names, ['Provider', 'Customer'])
    const row = listed.body.orgs[1]
    assert.equal(row.id, customer.orgId)
    assert.equal(row.members, 1)
    assert.equal(row.serviceAccounts, 1)
    assert.ok((row.audit.headSeq as number) + (row.audit.unchained as number) > 0, 'the customer’s chain has events')
    assert.doesNotMatch(listed.text, /@customer\.test|owner@/, 'no member identity in the view')
    assert.deepEqual(Object.keys(row).sort(), [
      'audit',
      'createdAt',
      'id',
      'kind',
      'members',
      'name',
      'region',
      'serviceAccounts',
    ])
    assert.equal(row.region, null, 'no region configured here (P8.2: test/ops/residency.test.ts)')

    const first = await t().request({ method: 'GET', url: '/v1/operator/orgs?limit=1', token: provider.ownerToken })
    assert.equal(first.body.orgs.length, 1)
    const second = await t().request({
      method: 'GET',
      url: `/v1/operator/orgs?limit=1&cursor=${first.body.nextCursor}`,
      token: provider.ownerToken,
    })
    assert.equal(second.body.orgs[0].id, customer.orgId)
    assert.equal(second.body.nextCursor, null)
    const bad = await t().request({ method: 'GET', url: '/v1/operator/orgs?cursor=bm9wZQ', token: provider.ownerToken })
    assert.equal(bad.status, 400)

    const customerView = await t().request({ method: 'GET', url: '/v1/operator/orgs', token: customer.ownerToken })
    assert.equal(customerView.status, 403)
    assert.equal(customerView.body.permission, 'orgs:list')
  })
})
