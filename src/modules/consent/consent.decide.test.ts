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
  reconsent_grace_until: null,
  reconsent_hard_version: null,
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
      [{ reconsent_from_version: 2 }, 'reconsent_required'],
      [{ notice_version: null, reconsent_from_version: 1 }, 'reconsent_required'],
      // Past the grace period, at its very end, or superseded by an earlier change too.
      [{ reconsent_from_version: 2, reconsent_grace_until: new Date(NOW.getTime() - 1) }, 'reconsent_required'],
      [{ reconsent_from_version: 2, reconsent_grace_until: NOW }, 'reconsent_required'],
      [
        { reconsent_from_version: 3, reconsent_hard_version: 2, reconsent_grace_until: new Date(NOW.getTime() + 1) },
        'reconsent_required',
      ],
      [
        { notice_version: null, reconsent_from_version: 2, reconsent_grace_until: new Date(NOW.getTime() + 1) },
        'reconsent_required',
      ],
      // The grace never revives a grant refused for another reason.
      [{ expires_at: NOW, reconsent_from_version: 2, reconsent_grace_until: new Date(NOW.getTime() + 1) }, 'expired'],
      [
        { restricted: true, reconsent_from_version: 2, reconsent_grace_until: new Date(NOW.getTime() + 1) },
        'restricted',
      ],
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

  it('counts a grant a material change superseded during the grace period only (EDPB 05/2020 §4)', () => {
    const until = new Date(NOW.getTime() + 86_400_000)
    const inGrace = decide({ ...granted, reconsent_from_version: 2, reconsent_grace_until: until }, NOW)
    assert.deepEqual([inGrace.allowed, inGrace.reason, inGrace.expiresAt], [true, 'reconsent_grace', until])
    const sooner = new Date(NOW.getTime() + 1000)
    const lapsing = decide(
      { ...granted, expires_at: sooner, reconsent_from_version: 2, reconsent_grace_until: until },
      NOW,
    )
    assert.deepEqual([lapsing.allowed, lapsing.expiresAt], [true, sooner])
    // Granted under the material version itself: no grace needed.
    const fresh = decide(
      { ...granted, notice_version: 2, reconsent_from_version: 2, reconsent_grace_until: until },
      NOW,
    )
    assert.equal(fresh.reason, 'granted')
    // Under a version between the previous material change and the latest one: in grace.
    const between = decide(
      {
        ...granted,
        notice_version: 2,
        reconsent_hard_version: 2,
        reconsent_from_version: 3,
        reconsent_grace_until: until,
      },
      NOW,
    )
    assert.equal(between.reason, 'reconsent_grace')
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
