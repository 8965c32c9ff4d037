import assert from 'node:assert/strict'
import { after, before, it } from 'node:test'
// The worktree's own SDK (a host app imports `@custodian/client`; see docs/sdk.md).
import { Custodian, isCustodianError, type ConsentDecision } from '../../packages/client/src/index.ts'
import { cacheUntil } from '../../packages/client/src/consent.ts'
import { forEachEngine } from '../helpers/db.ts'
import { httpsJson } from '../helpers/process.ts'
import { startSdkWorld, type SdkWorld } from '../helpers/sdk-world.ts'

/** The SDK's consent area against a running service: record, check (cached, batched), withdraw, page links. */
forEachEngine('the SDK’s consent: record, check with a cache honouring the token, withdraw (P7.7)', (engine) => {
  let world: SdkWorld
  let custodian: Custodian
  let n = 0
  const id = () => `sdk-${engine}-${++n}`
  const grant = (subject: string, purpose = 'newsletter') =>
    custodian.consent.record({ id: id(), subject, purpose, action: 'grant', method: 'form', noticeVersion: 1 })
  const owner = (method: string, path: string, body?: unknown) =>
    httpsJson(world.server.httpsPort, method, `/v1/orgs/${world.orgId}/consent${path}`, {
      token: world.ownerToken,
      body,
    })

  before(async () => {
    world = await startSdkWorld(engine)
    custodian = new Custodian({ url: world.url, token: world.appToken, ca: world.ca, orgId: world.orgId })
    for (const body of [
      { key: 'newsletter', name: 'Newsletter', lawfulBasis: 'consent', directMarketing: true, gpcEffect: 'opt_out' },
      { key: 'analytics', name: 'Analytics', lawfulBasis: 'consent' },
      { key: 'billing', name: 'Billing', lawfulBasis: 'contract' },
    ]) {
      const created = await owner('POST', '/purposes', body)
      assert.equal(created.status, 201, created.text)
    }
    const notice = await owner('POST', '/notices', {
      language: 'en',
      text: 'Newsletter and analytics.',
      purposes: ['newsletter', 'analytics'],
      materialChange: false,
    })
    assert.equal(notice.status, 201, notice.text)
  })
  after(async () => {
    await custodian?.close()
    await world?.stop()
  })

  it('records, checks (a second check from the cache), and a withdrawal through the client is effective at once', async () => {
    const recorded = await grant('sdk-user-1')
    assert.equal(recorded.status, 'recorded')
    assert.equal(recorded.event.method, 'form')
    const first = await custodian.consent.check({ subject: 'sdk-user-1', purpose: 'newsletter' })
    assert.equal(first.allowed, true)
    assert.equal(first.reason, 'granted')
    const second = await custodian.consent.check({ subject: 'sdk-user-1', purpose: 'newsletter' })
    assert.equal(second.token, first.token, 'answered from the cache: the same decision token')

    const withdrawn = await custodian.consent.withdraw({ subject: 'sdk-user-1', purposes: ['newsletter'] })
    assert.equal(withdrawn.events[0]?.action, 'withdraw')
    const after = await custodian.consent.check({ subject: 'sdk-user-1', purpose: 'newsletter' })
    assert.equal(after.allowed, false, 'never the cached allowed answer after a withdrawal')
    assert.equal(after.reason, 'withdrawn')
  })

  it('a check in flight during a withdrawal is not cached: the next check is not allowed', async () => {
    await grant('sdk-race')
    for (let i = 0; i < 5; i++) {
      await grant('sdk-race')
      const inFlight = custodian.consent.check({ subject: 'sdk-race', purpose: 'newsletter' })
      await custodian.consent.withdraw({ subject: 'sdk-race', purposes: ['newsletter'] })
      await inFlight
      const next = await custodian.consent.check({ subject: 'sdk-race', purpose: 'newsletter' })
      assert.equal(next.allowed, false, `round ${i}`)
    }
  })

  it('keeps a decision no longer than ttlMs, and a denial made elsewhere reaches the client when it expires', async () => {
    const short = new Custodian({
      url: world.url,
      token: world.appToken,
      ca: world.ca,
      orgId: world.orgId,
      consentCache: { ttlMs: 3000 },
    })
    try {
      const sentAt = Date.now()
      const denied = await short.consent.check({ subject: 'sdk-late', purpose: 'analytics' })
      assert.equal(denied.allowed, false)
      // Granted by another client: this one keeps its denial only until the cache entry expires.
      await custodian.consent.record({
        id: id(),
        subject: 'sdk-late',
        purpose: 'analytics',
        action: 'grant',
        method: 'api',
        noticeVersion: 1,
      })
      const again = await short.consent.check({ subject: 'sdk-late', purpose: 'analytics' })
      // (On a machine loaded enough that the grant took the whole 3 s, the entry has expired already.)
      if (Date.now() < sentAt + 2500) assert.equal(again.token, denied.token, 'the denial from the cache')
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, sentAt + 3100 - Date.now())))
      assert.equal((await short.consent.check({ subject: 'sdk-late', purpose: 'analytics' })).allowed, true)
    } finally {
      await short.close()
    }
    const uncached = new Custodian({
      url: world.url,
      token: world.appToken,
      ca: world.ca,
      orgId: world.orgId,
      consentCache: false,
    })
    try {
      const a = await uncached.consent.check({ subject: 'sdk-late', purpose: 'analytics' })
      const b = await uncached.consent.check({ subject: 'sdk-late', purpose: 'analytics' })
      assert.notEqual(a.token, b.token, 'consentCache: false asks every time')
    } finally {
      await uncached.close()
    }
  })

  it('never keeps a decision past its token’s exp, nor an allowed one past the consent’s expiry', async () => {
    const sentAt = Date.now()
    const real = await custodian.consent.check({ subject: 'sdk-user-1', purpose: 'billing' })
    const hour = 3_600_000
    const until = cacheUntil(real, sentAt, hour)
    assert.ok(until <= sentAt + 300_000, 'at most the token’s lifetime after the request was sent')
    assert.ok(until <= Date.parse(real.tokenExpiresAt), 'never past tokenExpiresAt')
    const lapsing: ConsentDecision = { ...real, allowed: true, expiresAt: new Date(sentAt + 1000).toISOString() }
    assert.ok(cacheUntil(lapsing, sentAt, hour) <= sentAt + 1000, 'an allowed answer never outlives its consent')
    // A token this client's clock says has expired already (its clock runs ahead) is not kept at all.
    const stale: ConsentDecision = { ...real, tokenExpiresAt: new Date(sentAt - 1).toISOString() }
    assert.ok(cacheUntil(stale, sentAt, hour) < sentAt)
    const garbled: ConsentDecision = { ...real, token: 'not-a-jws' }
    assert.equal(cacheUntil(garbled, sentAt, hour), sentAt, 'a token it cannot read is not cached')
  })

  it('checks a batch in order, cached items from the cache and the rest in requests of at most 100', async () => {
    await grant('sdk-batch', 'analytics')
    const cachedOne = await custodian.consent.check({ subject: 'sdk-batch', purpose: 'analytics' })
    const items = [
      { subject: 'sdk-batch', purpose: 'newsletter' },
      { subject: 'sdk-batch', purpose: 'analytics' },
      { subject: 'sdk-batch', purpose: 'nope' },
      ...Array.from({ length: 147 }, (_, i) => ({ subject: `sdk-many-${i}`, purpose: 'billing' })),
    ]
    const decisions = await custodian.consent.check(items)
    assert.equal(decisions.length, 150)
    assert.deepEqual(
      decisions.slice(0, 3).map((d) => [d.purpose, d.allowed]),
      [
        ['newsletter', false],
        ['analytics', true],
        ['nope', false],
      ],
    )
    assert.equal(decisions[2]?.reason, 'unknown_purpose')
    assert.equal(decisions[1]?.token, cachedOne.token, 'the cached item came from the cache')
    assert.ok(decisions.slice(3).every((d) => d.purpose === 'billing' && d.reason === 'unknown_subject'))
  })

  it('forwards a GPC signal with record (method gpc, never a grant); refusals are CustodianErrors with pointers', async () => {
    await grant('sdk-gpc')
    const recorded = await custodian.consent.record(
      { id: id(), subject: 'sdk-gpc', purpose: 'analytics', action: 'deny', method: 'form' },
      { gpc: true },
    )
    assert.deepEqual(
      recorded.gpcEvents.map((e) => [e.purpose, e.action, e.method]),
      [['newsletter', 'withdraw', 'gpc']],
    )
    assert.equal((await custodian.consent.check({ subject: 'sdk-gpc', purpose: 'newsletter' })).reason, 'withdrawn')

    try {
      await custodian.consent.record({ id: id(), subject: 'x', purpose: 'unknown', action: 'deny', method: 'form' })
      assert.fail('an unknown purpose is refused')
    } catch (error) {
      assert.ok(isCustodianError(error))
      assert.equal(error.code, 'VALIDATION_FAILED')
      assert.equal(error.errors[0]?.path, '/body/purpose')
    }
    const viewer = new Custodian({ url: world.url, token: world.viewerToken, ca: world.ca, orgId: world.orgId })
    try {
      await assert.rejects(viewer.consent.check({ subject: 'x', purpose: 'billing' }), (error: unknown) => {
        assert.ok(isCustodianError(error))
        assert.equal(error.code, 'FORBIDDEN')
        return true
      })
    } finally {
      await viewer.close()
    }
    await assert.rejects(custodian.consent.check({ subject: '', purpose: 'billing' }), /subject/)
  })

  it('mints a preference-page link that opens once into a cookie', async () => {
    const link = await custodian.consent.pageLink('sdk-page-user', { ttlSeconds: 120 })
    const url = new URL(link.url)
    assert.equal(url.pathname, '/consent/page')
    assert.ok(Date.parse(link.expiresAt) <= Date.now() + 121_000)
    const port = world.server.httpsPort
    const first = await httpsJson(port, 'GET', `${url.pathname}${url.search}`)
    assert.equal(first.status, 303)
    assert.equal(first.headers.location, '/consent/page')
    const cookie = String(first.headers['set-cookie']).split(';')[0] as string
    const page = await httpsJson(port, 'GET', '/consent/page', { cookie })
    assert.equal(page.status, 200)
    assert.match(page.text, /Your privacy choices with Acme/)
    assert.equal((await httpsJson(port, 'GET', `${url.pathname}${url.search}`)).status, 401, 'once')
  })
})
