import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  addBusinessDays,
  businessDaysBetween,
  isBusinessDay,
  parseHolidays,
  parseWeekend,
  subtractBusinessDays,
  type BusinessCalendar,
} from './business-days.ts'

const utc = (holidays: string[] = [], weekend = 'sat,sun'): BusinessCalendar => ({
  timeZone: 'UTC',
  weekend: parseWeekend(weekend) as Set<number>,
  holidays: new Set(holidays),
})
const due = (start: string, days: number, calendar: BusinessCalendar) =>
  addBusinessDays(new Date(start), days, calendar).toISOString()

describe('business days (P9.1)', () => {
  it('counts five business days from a weekday to the same time a week later', () => {
    // 2026-11-23 is a Monday.
    assert.equal(due('2026-11-23T10:00:00.000Z', 5, utc()), '2026-11-30T10:00:00.000Z')
    assert.equal(
      due('2026-11-26T16:30:00.000Z', 5, utc()),
      '2026-12-03T16:30:00.000Z',
      'Thursday to Thursday, across a weekend',
    )
    assert.equal(due('2026-11-27T23:59:59.999Z', 1, utc()), '2026-11-30T23:59:59.999Z', 'Friday plus one is Monday')
  })

  it('starts a report received on a day off at the start of the next business day', () => {
    assert.equal(
      due('2026-11-28T09:00:00.000Z', 5, utc()),
      '2026-12-07T00:00:00.000Z',
      'Saturday: counting starts Monday 00:00',
    )
    assert.equal(
      due('2026-11-29T23:00:00.000Z', 1, utc()),
      '2026-12-01T00:00:00.000Z',
      'Sunday plus one: end of Monday',
    )
    assert.equal(
      due('2026-11-28T09:00:00.000Z', 0, utc()),
      '2026-11-30T00:00:00.000Z',
      'zero days: the next business day begins',
    )
  })

  it('skips configured holidays, including runs of them and ones on a weekend', () => {
    const christmas = utc(['2026-12-24', '2026-12-25', '2026-12-26', '2026-12-31', '2027-01-01'])
    // Monday 21 Dec: Tue 22, Wed 23, (24, 25 holidays, 26–27 weekend) Mon 28, Tue 29, Wed 30.
    assert.equal(due('2026-12-21T12:00:00.000Z', 5, christmas), '2026-12-30T12:00:00.000Z')
    // Received on a holiday (Thursday 24th): counting starts Monday 28th 00:00.
    assert.equal(due('2026-12-24T08:00:00.000Z', 5, christmas), '2027-01-06T00:00:00.000Z')
    assert.equal(isBusinessDay('2026-12-26', christmas), false, 'a holiday on a Saturday is just a Saturday')
    assert.equal(businessDaysBetween(new Date('2026-12-21T00:00:00Z'), new Date('2027-01-04T00:00:00Z'), christmas), 6)
  })

  it('supports another weekend', () => {
    const friSat = utc([], 'fri,sat')
    // 2026-11-26 is a Thursday: Sun 29, Mon 30, Tue 1, Wed 2, Thu 3.
    assert.equal(due('2026-11-26T10:00:00.000Z', 5, friSat), '2026-12-03T10:00:00.000Z')
    assert.equal(
      due('2026-11-27T10:00:00.000Z', 1, friSat),
      '2026-11-30T00:00:00.000Z',
      'received Friday: counts from Sunday 00:00',
    )
    assert.equal(isBusinessDay('2026-11-29', friSat), true)
  })

  it('counts in the configured time zone, across daylight-saving changes', () => {
    const berlin: BusinessCalendar = { ...utc(), timeZone: 'Europe/Berlin' }
    // Friday 23:30 UTC is already Saturday 00:30 in Berlin (CET): counting starts Monday 00:00 local.
    assert.equal(due('2026-11-27T23:30:00.000Z', 5, berlin), '2026-12-06T23:00:00.000Z')
    // Across the end of summer time (25 Oct 2026): 10:00 CEST Thursday → 10:00 CET Thursday.
    assert.equal(due('2026-10-22T08:00:00.000Z', 5, berlin), '2026-10-29T09:00:00.000Z')
    // Across its start (29 Mar 2026): Friday 02:30 CET → Monday 02:30 CEST.
    assert.equal(due('2026-03-27T01:30:00.000Z', 1, berlin), '2026-03-30T00:30:00.000Z')
    const newYork: BusinessCalendar = { ...utc(['2026-11-26']), timeZone: 'America/New_York' }
    // Wednesday 25 Nov 22:00 New York (Thanksgiving on the 26th): Fri 27, Mon 30.
    assert.equal(due('2026-11-26T03:00:00.000Z', 2, newYork), '2026-12-01T03:00:00.000Z')
  })

  it('moves a time that does not exist on the due day to the next valid time: the end of the gap (K7)', () => {
    // Sunday 29 Mar 2026 02:30 does not exist in Berlin (02:00 CET → 03:00 CEST); with Sunday a
    // business day, a report from Friday 02:30 CET is due one business day later at 03:00 CEST.
    const sevenDays: BusinessCalendar = { timeZone: 'Europe/Berlin', weekend: new Set([6]), holidays: new Set() }
    assert.equal(
      due('2026-03-27T01:30:00.000Z', 1, sevenDays),
      '2026-03-29T01:00:00.000Z',
      'Friday 02:30 CET + 1 (Saturday off) = Sunday 03:00 CEST',
    )
    // A time that exists twice (Sunday 25 Oct 2026, 02:00–03:00 twice) is due at its first occurrence.
    assert.equal(
      due('2026-10-23T00:30:00.000Z', 1, sevenDays),
      '2026-10-25T00:30:00.000Z',
      'Friday 02:30 CEST + 1 = Sunday 02:30 CEST, not CET',
    )
  })

  it('keeps the wall-clock time across a daylight-saving change between receipt and due day, in zones far from UTC (K7)', () => {
    // Auckland (+13 NZDT → +12 NZST on Sunday 5 Apr 2026): Thursday 2 Apr 09:00 NZDT + 5 = Thursday 9 Apr 09:00 NZST.
    const auckland: BusinessCalendar = { ...utc(), timeZone: 'Pacific/Auckland' }
    assert.equal(due('2026-04-01T20:00:00.000Z', 5, auckland), '2026-04-08T21:00:00.000Z')
    // Los Angeles (spring forward Sunday 8 Mar 2026): Thursday 5 Mar 18:00 PST + 5 = Thursday 12 Mar 18:00 PDT.
    const losAngeles: BusinessCalendar = { ...utc(), timeZone: 'America/Los_Angeles' }
    assert.equal(due('2026-03-06T02:00:00.000Z', 5, losAngeles), '2026-03-13T01:00:00.000Z')
  })

  it('finds the business day before a deadline, at the same local time: the reminder (K7)', () => {
    const back = (due: string, days: number, calendar: BusinessCalendar) =>
      subtractBusinessDays(new Date(due), days, calendar).toISOString()
    assert.equal(
      back('2026-11-30T10:00:00.000Z', 1, utc()),
      '2026-11-27T10:00:00.000Z',
      'Monday 10:00 → Friday 10:00, not Sunday',
    )
    assert.equal(back('2026-12-02T10:00:00.000Z', 1, utc()), '2026-12-01T10:00:00.000Z')
    assert.equal(
      back('2026-12-29T09:00:00.000Z', 1, utc(['2026-12-24', '2026-12-25', '2026-12-28'])),
      '2026-12-23T09:00:00.000Z',
      'over a holiday run and a weekend',
    )
    const berlin: BusinessCalendar = { ...utc(), timeZone: 'Europe/Berlin' }
    assert.equal(
      back('2026-10-26T09:00:00.000Z', 1, berlin),
      '2026-10-23T08:00:00.000Z',
      'Monday 10:00 CET → Friday 10:00 CEST',
    )
    assert.equal(back('2026-11-30T10:00:00.000Z', 0, utc()), '2026-11-30T10:00:00.000Z')
  })

  it('parses weekend and holiday settings, refusing what is not a date', () => {
    assert.deepEqual([...(parseWeekend('Sat, SUN') as Set<number>)].sort(), [0, 6])
    assert.equal(parseWeekend('sat,caturday'), undefined)
    assert.equal(parseWeekend('sun,mon,tue,wed,thu,fri,sat'), undefined, 'at least one business day a week')
    const parsed = parseHolidays('2026-12-25, 2027-01-01\n2026-02-30 25.12.2026')
    assert.deepEqual([...parsed.dates], ['2026-12-25', '2027-01-01'])
    assert.deepEqual(parsed.bad, ['2026-02-30', '25.12.2026'])
  })

  it('refuses a negative or fractional count', () => {
    assert.throws(() => addBusinessDays(new Date(), -1, utc()), RangeError)
    assert.throws(() => addBusinessDays(new Date(), 1.5, utc()), RangeError)
  })
})
