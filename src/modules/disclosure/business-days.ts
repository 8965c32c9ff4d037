/**
 * Business-day arithmetic for disclosure deadlines (P9.1): "acknowledged within 5
 * business days" counted in one time zone, skipping the weekend days and the holidays
 * the operator configures.
 *
 * The rule, stated once: a deadline is the receipt time moved forward by N business
 * days, keeping the local time of day. A report received on a day off counts from the
 * start (00:00) of the next business day. So a report received on Monday 10:00 is due
 * the next Monday 10:00; one received on Saturday is due at the end of the following
 * Friday (Saturday's counting starts Monday 00:00, plus five business days: next Monday
 * 00:00). A local time that does not exist on the due day (a daylight-saving gap) is
 * moved forward by the gap.
 */
export interface BusinessCalendar {
  /** An IANA time zone, e.g. "Europe/Berlin"; "UTC" by default. */
  timeZone: string
  /** Days of the week that are not business days: 0 = Sunday … 6 = Saturday. */
  weekend: ReadonlySet<number>
  /** Local dates that are not business days, as YYYY-MM-DD. */
  holidays: ReadonlySet<string>
}

const DAY_MS = 86_400_000

interface LocalTime {
  /** Midnight UTC of the local calendar date: a carrier for calendar arithmetic only. */
  date: number
  /** Milliseconds since local midnight. */
  timeOfDay: number
}

const formatters = new Map<string, Intl.DateTimeFormat>()
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone)
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })
    formatters.set(timeZone, f)
  }
  return f
}

/** The wall-clock reading of an instant in a zone, as a UTC timestamp with the same fields. */
function wallClock(instant: number, timeZone: string): number {
  const parts = Object.fromEntries(formatter(timeZone).formatToParts(new Date(instant)).map((p) => [p.type, p.value]))
  const ms = ((instant % 1000) + 1000) % 1000
  return Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second), ms)
}

function toLocal(instant: Date, timeZone: string): LocalTime {
  const wall = wallClock(instant.getTime(), timeZone)
  const date = Math.floor(wall / DAY_MS) * DAY_MS
  return { date, timeOfDay: wall - date }
}

/** The instant at which the zone's clocks read `wall` (forward across a gap). */
function fromLocal(wall: number, timeZone: string): Date {
  const offsetAt = (instant: number) => wallClock(instant, timeZone) - instant
  let instant = wall - offsetAt(wall)
  const second = wall - offsetAt(instant)
  if (second !== instant) instant = Math.max(instant, second)
  return new Date(instant)
}

export function isoDate(carrier: number): string {
  return new Date(carrier).toISOString().slice(0, 10)
}

/** Whether a local calendar date (YYYY-MM-DD) is a business day. */
export function isBusinessDay(date: string, calendar: BusinessCalendar): boolean {
  const carrier = Date.parse(`${date}T00:00:00Z`)
  if (Number.isNaN(carrier)) throw new RangeError(`not a date: ${date}`)
  return !calendar.weekend.has(new Date(carrier).getUTCDay()) && !calendar.holidays.has(date)
}

/** `start` moved forward by `days` business days (see the rule above). */
export function addBusinessDays(start: Date, days: number, calendar: BusinessCalendar): Date {
  if (!Number.isInteger(days) || days < 0) throw new RangeError('days must be a whole number, zero or more')
  if (calendar.weekend.size >= 7) throw new RangeError('a calendar needs at least one business day a week')
  let { date, timeOfDay } = toLocal(start, calendar.timeZone)
  const business = (carrier: number) => isBusinessDay(isoDate(carrier), calendar)
  if (!business(date)) {
    while (!business(date)) date += DAY_MS
    timeOfDay = 0
  }
  // Ends: the holidays are finitely many and at least one weekday a week is a business day.
  for (let left = days; left > 0; ) {
    date += DAY_MS
    if (business(date)) left--
  }
  return fromLocal(date + timeOfDay, calendar.timeZone)
}

/** Whole business days from `from` to `to` (local dates, `from` excluded, `to` included). */
export function businessDaysBetween(from: Date, to: Date, calendar: BusinessCalendar): number {
  let date = toLocal(from, calendar.timeZone).date
  const end = toLocal(to, calendar.timeZone).date
  let count = 0
  while (date < end) {
    date += DAY_MS
    if (isBusinessDay(isoDate(date), calendar)) count++
  }
  return count
}

const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const

/** Parses "sat,sun" into day numbers; undefined for anything else. */
export function parseWeekend(text: string): Set<number> | undefined {
  const days = text.split(',').map((d) => d.trim().toLowerCase()).filter((d) => d !== '')
  const numbers = days.map((d) => DAY_NAMES.indexOf(d as (typeof DAY_NAMES)[number]))
  if (numbers.some((n) => n < 0) || numbers.length >= 7) return undefined
  return new Set(numbers)
}

/** Parses holidays separated by commas or white space; the bad entries are returned apart. */
export function parseHolidays(text: string): { dates: Set<string>; bad: string[] } {
  const dates = new Set<string>()
  const bad: string[] = []
  for (const entry of text.split(/[\s,]+/).filter((e) => e !== '')) {
    const parsed = /^\d{4}-\d{2}-\d{2}$/.test(entry) ? Date.parse(`${entry}T00:00:00Z`) : Number.NaN
    if (Number.isNaN(parsed) || isoDate(parsed) !== entry) bad.push(entry)
    else dates.add(entry)
  }
  return { dates, bad }
}

export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name })
    return true
  } catch {
    return false
  }
}
