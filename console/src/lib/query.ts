import { QueryClient, useInfiniteQuery } from '@tanstack/react-query'
import { ApiError } from './api.ts'

/**
 * Server state lives here, keyed by org (`['orgs', orgId, …]`). A refusal (4xx) is an
 * answer, not a glitch: it is not retried.
 */
export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        retry: (failures, error) => !(error instanceof ApiError && error.status < 500) && failures < 2,
        refetchOnWindowFocus: false,
        staleTime: 10_000,
      },
    },
  })
}

/**
 * A list the API pages with a cursor (`limit` and `cursor` in, `nextCursor` out), as a
 * TanStack infinite query: `fetchPage` gets the cursor of the page to fetch (none first).
 */
export function usePaged<T extends { nextCursor?: string | null }>(
  queryKey: readonly unknown[],
  fetchPage: (cursor: string | undefined) => Promise<T>,
) {
  return useInfiniteQuery({
    queryKey,
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) => fetchPage(pageParam),
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  })
}

/** The query of one page: `limit`, and the `cursor` after the first. */
export const pageQuery = (limit: number, cursor: string | undefined) => ({
  limit,
  ...(cursor === undefined ? {} : { cursor }),
})
