import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { resolveIssuer } from './sso.oidc.ts'

describe('SSO presets (P3.3)', () => {
  it('maps Google to its issuer, and refuses another issuer under that name', () => {
    assert.equal(resolveIssuer('google', {}), 'https://accounts.google.com')
    assert.throws(
      () => resolveIssuer('google', { issuer: 'https://evil.example' }),
      (e: { code?: string }) => e.code === 'VALIDATION_FAILED',
    )
  })

  it('maps Microsoft to the tenant’s own issuer, never a multi-tenant endpoint', () => {
    assert.equal(
      resolveIssuer('microsoft', { tenant: '72F988BF-86F1-41AF-91AB-2D7CD011DB47' }),
      'https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0',
    )
    for (const tenant of [undefined, 'common', 'organizations', 'consumers', 'contoso.onmicrosoft.com']) {
      assert.throws(
        () => resolveIssuer('microsoft', { tenant }),
        (e: { code?: string }) => e.code === 'VALIDATION_FAILED',
        String(tenant),
      )
    }
  })

  it('takes any https issuer for a generic provider, without query, fragment or credentials', () => {
    assert.equal(
      resolveIssuer('oidc', { issuer: 'https://id.example.com/realms/acme/' }),
      'https://id.example.com/realms/acme',
    )
    for (const issuer of [
      undefined,
      'http://id.example.com',
      'https://id.example.com/?x=1',
      'https://u:p@id.example.com',
      'not a url',
    ]) {
      assert.throws(
        () => resolveIssuer('oidc', { issuer }),
        (e: { code?: string }) => e.code === 'VALIDATION_FAILED',
        String(issuer),
      )
    }
  })
})
