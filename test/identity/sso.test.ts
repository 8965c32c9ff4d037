import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, it } from 'node:test'
import { sql } from 'kysely'
import { ALL_PERMISSIONS, PROVIDER_ONLY } from '../../src/modules/access/permissions.ts'
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
  type TestApp,
} from '../helpers/app.ts'
import { startOidcProvider, type OidcProvider } from '../helpers/oidc-provider.ts'
import type { JsonBody } from '../helpers/json.ts'

/**
 * OpenID Connect single sign-on (P3.3) and SSO-only orgs (P3.4), end to end against a
 * real OpenID provider process (oidc-provider) over HTTPS.
 */
const PUBLIC_URL = 'https://custodian.test'
const dir = mkdtempSync(path.join(tmpdir(), 'custodian-sso-'))
let op: OidcProvider

before(async () => {
  op = await startOidcProvider({ redirectUri: `${PUBLIC_URL}/v1/sso/callback`, dir })
})
after(async () => {
  await op?.stop()
})

interface SignIn {
  status: number
  body: JsonBody
  cookie: string | undefined
  callbackUrl: string
  binding: string
}

/** A browser signing in: start at Custodian, through the provider, back to the callback. */
async function signIn(t: TestApp, orgId: string, loginHint: string): Promise<SignIn> {
  const start = await t.app.inject({
    method: 'GET',
    url: `/v1/sso/${orgId}/start?loginHint=${encodeURIComponent(loginHint)}`,
  })
  assert.equal(start.statusCode, 302, start.body)
  const binding = start.cookies.find((c) => c.name === '__Host-custodian_sso')
  assert.ok(
    binding !== undefined && binding.sameSite === 'Lax' && binding.httpOnly === true && binding.secure === true,
    'binding cookie',
  )
  const back = await op.authorize(String(start.headers.location))
  assert.equal(back.origin, PUBLIC_URL)
  const callbackUrl = `${back.pathname}${back.search}`
  const response = await t.app.inject({
    method: 'GET',
    url: callbackUrl,
    headers: { cookie: `__Host-custodian_sso=${binding.value}` },
  })
  const session = response.cookies.find((c) => c.name === '__Host-custodian_session')
  return {
    status: response.statusCode,
    body: JSON.parse(response.body),
    cookie: session === undefined ? undefined : `${session.name}=${session.value}`,
    callbackUrl,
    binding: binding.value,
  }
}

/** A console sign-in (returnTo=console) up to the provider's redirect back: the callback URL and the binding. */
async function startFromConsole(
  t: TestApp,
  orgId: string,
  loginHint: string,
): Promise<{ authorizationUrl: URL; binding: string }> {
  const start = await t.app.inject({
    method: 'GET',
    url: `/v1/sso/${orgId}/start?returnTo=console&loginHint=${encodeURIComponent(loginHint)}`,
  })
  assert.equal(start.statusCode, 302, start.body)
  const binding = start.cookies.find((c) => c.name === '__Host-custodian_sso')
  assert.ok(binding !== undefined)
  return { authorizationUrl: new URL(String(start.headers.location)), binding: binding.value }
}

/** The callback as the browser sends it back, with (or without) the binding cookie. */
async function callback(t: TestApp, url: URL | string, binding: string | undefined) {
  const target = typeof url === 'string' ? url : `${url.pathname}${url.search}`
  return t.app.inject({
    method: 'GET',
    url: target,
    headers: binding === undefined ? {} : { cookie: `__Host-custodian_sso=${binding}` },
  })
}

const SIGN_IN_FAILED = '/console/sign-in?sso=failed&code='

forEachEngine('single sign-on with OpenID Connect (P3.3, P3.4)', (engine) => {
  const env: Record<string, string> = {
    CUSTODIAN_PUBLIC_URL: PUBLIC_URL,
    CUSTODIAN_EXTRA_CA_FILE: path.join(dir, 'oidc-ca.pem'),
    CUSTODIAN_AUTH_RATE_LIMIT: '1000',
  }
  const t = useTestApp(engine, env)
  let provider: Org
  let acme: Org
  let tampered: Org
  const config = (clientId = 'good', extra: Record<string, unknown> = {}) => ({
    preset: 'oidc',
    issuer: op.issuer,
    clientId,
    clientSecret: `${clientId}-secret-value`,
    allowedDomains: ['Acme.test'],
    defaultRole: 'member',
    ...extra,
  })
  const putSso = (org: Org, body: Record<string, unknown>) =>
    t().request({ method: 'PUT', url: `/v1/orgs/${org.orgId}/sso`, token: org.ownerToken, body })

  before(async () => {
    provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', 'owner@acme.test')
    tampered = await createCustomerOrg(t(), provider, 'Tampered', 'owner@tampered.test')
  })

  it('refuses a bad set-up with a clear error and saves nothing', async () => {
    const before = await fingerprint(t())
    const cases: [Record<string, unknown>, number, string][] = [
      [{ ...config(), preset: 'microsoft', issuer: undefined }, 400, '/body/tenant'],
      [{ ...config(), preset: 'microsoft', issuer: undefined, tenant: 'common' }, 400, '/body/tenant'],
      [{ ...config(), issuer: undefined }, 400, '/body/issuer'],
      [{ ...config(), issuer: 'http://localhost:1/' }, 400, '/body/issuer'],
      [{ ...config(), allowedDomains: ['acme.test', 'not a domain'] }, 400, '/body/allowedDomains/1'],
      [{ ...config(), allowedDomains: ['acme.test@evil.test'] }, 400, '/body/allowedDomains/0'],
      [{ ...config(), allowedDomains: ['acme.test', 'x@acme.test'] }, 400, '/body/allowedDomains/1'],
      [{ ...config(), allowedDomains: ['[192.0.2.1]'] }, 400, '/body/allowedDomains/0'],
      [{ ...config(), allowedDomains: ['acme.test.'] }, 400, '/body/allowedDomains/0'],
      [{ ...config(), defaultRole: 'owner' }, 400, '/body/defaultRole'],
      [{ ...config(), clientSecret: undefined }, 400, '/body/clientSecret'],
      [{ ...config(), issuer: 'https://127.0.0.1:1' }, 502, ''],
    ]
    for (const [body, status, path] of cases) {
      const response = await putSso(acme, JSON.parse(JSON.stringify(body)))
      assert.equal(response.status, status, `${JSON.stringify(body)}: ${response.text}`)
      if (path !== '')
        assert.ok(
          response.body.errors.some((e: { path: string }) => e.path === path),
          `${path}: ${response.text}`,
        )
      else assert.equal(response.body.code, 'SSO_PROVIDER_UNAVAILABLE')
    }
    assert.equal(await fingerprint(t()), before)
    assert.equal(
      (await t().request({ method: 'GET', url: `/v1/orgs/${acme.orgId}/secrets`, token: acme.ownerToken })).body.secrets
        .length,
      0,
      'no client secret kept',
    )
    assert.equal(
      (await t().request({ method: 'GET', url: `/v1/orgs/${acme.orgId}/sso`, token: acme.ownerToken })).status,
      404,
    )
  })

  it('sets up SSO once discovery answers, keeping the client secret in the vault only', async () => {
    const set = await putSso(acme, config())
    assert.equal(set.status, 200, set.text)
    assert.equal(set.body.issuer, op.issuer)
    assert.deepEqual(set.body.allowedDomains, ['acme.test'])
    assert.equal(set.body.redirectUri, `${PUBLIC_URL}/v1/sso/callback`)
    assert.equal(set.body.loginUrl, `${PUBLIC_URL}/v1/sso/${acme.orgId}/start`)
    const view = await t().request({ method: 'GET', url: `/v1/orgs/${acme.orgId}/sso`, token: acme.ownerToken })
    assert.doesNotMatch(view.text, /secret-value/)
    const secrets = (
      await t().request({ method: 'GET', url: `/v1/orgs/${acme.orgId}/secrets`, token: acme.ownerToken })
    ).body.secrets
    assert.deepEqual(
      secrets.map((s: { name: string; id: string }) => [s.name, s.id]),
      [['sso/client-secret', set.body.clientSecretId]],
    )
    const tables = await sql<{
      tablename: string
    }>`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`.execute(t().db.kysely)
    for (const { tablename } of tables.rows) {
      const hit = await sql<{
        n: number
      }>`SELECT count(*)::int AS n FROM ${sql.table(tablename)} AS x WHERE x::text LIKE '%good-secret-value%'`.execute(
        t().db.kysely,
      )
      assert.equal(hit.rows[0]?.n, 0, `client secret in plaintext in ${tablename}`)
    }
    const events = await auditActions(t(), acme.orgId)
    const update = events.find((e) => e.action === 'org.sso.update')
    assert.ok(update !== undefined)
    assert.doesNotMatch(JSON.stringify(events), /secret-value/)
  })

  it('a new issuer keeping the stored client secret takes vault:reveal (the secret is sent to it), checked before the provider is asked', async () => {
    // org:security and every other permission but vault:reveal.
    const role = await t().request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/roles`,
      token: acme.ownerToken,
      body: {
        name: 'sso-no-reveal',
        description: 'every permission but vault:reveal',
        permissions: ALL_PERMISSIONS.filter((p) => !PROVIDER_ONLY.has(p) && p !== 'vault:reveal'),
      },
    })
    assert.equal(role.status, 201, role.text)
    const { token } = await principalWithRole(t(), acme, 'sso-no-reveal')
    const put = (body: Record<string, unknown>) =>
      t().request({ method: 'PUT', url: `/v1/orgs/${acme.orgId}/sso`, token, body })
    // 127.0.0.1:1 answers nothing: a 502 shows the provider was asked, the 403 that it was not.
    const elsewhere = { ...config(), issuer: 'https://127.0.0.1:1', clientSecret: undefined }
    const before = await fingerprint(t())
    const refused = await put(JSON.parse(JSON.stringify(elsewhere)))
    assert.equal(refused.status, 403, refused.text)
    assert.equal(refused.body.code, 'EXCEEDS_OWN_PERMISSIONS')
    assert.deepEqual(refused.body.missingPermissions, ['vault:reveal'])
    assert.doesNotMatch(refused.text, /secret-value/)
    assert.equal(await fingerprint(t()), before, 'nothing changed')
    // The secret given again: nothing of the vault is sent, past the check (the provider asked).
    const given = await put({ ...elsewhere, clientSecret: 'another-secret-value' })
    assert.equal(given.status, 502, given.text)
    assert.equal(given.body.code, 'SSO_PROVIDER_UNAVAILABLE')
    // The owner holds vault:reveal: past the check too.
    const owner = await putSso(acme, JSON.parse(JSON.stringify(elsewhere)))
    assert.equal(owner.status, 502, owner.text)
    assert.equal(await fingerprint(t()), before, 'nothing saved by the unanswered issuer')
    // The same issuer, the secret kept: it goes nowhere new, org:security is enough.
    const same = await put(JSON.parse(JSON.stringify({ ...config(), clientSecret: undefined })))
    assert.equal(same.status, 200, same.text)
    assert.equal(same.body.issuer, op.issuer)
  })

  it('signs a new person in end to end, provisioned just in time with no password (P3.3, P3.4)', async () => {
    const first = await signIn(t(), acme.orgId, 'alice@acme.test')
    assert.equal(first.status, 200, JSON.stringify(first.body))
    assert.equal(first.body.joined, 'just-in-time')
    assert.ok(first.cookie !== undefined)
    const me = await t().request({ method: 'GET', url: '/v1/me', headers: { cookie: first.cookie } })
    assert.equal(me.status, 200)
    assert.equal(me.body.orgId, acme.orgId)
    assert.equal(me.body.role, 'member')
    const user = await t()
      .db.kysely.selectFrom('users')
      .select(['id', 'password_hash'])
      .where('email', '=', 'alice@acme.test')
      .executeTakeFirstOrThrow()
    assert.equal(user.password_hash, null, 'no password hash for a person who signs in through the provider')
    assert.equal(user.id, first.body.userId)

    const again = await signIn(t(), acme.orgId, 'alice@acme.test')
    assert.equal(again.status, 200)
    assert.equal(again.body.joined, null)
    assert.equal(again.body.userId, first.body.userId)
    const logins = (await auditActions(t(), acme.orgId)).filter(
      (e) => e.action === 'auth.login' && e.outcome === 'success',
    )
    assert.equal(logins.length, 2)
    assert.equal(logins[0]?.details.method, 'sso')
    assert.ok(
      (await auditActions(t(), acme.orgId)).some(
        (e) => e.action === 'member.add' && e.details.via === 'sso-just-in-time',
      ),
    )
  })

  it('refuses a replayed state, and a callback from another browser', async () => {
    const done = await signIn(t(), acme.orgId, 'alice@acme.test')
    assert.equal(done.status, 200)
    const sessions = await t().db.kysely.selectFrom('sessions').select('id').execute()
    const replayed = await t().app.inject({
      method: 'GET',
      url: done.callbackUrl,
      headers: { cookie: `__Host-custodian_sso=${done.binding}` },
    })
    assert.equal(replayed.statusCode, 400)
    assert.equal(JSON.parse(replayed.body).code, 'SSO_STATE_INVALID')

    const start = await t().app.inject({ method: 'GET', url: `/v1/sso/${acme.orgId}/start?loginHint=alice@acme.test` })
    const back = await op.authorize(String(start.headers.location))
    const elsewhere = await t().app.inject({
      method: 'GET',
      url: `${back.pathname}${back.search}`,
      headers: { cookie: '__Host-custodian_sso=someone-elses-browser' },
    })
    assert.equal(elsewhere.statusCode, 400)
    assert.equal(JSON.parse(elsewhere.body).code, 'SSO_STATE_INVALID')
    assert.equal(
      (await t().db.kysely.selectFrom('sessions').select('id').execute()).length,
      sessions.length,
      'no session issued',
    )
    const reasons = (await auditActions(t(), acme.orgId))
      .filter((e) => e.action === 'auth.login' && e.outcome === 'denied')
      .map((e) => e.details.reason)
    assert.ok(reasons.includes('state not bound to this browser'))
    const providerReasons = (await auditActions(t(), provider.orgId))
      .filter((e) => e.action === 'auth.login' && e.outcome === 'denied')
      .map((e) => e.details.reason)
    assert.ok(
      providerReasons.includes('unknown or already used state'),
      'a state of no known org is recorded with the provider',
    )
  })

  it('issue 12: a console sign-in (returnTo=console) lands on /console/sso-complete, its CSRF token in a short-lived cookie and never in the URL', async () => {
    const { authorizationUrl, binding } = await startFromConsole(t(), acme.orgId, 'dora@acme.test')
    const back = await op.authorize(authorizationUrl.href)
    const response = await callback(t(), back, binding)
    assert.equal(response.statusCode, 303, response.body)
    assert.equal(response.headers.location, '/console/sso-complete', 'no query, no fragment: nothing in the URL')
    assert.equal(response.body, '', 'no JSON body')

    const setCookies = ([] as string[]).concat(response.headers['set-cookie'] ?? [])
    const handover = setCookies.filter((c) => c.startsWith('__Host-custodian_csrf='))
    assert.equal(handover.length, 1, setCookies.join('\n'))
    const [pair, ...attributes] = (handover[0] as string).split('; ')
    const token = (pair as string).slice('__Host-custodian_csrf='.length)
    assert.match(token, /^[A-Za-z0-9_-]{20,}$/)
    assert.deepEqual(
      attributes.map((a) => a.toLowerCase()).sort(),
      ['max-age=120', 'path=/', 'samesite=strict', 'secure'],
      'exactly: Secure, SameSite=Strict, Path=/, Max-Age=120; not HttpOnly, no Domain, no Expires',
    )
    assert.ok(!String(response.headers.location).includes(token))
    const session = response.cookies.find((c) => c.name === '__Host-custodian_session')
    assert.ok(session !== undefined && session.httpOnly === true && session.sameSite === 'Strict', 'session cookie')
    assert.ok(
      response.cookies.some((c) => c.name === '__Host-custodian_sso' && c.value === ''),
      'the binding cookie is cleared',
    )

    // The handed-over token is the session's CSRF token: a state-changing call needs it.
    const cookie = `__Host-custodian_session=${session.value}`
    const me = await t().request({ method: 'GET', url: '/v1/me', headers: { cookie } })
    assert.equal(me.status, 200)
    assert.equal(me.body.orgId, acme.orgId)
    const forged = await t().request({
      method: 'POST',
      url: '/v1/logout',
      headers: { cookie, 'x-csrf-token': `${token}x` },
    })
    assert.equal(forged.status, 403)
    assert.equal(forged.body.code, 'CSRF_FAILED')
    const out = await t().request({ method: 'POST', url: '/v1/logout', headers: { cookie, 'x-csrf-token': token } })
    assert.equal(out.status, 204, out.text)
    const login = (await auditActions(t(), acme.orgId)).filter(
      (e) => e.action === 'auth.login' && e.outcome === 'success',
    )
    assert.equal(login.at(-1)?.details.method, 'sso')

    // Without returnTo, the same callback still answers JSON (API clients), with no hand-over cookie.
    const plain = await signIn(t(), acme.orgId, 'dora@acme.test')
    assert.equal(plain.status, 200, JSON.stringify(plain.body))
    assert.equal(typeof plain.body.csrfToken, 'string')
    assert.equal(plain.body.orgId, acme.orgId)
  })

  it('issue 12: a console sign-in that fails lands on the sign-in page with the problem code only, still audited', async () => {
    const sessionsBefore = (await t().db.kysely.selectFrom('sessions').select('id').execute()).length
    const deniedBefore = (await auditActions(t(), acme.orgId)).filter(
      (e) => e.action === 'auth.login' && e.outcome === 'denied',
    ).length
    const expectFailure = (response: Awaited<ReturnType<typeof callback>>, code: string) => {
      assert.equal(response.statusCode, 303, response.body)
      assert.equal(response.headers.location, `${SIGN_IN_FAILED}${code}`)
      assert.equal(
        response.cookies.filter((c) => c.name === '__Host-custodian_session' || c.name === '__Host-custodian_csrf')
          .length,
        0,
        'no session, no token',
      )
    }

    // The provider answers an error (the person cancelled there).
    const cancelled = await startFromConsole(t(), acme.orgId, 'dora@acme.test')
    const state = cancelled.authorizationUrl.searchParams.get('state') as string
    expectFailure(
      await callback(t(), `/v1/sso/callback?error=access_denied&state=${state}`, cancelled.binding),
      'SSO_FAILED',
    )

    // An email the org does not allow: the code only, no personal data in the URL.
    const stranger = await startFromConsole(t(), acme.orgId, 'mallory@evil.test')
    const strangerBack = await callback(t(), await op.authorize(stranger.authorizationUrl.href), stranger.binding)
    expectFailure(strangerBack, 'SSO_EMAIL_NOT_ALLOWED')
    assert.doesNotMatch(String(strangerBack.headers.location), /mallory|evil/)

    // A callback in another browser (no binding), then the same state replayed.
    const elsewhere = await startFromConsole(t(), acme.orgId, 'dora@acme.test')
    const elsewhereBack = await op.authorize(elsewhere.authorizationUrl.href)
    expectFailure(await callback(t(), elsewhereBack, undefined), 'SSO_STATE_INVALID')
    expectFailure(await callback(t(), elsewhereBack, elsewhere.binding), 'SSO_STATE_INVALID')

    const denied = (await auditActions(t(), acme.orgId))
      .filter((e) => e.action === 'auth.login' && e.outcome === 'denied')
      .slice(deniedBefore)
      .map((e) => e.details.reason)
    assert.deepEqual(denied, [
      'the provider answered access_denied',
      'email domain not allowed',
      'state not bound to this browser',
    ])
    assert.equal((await t().db.kysely.selectFrom('sessions').select('id').execute()).length, sessionsBefore)

    // A refused start (this org has no SSO) goes back too, audited as the JSON answer is.
    const noSso = await createCustomerOrg(t(), provider, 'No SSO', 'owner@nosso.test')
    const refusedBefore = (await auditActions(t(), provider.orgId)).length
    const start = await t().app.inject({ method: 'GET', url: `/v1/sso/${noSso.orgId}/start?returnTo=console` })
    assert.equal(start.statusCode, 303, start.body)
    assert.equal(start.headers.location, `${SIGN_IN_FAILED}NOT_FOUND`)
    assert.equal(start.cookies.length, 0, 'no binding cookie')
    const plain = await t().app.inject({ method: 'GET', url: `/v1/sso/${noSso.orgId}/start` })
    assert.equal(plain.statusCode, 404)
    assert.equal(JSON.parse(plain.body).code, 'NOT_FOUND')
    const recorded = (await auditActions(t(), provider.orgId))
      .slice(refusedBefore)
      .filter((e) => e.action === 'access.denied' && e.details.code === 'NOT_FOUND')
    assert.equal(recorded.length, 2, 'the redirected refusal and the JSON one, each recorded')

    // A state nobody started: nothing says a console started it, so the answer stays JSON.
    const unknown = await callback(t(), '/v1/sso/callback?state=never-issued&code=x', undefined)
    assert.equal(unknown.statusCode, 400)
    assert.equal(unknown.headers['content-type'], 'application/problem+json; charset=utf-8')
    assert.equal(JSON.parse(unknown.body).code, 'SSO_STATE_INVALID')
  })

  it('issue 12: returnTo is one name from a closed list, never a URL (no open redirect)', async () => {
    const states = async () =>
      (await t().db.kysely.selectFrom('sso_login_states').select('state_hash').execute()).length
    const before = await states()
    for (const value of ['https://evil.test/', '//evil.test', '/console/orgs', 'Console', '']) {
      const response = await t().app.inject({
        method: 'GET',
        url: `/v1/sso/${acme.orgId}/start?returnTo=${encodeURIComponent(value)}`,
      })
      assert.equal(response.statusCode, 400, `${value}: ${response.body}`)
      assert.match(String(response.headers['content-type']), /^application\/problem\+json/)
      assert.equal(response.headers.location, undefined)
      const problem = JSON.parse(response.body)
      assert.equal(problem.code, 'VALIDATION_FAILED')
      assert.ok(
        problem.errors.some((e: { path: string }) => e.path === '/query/returnTo'),
        JSON.stringify(problem),
      )
    }
    assert.equal(await states(), before, 'no sign-in started')
  })

  it('refuses an email outside the allowed domains, and an unverified one', async () => {
    for (const hint of ['mallory@evil.test', 'unverified-bob@acme.test']) {
      const refused = await signIn(t(), acme.orgId, hint)
      assert.equal(refused.status, 403, hint)
      assert.equal(refused.body.code, 'SSO_EMAIL_NOT_ALLOWED')
      assert.equal(refused.cookie, undefined)
    }
    const users = await t()
      .db.kysely.selectFrom('users')
      .select('email')
      .where('email', 'in', ['mallory@evil.test', 'unverified-bob@acme.test'])
      .execute()
    assert.equal(users.length, 0, 'nobody provisioned')
    const denied = (await auditActions(t(), acme.orgId)).filter(
      (e) => e.action === 'auth.login' && e.outcome === 'denied',
    )
    assert.ok(denied.some((e) => e.details.reason === 'email domain not allowed'))
    assert.ok(denied.some((e) => e.details.reason === 'email not verified'))
    assert.doesNotMatch(JSON.stringify(denied), /mallory@evil\.test/, 'the email is kept as an HMAC only')
  })

  it('parses the email claim instead of splitting it: what is not one plain mailbox in an allowed domain never joins (K6)', async () => {
    // Verified claims the provider vouches for, each naming acme.test somewhere.
    const tricky = [
      'mallory@acme.test@evil.test',
      '"mallory@acme.test"@evil.test',
      'Mallory <mallory@acme.test>',
      'mallory(x)@acme.test',
      'eve@acme.test, mallory@evil.test',
      'mallory@acme.test.',
      'mallory@[192.0.2.1]',
    ]
    for (const hint of tricky) {
      const refused = await signIn(t(), acme.orgId, hint)
      assert.equal(refused.status, 403, `${hint}: ${JSON.stringify(refused.body)}`)
      assert.equal(refused.body.code, 'SSO_EMAIL_NOT_ALLOWED')
      assert.equal(refused.cookie, undefined)
    }
    const users = await t().db.kysely.selectFrom('users').select('email').where('email', 'like', '%mallory%').execute()
    assert.deepEqual(users, [], 'nobody provisioned')
    const denied = (await auditActions(t(), acme.orgId)).filter(
      (e) => e.action === 'auth.login' && e.outcome === 'denied',
    )
    assert.ok(denied.some((e) => e.details.reason === 'email claim is not one plain address'))
    // The domain compares parsed, so an upper-case one is still acme.test.
    const carol = await signIn(t(), acme.orgId, 'carol@ACME.Test')
    assert.equal(carol.status, 200, JSON.stringify(carol.body))
    assert.equal(
      (
        await t()
          .db.kysely.selectFrom('users')
          .select('email')
          .where('id', '=', carol.body.userId)
          .executeTakeFirstOrThrow()
      ).email,
      'carol@acme.test',
    )
  })

  it('refuses an ID token for another audience, with a bad signature, or expired', async () => {
    const expectations: [string, RegExp][] = [
      ['wrong-aud', /aud/],
      ['bad-sig', /signature/],
      ['expired', /exp/],
    ]
    for (const [clientId, reason] of expectations) {
      assert.equal((await putSso(tampered, { ...config(clientId), allowedDomains: ['tampered.test'] })).status, 200)
      const refused = await signIn(t(), tampered.orgId, 'eve@tampered.test')
      assert.equal(refused.status, 401, `${clientId}: ${JSON.stringify(refused.body)}`)
      assert.equal(refused.body.code, 'SSO_FAILED')
      assert.equal(refused.cookie, undefined)
      const last = (await auditActions(t(), tampered.orgId))
        .filter((e) => e.action === 'auth.login' && e.outcome === 'denied')
        .at(-1)
      assert.match(String(last?.details.reason), reason, clientId)
    }
    assert.equal(
      (await t().db.kysely.selectFrom('users').select('id').where('email', '=', 'eve@tampered.test').execute()).length,
      0,
    )
    // The control: the same org signs in once its client is a well-behaved one.
    assert.equal((await putSso(tampered, { ...config('other'), allowedDomains: ['tampered.test'] })).status, 200)
    assert.equal((await signIn(t(), tampered.orgId, 'eve@tampered.test')).status, 200)
  })

  it('stops SSO while its client secret is reported exposed, until a new one is stored (P1.5)', async () => {
    const secretId = (
      await t().request({ method: 'GET', url: `/v1/orgs/${tampered.orgId}/sso`, token: tampered.ownerToken })
    ).body.clientSecretId
    assert.equal(
      (
        await t().request({
          method: 'POST',
          url: `/v1/orgs/${tampered.orgId}/secrets/${secretId}/report-exposed`,
          token: tampered.ownerToken,
          body: { reason: 'pasted in a ticket' },
        })
      ).status,
      200,
    )
    const blocked = await t().app.inject({ method: 'GET', url: `/v1/sso/${tampered.orgId}/start` })
    assert.equal(blocked.statusCode, 409)
    assert.equal(JSON.parse(blocked.body).code, 'SECRET_EXPOSED')
    assert.equal(
      (await putSso(tampered, { ...config('other'), allowedDomains: ['tampered.test'] })).status,
      200,
      'a new client secret replaces it',
    )
    assert.equal((await signIn(t(), tampered.orgId, 'eve@tampered.test')).status, 200)
  })

  it('does not let an address reassigned at the provider take over the old account', async () => {
    const other = await signIn(t(), acme.orgId, 'alice@acme.test#2')
    assert.equal(other.status, 401)
    assert.equal(other.body.code, 'SSO_FAILED')
    const denied = (await auditActions(t(), acme.orgId))
      .filter((e) => e.action === 'auth.login' && e.outcome === 'denied')
      .at(-1)
    assert.equal(denied?.details.reason, 'email linked to another provider subject')
  })

  it('keeps a removed member out, and lets them back in by invitation only', async () => {
    const alice = await t()
      .db.kysely.selectFrom('users')
      .select('id')
      .where('email', '=', 'alice@acme.test')
      .executeTakeFirstOrThrow()
    assert.equal(
      (
        await t().request({
          method: 'DELETE',
          url: `/v1/orgs/${acme.orgId}/members/${alice.id}`,
          token: acme.ownerToken,
        })
      ).status,
      200,
    )
    const refused = await signIn(t(), acme.orgId, 'alice@acme.test')
    assert.equal(refused.status, 403)
    assert.equal(refused.body.code, 'SSO_NOT_A_MEMBER')
    assert.equal(
      (
        await t().request({
          method: 'POST',
          url: `/v1/orgs/${acme.orgId}/invitations`,
          token: acme.ownerToken,
          body: { email: 'alice@acme.test', role: 'auditor' },
        })
      ).status,
      201,
    )
    const back = await signIn(t(), acme.orgId, 'alice@acme.test')
    assert.equal(back.status, 200, JSON.stringify(back.body))
    assert.equal(back.body.joined, 'invitation')
    assert.equal(
      (await t().request({ method: 'GET', url: '/v1/me', headers: { cookie: back.cookie as string } })).body.role,
      'auditor',
    )
  })

  it('without just-in-time provisioning, signs in members only', async () => {
    assert.equal((await putSso(acme, { ...config(), jitProvisioning: false })).status, 200)
    const stranger = await signIn(t(), acme.orgId, 'stranger@acme.test')
    assert.equal(stranger.status, 403)
    assert.equal(stranger.body.code, 'SSO_NOT_A_MEMBER')
    assert.equal((await signIn(t(), acme.orgId, 'alice@acme.test')).status, 200)
  })

  it('applies the org’s IP allowlist to SSO sign-ins (P2.9)', async () => {
    assert.equal(
      (
        await t().request({
          method: 'PUT',
          url: `/v1/orgs/${acme.orgId}/ip-allowlist`,
          token: acme.ownerToken,
          body: { entries: [{ cidr: '192.0.2.0/24' }], force: true },
        })
      ).status,
      200,
    )
    const start = await t().app.inject({ method: 'GET', url: `/v1/sso/${acme.orgId}/start?loginHint=alice@acme.test` })
    assert.equal(start.statusCode, 403)
    assert.equal(JSON.parse(start.body).code, 'IP_NOT_ALLOWED')
    const fromInside = await t().app.inject({
      method: 'GET',
      url: `/v1/sso/${acme.orgId}/start`,
      remoteAddress: '192.0.2.5',
    })
    assert.equal(fromInside.statusCode, 302)
    assert.equal(
      (
        await t().request({
          method: 'PUT',
          url: `/v1/orgs/${acme.orgId}/ip-allowlist`,
          token: acme.ownerToken,
          remoteAddress: '192.0.2.5',
          body: { entries: [] },
        })
      ).status,
      200,
    )
  })

  it('makes an org SSO-only: password hashes erased, password sign-in and password invitations refused (P3.4)', async () => {
    const fresh = await createCustomerOrg(t(), provider, 'Fresh', 'owner@fresh.test')
    assert.equal((await putSso(fresh, { ...config('other'), allowedDomains: ['fresh.test'] })).status, 200)
    const unproven = await t().request({
      method: 'PUT',
      url: `/v1/orgs/${fresh.orgId}/sso/enforcement`,
      token: fresh.ownerToken,
      body: { ssoOnly: true },
    })
    assert.equal(unproven.status, 409, 'nobody has signed in with it yet')
    assert.equal(unproven.body.code, 'SSO_NOT_READY')

    const owner = await t()
      .db.kysely.selectFrom('users')
      .select(['id', 'password_hash'])
      .where('email', '=', 'owner@acme.test')
      .executeTakeFirstOrThrow()
    assert.notEqual(owner.password_hash, null)
    const on = await t().request({
      method: 'PUT',
      url: `/v1/orgs/${acme.orgId}/sso/enforcement`,
      token: acme.ownerToken,
      body: { ssoOnly: true },
    })
    assert.equal(on.status, 200, on.text)
    assert.ok(on.body.erasedPasswordHashes >= 1)
    const hashes = await sql<{
      n: number
    }>`SELECT count(*)::int AS n FROM users u JOIN memberships m ON m.user_id = u.id WHERE m.org_id = ${acme.orgId} AND u.password_hash IS NOT NULL`.execute(
      t().db.kysely,
    )
    assert.equal(hashes.rows[0]?.n, 0, 'no member of an SSO-only org keeps a password hash')
    const other = await t()
      .db.kysely.selectFrom('users')
      .select('password_hash')
      .where('email', '=', 'owner@fresh.test')
      .executeTakeFirstOrThrow()
    assert.notEqual(other.password_hash, null, 'other orgs’ members keep theirs')

    const login = await t().request({
      method: 'POST',
      url: '/v1/login',
      body: { email: 'owner@acme.test', password: PASSWORD },
    })
    assert.equal(login.status, 403)
    assert.equal(login.body.code, 'SSO_REQUIRED')
    const invite = await t().request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/invitations`,
      token: acme.ownerToken,
      body: { email: 'bob@acme.test', role: 'viewer' },
    })
    const accept = await t().request({
      method: 'POST',
      url: '/v1/invitations/accept',
      body: { token: invite.body.token, password: PASSWORD },
    })
    assert.equal(accept.status, 403)
    assert.equal(accept.body.code, 'SSO_REQUIRED')
    // The invitation is honoured at the SSO sign-in instead (just-in-time provisioning is off here).
    const bob = await signIn(t(), acme.orgId, 'bob@acme.test')
    assert.equal(bob.status, 200, JSON.stringify(bob.body))
    assert.equal(bob.body.joined, 'invitation')
    assert.equal(
      (
        await t()
          .db.kysely.selectFrom('users')
          .select('password_hash')
          .where('email', '=', 'bob@acme.test')
          .executeTakeFirstOrThrow()
      ).password_hash,
      null,
    )

    const disable = await putSso(acme, { ...config(), enabled: false })
    assert.equal(disable.status, 409, 'cannot disable SSO while SSO-only')
    assert.equal(
      (await t().request({ method: 'DELETE', url: `/v1/orgs/${acme.orgId}/sso`, token: acme.ownerToken })).status,
      409,
    )
    const events = await auditActions(t(), acme.orgId)
    assert.ok(events.some((e) => e.action === 'org.sso.enforcement' && e.details.ssoOnly === true))
  })
})
