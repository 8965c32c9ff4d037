import { Temporal } from 'temporal-polyfill'

/**
 * Business-day arithmetic for disclosure deadlines (P9.1): "acknowledged within 5
 * business days" counted in one time zone, skipping the weekend days and the holidays
 * the operator configures.
 *
 * The rule, stated once: a deadline is the same local wall-clock time N business days
 * after receipt. A report received on a day off counts from the start of the next
 * business day. So a report received on Monday 10:00 is due the next Monday 10:00; one
 * received on Saturday is due at the end of the following Friday (Saturday's counting
 * starts Monday 00:00, plus five business days: next Monday 00:00). Where that wall-clock
 * time does not exist on the due day (a daylight-saving gap), the deadline is the next
 * valid time: the instant the clocks jump (02:30 in a 02:00→03:00 gap is due at 03:00).
 * Where it exists twice (clocks set back), the first of the two.
 *
 * The calendar work is done by Temporal (the `temporal-polyfill` package until Node
 * ships it): plain dates for the day count, the zone's rules for the wall-clock time.
 * Nothing here adds milliseconds to move across days.
 */
export interface BusinessCalendar {
  /** An IANA time zone, e.g. "Europe/Berlin"; "UTC" by default. */
  timeZone: string
  /** Days of the week that are not business days: 0 = Sunday … 6 = Saturday. */
  weekend: ReadonlySet<number>
  /** Local dates that are not business days, as YYYY-MM-DD. */
  holidays: ReadonlySet<string>
}

/** Whether a local calendar date (YYYY-MM-DD) is a business day. */
export function isBusinessDay(date: string, calendar: BusinessCalendar): boolean {
  return businessDay(plainDate(date), calendar)
}

function plainDate(date: string): Temporal.PlainDate {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new RangeError(`not a date: ${date}`)
  try {
    return Temporal.PlainDate.from(date, { overflow: 'reject' })
  } catch {
    throw new RangeError(`not a date: ${date}`)
  }
}

function businessDay(date: Temporal.PlainDate, calendar: BusinessCalendar): boolean {
  // Temporal numbers the days 1 = Monday … 7 = Sunday; the calendar 0 = Sunday … 6 = Saturday.
  return !calendar.weekend.has(date.dayOfWeek % 7) && !calendar.holidays.has(date.toString())
}

function zoned(instant: Date, timeZone: string): Temporal.ZonedDateTime {
  return Temporal.Instant.fromEpochMilliseconds(instant.getTime()).toZonedDateTimeISO(timeZone)
}

/**
 * The first instant at which the zone's clocks read `wall` or later: `wall` itself (its
 * first occurrence if the clocks are set back over it), or, in a gap, the end of the gap.
 */
export function firstInstantAt(wall: Temporal.PlainDateTime, timeZone: string): Temporal.Instant {
  const earlier = wall.toZonedDateTime(timeZone, { disambiguation: 'earlier' })
  if (Temporal.PlainDateTime.compare(earlier.toPlainDateTime(), wall) === 0) return earlier.toInstant()
  // In a gap, 'earlier' reads the same wall time on the offset before the gap, so it lies
  // before the transition; the transition after it is where the clocks jump past `wall`.
  const transition = earlier.getTimeZoneTransition('next')
  if (transition === null) throw new RangeError(`no valid time at ${wall.toString()} in ${timeZone}`)
  return transition.toInstant()
}

/** `start` moved forward by `days` business days (see the rule above). */
export function addBusinessDays(start: Date, days: number, calendar: BusinessCalendar): Date {
  if (!Number.isInteger(days) || days < 0) throw new RangeError('days must be a whole number, zero or more')
  if (calendar.weekend.size >= 7) throw new RangeError('a calendar needs at least one business day a week')
  const received = zoned(start, calendar.timeZone)
  let date = received.toPlainDate()
  let time = received.toPlainTime()
  if (!businessDay(date, calendar)) {
    while (!businessDay(date, calendar)) date = date.add({ days: 1 })
    time = new Temporal.PlainTime(0, 0)
  }
  // Ends: the holidays are finitely many and at least one weekday a week is a business day.
  for (let left = days; left > 0; ) {
    date = date.add({ days: 1 })
    if (businessDay(date, calendar)) left--
  }
  return new Date(firstInstantAt(date.toPlainDateTime(time), calendar.timeZone).epochMilliseconds)
}

/**
 * `due` moved back by `days` business days at the same local wall-clock time (the next
 * valid time if it does not exist that day): when "a business day before the deadline" is.
 * Never later than `due`.
 */
export function subtractBusinessDays(due: Date, days: number, calendar: BusinessCalendar): Date {
  if (!Number.isInteger(days) || days < 0) throw new RangeError('days must be a whole number, zero or more')
  if (calendar.weekend.size >= 7) throw new RangeError('a calendar needs at least one business day a week')
  const at = zoned(due, calendar.timeZone)
  let date = at.toPlainDate()
  for (let left = days; left > 0; ) {
    date = date.subtract({ days: 1 })
    if (businessDay(date, calendar)) left--
  }
  return new Date(
    Math.min(
      firstInstantAt(date.toPlainDateTime(at.toPlainTime()), calendar.timeZone).epochMilliseconds,
      due.getTime(),
    ),
  )
}

/** Whole business days from `from` to `to` (local dates, `from` excluded, `to` included). */
export function businessDaysBetween(from: Date, to: Date, calendar: BusinessCalendar): number {
  let date = zoned(from, calendar.timeZone).toPlainDate()
  const end = zoned(to, calendar.timeZone).toPlainDate()
  let count = 0
  while (Temporal.PlainDate.compare(date, end) < 0) {
    date = date.add({ days: 1 })
    if (businessDay(date, calendar)) count++
  }
  return count
}

const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const

/** Parses "sat,sun" into day numbers; undefined for anything else. */
export function parseWeekend(text: string): Set<number> | undefined {
  const days = text
    .split(',')
    .map((d) => d.trim().toLowerCase())
    .filter((d) => d !== '')
  const numbers = days.map((d) => DAY_NAMES.indexOf(d as (typeof DAY_NAMES)[number]))
  if (numbers.some((n) => n < 0) || numbers.length >= 7) return undefined
  return new Set(numbers)
}

/** Parses holidays separated by commas or white space; the bad entries are returned apart. */
export function parseHolidays(text: string): { dates: Set<string>; bad: string[] } {
  const dates = new Set<string>()
  const bad: string[] = []
  for (const entry of text.split(/[\s,]+/).filter((e) => e !== '')) {
    try {
      dates.add(plainDate(entry).toString())
    } catch {
      bad.push(entry)
    }
  }
  return { dates, bad }
}

export { isTimeZone } from '../../time-zone.ts'
