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
  testClock,
  useTestApp,
  type Org,
} from '../helpers/app.ts'
import { totpCode } from '../helpers/totp.ts'

const DAY = 86_400_000

/**
 * Diagnostic access grants (P2.8): provider staff reach a customer's data only with the
 * customer's approval, for a limited time, revocable at any moment, every use audited.
 */
forEachEngine('diagnostic access grants (P2.8)', (engine) => {
  const time = testClock()
  const t = useTestApp(engine, { CUSTODIAN_AUTH_RATE_LIMIT: '1000' }, undefined, undefined, { clock: time.clock })
  let provider: Org
  let acme: Org
  let other: Org
  let secretA = ''
  let secretB = ''
  const operator = () => provider.ownerToken

  const ask = (body: Record<string, unknown>, token = operator()) =>
    t().request({
      method: 'POST',
      url: '/v1/operator/grants',
      token,
      body: { orgId: acme.orgId, reason: 'customer ticket 4711: sync failures', ...body },
    })
  const decide = (grantId: string, verb: 'approve' | 'deny' | 'revoke', token = acme.ownerToken) =>
    t().request({ method: 'POST', url: `/v1/orgs/${acme.orgId}/grants/${grantId}/${verb}`, token, body: {} })
  const asOperator = (
    method: string,
    path: string,
    grantId: string | undefined,
    extra: { body?: unknown; headers?: Record<string, string> } = {},
  ) =>
    t().request({
      method,
      url: `/v1/orgs/${acme.orgId}${path}`,
      token: extra.headers?.cookie === undefined ? operator() : undefined,
      body: extra.body,
      headers: { ...(grantId === undefined ? {} : { 'x-custodian-grant': grantId }), ...extra.headers },
    })
  const grantUses = async (grantId: string) =>
    (await auditActions(t(), acme.orgId)).filter(
      (e) => e.action === 'grant.use' && (e.details as { grant?: string }).grant === grantId,
    )

  before(async () => {
    provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', 'owner@acme.test')
    other = await createCustomerOrg(t(), provider, 'Other', 'owner@other.test')
    for (const [name, value] of [
      ['billing-api', 'value-a'],
      ['crm-api', 'value-b'],
    ]) {
      const created = await t().request({
        method: 'POST',
        url: `/v1/orgs/${acme.orgId}/secrets`,
        token: acme.ownerToken,
        body: { name, type: 'api_key', value },
      })
      if (name === 'billing-api') secretA = created.body.id
      else secretB = created.body.id
    }
  })

  it('is asked for with a reason, a scope and a duration, and the org’s admins are told', async () => {
    const before = await fingerprint(t())
    for (const [body, path] of [
      [{ permissions: ['secrets:write'] }, '/body/permissions'],
      [{ permissions: ['members:update'] }, '/body/permissions'],
      [{ permissions: ['vault:reveal'] }, '/body/secretIds'],
      [{ permissions: ['org:read'], durationDays: 30 }, '/body/durationDays'],
    ] as const) {
      const refused = await ask(body)
      assert.equal(refused.status, 400, JSON.stringify(body))
      assert.ok(
        refused.body.errors.some((e: { path: string }) => e.path === path),
        refused.text,
      )
    }
    assert.equal(
      (await ask({ orgId: provider.orgId, permissions: ['org:read'] })).status,
      404,
      'not the provider org itself',
    )
    assert.equal((await ask({ permissions: ['org:read'] }, acme.ownerToken)).status, 403, 'customers do not ask')
    assert.equal(await fingerprint(t()), before)

    const asked = await ask({ permissions: ['org:read', 'secrets:read'] })
    assert.equal(asked.status, 201, asked.text)
    assert.equal(asked.body.status, 'pending')
    assert.equal(asked.body.durationDays, 21, 'three weeks by default')
    assert.equal(asked.body.grantee.email, 'owner@provider.test')
    const notices = await t()
      .db.kysely.selectFrom('notifications')
      .selectAll()
      .where('org_id', '=', acme.orgId)
      .where('kind', '=', 'grant.requested')
      .execute()
    assert.equal(notices.length, 1)
    assert.equal(notices[0]?.recipient_user_id, acme.ownerId)
    assert.match(notices[0]?.body ?? '', /customer ticket 4711/)
    // The scope in the catalog's words, never its keys (issue 13).
    assert.match(notices[0]?.body ?? '', /List secrets and their versions \(metadata only, never values\)/)
    assert.doesNotMatch(notices[0]?.body ?? '', /org:read|secrets:read/)
    assert.ok((await auditActions(t(), acme.orgId)).some((e) => e.action === 'grant.request'))
  })

  it('cannot be used before approval, and never without naming it; a refused use records what it tried', async () => {
    const asked = await ask({ permissions: ['org:read', 'secrets:read'] })
    assert.equal((await asOperator('GET', '/secrets', asked.body.id)).status, 404)
    assert.equal((await asOperator('GET', '/secrets', undefined)).status, 404)
    const refused = await grantUses(asked.body.id)
    assert.equal(refused.at(-1)?.outcome, 'denied')
    assert.equal(refused.at(-1)?.details.reason, 'pending')
    // What was attempted, as a use records it: the route pattern, never the path (issue 13).
    assert.equal(refused.at(-1)?.details.route, 'GET /v1/orgs/:orgId/secrets')
  })

  it('is approved by a person of the org, never by the requester, and opens for its duration', async () => {
    const asked = await ask({ permissions: ['org:read', 'secrets:read'] })
    const robot = await principalWithRole(t(), acme, 'admin')
    const byRobot = await decide(asked.body.id, 'approve', robot.token)
    assert.equal(byRobot.status, 403, 'service accounts do not approve access')

    // The operator also belongs to the org: still no self-approval.
    const invite = await t().request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/invitations`,
      token: acme.ownerToken,
      body: { email: 'owner@provider.test', role: 'admin' },
    })
    // An existing account joins with its password and, having one, its second factor (issue 11 K1).
    const joined = await t().request({
      method: 'POST',
      url: '/v1/invitations/accept',
      body: { token: invite.body.token, password: PASSWORD, code: provider.recoveryCodes?.[0] },
    })
    assert.equal(joined.status, 201, joined.text)
    const self = await decide(asked.body.id, 'approve', joined.body.apiToken)
    assert.equal(self.status, 403)
    assert.match(self.body.detail, /own access/)

    const approved = await decide(asked.body.id, 'approve')
    assert.equal(approved.status, 200, approved.text)
    assert.equal(approved.body.status, 'active')
    assert.equal(new Date(approved.body.expiresAt).getTime() - new Date(approved.body.startsAt).getTime(), 21 * DAY)

    const read = await asOperator('GET', '/secrets', asked.body.id)
    assert.equal(read.status, 200, read.text)
    assert.deepEqual(read.body.secrets.map((s: { name: string }) => s.name).sort(), ['billing-api', 'crm-api'])
    assert.equal((await asOperator('GET', '', asked.body.id)).body.name, 'Acme')
    const uses = await grantUses(asked.body.id)
    assert.equal(uses.filter((u) => u.outcome === 'success').length, 2, 'every use is in the org’s log')
    assert.equal(uses.at(-1)?.actor_id, provider.ownerId)
  })

  it('holds to its scope: no reveal, no writes, nothing outside the listed permissions or org', async () => {
    const grant = (
      await t().request({ method: 'GET', url: '/v1/operator/grants', token: operator() })
    ).body.grants.find((g: { status: string }) => g.status === 'active')
    const before = await fingerprint(t())
    const reveal = await asOperator('POST', `/secrets/${secretA}/reveal`, grant.id, { body: { reason: 'debugging' } })
    assert.equal(reveal.status, 403)
    assert.equal(reveal.body.permission, 'vault:reveal')
    assert.equal(
      (await asOperator('POST', '/secrets', grant.id, { body: { name: 'planted', type: 'generic', value: 'x' } }))
        .status,
      403,
    )
    assert.equal((await asOperator('GET', '/members', grant.id)).status, 403)
    const elsewhere = await t().request({
      method: 'GET',
      url: `/v1/orgs/${other.orgId}/secrets`,
      token: operator(),
      headers: { 'x-custodian-grant': grant.id },
    })
    assert.equal(elsewhere.status, 404, 'a grant opens one org only')
    assert.equal(await fingerprint(t()), before)
    const denied = (await auditActions(t(), acme.orgId)).filter(
      (e) => e.action === 'access.denied' && e.details.grant === grant.id,
    )
    assert.ok(denied.length >= 3, 'refusals under a grant are in the org’s log, naming the grant')
  })

  it('reveals only the secrets it names, each reveal in the org’s log with the grant', async () => {
    const asked = await ask({ permissions: ['secrets:read', 'vault:reveal'], secretIds: [secretA], durationDays: 2 })
    assert.equal((await decide(asked.body.id, 'approve')).status, 200)
    const named = await asOperator('POST', `/secrets/${secretA}/reveal`, asked.body.id, {
      body: { reason: 'reproduce the sync failure' },
    })
    assert.equal(named.status, 200, named.text)
    assert.equal(named.body.value, 'value-a')
    const unnamed = await asOperator('POST', `/secrets/${secretB}/reveal`, asked.body.id, {
      body: { reason: 'curious' },
    })
    assert.equal(unnamed.status, 403)
    const reveal = (await auditActions(t(), acme.orgId)).find(
      (e) => e.action === 'secret.reveal' && e.outcome === 'success',
    )
    assert.equal(reveal?.details.grant, asked.body.id)
    assert.equal(reveal?.actor_id, provider.ownerId)
    const uses = (await grantUses(asked.body.id)).filter((u) => u.outcome === 'success')
    assert.deepEqual(
      uses.map((u) => [u.details.route, u.details.secretId]),
      [
        ['POST /v1/orgs/:orgId/secrets/:secretId/reveal', secretA],
        ['POST /v1/orgs/:orgId/secrets/:secretId/reveal', secretB],
      ],
      'each use names the secret its route touched, the refused one too',
    )
    const listed = await asOperator('GET', '/secrets', asked.body.id)
    assert.equal(listed.status, 200)
    const last = (await grantUses(asked.body.id)).at(-1)
    assert.equal(last?.details.route, 'GET /v1/orgs/:orgId/secrets')
    assert.equal('secretId' in (last?.details ?? {}), false, 'a route without a secret names none')
  })

  it('stops at its expiry, checked at the moment of use (test clock)', async () => {
    const asked = await ask({ permissions: ['org:read'], durationDays: 3 })
    await decide(asked.body.id, 'approve')
    assert.equal((await asOperator('GET', '', asked.body.id)).status, 200)
    time.advance(3 * DAY - 60_000)
    assert.equal((await asOperator('GET', '', asked.body.id)).status, 200, 'a minute before expiry')
    time.advance(2 * 60_000)
    assert.equal((await asOperator('GET', '', asked.body.id)).status, 404, 'a minute after')
    assert.equal((await grantUses(asked.body.id)).at(-1)?.details.reason, 'expired')
    assert.equal(
      (
        await t().request({
          method: 'GET',
          url: `/v1/orgs/${acme.orgId}/grants/${asked.body.id}`,
          token: acme.ownerToken,
        })
      ).body.status,
      'expired',
    )
  })

  it('lapses if still pending when it would have expired', async () => {
    const asked = await ask({ permissions: ['org:read'], durationDays: 2 })
    time.advance(2 * DAY)
    const late = await decide(asked.body.id, 'approve')
    assert.equal(late.status, 409)
    assert.equal(
      (
        await t().request({
          method: 'GET',
          url: `/v1/orgs/${acme.orgId}/grants/${asked.body.id}`,
          token: acme.ownerToken,
        })
      ).body.status,
      'lapsed',
    )
  })

  it('ends at once when the org revokes it, for a session already signed in as much as for a token', async () => {
    const login = await t().app.inject({
      method: 'POST',
      url: '/v1/login',
      payload: {
        email: 'owner@provider.test',
        password: PASSWORD,
        orgId: provider.orgId,
        code: totpCode(provider.totpSecret as string, 1),
      },
    })
    assert.equal(login.statusCode, 200, login.body)
    const cookie = login.cookies.find((c) => c.name === '__Host-custodian_session')
    const session = { cookie: `${cookie?.name}=${cookie?.value}` }
    const asked = await ask({ permissions: ['org:read', 'secrets:read'] })
    await decide(asked.body.id, 'approve')
    assert.equal(
      (await asOperator('GET', '/secrets', asked.body.id, { headers: session })).status,
      200,
      'the session uses the grant',
    )
    assert.equal((await asOperator('GET', '/secrets', asked.body.id)).status, 200, 'and so does the token')

    const revoked = await decide(asked.body.id, 'revoke')
    assert.equal(revoked.status, 200)
    assert.equal(revoked.body.status, 'revoked')
    assert.equal(
      (await asOperator('GET', '/secrets', asked.body.id, { headers: session })).status,
      404,
      'the signed-in session is refused on its next request',
    )
    assert.equal((await asOperator('GET', '/secrets', asked.body.id)).status, 404)
    assert.equal(
      (await t().request({ method: 'GET', url: '/v1/me', headers: session })).status,
      200,
      'the session itself lives on, in its own org',
    )
    assert.equal((await grantUses(asked.body.id)).at(-1)?.details.reason, 'revoked')
    assert.ok(
      (
        await t()
          .db.kysely.selectFrom('notifications')
          .select('kind')
          .where('recipient_user_id', '=', provider.ownerId)
          .execute()
      ).some((n) => n.kind === 'grant.revoked'),
    )
  })

  it('keeps each decision’s note apart: every approver’s own, with who approved, and the revocation’s (issue 13)', async () => {
    const note = (grantId: string, verb: 'approve' | 'revoke', body: Record<string, unknown>) =>
      t().request({
        method: 'POST',
        url: `/v1/orgs/${acme.orgId}/grants/${grantId}/${verb}`,
        token: acme.ownerToken,
        body,
      })
    const first = await ask({ permissions: ['org:read'] })
    const approved = await note(first.body.id, 'approve', { note: 'ticket 12 checked' })
    assert.equal(approved.status, 200, approved.text)
    assert.deepEqual(
      approved.body.approvals.map((a: { email: string; note: string | null }) => [a.email, a.note]),
      [['owner@acme.test', 'ticket 12 checked']],
    )
    assert.equal(approved.body.decisionNote, 'ticket 12 checked')
    assert.equal(approved.body.endNote, null)
    const revoked = await note(first.body.id, 'revoke', {})
    assert.equal(revoked.body.status, 'revoked')
    assert.equal(revoked.body.endNote, null, 'a revocation without a note has none')
    assert.equal(revoked.body.decisionNote, 'ticket 12 checked', 'the approval’s note stays the approval’s')

    const second = await ask({ permissions: ['org:read'] })
    await note(second.body.id, 'approve', {})
    await note(second.body.id, 'revoke', { note: 'fixed, thanks' })
    const read = await t().request({
      method: 'GET',
      url: `/v1/orgs/${acme.orgId}/grants/${second.body.id}`,
      token: acme.ownerToken,
    })
    assert.equal(read.body.decisionNote, null)
    assert.equal(read.body.endNote, 'fixed, thanks')
    assert.equal(read.body.approvals[0].note, null)
  })

  it('can require two approvers', async () => {
    const policy = await t().request({
      method: 'PUT',
      url: `/v1/orgs/${acme.orgId}/grant-policy`,
      token: acme.ownerToken,
      body: { maxDays: 14, requiredApprovals: 2 },
    })
    assert.equal(policy.status, 200)
    const invite = await t().request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/invitations`,
      token: acme.ownerToken,
      body: { email: 'second@acme.test', role: 'admin' },
    })
    const second = await t().request({
      method: 'POST',
      url: '/v1/invitations/accept',
      body: { token: invite.body.token, password: PASSWORD },
    })
    const asked = await ask({ permissions: ['org:read'] })
    assert.equal(asked.body.durationDays, 14, 'the org’s maximum bounds the default')
    const one = await decide(asked.body.id, 'approve')
    assert.equal(one.body.status, 'pending')
    assert.equal(one.body.approvals.length, 1)
    assert.equal((await decide(asked.body.id, 'approve')).status, 409, 'the same person twice is not two approvers')
    assert.equal((await asOperator('GET', '', asked.body.id)).status, 404)
    const two = await decide(asked.body.id, 'approve', second.body.apiToken)
    assert.equal(two.body.status, 'active')
    assert.equal((await asOperator('GET', '', asked.body.id)).status, 200)
  })

  it('can be denied, or withdrawn by the operator', async () => {
    const denied = await ask({ permissions: ['org:read'] })
    assert.equal((await decide(denied.body.id, 'deny')).body.status, 'denied')
    assert.equal((await asOperator('GET', '', denied.body.id)).status, 404)
    const withdrawn = await ask({ permissions: ['org:read'] })
    const done = await t().request({
      method: 'POST',
      url: `/v1/operator/grants/${withdrawn.body.id}/withdraw`,
      token: operator(),
    })
    assert.equal(done.body.status, 'withdrawn')
    assert.equal((await decide(withdrawn.body.id, 'approve')).status, 409)
  })

  it('shows an operator one of their own grants by id, however many they have, and no one else’s', async () => {
    const asked = await ask({ permissions: ['org:read'] })
    const mine = await t().request({ method: 'GET', url: `/v1/operator/grants/${asked.body.id}`, token: operator() })
    assert.equal(mine.status, 200, mine.text)
    assert.equal(mine.body.id, asked.body.id)
    assert.equal(mine.body.status, 'pending')
    assert.equal(mine.body.orgName, 'Acme')
    assert.equal((await decide(asked.body.id, 'deny')).status, 200)
    const after = await t().request({ method: 'GET', url: `/v1/operator/grants/${asked.body.id}`, token: operator() })
    assert.equal(after.body.status, 'denied', 'the state now, as the org decided it')
    // Another principal of the provider org, holding every permission: as if it did not exist.
    const colleague = await principalWithRole(t(), provider, 'owner')
    const theirs = await t().request({
      method: 'GET',
      url: `/v1/operator/grants/${asked.body.id}`,
      token: colleague.token,
    })
    assert.equal(theirs.status, 404, theirs.text)
    assert.equal(theirs.body.code, 'NOT_FOUND')
  })

  it('says in the permission catalog which permissions a grant may carry, as the API holds to it', async () => {
    const catalog = await t().request({ method: 'GET', url: '/v1/permissions', token: acme.ownerToken })
    assert.equal(catalog.status, 200, catalog.text)
    const entries = catalog.body.permissions as { name: string; grantable: boolean }[]
    assert.ok(entries.every((p) => typeof p.grantable === 'boolean'))
    const grantable = entries.filter((p) => p.grantable).map((p) => p.name)
    const not = entries.filter((p) => !p.grantable).map((p) => p.name)
    assert.ok(grantable.includes('secrets:read') && grantable.includes('vault:reveal'), grantable.join(', '))
    assert.ok(not.includes('secrets:write') && not.includes('members:update'), not.join(', '))
    // Every permission flagged grantable is accepted in one request (vault:reveal with a secret named)…
    const all = await ask({ permissions: grantable, secretIds: [secretA] })
    assert.equal(all.status, 201, all.text)
    assert.deepEqual([...all.body.permissions].sort(), [...grantable].sort())
    const withdrawn = await t().request({
      method: 'POST',
      url: `/v1/operator/grants/${all.body.id}/withdraw`,
      token: operator(),
    })
    assert.equal(withdrawn.status, 200, withdrawn.text)
    // …and every other one is refused, each named (the operator holds them all), 20 a request.
    const named: string[] = []
    for (let i = 0; i < not.length; i += 20) {
      const refused = await ask({ permissions: not.slice(i, i + 20) })
      assert.equal(refused.status, 400, refused.text)
      for (const e of refused.body.errors as { path: string; message: string }[])
        if (e.path === '/body/permissions') named.push(e.message.split(' ')[0] ?? '')
    }
    assert.deepEqual(named.sort(), [...not].sort())
  })

  it('shows the org every grant and every use', async () => {
    const list = await t().request({ method: 'GET', url: `/v1/orgs/${acme.orgId}/grants`, token: acme.ownerToken })
    assert.equal(list.status, 200)
    const statuses = new Set(list.body.grants.map((g: { status: string }) => g.status))
    for (const s of ['pending', 'active', 'expired', 'lapsed', 'revoked', 'denied', 'withdrawn'])
      assert.ok(statuses.has(s), s)
    const uses = await t().request({
      method: 'GET',
      url: `/v1/orgs/${acme.orgId}/audit/events?action=grant.use&limit=500`,
      token: acme.ownerToken,
    })
    assert.equal(uses.status, 200)
    assert.ok(uses.body.events.length >= 8)
    assert.ok(uses.body.events.every((e: { details: { grant?: string } }) => typeof e.details.grant === 'string'))
    const mine = await t().request({ method: 'GET', url: '/v1/operator/grants', token: operator() })
    assert.ok(mine.body.grants.every((g: { orgName: string }) => g.orgName === 'Acme'))
    assert.equal(
      (await t().request({ method: 'GET', url: `/v1/orgs/${other.orgId}/grants`, token: other.ownerToken })).body.grants
        .length,
      0,
    )
  })

  it('names the operator in the org’s log only while they are a member of the org', async () => {
    const url = `/v1/orgs/${acme.orgId}/audit/events?action=grant.use&actor=${provider.ownerId}&limit=500`
    type Named = { actor: { id: string }; actorEmail: string | null }
    // The operator joined Acme as an admin earlier in this suite: a member, named as one.
    const asMember = await t().request({ method: 'GET', url, token: acme.ownerToken })
    assert.equal(asMember.status, 200, asMember.text)
    assert.ok(asMember.body.events.length > 0)
    assert.ok(asMember.body.events.every((e: Named) => e.actorEmail === 'owner@provider.test'))
    const removed = await t().request({
      method: 'DELETE',
      url: `/v1/orgs/${acme.orgId}/members/${provider.ownerId}`,
      token: acme.ownerToken,
    })
    assert.equal(removed.status, 200, removed.text)
    // No longer a member: the provider's operator, whose email is not the org's to read.
    const outside = await t().request({ method: 'GET', url, token: acme.ownerToken })
    assert.equal(outside.body.events.length, asMember.body.events.length)
    assert.ok(outside.body.events.every((e: Named) => e.actorEmail === null))
  })

  it('tells those who may approve who else can: holding grants:approve and what the grant asks for, by email', async () => {
    const four = await createCustomerOrg(t(), provider, 'Four', 'owner@four.test')
    const call = (method: string, path: string, token: string, body?: unknown) =>
      t().request({ method, url: `/v1/orgs/${four.orgId}${path}`, token, body })
    for (const [name, permissions] of [
      ['approver-full', ['grants:approve', 'grants:read', 'org:read']],
      ['approver-lite', ['grants:approve', 'grants:read']],
    ] as const) {
      const made = await call('POST', '/roles', four.ownerToken, { name, permissions })
      assert.equal(made.status, 201, made.text)
    }
    const join = async (email: string, role: string) => {
      const invite = await call('POST', '/invitations', four.ownerToken, { email, role })
      assert.equal(invite.status, 201, invite.text)
      const joined = await t().request({
        method: 'POST',
        url: '/v1/invitations/accept',
        body: { token: invite.body.token, password: PASSWORD },
      })
      assert.equal(joined.status, 201, joined.text)
      return joined.body.apiToken as string
    }
    const bAdmin = await join('b-admin@four.test', 'admin')
    await join('a-admin@four.test', 'admin')
    await join('c-full@four.test', 'approver-full')
    await join('d-lite@four.test', 'approver-lite')
    await join('e-viewer@four.test', 'viewer')
    const asked = await t().request({
      method: 'POST',
      url: '/v1/operator/grants',
      token: operator(),
      body: { orgId: four.orgId, reason: 'customer ticket 4720: who approves', permissions: ['org:read'] },
    })
    assert.equal(asked.status, 201, asked.text)

    const byOwner = await call('GET', `/grants/${asked.body.id}`, four.ownerToken)
    assert.equal(byOwner.status, 200, byOwner.text)
    // Not the caller, not a viewer, not a role that lacks what the grant asks for (org:read).
    assert.deepEqual(byOwner.body.otherApprovers, {
      emails: ['a-admin@four.test', 'b-admin@four.test', 'c-full@four.test'],
      count: 3,
    })
    const listed = await call('GET', '/grants', four.ownerToken)
    const row = listed.body.grants.find((g: { id: string }) => g.id === asked.body.id)
    assert.deepEqual(row.otherApprovers, byOwner.body.otherApprovers, 'the list says the same')
    const byAdmin = await call('GET', `/grants/${asked.body.id}`, bAdmin)
    assert.deepEqual(byAdmin.body.otherApprovers, {
      emails: ['a-admin@four.test', 'c-full@four.test', 'owner@four.test'],
      count: 3,
    })
    // The operator never sees the customer's people.
    const mine = await t().request({ method: 'GET', url: `/v1/operator/grants/${asked.body.id}`, token: operator() })
    assert.equal(mine.status, 200, mine.text)
    assert.equal('otherApprovers' in mine.body, false)
    // Decided, nothing is said.
    assert.equal((await call('POST', `/grants/${asked.body.id}/deny`, four.ownerToken, {})).status, 200)
    assert.equal('otherApprovers' in (await call('GET', `/grants/${asked.body.id}`, four.ownerToken)).body, false)
  })

  it('a one-per-org thing the org does not have (no SSO, no offboarding) answers 404 as an answer, not a refused attempt under the grant', async () => {
    const policy = await t().request({
      method: 'PUT',
      url: `/v1/orgs/${acme.orgId}/grant-policy`,
      token: acme.ownerToken,
      body: { maxDays: 30, requiredApprovals: 1 },
    })
    assert.equal(policy.status, 200, policy.text)
    const asked = await ask({ permissions: ['org:read'] })
    assert.equal(asked.status, 201, asked.text)
    assert.equal((await decide(asked.body.id, 'approve')).body.status, 'active')
    const deniedBefore = (await auditActions(t(), acme.orgId)).filter((e) => e.action === 'access.denied').length
    for (const path of ['/sso', '/offboarding']) {
      const answer = await asOperator('GET', path, asked.body.id)
      assert.equal(answer.status, 404, answer.text)
      assert.equal(answer.body.code, 'NOT_FOUND')
    }
    // Beyond the grant stays a refusal.
    assert.equal((await asOperator('GET', '/members', asked.body.id)).status, 403)
    const denied = (await auditActions(t(), acme.orgId)).filter((e) => e.action === 'access.denied')
    assert.equal(denied.length, deniedBefore + 1, 'only the attempt beyond the grant is a refusal')
    assert.equal(denied.filter((e) => e.details.grant === asked.body.id && e.details.status === 404).length, 0)
    assert.equal((await decide(asked.body.id, 'revoke')).status, 200)
  })
})
