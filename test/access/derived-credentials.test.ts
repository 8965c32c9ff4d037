import assert from 'node:assert/strict'
import type { JsonBody } from '../helpers/json.ts'
import { randomUUID } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, it } from 'node:test'
import { BUILT_IN_ROLES } from '../../src/modules/access/permissions.ts'
import { forEachEngine } from '../helpers/db.ts'
import {
  auditActions,
  bootstrapProvider,
  createCustomerOrg,
  fingerprint,
  PASSWORD,
  useTestApp,
  type Org,
  type TestApp,
  type TestResponse,
} from '../helpers/app.ts'
import { startOidcProvider, type OidcProvider } from '../helpers/oidc-provider.ts'

/**
 * Issue 11 K3: a credential derived from another never carries more than it. Every route
 * that makes a credential or gives a role — API tokens, service accounts, invitations,
 * member roles, custom roles, the SSO default role, an access review's reduce, diagnostic
 * grant requests and approvals — is bounded by the caller's own effective permissions
 * (its role's, narrowed by its token's scopes), explicitly and when a field is omitted.
 * A refusal is 403 EXCEEDS_OWN_PERMISSIONS naming what the caller lacks, problem+json,
 * nothing changed, recorded like any refusal.
 */
const PUBLIC_URL = 'https://custodian.test'
const dir = mkdtempSync(path.join(tmpdir(), 'custodian-derived-'))
let op: OidcProvider

before(async () => {
  op = await startOidcProvider({ redirectUri: `${PUBLIC_URL}/v1/sso/callback`, dir })
})
after(async () => {
  await op?.stop()
})

const VIEWER = [...BUILT_IN_ROLES.viewer.permissions].sort()
const MEMBER = [...BUILT_IN_ROLES.member.permissions].sort()
const sorted = (list: string[]) => [...new Set(list)].sort()

/** Properties of request bodies that derive a credential or a role from the caller. */
const DERIVING_FIELDS = new Set(['role', 'defaultRole', 'scopes', 'permissions', 'serviceAccountId', 'secretIds'])
/**
 * Routes that derive without such a field: approving a grant opens its permissions;
 * resuming a suspended member gives their role back.
 */
const DERIVING_WITHOUT_FIELD = [
  'POST /v1/orgs/{orgId}/grants/{grantId}/approve',
  'POST /v1/orgs/{orgId}/members/{userId}/resume',
]

/** Deriving routes a session may call without a fresh second factor, each with its reason. */
const STEP_UP_EXEMPT = new Map<string, string>([
  ['POST /v1/operator/grants', 'a request opens nothing: the customer’s approval does, and approving asks for step-up'],
  [
    'POST /v1/me/2fa/totp',
    'the caller’s own TOTP seed, while enrolling a second factor it may not have yet: nothing to step up with, and it opens nothing of an org',
  ],
  [
    'POST /v1/orgs/{orgId}/consent/check',
    'its `token` is a signed decision a processor keeps as proof it checked, not a credential: it opens nothing',
  ],
])

interface Fixture {
  provider: Org
  acme: Org
  other: Org
  memberId: string
  adminAccountId: string
  acmeSecret: string
  otherSecret: string
  grantId: string
  reviewItemId: string
  reviewId: string
  adminToken: string
  adminAppToken: string
}

interface Case {
  /** The route as /openapi.json names it. */
  route: string
  name: string
  /** The caller: the scopes of a token of the org's owner (or of the operator, `operator: true`). */
  scopes: string[]
  operator?: boolean
  /** Run before the case (as the org's owner), outside what "nothing changed" compares. */
  setup?: (t: TestApp, f: Fixture) => Promise<void>
  send: (t: TestApp, f: Fixture, token: string) => Promise<TestResponse>
  /** Refused, naming exactly these missing permissions (or at least these, with `atLeast`). */
  missing?: string[]
  atLeast?: boolean
  /** Allowed: this status, then `check`. */
  ok?: number
  check?: (t: TestApp, f: Fixture, response: TestResponse) => Promise<void>
}

const orgUrl = (f: Fixture, rest = '') => `/v1/orgs/${f.acme.orgId}${rest}`

const CASES: Case[] = [
  // API tokens for oneself: explicit scopes, and omitted scopes (= the caller's own).
  {
    route: 'POST /v1/orgs/{orgId}/tokens',
    name: 'a token scoped to tokens:create issues one without scopes: it gets the same scopes, never null',
    scopes: ['tokens:create'],
    ok: 201,
    send: (t, f, token) =>
      t.request({ method: 'POST', url: orgUrl(f, '/tokens'), token, body: { name: 'derived', expiresInDays: 1 } }),
    check: async (t, f, response) => {
      assert.deepEqual(response.body.scopes, ['tokens:create'])
      const listed = await t.request({ method: 'GET', url: orgUrl(f, '/secrets'), token: response.body.token })
      assert.equal(listed.status, 403)
      const revealed = await t.request({
        method: 'POST',
        url: orgUrl(f, `/secrets/${f.acmeSecret}/reveal`),
        token: response.body.token,
        body: { reason: 'derived token tries' },
      })
      assert.equal(revealed.status, 403)
    },
  },
  {
    route: 'POST /v1/orgs/{orgId}/tokens',
    name: 'a token scoped to tokens:create cannot issue one scoped to secrets',
    scopes: ['tokens:create'],
    missing: ['secrets:read', 'vault:reveal'],
    send: (t, f, token) =>
      t.request({
        method: 'POST',
        url: orgUrl(f, '/tokens'),
        token,
        body: { name: 'wider', expiresInDays: 1, scopes: ['secrets:read', 'vault:reveal', 'tokens:create'] },
      }),
  },
  {
    route: 'POST /v1/orgs/{orgId}/tokens',
    name: 'a scoped token issues a narrower one',
    scopes: ['tokens:create', 'members:read'],
    ok: 201,
    send: (t, f, token) =>
      t.request({
        method: 'POST',
        url: orgUrl(f, '/tokens'),
        token,
        body: { name: 'narrower', expiresInDays: 1, scopes: ['members:read'] },
      }),
    check: async (t, f, response) => {
      assert.deepEqual(response.body.scopes, ['members:read'])
      assert.equal(
        (await t.request({ method: 'GET', url: orgUrl(f, '/members'), token: response.body.token })).status,
        200,
      )
    },
  },
  {
    route: 'POST /v1/orgs/{orgId}/tokens',
    name: 'an unscoped credential issues an unscoped token (it follows the holder’s role, as the caller does)',
    scopes: [],
    ok: 201,
    send: (t, f) =>
      t.request({
        method: 'POST',
        url: orgUrl(f, '/tokens'),
        token: f.acme.ownerToken,
        body: { name: 'plain', expiresInDays: 1 },
      }),
    check: async (_t, _f, response) => assert.equal(response.body.scopes, null),
  },
  // API tokens for a service account (an admin one): bounded by the caller, not by the account's role.
  {
    route: 'POST /v1/orgs/{orgId}/tokens',
    name: 'a service account’s token without scopes carries only what the caller has of the account’s role',
    scopes: ['tokens:create', 'service_accounts:manage'],
    ok: 201,
    send: (t, f, token) =>
      t.request({
        method: 'POST',
        url: orgUrl(f, '/tokens'),
        token,
        body: { name: 'sa', expiresInDays: 1, serviceAccountId: f.adminAccountId },
      }),
    check: async (t, f, response) => {
      assert.deepEqual(response.body.scopes, ['service_accounts:manage', 'tokens:create'])
      assert.equal(
        (await t.request({ method: 'GET', url: orgUrl(f, '/secrets'), token: response.body.token })).status,
        403,
      )
    },
  },
  {
    route: 'POST /v1/orgs/{orgId}/tokens',
    name: 'a service account’s token scoped beyond the caller is refused',
    scopes: ['tokens:create', 'service_accounts:manage'],
    missing: ['secrets:read'],
    send: (t, f, token) =>
      t.request({
        method: 'POST',
        url: orgUrl(f, '/tokens'),
        token,
        body: { name: 'sa-wide', expiresInDays: 1, serviceAccountId: f.adminAccountId, scopes: ['secrets:read'] },
      }),
  },
  // Service accounts.
  {
    route: 'POST /v1/orgs/{orgId}/service-accounts',
    name: 'a service account cannot hold a role wider than its creator',
    scopes: ['service_accounts:manage'],
    missing: VIEWER,
    send: (t, f, token) =>
      t.request({
        method: 'POST',
        url: orgUrl(f, '/service-accounts'),
        token,
        body: { name: 'too-wide', role: 'viewer' },
      }),
  },
  {
    route: 'POST /v1/orgs/{orgId}/service-accounts',
    name: 'nor the admin role',
    scopes: ['service_accounts:manage', ...VIEWER],
    missing: ['secrets:read', 'vault:reveal'],
    atLeast: true,
    send: (t, f, token) =>
      t.request({
        method: 'POST',
        url: orgUrl(f, '/service-accounts'),
        token,
        body: { name: 'admin-sa', role: 'admin' },
      }),
  },
  {
    route: 'POST /v1/orgs/{orgId}/service-accounts',
    name: 'a service account within the creator’s permissions is made',
    scopes: ['service_accounts:manage', ...VIEWER],
    ok: 201,
    send: (t, f, token) =>
      t.request({
        method: 'POST',
        url: orgUrl(f, '/service-accounts'),
        token,
        body: { name: 'reader-sa', role: 'viewer' },
      }),
  },
  // A service account's role: bounded like a member's; its tokens follow at once.
  {
    route: 'PATCH /v1/orgs/{orgId}/service-accounts/{serviceAccountId}',
    name: 'a service account cannot be given a role wider than the caller',
    scopes: ['service_accounts:manage'],
    missing: VIEWER,
    send: (t, f, token) =>
      t.request({
        method: 'PATCH',
        url: orgUrl(f, `/service-accounts/${f.adminAccountId}`),
        token,
        body: { role: 'viewer' },
      }),
  },
  {
    route: 'PATCH /v1/orgs/{orgId}/service-accounts/{serviceAccountId}',
    name: 'a role within the caller’s permissions is given, audited with the old and new role; the account’s token has it at once',
    scopes: ['service_accounts:manage', ...VIEWER],
    ok: 200,
    setup: async (t, f) => {
      const token = await t.request({
        method: 'POST',
        url: orgUrl(f, '/tokens'),
        token: f.acme.ownerToken,
        body: { name: 'admin-app-token', expiresInDays: 1, serviceAccountId: f.adminAccountId },
      })
      assert.equal(token.status, 201, token.text)
      f.adminAppToken = token.body.token
      const before = await t.request({ method: 'GET', url: orgUrl(f, '/secrets'), token: f.adminAppToken })
      assert.equal(before.status, 200, before.text)
    },
    send: (t, f, token) =>
      t.request({
        method: 'PATCH',
        url: orgUrl(f, `/service-accounts/${f.adminAccountId}`),
        token,
        body: { role: 'viewer' },
      }),
    check: async (t, f, response) => {
      assert.equal(response.body.role, 'viewer')
      const after = await t.request({ method: 'GET', url: orgUrl(f, '/secrets'), token: f.adminAppToken })
      assert.equal(after.status, 403, 'the account’s token lost what the admin role gave, at its next use')
      const changes = (await auditActions(t, f.acme.orgId)).filter((e) => e.action === 'service_account.role_change')
      assert.deepEqual(
        changes.map((e) => [e.details.from, e.details.to]),
        [['admin', 'viewer']],
      )
    },
  },
  // Invitations.
  {
    route: 'POST /v1/orgs/{orgId}/invitations',
    name: 'an invitation cannot carry a role wider than the inviter',
    scopes: ['members:invite'],
    missing: VIEWER,
    send: (t, f, token) =>
      t.request({
        method: 'POST',
        url: orgUrl(f, '/invitations'),
        token,
        body: { email: 'wide@acme.test', role: 'viewer' },
      }),
  },
  {
    route: 'POST /v1/orgs/{orgId}/invitations',
    name: 'nor a custom role holding what the inviter lacks',
    scopes: ['members:invite', ...VIEWER],
    missing: ['secrets:read'],
    send: (t, f, token) =>
      t.request({
        method: 'POST',
        url: orgUrl(f, '/invitations'),
        token,
        body: { email: 'reader@acme.test', role: 'secret-reader' },
      }),
  },
  {
    route: 'POST /v1/orgs/{orgId}/invitations',
    name: 'an admin’s invitation as owner names what ownership holds beyond admin',
    scopes: [],
    missing: ['org:delete'],
    setup: async (t, f) => {
      const admin = await t.request({
        method: 'POST',
        url: orgUrl(f, '/service-accounts'),
        token: f.acme.ownerToken,
        body: { name: 'inviting-admin', role: 'admin' },
      })
      const token = await t.request({
        method: 'POST',
        url: orgUrl(f, '/tokens'),
        token: f.acme.ownerToken,
        body: { name: 'inviting-admin', expiresInDays: 1, serviceAccountId: admin.body.id },
      })
      f.adminToken = token.body.token
    },
    send: (t, f) =>
      t.request({
        method: 'POST',
        url: orgUrl(f, '/invitations'),
        token: f.adminToken,
        body: { email: 'owner2@acme.test', role: 'owner' },
      }),
  },
  {
    route: 'POST /v1/orgs/{orgId}/invitations',
    name: 'an invitation within the inviter’s permissions is made',
    scopes: ['members:invite', ...VIEWER],
    ok: 201,
    send: (t, f, token) =>
      t.request({
        method: 'POST',
        url: orgUrl(f, '/invitations'),
        token,
        body: { email: 'viewer@acme.test', role: 'viewer' },
      }),
  },
  // A member's role.
  {
    route: 'PATCH /v1/orgs/{orgId}/members/{userId}',
    name: 'a member cannot be given a role wider than the caller',
    scopes: ['members:update'],
    missing: MEMBER,
    send: (t, f, token) =>
      t.request({ method: 'PATCH', url: orgUrl(f, `/members/${f.memberId}`), token, body: { role: 'member' } }),
  },
  {
    route: 'PATCH /v1/orgs/{orgId}/members/{userId}',
    name: 'nor admin by a caller with the member role’s permissions',
    scopes: ['members:update', ...MEMBER],
    missing: ['secrets:write', 'vault:reveal'],
    atLeast: true,
    send: (t, f, token) =>
      t.request({ method: 'PATCH', url: orgUrl(f, `/members/${f.memberId}`), token, body: { role: 'admin' } }),
  },
  {
    route: 'PATCH /v1/orgs/{orgId}/members/{userId}',
    name: 'a role within the caller’s permissions is given',
    scopes: ['members:update', ...MEMBER],
    ok: 200,
    send: (t, f, token) =>
      t.request({ method: 'PATCH', url: orgUrl(f, `/members/${f.memberId}`), token, body: { role: 'member' } }),
    check: async (_t, _f, response) => assert.equal(response.body.role, 'member'),
  },
  // Custom roles.
  {
    route: 'POST /v1/orgs/{orgId}/roles',
    name: 'a custom role cannot hold permissions its creator lacks',
    scopes: ['roles:manage'],
    missing: ['secrets:read', 'vault:reveal'],
    send: (t, f, token) =>
      t.request({
        method: 'POST',
        url: orgUrl(f, '/roles'),
        token,
        body: { name: 'revealer', permissions: ['secrets:read', 'vault:reveal'] },
      }),
  },
  {
    route: 'POST /v1/orgs/{orgId}/roles',
    name: 'a custom role within its creator’s permissions is made',
    scopes: ['roles:manage', 'secrets:read'],
    ok: 201,
    send: (t, f, token) =>
      t.request({
        method: 'POST',
        url: orgUrl(f, '/roles'),
        token,
        body: { name: 'lister', permissions: ['secrets:read'] },
      }),
  },
  {
    route: 'PUT /v1/orgs/{orgId}/roles/{name}',
    name: 'a custom role cannot be widened beyond its editor',
    scopes: ['roles:manage', ...VIEWER],
    missing: ['secrets:read', 'vault:reveal'],
    send: (t, f, token) =>
      t.request({
        method: 'PUT',
        url: orgUrl(f, '/roles/secret-reader'),
        token,
        body: { permissions: [...VIEWER, 'secrets:read', 'vault:reveal'] },
      }),
  },
  {
    route: 'PUT /v1/orgs/{orgId}/roles/{name}',
    name: 'a custom role changed within its editor’s permissions takes the new set',
    scopes: ['roles:manage', ...VIEWER, 'secrets:read'],
    ok: 200,
    send: (t, f, token) =>
      t.request({
        method: 'PUT',
        url: orgUrl(f, '/roles/secret-reader'),
        token,
        body: { permissions: [...VIEWER, 'secrets:read'], description: 'reads secrets' },
      }),
    check: async (_t, _f, response) => {
      assert.deepEqual(response.body.permissions, sorted([...VIEWER, 'secrets:read']))
      assert.equal(response.body.description, 'reads secrets')
    },
  },
  // Single sign-on's default role: everyone who signs in first gets it.
  {
    route: 'PUT /v1/orgs/{orgId}/sso',
    name: 'the SSO default role cannot be wider than the caller',
    scopes: ['org:security'],
    missing: VIEWER,
    send: (t, f, token) => t.request({ method: 'PUT', url: orgUrl(f, '/sso'), token, body: ssoBody('viewer') }),
  },
  {
    route: 'PUT /v1/orgs/{orgId}/sso',
    name: 'an SSO default role within the caller’s permissions is set',
    scopes: ['org:security', ...VIEWER],
    ok: 200,
    send: (t, f, token) => t.request({ method: 'PUT', url: orgUrl(f, '/sso'), token, body: ssoBody('viewer') }),
    check: async (_t, _f, response) => assert.equal(response.body.defaultRole, 'viewer'),
  },
  // An access review's reduce gives a member a role.
  {
    route: 'POST /v1/orgs/{orgId}/access-reviews/{reviewId}/items/{itemId}/decision',
    name: 'a review cannot reduce a member to a role the reviewer does not hold',
    scopes: ['reviews:decide'],
    missing: VIEWER,
    send: (t, f, token) =>
      t.request({
        method: 'POST',
        url: orgUrl(f, `/access-reviews/${f.reviewId}/items/${f.reviewItemId}/decision`),
        token,
        body: { decision: 'reduce', role: 'viewer' },
      }),
  },
  {
    route: 'POST /v1/orgs/{orgId}/access-reviews/{reviewId}/items/{itemId}/decision',
    name: 'a reduce within the reviewer’s permissions applies',
    scopes: ['reviews:decide', ...VIEWER],
    ok: 200,
    send: (t, f, token) =>
      t.request({
        method: 'POST',
        url: orgUrl(f, `/access-reviews/${f.reviewId}/items/${f.reviewItemId}/decision`),
        token,
        body: { decision: 'reduce', role: 'viewer' },
      }),
  },
  // Resuming a suspended member gives their role back (the member is a viewer by now).
  {
    route: 'POST /v1/orgs/{orgId}/members/{userId}/resume',
    name: 'a suspended member cannot be resumed by a caller lacking their role’s permissions',
    scopes: ['members:update'],
    missing: VIEWER,
    setup: async (t, f) => {
      const suspended = await t.request({
        method: 'POST',
        url: orgUrl(f, `/members/${f.memberId}/suspend`),
        token: f.acme.ownerToken,
      })
      assert.equal(suspended.status, 200, suspended.text)
    },
    send: (t, f, token) => t.request({ method: 'POST', url: orgUrl(f, `/members/${f.memberId}/resume`), token }),
  },
  {
    route: 'POST /v1/orgs/{orgId}/members/{userId}/resume',
    name: 'a caller holding their role’s permissions resumes them',
    scopes: ['members:update', ...VIEWER],
    ok: 200,
    send: (t, f, token) => t.request({ method: 'POST', url: orgUrl(f, `/members/${f.memberId}/resume`), token }),
    check: async (_t, _f, response) => assert.equal(response.body.suspendedAt, null),
  },
  // Diagnostic grants: the operator asks within its own permissions; an approver opens only what it holds.
  {
    route: 'POST /v1/operator/grants',
    name: 'an operator’s token scoped to grants:request cannot ask for more',
    scopes: ['grants:request'],
    operator: true,
    missing: ['org:read', 'secrets:read'],
    send: (t, f, token) =>
      t.request({
        method: 'POST',
        url: '/v1/operator/grants',
        token,
        body: { orgId: f.acme.orgId, reason: 'ticket 1234: sync fails', permissions: ['org:read', 'secrets:read'] },
      }),
  },
  {
    route: 'POST /v1/operator/grants',
    name: 'an operator asks within its permissions',
    scopes: ['grants:request', 'org:read', 'secrets:read'],
    operator: true,
    ok: 201,
    send: (t, f, token) =>
      t.request({
        method: 'POST',
        url: '/v1/operator/grants',
        token,
        body: { orgId: f.acme.orgId, reason: 'ticket 1234: sync fails', permissions: ['org:read', 'secrets:read'] },
      }),
  },
  {
    route: 'POST /v1/orgs/{orgId}/grants/{grantId}/approve',
    name: 'an approver cannot open permissions it lacks',
    scopes: ['grants:approve'],
    missing: ['org:read', 'secrets:read'],
    send: (t, f, token) =>
      t.request({ method: 'POST', url: orgUrl(f, `/grants/${f.grantId}/approve`), token, body: {} }),
  },
  {
    route: 'POST /v1/orgs/{orgId}/grants/{grantId}/approve',
    name: 'an approver holding the grant’s permissions opens it',
    scopes: ['grants:approve', 'org:read', 'secrets:read'],
    ok: 200,
    send: (t, f, token) =>
      t.request({ method: 'POST', url: orgUrl(f, `/grants/${f.grantId}/approve`), token, body: {} }),
    check: async (_t, _f, response) => assert.equal(response.body.status, 'active'),
  },
]

function ssoBody(defaultRole: string) {
  return {
    preset: 'oidc',
    issuer: op.issuer,
    clientId: 'good',
    clientSecret: 'good-secret-value',
    allowedDomains: ['acme.test'],
    defaultRole,
  }
}

forEachEngine('derived credentials never carry more than their caller (issue 11 K3)', (engine) => {
  const env = {
    CUSTODIAN_PUBLIC_URL: PUBLIC_URL,
    CUSTODIAN_EXTRA_CA_FILE: path.join(dir, 'oidc-ca.pem'),
    CUSTODIAN_AUTH_RATE_LIMIT: '1000',
  }
  const t = useTestApp(engine, env)
  const f = {} as Fixture

  /** A token of the org's owner (or the operator) scoped to `scopes`. */
  async function scopedToken(org: Org, scopes: string[]): Promise<string> {
    const made = await t().request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/tokens`,
      token: org.ownerToken,
      body: { name: `caller-${scopes.length}`, expiresInDays: 1, scopes },
    })
    assert.equal(made.status, 201, made.text)
    return made.body.token as string
  }

  before(async () => {
    f.provider = await bootstrapProvider(t())
    f.acme = await createCustomerOrg(t(), f.provider, 'Acme', 'owner@acme.test')
    f.other = await createCustomerOrg(t(), f.provider, 'Other', 'owner@other.test')
    const secret = async (org: Org, name: string) =>
      (
        await t().request({
          method: 'POST',
          url: `/v1/orgs/${org.orgId}/secrets`,
          token: org.ownerToken,
          body: { name, type: 'api_key', value: 'v' },
        })
      ).body.id as string
    f.acmeSecret = await secret(f.acme, 'billing-api')
    f.otherSecret = await secret(f.other, 'other-api')
    const invite = await t().request({
      method: 'POST',
      url: orgUrl(f, '/invitations'),
      token: f.acme.ownerToken,
      body: { email: 'member@acme.test', role: 'viewer' },
    })
    const joined = await t().request({
      method: 'POST',
      url: '/v1/invitations/accept',
      body: { token: invite.body.token, password: PASSWORD },
    })
    assert.equal(joined.status, 201, joined.text)
    f.memberId = joined.body.userId
    const account = await t().request({
      method: 'POST',
      url: orgUrl(f, '/service-accounts'),
      token: f.acme.ownerToken,
      body: { name: 'admin-app', role: 'admin' },
    })
    f.adminAccountId = account.body.id
    const role = await t().request({
      method: 'POST',
      url: orgUrl(f, '/roles'),
      token: f.acme.ownerToken,
      body: { name: 'secret-reader', permissions: [...VIEWER, 'secrets:read'] },
    })
    assert.equal(role.status, 201, role.text)
    const grant = await t().request({
      method: 'POST',
      url: '/v1/operator/grants',
      token: f.provider.ownerToken,
      body: { orgId: f.acme.orgId, reason: 'ticket 1234: sync fails', permissions: ['org:read', 'secrets:read'] },
    })
    assert.equal(grant.status, 201, grant.text)
    f.grantId = grant.body.id
  })

  it('names every route of /openapi.json that derives a credential or a role', async () => {
    const doc = (await t().request({ method: 'GET', url: '/openapi.json' })).body
    const fieldsOf = (schema: unknown, into = new Set<string>()): Set<string> => {
      if (schema !== null && typeof schema === 'object') {
        for (const [key, value] of Object.entries(schema as Record<string, unknown>)) {
          if (key === 'properties' && value !== null && typeof value === 'object')
            for (const name of Object.keys(value)) into.add(name)
          fieldsOf(value, into)
        }
      }
      return into
    }
    const deriving = new Set(DERIVING_WITHOUT_FIELD)
    for (const [route, operations] of Object.entries(
      doc.paths as Record<string, Record<string, { requestBody?: unknown }>>,
    )) {
      for (const [method, operation] of Object.entries(operations)) {
        if ([...fieldsOf(operation.requestBody)].some((name) => DERIVING_FIELDS.has(name)))
          deriving.add(`${method.toUpperCase()} ${route}`)
      }
    }
    const covered = new Set(CASES.map((c) => c.route))
    assert.deepEqual(
      [...deriving].filter((r) => !covered.has(r)),
      [],
      'a route that derives a credential or a role has no case here',
    )
    for (const route of covered) {
      assert.ok(
        CASES.some((c) => c.route === route && c.missing !== undefined),
        `${route}: a refused case`,
      )
      assert.ok(
        CASES.some((c) => c.route === route && c.ok !== undefined),
        `${route}: an allowed case`,
      )
    }
  })

  for (const c of CASES) {
    it(`${c.route}: ${c.name}`, async () => {
      if (c.route.includes('{reviewId}') && f.reviewId === undefined) {
        const review = await t().request({
          method: 'POST',
          url: orgUrl(f, '/access-reviews'),
          token: f.acme.ownerToken,
        })
        assert.equal(review.status, 201, review.text)
        f.reviewId = review.body.id
        const items = await t().request({
          method: 'GET',
          url: orgUrl(f, `/access-reviews/${review.body.id as string}/items?limit=500`),
          token: f.acme.ownerToken,
        })
        assert.equal(items.status, 200, items.text)
        f.reviewItemId = (items.body.items as { id: string; kind: string; subjectId: string }[]).find(
          (i) => i.kind === 'member' && i.subjectId === f.memberId,
        )?.id as string
      }
      await c.setup?.(t(), f)
      const caller = c.scopes.length === 0 ? '' : await scopedToken(c.operator === true ? f.provider : f.acme, c.scopes)
      const orgId = c.operator === true ? f.provider.orgId : f.acme.orgId
      if (c.missing !== undefined) {
        const before = await fingerprint(t())
        const response = await c.send(t(), f, caller)
        assert.equal(response.status, 403, response.text)
        assert.match(String(response.headers['content-type']), /^application\/problem\+json/)
        assert.equal(response.body.code, 'EXCEEDS_OWN_PERMISSIONS', response.text)
        const missing = response.body.missingPermissions as string[]
        if (c.atLeast === true)
          for (const p of c.missing) assert.ok(missing.includes(p), `${p} in ${missing.join(',')}`)
        else assert.deepEqual(missing, sorted(c.missing))
        assert.equal(await fingerprint(t()), before, 'nothing changed')
        const refusal = (await auditActions(t(), orgId)).filter((e) => e.action === 'access.denied').at(-1)
        assert.equal(refusal?.outcome, 'denied')
        assert.equal(refusal?.details.code, 'EXCEEDS_OWN_PERMISSIONS')
        assert.deepEqual(refusal?.details.missingPermissions, missing)
      } else {
        const response = await c.send(t(), f, caller)
        assert.equal(response.status, c.ok, response.text)
        await c.check?.(t(), f, response)
      }
    })
  }

  it('asks a session for a fresh second factor on every route that derives or hands out a credential (step-up)', async () => {
    const doc = (await t().request({ method: 'GET', url: '/openapi.json' })).body
    const names = (schema: unknown, into = new Set<string>()): Set<string> => {
      if (schema !== null && typeof schema === 'object') {
        for (const [key, value] of Object.entries(schema as Record<string, unknown>)) {
          if (key === 'properties' && value !== null && typeof value === 'object')
            for (const name of Object.keys(value)) into.add(name)
          names(value, into)
        }
      }
      return into
    }
    const missing: string[] = []
    for (const [route, operations] of Object.entries(doc.paths as Record<string, Record<string, JsonBody>>)) {
      for (const [method, operation] of Object.entries(operations)) {
        const label = `${method.toUpperCase()} ${route}`
        if (operation.security === undefined || operation.security.length === 0) continue // public: no session to step up
        const derives = [...names(operation.requestBody)].some((name) => DERIVING_FIELDS.has(name))
        const handsOut = [...names(operation.responses?.['201'] ?? operation.responses?.['200'])].some((name) =>
          // `secret`: a signing secret shown once (a webhook's, a consent recipient's, at
          // registration or rotation) is a credential for the org's outbound data too.
          ['token', 'apiToken', 'invitation', 'secret'].includes(name),
        )
        if ((derives || handsOut || DERIVING_WITHOUT_FIELD.includes(label)) && operation['x-step-up'] !== true)
          missing.push(label)
      }
    }
    assert.deepEqual(
      missing.filter((label) => !STEP_UP_EXEMPT.has(label)),
      [],
    )
  })

  it('a token made by a scoped token does not outlive it', async () => {
    const maker = await t().request({
      method: 'POST',
      url: orgUrl(f, '/tokens'),
      token: f.acme.ownerToken,
      body: { name: 'short-lived', expiresInDays: 1, scopes: ['tokens:create', 'members:read'] },
    })
    assert.equal(maker.status, 201, maker.text)
    const made = await t().request({
      method: 'POST',
      url: orgUrl(f, '/tokens'),
      token: maker.body.token,
      body: { name: 'long-lived', expiresInDays: 365 },
    })
    assert.equal(made.status, 201, made.text)
    assert.deepEqual(made.body.scopes, ['members:read', 'tokens:create'])
    assert.equal(made.body.expiresAt, maker.body.expiresAt)
    const shorter = await t().request({
      method: 'POST',
      url: orgUrl(f, '/tokens'),
      token: f.acme.ownerToken,
      body: { name: 'unscoped-maker', expiresInDays: 1 },
    })
    const free = await t().request({
      method: 'POST',
      url: orgUrl(f, '/tokens'),
      token: shorter.body.token,
      body: { name: 'own-choice', expiresInDays: 30 },
    })
    assert.equal(free.status, 201, free.text)
    assert.ok(
      new Date(free.body.expiresAt).getTime() > new Date(shorter.body.expiresAt).getTime(),
      'an unscoped token (all of its holder’s power) chooses the lifetime',
    )
  })

  it('a grant used with a scoped operator token opens only what the token carries', async () => {
    const token = await scopedToken(f.provider, ['org:read'])
    const headers = { 'x-custodian-grant': f.grantId }
    assert.equal((await t().request({ method: 'GET', url: orgUrl(f), token, headers })).status, 200)
    const secrets = await t().request({ method: 'GET', url: orgUrl(f, '/secrets'), token, headers })
    assert.equal(secrets.status, 403, secrets.text)
    assert.equal(secrets.body.permission, 'secrets:read')
    assert.equal(
      (await t().request({ method: 'GET', url: orgUrl(f, '/secrets'), token: f.provider.ownerToken, headers })).status,
      200,
    )
  })

  // K8: a grant names only the org's own secrets; another org's answers like no secret at all.
  it('POST /v1/operator/grants refuses secretIds that are not the org’s, the same way as unknown ones (issue 11 K8)', async () => {
    const ask = (secretIds: string[]) =>
      t().request({
        method: 'POST',
        url: '/v1/operator/grants',
        token: f.provider.ownerToken,
        body: { orgId: f.acme.orgId, reason: 'ticket 1234: reveal check', permissions: ['vault:reveal'], secretIds },
      })
    const before = await fingerprint(t())
    const foreign = await ask([f.otherSecret])
    const unknown = await ask([randomUUID()])
    const mixed = await ask([f.acmeSecret, f.otherSecret])
    for (const response of [foreign, unknown, mixed]) {
      assert.equal(response.status, 400, response.text)
      assert.match(String(response.headers['content-type']), /^application\/problem\+json/)
      assert.equal(response.body.code, 'VALIDATION_FAILED')
    }
    assert.deepEqual(foreign.body.errors, [{ path: '/body/secretIds/0', message: 'no such secret in this org' }])
    assert.deepEqual(unknown.body.errors, foreign.body.errors, 'another org’s secret answers as no secret at all')
    assert.equal(unknown.body.detail, foreign.body.detail)
    assert.deepEqual(mixed.body.errors, [{ path: '/body/secretIds/1', message: 'no such secret in this org' }])
    assert.equal(await fingerprint(t()), before, 'nothing changed')
    const own = await ask([f.acmeSecret])
    assert.equal(own.status, 201, own.text)
    assert.deepEqual(own.body.secretIds, [f.acmeSecret])
  })
})
