import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Temporal } from 'temporal-polyfill'
import { actionMatches, ALERT_RULES, type ChainedEvent, type History } from './alert.rules.ts'

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
