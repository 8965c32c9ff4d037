import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { DefaultQueryExecutor, sql } from 'kysely'
import { loadConfig } from '../../src/config.ts'
import { createShamirProvider, initShamir } from '../../src/crypto/providers/shamir.ts'
import { buildVaultListener } from '../../src/http/vault-listener.ts'
import { createLogger } from '../../src/logger.ts'
import { pendingCredentialCheck } from '../../src/db/credential-epoch.ts'
import { PROVIDER_ONLY, type Permission } from '../../src/modules/access/permissions.ts'
import { openDatabase } from '../../src/db/connect.ts'
import { createTestDatabase, forEachEngine, postgresAvailable } from '../helpers/db.ts'
import { buildRouteFixture, ROUTES, type Fixture, type RouteCase } from '../helpers/route-table.ts'
import { bootstrapProvider, createCustomerOrg, PASSWORD, useTestApp, type Org, type TestApp } from '../helpers/app.ts'
import { enrolTotp } from '../helpers/totp.ts'

/*
 * Attacks on the credential cache (issue 18, P2.6): a request that starts after a change to a
 * credential commits must not be served with the old access, in any process.
 *
 * "Another process" is this one with its cache deaf to the database's notifications
 * (`credentialsChanged` muted): a change made through the API then reaches the cache only
 * through the org's credential epoch, as in a process the notification has not reached yet.
 * Every change below is made through the API, so the real triggers move the epoch.
 */

/** Mutes the notifications that drop cached credentials; returns what hears them again. */
function deafen(t: TestApp): () => void {
  const auth = t.app.services.auth as { credentialsChanged(orgId: string): void }
  const heard = auth.credentialsChanged.bind(auth)
  auth.credentialsChanged = () => {}
  return () => {
    auth.credentialsChanged = heard
  }
}

/**
 * A request sent again once if answered the designed 409: this process is deaf to
 * notifications, so a change to the org's credentials (a policy, a person's second factor)
 * moves the epoch under every cached copy in it, and one whose access changed but still admits
 * the request is answered 409 once ("send the request again") — the owner after their own
 * change, for one.
 */
async function resent(t: TestApp, options: Parameters<TestApp['request']>[0]) {
  const first = await t.request(options)
  if (first.status !== 409 || !String(first.body.detail).includes('send the request again')) return first
  return t.request(options)
}

/** Two requests that need no permission: the credential is checked once, then taken from the cache. */
async function warm(t: TestApp, credential: { token?: string; headers?: Record<string, string> }): Promise<void> {
  for (let i = 0; i < 2; i++) {
    const me = await resent(t, { method: 'GET', url: '/v1/me', ...credential })
    assert.equal(me.status, 200, me.text)
  }
}

/** A service account with `role` and its token, which this process then caches. */
async function cachedServiceAccount(
  t: TestApp,
  org: Org,
  role: string,
  extra: Record<string, unknown> = {},
): Promise<{ token: string; tokenId: string; serviceAccountId: string }> {
  const name = `sa-${Math.random().toString(36).slice(2, 8)}`
  const account = await resent(t, {
    method: 'POST',
    url: `/v1/orgs/${org.orgId}/service-accounts`,
    token: org.ownerToken,
    body: { name, role, ...extra },
  })
  assert.equal(account.status, 201, account.text)
  const issued = await resent(t, {
    method: 'POST',
    url: `/v1/orgs/${org.orgId}/tokens`,
    token: org.ownerToken,
    body: { name, expiresInDays: 1, serviceAccountId: account.body.id },
  })
  assert.equal(issued.status, 201, issued.text)
  const token = issued.body.token as string
  await warm(t, { token })
  return { token, tokenId: issued.body.id as string, serviceAccountId: account.body.id as string }
}

/** A user API token of `org`'s owner (not the fixture's own), cached. */
async function cachedOwnerToken(t: TestApp, org: Org): Promise<{ token: string; tokenId: string }> {
  const issued = await resent(t, {
    method: 'POST',
    url: `/v1/orgs/${org.orgId}/tokens`,
    token: org.ownerToken,
    body: { name: `owner-${Math.random().toString(36).slice(2, 8)}`, expiresInDays: 1 },
  })
  assert.equal(issued.status, 201, issued.text)
  const token = issued.body.token as string
  await warm(t, { token })
  return { token, tokenId: issued.body.id as string }
}

/** A member invited with `role`, signed up: their user id, API token (cached) and email. */
async function cachedMember(
  t: TestApp,
  org: Org,
  role: string,
): Promise<{ userId: string; token: string; email: string }> {
  const email = `m-${Math.random().toString(36).slice(2, 8)}@cache-attack.test`
  const invited = await resent(t, {
    method: 'POST',
    url: `/v1/orgs/${org.orgId}/invitations`,
    token: org.ownerToken,
    body: { email, role },
  })
  assert.equal(invited.status, 201, invited.text)
  const accepted = await t.request({
    method: 'POST',
    url: '/v1/invitations/accept',
    body: { token: invited.body.token, password: PASSWORD },
  })
  assert.equal(accepted.status, 201, accepted.text)
  await warm(t, { token: accepted.body.apiToken as string })
  return { userId: accepted.body.userId as string, token: accepted.body.apiToken as string, email }
}

async function revoke(t: TestApp, org: Org, tokenId: string): Promise<void> {
  const revoked = await resent(t, {
    method: 'DELETE',
    url: `/v1/orgs/${org.orgId}/tokens/${tokenId}`,
    token: org.ownerToken,
  })
  assert.ok(revoked.status < 300, revoked.text)
}

forEachEngine('attack: the credential cache (P2.6, issue 18)', (engine) => {
  const lookedUp: string[] = []
  const t = useTestApp(engine, { CUSTODIAN_AUTH_RATE_LIMIT: '1000' }, undefined, undefined, {
    resolve: async (host) => {
      lookedUp.push(host)
      return [{ address: '127.0.0.1', family: 4 }]
    },
  })
  let provider: Org
  let org: Org
  let hear: () => void
  let listener: FastifyInstance

  before(async () => {
    provider = await bootstrapProvider(t())
    org = await createCustomerOrg(t(), provider, 'Cache Attack', 'owner@cache-attack.test')
    hear = deafen(t())
    const config = loadConfig({
      CUSTODIAN_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'cache-attack-')),
      CUSTODIAN_LOG_LEVEL: 'silent',
    })
    listener = await buildVaultListener({
      config,
      logger: createLogger(config),
      modules: t().app.modules,
      rootKey: { sealed: () => false },
      engine,
    })
  })
  after(async () => {
    await listener?.close()
  })

  const get = (url: string, token: string, remoteAddress?: string) =>
    t().request({ method: 'GET', url, token, ...(remoteAddress === undefined ? {} : { remoteAddress }) })
  const o = (suffix: string) => `/v1/orgs/${org.orgId}${suffix}`

  // ---- what was found ----

  it('P2.6: a revoked cached token is answered 401 where the handler refuses or fails before reaching the database', async () => {
    const operator = await cachedOwnerToken(t(), provider)
    const customer = await cachedOwnerToken(t(), org)
    await revoke(t(), provider, operator.tokenId)
    await revoke(t(), org, customer.tokenId)
    // The local provider is not sealed with shares: the handler's own 409, decided on the old copy.
    const seal = await t().request({ method: 'POST', url: '/v1/vault/seal', token: operator.token })
    assert.equal(seal.status, 401, seal.text)
    // Step-up is for sessions: the handler's own 400.
    const stepUp = await t().request({
      method: 'POST',
      url: '/v1/me/step-up',
      token: customer.token,
      body: { code: '123456' },
    })
    assert.equal(stepUp.status, 401, stepUp.text)
    // A body its schema refuses.
    const malformed = await t().request({
      method: 'POST',
      url: o('/service-accounts'),
      token: customer.token,
      body: {},
    })
    assert.equal(malformed.status, 401, malformed.text)
    // The Vault listener: a mount it does not serve is its own 403.
    const vault = await listener.inject({
      method: 'GET',
      url: '/v1/sys/internal/ui/mounts/nope',
      headers: { 'x-vault-token': customer.token },
    })
    assert.equal(vault.statusCode, 403, vault.body)
    assert.match(vault.body, /permission denied|revoked|valid API token/i)
    assert.doesNotMatch(vault.body, /no mount at/)
  })

  it('P2.6: a revoked cached token records no use of a permission', async () => {
    const sa = await cachedServiceAccount(t(), org, 'admin')
    await revoke(t(), org, sa.tokenId)
    const refused = await get(o('/tokens'), sa.token)
    assert.equal(refused.status, 401, refused.text)
    const used = await t()
      .db.kysely.selectFrom('permission_usage')
      .select('permission')
      .where('principal_id', '=', sa.serviceAccountId)
      .execute()
    assert.deepEqual(used, [], 'a use recorded for a revoked credential')
    // A current one still records its use.
    const current = await cachedServiceAccount(t(), org, 'admin')
    assert.equal((await get(o('/tokens'), current.token)).status, 200)
    const recorded = await t()
      .db.kysely.selectFrom('permission_usage')
      .select('permission')
      .where('principal_id', '=', current.serviceAccountId)
      .execute()
    assert.deepEqual(recorded, [{ permission: 'tokens:read' }])
  })

  it('P2.6: a revoked cached token makes the service look up no host it names', async () => {
    const sa = await cachedServiceAccount(t(), org, 'admin')
    await revoke(t(), org, sa.tokenId)
    lookedUp.length = 0
    for (const [url, body] of [
      [
        '/webhooks',
        { name: 'after-revocation', url: 'https://revoked-lookup.attack.test/hook', events: ['notifications'] },
      ],
      [
        '/siem/destinations',
        { name: 'after-revocation', kind: 'splunk_hec', url: 'https://revoked-lookup.attack.test', credential: 'x' },
      ],
    ] as const) {
      const refused = await t().request({ method: 'POST', url: o(url), token: sa.token, body })
      assert.equal(refused.status, 401, `${url}: ${refused.text}`)
    }
    assert.deepEqual(
      lookedUp.filter((h) => h.includes('revoked-lookup')),
      [],
    )
  })

  it('P2.6: a cached credential of an org offboarded since is refused, and writes nothing for the erased org', async () => {
    // No notification is sent for an org deleted: the process hears normally here.
    hear()
    try {
      const leaving = await createCustomerOrg(t(), provider, 'Leaving Cache', 'owner@leaving-cache.test')
      const epoch = await sql`SELECT epoch FROM credential_epochs WHERE org_id = ${leaving.orgId}`.execute(
        t().db.kysely,
      )
      assert.deepEqual(epoch.rows, [], 'no credential of the org has changed yet')
      await warm(t(), { token: leaving.ownerToken })
      const asked = await resent(t(), {
        method: 'POST',
        url: `/v1/orgs/${leaving.orgId}/offboarding`,
        token: leaving.ownerToken,
        body: { confirmName: 'Leaving Cache' },
      })
      assert.equal(asked.status, 201, asked.text)
      await sql`UPDATE org_offboardings SET scheduled_for = now() - interval '1 minute' WHERE org_id = ${leaving.orgId}`.execute(
        t().db.kysely,
      )
      assert.equal(await t().app.services.offboarding.runDue(), 1)
      // A route the cached copy has no permission for: decided afresh, and refused as unknown.
      const sealing = await t().request({ method: 'POST', url: '/v1/vault/seal', token: leaving.ownerToken })
      assert.equal(sealing.status, 401, sealing.text)
      const appended = await t().request({
        method: 'POST',
        url: `/v1/orgs/${leaving.orgId}/audit/events`,
        token: leaving.ownerToken,
        body: {
          id: 'after-offboarding',
          action: 'document.share',
          actor: { id: 'u_1', type: 'user' },
          outcome: 'success',
        },
      })
      assert.equal(appended.status, 401, appended.text)
      const left = await sql<{
        n: number
      }>`SELECT count(*)::int AS n FROM audit_events WHERE org_id = ${leaving.orgId}`.execute(t().db.kysely)
      assert.equal(left.rows[0]?.n, 0, 'rows written for an org that was erased')
      const me = await get('/v1/me', leaving.ownerToken)
      assert.equal(me.status, 401, me.text)
    } finally {
      hear = deafen(t())
    }
  })

  // ---- what held: every change made through the API, then the affected credential's next request ----

  it('P2.6 (held): a token revoked, a service account narrowed, re-pathed or deleted — the next request from the cache is refused', async () => {
    const revoked = await cachedServiceAccount(t(), org, 'admin')
    await revoke(t(), org, revoked.tokenId)
    assert.equal((await get('/v1/me', revoked.token)).status, 401, 'an answer without a transaction')
    assert.equal((await get(o('/tokens'), revoked.token)).status, 401, 'an answer after a transaction')

    const narrowed = await cachedServiceAccount(t(), org, 'admin')
    const patched = await resent(t(), {
      method: 'PATCH',
      url: o(`/service-accounts/${narrowed.serviceAccountId}`),
      token: org.ownerToken,
      body: { role: 'viewer' },
    })
    assert.equal(patched.status, 200, patched.text)
    const forbidden = await get(o('/tokens'), narrowed.token)
    assert.equal(forbidden.status, 403, forbidden.text)
    assert.equal(forbidden.body.permission, 'tokens:read')

    const secrets: Record<string, string> = {}
    for (const name of ['cache/open', 'cache-closed/x']) {
      const made = await resent(t(), {
        method: 'POST',
        url: o('/secrets'),
        token: org.ownerToken,
        body: { name, type: 'api_key', value: `v-${name}` },
      })
      assert.equal(made.status, 201, made.text)
      secrets[name] = made.body.id as string
    }
    const pathed = await cachedServiceAccount(t(), org, 'admin')
    const reveal = (id: string) =>
      t().request({ method: 'POST', url: o(`/secrets/${id}/reveal`), token: pathed.token, body: { reason: 'cache' } })
    assert.equal((await reveal(secrets['cache-closed/x'] as string)).status, 200)
    const repathed = await resent(t(), {
      method: 'PATCH',
      url: o(`/service-accounts/${pathed.serviceAccountId}`),
      token: org.ownerToken,
      body: { role: 'admin', secretPaths: ['cache/*'] },
    })
    assert.equal(repathed.status, 200, repathed.text)
    const outside = await reveal(secrets['cache-closed/x'] as string)
    assert.ok(outside.status === 404 || outside.status === 403 || outside.status === 409, outside.text)
    assert.equal(outside.body.value, undefined)
    assert.equal((await reveal(secrets['cache/open'] as string)).body.value, 'v-cache/open')

    const deleted = await cachedServiceAccount(t(), org, 'admin')
    const gone = await resent(t(), {
      method: 'DELETE',
      url: o(`/service-accounts/${deleted.serviceAccountId}`),
      token: org.ownerToken,
    })
    assert.ok(gone.status < 300, gone.text)
    assert.equal((await get('/v1/me', deleted.token)).status, 401)
  })

  it('P2.6 (held): a member suspended, narrowed or removed, and a custom role changed — the next request from the cache is refused', async () => {
    const suspended = await cachedMember(t(), org, 'admin')
    const suspend = await resent(t(), {
      method: 'POST',
      url: o(`/members/${suspended.userId}/suspend`),
      token: org.ownerToken,
    })
    assert.ok(suspend.status < 300, suspend.text)
    assert.equal((await get('/v1/me', suspended.token)).status, 401)

    const narrowed = await cachedMember(t(), org, 'admin')
    const patched = await resent(t(), {
      method: 'PATCH',
      url: o(`/members/${narrowed.userId}`),
      token: org.ownerToken,
      body: { role: 'viewer' },
    })
    assert.equal(patched.status, 200, patched.text)
    const forbidden = await get(o('/tokens'), narrowed.token)
    assert.equal(forbidden.status, 403, forbidden.text)

    const removed = await cachedMember(t(), org, 'admin')
    const remove = await resent(t(), { method: 'DELETE', url: o(`/members/${removed.userId}`), token: org.ownerToken })
    assert.ok(remove.status < 300, remove.text)
    assert.equal((await get('/v1/me', removed.token)).status, 401)

    const role = await resent(t(), {
      method: 'POST',
      url: o('/roles'),
      token: org.ownerToken,
      body: { name: 'cache-reader', permissions: ['org:read', 'tokens:read'] },
    })
    assert.equal(role.status, 201, role.text)
    const holder = await cachedServiceAccount(t(), org, 'cache-reader')
    assert.equal((await get(o('/tokens'), holder.token)).status, 200)
    const changed = await resent(t(), {
      method: 'PUT',
      url: o('/roles/cache-reader'),
      token: org.ownerToken,
      body: { permissions: ['org:read'] },
    })
    assert.equal(changed.status, 200, changed.text)
    const refused = await get(o('/tokens'), holder.token)
    assert.equal(refused.status, 403, refused.text)
    assert.equal(refused.body.permission, 'tokens:read')
  })

  it('P2.6 (held): the IP allowlist narrowed — the next request from an address now outside is refused', async () => {
    const sa = await cachedServiceAccount(t(), org, 'admin')
    assert.equal((await get(o('/tokens'), sa.token, '198.51.100.7')).status, 200)
    const narrowed = await resent(t(), {
      method: 'PUT',
      url: o('/ip-allowlist'),
      token: org.ownerToken,
      body: { entries: [{ cidr: '127.0.0.1' }] },
    })
    assert.equal(narrowed.status, 200, narrowed.text)
    try {
      for (const url of ['/v1/me', o('/tokens')]) {
        const refused = await get(url, sa.token, '198.51.100.7')
        assert.equal(refused.status, 403, `${url}: ${refused.text}`)
        assert.equal(refused.body.code, 'IP_NOT_ALLOWED')
      }
    } finally {
      const reset = await resent(t(), {
        method: 'PUT',
        url: o('/ip-allowlist'),
        token: org.ownerToken,
        body: { entries: [] },
      })
      assert.equal(reset.status, 200, reset.text)
    }
  })

  it('P2.6 (held): 2FA required, and a second factor removed under it — the next request from the cache is refused', async () => {
    const strict = await createCustomerOrg(t(), provider, 'Strict Cache', 'owner@strict-cache.test')
    await enrolTotp((method, url, body) => t().request({ method, url, token: strict.ownerToken, body }))
    const unenrolled = await cachedMember(t(), strict, 'admin')
    const enrolled = await cachedMember(t(), strict, 'admin')
    const { recoveryCodes } = await enrolTotp((method, url, body) =>
      t().request({ method, url, token: enrolled.token, body }),
    )
    await warm(t(), { token: enrolled.token })
    const required = await resent(t(), {
      method: 'PUT',
      url: `/v1/orgs/${strict.orgId}/security-policy`,
      token: strict.ownerToken,
      body: { require2fa: true, stepUpMinutes: 10 },
    })
    assert.equal(required.status, 200, required.text)
    const refused = await get(`/v1/orgs/${strict.orgId}/tokens`, unenrolled.token)
    assert.equal(refused.status, 403, refused.text)
    assert.equal(refused.body.code, 'MFA_ENROLMENT_REQUIRED')
    // Enrolled: still let in (after the one 409 its changed policy gives a request under way).
    const stillIn = await resent(t(), { method: 'GET', url: `/v1/orgs/${strict.orgId}/tokens`, token: enrolled.token })
    assert.equal(stillIn.status, 200, stillIn.text)
    const disabled = await t().request({
      method: 'POST',
      url: '/v1/me/2fa/totp/disable',
      token: enrolled.token,
      body: { code: recoveryCodes[0] },
    })
    assert.equal(disabled.status, 204, disabled.text)
    const after = await get(`/v1/orgs/${strict.orgId}/tokens`, enrolled.token)
    assert.equal(after.status, 403, after.text)
    assert.equal(after.body.code, 'MFA_ENROLMENT_REQUIRED')
  })

  it('P2.6 (held): a session ended by an admin — its cookie is refused next, reads and CSRF-checked writes alike', async () => {
    const member = await cachedMember(t(), org, 'admin')
    const login = await t().app.inject({
      method: 'POST',
      url: '/v1/login',
      payload: { email: member.email, password: PASSWORD },
    })
    assert.equal(login.statusCode, 200, login.body)
    const cookie = login.cookies.find((c) => c.name === '__Host-custodian_session')
    const headers = { cookie: `${cookie?.name}=${cookie?.value}` }
    const csrf = JSON.parse(login.body).csrfToken as string
    await warm(t(), { headers })
    const sessions = await get(o('/sessions'), org.ownerToken)
    const mine = (sessions.body.sessions as { id: string; email: string }[]).find((s) => s.email === member.email)
    assert.ok(mine !== undefined)
    const ended = await resent(t(), { method: 'DELETE', url: o(`/sessions/${mine.id}`), token: org.ownerToken })
    assert.equal(ended.status, 204, ended.text)
    assert.equal((await t().request({ method: 'GET', url: '/v1/me', headers })).status, 401)
    const write = await t().request({
      method: 'POST',
      url: o('/service-accounts'),
      headers: { ...headers, 'x-csrf-token': csrf },
      body: { name: 'from-ended-session', role: 'viewer' },
    })
    assert.equal(write.status, 401, write.text)
  })

  it('P2.6 (held): a wrong secret for a cached token id, and a token expired while cached, are refused', async () => {
    const sa = await cachedServiceAccount(t(), org, 'admin')
    const forged = sa.token.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'))
    assert.equal((await get('/v1/me', forged)).status, 401)
    assert.equal((await get('/v1/me', sa.token)).status, 200, 'the real one is unaffected')

    const expiring = await cachedServiceAccount(t(), org, 'admin')
    // Its expiry brought near behind the cache (a time passing moves no epoch), then read again.
    await t()
      .db.kysely.transaction()
      .execute(async (trx) => {
        await sql`SET LOCAL session_replication_role = replica`.execute(trx)
        await sql`UPDATE api_tokens SET expires_at = now() + interval '1 second' WHERE id = ${expiring.tokenId}`.execute(
          trx,
        )
      })
    t().app.services.auth.forgetCredentials()
    await warm(t(), { token: expiring.token })
    await new Promise((resolve) => setTimeout(resolve, 1_200))
    assert.equal((await get('/v1/me', expiring.token)).status, 401)
  })

  it('P2.6 (held): a token revoked through the API is refused next on the Vault listener', async () => {
    const sa = await cachedServiceAccount(t(), org, 'admin')
    const lookup = () =>
      listener.inject({ method: 'GET', url: '/v1/auth/token/lookup-self', headers: { 'x-vault-token': sa.token } })
    assert.equal((await lookup()).statusCode, 200)
    assert.equal((await lookup()).statusCode, 200)
    await revoke(t(), org, sa.tokenId)
    const refused = await lookup()
    assert.equal(refused.statusCode, 403, refused.body)
    assert.doesNotMatch(refused.body, /entity_id/)
  })
})

forEachEngine('attack: the credential cache and a Shamir-sealed vault (P2.6, issue 18)', (engine) => {
  let shares: string[] = []
  const t = useTestApp(engine, { CUSTODIAN_AUTH_RATE_LIMIT: '1000' }, undefined, async () => {
    const init = await initShamir(path.join(mkdtempSync(path.join(tmpdir(), 'shamir-')), 'root-key.shamir.json'), 3, 2)
    shares = init.shares
    return createShamirProvider(init.meta)
  })
  let provider: Org

  before(async () => {
    for (const share of shares.slice(0, 2))
      assert.equal((await t().request({ method: 'POST', url: '/v1/vault/unseal', body: { share } })).status, 200)
    provider = await bootstrapProvider(t())
    deafen(t())
  })

  it('P2.6: an operator token revoked in another process cannot seal the vault from this one’s cache', async () => {
    const operator = await cachedOwnerToken(t(), provider)
    await revoke(t(), provider, operator.tokenId)
    const sealed = await t().request({ method: 'POST', url: '/v1/vault/seal', token: operator.token })
    assert.equal(sealed.status, 401, sealed.text)
    const status = await t().request({ method: 'GET', url: '/v1/vault/status' })
    assert.equal(status.body.sealed, false, 'a revoked operator sealed the vault')
    // A current operator token still seals it.
    const current = await cachedOwnerToken(t(), provider)
    const sealedNow = await t().request({ method: 'POST', url: '/v1/vault/seal', token: current.token })
    assert.equal(sealedNow.status, 200, sealedNow.text)
    assert.equal(sealedNow.body.sealed, true)
  })
})

/**
 * Every statement the app sends while `statements` is set, with whether the request's cached
 * credential was still unconfirmed then (the sweep below): Kysely's executor, patched once.
 */
let statements: { sql: string; pending: boolean }[] | undefined
const executor = Object.getPrototypeOf(DefaultQueryExecutor.prototype) as {
  executeQuery(query: { sql: string }, options: unknown): Promise<unknown>
}
const executeQuery = executor.executeQuery // eslint-disable-line @typescript-eslint/unbound-method
executor.executeQuery = function (this: unknown, query, options) {
  statements?.push({ sql: query.sql, pending: pendingCredentialCheck() !== undefined })
  return executeQuery.call(this, query, options)
}

forEachEngine('attack: every route on a credential revoked behind the cache (P2.6, issue 18)', (engine) => {
  const lookedUp: string[] = []
  const t = useTestApp(
    engine,
    {
      CUSTODIAN_AUTH_RATE_LIMIT: '100000',
      CUSTODIAN_REPORT_RATE_LIMIT: '1000',
      CUSTODIAN_APP_EVENTS_BATCH_BYTES: '65536',
    },
    undefined,
    undefined,
    {
      resolve: async (host) => {
        lookedUp.push(host)
        return [{ address: '127.0.0.1', family: 4 }]
      },
    },
  )
  let f: Fixture

  before(async () => {
    f = await buildRouteFixture(t())
    deafen(t())
  })

  /** The org whose owner may send the route: the provider's for operator routes, else the org its URL names. */
  const ownerOf = (route: RouteCase): Org => {
    if (PROVIDER_ONLY.has(route.access as Permission)) return f.provider
    const url = route.url(f)
    if (url.includes(f.provider.orgId)) return f.provider
    if (url.includes(f.b.orgId) && !url.includes(f.a.orgId)) return f.b
    return f.a
  }

  it('P2.6: each route, sent an owner token revoked in another process, answers 401 and writes or looks up nothing before the credential is confirmed', async () => {
    const wrong: string[] = []
    let routes = 0
    for (const route of ROUTES) {
      if (route.access === 'public' || route.access === 'viewer') continue
      routes++
      const label = `${route.method} ${route.path}`
      const org = ownerOf(route)
      const { token, tokenId } = await cachedOwnerToken(t(), org)
      await revoke(t(), org, tokenId)
      statements = []
      lookedUp.length = 0
      const response = await t().request({
        method: route.method,
        url: route.url(f),
        token,
        ...(route.body === undefined ? {} : { body: route.body(f) }),
      })
      const sent = statements
      statements = undefined
      if (response.status !== 401) wrong.push(`${label}: ${response.status} ${response.text.slice(0, 160)}`)
      if (lookedUp.length > 0) wrong.push(`${label}: looked up ${lookedUp.join(', ')}`)
      // Up to the statement that confirms the credential (and refuses it), nothing is written
      // but the token's own last use.
      const confirmed = sent.findIndex((s) => s.sql.includes('custodian_credential_epoch_is'))
      if (confirmed === -1) wrong.push(`${label}: never confirmed`)
      for (const { sql: text } of confirmed === -1 ? sent : sent.slice(0, confirmed)) {
        const flat = text.replace(/\s+/g, ' ')
        if (/^UPDATE api_tokens SET last_used_at/i.test(flat.trim())) continue
        if (/\b(insert into|update \S+ set|delete from)\b/i.test(flat))
          wrong.push(`${label}: wrote before the credential was confirmed: ${flat.slice(0, 120)}`)
      }
    }
    assert.deepEqual(wrong, [])
    assert.ok(routes > 150, `only ${routes} routes`)
  })
})

describe('attack: a start refused after the cache began listening (issue 18)', {
  skip: postgresAvailable() ? false : 'TEST_DATABASE_URL not set',
}, () => {
  it('closing the database stops its listening connection: a start that fails after LISTEN leaves nothing open to hang the process', async () => {
    const test = await createTestDatabase('postgres')
    const channel = 'cache_attack_probe'
    const listeners = async () =>
      (
        await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND query = ${`LISTEN ${channel}`}`.execute(test.kysely)
      ).rows[0]?.n ?? 0
    try {
      // The service's own handle on the database, as server.ts opens it.
      const database = await openDatabase({ databaseUrl: test.url, poolSize: 2 })
      const listening = await database.listen(
        channel,
        () => {},
        () => {},
      )
      assert.equal(listening.connected(), true)
      assert.equal(await listeners(), 1)
      // What server.ts does when buildApp throws after listening (a region refused at start,
      // test/attack/residency-bypass.test.ts): the database is closed, the app never was.
      await database.close()
      assert.equal(listening.connected(), false, 'still listening after the database closed')
      for (let i = 0; i < 40 && (await listeners()) > 0; i++) await new Promise((resolve) => setTimeout(resolve, 50))
      assert.equal(await listeners(), 0)
    } finally {
      await test.close()
    }
  })
})
