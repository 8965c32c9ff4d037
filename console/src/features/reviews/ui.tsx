import { Badge } from '@mantine/core'
import { when } from '../../lib/format.ts'
import type { Review, ReviewItem } from './api.ts'

/** A campaign's state in words: open, overdue (open past its due date), closed. */
export function ReviewStatus({ review }: { review: Review }) {
  if (review.overdue)
    return (
      <Badge color="red.9" variant="filled">
        overdue
      </Badge>
    )
  return (
    <Badge color="dark" variant={review.status === 'open' ? 'filled' : 'outline'}>
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
export const days = (n: number) => (n === 1 ? '1 day' : `${n} days`)
