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
