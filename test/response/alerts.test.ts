import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { before, it } from 'node:test'
import { sql } from 'kysely'
import { forEachEngine } from '../helpers/db.ts'
import { idAtSeq } from '../helpers/audit-chain.ts'
import { insertEvent } from '../../src/modules/audit/audit.store.ts'
import {
  bootstrapProvider,
  createCustomerOrg,
  fingerprint,
  useTestApp,
  type Org,
  type TestApp,
} from '../helpers/app.ts'

const MIN = 60_000

interface Crafted {
  action: string
  outcome?: 'success' | 'denied' | 'failure'
  actorId?: string | null
  actorType?: string
  ip?: string | null
  targetId?: string | null
  details?: Record<string, unknown>
  at: Date
}

/** Writes events into an org's audit log as the application would, chains them, runs the rules. */
async function replay(t: TestApp, orgId: string, events: Crafted[]): Promise<void> {
  for (const e of events) {
    await t.db.kysely.transaction().execute((trx) =>
      insertEvent(trx, {
        org_id: orgId,
        event_id: randomUUID(),
        occurred_at: e.at,
        actor_type: e.actorType ?? 'user',
        actor_id: e.actorId ?? null,
        action: e.action,
        target_type: e.targetId === undefined ? null : 'object',
        target_id: e.targetId ?? null,
        outcome: e.outcome ?? 'success',
        ip: e.ip ?? null,
        user_agent: null,
        request_id: null,
        details: JSON.stringify(e.details ?? {}),
      }),
    )
  }
  await t.app.sequencer.flush()
  while ((await t.app.services.alerts.evaluate()) > 0) {
    // until the cursor has caught up
  }
}

/** Each built-in rule (P5.3) fires on a crafted sequence, and not on a benign one. */
forEachEngine('alert rules over the audit stream (P5.3)', (engine) => {
  const t = useTestApp(engine)
  let acme: Org
  const base = new Date(Date.UTC(2026, 10, 20, 12, 0, 0))
  const at = (minutes: number) => new Date(base.getTime() + minutes * MIN)
  const alertsOf = async (rule: string) =>
    (
      await t().request({ method: 'GET', url: `/v1/orgs/${acme.orgId}/alerts`, token: acme.ownerToken })
    ).body.alerts.filter((a: { rule: string }) => a.rule === rule)
  const failure = (user: string | null, minute: number, ip = '198.51.100.1', email?: string): Crafted => ({
    action: 'auth.login',
    outcome: 'denied',
    actorId: user,
    actorType: user === null ? 'anonymous' : 'user',
    ip,
    at: at(minute),
    details: { reason: 'wrong password', ...(email === undefined ? {} : { email }) },
  })

  let provider: Org
  before(async () => {
    provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', 'owner@acme.test')
  })

  it('login_failures_account: five failures for one account within 15 minutes, not four, not spread out', async () => {
    const u = randomUUID()
    await replay(t(), acme.orgId, [
      failure(u, 0, '192.0.2.1'),
      failure(u, 1, '192.0.2.2'),
      failure(u, 2, '192.0.2.3'),
      failure(u, 3, '192.0.2.4'),
      failure(randomUUID(), 4, '192.0.2.5'),
    ])
    assert.equal((await alertsOf('login_failures_account')).length, 0, 'four failures, and another account’s one')
    const spread = randomUUID()
    await replay(
      t(),
      acme.orgId,
      [0, 20, 40, 60, 80].map((m, i) => failure(spread, m, `192.0.2.${10 + i}`)),
    )
    assert.equal((await alertsOf('login_failures_account')).length, 0, 'five failures over 80 minutes')
    await replay(t(), acme.orgId, [failure(u, 5, '192.0.2.6')])
    const [alert] = await alertsOf('login_failures_account')
    assert.equal(alert.severity, 'medium')
    assert.equal(alert.details.failures, 5)
    await replay(t(), acme.orgId, [
      failure(null, 0, '192.0.2.20', 'hmac-sha256:unknown'),
      ...[1, 2, 3, 4].map((m) => failure(null, m, `192.0.2.2${m}`, 'hmac-sha256:unknown')),
    ])
    assert.equal((await alertsOf('login_failures_account')).length, 2, 'an unknown account, by its email’s HMAC')
  })

  it('login_failures_ip: the org’s own threshold, per address', async () => {
    const set = await t().request({
      method: 'PUT',
      url: `/v1/orgs/${acme.orgId}/alert-rules/login_failures_ip`,
      token: acme.ownerToken,
      body: { enabled: true, threshold: 3, windowSeconds: 600, dedupeSeconds: 3600 },
    })
    assert.equal(set.status, 200, set.text)
    assert.equal(set.body.source, 'org')
    await replay(t(), acme.orgId, [
      failure(randomUUID(), 100, '203.0.113.1'),
      failure(randomUUID(), 101, '203.0.113.1'),
      failure(randomUUID(), 102, '203.0.113.2'),
      failure(randomUUID(), 103, '203.0.113.2'),
    ])
    assert.equal((await alertsOf('login_failures_ip')).length, 0)
    await replay(t(), acme.orgId, [failure(randomUUID(), 104, '203.0.113.1')])
    const alerts = await alertsOf('login_failures_ip')
    assert.equal(alerts.length, 1)
    assert.equal(alerts[0].details.ip, '203.0.113.1')
  })

  it('refuses a rule setting out of its bounds with 400 naming the field, never clamps it', async () => {
    const url = `/v1/orgs/${acme.orgId}/alert-rules/reveal_burst`
    const rules = async () =>
      (await t().request({ method: 'GET', url: `/v1/orgs/${acme.orgId}/alert-rules`, token: acme.ownerToken })).body
    const kept = JSON.stringify(await rules())
    const valid = { enabled: true, threshold: 20, windowSeconds: 300, dedupeSeconds: 3600 }
    for (const [field, value] of [
      ['threshold', 0],
      ['threshold', 99_999_999],
      ['windowSeconds', 0],
      ['windowSeconds', 31_536_001],
      ['dedupeSeconds', -1],
      ['dedupeSeconds', 31_536_001],
    ] as const) {
      const response = await t().request({
        method: 'PUT',
        url,
        token: acme.ownerToken,
        body: { ...valid, [field]: value },
      })
      assert.equal(response.status, 400, `${field} ${value}: ${response.text}`)
      assert.match(String(response.headers['content-type']), /^application\/problem\+json/)
      assert.equal(response.body.code, 'VALIDATION_FAILED')
      assert.ok(
        response.body.errors?.some((e: { path: string }) => e.path === `/body/${field}`),
        response.text,
      )
    }
    assert.equal(JSON.stringify(await rules()), kept, 'nothing saved')
  })

  it('reveal_burst: many reveals by one actor in minutes, not the same number spread out', async () => {
    await t().request({
      method: 'PUT',
      url: `/v1/orgs/${acme.orgId}/alert-rules/reveal_burst`,
      token: acme.ownerToken,
      body: { enabled: true, threshold: 5, windowSeconds: 300, dedupeSeconds: 3600 },
    })
    const reveal = (actor: string, minute: number): Crafted => ({
      action: 'secret.reveal',
      actorId: actor,
      actorType: 'service_account',
      at: at(minute),
      targetId: randomUUID(),
      details: { reason: 'sync' },
    })
    const calm = randomUUID()
    await replay(
      t(),
      acme.orgId,
      [0, 10, 20, 30, 40, 50].map((m) => reveal(calm, 200 + m)),
    )
    assert.equal((await alertsOf('reveal_burst')).length, 0)
    const greedy = randomUUID()
    await replay(
      t(),
      acme.orgId,
      [0, 0.5, 1, 1.5, 2].map((m) => reveal(greedy, 300 + m)),
    )
    const [alert] = await alertsOf('reveal_burst')
    assert.equal(alert.details.actor.id, greedy)
    assert.equal(alert.severity, 'high')
  })

  it('reveal_burst: a burst split across evaluation batches, and one out of time order, counts the same', async () => {
    const steady = randomUUID()
    // Three reveals already evaluated, then two more in the next batch: five in five minutes.
    await replay(
      t(),
      acme.orgId,
      [400, 401, 402].map((m) => ({ action: 'secret.reveal', actorId: steady, at: at(m) })),
    )
    assert.equal(
      (await alertsOf('reveal_burst')).filter(
        (a: { details: { actor: { id: string } } }) => a.details.actor.id === steady,
      ).length,
      0,
    )
    // The last one was chained first but happened last (a slow transaction).
    await replay(
      t(),
      acme.orgId,
      [404, 403].map((m) => ({ action: 'secret.reveal', actorId: steady, at: at(m) })),
    )
    const [alert] = (await alertsOf('reveal_burst')).filter(
      (a: { details: { actor: { id: string } } }) => a.details.actor.id === steady,
    )
    assert.equal(alert?.occurrences, 1)
    // Twenty more in one batch: one alert, every firing counted once.
    await replay(
      t(),
      acme.orgId,
      Array.from({ length: 20 }, (_, i) => ({ action: 'secret.reveal', actorId: steady, at: at(405 + i / 10) })),
    )
    const [after] = (await alertsOf('reveal_burst')).filter(
      (a: { details: { actor: { id: string } } }) => a.details.actor.id === steady,
    )
    assert.equal(after?.occurrences, 21)
    assert.equal(after?.id, alert?.id)
  })

  it('reveal_off_hours: outside an actor’s usual hours, once it has a history', async () => {
    const night = new Date(Date.UTC(2026, 10, 21, 3, 0, 0))
    const day = (d: number, h: number) => new Date(Date.UTC(2026, 10, 10 + d, h, 15, 0))
    const regular = randomUUID()
    const history: Crafted[] = Array.from({ length: 10 }, (_, i) => ({
      action: 'secret.reveal',
      actorId: regular,
      at: day(i, 9),
    }))
    await replay(t(), acme.orgId, [
      ...history,
      { action: 'secret.reveal', actorId: regular, at: new Date(Date.UTC(2026, 10, 21, 10, 30)) },
    ])
    assert.equal((await alertsOf('reveal_off_hours')).length, 0, 'within an hour of the usual 09:00')
    const newcomer = randomUUID()
    await replay(
      t(),
      acme.orgId,
      [day(0, 9), day(1, 9), day(2, 9)]
        .map((d) => ({ action: 'secret.reveal', actorId: newcomer, at: d }))
        .concat([{ action: 'secret.reveal', actorId: newcomer, at: night }]),
    )
    assert.equal((await alertsOf('reveal_off_hours')).length, 0, 'too little history to know the usual hours')
    await replay(t(), acme.orgId, [{ action: 'secret.reveal', actorId: regular, at: night }])
    const [alert] = await alertsOf('reveal_off_hours')
    assert.equal(alert.details.hour, 3)
    assert.equal(alert.details.timeZone, 'UTC', 'an org without a time zone counts in UTC')
    assert.deepEqual(alert.details.usualHours, [9], 'the 10:30 reveal came later that day')
  })

  it('reveal_off_hours counts hours in the org’s time zone, across a daylight-saving change (K7)', async () => {
    const berlin = await createCustomerOrg(t(), provider, 'Berlin GmbH', 'owner@berlin.test')
    const set = await t().request({
      method: 'PATCH',
      url: `/v1/orgs/${berlin.orgId}`,
      token: berlin.ownerToken,
      body: { timeZone: 'Europe/Berlin' },
    })
    assert.equal(set.status, 200, set.text)
    assert.equal(set.body.timeZone, 'Europe/Berlin')
    assert.equal(
      (await t().request({ method: 'GET', url: `/v1/orgs/${acme.orgId}`, token: acme.ownerToken })).body.timeZone,
      'UTC',
      'the default',
    )
    // Summer time in Berlin ends on Sunday 25 Oct 2026 (UTC+2 → UTC+1).
    const cest = (day: number, h: number, m: number) => new Date(Date.UTC(2026, 9, day, h - 2, m))
    const cet = (day: number, h: number, m: number) => new Date(Date.UTC(2026, 9, day, h - 1, m))
    const stream = (nine: string, eight: string): Crafted[] => [
      ...Array.from(
        { length: 10 },
        (_, i): Crafted => ({ action: 'secret.reveal', actorId: nine, at: cest(12 + i, 9, 15) }),
      ),
      ...Array.from(
        { length: 10 },
        (_, i): Crafted => ({ action: 'secret.reveal', actorId: eight, at: cest(12 + i, 8, 15) }),
      ),
      // After the change: 10:30 local is within an hour of the usual 09:15 local, 06:30 local is not near 08:15.
      { action: 'secret.reveal', actorId: nine, at: cet(27, 10, 30) },
      { action: 'secret.reveal', actorId: eight, at: cet(27, 6, 30) },
    ]
    const [nineBerlin, eightBerlin, nineUtc, eightUtc] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()]
    await replay(t(), berlin.orgId, stream(nineBerlin, eightBerlin))
    await replay(t(), acme.orgId, stream(nineUtc, eightUtc))
    const fired = async (org: Org) =>
      (await t().request({ method: 'GET', url: `/v1/orgs/${org.orgId}/alerts`, token: org.ownerToken })).body.alerts
        .filter((a: { rule: string }) => a.rule === 'reveal_off_hours')
        .map((a: { details: { actor: { id: string } } }) => a.details.actor.id)
    assert.deepEqual(await fired(berlin), [eightBerlin], 'in Berlin: 06:30 is off hours, 10:30 is not')
    assert.ok(
      (await fired(acme)).includes(nineUtc) && !(await fired(acme)).includes(eightUtc),
      'the same instants in a UTC org: 09:30 UTC is two hours after the usual 07:15 UTC, 05:30 is within one of 06:15',
    )
    const [alert] = (
      await t().request({ method: 'GET', url: `/v1/orgs/${berlin.orgId}/alerts`, token: berlin.ownerToken })
    ).body.alerts
    assert.equal(alert.details.hour, 6)
    assert.deepEqual(alert.details.usualHours, [8])
    assert.equal(alert.details.timeZone, 'Europe/Berlin')
    assert.match(alert.title, /06:00 Europe\/Berlin/)
  })

  it('takes only an IANA time zone as the org’s time zone: 400 naming the field, nothing changed (K7)', async () => {
    const before = await fingerprint(t())
    for (const timeZone of [
      'Mars/Olympus_Mons',
      '+01:00',
      'UTC+1',
      'GMT+0100',
      'Europe/Berlin ',
      '../etc/passwd',
      'posix/Europe/Berlin',
      '',
      'Europe/Berlin\u0000',
    ]) {
      const response = await t().request({
        method: 'PATCH',
        url: `/v1/orgs/${acme.orgId}`,
        token: acme.ownerToken,
        body: { timeZone },
      })
      assert.equal(response.status, 400, `${JSON.stringify(timeZone)}: ${response.text}`)
      assert.equal(response.body.code, 'VALIDATION_FAILED')
      assert.ok(
        response.body.errors?.some((e: { path: string }) => e.path === '/body/timeZone'),
        response.text,
      )
    }
    assert.equal(
      (await t().request({ method: 'PATCH', url: `/v1/orgs/${acme.orgId}`, token: acme.ownerToken, body: {} })).status,
      400,
      'nothing to change',
    )
    assert.equal(await fingerprint(t()), before)
    const alias = await t().request({
      method: 'PATCH',
      url: `/v1/orgs/${acme.orgId}`,
      token: acme.ownerToken,
      body: { timeZone: 'Asia/Calcutta' },
    })
    assert.equal(alias.status, 200, `an IANA alias is a zone too: ${alias.text}`)
    const back = await t().request({
      method: 'PATCH',
      url: `/v1/orgs/${acme.orgId}`,
      token: acme.ownerToken,
      body: { timeZone: 'UTC', name: 'Acme' },
    })
    assert.deepEqual([back.status, back.body.timeZone, back.body.name], [200, 'UTC', 'Acme'])
  })

  it('privilege_change: role and policy changes, deduplicated; other changes are not', async () => {
    await replay(t(), acme.orgId, [
      { action: 'member.add', at: at(400), targetId: 'u1' },
      { action: 'secret.create', at: at(400), targetId: 's1' },
    ])
    assert.equal((await alertsOf('privilege_change')).length, 0)
    await replay(t(), acme.orgId, [
      { action: 'member.role_change', at: at(401), targetId: 'u1', details: { from: 'viewer', to: 'admin' } },
      { action: 'member.role_change', at: at(402), targetId: 'u1', details: { from: 'admin', to: 'owner' } },
      { action: 'org.ip_allowlist.update', at: at(403), targetId: 'org' },
    ])
    const alerts = await alertsOf('privilege_change')
    assert.equal(alerts.length, 2, 'the same change twice within five minutes is one alert')
    assert.equal(
      alerts.find((a: { details: { action: string } }) => a.details.action === 'member.role_change').occurrences,
      2,
    )
  })

  it('mfa_disabled: turning 2FA off, not turning it on', async () => {
    const user = randomUUID()
    await replay(t(), acme.orgId, [{ action: 'mfa.totp.enable', actorId: user, at: at(500) }])
    assert.equal((await alertsOf('mfa_disabled')).length, 0)
    await replay(t(), acme.orgId, [
      { action: 'mfa.totp.disable', actorId: user, targetId: user, at: at(501), details: { with: 'recovery' } },
    ])
    const [alert] = await alertsOf('mfa_disabled')
    assert.equal(alert.severity, 'high')
  })

  it('grant_misuse: a grant used beyond its scope or after it ended, not a proper use', async () => {
    const grant = randomUUID()
    await replay(t(), acme.orgId, [
      {
        action: 'grant.use',
        actorId: randomUUID(),
        targetId: grant,
        at: at(600),
        details: { grant, route: 'GET /v1/orgs/:orgId/secrets' },
      },
    ])
    assert.equal((await alertsOf('grant_misuse')).length, 0)
    // Within the grant's scope, a thing the org does not have (no SSO set up, no offboarding
    // asked): the API answers 404, recorded as a refusal, but nothing beyond the grant was tried.
    await replay(t(), acme.orgId, [
      {
        action: 'access.denied',
        outcome: 'denied',
        actorId: randomUUID(),
        at: at(600),
        details: { grant, status: 404, code: 'NOT_FOUND' },
      },
    ])
    assert.equal((await alertsOf('grant_misuse')).length, 0, 'a 404 within the scope is no misuse')
    await replay(t(), acme.orgId, [
      {
        action: 'access.denied',
        outcome: 'denied',
        actorId: randomUUID(),
        at: at(601),
        details: { grant, status: 403, code: 'FORBIDDEN', permission: 'vault:reveal' },
      },
    ])
    await replay(t(), acme.orgId, [
      {
        action: 'grant.use',
        outcome: 'denied',
        actorId: randomUUID(),
        targetId: randomUUID(),
        at: at(602),
        details: { reason: 'revoked' },
      },
    ])
    assert.equal((await alertsOf('grant_misuse')).length, 2)
  })

  it('audit_integrity: a chain that fails verification, not a sound one', async () => {
    assert.equal(await t().app.services.alerts.verifyChains(), 0)
    assert.equal((await alertsOf('audit_integrity')).length, 0)
    await sql`UPDATE audit_events SET details = '{"reason":"rewritten"}' WHERE id = ${idAtSeq(acme.orgId, 3)}`.execute(
      t().db.kysely,
    )
    assert.ok((await t().app.services.alerts.verifyChains()) >= 1)
    const [alert] = await alertsOf('audit_integrity')
    assert.equal(alert.severity, 'critical')
    assert.equal(alert.details.problems[0].kind, 'hash_mismatch')
  })

  it('notifies owners and admins of a new alert, and is acknowledged and resolved', async () => {
    const notices = await t()
      .db.kysely.selectFrom('notifications')
      .select(['kind', 'subject'])
      .where('org_id', '=', acme.orgId)
      .where('kind', '=', 'alert.raised')
      .execute()
    assert.ok(notices.length >= 8)
    const [alert] = await alertsOf('mfa_disabled')
    const acked = await t().request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/alerts/${alert.id}/acknowledge`,
      token: acme.ownerToken,
    })
    assert.equal(acked.body.status, 'acknowledged')
    const resolved = await t().request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/alerts/${alert.id}/resolve`,
      token: acme.ownerToken,
      body: { note: 'the user re-enrolled a new phone' },
    })
    assert.equal(resolved.body.status, 'resolved')
    assert.equal(
      (
        await t().request({
          method: 'POST',
          url: `/v1/orgs/${acme.orgId}/alerts/${alert.id}/resolve`,
          token: acme.ownerToken,
          body: {},
        })
      ).status,
      409,
    )
  })
})
