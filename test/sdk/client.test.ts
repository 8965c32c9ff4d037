import assert from 'node:assert/strict'
import { after, before, it } from 'node:test'
import { Custodian, CustodianError, isCustodianError } from '@custodian/client'
import { forEachEngine } from '../helpers/db.ts'
import { assertNoSecret } from '../helpers/no-secret.ts'
import { httpsJson } from '../helpers/process.ts'
import { serviceAccountToken, startSdkWorld, type SdkWorld } from '../helpers/sdk-world.ts'

/** The rejection of `promise`, which must be a CustodianError with `code`. */
async function refusal(promise: Promise<unknown>, code: string): Promise<CustodianError> {
  try {
    await promise
  } catch (error) {
    assert.ok(isCustodianError(error), `a CustodianError, not ${String(error)}`)
    assert.equal(error.code, code, error.message)
    return error
  }
  assert.fail(`expected ${code}, but the call succeeded`)
}

forEachEngine('the SDK against a running service', (engine) => {
  let world: SdkWorld
  let custodian: Custodian
  before(async () => {
    world = await startSdkWorld(engine)
    custodian = new Custodian({ url: world.url, token: world.appToken, ca: world.ca })
  })
  after(async () => {
    await custodian?.close()
    await world?.stop()
  })

  it('finds its org from the token, and trusts exactly the CA it is given', async () => {
    assert.equal(await custodian.orgId(), world.orgId)
    assert.equal((await custodian.me()).kind, 'service_account')
    const untrusting = new Custodian({ url: world.url, token: world.appToken })
    const error = await refusal(untrusting.me(), 'CONNECTION_FAILED')
    assert.match(error.detail, /not trusted/)
    await untrusting.close()
  })

  it('sets, lists, gets (audited with its reason) and removes secrets by name', async () => {
    const created = await custodian.secrets.set('app/stripe-key', 'sk_live_first')
    assert.equal(created.currentVersion, 1)
    const updated = await custodian.secrets.set('app/stripe-key', 'sk_live_second', { type: 'api_key' })
    assert.equal(updated.id, created.id, 'set on an existing name stores a new version')
    assert.equal(updated.currentVersion, 2)
    await custodian.secrets.set('app/db', {
      host: 'db.internal',
      port: 5432,
      database: 'app',
      user: 'app',
      password: 'pw with spaces',
      sslmode: 'require',
    })
    await custodian.secrets.set('other/thing', 'x')

    const names = (await custodian.secrets.list({ prefix: 'app/' })).map((s) => s.name)
    assert.deepEqual(names, ['app/db', 'app/stripe-key'])

    const revealed = await custodian.secrets.get('app/stripe-key', { reason: 'charge a card' })
    assert.equal(revealed.value, 'sk_live_second')
    assert.equal(revealed.version, 2)
    assert.equal(
      (await custodian.secrets.get({ id: created.id }, { reason: 'old one', version: 1 })).value,
      'sk_live_first',
    )
    const db = await custodian.secrets.get('app/db', { reason: 'connect' })
    assert.deepEqual(typeof db.value === 'object' ? db.value.password : undefined, 'pw with spaces')

    const reveals = await custodian.audit.query({ action: 'secret.reveal' })
    assert.ok(
      reveals.events.some((e) => e.details.reason === 'charge a card'),
      'the reveal is in the audit log with its reason',
    )

    await refusal(custodian.secrets.get('app/stripe-key'), 'INVALID_ARGUMENT')
    await custodian.secrets.remove('other/thing')
    assert.equal(await custodian.secrets.find('other/thing'), undefined)
    await refusal(custodian.secrets.get('other/thing', { reason: 'gone' }), 'NOT_FOUND')
  })

  it('answers the API’s stable codes as typed errors: 401, 403, 404 across orgs, 400 with its pointer', async () => {
    const stranger = new Custodian({ url: world.url, token: 'cst_nope_nope', ca: world.ca, orgId: world.orgId })
    const unauthenticated = await refusal(stranger.secrets.list(), 'UNAUTHENTICATED')
    assert.equal(unauthenticated.status, 401)
    await stranger.close()

    const viewer = new Custodian({ url: world.url, token: world.viewerToken, ca: world.ca })
    // A reveal by name goes straight to the by-path reveal: the permission it lacks is the reveal's.
    const forbidden = await refusal(viewer.secrets.get('app/stripe-key', { reason: 'peek' }), 'FORBIDDEN')
    assert.equal(forbidden.permission, 'vault:reveal')
    await viewer.close()

    const otherOrg = new Custodian({ url: world.url, token: world.other.ownerToken, ca: world.ca })
    const mine = await custodian.secrets.find('app/stripe-key')
    assert.ok(mine !== undefined)
    await refusal(otherOrg.secrets.get({ id: mine.id }, { reason: 'not mine' }), 'NOT_FOUND')
    await otherOrg.close()

    const invalid = await refusal(custodian.secrets.set('bad name!', 'v'), 'VALIDATION_FAILED')
    assert.equal(invalid.status, 400)
    assert.ok(
      invalid.errors.some((e) => e.path === '/body/name'),
      JSON.stringify(invalid.errors),
    )
    assert.ok(invalid instanceof CustodianError)
    assert.equal(typeof invalid.requestId, 'string')
  })

  it('encrypts and decrypts with a transit key; another context does not decrypt', async () => {
    await custodian.transit.createKey('payments')
    const ciphertext = await custodian.transit.encrypt('payments', 'card 4242', { context: 'order-1' })
    assert.match(ciphertext, /^cst:v1:/)
    assert.equal(
      (await custodian.transit.decrypt('payments', ciphertext, { context: 'order-1' })).toString(),
      'card 4242',
    )
    await refusal(custodian.transit.decrypt('payments', ciphertext, { context: 'order-2' }), 'DECRYPTION_FAILED')
    await custodian.transit.rotateKey('payments')
    const rewrapped = await custodian.transit.rewrap('payments', ciphertext, { context: 'order-1' })
    assert.match(rewrapped, /^cst:v2:/)
    const bytes = Uint8Array.from([0, 1, 2, 255])
    const binary = await custodian.transit.encrypt('payments', bytes)
    assert.deepEqual([...(await custodian.transit.decrypt('payments', binary))], [0, 1, 2, 255])
  })

  it('puts, gets, finds and deletes records; erasing a subject removes them and answers the salt', async () => {
    const record = await custodian.records.put({
      subjectId: 'user-42',
      dataClass: 'contact',
      payload: { email: 'a@b.test' },
    })
    const replaced = await custodian.records.put({ id: record.id, payload: { email: 'c@d.test' }, tags: ['primary'] })
    assert.deepEqual(replaced.payload, { email: 'c@d.test' })
    assert.deepEqual((await custodian.records.get(record.id)).tags, ['primary'])
    const second = await custodian.records.put({ subjectId: 'user-42', dataClass: 'usage', payload: { logins: 3 } })
    assert.equal((await custodian.records.find('user-42')).length, 2)
    assert.equal((await custodian.records.find('user-42', { dataClass: 'usage' }))[0]?.id, second.id)
    await custodian.records.delete(second.id)
    await refusal(custodian.records.get(second.id), 'NOT_FOUND')

    const erased = await custodian.records.erase('user-42', { verification: { method: 'signed-in-account' } })
    assert.equal(erased.kind, 'erase')
    assert.equal(typeof erased.subjectSalt, 'string')
    await refusal(custodian.records.get(record.id), 'NOT_FOUND')
    assert.deepEqual(await custodian.records.find('user-42'), [])
  })

  it('runs a privacy request through its steps', async () => {
    await custodian.records.put({ subjectId: 'user-7', dataClass: 'contact', payload: { name: 'Ada' } })
    const request = await custodian.privacy.create({ kind: 'access', subjectId: 'user-7' })
    assert.equal(request.status, 'open')
    await refusal(custodian.privacy.complete(request.id), 'VERIFICATION_REQUIRED')
    await custodian.privacy.verify(request.id, { method: 'email-link' })
    const done = await custodian.privacy.complete(request.id)
    assert.equal(done.status, 'completed')
    assert.ok(done.exportId !== undefined)
    const exported = await custodian.privacy.download(done.exportId)
    assert.ok(JSON.stringify(exported).includes('Ada'))
    const page = await custodian.privacy.list({ limit: 10 })
    assert.ok(page.requests.some((r) => r.id === request.id))
    assert.equal((await custodian.privacy.get(request.id)).status, 'completed')
    const rejected = await custodian.privacy.create({ kind: 'erase', subjectId: 'user-8' })
    assert.equal((await custodian.privacy.reject(rejected.id, 'could not verify')).status, 'rejected')
  })

  it('reads and sets the grant policy; an operator’s request shows up and is denied', async () => {
    const owner = new Custodian({ url: world.url, token: world.ownerToken, ca: world.ca })
    const policy = await owner.grants.setPolicy({ maxDays: 14, requiredApprovals: 1 })
    assert.equal(policy.maxDays, 14)
    assert.deepEqual(await owner.grants.policy(), policy)
    // The provider's owner is an operator (enrolled in TOTP by the world's bootstrap).
    const operator = new Custodian({ url: world.url, token: world.provider.token, ca: world.ca })
    const requested = await operator.grants.request({
      orgId: world.orgId,
      reason: 'diagnose the failing exports',
      permissions: ['audit:read'],
      durationDays: 7,
    })
    assert.equal(requested.status, 'pending')
    assert.ok((await operator.grants.mine()).grants.some((g) => g.id === requested.id))
    assert.ok((await owner.grants.list()).grants.some((g) => g.id === requested.id))
    assert.equal((await owner.grants.deny(requested.id, { note: 'not now' })).status, 'denied')
    assert.equal((await owner.grants.get(requested.id)).status, 'denied')
    await owner.close()
    await operator.close()
  })

  it('changes a service account’s role; its token carries the new permissions at once', async () => {
    const owner = new Custodian({ url: world.url, token: world.ownerToken, ca: world.ca })
    const token = await serviceAccountToken(world.server.httpsPort, world.orgId, world.ownerToken, 'reports', 'viewer')
    const reporter = new Custodian({ url: world.url, token, ca: world.ca })
    await refusal(reporter.secrets.list(), 'FORBIDDEN')
    const account = (await owner.serviceAccounts.list({ limit: 100 })).serviceAccounts.find((a) => a.name === 'reports')
    assert.ok(account !== undefined)
    const changed = await owner.serviceAccounts.changeRole(account.id, 'auditor')
    assert.equal(changed.role, 'auditor')
    assert.ok(Array.isArray(await reporter.secrets.list()))
    await refusal(reporter.serviceAccounts.changeRole(account.id, 'admin'), 'FORBIDDEN')
    await owner.close()
    await reporter.close()
  })

  it('records the application’s events through the real batch route: two clients sending the same ids at once store each once', async () => {
    const options = {
      url: world.url,
      token: world.appToken,
      ca: world.ca,
      audit: { batchSize: 7, flushIntervalMs: 50 },
    }
    const first = new Custodian(options)
    const second = new Custodian(options)
    const events = Array.from({ length: 40 }, (_, i) => ({
      id: `sdk-dup-${i}`,
      action: 'invoice.sdk_sent',
      actor: { id: `user-${i % 3}`, type: 'user' },
      targets: [{ type: 'invoice', id: `inv-${i}` }],
      occurredAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)),
    }))
    await Promise.all([
      ...events.map((e) => first.audit.record(e)),
      ...[...events].reverse().map((e) => second.audit.record(e)),
    ])
    const [a, b] = await Promise.all([first.audit.flush(), second.audit.flush()])
    assert.deepEqual([a.undeliverable, b.undeliverable], [[], []])
    await first.close()
    await second.close()
    const stored = []
    let cursor: string | undefined
    do {
      const page = await custodian.audit.query({ action: 'invoice.sdk_sent', limit: 25, ...(cursor ? { cursor } : {}) })
      stored.push(...page.events)
      cursor = page.nextCursor ?? undefined
    } while (cursor)
    assert.equal(stored.length, 40, 'each id once')
    assert.deepEqual(new Set(stored.map((e) => e.target?.id)).size, 40)
  })

  it('issues, lists and revokes viewer tokens for the embedded viewer; the token reads, then is refused', async () => {
    const issued = await custodian.audit.viewerTokens.create({
      origin: 'https://app.example.com',
      actions: ['invoice.*'],
    })
    assert.match(issued.token, /^cst_view_/)
    assert.equal(issued.origin, 'https://app.example.com')
    const read = await httpsJson(world.server.httpsPort, 'GET', '/v1/viewer/session', { token: issued.token })
    assert.equal(read.status, 200, read.text)
    const { tokens } = await custodian.audit.viewerTokens.list()
    assert.ok(tokens.some((t) => t.id === issued.id))
    assert.ok(!JSON.stringify(tokens).includes(issued.token), 'never the token itself')
    await custodian.audit.viewerTokens.revoke(issued.id)
    const refused = await httpsJson(world.server.httpsPort, 'GET', '/v1/viewer/session', { token: issued.token })
    assert.equal(refused.status, 401)
    await refusal(custodian.audit.viewerTokens.create({ origin: 'https://app.example.com/path' }), 'VALIDATION_FAILED')
  })

  it('follows the chain: every new event once, in seq order', async () => {
    const start = (await custodian.audit.status()).headSeq + 1
    const stop = new AbortController()
    const seen: number[] = []
    const actions: string[] = []
    const following = (async () => {
      for await (const event of custodian.audit.follow({ fromSeq: start, intervalMs: 100, signal: stop.signal })) {
        seen.push(event.seq)
        actions.push(event.action)
        if (actions.filter((a) => a === 'secret.create').length >= 3) stop.abort()
      }
    })()
    for (const name of ['tail/a', 'tail/b', 'tail/c']) await custodian.secrets.set(name, 'v')
    await following
    assert.equal(seen[0], start)
    assert.deepEqual(
      seen,
      seen.map((_, i) => start + i),
      'consecutive seqs',
    )
    // Older events are read by position too, across the entry bundle they share.
    const again: number[] = []
    const replay = new AbortController()
    for await (const event of custodian.audit.follow({ fromSeq: 1, intervalMs: 100, signal: replay.signal })) {
      again.push(event.seq)
      if (event.seq === seen.at(-1)) replay.abort()
    }
    assert.deepEqual(
      again,
      again.map((_, i) => i + 1),
    )
    const status = await httpsJson(world.server.httpsPort, 'GET', `/v1/orgs/${world.orgId}/audit/verify`, {
      token: world.ownerToken,
    })
    assert.equal(status.body.ok, true)
  })

  it('never puts a revealed value or the token in an error (message, stack, cause)', async () => {
    const value = 'sk_live_do-not-leak-7f3a'
    await custodian.secrets.set('leak/check', value)
    assert.equal((await custodian.secrets.get('leak/check', { reason: 'check' })).value, value)
    const errors: unknown[] = []
    const attempt = async (call: Promise<unknown>) => {
      try {
        await call
        assert.fail('expected a refusal')
      } catch (error) {
        assert.ok(isCustodianError(error), String(error))
        errors.push(error)
      }
    }
    // The value sent again where it is refused, and the secret in states that refuse a reveal.
    await attempt(custodian.secrets.set('leak check!', value))
    await attempt(custodian.secrets.get('leak/check', { reason: 'an old version', version: 99 }))
    const secret = await custodian.secrets.find('leak/check')
    assert.ok(secret !== undefined)
    await httpsJson(world.server.httpsPort, 'POST', `/v1/orgs/${world.orgId}/secrets/${secret.id}/pause`, {
      token: world.ownerToken,
      body: {},
    })
    await attempt(custodian.secrets.get('leak/check', { reason: 'paused' }))
    // The token where it is refused: another org's object, a closed client, an untrusted certificate.
    const elsewhere = new Custodian({ url: world.url, token: world.appToken, ca: world.ca, orgId: world.other.orgId })
    await attempt(elsewhere.secrets.list())
    await elsewhere.close()
    await attempt(elsewhere.secrets.list())
    const untrusting = new Custodian({ url: world.url, token: world.appToken, orgId: world.orgId })
    await attempt(untrusting.secrets.get('leak/check', { reason: 'tls' }))
    await untrusting.close()
    assert.deepEqual(
      errors.map((e) => (e as CustodianError).code),
      ['VALIDATION_FAILED', 'NOT_FOUND', 'SECRET_PAUSED', 'NOT_FOUND', 'CLIENT_CLOSED', 'CONNECTION_FAILED'],
    )
    for (const error of errors) assertNoSecret(error, [value, world.appToken])
  })
})
