import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { sql } from 'kysely'
import { forEachEngine } from '../helpers/db.ts'
import { auditActions, bootstrapProvider, createCustomerOrg, PASSWORD, useTestApp, type Org } from '../helpers/app.ts'
import { createCredential, getAssertion, type SoftPasskey } from '../helpers/webauthn.ts'

const ORIGIN = 'https://custodian.test'

forEachEngine('passkeys (issue 12)', (engine) => {
  const t = useTestApp(engine, {
    CUSTODIAN_PUBLIC_URL: ORIGIN,
    CUSTODIAN_AUTH_RATE_LIMIT: '1000',
    CUSTODIAN_LOGIN_FREE_FAILURES: '50',
  })
  let org: Org
  let other: Org
  const email = 'owner@passkeys.test'
  const post = (url: string, token: string | undefined, body?: unknown) =>
    t().request({ method: 'POST', url, token, ...(body === undefined ? {} : { body }) })

  async function register(token: string, name = 'laptop', overrides: { rpId?: string; origin?: string } = {}) {
    const options = await post('/v1/me/passkeys/registration/options', token)
    assert.equal(options.status, 200, options.text)
    const { passkey, response } = createCredential(options.body, overrides.origin ?? ORIGIN, overrides)
    const verified = await post('/v1/me/passkeys/registration/verify', token, { name, response })
    return { passkey, verified, options: options.body }
  }

  async function signIn(
    passkey: SoftPasskey,
    overrides: Parameters<typeof getAssertion>[3] & { origin?: string } = {},
  ) {
    const options = await post('/v1/login/passkey/options', undefined)
    assert.equal(options.status, 200, options.text)
    const response = getAssertion(passkey, options.body, overrides.origin ?? ORIGIN, overrides)
    return { response, answer: await post('/v1/login/passkey/verify', undefined, { response }) }
  }

  let laptop: SoftPasskey
  let laptopId = ''

  before(async () => {
    const provider = await bootstrapProvider(t())
    org = await createCustomerOrg(t(), provider, 'Passkey Org', email)
    other = await createCustomerOrg(t(), provider, 'Other Org', 'other@passkeys.test')
  })

  it('registers a passkey (RP ID and origin from the public URL), lists, renames it, all audited', async () => {
    const { passkey, verified, options } = await register(org.ownerToken)
    assert.equal(verified.status, 201, verified.text)
    assert.equal(options.rp.id, 'custodian.test')
    assert.equal(options.attestation, 'none')
    assert.notEqual(Buffer.from(options.user.id, 'base64url').toString('utf8'), email, 'the user handle is random')
    assert.equal(Buffer.from(options.user.id, 'base64url').length, 32)
    laptop = passkey
    laptopId = verified.body.id
    assert.equal(verified.body.name, 'laptop')
    const list = await t().request({ method: 'GET', url: '/v1/me/passkeys', token: org.ownerToken })
    assert.equal(list.status, 200)
    assert.deepEqual(
      list.body.passkeys.map((p: { id: string; transports: string[]; lastUsedAt: null }) => [
        p.id,
        p.transports,
        p.lastUsedAt,
      ]),
      [[laptopId, ['internal'], null]],
    )
    const renamed = await t().request({
      method: 'PATCH',
      url: `/v1/me/passkeys/${laptopId}`,
      token: org.ownerToken,
      body: { name: 'work laptop' },
    })
    assert.equal(renamed.status, 200, renamed.text)
    assert.equal(renamed.body.name, 'work laptop')
    const status = await t().request({ method: 'GET', url: '/v1/me/2fa', token: org.ownerToken })
    assert.equal(status.body.passkeys, 1)
    assert.equal(status.body.enrolled, true)
    const actions = (await auditActions(t(), org.orgId)).map((e) => e.action)
    assert.ok(actions.includes('mfa.passkey.register'))
    assert.ok(actions.includes('mfa.passkey.rename'))
  })

  it('refuses a registration from another origin or for another RP ID, and a replayed registration challenge', async () => {
    const wrongOrigin = await register(org.ownerToken, 'phone', { origin: 'https://evil.test' })
    assert.equal(wrongOrigin.verified.status, 400)
    assert.equal(wrongOrigin.verified.body.code, 'PASSKEY_INVALID')
    const wrongRp = await register(org.ownerToken, 'phone', { rpId: 'evil.test' })
    assert.equal(wrongRp.verified.status, 400)
    const options = await post('/v1/me/passkeys/registration/options', org.ownerToken)
    const { response } = createCredential(options.body, ORIGIN)
    assert.equal(
      (await post('/v1/me/passkeys/registration/verify', org.ownerToken, { name: 'a', response })).status,
      201,
    )
    const again = createCredential(options.body, ORIGIN)
    const replay = await post('/v1/me/passkeys/registration/verify', org.ownerToken, {
      name: 'b',
      response: again.response,
    })
    assert.equal(replay.status, 400, 'a registration challenge is single-use')
    const id = (await t().request({ method: 'GET', url: '/v1/me/passkeys', token: org.ownerToken })).body.passkeys[1].id
    assert.equal(
      (await t().request({ method: 'DELETE', url: `/v1/me/passkeys/${id}`, token: org.ownerToken })).status,
      204,
    )
  })

  it('signs in without a password: a working session, audited as auth.login with method passkey', async () => {
    const { answer } = await signIn(laptop)
    assert.equal(answer.status, 200, answer.text)
    assert.equal(answer.body.orgId, org.orgId)
    const cookie = answer.headers['set-cookie']
    const session = String(Array.isArray(cookie) ? cookie[0] : cookie).split(';')[0] as string
    const me = await t().request({ method: 'GET', url: '/v1/me', headers: { cookie: session } })
    assert.equal(me.status, 200, me.text)
    assert.equal(me.body.via, 'session')
    const row = await t()
      .db.kysely.selectFrom('sessions')
      .select('mfa_at')
      .where('user_id', '=', org.ownerId)
      .orderBy('created_at', 'desc')
      .executeTakeFirstOrThrow()
    assert.notEqual(row.mfa_at, null, 'a verified passkey is both factors')
    const events = await auditActions(t(), org.orgId)
    assert.ok(
      events.some((e) => e.action === 'auth.login' && e.outcome === 'success' && e.details.method === 'passkey'),
    )
  })

  it('answers passkey sign-in options the same whatever exists: no account named, empty allowCredentials', async () => {
    const a = (await post('/v1/login/passkey/options', undefined)).body
    const b = (await post('/v1/login/passkey/options', undefined)).body
    assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort())
    assert.deepEqual(a.allowCredentials, [])
    assert.equal(a.userVerification, 'required')
    assert.notEqual(a.challenge, b.challenge)
  })

  it('refuses a replayed assertion, a counter going backwards (audited), another origin or RP ID, no user verification', async () => {
    const { response } = await signIn(laptop)
    const replay = await post('/v1/login/passkey/verify', undefined, { response })
    assert.equal(replay.status, 401)
    assert.equal(replay.body.code, 'LOGIN_FAILED')
    const backwards = await signIn(laptop, { signCount: 1 })
    assert.equal(backwards.answer.status, 401)
    const events = await auditActions(t(), org.orgId)
    assert.ok(
      events.some(
        (e) => e.action === 'auth.login' && e.outcome === 'denied' && String(e.details.reason).includes('counter'),
      ),
    )
    laptop.signCount = 100
    assert.equal((await signIn(laptop, { origin: 'https://evil.test' })).answer.status, 401)
    assert.equal((await signIn(laptop, { rpId: 'evil.test' })).answer.status, 401)
    assert.equal((await signIn(laptop, { userVerified: false })).answer.status, 401, 'passwordless needs UV')
    assert.equal((await signIn(laptop)).answer.status, 200, 'the genuine authenticator still works')
  })

  it('counts a passkey as the second factor at password login', async () => {
    const login = (body: Record<string, unknown>) =>
      post('/v1/login', undefined, { email, password: PASSWORD, ...body })
    const missing = await login({})
    assert.equal(missing.status, 401)
    assert.equal(missing.body.code, 'MFA_REQUIRED')
    const options = (await post('/v1/login/passkey/options', undefined)).body
    const ok = await login({ passkey: getAssertion(laptop, options, ORIGIN, { userVerified: false }) })
    assert.equal(ok.status, 200, ok.text)
    const events = await auditActions(t(), org.orgId)
    assert.ok(events.some((e) => e.action === 'auth.login' && e.details.method === 'password+passkey'))
    // Another person's passkey is no second factor of this account.
    const theirs = await register(other.ownerToken, 'theirs')
    assert.equal(theirs.verified.status, 201)
    const options2 = (await post('/v1/login/passkey/options', undefined)).body
    const wrong = await login({ passkey: getAssertion(theirs.passkey, options2, ORIGIN) })
    assert.equal(wrong.status, 401)
    assert.equal(wrong.body.code, 'LOGIN_FAILED')
  })

  it('steps a session up with a passkey', async () => {
    const options = (await post('/v1/login/passkey/options', undefined)).body
    const login = await t().app.inject({
      method: 'POST',
      url: '/v1/login',
      payload: { email, password: PASSWORD, passkey: getAssertion(laptop, options, ORIGIN) },
    })
    assert.equal(login.statusCode, 200, login.body)
    const cookie = login.cookies.find((c) => c.name === '__Host-custodian_session')
    const headers = { cookie: `${cookie?.name}=${cookie?.value}`, 'x-csrf-token': JSON.parse(login.body).csrfToken }
    await sql`UPDATE sessions SET mfa_at = now() - interval '1 hour' WHERE user_id = ${org.ownerId}`.execute(
      t().db.kysely,
    )
    const stale = await t().request({ method: 'POST', url: '/v1/me/passkeys/registration/options', headers })
    assert.equal(stale.status, 403)
    assert.equal(stale.body.code, 'STEP_UP_REQUIRED')
    const stepOptions = await t().request({ method: 'POST', url: '/v1/me/step-up/passkey/options', headers })
    assert.equal(stepOptions.status, 200, stepOptions.text)
    assert.equal(stepOptions.body.allowCredentials.length, 1)
    const stepped = await t().request({
      method: 'POST',
      url: '/v1/me/step-up/passkey',
      headers,
      body: { response: getAssertion(laptop, stepOptions.body, ORIGIN) },
    })
    assert.equal(stepped.status, 200, stepped.text)
    const fresh = await t().request({ method: 'POST', url: '/v1/me/passkeys/registration/options', headers })
    assert.equal(fresh.status, 200, fresh.text)
    const events = await auditActions(t(), org.orgId)
    assert.ok(events.some((e) => e.action === 'mfa.step_up' && e.details.with === 'passkey'))
  })

  it('answers 404 for another person’s passkey and 401 without credentials', async () => {
    const theirs = (await t().request({ method: 'GET', url: '/v1/me/passkeys', token: other.ownerToken })).body
      .passkeys[0]
    for (const method of ['PATCH', 'DELETE']) {
      const answer = await t().request({
        method,
        url: `/v1/me/passkeys/${theirs.id}`,
        token: org.ownerToken,
        ...(method === 'PATCH' ? { body: { name: 'mine now' } } : {}),
      })
      assert.equal(answer.status, 404, `${method}: ${answer.text}`)
    }
    assert.equal((await t().request({ method: 'GET', url: '/v1/me/passkeys' })).status, 401)
  })

  it('refuses malformed (400) and oversized (413) bodies as problem+json', async () => {
    const bad = await post('/v1/login/passkey/verify', undefined, { response: { id: 'not base64url!' } })
    assert.equal(bad.status, 400)
    assert.match(String(bad.headers['content-type']), /problem\+json/)
    const huge = await t().request({
      method: 'POST',
      url: '/v1/login/passkey/verify',
      payload: JSON.stringify({ response: { id: 'a'.repeat(200_000) } }),
      headers: { 'content-type': 'application/json' },
    })
    assert.equal(huge.status, 413)
    assert.match(String(huge.headers['content-type']), /problem\+json/)
  })

  it('counts a passkey for "require 2FA", keeps the last second factor, and caps passkeys at 20 per person', async () => {
    const policy = await t().request({
      method: 'PUT',
      url: `/v1/orgs/${other.orgId}/security-policy`,
      token: other.ownerToken,
      body: { require2fa: true, stepUpMinutes: 10 },
    })
    assert.equal(policy.status, 200, policy.text)
    const orgRoute = await t().request({ method: 'GET', url: `/v1/orgs/${other.orgId}`, token: other.ownerToken })
    assert.equal(orgRoute.status, 200, 'a person with a passkey is enrolled')
    const theirs = (await t().request({ method: 'GET', url: '/v1/me/passkeys', token: other.ownerToken })).body
      .passkeys[0]
    const last = await t().request({ method: 'DELETE', url: `/v1/me/passkeys/${theirs.id}`, token: other.ownerToken })
    assert.equal(last.status, 409, last.text)
    for (let i = 0; i < 19; i++) {
      await sql`INSERT INTO user_passkeys (id, user_id, credential_id, public_key, device_type, backed_up, name)
        VALUES (gen_random_uuid(), ${other.ownerId}, ${Buffer.alloc(32, i + 1)}, ${Buffer.alloc(8)}, 'singleDevice', false, ${`k${i}`})`.execute(
        t().db.kysely,
      )
    }
    const full = await post('/v1/me/passkeys/registration/options', other.ownerToken)
    assert.equal(full.status, 409)
    const list = await t().request({ method: 'GET', url: '/v1/me/passkeys', token: other.ownerToken })
    assert.equal(list.body.passkeys.length, 20)
    assert.equal(
      (await t().request({ method: 'DELETE', url: `/v1/me/passkeys/${theirs.id}`, token: other.ownerToken })).status,
      204,
    )
  })

  it('keeps nothing secret in the passkey tables: public keys only, challenges hashed', async () => {
    const rows = await t().db.kysely.selectFrom('webauthn_challenges').select('challenge_hash').execute()
    for (const r of rows) assert.equal(r.challenge_hash.length, 32)
    const keys = await t()
      .db.kysely.selectFrom('user_passkeys')
      .select('public_key')
      .where('user_id', '=', org.ownerId)
      .execute()
    assert.ok(keys.length > 0)
  })
})
