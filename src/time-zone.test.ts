import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { timeInWords } from './time-zone.ts'

describe('timeInWords', () => {
  it('says an instant as a date and minute in words, with the zone it counts in', () => {
    const instant = new Date('2026-12-02T15:36:59.999Z')
    assert.equal(timeInWords(instant), '2 December 2026, 15:36 UTC')
    assert.equal(timeInWords(instant, 'Europe/Berlin'), '2 December 2026, 16:36 Europe/Berlin')
    // Across a date line: the zone's own day.
    assert.equal(timeInWords(new Date('2026-03-31T23:30:00Z'), 'Asia/Tokyo'), '1 April 2026, 08:30 Asia/Tokyo')
  })
})
