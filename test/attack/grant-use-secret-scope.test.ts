import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { forEachEngine } from '../helpers/db.ts'
import { auditActions, bootstrapProvider, createCustomerOrg, useTestApp, type Org } from '../helpers/app.ts'

/**
 * Attack on `grant.use` naming the secret a route touched (P2.8): an operator holding a grant
 * to reveal one secret reveals another. The reveal is refused, and the org's log says so
 * beside the use — an access.denied naming the grant, so the grant_misuse rule sees it — never
 * a value (a path segment that is not an id: test/attack/grant-approvers-actors.test.ts).
 */
forEachEngine('attack: revealing a secret the grant does not name (P2.8)', (engine) => {
  const t = useTestApp(engine)
  let provider: Org
  let acme: Org
  const secrets: Record<string, string> = {}
  const as = (method: string, tail: string, token: string, body?: unknown, grant?: string) =>
    t().request({
      method,
      url: `/v1/orgs/${acme.orgId}${tail}`,
      token,
      body,
      headers: grant === undefined ? {} : { 'x-custodian-grant': grant },
    })

  before(async () => {
    provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', `owner@${engine}.grant-scope.test`)
    for (const name of ['covered', 'uncovered']) {
      const made = await as('POST', '/secrets', acme.ownerToken, {
        name,
        type: 'api_key',
        value: `value-of-${name}-${engine}`,
      })
      assert.equal(made.status, 201, made.text)
      secrets[name] = made.body.id
    }
  })

  it('attack: an operator reveals a secret outside its grant; refused and told to the org (P2.8)', async () => {
    const asked = await t().request({
      method: 'POST',
      url: '/v1/operator/grants',
      token: provider.ownerToken,
      body: {
        orgId: acme.orgId,
        reason: 'ticket 77: rotate a key',
        permissions: ['secrets:read', 'vault:reveal'],
        secretIds: [secrets.covered],
      },
    })
    assert.equal(asked.status, 201, asked.text)
    const grantId = asked.body.id as string
    assert.equal((await as('POST', `/grants/${grantId}/approve`, acme.ownerToken, {})).status, 200)

    const refused = await as(
      'POST',
      `/secrets/${secrets.uncovered}/reveal`,
      provider.ownerToken,
      { reason: 'just looking around' },
      grantId,
    )
    assert.equal(refused.status, 403, refused.text)
    assert.ok(!refused.text.includes(`value-of-uncovered-${engine}`))
    const allowed = await as(
      'POST',
      `/secrets/${secrets.covered}/reveal`,
      provider.ownerToken,
      { reason: 'ticket 77' },
      grantId,
    )
    assert.equal(allowed.status, 200, allowed.text)

    const log = await auditActions(t(), acme.orgId)
    const denied = log.filter((e) => e.action === 'access.denied' && e.details.grant === grantId)
    assert.equal(denied.length, 1, JSON.stringify(log.filter((e) => e.action === 'access.denied')))
    const uses = log.filter((e) => e.action === 'grant.use')
    assert.deepEqual(
      uses.map((e) => e.details.secretId),
      [secrets.uncovered, secrets.covered],
      'each use names the secret its route touched',
    )
    const whole = JSON.stringify(log)
    assert.ok(!whole.includes('value-of-'), 'no secret value in the org’s log')
  })
})
