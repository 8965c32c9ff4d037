import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import * as OTPAuth from 'otpauth'
import { sql } from 'kysely'
import { forEachEngine } from '../helpers/db.ts'
import {
  auditActions,
  bootstrapProvider,
  createCustomerOrg,
  PASSWORD,
  principalWithRole,
  useTestApp,
  type Org,
} from '../helpers/app.ts'

forEachEngine('TOTP two-factor authentication (P3.1)', (engine) => {
  const t = useTestApp(engine, { CUSTODIAN_AUTH_RATE_LIMIT: '1000', CUSTODIAN_LOGIN_FREE_FAILURES: '50' })
  let org: Org
  let secret = ''
  let recovery: string[] = []
  // The exact code that confirmed enrolment: replaying it must fail even if a 30-second
  // step has passed since (regenerating "the current code" then would give a new one).
  let confirmCode = ''
  const email = 'owner@mfa.test'
  const codeAt = (offsetSteps: number) =>
    new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' }).generate({
      timestamp: Date.now() + offsetSteps * 30_000,
    })
  const login = (code?: string) =>
    t().request({
      method: 'POST',
      url: '/v1/login',
      body: { email, password: PASSWORD, ...(code === undefined ? {} : { code }) },
    })
  const me = (path: string, body?: unknown) =>
    t().request({
      method: 'POST',
      url: `/v1/me/2fa${path}`,
      token: org.ownerToken,
      ...(body === undefined ? {} : { body }),
    })

  before(async () => {
    const provider = await bootstrapProvider(t())
    org = await createCustomerOrg(t(), provider, 'MFA Org', email)
  })

  it('enrols with an otpauth URI and QR code, confirmed by a first code, returning ten recovery codes', async () => {
    const begun = await me('/totp')
    assert.equal(begun.status, 200, begun.text)
    secret = begun.body.secret
    assert.match(begun.body.otpauthUri, /^otpauth:\/\/totp\/Custodian:owner%40mfa\.test\?.*secret=/)
    assert.match(begun.body.qrSvg, /^<svg/)
    const wrong = await me('/totp/confirm', { code: codeAt(0) === '000000' ? '111111' : '000000' })
    assert.equal(wrong.status, 400)
    assert.equal(wrong.body.code, 'MFA_CODE_INVALID')
    confirmCode = codeAt(0)
    const confirmed = await me('/totp/confirm', { code: confirmCode })
    assert.equal(confirmed.status, 200, confirmed.text)
    recovery = confirmed.body.recoveryCodes
    assert.equal(recovery.length, 10)
    assert.equal(new Set(recovery).size, 10)
    assert.deepEqual((await t().request({ method: 'GET', url: '/v1/me/2fa', token: org.ownerToken })).body, {
      enabled: true,
      pending: false,
      recoveryCodesLeft: 10,
      passkeys: 0,
      enrolled: true,
    })
  })

  it('keeps the seed only wrapped by the root key', async () => {
    const seedHex = Buffer.from(OTPAuth.Secret.fromBase32(secret).bytes).toString('hex')
    const tables = await sql<{
      tablename: string
    }>`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`.execute(t().db.kysely)
    for (const { tablename } of tables.rows) {
      const hit = await sql<{
        n: number
      }>`SELECT count(*)::int AS n FROM ${sql.table(tablename)} AS t WHERE t::text ILIKE ${`%${seedHex}%`} OR t::text LIKE ${`%${secret}%`}`.execute(
        t().db.kysely,
      )
      assert.equal(hit.rows[0]?.n, 0, `seed found in ${tablename}`)
    }
  })

  it('asks for the second factor at login, refuses a used code and one from the wrong window, accepts a fresh one once', async () => {
    const missing = await login()
    assert.equal(missing.status, 401)
    assert.equal(missing.body.code, 'MFA_REQUIRED')
    const replayed = await login(confirmCode)
    assert.equal(replayed.status, 401, 'the code used to confirm is spent')
    assert.equal(replayed.body.code, 'LOGIN_FAILED')
    const tooFar = await login(codeAt(3))
    assert.equal(tooFar.status, 401, 'a code three steps ahead is outside the ±1 window')
    const fresh = codeAt(1)
    const ok = await login(fresh)
    assert.equal(ok.status, 200, ok.text)
    assert.equal((await login(fresh)).status, 401, 'a code is accepted at most once')
    const events = await auditActions(t(), org.orgId)
    assert.ok(
      events.some(
        (e) =>
          e.action === 'auth.login' &&
          e.outcome === 'success' &&
          (e.details as { method?: string }).method === 'password+totp',
      ),
    )
    assert.ok(events.filter((e) => e.action === 'auth.login' && e.outcome === 'denied').length >= 3)
  })

  it('accepts each recovery code once, and turns 2FA off only with a valid code', async () => {
    const first = recovery[0] as string
    assert.equal((await login(first.toLowerCase())).status, 200, 'recovery codes are case-insensitive')
    assert.equal((await login(first)).status, 401, 'a recovery code works once')
    assert.equal((await me('/totp/disable', { code: '123456' })).status, 400)
    assert.equal((await me('/totp/disable', { code: recovery[1] as string })).status, 204)
    assert.equal((await login()).status, 200, 'password alone works again')
    const rows = await t().db.kysely.selectFrom('user_secrets').selectAll().where('user_id', '=', org.ownerId).execute()
    assert.equal(rows.length, 0, 'the seed is deleted')
    const actions = (await auditActions(t(), org.orgId)).map((e) => e.action)
    for (const action of ['mfa.totp.enrol', 'mfa.totp.enable', 'mfa.totp.disable'])
      assert.ok(actions.includes(action), action)
  })

  it('is for people only', async () => {
    const sa = await principalWithRole(t(), org, 'admin')
    const refused = await t().request({ method: 'POST', url: '/v1/me/2fa/totp', token: sa.token })
    assert.equal(refused.status, 403)
  })
})

forEachEngine('mandatory 2FA and step-up (P3.2)', (engine) => {
  const t = useTestApp(engine, { CUSTODIAN_AUTH_RATE_LIMIT: '1000', CUSTODIAN_LOGIN_FREE_FAILURES: '50' })
  let org: Org
  const email = 'owner@policy.test'

  async function enrol(token: string): Promise<{ code: (offset: number) => string }> {
    const begun = await t().request({ method: 'POST', url: '/v1/me/2fa/totp', token })
    const totp = new OTPAuth.TOTP({
      secret: OTPAuth.Secret.fromBase32(begun.body.secret),
      digits: 6,
      period: 30,
      algorithm: 'SHA1',
    })
    const code = (offset: number) => totp.generate({ timestamp: Date.now() + offset * 30_000 })
    assert.equal(
      (await t().request({ method: 'POST', url: '/v1/me/2fa/totp/confirm', token, body: { code: code(-1) } })).status,
      200,
    )
    return { code }
  }

  before(async () => {
    const provider = await bootstrapProvider(t())
    org = await createCustomerOrg(t(), provider, 'Policy Org', email)
  })

  it('lets a member without 2FA only enrol once the org requires it; service accounts are unaffected', async () => {
    const sa = await principalWithRole(t(), org, 'admin')
    const set = await t().request({
      method: 'PUT',
      url: `/v1/orgs/${org.orgId}/security-policy`,
      token: org.ownerToken,
      body: { require2fa: true, stepUpMinutes: 10 },
    })
    assert.equal(set.status, 200, set.text)
    const blocked = await t().request({ method: 'GET', url: `/v1/orgs/${org.orgId}/members`, token: org.ownerToken })
    assert.equal(blocked.status, 403)
    assert.equal(blocked.body.code, 'MFA_ENROLMENT_REQUIRED')
    assert.equal(
      (await t().request({ method: 'GET', url: '/v1/me', token: org.ownerToken })).status,
      200,
      'enrolment routes stay open',
    )
    assert.equal(
      (await t().request({ method: 'GET', url: `/v1/orgs/${org.orgId}/members`, token: sa.token })).status,
      200,
    )
    await enrol(org.ownerToken)
    assert.equal(
      (await t().request({ method: 'GET', url: `/v1/orgs/${org.orgId}/members`, token: org.ownerToken })).status,
      200,
    )
  })

  it('asks a session for a recent second factor before a sensitive action (step-up)', async () => {
    const secret = (
      await t().request({
        method: 'POST',
        url: `/v1/orgs/${org.orgId}/secrets`,
        token: org.ownerToken,
        body: { name: 'guarded', type: 'api_key', value: 'guarded-value' },
      })
    ).body
    // A member who enrols (the org requires it) and then signs in with a code.
    const invite = await t().request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/invitations`,
      token: org.ownerToken,
      body: { email: 'stepup@policy.test', role: 'admin' },
    })
    const joined = await t().request({
      method: 'POST',
      url: '/v1/invitations/accept',
      body: { token: invite.body.token, password: PASSWORD },
    })
    const { code } = await enrol(joined.body.apiToken)
    const login = await t().app.inject({
      method: 'POST',
      url: '/v1/login',
      payload: { email: 'stepup@policy.test', password: PASSWORD, code: code(0) },
    })
    assert.equal(login.statusCode, 200, login.body)
    const cookie = login.cookies.find((c) => c.name === '__Host-custodian_session')
    const headers = { cookie: `${cookie?.name}=${cookie?.value}`, 'x-csrf-token': JSON.parse(login.body).csrfToken }
    const reveal = () =>
      t().request({
        method: 'POST',
        url: `/v1/orgs/${org.orgId}/secrets/${secret.id}/reveal`,
        headers,
        body: { reason: 'step-up test' },
      })

    assert.equal((await reveal()).status, 200, 'the login itself was a second factor')
    await sql`UPDATE sessions SET mfa_at = now() - interval '11 minutes' WHERE user_id = ${joined.body.userId}`.execute(
      t().db.kysely,
    )
    const stale = await reveal()
    assert.equal(stale.status, 403)
    assert.equal(stale.body.code, 'STEP_UP_REQUIRED')
    assert.equal(
      (await t().request({ method: 'GET', url: `/v1/orgs/${org.orgId}/secrets`, headers })).status,
      200,
      'non-sensitive routes need no step-up',
    )
    const wrong = await t().request({ method: 'POST', url: '/v1/me/step-up', headers, body: { code: '000000' } })
    assert.equal(wrong.status, 400)
    const stepped = await t().request({ method: 'POST', url: '/v1/me/step-up', headers, body: { code: code(1) } })
    assert.equal(stepped.status, 200, stepped.text)
    assert.equal((await reveal()).status, 200)
    const actions = (await auditActions(t(), org.orgId)).filter((e) => e.action === 'mfa.step_up').map((e) => e.outcome)
    assert.deepEqual(actions, ['denied', 'success'])
  })
})
