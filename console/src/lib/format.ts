import Bowser from 'bowser'

/** A moment the API gives (ISO 8601) in the reader's locale, or "never" when there is none. */
export function when(iso: string | null): string {
  return iso === null ? 'never' : new Date(iso).toLocaleString()
}

/**
 * A User-Agent header as a person names their device: "Chrome 140 on Linux", "Safari 17 on
 * iOS (phone)"; the header itself when the parser (bowser, maintained, MIT) knows neither the
 * browser nor the system (a script: "curl/8.5.0"); "unknown" without one. The raw header stays
 * available as the cell's title.
 */
export function deviceName(userAgent: string | null): string {
  if (userAgent === null || userAgent.trim() === '') return 'unknown'
  const parsed = Bowser.parse(userAgent)
  const browser = parsed.browser.name
  const major = parsed.browser.version?.split('.')[0]
  // The system's name only: browsers freeze its version in the header (macOS "10_15_7",
  // "Windows NT 10.0" on Windows 11), so a version would often be wrong.
  const os = parsed.os.name ?? ''
  const kind = parsed.platform.type === 'mobile' ? ' (phone)' : parsed.platform.type === 'tablet' ? ' (tablet)' : ''
  if (browser === undefined || browser === '') return os === '' ? userAgent.slice(0, 60) : `${os}${kind}`
  const named = major === undefined || major === '' ? browser : `${browser} ${major}`
  return os === '' ? named : `${named} on ${os}${kind}`
}
