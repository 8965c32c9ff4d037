import { Temporal } from 'temporal-polyfill'

/**
 * IANA time zones, for rules that count in a zone (business days, an org's hours of the
 * day). Temporal (the `temporal-polyfill` package until Node ships it) applies the zone's
 * rules; nothing here adds offsets by hand.
 */

/**
 * Whether `name` is an IANA time-zone name (or alias) this runtime knows: "Europe/Berlin",
 * "UTC". Fixed offsets ("+01:00"), which Temporal and Intl would also take, are refused:
 * a zone's rules follow its daylight-saving changes, an offset does not.
 */
export function isTimeZone(name: string): boolean {
  if (typeof name !== 'string' || name.length > 64 || !/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(name))
    return false
  try {
    Temporal.Now.zonedDateTimeISO(name)
    return true
  } catch {
    return false
  }
}

/** The local hour of the day (0–23) of an instant in an IANA zone. */
export function localHour(instant: Date, timeZone: string): number {
  return Temporal.Instant.fromEpochMilliseconds(instant.getTime()).toZonedDateTimeISO(timeZone).hour
}

const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
]

/**
 * An instant in words for a title that people read in mails, webhooks and the console:
 * "2 December 2026, 15:36 UTC" — the local date and minute in the IANA zone `timeZone`
 * (default UTC), followed by the zone's name so no reader has to guess it. English month
 * names, whatever the server's locale; seconds left out. The exact instant belongs in the
 * alert's details (RFC 3339), not here.
 */
export function timeInWords(instant: Date, timeZone = 'UTC'): string {
  const local = Temporal.Instant.fromEpochMilliseconds(instant.getTime()).toZonedDateTimeISO(timeZone)
  const hhmm = `${String(local.hour).padStart(2, '0')}:${String(local.minute).padStart(2, '0')}`
  return `${local.day} ${MONTHS[local.month - 1]} ${local.year}, ${hhmm} ${timeZone}`
}
