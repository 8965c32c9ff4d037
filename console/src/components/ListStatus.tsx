import { Button, Text } from '@mantine/core'
import { PageLoader } from './PageLoader.tsx'
import { ProblemAlert } from './ProblemAlert.tsx'

/**
 * What a list shows around its rows: a loader while the first page loads, the API's
 * refusal (a 403 names the permission the page needs), or a sentence when there is
 * nothing yet. Renders nothing once rows are there.
 *
 * @param query - a TanStack Query result (`isPending`, `isError`, `error`).
 * @param noun - what loads, lower case ("API tokens", "the IP allowlist"): "Loading API tokens".
 * @param refusal - the heading of a refusal ("You cannot list this org’s API tokens");
 *   without it, ProblemAlert's own ("Not allowed" for a 403).
 * @param empty - whether the loaded list is empty, and what to say then (left out where
 *   the list is never empty, or says so itself).
 */
export function ListStatus({
  query,
  noun,
  refusal,
  empty,
}: {
  query: { isPending: boolean; isError: boolean; error: unknown }
  noun: string
  refusal?: string
  empty?: { when: boolean; text: string }
}) {
  if (query.isPending) return <PageLoader label={`Loading ${noun}`} />
  if (query.isError) return <ProblemAlert error={query.error} title={refusal} />
  if (empty?.when === true) return <Text c="dimmed">{empty.text}</Text>
  return null
}

/** "Load more" (or `label`) under a paged list (a TanStack infinite query); nothing on the last page. */
export function LoadMore({
  query,
  label = 'Load more',
}: {
  query: { hasNextPage: boolean; isFetchingNextPage: boolean; fetchNextPage: () => Promise<unknown> }
  label?: string
}) {
  if (!query.hasNextPage) return null
  return (
    <Button variant="default" onClick={() => void query.fetchNextPage()} loading={query.isFetchingNextPage}>
      {label}
    </Button>
  )
}
