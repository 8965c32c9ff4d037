import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { decide } from './consent.decide.ts'
import type { CheckRow } from './consent.store.ts'
import { oneMonthAfter } from './consent.service.ts'

const NOW = new Date('2026-03-15T12:00:00Z')
const KEY = '11111111-1111-1111-1111-111111111111'
const granted: CheckRow = {
  purpose_id: 'p',
  lawful_basis: 'consent',
  reconsent_from_version: null,
  state: 'granted',
  state_key_id: KEY,
  event_id: 'e',
  notice_version: 1,
  expires_at: null,
  subject_key_id: KEY,
  restricted: false,
  shredded: false,
}

describe('the consent check fails closed (P7.7)', () => {
  it('allows a live grant, and nothing that is not one', () => {
    assert.equal(decide(granted, NOW).allowed, true)
    const cases: [Partial<CheckRow> | undefined, string][] = [
      [undefined, 'unknown_purpose'],
      [{ shredded: true }, 'erased'],
      [{ subject_key_id: '22222222-2222-2222-2222-222222222222' }, 'erased'],
      [{ subject_key_id: null, state: null, state_key_id: null }, 'unknown_subject'],
      [{ restricted: true }, 'restricted'],
      [{ expires_at: NOW }, 'expired'],
      [{ reconsent_from_version: 2 }, 'notice_superseded'],
      [{ notice_version: null, reconsent_from_version: 1 }, 'notice_superseded'],
      [{ state: null, state_key_id: null }, 'no_consent'],
      [{ state: 'withdrawn' }, 'withdrawn'],
      [{ state: 'denied' }, 'denied'],
      [{ state: 'expired' }, 'expired'],
      [{ state: 'objected' }, 'objected'],
      [{ state: 'objection_pending' }, 'objection_pending'],
      [{ state: 'objection_rejected' }, 'no_consent'],
      [{ state: 'something new' as CheckRow['state'] }, 'no_consent'],
    ]
    for (const [change, reason] of cases) {
      const verdict = decide(change === undefined ? undefined : { ...granted, ...change }, NOW)
      assert.equal(verdict.allowed, false, JSON.stringify(change))
      assert.equal(verdict.reason, reason, JSON.stringify(change))
    }
  })

  it('allows legitimate interests for a known subject until an objection is pending or upheld', () => {
    const li: CheckRow = { ...granted, lawful_basis: 'legitimate_interests', state: null, state_key_id: null }
    assert.deepEqual([decide(li, NOW).allowed, decide(li, NOW).reason], [true, 'lawful_basis'])
    for (const state of ['objection_pending', 'objected'] as const)
      assert.equal(decide({ ...li, state, state_key_id: KEY }, NOW).allowed, false)
    assert.equal(decide({ ...li, state: 'objection_rejected', state_key_id: KEY }, NOW).allowed, true)
    assert.equal(decide({ ...li, restricted: true }, NOW).reason, 'restricted')
    assert.equal(decide({ ...li, subject_key_id: null }, NOW).reason, 'unknown_subject')
  })

  it('gives an objection one month, to the last day of a shorter month (Art. 12(3))', () => {
    assert.equal(oneMonthAfter(new Date('2026-01-15T10:00:00Z')).toISOString(), '2026-02-15T10:00:00.000Z')
    assert.equal(oneMonthAfter(new Date('2026-01-31T10:00:00Z')).toISOString(), '2026-02-28T10:00:00.000Z')
    assert.equal(oneMonthAfter(new Date('2026-12-31T10:00:00Z')).toISOString(), '2027-01-31T10:00:00.000Z')
  })
})
