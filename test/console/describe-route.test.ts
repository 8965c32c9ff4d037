import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { describeAttempt, describeRoute } from '../../console/src/lib/routes.ts'
import { openApiDocument } from '../../scripts/console.ts'
import { GRANTABLE, type Permission } from '../../src/modules/access/permissions.ts'

// A grant's timeline names each use by the request it made (issue 13): in words, never the route.
describe('console: API routes in words (a grant’s uses)', () => {
  it('says a listed route in the table’s words', () => {
    assert.equal(describeRoute('GET /v1/orgs/:orgId/secrets/:secretId'), 'read a secret')
    assert.equal(describeRoute('POST /v1/orgs/:orgId/secrets/:secretId/reveal'), 'revealed a secret’s value')
    assert.equal(describeRoute('GET /v1/orgs/:orgId/members'), 'listed members')
  })

  it('says any other route as a request to its resource, without ids, params or the path', () => {
    assert.equal(describeRoute('GET /v1/orgs/:orgId/webhook-deliveries/:deliveryId'), 'a request to webhook deliveries')
    assert.equal(describeRoute('GET /v1/orgs/:orgId/consent/purposes/:key'), 'a request to consent purposes')
    assert.equal(describeRoute('PATCH /v1/orgs/:orgId'), 'a request to the org')
    for (const route of ['GET /v1/orgs/:orgId/records/:recordId', 'GET /v1/orgs/:orgId/audit/tile/*'])
      assert.doesNotMatch(describeRoute(route), /\/|:|\*|GET/)
  })

  it('names the secret a use touched when its name is known', () => {
    assert.equal(
      describeRoute('POST /v1/orgs/:orgId/secrets/:secretId/reveal', 'billing-api'),
      'revealed the secret billing-api',
    )
    assert.equal(describeRoute('GET /v1/orgs/:orgId/secrets/:secretId', 'billing-api'), 'read the secret billing-api')
    assert.equal(
      describeRoute('POST /v1/orgs/:orgId/secrets/:secretId/rotate', 'billing-api'),
      'a request to secrets rotate, about the secret billing-api',
    )
  })

  it('says a refused attempt by what it tried, never "a route"', () => {
    assert.equal(describeAttempt('GET /v1/orgs/:orgId/secrets'), 'tried to list secrets')
    assert.equal(describeAttempt('GET /v1/orgs/:orgId/roles'), 'tried to list roles')
    assert.equal(describeAttempt('GET /v1/orgs/:orgId/audit/verify'), 'tried to verify the audit log')
    assert.equal(
      describeAttempt('POST /v1/orgs/:orgId/secrets/:secretId/reveal', 'billing-api'),
      'tried to reveal the secret billing-api',
    )
    assert.equal(describeAttempt('GET /v1/orgs/:orgId/sso'), 'tried to read the single sign-on set-up')
    assert.equal(describeAttempt('POST /v1/orgs/:orgId/consent/check'), 'tried to make a request to consent check')
  })

  it('says in its own words every route of /openapi.json a diagnostic access grant can reach', async () => {
    const document = (await openApiDocument()) as {
      paths: Record<string, Record<string, { 'x-permission'?: string }>>
    }
    const reachable: string[] = []
    for (const [path, operations] of Object.entries(document.paths)) {
      if (!path.startsWith('/v1/orgs/{orgId}')) continue
      for (const [method, operation] of Object.entries(operations))
        if (GRANTABLE.has(operation['x-permission'] as Permission))
          reachable.push(`${method.toUpperCase()} ${path.replace('{*}', '*').replace(/\{(\w+)\}/g, ':$1')}`)
    }
    assert.ok(reachable.length >= 30, `the routes a grant reaches (${reachable.length})`)
    assert.deepEqual(
      reachable.filter((route) => describeRoute(route).startsWith('a request to')),
      [],
      'each in the table of console/src/lib/routes.ts',
    )
  })
})
