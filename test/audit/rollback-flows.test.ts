import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, it } from 'node:test'
import { hashSecret, issueToken } from '../../src/crypto/tokens.ts'
import { SSO_COOKIE } from '../../src/modules/identity/sso.routes.ts'
import { PAGE_COOKIE } from '../../src/modules/consent/page/page.routes.ts'
import { appendEvents } from '../helpers/audit-chain.ts'
import {
  auditActions,
  bootstrapProvider,
  createCustomerOrg,
  fingerprint,
  PASSWORD,
  startTestApp,
  type Org,
  type TestApp,
  type TestResponse,
} from '../helpers/app.ts'
import { createTestDatabase, forEachEngine, type TestDatabase } from '../helpers/db.ts'
import { snapshotDatabase } from '../helpers/snapshot.ts'
import { createCredential, getAssertion, type SoftPasskey } from '../helpers/webauthn.ts'

/**
 * P8.1, attack finding (HIGH): a rolled-back org must not be served through the flows that
 * find their org themselves — not from the URL's `{orgId}` but from an account (a sign-in,
 * a passkey), a body (`orgId`), an invitation, an SSO state, a consent page link or its
 * session, a recipient's acknowledgement token, a viewer token, or the provider org's public
 * pages. Before the fix, a member removed after the backup signed in again with the restored
 * membership and password, an invitation revoked after the backup created a user and a
 * token, and a consent link opened a page of the restored org.
 *
 * The rollback is made as in rollback.test.ts: a backup, changes after it (seen by the
 * witness file), the backup restored. Acme and the provider org are rolled back; Globex is
 * not. Then a sweep: every route that does not name `{orgId}` either refuses a refused
 * org's caller with 503 ORG_ROLLED_BACK, changing nothing, or is listed below as touching no
 * org's data, with the reason.
 */

const ORIGIN = 'https://custodian.test'

/** Chains what was written and delivers every checkpoint to the witnesses (until nothing is due). */
async function settle(t: TestApp): Promise<void> {
  await t.app.sequencer.flush()
  for (let pass = 0; pass < 100; pass++) if ((await t.app.auditWitnesses.deliverDue()) === 0) return
  throw new Error('witness deliveries did not settle')
}

/**
 * Routes without `{orgId}` that serve no org's data, each with why. A route missing from
 * here and from the sweep's requests must refuse a refused org's caller: a route added later
 * without that decision fails the sweep.
 */
const TOUCHES_NO_ORG: Record<string, string> = {
  'GET /healthz': 'process liveness: no org',
  'GET /readyz': 'process readiness (database reachable, keys loaded): no org',
  'GET /openapi.json': 'the API description, the same for everyone',
  'GET /console': 'the console’s static files; everything it shows comes from the API',
  'GET /console*': 'the console’s static files; everything it shows comes from the API',
  'GET /embed/audit-log.js': 'the embedded viewer’s static script; its data comes from /v1/viewer/… (swept)',
  'GET /.well-known/gpc.json': 'a constant statement that this origin honours Global Privacy Control',
  'GET /consent/page/style.css': 'a static stylesheet',
  'GET /report/style.css': 'a static stylesheet',
  'GET /v1/audit/keys': 'public keys of the signing key, from configuration, not from any org’s database',
  'GET /v1/vulnerability-reports/policy': 'the disclosure policy, rendered from configuration',
  'POST /v1/bootstrap': 'creates the first (provider) org with a one-time token; no org exists before it',
  'POST /v1/login/passkey/options': 'a WebAuthn challenge bound to no account and no org',
  'GET /v1/vault/status': 'whether this process’s root key is sealed: no org',
  'POST /v1/vault/unseal':
    'a share of this process’s root key (Shamir): no org, and unsealing may be needed before an acknowledgement',
}

interface OpenApi {
  paths: Record<string, Record<string, unknown>>
}

/**
 * Every registered route (method, URL), from Fastify's own route table (its tree as
 * `printRoutes` draws it: each line a segment under the one it is indented under); HEAD and
 * OPTIONS left out. The sweep checks it against /openapi.json, so a misread fails loudly.
 */
function routesOf(t: TestApp): { method: string; url: string }[] {
  const out: { method: string; url: string }[] = []
  const stack: { column: number; segment: string }[] = []
  for (const line of t.app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^(.*?── )(.*?)(?: \(([A-Z, ]+)\))?$/.exec(line)
    if (match === null) continue
    const column = (match[1] ?? '').length
    while (stack.length > 0 && (stack.at(-1)?.column ?? 0) >= column) stack.pop()
    stack.push({ column, segment: match[2] ?? '' })
    const url = stack.map((s) => s.segment).join('')
    for (const method of (match[3] ?? '').split(', '))
      if (method !== '' && !['HEAD', 'OPTIONS'].includes(method)) out.push({ method, url })
  }
  return out
}

forEachEngine('rollback: flows that find their org themselves (P8.1)', (engine) => {
  const rootKey = randomBytes(32)
  const dir = mkdtempSync(path.join(tmpdir(), 'custodian-rollback-flows-'))
  const env = {
    CUSTODIAN_AUDIT_WITNESS_FILE: path.join(dir, 'witness.notes'),
    CUSTODIAN_AUDIT_CHECKPOINT_EVERY: '1',
    CUSTODIAN_PUBLIC_URL: ORIGIN,
    CUSTODIAN_AUTH_RATE_LIMIT: '1000',
  }
  let original: TestDatabase
  let restoredDb: TestDatabase
  let restored: TestApp
  let provider: Org
  let acme: Org
  let globex: Org
  const leaver = { email: 'leaver@acme-flows.test', id: '', passkey: undefined as SoftPasskey | undefined }
  const both = { email: 'both@flows.test', id: '' }
  /** A member of two orgs that are both rolled back. */
  const twice = 'twice@flows.test'
  let revokedInvitation: string
  let unopenedLink: string
  let pageCookie: string
  let ackToken: string
  let viewerToken: string
  const sso = { state: randomBytes(24).toString('base64url'), binding: randomBytes(24).toString('base64url') }
  const opened: TestApp[] = []
  const open = async (db: TestDatabase) => {
    const app = await startTestApp(engine, db, env, undefined, undefined, undefined, rootKey)
    opened.push(app)
    return app
  }

  const invite = async (t: TestApp, org: Org, email: string) => {
    const invited = await t.request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/invitations`,
      token: org.ownerToken,
      body: { email, role: 'viewer' },
    })
    assert.equal(invited.status, 201, invited.text)
    return invited.body as { id: string; token: string }
  }

  before(async () => {
    original = await createTestDatabase(engine)
    const live = await open(original)
    provider = await bootstrapProvider(live)
    acme = await createCustomerOrg(live, provider, 'Acme', 'owner@acme-flows.test')
    globex = await createCustomerOrg(live, provider, 'Globex', 'owner@globex-flows.test')

    // A member of Acme only, with a passkey; a member of Acme and Globex.
    const joined = await live.request({
      method: 'POST',
      url: '/v1/invitations/accept',
      body: { token: (await invite(live, acme, leaver.email)).token, password: PASSWORD },
    })
    assert.equal(joined.status, 201, joined.text)
    leaver.id = joined.body.userId
    const options = await live.request({
      method: 'POST',
      url: '/v1/me/passkeys/registration/options',
      token: joined.body.apiToken,
      body: {},
    })
    assert.equal(options.status, 200, options.text)
    const created = createCredential(options.body, ORIGIN)
    const registered = await live.request({
      method: 'POST',
      url: '/v1/me/passkeys/registration/verify',
      token: joined.body.apiToken,
      body: { name: 'laptop', response: created.response },
    })
    assert.equal(registered.status, 201, registered.text)
    leaver.passkey = created.passkey
    for (const org of [acme, globex]) {
      const accepted = await live.request({
        method: 'POST',
        url: '/v1/invitations/accept',
        body: { token: (await invite(live, org, both.email)).token, password: PASSWORD },
      })
      assert.equal(accepted.status, 201, accepted.text)
      both.id = accepted.body.userId
    }

    for (const org of [acme, provider]) {
      const accepted = await live.request({
        method: 'POST',
        url: '/v1/invitations/accept',
        body: { token: (await invite(live, org, twice)).token, password: PASSWORD },
      })
      assert.equal(accepted.status, 201, accepted.text)
    }

    // Acme's credentials of the public flows, all valid at the backup.
    revokedInvitation = (await invite(live, acme, 'late@acme-flows.test')).token
    const mint = async () => {
      const minted = await live.request({
        method: 'POST',
        url: `/v1/orgs/${acme.orgId}/consent/page-links`,
        token: acme.ownerToken,
        body: { subject: 'user-42' },
      })
      assert.equal(minted.status, 201, minted.text)
      return new URL(minted.body.url as string).searchParams.get('link') as string
    }
    unopenedLink = await mint()
    const first = await live.request({ method: 'GET', url: `/consent/page?link=${await mint()}` })
    assert.equal(first.status, 303, first.text)
    pageCookie = /__Host-custodian_consent_page=([^;]+)/.exec(String(first.headers['set-cookie']))?.[1] ?? ''
    assert.notEqual(pageCookie, '')
    // A message to a recipient awaiting its acknowledgement (as the propagation writes one).
    const ack = issueToken('cst_cpa')
    const recipientId = randomUUID()
    await live.db.kysely
      .insertInto('consent_recipients')
      .values({
        id: recipientId,
        org_id: acme.orgId,
        name: 'mailer',
        url: 'https://mailer.example/consent',
        secret_id: randomUUID(),
        previous_secret_version: null,
        previous_secret_until: null,
        public_key: null,
        deadline_hours: 72,
        created_at: new Date(),
        created_by: 'test',
        updated_at: new Date(),
      })
      .execute()
    await live.db.kysely
      .insertInto('consent_propagations')
      .values({
        id: ack.id,
        org_id: acme.orgId,
        recipient_id: recipientId,
        recipient_name: 'mailer',
        action: 'withdraw',
        purposes: ['newsletter'],
        request_id: null,
        token_hash: ack.secretHash,
        deadline_at: new Date(Date.now() + 86_400_000),
        created_at: new Date(),
        acknowledged_at: null,
        overdue_alerted_at: null,
      })
      .execute()
    ackToken = ack.token
    const viewer = await live.request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/audit/viewer-tokens`,
      token: acme.ownerToken,
      body: { origin: ORIGIN },
    })
    assert.equal(viewer.status, 201, viewer.text)
    viewerToken = viewer.body.token
    // A sign-in by single sign-on under way (its state, as /v1/sso/{orgId}/start keeps it).
    await live.db.kysely
      .insertInto('sso_login_states')
      .values({
        state_hash: hashSecret(sso.state),
        org_id: acme.orgId,
        binding_hash: hashSecret(sso.binding),
        expires_at: new Date(Date.now() + 600_000),
        return_to: null,
      })
      .execute()
    await settle(live)

    const restore = await snapshotDatabase(original, dir)

    // After the backup: the leaver is removed from Acme and the invitation revoked; the
    // provider's log grows too (its public pages are then refused with it).
    const removed = await live.request({
      method: 'DELETE',
      url: `/v1/orgs/${acme.orgId}/members/${leaver.id}`,
      token: acme.ownerToken,
    })
    assert.equal(removed.status, 200, removed.text)
    await appendEvents(live, acme.orgId, 1, 'test.after_backup')
    await appendEvents(live, provider.orgId, 2, 'test.after_backup')
    await settle(live)
    await live.app.close()

    restoredDb = await restore()
    restored = await open(restoredDb)
    assert.equal(restored.app.rollback.refusal(acme.orgId), 'ORG_ROLLED_BACK')
    assert.equal(restored.app.rollback.refusal(provider.orgId), 'ORG_ROLLED_BACK')
    assert.equal(restored.app.rollback.refusal(globex.orgId), undefined)
  })

  after(async () => {
    for (const app of opened) await app.app.close().catch(() => undefined)
    await restoredDb?.close()
    await original?.close()
  })

  const assertRefused = (response: TestResponse, what: string) => {
    assert.equal(response.status, 503, `${what}: ${response.text}`)
    if (String(response.headers['content-type']).startsWith('application/problem+json'))
      assert.equal(response.body.code, 'ORG_ROLLED_BACK', what)
    assert.doesNotMatch(
      String(response.headers['set-cookie'] ?? ''),
      /(custodian_session|custodian_consent_page)=[^;]/,
      `${what}: no session`,
    )
  }

  /** What must not change: every table the fingerprint covers, and the refused orgs' logs. */
  const state = async () => ({
    tables: await fingerprint(restored),
    acme: (await auditActions(restored, acme.orgId)).length,
    provider: (await auditActions(restored, provider.orgId)).length,
    acks: JSON.stringify(await restored.db.kysely.selectFrom('consent_propagations').selectAll().execute()),
  })

  it('P8.1: a member removed after the backup cannot sign in to the rolled-back org with the restored password — with or without orgId, right or wrong password alike (the credential is not checked)', async () => {
    const before = await state()
    const sessions = () =>
      restored.db.kysely.selectFrom('sessions').select('id').where('user_id', '=', leaver.id).execute()
    const count = (await sessions()).length
    for (const body of [
      { email: leaver.email, password: PASSWORD },
      { email: leaver.email, password: PASSWORD, orgId: acme.orgId },
      { email: leaver.email, password: 'wrong password entirely' },
      // A requested org is refused whoever asks: the answer tells nothing about the account.
      { email: 'nobody@flows.test', password: PASSWORD, orgId: acme.orgId },
      // Every org of the account refused, none named: no copy of the password is checked either.
      { email: twice, password: PASSWORD },
      { email: twice, password: 'wrong password entirely' },
    ]) {
      const response = await restored.request({ method: 'POST', url: '/v1/login', body })
      assertRefused(response, JSON.stringify(body))
    }
    assert.equal((await sessions()).length, count, 'no session created')
    assert.deepEqual(await state(), before, 'nothing changed, not even a refusal written in the refused org')
  })

  it('P8.1: nor with the restored passkey (passwordless sign-in)', async () => {
    const before = await state()
    for (const orgId of [undefined, acme.orgId]) {
      const options = await restored.request({ method: 'POST', url: '/v1/login/passkey/options', body: {} })
      assert.equal(options.status, 200, options.text)
      const response = getAssertion(leaver.passkey as SoftPasskey, options.body, ORIGIN)
      const answer = await restored.request({
        method: 'POST',
        url: '/v1/login/passkey/verify',
        body: { response, ...(orgId === undefined ? {} : { orgId }) },
      })
      assertRefused(answer, `passkey sign-in, orgId ${String(orgId)}`)
    }
    assert.deepEqual(await state(), before)
  })

  it('P8.1: a member of a refused and a healthy org signs in to the healthy one only, and that session reaches nothing of the refused org', async () => {
    const refused = await restored.request({
      method: 'POST',
      url: '/v1/login',
      body: { email: both.email, password: PASSWORD, orgId: acme.orgId },
    })
    assertRefused(refused, 'sign-in to the refused org')
    const signedIn = await restored.request({
      method: 'POST',
      url: '/v1/login',
      body: { email: both.email, password: PASSWORD, orgId: globex.orgId },
    })
    assert.equal(signedIn.status, 200, signedIn.text)
    assert.equal(signedIn.body.orgId, globex.orgId)
    const cookie = /__Host-custodian_session=([^;]+)/.exec(String(signedIn.headers['set-cookie']))?.[1] ?? ''
    const as = (url: string) =>
      restored.request({ method: 'GET', url, headers: { cookie: `__Host-custodian_session=${cookie}` } })
    assert.equal((await as('/v1/me')).body.orgId, globex.orgId)
    assertRefused(await as(`/v1/orgs/${acme.orgId}/members`), 'the refused org’s members by the healthy session')
    assert.equal((await as(`/v1/orgs/${globex.orgId}/members`)).status, 200)
  })

  it('P8.1: an invitation revoked after the backup creates no user and no token in the rolled-back org', async () => {
    const before = await state()
    const response = await restored.request({
      method: 'POST',
      url: '/v1/invitations/accept',
      body: { token: revokedInvitation, password: PASSWORD },
    })
    assertRefused(response, 'invitation')
    assert.deepEqual(await state(), before)
  })

  it('P8.1: a consent page link, and a page session opened before, open nothing of the rolled-back org: a 503 page that tells nothing of it', async () => {
    const before = await state()
    const cookie = { cookie: `${PAGE_COOKIE}=${pageCookie}` }
    const form = { 'content-type': 'application/x-www-form-urlencoded', ...cookie }
    const cases: [string, Parameters<TestApp['request']>[0]][] = [
      ['link', { method: 'GET', url: `/consent/page?link=${unopenedLink}` }],
      ['page', { method: 'GET', url: '/consent/page', headers: cookie }],
      [
        'grant',
        { method: 'POST', url: '/consent/page/grant', headers: form, payload: 'csrf=x&purpose=p&noticeVersion=1' },
      ],
      ['withdraw', { method: 'POST', url: '/consent/page/withdraw', headers: form, payload: 'csrf=x&purpose=p' }],
      ['object', { method: 'POST', url: '/consent/page/object', headers: form, payload: 'csrf=x&purpose=p' }],
      ['receipt', { method: 'GET', url: `/consent/page/receipts/${randomUUID()}`, headers: cookie }],
    ]
    for (const [what, request] of cases) {
      const response = await restored.request(request)
      assertRefused(response, what)
      if (what !== 'receipt') {
        assert.match(String(response.headers['content-type']), /^text\/html/, what)
        assert.doesNotMatch(response.text, /Acme|user-42/, `${what}: nothing of the org`)
      }
    }
    assert.deepEqual(await state(), before)
  })

  it('P8.1: a recipient’s acknowledgement, an SSO callback and a viewer token of the rolled-back org are refused', async () => {
    const before = await state()
    assertRefused(
      await restored.request({ method: 'POST', url: '/v1/consent/acknowledgements', body: { token: ackToken } }),
      'acknowledgement',
    )
    assertRefused(
      await restored.request({
        method: 'GET',
        url: `/v1/sso/callback?state=${sso.state}&code=abc`,
        headers: { cookie: `${SSO_COOKIE}=${sso.binding}` },
      }),
      'SSO callback',
    )
    assertRefused(
      await restored.request({
        method: 'GET',
        url: '/v1/viewer/events',
        token: viewerToken,
        headers: { origin: ORIGIN },
      }),
      'viewer',
    )
    assert.deepEqual(await state(), before, 'the acknowledgement is still due, the SSO state unused')
  })

  it('P8.1: the provider org rolled back: its vulnerability-report intake and the reporter’s status are refused with its pages', async () => {
    const before = await state()
    for (const [method, url] of [
      ['POST', '/v1/vulnerability-reports'],
      ['GET', '/v1/vulnerability-reports/status'],
      ['POST', '/v1/vulnerability-reports/status/messages'],
      ['GET', '/report'],
      ['POST', '/report'],
      ['GET', '/trust'],
    ] as const) {
      const response = await restored.request({
        method,
        url,
        token: 'cst_vrs_0123',
        ...(method === 'POST' ? { body: { title: 'x', description: 'y', message: 'z' } } : {}),
      })
      assertRefused(response, `${method} ${url}`)
    }
    assert.deepEqual(await state(), before)
  })

  it('P8.1 sweep: every route without {orgId} refuses a refused org’s caller (503 ORG_ROLLED_BACK) and changes nothing, unless it is listed as touching no org', async () => {
    const doc = (await restored.request({ method: 'GET', url: '/openapi.json' })).body as unknown as OpenApi
    const documented = Object.entries(doc.paths).flatMap(([template, methods]) =>
      Object.keys(methods).map((m) => `${m.toUpperCase()} ${template.replace(/\{([^}]+)\}/g, ':$1')}`),
    )
    const routes = routesOf(restored).filter((r) => !r.url.includes(':orgId'))
    const keys = new Set(routes.map((r) => `${r.method} ${r.url}`))
    for (const key of documented)
      if (!key.includes(':orgId')) assert.ok(keys.has(key), `${key} from /openapi.json is in the route table`)
    for (const key of Object.keys(TOUCHES_NO_ORG))
      assert.ok(
        keys.has(key),
        `${key} is listed as touching no org but is not a route: remove it from the list (${[...keys].join(' | ')})`,
      )

    const pageCookieHeader = { cookie: `${PAGE_COOKIE}=${pageCookie}` }
    // The refused org's own credential of each public flow; every other route gets Acme's owner token.
    const credentials: Record<string, Parameters<TestApp['request']>[0]> = {
      'POST /v1/login': { method: 'POST', url: '/v1/login', body: { email: leaver.email, password: PASSWORD } },
      'POST /v1/login/passkey/verify': {
        method: 'POST',
        url: '/v1/login/passkey/verify',
        body: { response: {}, orgId: acme.orgId },
      },
      'POST /v1/invitations/accept': {
        method: 'POST',
        url: '/v1/invitations/accept',
        body: { token: revokedInvitation, password: PASSWORD },
      },
      'GET /v1/sso/callback': {
        method: 'GET',
        url: `/v1/sso/callback?state=${sso.state}&code=abc`,
        headers: { cookie: `${SSO_COOKIE}=${sso.binding}` },
      },
      'POST /v1/consent/acknowledgements': {
        method: 'POST',
        url: '/v1/consent/acknowledgements',
        body: { token: ackToken },
      },
      'GET /consent/page': { method: 'GET', url: `/consent/page?link=${unopenedLink}` },
    }
    const before = await state()
    let swept = 0
    const decided: string[] = []
    for (const { method, url } of routes) {
      const key = `${method} ${url}`
      if (key in TOUCHES_NO_ORG) continue
      const concrete = url.replace(/:[A-Za-z]+/g, () => randomUUID()).replace(/\*$/, 'x')
      const viewer = url.startsWith('/v1/viewer/')
      const request = credentials[key] ?? {
        method,
        url: concrete,
        token: viewer ? viewerToken : acme.ownerToken,
        headers: { ...(viewer ? { origin: ORIGIN } : {}), ...pageCookieHeader },
        ...(method === 'GET' || method === 'DELETE' ? {} : { body: { orgId: acme.orgId } }),
      }
      const response = await restored.request(request)
      assert.equal(
        response.status,
        503,
        `${key} answered ${response.status} to a refused org's caller: refuse it where the flow resolves its org, or list it in TOUCHES_NO_ORG with the reason (${response.text.slice(0, 200)})`,
      )
      if (String(response.headers['content-type']).startsWith('application/problem+json'))
        assert.equal(response.body.code, 'ORG_ROLLED_BACK', key)
      decided.push(key)
      swept++
    }
    assert.ok(swept > 50, `only ${swept} routes swept: the route table was not read`)
    for (const key of Object.keys(credentials)) assert.ok(decided.includes(key), `${key} was swept`)
    assert.deepEqual(await state(), before, 'nothing changed')
  })

  it('P8.1: the healthy org is served meanwhile, and once acknowledged the rolled-back org’s flows work again', async () => {
    const served = await restored.request({
      method: 'GET',
      url: `/v1/orgs/${globex.orgId}/members`,
      token: globex.ownerToken,
    })
    assert.equal(served.status, 200, served.text)
    await restored.app.rollback.acknowledge({
      orgId: acme.orgId,
      reason: 'restored from the backup; the removal is redone by hand',
      actor: { type: 'system', id: 'cli' },
      meta: { requestId: null, ip: null, userAgent: 'custodian-cli' },
    })
    const accepted = await restored.request({
      method: 'POST',
      url: '/v1/invitations/accept',
      body: { token: revokedInvitation, password: PASSWORD },
    })
    assert.equal(accepted.status, 201, accepted.text)
    const page = await restored.request({ method: 'GET', url: `/consent/page?link=${unopenedLink}` })
    assert.equal(page.status, 303, page.text)
  })
})
