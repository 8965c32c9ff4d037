import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Temporal } from 'temporal-polyfill'
import { actionMatches, ALERT_RULES, PRIVILEGE_ACTIONS, type ChainedEvent, type History } from './alert.rules.ts'

/**
 * K7: reveal_off_hours asks its questions in the org's hours of the day. A small History
 * of our own answers them: the actor's usual hour is 09 local, its history long enough.
 */
const rule = ALERT_RULES.find((r) => r.name === 'reveal_off_hours')
if (rule === undefined) throw new Error('reveal_off_hours is missing')
const settings = { ...rule.defaults }

function usualAt(hour: number): History & { asked: number[][] } {
  const asked: number[][] = []
  return {
    asked,
    async count(_filter, _from, _to, cap) {
      return cap
    },
    async revealedAtHours(_actorId, hours) {
      asked.push(hours)
      return hours.includes(hour)
    },
    async revealHours() {
      return [hour]
    },
  }
}

const reveal = (time: Date): ChainedEvent => ({
  eventId: 'e',
  time,
  origin: 'custodian',
  actorType: 'user',
  actorId: 'u1',
  action: 'secret.reveal',
  targetType: 'secret',
  targetId: 's',
  outcome: 'success',
  ip: null,
  details: {},
})

/** The instant a zone's clocks read `hh:mm` on a date (the date and time exist in every zone below). */
const localInstant = (zone: string, date: string, time: string) =>
  new Date(Temporal.PlainDateTime.from(`${date}T${time}`).toZonedDateTime(zone).epochMilliseconds)

describe('reveal_off_hours in the org’s time zone (K7)', () => {
  const zones = [
    'UTC',
    'Europe/Berlin',
    'America/New_York',
    'Asia/Kolkata',
    'Asia/Kathmandu',
    'America/St_Johns',
    'Pacific/Chatham',
    'Pacific/Kiritimati',
    'Pacific/Pago_Pago',
    'Australia/Lord_Howe',
  ]
  for (const zone of zones) {
    it(`${zone}: 10:20 local is within the usual 09 hour, 03:20 local is not, in winter and in summer`, async () => {
      for (const date of ['2026-01-14', '2026-07-15']) {
        const near = usualAt(9)
        assert.equal(
          await rule.evaluate(reveal(localInstant(zone, date, '10:20')), settings, near, { timeZone: zone }),
          null,
          `${zone} ${date} 10:20`,
        )
        assert.deepEqual(near.asked, [[9, 10, 11]])
        const night = usualAt(9)
        const fired = await rule.evaluate(reveal(localInstant(zone, date, '03:20')), settings, night, {
          timeZone: zone,
        })
        assert.deepEqual(night.asked, [[2, 3, 4]])
        assert.equal(fired?.details.hour, 3, `${zone} ${date} 03:20`)
        assert.equal(fired?.details.timeZone, zone)
      }
    })
  }

  it('wraps around midnight', async () => {
    const history = usualAt(23)
    assert.equal(
      await rule.evaluate(reveal(localInstant('Asia/Tokyo', '2026-03-02', '00:10')), settings, history, {
        timeZone: 'Asia/Tokyo',
      }),
      null,
    )
    assert.deepEqual(history.asked, [[23, 0, 1]])
  })
})

describe('application_action: rules match the host application’s actions (issue 14 §1)', () => {
  const appRule = ALERT_RULES.find((r) => r.name === 'application_action')
  if (appRule === undefined) throw new Error('application_action is missing')
  const at = new Date('2026-12-01T10:00:00Z')
  const event = (action: string, origin: ChainedEvent['origin'] = 'application'): ChainedEvent => ({
    eventId: 'e',
    time: at,
    origin,
    actorType: 'user',
    actorId: 'u_42',
    action,
    targetType: 'document',
    targetId: 'doc_9',
    outcome: 'success',
    ip: null,
    details: {},
  })
  const counting = (n: number): History => ({
    async count(_filter, _from, _to, cap) {
      return Math.min(n, cap)
    },
    async revealedAtHours() {
      return false
    },
    async revealHours() {
      return []
    },
  })
  const watching = { ...appRule.defaults, actions: ['document.export', 'billing.*'] }
  const org = { timeZone: 'UTC' }

  it('matches exact actions and families', () => {
    assert.equal(actionMatches('document.export', ['document.export']), true)
    assert.equal(actionMatches('document.exported', ['document.export']), false)
    assert.equal(actionMatches('billing.plan.change', ['billing.*']), true)
    assert.equal(actionMatches('billingx.plan', ['billing.*']), false)
  })

  it('fires on a watched application action, never on Custodian’s own nor on an unwatched one', async () => {
    const fired = await appRule.evaluate(event('document.export'), watching, counting(1), org)
    assert.equal(fired?.key, 'document.export:u_42')
    assert.equal(await appRule.evaluate(event('document.view'), watching, counting(1), org), null)
    assert.equal(await appRule.evaluate(event('document.export', 'custodian'), watching, counting(1), org), null)
    assert.equal(await appRule.evaluate(event('document.export'), appRule.defaults, counting(1), org), null)
  })

  it('with a threshold, fires once one actor reaches it within the window', async () => {
    const three = { ...watching, threshold: 3 }
    assert.equal(await appRule.evaluate(event('billing.refund'), three, counting(2), org), null)
    const fired = await appRule.evaluate(event('billing.refund'), three, counting(3), org)
    assert.equal(fired?.details.events, 3)
  })
})

/**
 * Issue 13: an alert's title is stored and sent in mails and webhooks, so it is words — no
 * id, no action or permission key, no person (email, address). Every rule is made to fire
 * on events that carry all of those, and each title it gives is swept for them.
 */
describe('alert titles are words, naming no one (issue 13)', () => {
  const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i
  const DOTTED_KEY = /\b[a-z_]+(\.[a-z_]+)+\b/i
  const UNDERSCORED_KEY = /\b[a-z]+_[a-z_]+\b/i
  const actorId = '0b6c1a52-3f43-4d8e-9a51-2f0f5a3c9e11'
  const grantId = '7d2e4f60-8a1b-4c3d-9e5f-60718293a4b5'
  const email = 'ana@example.com'
  const ip = '203.0.113.7'
  const base: ChainedEvent = {
    eventId: 'e',
    time: new Date('2026-12-01T03:20:00Z'),
    origin: 'custodian',
    actorType: 'user',
    actorId,
    action: 'auth.login',
    targetType: 'user',
    targetId: actorId,
    outcome: 'success',
    ip,
    details: { email },
  }
  const events: ChainedEvent[] = [
    { ...base, outcome: 'denied' },
    { ...base, action: 'secret.reveal', targetType: 'secret' },
    { ...base, action: 'secret.reveal', actorType: 'service_account' },
    ...[...PRIVILEGE_ACTIONS].flatMap((action) =>
      ['user', 'service_account', 'system'].map((actorType) => ({ ...base, action, actorType, targetType: 'role' })),
    ),
    { ...base, action: 'mfa.totp.disable' },
    { ...base, action: 'access.denied', outcome: 'denied', details: { grant: grantId, permission: 'vault:reveal' } },
    ...['revoked', 'expired', 'not the grantee'].map((reason) => ({
      ...base,
      action: 'grant.use',
      outcome: 'denied',
      targetType: 'grant',
      targetId: grantId,
      details: { reason },
    })),
    { ...base, origin: 'application', action: 'document.export', actorType: 'end_user', actorId: email },
  ]
  const history: History = {
    async count(_filter, _from, _to, cap) {
      return cap
    },
    async revealedAtHours() {
      return false
    },
    async revealHours() {
      return [9, 10]
    },
  }

  for (const rule of ALERT_RULES.filter((r) => r.name !== 'audit_integrity')) {
    it(`${rule.name}: its titles hold no id, key, email or address`, async () => {
      const titles: string[] = []
      for (const threshold of [1, 3])
        for (const event of events) {
          const settings = { ...rule.defaults, threshold, actions: rule.defaults.actions && ['document.*'] }
          const fired = await rule.evaluate(event, settings, history, { timeZone: 'Europe/Berlin' })
          if (fired !== null) titles.push(fired.title)
        }
      assert.ok(titles.length > 0, 'the rule fired')
      for (const title of titles) {
        assert.doesNotMatch(title, UUID, title)
        assert.doesNotMatch(title, DOTTED_KEY, title)
        assert.doesNotMatch(title, UNDERSCORED_KEY, title)
        assert.doesNotMatch(title, /@|203\.0\.113\.7|vault:reveal/, title)
      }
    })
  }

  it('says what changed and the kind of actor for a privilege change', async () => {
    const rule = ALERT_RULES.find((r) => r.name === 'privilege_change')
    const fired = await rule?.evaluate({ ...base, action: 'role.create' }, rule.defaults, history, { timeZone: 'UTC' })
    assert.equal(fired?.title, 'A role was created by a member')
    assert.equal(fired?.details.action, 'role.create', 'the action key stays in the details')
  })
})
