import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Temporal } from 'temporal-polyfill'
import { addBusinessDays, type BusinessCalendar } from './business-days.ts'

/**
 * K7: every IANA zone × start times across a year, against an independent computation.
 *
 * The implementation works with Temporal. The oracle below does not: it reads wall clocks
 * with Intl.DateTimeFormat, walks days on plain UTC date carriers, and resolves a local
 * time by trying every offset the zone uses around it (a valid instant i has wall(i) = T,
 * so i = T − offset(i)), falling back to a bisection for the end of a gap. Temporal only
 * picks some of the inputs (start times just before each zone's 2026 transitions).
 */

const HOUR = 3_600_000
const DAY = 24 * HOUR // test-only carrier arithmetic: the oracle is the independent method

const formatters = new Map<string, Intl.DateTimeFormat>()
/** The zone's offset from UTC at `instant`, in milliseconds, as Intl reads it ("GMT+05:30"). */
function offset(instant: number, zone: string): number {
  let f = formatters.get(zone)
  if (f === undefined)
    formatters.set(zone, (f = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' })))
  const name = f.formatToParts(new Date(instant)).find((p) => p.type === 'timeZoneName')?.value ?? ''
  const m = /^GMT(?:([+-])(\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(name)
  assert.ok(m !== null, `oracle: unexpected offset ${name} in ${zone}`)
  if (m[1] === undefined) return 0
  return (m[1] === '-' ? -1 : 1) * ((Number(m[2]) * 60 + Number(m[3])) * 60 + Number(m[4] ?? 0)) * 1000
}

/** The zone's wall clock at `instant`, as a UTC timestamp with the same fields. */
const wall = (instant: number, zone: string) => instant + offset(instant, zone)

/** The first instant whose wall clock reads `target` or later (the rule's "next valid time"). */
function resolve(target: number, zone: string): number {
  const offsets = new Set<number>()
  // Offsets last far longer than 3 hours, so sampling every 3 hours around T finds each one in use.
  for (let i = target - 15 * HOUR; i <= target + 15 * HOUR; i += 3 * HOUR) offsets.add(offset(i, zone))
  const valid = [...offsets].map((o) => target - o).filter((i) => wall(i, zone) === target)
  if (valid.length > 0) return Math.min(...valid)
  // A gap: before it the wall reads less than target, after it more. Bisect for the jump.
  let lo = target - Math.max(...offsets)
  let hi = target - Math.min(...offsets)
  assert.ok(
    wall(lo, zone) < target && wall(hi, zone) > target,
    `oracle: no gap around ${new Date(target).toISOString()} in ${zone}`,
  )
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2)
    if (wall(mid, zone) >= target) hi = mid
    else lo = mid
  }
  return hi
}

function oracle(start: number, days: number, calendar: BusinessCalendar): number {
  const local = wall(start, calendar.timeZone)
  let date = Math.floor(local / DAY) * DAY
  let time = local - date
  const business = (d: number) =>
    !calendar.weekend.has(new Date(d).getUTCDay()) && !calendar.holidays.has(new Date(d).toISOString().slice(0, 10))
  if (!business(date)) {
    while (!business(date)) date += DAY
    time = 0
  }
  for (let left = days; left > 0; ) {
    date += DAY
    if (business(date)) left--
  }
  return resolve(date + time, calendar.timeZone)
}

/** Start times in 2026: one a month at assorted days and wall-clock times, and some just before each transition. */
function startsFor(zone: string, seed: number): { start: number; days: number }[] {
  const out: { start: number; days: number }[] = []
  const times = [
    '00:00',
    '00:30',
    '01:30',
    '02:15',
    '02:30',
    '03:00',
    '09:45',
    '12:00',
    '17:20',
    '23:30',
    '23:59:59.999',
  ]
  for (let month = 1; month <= 12; month++) {
    const day = 1 + ((month * 5 + seed) % 28)
    const time = times[(month + seed) % times.length] as string
    const wallTime = Temporal.PlainDateTime.from(
      `2026-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}T${time}`,
    )
    out.push({ start: wallTime.toZonedDateTime(zone).epochMilliseconds, days: (month + seed) % 8 })
  }
  let at: Temporal.ZonedDateTime | null = Temporal.ZonedDateTime.from({ year: 2026, month: 1, day: 1, timeZone: zone })
  for (let n = 0; n < 4; n++) {
    at = at.getTimeZoneTransition('next')
    if (at === null || at.year > 2026) break
    // The same wall-clock time, a few days before: due on the transition day, inside its gap or overlap.
    const before = at.subtract({ minutes: 1 }).toPlainDateTime()
    // Into a gap, into an overlap (clocks set back), and later on the day (far from UTC, the
    // offset at the wall time read as UTC is not the one in force at the due instant).
    for (const [back, delta] of [
      [1, 30],
      [2, -30],
      [3, 6 * 60],
      [4, 12 * 60],
    ] as const) {
      const wallTime = before.subtract({ days: back }).add({ minutes: delta })
      out.push({ start: wallTime.toZonedDateTime(zone).epochMilliseconds, days: back })
    }
  }
  return out
}

describe('business days in every IANA zone (K7)', () => {
  const zones = Intl.supportedValuesOf('timeZone')

  it('keeps the wall-clock time N business days later in every zone, against an independent Intl computation', () => {
    assert.ok(zones.length > 300, 'the runtime knows the IANA zones')
    const weekdays = (timeZone: string): BusinessCalendar => ({
      timeZone,
      weekend: new Set([0, 6]),
      holidays: new Set(['2026-04-03', '2026-12-25']),
    })
    const everyDay = (timeZone: string): BusinessCalendar => ({ timeZone, weekend: new Set(), holidays: new Set() })
    let checked = 0
    const failures: string[] = []
    for (const [z, zone] of zones.entries()) {
      for (const [n, { start, days }] of startsFor(zone, z).entries()) {
        // Every day a business day puts the due day on the transition days; Mon–Fri checks the weekend rule.
        const calendar = n % 2 === 0 ? everyDay(zone) : weekdays(zone)
        const got = addBusinessDays(new Date(start), days, calendar).getTime()
        const want = oracle(start, days, calendar)
        checked++
        if (got !== want && failures.length < 20)
          failures.push(
            `${zone} ${new Date(start).toISOString()} +${days} (${calendar.weekend.size === 0 ? 'every day' : 'Mon–Fri'}): got ${new Date(got).toISOString()}, want ${new Date(want).toISOString()}`,
          )
      }
    }
    assert.deepEqual(failures, [], `${failures.length} of ${checked} deadlines differ`)
    assert.ok(checked >= zones.length * 12)
  })
})
