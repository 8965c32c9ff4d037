import { Badge } from '@mantine/core'
import './reviews.css'
import { when } from '../../lib/format.ts'
import type { Review, ReviewItem } from './api.ts'
import { counted } from '../../lib/plural.ts'

/** A campaign's state in words: open, overdue (open past its due date), closed. */
export function ReviewStatus({ review }: { review: Review }) {
  if (review.overdue)
    return (
      <Badge className="review-status" color="red.9" variant="filled">
        overdue
      </Badge>
    )
  return (
    <Badge className="review-status" color="dark" variant={review.status === 'open' ? 'filled' : 'outline'}>
      {review.status}
    </Badge>
  )
}

/** "12 of 20 decided, 8 pending". */
export const progress = (review: Review) =>
  `${review.itemCounts.decided} of ${review.itemCounts.total} decided, ${review.itemCounts.pending} pending`

/** A campaign named by when it started, as its page and the list call it. */
export const reviewName = (review: Review) => `Access review of ${when(review.startedAt)}`

/** What an item is about, in words. */
export const KIND: Record<ReviewItem['kind'], string> = {
  member: 'member',
  service_account: 'service account',
  api_token: 'API token',
  grant: 'diagnostic access grant',
}

/** Two-factor authentication of an item: on, off, or not applicable (service accounts, tokens). */
export const twoFactor = (mfa: boolean | null) => (mfa === null ? 'n/a' : mfa ? 'on' : 'off')

/** "3 days" */
export const days = (n: number) => counted(n, 'day')

/** A closed campaign's summary in words: "16 items: 12 certified, 2 reduced, 2 revoked; 1 self-certified, 3 inactive". */
export function summaryText(summary: Record<string, unknown>): string {
  const n = (key: string): number => (typeof summary[key] === 'number' ? summary[key] : 0)
  return `${counted(n('items'), 'item')}: ${n('certified')} certified, ${n('reduced')} reduced, ${n('revoked')} revoked; ${n('selfCertified')} self-certified, ${n('inactive')} inactive`
}

/**
 * Who acted (the API's `user:{id}`, `system:{job}`): by the email the API gives beside it
 * (`…ByEmail`, members of the org), else by the members list, else as the API names it.
 */
export function actorName(by: string | null, names: Map<string, string>, email: string | null = null): string {
  if (by === null) return '—'
  if (email !== null) return email
  if (by === 'system:access-review-schedule') return 'the schedule'
  if (by === 'system:access-review-overdue') return 'the overdue policy'
  const [kind, id = ''] = by.split(':')
  return kind === 'user' ? (names.get(id) ?? by) : by
}

/**
 * Whose API token an item is: the member's email (the API's `holderEmail`), a service
 * account by its name (`names`: the review's service accounts by id), else who it was in
 * words — never an id.
 */
export function holderName(item: ReviewItem, names: ReadonlyMap<string, string>): string {
  if (item.holderEmail !== null) return item.holderEmail
  const holder = typeof item.details.holder === 'string' ? item.details.holder : ''
  if (item.details.holderType === 'service_account') {
    const name = names.get(holder)
    return name === undefined ? 'a service account' : `service account ${name}`
  }
  return names.get(holder) ?? 'a former member'
}

/**
 * An item named so that no two read alike in one review: "ana@example.com (member)",
 * "API token “invitation” of ana@example.com" — for its labels, dialogs and bulk results.
 */
export function itemName(item: ReviewItem, names: ReadonlyMap<string, string>): string {
  return item.kind === 'api_token'
    ? `${KIND.api_token} “${item.label}” of ${holderName(item, names)}`
    : `${item.label} (${KIND[item.kind]})`
}
