import { Badge } from '@mantine/core'

/**
 * A notification's or a webhook delivery's state, each at least 4.5:1 (WCAG AA): teal-9,
 * red-9 and gray-8 under white text, yellow-9 under black.
 */
export function StatusBadge({ status }: { status: 'pending' | 'delivered' | 'failed' | 'skipped' }) {
  if (status === 'pending')
    return (
      <Badge color="yellow.9" c="black">
        pending
      </Badge>
    )
  const color = status === 'delivered' ? 'teal.9' : status === 'failed' ? 'red.9' : 'gray.8'
  return <Badge color={color}>{status}</Badge>
}
