import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { withOrg } from '../../src/db/tenant.ts'
import type { Permission } from '../../src/modules/access/permissions.ts'
import {
  bootstrapProvider,
  createCustomerOrg,
  insertDeadLetter,
  PASSWORD,
  principalWithRole,
  type Org,
  type TestApp,
} from './app.ts'

/**
 * Every route of /openapi.json with a URL and a valid body on a fixture of two customer
 * orgs (A and B) and the provider, each holding an object of every kind: the route matrix
 * (test/http/route-matrix.test.ts) sends each route what it must refuse; the residency test
 * (test/ops/residency.test.ts) runs each route in two regions' deployments.
 */
export interface Fixture {
  provider: Org
  a: Org
  b: Org
  aMember: string
  bMember: string
  aServiceAccount: string
  bServiceAccount: string
  aToken: string
  bToken: string
  bRole: string
  onlyVerify: string
  onlyRead: string
  aSecret: string
  bSecret: string
  aSession: string
  bSession: string
  aGrant: string
  bGrant: string
  aReview: string
  bReview: string
  aItem: string
  bItem: string
  aRecord: string
  bRecord: string
  aRequest: string
  bRequest: string
  aExport: string
  bExport: string
  aCertificate: string
  bCertificate: string
  aWebhook: string
  bWebhook: string
  aDestination: string
  bDestination: string
  /** A dead-lettered delivery of each org's webhook. */
  aDelivery: string
  bDelivery: string
  aAlert: string
  bAlert: string
  aType: string
  bType: string
  aIncident: string
  bIncident: string
  aBreachNotice: string
  bBreachNotice: string
  report: string
  /** Chained audit events of each org (their receipts). */
  aEvent: string
  bEvent: string
  /** A provider-org service account with the viewer role (provider-only routes under the provider's org). */
  providerViewer: string
  /** An embedded viewer token of org A (`cst_view_…`), minted again before it could expire; and another to revoke. */
  aViewer: string
  aViewerMintedAt: number
  aViewerToken: string
  /** An objection under review in each org (consent, P7.7). */
  aObjection: string
  bObjection: string
  /** A consent event of each org (its receipt). */
  aConsentEvent: string
  bConsentEvent: string
  /** A registered consent recipient of each org (Art. 19). */
  aRecipient: string
  bRecipient: string
}

export interface RouteCase {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  path: string
  access: Permission | 'public' | 'authenticated' | 'viewer'
  url: (f: Fixture) => string
  /** The same route aimed at an object of the other org, through this org's URL. */
  foreignObjectUrl?: (f: Fixture) => string
  /** A syntactically invalid path parameter (other than the org). */
  badParamUrl?: (f: Fixture) => string
  body?: (f: Fixture) => Record<string, unknown>
  query?: boolean
  /** Characters that take the body over this route's own limit (default: the app's). */
  oversize?: number
  /** The principal without the permission, where the default one (of org A) cannot reach the route's org. */
  forbiddenToken?: (f: Fixture) => string
}

const A = (f: Fixture) => `/v1/orgs/${f.a.orgId}`
/** WebAuthn responses that parse but verify for nobody (an unknown credential). */
const PASSKEY_ASSERTION = {
  id: 'AAAAAAAAAAAAAAAAAAAAAA',
  rawId: 'AAAAAAAAAAAAAAAAAAAAAA',
  type: 'public-key',
  response: { clientDataJSON: 'e30', authenticatorData: 'AAAA', signature: 'AAAA' },
  clientExtensionResults: {},
}
const PASSKEY_ATTESTATION = {
  id: 'AAAAAAAAAAAAAAAAAAAAAA',
  rawId: 'AAAAAAAAAAAAAAAAAAAAAA',
  type: 'public-key',
  response: { clientDataJSON: 'e30', attestationObject: 'AAAA' },
  clientExtensionResults: {},
}
/** An application event with every field (issue 14 §1). */
const APP_EVENT = {
  id: 'matrix-1',
  action: 'document.share',
  actor: { id: 'u_1', type: 'user', name: 'Ada' },
  targets: [{ type: 'document', id: 'doc_1', name: 'Plan' }],
  outcome: 'success',
  occurredAt: '2026-12-01T10:00:00Z',
  ip: '203.0.113.9',
  userAgent: 'matrix',
  metadata: { role: 'viewer' },
  subject: 'cust_1',
  personal: { email: 'ada@example.test' },
}
export const ROUTES: RouteCase[] = [
  { method: 'GET', path: '/healthz', access: 'public', url: () => '/healthz' },
  { method: 'GET', path: '/readyz', access: 'public', url: () => '/readyz' },
  { method: 'GET', path: '/v1/audit/keys', access: 'public', url: () => '/v1/audit/keys' },
  {
    method: 'POST',
    path: '/v1/bootstrap',
    access: 'public',
    url: () => '/v1/bootstrap',
    body: () => ({ token: 'cst_boot_x', orgName: 'X', email: 'x@x.test', password: PASSWORD }),
  },
  {
    method: 'POST',
    path: '/v1/login',
    access: 'public',
    url: () => '/v1/login',
    body: () => ({ email: 'nobody@x.test', password: 'whatever it is' }),
  },
  {
    method: 'POST',
    path: '/v1/invitations/accept',
    access: 'public',
    url: () => '/v1/invitations/accept',
    body: () => ({ token: 'cst_inv_x', password: PASSWORD }),
  },
  { method: 'GET', path: '/v1/vault/status', access: 'public', url: () => '/v1/vault/status' },
  {
    method: 'POST',
    path: '/v1/vault/unseal',
    access: 'public',
    url: () => '/v1/vault/unseal',
    body: () => ({ share: 'cst_share_x' }),
  },
  { method: 'POST', path: '/v1/vault/seal', access: 'vault:seal', url: () => '/v1/vault/seal' },
  { method: 'POST', path: '/v1/logout', access: 'authenticated', url: () => '/v1/logout' },
  { method: 'GET', path: '/v1/me', access: 'authenticated', url: () => '/v1/me' },
  { method: 'GET', path: '/v1/me/2fa', access: 'authenticated', url: () => '/v1/me/2fa' },
  { method: 'GET', path: '/v1/me/sessions', access: 'authenticated', url: () => '/v1/me/sessions' },
  { method: 'GET', path: '/v1/me/orgs', access: 'authenticated', url: () => '/v1/me/orgs' },
  {
    method: 'DELETE',
    path: '/v1/me/sessions/{sessionId}',
    access: 'authenticated',
    url: (f) => `/v1/me/sessions/${f.aSession}`,
    badParamUrl: () => '/v1/me/sessions/nope',
  },
  { method: 'GET', path: '/v1/orgs/{orgId}/sessions', access: 'sessions:read', url: (f) => `${A(f)}/sessions` },
  {
    method: 'DELETE',
    path: '/v1/orgs/{orgId}/sessions/{sessionId}',
    access: 'sessions:revoke',
    url: (f) => `${A(f)}/sessions/${f.aSession}`,
    foreignObjectUrl: (f) => `${A(f)}/sessions/${f.bSession}`,
    badParamUrl: (f) => `${A(f)}/sessions/nope`,
  },
  {
    method: 'POST',
    path: '/v1/me/step-up',
    access: 'authenticated',
    url: () => '/v1/me/step-up',
    body: () => ({ code: '123456' }),
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/security-policy',
    access: 'org:read',
    url: (f) => `${A(f)}/security-policy`,
  },
  {
    method: 'PUT',
    path: '/v1/orgs/{orgId}/security-policy',
    access: 'org:security',
    url: (f) => `${A(f)}/security-policy`,
    body: () => ({ require2fa: false, stepUpMinutes: 10 }),
  },
  { method: 'GET', path: '/v1/orgs/{orgId}/ip-allowlist', access: 'org:read', url: (f) => `${A(f)}/ip-allowlist` },
  {
    method: 'PUT',
    path: '/v1/orgs/{orgId}/ip-allowlist',
    access: 'org:security',
    url: (f) => `${A(f)}/ip-allowlist`,
    body: () => ({ entries: [{ cidr: '127.0.0.1' }] }),
  },
  { method: 'GET', path: '/v1/orgs/{orgId}/sso', access: 'org:read', url: (f) => `${A(f)}/sso` },
  {
    method: 'PUT',
    path: '/v1/orgs/{orgId}/sso',
    access: 'org:security',
    url: (f) => `${A(f)}/sso`,
    body: () => ({
      preset: 'oidc',
      issuer: 'https://127.0.0.1:1',
      clientId: 'c',
      clientSecret: 's',
      allowedDomains: ['a.test'],
      defaultRole: 'member',
    }),
  },
  { method: 'DELETE', path: '/v1/orgs/{orgId}/sso', access: 'org:security', url: (f) => `${A(f)}/sso` },
  {
    method: 'PUT',
    path: '/v1/orgs/{orgId}/sso/enforcement',
    access: 'org:security',
    url: (f) => `${A(f)}/sso/enforcement`,
    body: () => ({ ssoOnly: true }),
  },
  {
    method: 'GET',
    path: '/v1/sso/{orgId}/start',
    access: 'public',
    url: (f) => `/v1/sso/${f.a.orgId}/start`,
    badParamUrl: () => '/v1/sso/nope/start',
  },
  { method: 'GET', path: '/v1/sso/callback', access: 'public', url: () => '/v1/sso/callback' },
  { method: 'POST', path: '/v1/me/2fa/totp', access: 'authenticated', url: () => '/v1/me/2fa/totp' },
  {
    method: 'POST',
    path: '/v1/me/2fa/totp/confirm',
    access: 'authenticated',
    url: () => '/v1/me/2fa/totp/confirm',
    body: () => ({ code: '123456' }),
  },
  {
    method: 'POST',
    path: '/v1/me/2fa/totp/disable',
    access: 'authenticated',
    url: () => '/v1/me/2fa/totp/disable',
    body: () => ({ code: '123456' }),
  },
  {
    method: 'POST',
    path: '/v1/me/2fa/recovery-codes',
    access: 'authenticated',
    url: () => '/v1/me/2fa/recovery-codes',
    body: () => ({ code: '123456' }),
  },
  {
    method: 'POST',
    path: '/v1/me/passkeys/registration/options',
    access: 'authenticated',
    url: () => '/v1/me/passkeys/registration/options',
  },
  {
    method: 'POST',
    path: '/v1/me/passkeys/registration/verify',
    access: 'authenticated',
    url: () => '/v1/me/passkeys/registration/verify',
    body: () => ({ name: 'key', response: PASSKEY_ATTESTATION }),
  },
  { method: 'GET', path: '/v1/me/passkeys', access: 'authenticated', url: () => '/v1/me/passkeys' },
  {
    method: 'PATCH',
    path: '/v1/me/passkeys/{passkeyId}',
    access: 'authenticated',
    url: () => `/v1/me/passkeys/${randomUUID()}`,
    badParamUrl: () => '/v1/me/passkeys/nope',
    body: () => ({ name: 'renamed' }),
  },
  {
    method: 'DELETE',
    path: '/v1/me/passkeys/{passkeyId}',
    access: 'authenticated',
    url: () => `/v1/me/passkeys/${randomUUID()}`,
    badParamUrl: () => '/v1/me/passkeys/nope',
  },
  {
    method: 'POST',
    path: '/v1/me/step-up/passkey/options',
    access: 'authenticated',
    url: () => '/v1/me/step-up/passkey/options',
  },
  {
    method: 'POST',
    path: '/v1/me/step-up/passkey',
    access: 'authenticated',
    url: () => '/v1/me/step-up/passkey',
    body: () => ({ response: PASSKEY_ASSERTION }),
  },
  { method: 'POST', path: '/v1/login/passkey/options', access: 'public', url: () => '/v1/login/passkey/options' },
  {
    method: 'POST',
    path: '/v1/login/passkey/verify',
    access: 'public',
    url: () => '/v1/login/passkey/verify',
    body: () => ({ response: PASSKEY_ASSERTION }),
  },
  { method: 'GET', path: '/v1/permissions', access: 'authenticated', url: () => '/v1/permissions' },
  {
    method: 'POST',
    path: '/v1/orgs',
    access: 'orgs:create',
    url: () => '/v1/orgs',
    body: () => ({ name: 'New', ownerEmail: 'n@n.test' }),
  },
  { method: 'GET', path: '/v1/operator/orgs', access: 'orgs:list', url: () => '/v1/operator/orgs', query: true },
  { method: 'GET', path: '/v1/operator/rollback', access: 'orgs:list', url: () => '/v1/operator/rollback' },
  {
    method: 'POST',
    path: '/v1/operator/rollback/orgs/{targetOrgId}/acknowledge',
    access: 'audit:rollback',
    url: (f) => `/v1/operator/rollback/orgs/${f.b.orgId}/acknowledge`,
    badParamUrl: () => '/v1/operator/rollback/orgs/x/acknowledge',
    body: () => ({ reason: 'restored from a backup' }),
  },
  { method: 'GET', path: '/v1/orgs/{orgId}', access: 'org:read', url: A },
  { method: 'PATCH', path: '/v1/orgs/{orgId}', access: 'org:update', url: A, body: () => ({ name: 'Renamed' }) },
  { method: 'GET', path: '/v1/orgs/{orgId}/members', access: 'members:read', url: (f) => `${A(f)}/members` },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/invitations',
    access: 'members:invite',
    url: (f) => `${A(f)}/invitations`,
    body: () => ({ email: 'new@a.test', role: 'viewer' }),
  },
  {
    method: 'PATCH',
    path: '/v1/orgs/{orgId}/members/{userId}',
    access: 'members:update',
    url: (f) => `${A(f)}/members/${f.aMember}`,
    foreignObjectUrl: (f) => `${A(f)}/members/${f.bMember}`,
    badParamUrl: (f) => `${A(f)}/members/not-a-uuid`,
    body: () => ({ role: 'auditor' }),
  },
  {
    method: 'DELETE',
    path: '/v1/orgs/{orgId}/members/{userId}',
    access: 'members:remove',
    url: (f) => `${A(f)}/members/${f.aMember}`,
    foreignObjectUrl: (f) => `${A(f)}/members/${f.bMember}`,
    badParamUrl: (f) => `${A(f)}/members/not-a-uuid`,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/members/{userId}/suspend',
    access: 'members:update',
    url: (f) => `${A(f)}/members/${f.aMember}/suspend`,
    foreignObjectUrl: (f) => `${A(f)}/members/${f.bMember}/suspend`,
    badParamUrl: (f) => `${A(f)}/members/x/suspend`,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/members/{userId}/resume',
    access: 'members:update',
    url: (f) => `${A(f)}/members/${f.aMember}/resume`,
    foreignObjectUrl: (f) => `${A(f)}/members/${f.bMember}/resume`,
    badParamUrl: (f) => `${A(f)}/members/x/resume`,
  },
  {
    method: 'POST',
    path: '/v1/operator/grants',
    access: 'grants:request',
    url: () => '/v1/operator/grants',
    body: (f) => ({ orgId: f.a.orgId, reason: 'route matrix check', permissions: ['org:read'] }),
  },
  { method: 'GET', path: '/v1/operator/grants', access: 'grants:request', url: () => '/v1/operator/grants' },
  {
    method: 'GET',
    path: '/v1/operator/grants/{grantId}',
    access: 'grants:request',
    url: (f) => `/v1/operator/grants/${f.aGrant}`,
    badParamUrl: () => '/v1/operator/grants/x',
  },
  {
    method: 'POST',
    path: '/v1/operator/grants/{grantId}/withdraw',
    access: 'grants:request',
    url: (f) => `/v1/operator/grants/${f.aGrant}/withdraw`,
    badParamUrl: () => '/v1/operator/grants/x/withdraw',
  },
  { method: 'GET', path: '/v1/orgs/{orgId}/grants', access: 'grants:read', url: (f) => `${A(f)}/grants` },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/grants/{grantId}',
    access: 'grants:read',
    url: (f) => `${A(f)}/grants/${f.aGrant}`,
    foreignObjectUrl: (f) => `${A(f)}/grants/${f.bGrant}`,
    badParamUrl: (f) => `${A(f)}/grants/x`,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/grants/{grantId}/approve',
    access: 'grants:approve',
    url: (f) => `${A(f)}/grants/${f.aGrant}/approve`,
    foreignObjectUrl: (f) => `${A(f)}/grants/${f.bGrant}/approve`,
    badParamUrl: (f) => `${A(f)}/grants/x/approve`,
    body: () => ({ note: 'ok' }),
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/grants/{grantId}/deny',
    access: 'grants:approve',
    url: (f) => `${A(f)}/grants/${f.aGrant}/deny`,
    foreignObjectUrl: (f) => `${A(f)}/grants/${f.bGrant}/deny`,
    badParamUrl: (f) => `${A(f)}/grants/x/deny`,
    body: () => ({ note: 'no' }),
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/grants/{grantId}/revoke',
    access: 'grants:revoke',
    url: (f) => `${A(f)}/grants/${f.aGrant}/revoke`,
    foreignObjectUrl: (f) => `${A(f)}/grants/${f.bGrant}/revoke`,
    badParamUrl: (f) => `${A(f)}/grants/x/revoke`,
    body: () => ({ note: 'stop' }),
  },
  { method: 'GET', path: '/v1/orgs/{orgId}/grant-policy', access: 'org:read', url: (f) => `${A(f)}/grant-policy` },
  {
    method: 'PUT',
    path: '/v1/orgs/{orgId}/grant-policy',
    access: 'org:security',
    url: (f) => `${A(f)}/grant-policy`,
    body: () => ({ maxDays: 7, requiredApprovals: 1 }),
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/access-reviews',
    access: 'reviews:read',
    url: (f) => `${A(f)}/access-reviews`,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/access-reviews',
    access: 'reviews:manage',
    url: (f) => `${A(f)}/access-reviews`,
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/access-reviews/{reviewId}',
    access: 'reviews:read',
    url: (f) => `${A(f)}/access-reviews/${f.aReview}`,
    foreignObjectUrl: (f) => `${A(f)}/access-reviews/${f.bReview}`,
    badParamUrl: (f) => `${A(f)}/access-reviews/x`,
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/access-reviews/{reviewId}/items',
    access: 'reviews:read',
    url: (f) => `${A(f)}/access-reviews/${f.aReview}/items`,
    foreignObjectUrl: (f) => `${A(f)}/access-reviews/${f.bReview}/items`,
    badParamUrl: (f) => `${A(f)}/access-reviews/x/items`,
    query: true,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/access-reviews/{reviewId}/items/{itemId}/decision',
    access: 'reviews:decide',
    url: (f) => `${A(f)}/access-reviews/${f.aReview}/items/${f.aItem}/decision`,
    foreignObjectUrl: (f) => `${A(f)}/access-reviews/${f.bReview}/items/${f.bItem}/decision`,
    badParamUrl: (f) => `${A(f)}/access-reviews/${f.aReview}/items/x/decision`,
    body: () => ({ decision: 'certify' }),
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/access-reviews/{reviewId}/close',
    access: 'reviews:manage',
    url: (f) => `${A(f)}/access-reviews/${f.aReview}/close`,
    foreignObjectUrl: (f) => `${A(f)}/access-reviews/${f.bReview}/close`,
    badParamUrl: (f) => `${A(f)}/access-reviews/x/close`,
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/access-review-policy',
    access: 'org:read',
    url: (f) => `${A(f)}/access-review-policy`,
  },
  {
    method: 'PUT',
    path: '/v1/orgs/{orgId}/access-review-policy',
    access: 'org:security',
    url: (f) => `${A(f)}/access-review-policy`,
    body: () => ({ cadenceDays: 91, windowDays: 14, onOverdue: 'remind', inactiveDays: 90 }),
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/least-privilege',
    access: 'access:report',
    url: (f) => `${A(f)}/least-privilege`,
    query: true,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/records',
    access: 'records:write',
    url: (f) => `${A(f)}/records`,
    body: () => ({ subjectId: 'matrix-subject', dataClass: 'contact', payload: { a: 1 } }),
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/records/search',
    access: 'records:read',
    url: (f) => `${A(f)}/records/search`,
    body: () => ({ subjectId: 'matrix-subject' }),
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/records/{recordId}',
    access: 'records:read',
    url: (f) => `${A(f)}/records/${f.aRecord}`,
    foreignObjectUrl: (f) => `${A(f)}/records/${f.bRecord}`,
    badParamUrl: (f) => `${A(f)}/records/x`,
  },
  {
    method: 'PUT',
    path: '/v1/orgs/{orgId}/records/{recordId}',
    access: 'records:write',
    url: (f) => `${A(f)}/records/${f.aRecord}`,
    foreignObjectUrl: (f) => `${A(f)}/records/${f.bRecord}`,
    badParamUrl: (f) => `${A(f)}/records/x`,
    body: () => ({ payload: { b: 2 } }),
  },
  {
    method: 'DELETE',
    path: '/v1/orgs/{orgId}/records/{recordId}',
    access: 'records:delete',
    url: (f) => `${A(f)}/records/${f.aRecord}`,
    foreignObjectUrl: (f) => `${A(f)}/records/${f.bRecord}`,
    badParamUrl: (f) => `${A(f)}/records/x`,
  },
  { method: 'GET', path: '/v1/orgs/{orgId}/retention', access: 'privacy:read', url: (f) => `${A(f)}/retention` },
  {
    method: 'PUT',
    path: '/v1/orgs/{orgId}/retention/{dataClass}',
    access: 'retention:manage',
    url: (f) => `${A(f)}/retention/usage`,
    badParamUrl: (f) => `${A(f)}/retention/BAD%20CLASS`,
    body: () => ({ retainSeconds: 3600 }),
  },
  {
    method: 'DELETE',
    path: '/v1/orgs/{orgId}/retention/{dataClass}',
    access: 'retention:manage',
    url: (f) => `${A(f)}/retention/usage`,
    badParamUrl: (f) => `${A(f)}/retention/BAD%20CLASS`,
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/retention/runs',
    access: 'privacy:read',
    url: (f) => `${A(f)}/retention/runs`,
    query: true,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/privacy-requests',
    access: 'privacy:manage',
    url: (f) => `${A(f)}/privacy-requests`,
    body: () => ({ kind: 'access', subjectId: 'matrix-subject' }),
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/privacy-requests',
    access: 'privacy:read',
    url: (f) => `${A(f)}/privacy-requests`,
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/privacy-requests/{requestId}',
    access: 'privacy:read',
    url: (f) => `${A(f)}/privacy-requests/${f.aRequest}`,
    foreignObjectUrl: (f) => `${A(f)}/privacy-requests/${f.bRequest}`,
    badParamUrl: (f) => `${A(f)}/privacy-requests/x`,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/privacy-requests/{requestId}/assign',
    access: 'privacy:manage',
    url: (f) => `${A(f)}/privacy-requests/${f.aRequest}/assign`,
    foreignObjectUrl: (f) => `${A(f)}/privacy-requests/${f.bRequest}/assign`,
    badParamUrl: (f) => `${A(f)}/privacy-requests/x/assign`,
    body: (f) => ({ userId: f.a.ownerId }),
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/privacy-requests/{requestId}/verify',
    access: 'privacy:manage',
    url: (f) => `${A(f)}/privacy-requests/${f.aRequest}/verify`,
    foreignObjectUrl: (f) => `${A(f)}/privacy-requests/${f.bRequest}/verify`,
    badParamUrl: (f) => `${A(f)}/privacy-requests/x/verify`,
    body: () => ({ method: 'email-link' }),
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/privacy-requests/{requestId}/complete',
    access: 'privacy:manage',
    url: (f) => `${A(f)}/privacy-requests/${f.aRequest}/complete`,
    foreignObjectUrl: (f) => `${A(f)}/privacy-requests/${f.bRequest}/complete`,
    badParamUrl: (f) => `${A(f)}/privacy-requests/x/complete`,
    body: () => ({}),
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/privacy-requests/{requestId}/reject',
    access: 'privacy:manage',
    url: (f) => `${A(f)}/privacy-requests/${f.aRequest}/reject`,
    foreignObjectUrl: (f) => `${A(f)}/privacy-requests/${f.bRequest}/reject`,
    badParamUrl: (f) => `${A(f)}/privacy-requests/x/reject`,
    body: () => ({ reason: 'not verified' }),
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/privacy-exports/{exportId}',
    access: 'privacy:export',
    url: (f) => `${A(f)}/privacy-exports/${f.aExport}`,
    foreignObjectUrl: (f) => `${A(f)}/privacy-exports/${f.bExport}`,
    badParamUrl: (f) => `${A(f)}/privacy-exports/x`,
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/privacy-policy',
    access: 'privacy:read',
    url: (f) => `${A(f)}/privacy-policy`,
  },
  {
    method: 'PUT',
    path: '/v1/orgs/{orgId}/privacy-policy',
    access: 'privacy:manage',
    url: (f) => `${A(f)}/privacy-policy`,
    body: () => ({ responseHours: 48, exportHours: 24 }),
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/erasure-certificates',
    access: 'privacy:read',
    url: (f) => `${A(f)}/erasure-certificates`,
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/erasure-certificates/{certificateId}',
    access: 'privacy:read',
    url: (f) => `${A(f)}/erasure-certificates/${f.aCertificate}`,
    foreignObjectUrl: (f) => `${A(f)}/erasure-certificates/${f.bCertificate}`,
    badParamUrl: (f) => `${A(f)}/erasure-certificates/x`,
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/siem/destinations',
    access: 'siem:read',
    url: (f) => `${A(f)}/siem/destinations`,
    query: true,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/siem/destinations',
    access: 'siem:manage',
    url: (f) => `${A(f)}/siem/destinations`,
    body: () => ({ name: 'matrix-siem', kind: 'jsonl', url: 'https://siem.a.test/in', credential: 'matrix-token' }),
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/siem/destinations/{destinationId}',
    access: 'siem:read',
    url: (f) => `${A(f)}/siem/destinations/${f.aDestination}`,
    foreignObjectUrl: (f) => `${A(f)}/siem/destinations/${f.bDestination}`,
    badParamUrl: (f) => `${A(f)}/siem/destinations/x`,
  },
  {
    method: 'PATCH',
    path: '/v1/orgs/{orgId}/siem/destinations/{destinationId}',
    access: 'siem:manage',
    url: (f) => `${A(f)}/siem/destinations/${f.aDestination}`,
    foreignObjectUrl: (f) => `${A(f)}/siem/destinations/${f.bDestination}`,
    badParamUrl: (f) => `${A(f)}/siem/destinations/x`,
    body: () => ({ url: 'https://siem.a.test/elsewhere', credential: 'matrix-token-2' }),
  },
  {
    method: 'DELETE',
    path: '/v1/orgs/{orgId}/siem/destinations/{destinationId}',
    access: 'siem:manage',
    url: (f) => `${A(f)}/siem/destinations/${f.aDestination}`,
    foreignObjectUrl: (f) => `${A(f)}/siem/destinations/${f.bDestination}`,
    badParamUrl: (f) => `${A(f)}/siem/destinations/x`,
  },
  ...(['pause', 'resume', 'skip', 'test'] as const).map(
    (verb): RouteCase => ({
      method: 'POST',
      path: `/v1/orgs/{orgId}/siem/destinations/{destinationId}/${verb}`,
      access: 'siem:manage',
      url: (f) => `${A(f)}/siem/destinations/${f.aDestination}/${verb}`,
      foreignObjectUrl: (f) => `${A(f)}/siem/destinations/${f.bDestination}/${verb}`,
      badParamUrl: (f) => `${A(f)}/siem/destinations/x/${verb}`,
    }),
  ),
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/siem/destinations/{destinationId}/dead-letters',
    access: 'siem:read',
    url: (f) => `${A(f)}/siem/destinations/${f.aDestination}/dead-letters`,
    foreignObjectUrl: (f) => `${A(f)}/siem/destinations/${f.bDestination}/dead-letters`,
    badParamUrl: (f) => `${A(f)}/siem/destinations/x/dead-letters`,
    query: true,
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/consent/purposes',
    access: 'consent:read',
    url: (f) => `${A(f)}/consent/purposes`,
    query: true,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/consent/purposes',
    access: 'consent:manage',
    url: (f) => `${A(f)}/consent/purposes`,
    body: () => ({ key: 'matrix', name: 'Matrix', lawfulBasis: 'consent' }),
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/consent/purposes/{purposeKey}',
    access: 'consent:read',
    url: (f) => `${A(f)}/consent/purposes/fixture`,
    foreignObjectUrl: (f) => `${A(f)}/consent/purposes/b-only`,
    badParamUrl: (f) => `${A(f)}/consent/purposes/BAD%20KEY`,
  },
  {
    method: 'PATCH',
    path: '/v1/orgs/{orgId}/consent/purposes/{purposeKey}',
    access: 'consent:manage',
    url: (f) => `${A(f)}/consent/purposes/fixture`,
    foreignObjectUrl: (f) => `${A(f)}/consent/purposes/b-only`,
    badParamUrl: (f) => `${A(f)}/consent/purposes/BAD%20KEY`,
    body: () => ({ name: 'Renamed' }),
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/consent/notices',
    access: 'consent:read',
    url: (f) => `${A(f)}/consent/notices`,
    query: true,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/consent/notices',
    access: 'consent:manage',
    url: (f) => `${A(f)}/consent/notices`,
    body: () => ({ language: 'en', text: 'A notice.', purposes: ['fixture'], materialChange: false }),
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/consent/notices/{version}',
    access: 'consent:read',
    url: (f) => `${A(f)}/consent/notices/1`,
    foreignObjectUrl: (f) => `${A(f)}/consent/notices/2`,
    badParamUrl: (f) => `${A(f)}/consent/notices/0`,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/consent/events',
    access: 'consent:record',
    url: (f) => `${A(f)}/consent/events`,
    body: () => ({
      id: 'matrix-consent-1',
      subject: 'matrix-subject',
      purpose: 'fixture',
      action: 'grant',
      method: 'form',
      noticeVersion: 1,
      evidence: { ip: '192.0.2.1', userAgent: 'matrix', formId: 'matrix-form' },
    }),
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/consent/withdraw',
    access: 'consent:record',
    url: (f) => `${A(f)}/consent/withdraw`,
    body: () => ({ id: 'matrix-withdraw-1', subject: 'matrix-subject', purposes: ['fixture'] }),
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/consent/check',
    access: 'consent:check',
    url: (f) => `${A(f)}/consent/check`,
    body: () => ({ subject: 'matrix-subject', purpose: 'fixture' }),
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/consent/page-links',
    access: 'consent:record',
    url: (f) => `${A(f)}/consent/page-links`,
    body: () => ({ subject: 'matrix-subject', ttlSeconds: 300 }),
  },
  { method: 'GET', path: '/.well-known/gpc.json', access: 'public', url: () => '/.well-known/gpc.json' },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/consent/objections',
    access: 'consent:read',
    url: (f) => `${A(f)}/consent/objections`,
    query: true,
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/consent/reconsent',
    access: 'consent:read',
    url: (f) => `${A(f)}/consent/reconsent?purpose=fixture&reason=material_change`,
    foreignObjectUrl: (f) => `${A(f)}/consent/reconsent?purpose=b-only&reason=lifetime_ended`,
    query: true,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/consent/objections/{objectionId}/decide',
    access: 'consent:manage',
    url: (f) => `${A(f)}/consent/objections/${f.aObjection}/decide`,
    foreignObjectUrl: (f) => `${A(f)}/consent/objections/${f.bObjection}/decide`,
    badParamUrl: (f) => `${A(f)}/consent/objections/x/decide`,
    body: () => ({ decision: 'rejected', grounds: 'Matrix grounds.' }),
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/consent/receipts/{eventId}',
    access: 'consent:read',
    url: (f) => `${A(f)}/consent/receipts/${f.aConsentEvent}`,
    foreignObjectUrl: (f) => `${A(f)}/consent/receipts/${f.bConsentEvent}`,
    badParamUrl: (f) => `${A(f)}/consent/receipts/not-a-uuid`,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/consent/timeline',
    access: 'consent:read',
    url: (f) => `${A(f)}/consent/timeline`,
    body: () => ({ subject: 'matrix-subject' }),
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/consent/report',
    access: 'consent:read',
    url: (f) => `${A(f)}/consent/report`,
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/consent/recipients',
    access: 'consent:read',
    url: (f) => `${A(f)}/consent/recipients`,
    query: true,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/consent/recipients',
    access: 'consent:manage',
    url: (f) => `${A(f)}/consent/recipients`,
    body: () => ({ name: 'Matrix Recipient', url: 'https://recipient.a.test/consent', deadlineHours: 24 }),
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/consent/recipients/{recipientId}',
    access: 'consent:read',
    url: (f) => `${A(f)}/consent/recipients/${f.aRecipient}`,
    foreignObjectUrl: (f) => `${A(f)}/consent/recipients/${f.bRecipient}`,
    badParamUrl: (f) => `${A(f)}/consent/recipients/x`,
  },
  {
    method: 'PATCH',
    path: '/v1/orgs/{orgId}/consent/recipients/{recipientId}',
    access: 'consent:manage',
    url: (f) => `${A(f)}/consent/recipients/${f.aRecipient}`,
    foreignObjectUrl: (f) => `${A(f)}/consent/recipients/${f.bRecipient}`,
    badParamUrl: (f) => `${A(f)}/consent/recipients/x`,
    body: () => ({ deadlineHours: 12 }),
  },
  {
    method: 'DELETE',
    path: '/v1/orgs/{orgId}/consent/recipients/{recipientId}',
    access: 'consent:manage',
    url: (f) => `${A(f)}/consent/recipients/${f.aRecipient}`,
    foreignObjectUrl: (f) => `${A(f)}/consent/recipients/${f.bRecipient}`,
    badParamUrl: (f) => `${A(f)}/consent/recipients/x`,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/consent/recipients/{recipientId}/subject-references',
    access: 'consent:read',
    url: (f) => `${A(f)}/consent/recipients/${f.aRecipient}/subject-references`,
    foreignObjectUrl: (f) => `${A(f)}/consent/recipients/${f.bRecipient}/subject-references`,
    badParamUrl: (f) => `${A(f)}/consent/recipients/x/subject-references`,
    body: () => ({ subjectId: 'fixture-subject' }),
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/consent/recipients/{recipientId}/secret/rotate',
    access: 'consent:manage',
    url: (f) => `${A(f)}/consent/recipients/${f.aRecipient}/secret/rotate`,
    foreignObjectUrl: (f) => `${A(f)}/consent/recipients/${f.bRecipient}/secret/rotate`,
    badParamUrl: (f) => `${A(f)}/consent/recipients/x/secret/rotate`,
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/consent/propagations',
    access: 'consent:read',
    url: (f) => `${A(f)}/consent/propagations`,
    query: true,
  },
  {
    method: 'POST',
    path: '/v1/consent/acknowledgements',
    access: 'public',
    url: () => '/v1/consent/acknowledgements',
    body: () => ({ token: `cst_cpa_${'0'.repeat(32)}_${'A'.repeat(43)}` }),
  },
  { method: 'GET', path: '/v1/orgs/{orgId}/webhooks', access: 'webhooks:read', url: (f) => `${A(f)}/webhooks` },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/webhooks',
    access: 'webhooks:manage',
    url: (f) => `${A(f)}/webhooks`,
    body: () => ({ name: 'matrix-hook', url: 'https://hooks.a.test/erase', events: ['notifications'] }),
  },
  {
    method: 'DELETE',
    path: '/v1/orgs/{orgId}/webhooks/{webhookId}',
    access: 'webhooks:manage',
    url: (f) => `${A(f)}/webhooks/${f.aWebhook}`,
    foreignObjectUrl: (f) => `${A(f)}/webhooks/${f.bWebhook}`,
    badParamUrl: (f) => `${A(f)}/webhooks/x`,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/webhooks/{webhookId}/secret/rotate',
    access: 'webhooks:manage',
    url: (f) => `${A(f)}/webhooks/${f.aWebhook}/secret/rotate`,
    foreignObjectUrl: (f) => `${A(f)}/webhooks/${f.bWebhook}/secret/rotate`,
    badParamUrl: (f) => `${A(f)}/webhooks/x/secret/rotate`,
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/webhook-deliveries',
    access: 'webhooks:read',
    url: (f) => `${A(f)}/webhook-deliveries`,
    query: true,
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/webhook-deliveries/{deliveryId}',
    access: 'webhooks:read',
    url: (f) => `${A(f)}/webhook-deliveries/${f.aDelivery}`,
    foreignObjectUrl: (f) => `${A(f)}/webhook-deliveries/${f.bDelivery}`,
    badParamUrl: (f) => `${A(f)}/webhook-deliveries/x`,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/webhook-deliveries/{deliveryId}/retry',
    access: 'webhooks:manage',
    url: (f) => `${A(f)}/webhook-deliveries/${f.aDelivery}/retry`,
    foreignObjectUrl: (f) => `${A(f)}/webhook-deliveries/${f.bDelivery}/retry`,
    badParamUrl: (f) => `${A(f)}/webhook-deliveries/x/retry`,
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/notifications',
    access: 'notifications:read',
    url: (f) => `${A(f)}/notifications`,
    query: true,
  },
  {
    method: 'GET',
    path: '/v1/me/notifications',
    access: 'authenticated',
    url: () => '/v1/me/notifications',
    query: true,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/offboarding',
    access: 'org:delete',
    url: (f) => `${A(f)}/offboarding`,
    body: () => ({ confirmName: 'Org A' }),
  },
  { method: 'GET', path: '/v1/orgs/{orgId}/offboarding', access: 'org:read', url: (f) => `${A(f)}/offboarding` },
  { method: 'DELETE', path: '/v1/orgs/{orgId}/offboarding', access: 'org:delete', url: (f) => `${A(f)}/offboarding` },
  { method: 'GET', path: '/v1/operator/offboardings', access: 'orgs:list', url: () => '/v1/operator/offboardings' },
  {
    method: 'GET',
    path: '/v1/operator/offboardings/{offboardedOrgId}',
    access: 'orgs:list',
    url: (f) => `/v1/operator/offboardings/${f.b.orgId}`,
    badParamUrl: () => '/v1/operator/offboardings/x',
  },
  { method: 'GET', path: '/v1/orgs/{orgId}/compliance', access: 'compliance:read', url: (f) => `${A(f)}/compliance` },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/compliance/runs',
    access: 'compliance:run',
    url: (f) => `${A(f)}/compliance/runs`,
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/compliance/runs',
    access: 'compliance:read',
    url: (f) => `${A(f)}/compliance/runs`,
    query: true,
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/compliance/history',
    access: 'compliance:read',
    url: (f) => `${A(f)}/compliance/history`,
    query: true,
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/compliance/report',
    access: 'compliance:read',
    url: (f) => `${A(f)}/compliance/report`,
    query: true,
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/compliance/policy',
    access: 'compliance:read',
    url: (f) => `${A(f)}/compliance/policy`,
    query: true,
  },
  ...(['catalog', 'component-definition', 'assessment-results'] as const).map((model) => ({
    method: 'GET' as const,
    path: `/v1/orgs/{orgId}/compliance/oscal/${model}`,
    access: 'compliance:read' as const,
    url: (f: Fixture) => `${A(f)}/compliance/oscal/${model}`,
  })),
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/compliance/evidence',
    access: 'compliance:evidence',
    url: (f) => `${A(f)}/compliance/evidence`,
  },
  { method: 'GET', path: '/v1/operator/compliance', access: 'orgs:list', url: () => '/v1/operator/compliance' },
  { method: 'GET', path: '/trust', access: 'public', url: () => '/trust' },
  { method: 'GET', path: '/v1/orgs/{orgId}/alerts', access: 'alerts:read', url: (f) => `${A(f)}/alerts`, query: true },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/alerts/{alertId}',
    access: 'alerts:read',
    url: (f) => `${A(f)}/alerts/${f.aAlert}`,
    foreignObjectUrl: (f) => `${A(f)}/alerts/${f.bAlert}`,
    badParamUrl: (f) => `${A(f)}/alerts/x`,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/alerts/{alertId}/acknowledge',
    access: 'alerts:manage',
    url: (f) => `${A(f)}/alerts/${f.aAlert}/acknowledge`,
    foreignObjectUrl: (f) => `${A(f)}/alerts/${f.bAlert}/acknowledge`,
    badParamUrl: (f) => `${A(f)}/alerts/x/acknowledge`,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/alerts/{alertId}/resolve',
    access: 'alerts:manage',
    url: (f) => `${A(f)}/alerts/${f.aAlert}/resolve`,
    foreignObjectUrl: (f) => `${A(f)}/alerts/${f.bAlert}/resolve`,
    badParamUrl: (f) => `${A(f)}/alerts/x/resolve`,
    body: () => ({ note: 'n' }),
  },
  { method: 'GET', path: '/v1/orgs/{orgId}/alert-rules', access: 'alerts:read', url: (f) => `${A(f)}/alert-rules` },
  {
    method: 'PUT',
    path: '/v1/orgs/{orgId}/alert-rules/{rule}',
    access: 'alerts:manage',
    url: (f) => `${A(f)}/alert-rules/reveal_burst`,
    badParamUrl: (f) => `${A(f)}/alert-rules/Not-A-Rule`,
    body: () => ({ enabled: true, threshold: 3, windowSeconds: 60, dedupeSeconds: 60 }),
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/response-plan',
    access: 'incidents:read',
    url: (f) => `${A(f)}/response-plan`,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/response-plan/types',
    access: 'response_plan:manage',
    url: (f) => `${A(f)}/response-plan/types`,
    body: () => ({ name: 'matrix-type', defaultSeverity: 'low', playbook: ['look'] }),
  },
  {
    method: 'PUT',
    path: '/v1/orgs/{orgId}/response-plan/types/{typeId}',
    access: 'response_plan:manage',
    url: (f) => `${A(f)}/response-plan/types/${f.aType}`,
    foreignObjectUrl: (f) => `${A(f)}/response-plan/types/${f.bType}`,
    badParamUrl: (f) => `${A(f)}/response-plan/types/x`,
    body: () => ({ name: 'fixture-type', defaultSeverity: 'high', playbook: ['contain'] }),
  },
  {
    method: 'DELETE',
    path: '/v1/orgs/{orgId}/response-plan/types/{typeId}',
    access: 'response_plan:manage',
    url: (f) => `${A(f)}/response-plan/types/${f.aType}`,
    foreignObjectUrl: (f) => `${A(f)}/response-plan/types/${f.bType}`,
    badParamUrl: (f) => `${A(f)}/response-plan/types/x`,
  },
  {
    method: 'PUT',
    path: '/v1/orgs/{orgId}/response-plan/escalation',
    access: 'response_plan:manage',
    url: (f) => `${A(f)}/response-plan/escalation`,
    body: () => ({ levels: [{ afterMinutes: 15, notifyRoles: ['owner'], notifyUsers: [] }] }),
  },
  {
    method: 'PUT',
    path: '/v1/orgs/{orgId}/response-plan/parties',
    access: 'response_plan:manage',
    url: (f) => `${A(f)}/response-plan/parties`,
    body: () => ({ parties: [{ kind: 'regulator', name: 'DPA', deadlineHours: 72 }] }),
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/response-plan/reviews',
    access: 'response_plan:manage',
    url: (f) => `${A(f)}/response-plan/reviews`,
    body: () => ({ notes: 'reviewed' }),
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/incidents',
    access: 'incidents:manage',
    url: (f) => `${A(f)}/incidents`,
    body: () => ({ title: 'matrix incident' }),
  },
  { method: 'GET', path: '/v1/orgs/{orgId}/incidents', access: 'incidents:read', url: (f) => `${A(f)}/incidents` },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/incidents/{incidentId}',
    access: 'incidents:read',
    url: (f) => `${A(f)}/incidents/${f.aIncident}`,
    foreignObjectUrl: (f) => `${A(f)}/incidents/${f.bIncident}`,
    badParamUrl: (f) => `${A(f)}/incidents/x`,
  },
  {
    method: 'PATCH',
    path: '/v1/orgs/{orgId}/incidents/{incidentId}',
    access: 'incidents:manage',
    url: (f) => `${A(f)}/incidents/${f.aIncident}`,
    foreignObjectUrl: (f) => `${A(f)}/incidents/${f.bIncident}`,
    badParamUrl: (f) => `${A(f)}/incidents/x`,
    body: () => ({ severity: 'high' }),
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/incidents/{incidentId}/acknowledge',
    access: 'incidents:manage',
    url: (f) => `${A(f)}/incidents/${f.aIncident}/acknowledge`,
    foreignObjectUrl: (f) => `${A(f)}/incidents/${f.bIncident}/acknowledge`,
    badParamUrl: (f) => `${A(f)}/incidents/x/acknowledge`,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/incidents/{incidentId}/steps/{idx}/complete',
    access: 'incidents:manage',
    url: (f) => `${A(f)}/incidents/${f.aIncident}/steps/0/complete`,
    foreignObjectUrl: (f) => `${A(f)}/incidents/${f.bIncident}/steps/0/complete`,
    badParamUrl: (f) => `${A(f)}/incidents/${f.aIncident}/steps/x/complete`,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/incidents/{incidentId}/notes',
    access: 'incidents:manage',
    url: (f) => `${A(f)}/incidents/${f.aIncident}/notes`,
    foreignObjectUrl: (f) => `${A(f)}/incidents/${f.bIncident}/notes`,
    badParamUrl: (f) => `${A(f)}/incidents/x/notes`,
    body: () => ({ text: 'a note' }),
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/incidents/{incidentId}/links',
    access: 'incidents:manage',
    url: (f) => `${A(f)}/incidents/${f.aIncident}/links`,
    foreignObjectUrl: (f) => `${A(f)}/incidents/${f.bIncident}/links`,
    badParamUrl: (f) => `${A(f)}/incidents/x/links`,
    body: (f) => ({ kind: 'alert', ref: f.aAlert }),
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/incidents/{incidentId}/breach',
    access: 'incidents:manage',
    url: (f) => `${A(f)}/incidents/${f.aIncident}/breach`,
    foreignObjectUrl: (f) => `${A(f)}/incidents/${f.bIncident}/breach`,
    badParamUrl: (f) => `${A(f)}/incidents/x/breach`,
    body: () => ({ summary: 'confirmed' }),
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/incidents/{incidentId}/breach-notifications/{notificationId}/sent',
    access: 'incidents:manage',
    url: (f) => `${A(f)}/incidents/${f.aIncident}/breach-notifications/${f.aBreachNotice}/sent`,
    foreignObjectUrl: (f) => `${A(f)}/incidents/${f.bIncident}/breach-notifications/${f.bBreachNotice}/sent`,
    badParamUrl: (f) => `${A(f)}/incidents/${f.aIncident}/breach-notifications/x/sent`,
    body: () => ({ channel: 'e-mail', content: 'notice' }),
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/alerts/{alertId}/incident',
    access: 'incidents:manage',
    url: (f) => `${A(f)}/alerts/${f.aAlert}/incident`,
    foreignObjectUrl: (f) => `${A(f)}/alerts/${f.bAlert}/incident`,
    badParamUrl: (f) => `${A(f)}/alerts/x/incident`,
    body: () => ({}),
  },
  { method: 'GET', path: '/.well-known/security.txt', access: 'public', url: () => '/.well-known/security.txt' },
  {
    method: 'GET',
    path: '/v1/vulnerability-reports/policy',
    access: 'public',
    url: () => '/v1/vulnerability-reports/policy',
  },
  {
    method: 'POST',
    path: '/v1/vulnerability-reports',
    access: 'public',
    url: () => '/v1/vulnerability-reports',
    body: () => ({ title: 'matrix', location: 'here', impact: 'some', steps: 'these' }),
    oversize: 20_000,
  },
  {
    method: 'GET',
    path: '/v1/vulnerability-reports/status',
    access: 'public',
    url: () => '/v1/vulnerability-reports/status',
  },
  {
    method: 'POST',
    path: '/v1/vulnerability-reports/status/messages',
    access: 'public',
    url: () => '/v1/vulnerability-reports/status/messages',
    body: () => ({ message: 'hello' }),
  },
  {
    method: 'GET',
    path: '/v1/operator/vulnerability-reports',
    access: 'disclosure:read',
    url: () => '/v1/operator/vulnerability-reports',
  },
  {
    method: 'GET',
    path: '/v1/operator/vulnerability-reports/{reportId}',
    access: 'disclosure:read',
    url: (f) => `/v1/operator/vulnerability-reports/${f.report}`,
    badParamUrl: () => '/v1/operator/vulnerability-reports/x',
  },
  {
    method: 'GET',
    path: '/v1/operator/vulnerability-reports/{reportId}/attachments/{idx}',
    access: 'disclosure:read',
    url: (f) => `/v1/operator/vulnerability-reports/${f.report}/attachments/0`,
    badParamUrl: (f) => `/v1/operator/vulnerability-reports/${f.report}/attachments/9`,
  },
  {
    method: 'POST',
    path: '/v1/operator/vulnerability-reports/{reportId}/acknowledge',
    access: 'disclosure:manage',
    url: (f) => `/v1/operator/vulnerability-reports/${f.report}/acknowledge`,
    badParamUrl: () => '/v1/operator/vulnerability-reports/x/acknowledge',
    body: () => ({ message: 'thanks' }),
  },
  {
    method: 'POST',
    path: '/v1/operator/vulnerability-reports/{reportId}/updates',
    access: 'disclosure:manage',
    url: (f) => `/v1/operator/vulnerability-reports/${f.report}/updates`,
    badParamUrl: () => '/v1/operator/vulnerability-reports/x/updates',
    body: () => ({ message: 'an update' }),
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/service-accounts',
    access: 'service_accounts:read',
    url: (f) => `${A(f)}/service-accounts`,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/service-accounts',
    access: 'service_accounts:manage',
    url: (f) => `${A(f)}/service-accounts`,
    body: () => ({ name: 'matrix-sa', role: 'viewer' }),
  },
  {
    method: 'PATCH',
    path: '/v1/orgs/{orgId}/service-accounts/{serviceAccountId}',
    access: 'service_accounts:manage',
    url: (f) => `${A(f)}/service-accounts/${f.aServiceAccount}`,
    foreignObjectUrl: (f) => `${A(f)}/service-accounts/${f.bServiceAccount}`,
    badParamUrl: (f) => `${A(f)}/service-accounts/x`,
    body: () => ({ role: 'viewer' }),
  },
  {
    method: 'DELETE',
    path: '/v1/orgs/{orgId}/service-accounts/{serviceAccountId}',
    access: 'service_accounts:manage',
    url: (f) => `${A(f)}/service-accounts/${f.aServiceAccount}`,
    foreignObjectUrl: (f) => `${A(f)}/service-accounts/${f.bServiceAccount}`,
    badParamUrl: (f) => `${A(f)}/service-accounts/x`,
  },
  { method: 'GET', path: '/v1/orgs/{orgId}/tokens', access: 'tokens:read', url: (f) => `${A(f)}/tokens` },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/tokens',
    access: 'tokens:create',
    url: (f) => `${A(f)}/tokens`,
    body: () => ({ name: 'matrix', expiresInDays: 1 }),
  },
  {
    method: 'DELETE',
    path: '/v1/orgs/{orgId}/tokens/{tokenId}',
    access: 'tokens:revoke',
    url: (f) => `${A(f)}/tokens/${f.aToken}`,
    foreignObjectUrl: (f) => `${A(f)}/tokens/${f.bToken}`,
    badParamUrl: (f) => `${A(f)}/tokens/1`,
  },
  { method: 'GET', path: '/v1/orgs/{orgId}/roles', access: 'roles:read', url: (f) => `${A(f)}/roles` },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/roles',
    access: 'roles:manage',
    url: (f) => `${A(f)}/roles`,
    body: () => ({ name: 'matrix-role', permissions: ['org:read'] }),
  },
  {
    method: 'PUT',
    path: '/v1/orgs/{orgId}/roles/{name}',
    access: 'roles:manage',
    url: (f) => `${A(f)}/roles/${f.onlyRead}`,
    foreignObjectUrl: (f) => `${A(f)}/roles/${f.bRole}`,
    badParamUrl: (f) => `${A(f)}/roles/BAD%20NAME`,
    body: () => ({ permissions: ['org:read'] }),
  },
  {
    method: 'DELETE',
    path: '/v1/orgs/{orgId}/roles/{name}',
    access: 'roles:manage',
    url: (f) => `${A(f)}/roles/${f.onlyRead}`,
    foreignObjectUrl: (f) => `${A(f)}/roles/${f.bRole}`,
    badParamUrl: (f) => `${A(f)}/roles/BAD%20NAME`,
  },
  { method: 'GET', path: '/v1/orgs/{orgId}/keys', access: 'keys:read', url: (f) => `${A(f)}/keys` },
  { method: 'GET', path: '/v1/orgs/{orgId}/transit/keys', access: 'keys:read', url: (f) => `${A(f)}/transit/keys` },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/transit/keys',
    access: 'transit:manage',
    url: (f) => `${A(f)}/transit/keys`,
    body: () => ({ name: 'matrix-key' }),
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/transit/keys/{name}/rotate',
    access: 'transit:manage',
    url: (f) => `${A(f)}/transit/keys/fixture/rotate`,
    foreignObjectUrl: (f) => `${A(f)}/transit/keys/b-only/rotate`,
    badParamUrl: (f) => `${A(f)}/transit/keys/BAD%20NAME/rotate`,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/transit/keys/{name}/encrypt',
    access: 'transit:encrypt',
    url: (f) => `${A(f)}/transit/keys/fixture/encrypt`,
    foreignObjectUrl: (f) => `${A(f)}/transit/keys/b-only/encrypt`,
    badParamUrl: (f) => `${A(f)}/transit/keys/BAD%20NAME/encrypt`,
    body: () => ({ plaintext: 'aGVsbG8=' }),
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/transit/keys/{name}/decrypt',
    access: 'transit:decrypt',
    url: (f) => `${A(f)}/transit/keys/fixture/decrypt`,
    foreignObjectUrl: (f) => `${A(f)}/transit/keys/b-only/decrypt`,
    badParamUrl: (f) => `${A(f)}/transit/keys/BAD%20NAME/decrypt`,
    body: () => ({ ciphertext: 'cst:v1:AAAA' }),
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/transit/keys/{name}/rewrap',
    access: 'transit:encrypt',
    url: (f) => `${A(f)}/transit/keys/fixture/rewrap`,
    foreignObjectUrl: (f) => `${A(f)}/transit/keys/b-only/rewrap`,
    badParamUrl: (f) => `${A(f)}/transit/keys/BAD%20NAME/rewrap`,
    body: () => ({ ciphertext: 'cst:v1:AAAA' }),
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/transit/keys/{name}',
    access: 'keys:read',
    url: (f) => `${A(f)}/transit/keys/fixture`,
    foreignObjectUrl: (f) => `${A(f)}/transit/keys/b-only`,
    badParamUrl: (f) => `${A(f)}/transit/keys/BAD%20NAME`,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/transit/keys/{name}/config',
    access: 'transit:manage',
    url: (f) => `${A(f)}/transit/keys/fixture/config`,
    foreignObjectUrl: (f) => `${A(f)}/transit/keys/b-only/config`,
    badParamUrl: (f) => `${A(f)}/transit/keys/BAD%20NAME/config`,
    body: () => ({ minDecryptionVersion: 1 }),
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/transit/keys/{name}/datakey/{kind}',
    access: 'transit:encrypt',
    url: (f) => `${A(f)}/transit/keys/fixture/datakey/plaintext`,
    foreignObjectUrl: (f) => `${A(f)}/transit/keys/b-only/datakey/plaintext`,
    badParamUrl: (f) => `${A(f)}/transit/keys/BAD%20NAME/datakey/plaintext`,
    body: () => ({ bits: 256 }),
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/transit/keys/{name}/hmac',
    access: 'transit:sign',
    url: (f) => `${A(f)}/transit/keys/fixture/hmac`,
    foreignObjectUrl: (f) => `${A(f)}/transit/keys/b-only/hmac`,
    badParamUrl: (f) => `${A(f)}/transit/keys/BAD%20NAME/hmac`,
    body: () => ({ inputs: ['aGVsbG8='] }),
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/transit/keys/{name}/sign',
    access: 'transit:sign',
    url: (f) => `${A(f)}/transit/keys/fixture/sign`,
    foreignObjectUrl: (f) => `${A(f)}/transit/keys/b-only/sign`,
    badParamUrl: (f) => `${A(f)}/transit/keys/BAD%20NAME/sign`,
    body: () => ({ inputs: ['aGVsbG8='] }),
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/transit/keys/{name}/verify',
    access: 'transit:verify',
    url: (f) => `${A(f)}/transit/keys/fixture/verify`,
    foreignObjectUrl: (f) => `${A(f)}/transit/keys/b-only/verify`,
    badParamUrl: (f) => `${A(f)}/transit/keys/BAD%20NAME/verify`,
    body: () => ({ kind: 'hmac', items: [{ input: 'aGVsbG8=', value: 'cst:v1:AAAA' }] }),
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/secrets/{secretId}/rotation',
    access: 'secrets:read',
    url: (f) => `${A(f)}/secrets/${f.aSecret}/rotation`,
    foreignObjectUrl: (f) => `${A(f)}/secrets/${f.bSecret}/rotation`,
    badParamUrl: (f) => `${A(f)}/secrets/nope/rotation`,
  },
  {
    method: 'PUT',
    path: '/v1/orgs/{orgId}/secrets/{secretId}/rotation',
    access: 'secrets:write',
    url: (f) => `${A(f)}/secrets/${f.aSecret}/rotation`,
    foreignObjectUrl: (f) => `${A(f)}/secrets/${f.bSecret}/rotation`,
    badParamUrl: (f) => `${A(f)}/secrets/nope/rotation`,
    body: (f) => ({ managingSecretId: f.aSecret, intervalHours: 24 }),
  },
  {
    method: 'DELETE',
    path: '/v1/orgs/{orgId}/secrets/{secretId}/rotation',
    access: 'secrets:write',
    url: (f) => `${A(f)}/secrets/${f.aSecret}/rotation`,
    foreignObjectUrl: (f) => `${A(f)}/secrets/${f.bSecret}/rotation`,
    badParamUrl: (f) => `${A(f)}/secrets/nope/rotation`,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/secrets/{secretId}/rotate',
    access: 'secrets:write',
    url: (f) => `${A(f)}/secrets/${f.aSecret}/rotate`,
    foreignObjectUrl: (f) => `${A(f)}/secrets/${f.bSecret}/rotate`,
    badParamUrl: (f) => `${A(f)}/secrets/nope/rotate`,
  },
  { method: 'GET', path: '/v1/orgs/{orgId}/vault/policy', access: 'secrets:read', url: (f) => `${A(f)}/vault/policy` },
  {
    method: 'PUT',
    path: '/v1/orgs/{orgId}/vault/policy',
    access: 'vault:policy',
    url: (f) => `${A(f)}/vault/policy`,
    body: () => ({ readOnlyConnectors: false }),
  },
  { method: 'GET', path: '/v1/orgs/{orgId}/data-sources', access: 'secrets:read', url: (f) => `${A(f)}/data-sources` },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/secrets/{secretId}/check',
    access: 'secrets:check',
    url: (f) => `${A(f)}/secrets/${f.aSecret}/check`,
    foreignObjectUrl: (f) => `${A(f)}/secrets/${f.bSecret}/check`,
    badParamUrl: (f) => `${A(f)}/secrets/nope/check`,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/secrets/{secretId}/pause',
    access: 'secrets:write',
    url: (f) => `${A(f)}/secrets/${f.aSecret}/pause`,
    foreignObjectUrl: (f) => `${A(f)}/secrets/${f.bSecret}/pause`,
    badParamUrl: (f) => `${A(f)}/secrets/nope/pause`,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/secrets/{secretId}/resume',
    access: 'secrets:write',
    url: (f) => `${A(f)}/secrets/${f.aSecret}/resume`,
    foreignObjectUrl: (f) => `${A(f)}/secrets/${f.bSecret}/resume`,
    badParamUrl: (f) => `${A(f)}/secrets/nope/resume`,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/secrets/{secretId}/report-exposed',
    access: 'secrets:report',
    url: (f) => `${A(f)}/secrets/${f.aSecret}/report-exposed`,
    foreignObjectUrl: (f) => `${A(f)}/secrets/${f.bSecret}/report-exposed`,
    badParamUrl: (f) => `${A(f)}/secrets/nope/report-exposed`,
    body: () => ({ reason: 'route matrix' }),
  },
  { method: 'POST', path: '/v1/orgs/{orgId}/keys/rotate', access: 'keys:rotate', url: (f) => `${A(f)}/keys/rotate` },
  { method: 'GET', path: '/v1/orgs/{orgId}/secrets', access: 'secrets:read', url: (f) => `${A(f)}/secrets` },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/secrets',
    access: 'secrets:write',
    url: (f) => `${A(f)}/secrets`,
    body: () => ({ name: 'matrix-secret', type: 'generic', value: 'v' }),
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/secrets/{secretId}',
    access: 'secrets:read',
    url: (f) => `${A(f)}/secrets/${f.aSecret}`,
    foreignObjectUrl: (f) => `${A(f)}/secrets/${f.bSecret}`,
    badParamUrl: (f) => `${A(f)}/secrets/nope`,
  },
  {
    method: 'DELETE',
    path: '/v1/orgs/{orgId}/secrets/{secretId}',
    access: 'secrets:delete',
    url: (f) => `${A(f)}/secrets/${f.aSecret}`,
    foreignObjectUrl: (f) => `${A(f)}/secrets/${f.bSecret}`,
    badParamUrl: (f) => `${A(f)}/secrets/nope`,
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/secrets/{secretId}/versions',
    access: 'secrets:read',
    url: (f) => `${A(f)}/secrets/${f.aSecret}/versions`,
    foreignObjectUrl: (f) => `${A(f)}/secrets/${f.bSecret}/versions`,
    badParamUrl: (f) => `${A(f)}/secrets/nope/versions`,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/secrets/{secretId}/versions',
    access: 'secrets:write',
    url: (f) => `${A(f)}/secrets/${f.aSecret}/versions`,
    foreignObjectUrl: (f) => `${A(f)}/secrets/${f.bSecret}/versions`,
    badParamUrl: (f) => `${A(f)}/secrets/nope/versions`,
    body: () => ({ value: 'v2' }),
  },
  {
    method: 'DELETE',
    path: '/v1/orgs/{orgId}/secrets/{secretId}/versions/{version}',
    access: 'secrets:delete',
    url: (f) => `${A(f)}/secrets/${f.aSecret}/versions/1`,
    foreignObjectUrl: (f) => `${A(f)}/secrets/${f.bSecret}/versions/1`,
    badParamUrl: (f) => `${A(f)}/secrets/${f.aSecret}/versions/0`,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/secrets/{secretId}/reveal',
    access: 'vault:reveal',
    url: (f) => `${A(f)}/secrets/${f.aSecret}/reveal`,
    foreignObjectUrl: (f) => `${A(f)}/secrets/${f.bSecret}/reveal`,
    badParamUrl: (f) => `${A(f)}/secrets/nope/reveal`,
    body: () => ({ reason: 'route matrix' }),
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/secrets/by-path',
    access: 'secrets:read',
    url: (f) => `${A(f)}/secrets/by-path?path=fixture`,
    foreignObjectUrl: (f) => `${A(f)}/secrets/by-path?path=b-only`,
    badParamUrl: (f) => `${A(f)}/secrets/by-path?path=../fixture`,
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/secrets/by-path/versions',
    access: 'secrets:read',
    url: (f) => `${A(f)}/secrets/by-path/versions?path=fixture`,
    foreignObjectUrl: (f) => `${A(f)}/secrets/by-path/versions?path=b-only`,
    badParamUrl: (f) => `${A(f)}/secrets/by-path/versions?path=-fixture`,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/secrets/by-path/versions',
    access: 'secrets:write',
    url: (f) => `${A(f)}/secrets/by-path/versions?path=fixture`,
    foreignObjectUrl: (f) => `${A(f)}/secrets/by-path/versions?path=b-only`,
    badParamUrl: (f) => `${A(f)}/secrets/by-path/versions?path=/fixture`,
    body: () => ({ value: 'route matrix value' }),
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/secrets/by-path/reveal',
    access: 'vault:reveal',
    url: (f) => `${A(f)}/secrets/by-path/reveal?path=fixture`,
    foreignObjectUrl: (f) => `${A(f)}/secrets/by-path/reveal?path=b-only`,
    badParamUrl: (f) => `${A(f)}/secrets/by-path/reveal?path=../fixture`,
    body: () => ({ reason: 'route matrix' }),
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/audit/events',
    access: 'audit:read',
    url: (f) => `${A(f)}/audit/events`,
    query: true,
  },
  { method: 'GET', path: '/v1/orgs/{orgId}/audit/export', access: 'audit:export', url: (f) => `${A(f)}/audit/export` },
  { method: 'GET', path: '/v1/orgs/{orgId}/audit/verify', access: 'audit:verify', url: (f) => `${A(f)}/audit/verify` },
  { method: 'GET', path: '/v1/orgs/{orgId}/audit/status', access: 'audit:read', url: (f) => `${A(f)}/audit/status` },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/audit/checkpoints/latest',
    access: 'audit:read',
    url: (f) => `${A(f)}/audit/checkpoints/latest`,
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/audit/proofs/inclusion',
    access: 'audit:read',
    url: (f) => `${A(f)}/audit/proofs/inclusion?seq=1&size=1`,
    query: true,
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/audit/proofs/consistency',
    access: 'audit:read',
    url: (f) => `${A(f)}/audit/proofs/consistency?from=0&to=1`,
    query: true,
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/audit/events/{eventId}/receipt',
    access: 'audit:read',
    url: (f) => `${A(f)}/audit/events/${f.aEvent}/receipt`,
    foreignObjectUrl: (f) => `${A(f)}/audit/events/${f.bEvent}/receipt`,
    badParamUrl: (f) => `${A(f)}/audit/events/not-a-uuid/receipt`,
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/audit/tile/{*}',
    access: 'audit:read',
    url: (f) => `${A(f)}/audit/tile/0/000.p/1`,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/audit/events',
    access: 'audit:write',
    url: (f) => `${A(f)}/audit/events`,
    body: () => APP_EVENT,
  },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/audit/viewer-tokens',
    access: 'audit:viewer',
    url: (f) => `${A(f)}/audit/viewer-tokens`,
    body: () => ({ origin: 'https://app.a.test', actions: ['document.*'], actorId: 'u_1', ttlSeconds: 300 }),
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/audit/viewer-tokens',
    access: 'audit:viewer',
    url: (f) => `${A(f)}/audit/viewer-tokens`,
    query: true,
  },
  {
    method: 'DELETE',
    path: '/v1/orgs/{orgId}/audit/viewer-tokens/{tokenId}',
    access: 'audit:viewer',
    url: (f) => `${A(f)}/audit/viewer-tokens/${f.aViewerToken}`,
    badParamUrl: (f) => `${A(f)}/audit/viewer-tokens/not-a-uuid`,
  },
  { method: 'GET', path: '/v1/viewer/session', access: 'viewer', url: () => '/v1/viewer/session' },
  { method: 'GET', path: '/v1/viewer/events', access: 'viewer', url: () => '/v1/viewer/events', query: true },
  {
    method: 'GET',
    path: '/v1/viewer/events/{eventId}/receipt',
    access: 'viewer',
    url: (f) => `/v1/viewer/events/${f.aEvent}/receipt`,
    badParamUrl: () => '/v1/viewer/events/not-a-uuid/receipt',
  },
  { method: 'GET', path: '/v1/viewer/export', access: 'viewer', url: () => '/v1/viewer/export' },
  {
    method: 'POST',
    path: '/v1/orgs/{orgId}/audit/events/batch',
    access: 'audit:write',
    url: (f) => `${A(f)}/audit/events/batch`,
    body: () => ({ events: [APP_EVENT] }),
    oversize: 70_000,
  },
  {
    method: 'GET',
    path: '/v1/orgs/{orgId}/audit/event-schema',
    access: 'audit:read',
    url: (f) => `${A(f)}/audit/event-schema`,
  },
  {
    // The provider's own org: the schema is declared there only.
    method: 'PUT',
    path: '/v1/orgs/{orgId}/audit/event-schema',
    access: 'audit:schema',
    url: (f) => `/v1/orgs/${f.provider.orgId}/audit/event-schema`,
    forbiddenToken: (f) => f.providerViewer,
    body: () => ({
      unknownActions: 'refuse',
      unknownKeys: 'accept',
      actions: {
        'document.share': {
          description: 'shared',
          metadata: { role: { type: 'string', required: true, description: 'the role given' } },
          personal: { email: { type: 'string' } },
        },
      },
    }),
  },
]

async function member(app: TestApp, org: Org, email: string): Promise<string> {
  const invite = await app.request({
    method: 'POST',
    url: `/v1/orgs/${org.orgId}/invitations`,
    token: org.ownerToken,
    body: { email, role: 'viewer' },
  })
  const joined = await app.request({
    method: 'POST',
    url: '/v1/invitations/accept',
    body: { token: invite.body.token, password: PASSWORD },
  })
  return joined.body.userId
}

/** Builds the fixture in `app`: the provider, orgs A and B, and one object of every kind in each. */
export async function buildRouteFixture(app: TestApp): Promise<Fixture> {
  const provider = await bootstrapProvider(app)
  const a = await createCustomerOrg(app, provider, 'Org A', 'owner@a.test')
  const b = await createCustomerOrg(app, provider, 'Org B', 'owner@b.test')
  for (const [org, name, permissions] of [
    [a, 'only-verify', ['audit:verify']],
    [a, 'only-read', ['org:read']],
    [b, 'b-role', ['org:read']],
  ] as const) {
    const created = await app.request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/roles`,
      token: org.ownerToken,
      body: { name, permissions },
    })
    assert.equal(created.status, 201, created.text)
  }
  const onlyVerify = await principalWithRole(app, a, 'only-verify')
  const onlyRead = await principalWithRole(app, a, 'only-read')
  const providerViewer = await principalWithRole(app, provider, 'viewer')
  const aSa = await principalWithRole(app, a, 'viewer')
  const bSa = await principalWithRole(app, b, 'viewer')
  const secretIn = async (org: Org) =>
    (
      await app.request({
        method: 'POST',
        url: `/v1/orgs/${org.orgId}/secrets`,
        token: org.ownerToken,
        body: { name: 'fixture', type: 'api_key', value: 'fixture-value' },
      })
    ).body.id as string
  for (const [org, name] of [
    [a, 'fixture'],
    [b, 'b-only'],
  ] as const) {
    await app.request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/transit/keys`,
      token: org.ownerToken,
      body: { name },
    })
  }
  const sessionIn = async (email: string) => {
    await app.request({ method: 'POST', url: '/v1/login', body: { email, password: PASSWORD } })
    const user = await app.db.kysely
      .selectFrom('users')
      .select('id')
      .where('email', '=', email)
      .executeTakeFirstOrThrow()
    return (
      await app.db.kysely.selectFrom('sessions').select('id').where('user_id', '=', user.id).executeTakeFirstOrThrow()
    ).id
  }
  const aSession = await sessionIn('owner@a.test')
  const bSession = await sessionIn('owner@b.test')
  const aSecret = await secretIn(a)
  const bSecret = await secretIn(b)
  // A path only org B holds: the by-path routes aim at it through org A's URL.
  await app.request({
    method: 'POST',
    url: `/v1/orgs/${b.orgId}/secrets`,
    token: b.ownerToken,
    body: { name: 'b-only', type: 'generic', value: 'fixture-value' },
  })
  const grantIn = async (org: Org) =>
    (
      await app.request({
        method: 'POST',
        url: '/v1/operator/grants',
        token: provider.ownerToken,
        body: { orgId: org.orgId, reason: 'route matrix fixture', permissions: ['org:read'] },
      })
    ).body.id as string
  const aGrant = await grantIn(a)
  const bGrant = await grantIn(b)
  const reviewIn = async (org: Org) => {
    const started = await app.request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/access-reviews`,
      token: org.ownerToken,
    })
    const items = await app.request({
      method: 'GET',
      url: `/v1/orgs/${org.orgId}/access-reviews/${started.body.id}/items?limit=500`,
      token: org.ownerToken,
    })
    return { id: started.body.id as string, items: items.body.items as { id: string; kind: string }[] }
  }
  const aReview = await reviewIn(a)
  const bReview = await reviewIn(b)
  const recordIn = async (org: Org) =>
    (
      await app.request({
        method: 'POST',
        url: `/v1/orgs/${org.orgId}/records`,
        token: org.ownerToken,
        body: { subjectId: 'fixture-subject', dataClass: 'contact', payload: { x: 1 } },
      })
    ).body.id as string
  const aRecord = await recordIn(a)
  const bRecord = await recordIn(b)
  const requestIn = async (org: Org) =>
    (
      await app.request({
        method: 'POST',
        url: `/v1/orgs/${org.orgId}/privacy-requests`,
        token: org.ownerToken,
        body: { kind: 'rectify', subjectId: 'fixture-subject' },
      })
    ).body.id as string
  const exportIn = async (org: Org) => {
    const id = (
      await app.request({
        method: 'POST',
        url: `/v1/orgs/${org.orgId}/privacy-requests`,
        token: org.ownerToken,
        body: { kind: 'access', subjectId: 'fixture-subject', verification: { method: 'fixture' } },
      })
    ).body.id as string
    return (
      await app.request({
        method: 'POST',
        url: `/v1/orgs/${org.orgId}/privacy-requests/${id}/complete`,
        token: org.ownerToken,
        body: {},
      })
    ).body.exportId as string
  }
  const webhookIn = async (org: Org) =>
    (
      await app.request({
        method: 'POST',
        url: `/v1/orgs/${org.orgId}/webhooks`,
        token: org.ownerToken,
        body: { name: 'fixture', url: 'https://hooks.fixture.test/erase', events: ['erasure.requested'] },
      })
    ).body.id as string
  const [aRequest, bRequest, aExport, bExport, aWebhook, bWebhook] = [
    await requestIn(a),
    await requestIn(b),
    await exportIn(a),
    await exportIn(b),
    await webhookIn(a),
    await webhookIn(b),
  ]
  const destinationIn = async (org: Org) => {
    const created = await app.request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/siem/destinations`,
      token: org.ownerToken,
      body: { name: 'fixture', kind: 'jsonl', url: 'https://siem.fixture.test/in' },
    })
    assert.equal(created.status, 201, created.text)
    return created.body.id as string
  }
  const [aDestination, bDestination] = [await destinationIn(a), await destinationIn(b)]
  // Consent (P7.7): purposes and a notice in each org (B has a purpose and a notice version A lacks), and an objection under review.
  const consentIn = async (org: Org, only: boolean) => {
    const post = async (tail: string, body: unknown) => {
      const response = await app.request({
        method: 'POST',
        url: `/v1/orgs/${org.orgId}/consent${tail}`,
        token: org.ownerToken,
        body,
      })
      assert.ok(response.status < 300, response.text)
      return response.body
    }
    const recipient = await post('/recipients', {
      name: 'Fixture Recipient',
      url: 'https://recipient.fixture.test/consent',
      deadlineHours: 24,
    })
    await post('/purposes', { key: 'fixture', name: 'Fixture', lawfulBasis: 'consent' })
    await post('/purposes', { key: 'fixture-li', name: 'Fixture LI', lawfulBasis: 'legitimate_interests' })
    if (only) await post('/purposes', { key: 'b-only', name: 'B only', lawfulBasis: 'consent' })
    await post('/notices', { language: 'en', text: 'Fixture notice.', purposes: ['fixture'], materialChange: false })
    if (only) await post('/notices', { language: 'fr', text: 'Avis.', purposes: ['fixture'], materialChange: false })
    const objected = await post('/events', {
      id: 'fixture-objection',
      subject: 'fixture-subject',
      purpose: 'fixture-li',
      action: 'object',
      method: 'form',
    })
    return {
      objection: objected.event.objectionId as string,
      event: objected.event.id as string,
      recipient: recipient.id as string,
    }
  }
  const [aConsent, bConsent] = [await consentIn(a, false), await consentIn(b, true)]
  const [aObjection, bObjection] = [aConsent.objection, bConsent.objection]
  // A certificate row as the erasure flow leaves one (the flow itself: test/privacy/requests.test.ts).
  const certificateIn = async (org: Org, requestId: string) => {
    const id = randomUUID()
    await app.db.kysely
      .insertInto('erasure_certificates')
      .values({
        id,
        org_id: org.orgId,
        request_id: requestId,
        jws: 'e30.e30.AA',
        issued_at: new Date(),
        audit_event_id: null,
      })
      .execute()
    return id
  }
  const [aCertificate, bCertificate] = [await certificateIn(a, aRequest), await certificateIn(b, bRequest)]
  const [aDelivery, bDelivery] = [
    await insertDeadLetter(app, a.orgId, aWebhook),
    await insertDeadLetter(app, b.orgId, bWebhook),
  ]
  const alertIn = (org: Org) =>
    withOrg(
      app.db.kysely,
      org.orgId,
      async (trx) =>
        (await app.app.services.alerts.raiseIn(trx, org.orgId, 'plan_review_overdue', {
          key: 'fixture',
          title: 'fixture',
          details: {},
        })) as string,
    )
  const [aAlert, bAlert] = [await alertIn(a), await alertIn(b)]
  const incidentIn = async (org: Org) => {
    const plan = await app.request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/response-plan/types`,
      token: org.ownerToken,
      body: { name: 'fixture-type', defaultSeverity: 'high', playbook: ['contain', 'eradicate'] },
    })
    const type = plan.body.types[0].id as string
    const opened = await app.request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/incidents`,
      token: org.ownerToken,
      body: { typeId: type, title: 'fixture incident' },
    })
    const confirmed = await app.request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/incidents/${opened.body.id}/breach`,
      token: org.ownerToken,
      body: { summary: 'fixture breach' },
    })
    assert.equal(confirmed.status, 200, confirmed.text)
    return { type, incident: opened.body.id as string, notice: confirmed.body.notifications[0].id as string }
  }
  const [aIncident, bIncident] = [await incidentIn(a), await incidentIn(b)]
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
  assert.equal(submitted.status, 201, submitted.text)
  const report = (await app.db.kysely.selectFrom('vulnerability_reports').select('id').executeTakeFirstOrThrow()).id
  const bTokens = await app.request({ method: 'GET', url: `/v1/orgs/${b.orgId}/tokens`, token: b.ownerToken })
  const aTokens = await app.request({ method: 'GET', url: `/v1/orgs/${a.orgId}/tokens`, token: a.ownerToken })
  const f: Fixture = {
    aCertificate,
    bCertificate,
    provider,
    a,
    b,
    aMember: await member(app, a, 'member@a.test'),
    bMember: await member(app, b, 'member@b.test'),
    aServiceAccount: aSa.serviceAccountId,
    bServiceAccount: bSa.serviceAccountId,
    aToken: aTokens.body.tokens[0].id,
    bToken: bTokens.body.tokens[0].id,
    bRole: 'b-role',
    onlyVerify: onlyVerify.token,
    onlyRead: 'only-read',
    aSecret,
    bSecret,
    aSession,
    bSession,
    aGrant,
    bGrant,
    aReview: aReview.id,
    bReview: bReview.id,
    aItem: aReview.items.find((i) => i.kind === 'service_account')?.id as string,
    bItem: bReview.items.find((i) => i.kind === 'service_account')?.id as string,
    aRecord,
    bRecord,
    aRequest,
    bRequest,
    aExport,
    bExport,
    aWebhook,
    bWebhook,
    aDestination,
    bDestination,
    aDelivery,
    bDelivery,
    aAlert,
    bAlert,
    aType: aIncident.type,
    bType: bIncident.type,
    aIncident: aIncident.incident,
    bIncident: bIncident.incident,
    aBreachNotice: aIncident.notice,
    bBreachNotice: bIncident.notice,
    report,
    providerViewer: providerViewer.token,
    aViewer: '',
    aViewerMintedAt: 0,
    aViewerToken: '',
    aObjection,
    bObjection,
    aConsentEvent: aConsent.event,
    bConsentEvent: bConsent.event,
    aRecipient: aConsent.recipient,
    bRecipient: bConsent.recipient,
    ...(await (async () => {
      await app.app.sequencer.flush()
      const firstEvent = async (org: Org) =>
        (
          await app.db.kysely
            .selectFrom('audit_chain as c')
            .innerJoin('audit_events as e', 'e.id', 'c.id')
            .select('e.event_id')
            .where('c.org_id', '=', org.orgId)
            .where('c.seq', '=', 1)
            .executeTakeFirstOrThrow()
        ).event_id
      return { aEvent: await firstEvent(a), bEvent: await firstEvent(b) }
    })()),
  }
  Object.assign(f, { onlyReadToken: onlyRead.token })
  return f
}
