import type { LawfulBasis } from './consent.tables.ts'
import type { CheckRow } from './consent.store.ts'
import { CONSENT_BASES, type Reason } from './consent.types.ts'

/** What a check answers for one subject and purpose, before it is signed. */
export interface Verdict {
  allowed: boolean
  basis: LawfulBasis | null
  reason: Reason
  eventId: string | null
  noticeVersion: number | null
  expiresAt: Date | null
}

/**
 * The fail-closed rule of a consent check (P7.7), from the one row the check read. Allowed
 * only on a positive answer: a purpose that exists, a subject that is known, neither
 * restricted nor erased, and — for a consent basis — a grant that has not lapsed, was not
 * withdrawn and was given under a notice version no material change has superseded (or
 * one superseded by the latest material change while its grace period runs: allowed with
 * reason `reconsent_grace`, `expiresAt` the end of the grace; after it, `reconsent_required`); for
 * legitimate interests or a public task, no objection pending or upheld. Anything else,
 * including a state this function does not know, is a refusal.
 */
export function decide(row: CheckRow | undefined, now: Date): Verdict {
  if (row === undefined) return refuse('unknown_purpose', null)
  const basis = row.lawful_basis
  const facts = {
    eventId: row.event_id,
    noticeVersion: row.notice_version,
    expiresAt: row.expires_at,
  }
  const no = (reason: Reason): Verdict => ({ allowed: false, basis, reason, ...facts })
  if (row.shredded === true) return no('erased')
  // A state written under a subject key that has since been shredded and renewed (an
  // erasure, then a new record of the same subject) is a past subject's: it never counts.
  if (row.state !== null && row.state_key_id !== row.subject_key_id) return no('erased')
  if (row.subject_key_id === null) return no('unknown_subject')
  if (row.restricted === true) return no('restricted')
  if (CONSENT_BASES.includes(basis)) {
    switch (row.state) {
      case 'granted':
        if (row.expires_at !== null && row.expires_at.getTime() <= now.getTime()) return no('expired')
        if (
          row.reconsent_from_version !== null &&
          (row.notice_version === null || row.notice_version < row.reconsent_from_version)
        ) {
          // A material change superseded the notice of this grant: it counts only during
          // the purpose's grace period, and only if no earlier material change had already
          // superseded it (no second grace).
          const graceUntil = row.reconsent_grace_until
          if (
            graceUntil === null ||
            graceUntil.getTime() <= now.getTime() ||
            row.notice_version === null ||
            (row.reconsent_hard_version !== null && row.notice_version < row.reconsent_hard_version)
          )
            return no('reconsent_required')
          const until =
            row.expires_at !== null && row.expires_at.getTime() < graceUntil.getTime() ? row.expires_at : graceUntil
          return { allowed: true, basis, reason: 'reconsent_grace', ...facts, expiresAt: until }
        }
        return { allowed: true, basis, reason: 'granted', ...facts }
      case null:
      case 'objection_rejected':
        return no('no_consent')
      case 'denied':
      case 'withdrawn':
      case 'expired':
      case 'objected':
      case 'objection_pending':
        return no(row.state)
    }
    // A state this rule does not know (the table's CHECK allows none): refused.
    return no('no_consent')
  }
  if (row.state === 'objection_pending' || row.state === 'objected') return no(row.state)
  return { allowed: true, basis, reason: 'lawful_basis', ...facts }
}

function refuse(reason: Reason, basis: LawfulBasis | null): Verdict {
  return { allowed: false, basis, reason, eventId: null, noticeVersion: null, expiresAt: null }
}
