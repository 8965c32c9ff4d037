import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import * as OTPAuth from 'otpauth'
import { sql } from 'kysely'
import { forEachEngine } from '../helpers/db.ts'
import { auditActions, bootstrapProvider, createCustomerOrg, PASSWORD, principalWithRole, useTestApp, type Org } from '../helpers/app.ts'

forEachEngine('TOTP two-factor authentication (P3.1)', (engine) => {
  const t = useTestApp(engine, { CUSTODIAN_AUTH_RATE_LIMIT: '1000', CUSTODIAN_MAX_FAILED_LOGINS: '50' })
  let org: Org
  let secret = ''
  let recovery: string[] = []
  const email = 'owner@mfa.test'
  const codeAt = (offsetSteps: number) => new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' }).generate({ timestamp: Date.now() + offsetSteps * 30_000 })
  const login = (code?: string) => t().request({ method: 'POST', url: '/v1/login', body: { email, password: PASSWORD, ...(code === undefined ? {} : { code }) } })
  const me = (path: string, body?: unknown) => t().request({ method: 'POST', url: `/v1/me/2fa${path}`, token: org.ownerToken, ...(body === undefined ? {} : { body }) })

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
    const confirmed = await me('/totp/confirm', { code: codeAt(0) })
    assert.equal(confirmed.status, 200, confirmed.text)
    recovery = confirmed.body.recoveryCodes
    assert.equal(recovery.length, 10)
    assert.equal(new Set(recovery).size, 10)
    assert.deepEqual((await t().request({ method: 'GET', url: '/v1/me/2fa', token: org.ownerToken })).body, { enabled: true, pending: false, recoveryCodesLeft: 10 })
  })

  it('keeps the seed only wrapped by the root key', async () => {
    const seedHex = Buffer.from(OTPAuth.Secret.fromBase32(secret).bytes).toString('hex')
    const tables = await sql<{ tablename: string }>`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`.execute(t().db.kysely)
    for (const { tablename } of tables.rows) {
      const hit = await sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql.table(tablename)} AS t WHERE t::text ILIKE ${`%${seedHex}%`} OR t::text LIKE ${`%${secret}%`}`.execute(t().db.kysely)
      assert.equal(hit.rows[0]?.n, 0, `seed found in ${tablename}`)
    }
  })

  it('asks for the second factor at login, refuses a used code and one from the wrong window, accepts a fresh one once', async () => {
    const missing = await login()
    assert.equal(missing.status, 401)
    assert.equal(missing.body.code, 'MFA_REQUIRED')
    const replayed = await login(codeAt(0))
    assert.equal(replayed.status, 401, 'the code used to confirm is spent')
    assert.equal(replayed.body.code, 'LOGIN_FAILED')
    const tooFar = await login(codeAt(3))
    assert.equal(tooFar.status, 401, 'a code three steps ahead is outside the ±1 window')
    const fresh = codeAt(1)
    const ok = await login(fresh)
    assert.equal(ok.status, 200, ok.text)
    assert.equal((await login(fresh)).status, 401, 'a code is accepted at most once')
    const events = await auditActions(t(), org.orgId)
    assert.ok(events.some((e) => e.action === 'auth.login' && e.outcome === 'success' && (e.details as { method?: string }).method === 'password+totp'))
    assert.ok(events.filter((e) => e.action === 'auth.login' && e.outcome === 'denied').length >= 3)
  })

  it('accepts each recovery code once, and turns 2FA off only with a valid code', async () => {
    const first = recovery[0] as string
    assert.equal((await login(first.toLowerCase())).status, 200, 'recovery codes are case-insensitive')
    assert.equal((await login(first)).status, 401, 'a recovery code works once')
    assert.equal((await me('/totp/disable', { code: '123456' })).status, 400)
    assert.equal((await me('/totp/disable', { code: recovery[1] as string })).status, 204)
    assert.equal((await login()).status, 200, 'password alone works again')
    const rows = await t().db.kysely.selectFrom('user_secrets').selectAll().execute()
    assert.equal(rows.length, 0, 'the seed is deleted')
    const actions = (await auditActions(t(), org.orgId)).map((e) => e.action)
    for (const action of ['mfa.totp.enrol', 'mfa.totp.enable', 'mfa.totp.disable']) assert.ok(actions.includes(action), action)
  })

  it('is for people only', async () => {
    const sa = await principalWithRole(t(), org, 'admin')
    const refused = await t().request({ method: 'POST', url: '/v1/me/2fa/totp', token: sa.token })
    assert.equal(refused.status, 403)
  })
})
