import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { before, it } from 'node:test'
import { forEachEngine } from '../helpers/db.ts'
import {
  bootstrapProvider,
  createCustomerOrg,
  PASSWORD,
  useTestApp,
  type Org,
  type TestResponse,
} from '../helpers/app.ts'
import type { JsonBody } from '../helpers/json.ts'

/**
 * Sweep (issue 13), generalising test/attack/operator-grant-emails.test.ts: the provider's
 * people never read a customer org's people's emails (src/db/people.ts: "never another
 * org's people"). Customer members whose emails are known — an owner, an admin who approved
 * a diagnostic grant, the owner of an org being offboarded who asked for it — then every
 * route the operator can call, as found in /openapi.json:
 *
 * - every route under /v1/operator (GET, and the answers of the actions: a grant asked for
 *   and withdrawn, a vulnerability report acknowledged and answered);
 * - every GET under /v1/orgs/{orgId} aimed at the customer org, with the operator's own
 *   credential (refused: the refusal names no one), and under an approved grant of
 *   `org:read` (what it opens does not list the org's people).
 *
 * No answer may carry any of those emails. A grant that opens `members:read`, `audit:read`
 * or `grants:read` shows the customer's people by the customer's own approval, and is not
 * swept here.
 */
forEachEngine('sweep: operator answers carry no customer member’s email (P2.8, issue 13)', (engine) => {
  const t = useTestApp(engine, { CUSTODIAN_REPORT_RATE_LIMIT: '1000' })
  let provider: Org
  let acme: Org
  let leaving: Org
  let doc: { paths: Record<string, Record<string, unknown>> }
  let grant: string
  let report: string
  const emails = [`owner@${engine}.acme.test`, `approver@${engine}.acme.test`, `owner@${engine}.leaving.test`]

  /** Fails naming the route and the email if `answer` carries any customer member's email. */
  function assertNoEmail(label: string, answer: TestResponse): void {
    assert.ok(answer.status < 500, `${label}: ${answer.status} ${answer.text.slice(0, 300)}`)
    const text = answer.text.toLowerCase()
    for (const email of emails)
      assert.ok(!text.includes(email), `${label} answers ${email}: ${answer.text.slice(0, 500)}`)
  }

  before(async () => {
    provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', emails[0] as string)
    leaving = await createCustomerOrg(t(), provider, 'Leaving Ltd', emails[2] as string)
    const invited = await t().request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/invitations`,
      token: acme.ownerToken,
      body: { email: emails[1], role: 'admin' },
    })
    assert.equal(invited.status, 201, invited.text)
    const joined = await t().request({
      method: 'POST',
      url: '/v1/invitations/accept',
      body: { token: invited.body.token, password: PASSWORD },
    })
    assert.equal(joined.status, 201, joined.text)
    // A grant asked for by the operator and approved by the admin (the one the attack was about).
    const asked = await t().request({
      method: 'POST',
      url: '/v1/operator/grants',
      token: provider.ownerToken,
      body: { orgId: acme.orgId, reason: 'ticket 7: sync failures', permissions: ['org:read'] },
    })
    assert.equal(asked.status, 201, asked.text)
    grant = asked.body.id
    const approved = await t().request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/grants/${grant}/approve`,
      token: joined.body.apiToken,
      body: {},
    })
    assert.equal(approved.status, 200, approved.text)
    assert.equal(approved.body.status, 'active', approved.text)
    // An offboarding asked for by the leaving org's owner.
    const offboarding = await t().request({
      method: 'POST',
      url: `/v1/orgs/${leaving.orgId}/offboarding`,
      token: leaving.ownerToken,
      body: { confirmName: 'Leaving Ltd' },
    })
    assert.equal(offboarding.status, 201, offboarding.text)
    const submitted = await t().request({
      method: 'POST',
      url: '/v1/vulnerability-reports',
      body: {
        title: 'sweep',
        location: 'here',
        impact: 'some',
        steps: 'these',
        attachments: [{ filename: 'a.txt', contentType: 'text/plain', data: 'AAAA' }],
      },
    })
    assert.equal(submitted.status, 201, submitted.text)
    report = (await t().db.kysely.selectFrom('vulnerability_reports').select('id').executeTakeFirstOrThrow()).id
    doc = (await t().request({ method: 'GET', url: '/openapi.json' })).body as typeof doc
  })

  /** Each path parameter of the operator's routes, filled with the fixture's objects. */
  const OPERATOR_PARAMS: Record<string, () => string> = {
    offboardedOrgId: () => leaving.orgId,
    reportId: () => report,
    idx: () => '0',
    grantId: () => grant,
    targetOrgId: () => acme.orgId,
  }
  /** The body of each action under /v1/operator, in the order they run (the grant's withdrawal last). */
  const OPERATOR_ACTIONS: Record<string, () => JsonBody> = {
    'POST /v1/operator/grants': () => ({
      orgId: acme.orgId,
      reason: 'ticket 8: a second look',
      permissions: ['org:read'],
    }),
    'POST /v1/operator/vulnerability-reports/{reportId}/acknowledge': () => ({ message: 'thanks' }),
    'POST /v1/operator/vulnerability-reports/{reportId}/updates': () => ({ message: 'an update' }),
    'POST /v1/operator/grants/{grantId}/withdraw': () => ({}),
    'POST /v1/operator/rollback/orgs/{targetOrgId}/acknowledge': () => ({ reason: 'ticket 9: after a restore' }),
  }
  /**
   * Actions the fixture cannot make succeed, and their refusal (its answer is still checked):
   * acknowledging a rollback needs a rolled-back org (409 otherwise) and a fresh second
   * factor, which an API token never has (403 STEP_UP_REQUIRED).
   */
  const REFUSED: Record<string, readonly number[]> = {
    'POST /v1/operator/rollback/orgs/{targetOrgId}/acknowledge': [403, 409],
  }
  const fill = (route: string, params: Record<string, () => string> | ((name: string) => string)) =>
    route.replace(/\{([^}]+)\}/g, (_, name: string) => {
      if (typeof params === 'function') return params(name)
      const value = params[name]
      assert.ok(value !== undefined, `${route}: no value for {${name}}: add it to the sweep`)
      return value()
    })

  it('no route under /v1/operator answers a customer member’s email', async () => {
    const operations = Object.entries(doc.paths)
      .filter(([route]) => route.startsWith('/v1/operator/'))
      .flatMap(([route, ops]) => Object.keys(ops).map((method) => `${method.toUpperCase()} ${route}`))
    const gets = operations.filter((o) => o.startsWith('GET '))
    assert.ok(gets.length >= 6, gets.join(', '))
    assert.deepEqual(
      operations.filter((o) => !o.startsWith('GET ')).sort(),
      Object.keys(OPERATOR_ACTIONS).sort(),
      'every operator action has a body here',
    )
    const read = async () => {
      for (const operation of gets) {
        const route = operation.slice('GET '.length)
        const answer = await t().request({
          method: 'GET',
          url: fill(route, OPERATOR_PARAMS),
          token: provider.ownerToken,
        })
        assert.equal(answer.status, 200, `${operation}: ${answer.text}`)
        assertNoEmail(operation, answer)
      }
    }
    await read()
    for (const [operation, body] of Object.entries(OPERATOR_ACTIONS)) {
      const [method, route] = operation.split(' ') as [string, string]
      // The second grant is the one withdrawn, so the approved one stays for the next test.
      const params = { ...OPERATOR_PARAMS, grantId: () => second }
      const answer = await t().request({ method, url: fill(route, params), token: provider.ownerToken, body: body() })
      assert.ok(answer.status < 300 || REFUSED[operation]?.includes(answer.status), `${operation}: ${answer.text}`)
      assertNoEmail(operation, answer)
      if (operation === 'POST /v1/operator/grants') second = answer.body.id
    }
    // Once more after the actions: the lists and the report hold their answers now.
    await read()
  })
  let second = ''

  it('no GET of a customer org answers its members’ emails to the operator: without a grant (refused), and under a grant of org:read', async () => {
    const routes = Object.entries(doc.paths)
      .filter(([route, ops]) => route.startsWith('/v1/orgs/{orgId}') && 'get' in ops)
      .map(([route]) => route)
    assert.ok(routes.length > 50, `${routes.length} routes`)
    // Any other parameter: an id of nothing (a refusal, or 404), or a plain value.
    const params = (name: string) => {
      if (name === 'orgId') return acme.orgId
      if (name === 'grantId') return grant
      return name.endsWith('Id') ? randomUUID() : '1'
    }
    let opened = 0
    for (const route of routes) {
      const url = fill(route.replace('{*}', '0/000'), params)
      const without = await t().request({ method: 'GET', url, token: provider.ownerToken })
      assert.ok(without.status >= 400, `GET ${route} without a grant: ${without.status} ${without.text.slice(0, 200)}`)
      assertNoEmail(`GET ${route} (no grant)`, without)
      const under = await t().request({
        method: 'GET',
        url,
        token: provider.ownerToken,
        headers: { 'x-custodian-grant': grant },
      })
      assertNoEmail(`GET ${route} (under a grant of org:read)`, under)
      if (under.status === 200) opened++
    }
    assert.ok(opened >= 1, 'the grant opens something (GET /v1/orgs/{orgId})')
  })
})
