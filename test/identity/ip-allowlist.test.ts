import assert from 'node:assert/strict'
import { before, describe, it } from 'node:test'
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

const OFFICE_V4 = '203.0.113.0/24'
const OFFICE_V6 = '2001:db8:abcd::/48'
const INSIDE = '203.0.113.10'
const OUTSIDE = '198.51.100.20'

/** Per-org IP allowlists (P2.9): API tokens, sessions, logins and invitations alike. */
forEachEngine('IP allowlists (P2.9)', (engine) => {
  const t = useTestApp(engine, { CUSTODIAN_AUTH_RATE_LIMIT: '1000' })
  let provider: Org
  let org: Org
  let other: Org
  let app: { token: string }
  const url = () => `/v1/orgs/${org.orgId}/ip-allowlist`
  const as = (remoteAddress: string, token = org.ownerToken) =>
    t().request({ method: 'GET', url: `/v1/orgs/${org.orgId}`, token, remoteAddress })
  const setList = (entries: { cidr: string; description?: string }[], remoteAddress: string, force?: boolean) =>
    t().request({
      method: 'PUT',
      url: url(),
      token: org.ownerToken,
      remoteAddress,
      body: { entries, ...(force === undefined ? {} : { force }) },
    })

  before(async () => {
    provider = await bootstrapProvider(t())
    org = await createCustomerOrg(t(), provider, 'Fenced', 'owner@fenced.test')
    other = await createCustomerOrg(t(), provider, 'Open', 'owner@open.test')
    app = await principalWithRole(t(), org, 'viewer')
  })

  it('refuses malformed ranges with the field named, changing nothing', async () => {
    const before = await fingerprint(t())
    const bad = await setList([{ cidr: OFFICE_V4 }, { cidr: '10.1.2.3/8' }, { cidr: 'intranet' }], INSIDE)
    assert.equal(bad.status, 400)
    assert.equal(bad.body.code, 'VALIDATION_FAILED')
    assert.deepEqual(
      bad.body.errors.map((e: { path: string }) => e.path),
      ['/body/entries/1/cidr', '/body/entries/2/cidr'],
    )
    assert.match(bad.body.errors[0].message, /10\.0\.0\.0\/8/)
    assert.equal(await fingerprint(t()), before)
    assert.deepEqual((await t().request({ method: 'GET', url: url(), token: org.ownerToken })).body.entries, [])
  })

  it('will not let an admin lock themselves out unless forced', async () => {
    const refused = await setList([{ cidr: OFFICE_V4 }], OUTSIDE)
    assert.equal(refused.status, 409)
    assert.equal(refused.body.code, 'ALLOWLIST_EXCLUDES_CALLER')
    assert.match(refused.body.detail, new RegExp(OUTSIDE.replace(/\./g, '\\.')))
    assert.deepEqual(
      (await t().request({ method: 'GET', url: url(), token: org.ownerToken })).body.entries,
      [],
      'nothing applied',
    )
  })

  it('admits IPv4 and IPv6 ranges and refuses every credential from elsewhere, audited', async () => {
    const set = await setList(
      [
        { cidr: OFFICE_V4, description: 'office' },
        { cidr: '2001:DB8:ABCD::/48', description: 'office v6' },
      ],
      INSIDE,
    )
    assert.equal(set.status, 200, set.text)
    assert.deepEqual(set.body.entries, [
      { cidr: OFFICE_V4, description: 'office' },
      { cidr: OFFICE_V6, description: 'office v6' },
    ])
    assert.equal(set.body.yourAddress, INSIDE)

    assert.equal((await as('203.0.113.250')).status, 200)
    assert.equal((await as('::ffff:203.0.113.7')).status, 200, 'IPv4 through an IPv6 socket')
    assert.equal((await as('2001:db8:abcd:42::9')).status, 200)
    for (const address of [OUTSIDE, '203.0.114.1', '2001:db8:abce::1', '127.0.0.1']) {
      const refused = await as(address)
      assert.equal(refused.status, 403, address)
      assert.equal(refused.body.code, 'IP_NOT_ALLOWED')
    }
    const serviceAccount = await as(OUTSIDE, app.token)
    assert.equal(serviceAccount.status, 403, 'service-account tokens too')
    assert.equal(
      (await t().request({ method: 'GET', url: '/v1/me', token: org.ownerToken, remoteAddress: OUTSIDE })).status,
      403,
      'even who-am-I',
    )

    const denied = (await auditActions(t(), org.orgId)).filter(
      (e) => e.action === 'access.denied' && e.details.code === 'IP_NOT_ALLOWED',
    )
    assert.ok(denied.length >= 6, `refusals audited in the org’s own log (${denied.length})`)
    const events = await t()
      .db.kysely.selectFrom('audit_events')
      .select(['ip', 'details'])
      .where('org_id', '=', org.orgId)
      .where('action', '=', 'access.denied')
      .execute()
    assert.ok(
      events.some((e) => e.ip === OUTSIDE),
      'with the refused address',
    )
    assert.ok(
      (await auditActions(t(), org.orgId)).some(
        (e) => e.action === 'org.ip_allowlist.update' && (e.details.ranges as string[]).includes(OFFICE_V6),
      ),
    )

    assert.equal(
      (
        await t().request({
          method: 'GET',
          url: `/v1/orgs/${other.orgId}`,
          token: other.ownerToken,
          remoteAddress: OUTSIDE,
        })
      ).status,
      200,
      'another org is unaffected',
    )
  })

  it('applies to password logins and their sessions, without counting a failure', async () => {
    const login = (remoteAddress: string, password = PASSWORD) =>
      t().app.inject({
        method: 'POST',
        url: '/v1/login',
        remoteAddress,
        payload: { email: 'owner@fenced.test', password },
      })
    const outside = await login(OUTSIDE)
    assert.equal(outside.statusCode, 403)
    assert.equal(JSON.parse(outside.body).code, 'IP_NOT_ALLOWED')
    const wrongPassword = await login(OUTSIDE, 'not the password at all')
    assert.equal(
      JSON.parse(wrongPassword.body).code,
      'IP_NOT_ALLOWED',
      'from outside, a password is neither confirmed nor refuted',
    )
    const counted = await t()
      .db.kysely.selectFrom('auth_throttle')
      .select('failures')
      .where('failures', '>', 0)
      .execute()
    assert.deepEqual(counted, [], 'an outsider’s attempts are not counted: nothing to slow the owner down')
    const denied = (await auditActions(t(), org.orgId)).filter(
      (e) => e.action === 'auth.login' && e.outcome === 'denied',
    )
    assert.equal(denied.length, 2)

    const inside = await login(INSIDE)
    assert.equal(inside.statusCode, 200)
    const cookie = inside.cookies.find((c) => c.name === '__Host-custodian_session')
    const headers = { cookie: `${cookie?.name}=${cookie?.value}` }
    assert.equal(
      (await t().request({ method: 'GET', url: `/v1/orgs/${org.orgId}`, headers, remoteAddress: INSIDE })).status,
      200,
    )
    const moved = await t().request({ method: 'GET', url: `/v1/orgs/${org.orgId}`, headers, remoteAddress: OUTSIDE })
    assert.equal(moved.status, 403, 'a session taken elsewhere is refused')
    assert.equal(moved.body.code, 'IP_NOT_ALLOWED')
  })

  it('applies to accepting an invitation', async () => {
    const invite = await t().request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/invitations`,
      token: org.ownerToken,
      remoteAddress: INSIDE,
      body: { email: 'new@fenced.test', role: 'viewer' },
    })
    assert.equal(invite.status, 201, invite.text)
    const before = await fingerprint(t())
    const outside = await t().request({
      method: 'POST',
      url: '/v1/invitations/accept',
      remoteAddress: OUTSIDE,
      body: { token: invite.body.token, password: PASSWORD },
    })
    assert.equal(outside.status, 403)
    assert.equal(outside.body.code, 'IP_NOT_ALLOWED')
    assert.equal(await fingerprint(t()), before)
    assert.ok(
      (await auditActions(t(), org.orgId)).some((e) => e.action === 'invitation.accept' && e.outcome === 'denied'),
    )
    assert.equal(
      (
        await t().request({
          method: 'POST',
          url: '/v1/invitations/accept',
          remoteAddress: INSIDE,
          body: { token: invite.body.token, password: PASSWORD },
        })
      ).status,
      201,
    )
  })

  it('can be forced to exclude the caller, and lifted with an empty list from inside', async () => {
    const forced = await setList([{ cidr: '192.0.2.0/24' }], INSIDE, true)
    assert.equal(forced.status, 200)
    assert.equal((await as(INSIDE)).status, 403, 'the caller is now outside')
    assert.ok(
      (await auditActions(t(), org.orgId)).some(
        (e) => e.action === 'org.ip_allowlist.update' && e.details.forced === true && e.details.callerAllowed === false,
      ),
    )
    assert.equal((await setList([], '192.0.2.9')).status, 200)
    assert.equal((await as(OUTSIDE)).status, 200, 'an empty list lifts the restriction')
  })
})

/** X-Forwarded-For counts only from configured proxies; otherwise the TCP peer is the client. */
async function fencedOrg(t: TestApp): Promise<Org> {
  const provider = await bootstrapProvider(t)
  const org = await createCustomerOrg(t, provider, 'Behind a proxy', 'owner@proxy.test')
  const set = await t.request({
    method: 'PUT',
    url: `/v1/orgs/${org.orgId}/ip-allowlist`,
    token: org.ownerToken,
    body: { entries: [{ cidr: OFFICE_V4 }], force: true },
  })
  assert.equal(set.status, 200, set.text)
  return org
}

describe('IP allowlists behind a trusted proxy (P2.9)', () => {
  const t = useTestApp('pglite', { CUSTODIAN_TRUSTED_PROXIES: '10.0.0.0/8, fd00::/8' })
  let org: Org
  before(async () => {
    org = await fencedOrg(t())
  })
  const get = (remoteAddress: string, forwardedFor: string) =>
    t().request({
      method: 'GET',
      url: `/v1/orgs/${org.orgId}`,
      token: org.ownerToken,
      remoteAddress,
      headers: { 'x-forwarded-for': forwardedFor },
    })

  it('takes the client from X-Forwarded-For when the peer is a trusted proxy', async () => {
    assert.equal((await get('10.1.2.3', INSIDE)).status, 200)
    assert.equal((await get('fd00::1', INSIDE)).status, 200)
    assert.equal((await get('10.1.2.3', OUTSIDE)).status, 403)
    assert.equal(
      (await get('10.1.2.3', `${OUTSIDE}, 10.9.9.9`)).status,
      403,
      'proxies in the chain are skipped, the client is the first untrusted hop',
    )
  })

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', async () => {
    const spoofed = await get(OUTSIDE, INSIDE)
    assert.equal(spoofed.status, 403)
    assert.equal((await get(INSIDE, OUTSIDE)).status, 200)
  })
})

describe('IP allowlists without a trusted proxy (P2.9)', () => {
  const t = useTestApp('pglite')
  let org: Org
  before(async () => {
    org = await fencedOrg(t())
  })

  it('never believes X-Forwarded-For', async () => {
    const spoofed = await t().request({
      method: 'GET',
      url: `/v1/orgs/${org.orgId}`,
      token: org.ownerToken,
      remoteAddress: OUTSIDE,
      headers: { 'x-forwarded-for': INSIDE },
    })
    assert.equal(spoofed.status, 403)
    assert.equal(spoofed.body.code, 'IP_NOT_ALLOWED')
  })
})
