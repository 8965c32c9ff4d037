import assert from 'node:assert/strict'

const MONTH = '(January|February|March|April|May|June|July|August|September|October|November|December)'

/**
 * Asserts that an alert's title gives its time in words, as people read it in mails and the
 * console ("2 December 2026, 15:36 UTC", src/time-zone.ts timeInWords), and no raw RFC 3339
 * instant: the exact instant belongs in the alert's details.
 */
export function assertTimeInWords(title: string, timeZone = 'UTC'): void {
  assert.doesNotMatch(title, /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/, `a raw instant in the title: ${title}`)
  assert.match(
    title,
    new RegExp(`\\b\\d{1,2} ${MONTH} \\d{4}, \\d{2}:\\d{2} ${timeZone.replace(/[/+]/g, '\\$&')}\\b`),
    title,
  )
}
