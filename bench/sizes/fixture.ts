import { withOrg } from '../../src/db/tenant.ts'
import { bootstrapProvider, createCustomerOrg, PASSWORD, type Org, type TestApp } from '../../test/helpers/app.ts'
import type { HistoryOrg } from '../../test/helpers/history.ts'

/**
 * Two customer orgs, each with one row of every kind the API makes (the same fixture as
 * test/perf/row-bounds.test.ts): org `a` is then grown to production sizes with SQL
 * (test/helpers/history.ts), org `b` keeps its little. The ids name realistic targets
 * for every route with a path parameter.
 */
export interface Fixture {
  provider: Org
  a: Org
  b: Org
  /** Path parameters of each org's routes, by the name /openapi.json gives them. */
  ids: Record<'a' | 'b', Record<string, string>>
  /** The org to grow, for growHistory. */
  history: HistoryOrg
}

/** Builds the fixture through the API, in process (Fastify's inject): a second or two. */
export async function buildFixture(app: TestApp): Promise<Fixture> {
  const provider = await bootstrapProvider(app)
  const a = await createCustomerOrg(app, provider, 'Big Org', 'owner@big.test')
  const b = await createCustomerOrg(app, provider, 'Small Org', 'owner@small.test')
  const call = async (org: Org, method: string, tail: string, body?: unknown) => {
    const response = await app.request({ method, url: `/v1/orgs/${org.orgId}${tail}`, token: org.ownerToken, body })
    if (response.status >= 300) throw new Error(`${method} ${tail}: ${response.text}`)
    return response.body
  }
  const one = async (org: Org) => {
    const secret = (await call(org, 'POST', '/secrets', { name: 'fixture', type: 'api_key', value: 'fixture-value' }))
      .id as string
    const granted = await app.request({
      method: 'POST',
      url: '/v1/operator/grants',
      token: provider.ownerToken,
      body: { orgId: org.orgId, reason: 'bench fixture', permissions: ['org:read'] },
    })
    if (granted.status !== 201) throw new Error(`grant: ${granted.text}`)
    const review = (await call(org, 'POST', '/access-reviews')).id as string
    const record = (
      await call(org, 'POST', '/records', { subjectId: 'fixture-subject', dataClass: 'contact', payload: { x: 1 } })
    ).id as string
    const request = (await call(org, 'POST', '/privacy-requests', { kind: 'rectify', subjectId: 'fixture-subject' }))
      .id as string
    const access = (
      await call(org, 'POST', '/privacy-requests', {
        kind: 'access',
        subjectId: 'fixture-subject',
        verification: { method: 'fixture' },
      })
    ).id as string
    const exported = (await call(org, 'POST', `/privacy-requests/${access}/complete`, {})).exportId as string
    await call(org, 'POST', '/webhooks', {
      name: 'fixture',
      url: 'https://hooks.fixture.test/erase',
      events: ['erasure.requested', 'notifications'],
    })
    const alert = await withOrg(app.db.kysely, org.orgId, async (trx) =>
      app.app.services.alerts.raiseIn(trx, org.orgId, 'plan_review_overdue', {
        key: 'fixture',
        title: 'fixture',
        details: {},
      }),
    )
    if (alert === undefined) throw new Error('alert: not raised')
    const plan = await call(org, 'POST', '/response-plan/types', {
      name: 'fixture-type',
      defaultSeverity: 'high',
      playbook: ['contain'],
    })
    const incident = (await call(org, 'POST', '/incidents', { typeId: plan.types[0].id, title: 'fixture incident' }))
      .id as string
    return {
      secretId: secret,
      grantId: granted.body.id as string,
      reviewId: review,
      recordId: record,
      requestId: request,
      exportId: exported,
      alertId: alert,
      incidentId: incident,
    }
  }
  const [ia, ib] = [await one(a), await one(b)]
  for (const email of ['owner@big.test', 'owner@small.test']) {
    const login = await app.request({ method: 'POST', url: '/v1/login', body: { email, password: PASSWORD } })
    if (login.status >= 300) throw new Error(`login: ${login.text}`)
  }
  const submitted = await app.request({
    method: 'POST',
    url: '/v1/vulnerability-reports',
    body: {
      title: 'fixture',
      location: 'here',
      impact: 'some',
      steps: 'these',
      attachments: [{ filename: 'a.txt', contentType: 'text/plain', data: 'AAAA' }],
    },
  })
  if (submitted.status !== 201) throw new Error(`report: ${submitted.text}`)
  const report = (await app.db.kysely.selectFrom('vulnerability_reports').select('id').executeTakeFirstOrThrow()).id
  const common = { reportId: report, idx: '0' }
  return {
    provider,
    a,
    b,
    ids: { a: { ...ia, ...common, orgId: a.orgId }, b: { ...ib, ...common, orgId: b.orgId } },
    history: {
      orgId: a.orgId,
      ownerId: a.ownerId,
      secret: ia.secretId,
      grant: ia.grantId,
      review: ia.reviewId,
      request: ia.requestId,
      alert: ia.alertId,
      incident: ia.incidentId,
    },
  }
}
