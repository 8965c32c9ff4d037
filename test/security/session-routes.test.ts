import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { sql } from 'kysely'
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
import { enrolTotp } from '../helpers/totp.ts'

// Attacks on this session's new API routes (security review, branch `attack`):
// GET /v1/me/orgs and PUT /v1/orgs/{orgId}/roles/{name}, driven through the whole Fastify
// stack with hostile inputs. Each test asserts the refusal and that nothing changed.
forEachEngine('security: GET /v1/me/orgs and PUT …/roles/{name} under attack', (engine) => {
  const t = useTestApp(engine, { CUSTODIAN_AUTH_RATE_LIMIT: '1000' })
  let provider: Org
  let alpha: Org
  let beta: Org
  const shared = 'shared@attack.test'
  let delegate: string // a service account holding `delegate`: roles:manage without secrets:*

  async function join(org: Org, email: string, role: string): Promise<string> {
    const invite = await t().request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/invitations`,
      token: org.ownerToken,
      body: { email, role },
    })
    assert.equal(invite.status, 201, invite.text)
    const accepted = await t().request({
      method: 'POST',
      url: '/v1/invitations/accept',
      body: { token: invite.body.token, password: PASSWORD },
    })
    assert.equal(accepted.status, 201, accepted.text)
    return accepted.body.userId
  }

  async function signIn(email: string, orgId: string, code?: string): Promise<Record<string, string>> {
    const response = await t().app.inject({
      method: 'POST',
      url: '/v1/login',
      payload: { email, password: PASSWORD, orgId, ...(code === undefined ? {} : { code }) },
    })
    assert.equal(response.statusCode, 200, response.body)
    const cookie = response.cookies.find((c) => c.name === '__Host-custodian_session')
    const body = JSON.parse(response.body) as { csrfToken: string }
    return { cookie: `${cookie?.name}=${cookie?.value}`, 'x-csrf-token': body.csrfToken }
  }

  const roleOf = async (org: Org, name: string) => {
    const listed = await t().request({ method: 'GET', url: `/v1/orgs/${org.orgId}/roles`, token: org.ownerToken })
    return listed.body.roles.find((r: { name: string }) => r.name === name)
  }

  before(async () => {
    provider = await bootstrapProvider(t())
    alpha = await createCustomerOrg(t(), provider, 'Alpha <img src=x>', 'owner@alpha.attack')
    beta = await createCustomerOrg(t(), provider, 'Beta Secret Name', 'owner@beta.attack')
    for (const [name, permissions] of [
      ['lister', ['org:read', 'secrets:read']],
      ['delegate', ['org:read', 'roles:manage', 'members:read']],
    ] as const) {
      const created = await t().request({
        method: 'POST',
        url: `/v1/orgs/${alpha.orgId}/roles`,
        token: alpha.ownerToken,
        body: { name, description: name, permissions },
      })
      assert.equal(created.status, 201, created.text)
    }
    delegate = (await principalWithRole(t(), alpha, 'delegate')).token
    await join(alpha, shared, 'admin')
    await join(beta, shared, 'viewer')
  })

  // ---- PUT /v1/orgs/{orgId}/roles/{name} -------------------------------------------------

  it('attack: widening another role beyond the caller’s own permissions is 403 EXCEEDS_OWN_PERMISSIONS, nothing changed', async () => {
    const before = await fingerprint(t())
    const widened = await t().request({
      method: 'PUT',
      url: `/v1/orgs/${alpha.orgId}/roles/lister`,
      token: delegate,
      body: { permissions: ['org:read', 'secrets:read', 'vault:reveal'] },
    })
    assert.equal(widened.status, 403, widened.text)
    assert.equal(widened.body.code, 'EXCEEDS_OWN_PERMISSIONS')
    assert.deepEqual(widened.body.missingPermissions, ['secrets:read', 'vault:reveal'])
    assert.equal(await fingerprint(t()), before)
  })

  it('attack: editing the role one holds oneself to add a permission is refused (no self-escalation)', async () => {
    const before = await fingerprint(t())
    const escalated = await t().request({
      method: 'PUT',
      url: `/v1/orgs/${alpha.orgId}/roles/delegate`,
      token: delegate,
      body: { permissions: ['org:read', 'roles:manage', 'members:read', 'members:update'] },
    })
    assert.equal(escalated.status, 403, escalated.text)
    assert.equal(escalated.body.code, 'EXCEEDS_OWN_PERMISSIONS')
    assert.equal(await fingerprint(t()), before)
    const me = await t().request({ method: 'GET', url: '/v1/me', token: delegate })
    assert.deepEqual(me.body.permissions, ['members:read', 'org:read', 'roles:manage'])
  })

  it('attack: a token scoped down to roles:manage cannot widen a role to its user’s other permissions', async () => {
    const scoped = await t().request({
      method: 'POST',
      url: `/v1/orgs/${alpha.orgId}/tokens`,
      token: alpha.ownerToken,
      body: { name: 'scoped', expiresInDays: 1, scopes: ['roles:manage'] },
    })
    assert.equal(scoped.status, 201, scoped.text)
    const widened = await t().request({
      method: 'PUT',
      url: `/v1/orgs/${alpha.orgId}/roles/lister`,
      token: scoped.body.token,
      body: { permissions: ['org:read', 'secrets:read'] },
    })
    assert.equal(widened.status, 403, widened.text)
    assert.equal(widened.body.code, 'EXCEEDS_OWN_PERMISSIONS')
  })

  it('attack: built-in roles, mixed-case and traversal names, provider-only permissions, another org’s role', async () => {
    const before = await fingerprint(t())
    const put = (orgId: string, name: string, body: unknown, token = alpha.ownerToken) =>
      t().request({ method: 'PUT', url: `/v1/orgs/${orgId}/roles/${name}`, token, body })
    for (const builtIn of ['owner', 'admin', 'member', 'auditor', 'viewer']) {
      const refused = await put(alpha.orgId, builtIn, { permissions: ['org:read'] })
      assert.equal(refused.status, 409, `${builtIn}: ${refused.text}`)
    }
    for (const name of ['Owner', 'ADMIN', '..%2Fowner', 'lister%00', 'a', '%20lister']) {
      const refused = await put(alpha.orgId, name, { permissions: ['org:read'] })
      assert.equal(refused.status, 400, `${name}: ${refused.text}`)
      assert.match(String(refused.headers['content-type']), /application\/problem\+json/)
    }
    const providerOnly = await put(alpha.orgId, 'lister', { permissions: ['org:read', 'orgs:create'] })
    assert.equal(providerOnly.status, 400, providerOnly.text)
    assert.equal(providerOnly.body.code, 'VALIDATION_FAILED')
    // Beta's owner, or the provider's owner, aiming at Alpha's role: 404 as if Alpha did not exist.
    for (const token of [beta.ownerToken, provider.ownerToken]) {
      const foreign = await put(alpha.orgId, 'lister', { permissions: ['org:read'] }, token)
      assert.equal(foreign.status, 404, foreign.text)
    }
    // Alpha's role name through Beta's own path: Beta has no such role.
    const other = await put(beta.orgId, 'lister', { permissions: ['org:read'] }, beta.ownerToken)
    assert.equal(other.status, 404, other.text)
    // Unknown / duplicate / oversized bodies.
    for (const body of [
      { permissions: ['org:read'], extra: 1 },
      { permissions: 'org:read' },
      { permissions: ['org:read'], description: 'x'.repeat(100_000) },
      {},
    ]) {
      const refused = await put(alpha.orgId, 'lister', body)
      assert.ok([400, 413].includes(refused.status), `${JSON.stringify(body).slice(0, 60)}: ${refused.text}`)
    }
    assert.equal(await fingerprint(t()), before)
    assert.deepEqual((await roleOf(alpha, 'lister')).permissions, ['org:read', 'secrets:read'])
  })

  it('attack: a session cookie without its X-CSRF-Token cannot change a role (CSRF)', async () => {
    const session = await signIn(shared, alpha.orgId)
    const before = await fingerprint(t())
    const forged = await t().request({
      method: 'PUT',
      url: `/v1/orgs/${alpha.orgId}/roles/lister`,
      headers: { cookie: session.cookie ?? '' },
      body: { permissions: ['org:read'] },
    })
    assert.equal(forged.status, 403, forged.text)
    assert.equal(forged.body.code, 'CSRF_FAILED')
    const wrong = await t().request({
      method: 'PUT',
      url: `/v1/orgs/${alpha.orgId}/roles/lister`,
      headers: { cookie: session.cookie ?? '', 'x-csrf-token': 'A'.repeat(43) },
      body: { permissions: ['org:read'] },
    })
    assert.equal(wrong.status, 403, wrong.text)
    assert.equal(await fingerprint(t()), before)
  })

  it('attack: an enrolled admin’s session whose second factor is stale must step up before changing a role', async () => {
    // An admin of its own enrols in TOTP in its session (which counts as a second factor then).
    await join(alpha, 'stepper@attack.test', 'admin')
    const session = await signIn('stepper@attack.test', alpha.orgId)
    await enrolTotp((method, url, body) =>
      t().request({ method, url, headers: session, ...(body === undefined ? {} : { body }) }),
    )
    const fresh = session
    // Age the session's second factor past any step-up window.
    await sql`UPDATE sessions SET mfa_at = now() - interval '1 day' WHERE mfa_at IS NOT NULL`.execute(t().db.kysely)
    const before = await fingerprint(t())
    const refused = await t().request({
      method: 'PUT',
      url: `/v1/orgs/${alpha.orgId}/roles/lister`,
      headers: fresh,
      body: { permissions: ['org:read'] },
    })
    assert.equal(refused.status, 403, refused.text)
    assert.equal(refused.body.code, 'STEP_UP_REQUIRED')
    assert.equal(await fingerprint(t()), before)
  })

  it('race: concurrent PUTs of one role end in one of the sets, each audited with a consistent added/removed', async () => {
    const sets = [['org:read'], ['org:read', 'secrets:read'], ['members:read', 'org:read'], ['secrets:read']]
    const answers = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        t().request({
          method: 'PUT',
          url: `/v1/orgs/${alpha.orgId}/roles/lister`,
          token: alpha.ownerToken,
          body: { permissions: sets[i % sets.length] },
        }),
      ),
    )
    for (const a of answers) assert.equal(a.status, 200, a.text)
    const final = (await roleOf(alpha, 'lister')).permissions as string[]
    assert.ok(
      sets.some((s) => JSON.stringify(s) === JSON.stringify(final)),
      `final ${final.join(',')}`,
    )
    // Replaying the audit trail from the original set reproduces the final one.
    const events = (await auditActions(t(), alpha.orgId)).filter((e) => e.action === 'role.update')
    const last = events.at(-1)?.details as { permissions: string[] }
    assert.deepEqual(last.permissions, final)
    let state = new Set<string>(['org:read', 'secrets:read'])
    for (const e of events.slice(-16)) {
      const d = e.details as { added: string[]; removed: string[]; permissions: string[] }
      for (const p of d.removed) assert.ok(state.has(p), `removed ${p} that was not held`)
      for (const p of d.added) assert.ok(!state.has(p), `added ${p} that was held`)
      state = new Set(d.permissions)
    }
  })

  it('P2.3 a roles:manage holder may take from a custom role permissions it lacks itself: a reduction, audited', async () => {
    await t().request({
      method: 'PUT',
      url: `/v1/orgs/${alpha.orgId}/roles/lister`,
      token: alpha.ownerToken,
      body: { permissions: ['org:read', 'secrets:read'] },
    })
    const stripped = await t().request({
      method: 'PUT',
      url: `/v1/orgs/${alpha.orgId}/roles/lister`,
      token: delegate,
      body: { permissions: ['org:read'] },
    })
    // K3 bounds what a role is given, not what it loses: like lowering a member's role, a
    // reduction is allowed (docs/access-governance.md), and audited with what was removed.
    assert.equal(stripped.status, 200, stripped.text)
    assert.deepEqual(stripped.body.permissions, ['org:read'])
  })

  // ---- GET /v1/me/orgs -------------------------------------------------------------------

  it('attack: forged cursors never reach another account’s orgs', async () => {
    const session = await signIn(shared, alpha.orgId)
    const first = await t().request({ method: 'GET', url: '/v1/me/orgs?limit=1', headers: session })
    assert.equal(first.status, 200, first.text)
    const cursor = String(first.body.nextCursor)
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as string[]
    const forge = (values: unknown) => Buffer.from(JSON.stringify(values)).toString('base64url')
    for (const forged of [
      forge(['1970-01-01 00:00:00+00', '00000000-0000-0000-0000-000000000000']),
      forge([key[0], provider.orgId]),
      forge([...key, 'x']),
      forge([`${key[0]}' OR 1=1 --`, key[1]]),
      forge({ 0: key[0] }),
      `${cursor}AAAA`,
    ]) {
      const page = await t().request({ method: 'GET', url: `/v1/me/orgs?cursor=${forged}`, headers: session })
      if (page.status === 200) {
        for (const o of page.body.orgs as { orgId: string }[])
          assert.ok([alpha.orgId, beta.orgId].includes(o.orgId), `foreign org ${o.orgId} via ${forged}`)
      } else {
        assert.equal(page.status, 400, page.text)
      }
    }
    // Another account's cursor used by the owner of Beta: only Beta.
    const betaOwner = await signIn('owner@beta.attack', beta.orgId)
    const replay = await t().request({
      method: 'GET',
      url: `/v1/me/orgs?cursor=${forge(['1970-01-01 00:00:00+00', '00000000-0000-0000-0000-000000000000'])}`,
      headers: betaOwner,
    })
    assert.equal(replay.status, 200, replay.text)
    assert.deepEqual(
      replay.body.orgs.map((o: { orgId: string }) => o.orgId),
      [beta.orgId],
    )
  })

  it('attack: a user’s API token lists its own org only, also past a cursor; a grant header changes nothing', async () => {
    const token = await t().request({
      method: 'POST',
      url: `/v1/orgs/${beta.orgId}/tokens`,
      token: beta.ownerToken,
      body: { name: 'beta owner token', expiresInDays: 1 },
    })
    assert.equal(token.status, 201, token.text)
    const zero = Buffer.from(
      JSON.stringify(['1970-01-01 00:00:00+00', '00000000-0000-0000-0000-000000000000']),
    ).toString('base64url')
    for (const url of ['/v1/me/orgs', `/v1/me/orgs?cursor=${zero}`]) {
      const listed = await t().request({ method: 'GET', url, token: token.body.token })
      assert.equal(listed.status, 200, listed.text)
      for (const o of listed.body.orgs as { orgId: string }[]) assert.equal(o.orgId, beta.orgId)
    }
    const withGrant = await t().request({
      method: 'GET',
      url: '/v1/me/orgs',
      token: provider.ownerToken,
      headers: { 'x-custodian-grant': '00000000-0000-4000-8000-000000000000' },
    })
    assert.equal(withGrant.status, 200, withGrant.text)
    assert.deepEqual(
      withGrant.body.orgs.map((o: { orgId: string }) => o.orgId),
      [provider.orgId],
    )
  })

  it('attack: a session whose membership is suspended, or removed, is refused; the removed org is no longer listed', async () => {
    const session = await signIn(shared, beta.orgId)
    const alphaSession = await signIn(shared, alpha.orgId)
    const listedBefore = await t().request({ method: 'GET', url: '/v1/me/orgs', headers: alphaSession })
    assert.equal(listedBefore.body.orgs.length, 2)
    const betaMembers = await t().request({
      method: 'GET',
      url: `/v1/orgs/${beta.orgId}/members`,
      token: beta.ownerToken,
    })
    const member = (betaMembers.body.members ?? betaMembers.body.items ?? []).find(
      (m: { email?: string }) => m.email === shared,
    )
    assert.ok(member !== undefined, betaMembers.text)
    const suspended = await t().request({
      method: 'POST',
      url: `/v1/orgs/${beta.orgId}/members/${member.userId ?? member.id}/suspend`,
      token: beta.ownerToken,
    })
    assert.equal(suspended.status, 200, suspended.text)
    const after = await t().request({ method: 'GET', url: '/v1/me/orgs', headers: session })
    assert.ok([401, 403].includes(after.status), `suspended session still answered: ${after.status} ${after.text}`)
    const removed = await t().request({
      method: 'DELETE',
      url: `/v1/orgs/${beta.orgId}/members/${member.userId ?? member.id}`,
      token: beta.ownerToken,
    })
    assert.ok([200, 204].includes(removed.status), removed.text)
    const listed = await t().request({ method: 'GET', url: '/v1/me/orgs', headers: alphaSession })
    assert.equal(listed.status, 200, listed.text)
    assert.deepEqual(
      listed.body.orgs.map((o: { orgId: string }) => o.orgId),
      [alpha.orgId],
    )
  })
})
