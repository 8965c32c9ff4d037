import { useInfiniteQuery } from '@tanstack/react-query'
import { api, unwrap, type paths } from '../../lib/api.ts'

export const PAGE_SIZE = 50
export const operatorOrgsKey = ['operator', 'orgs'] as const

/** One org as operators see it: its name and health figures, nothing inside it. */
export type OrgHealth =
  paths['/v1/operator/orgs']['get']['responses'][200]['content']['application/json']['orgs'][number]

/**
 * GET /v1/operator/orgs: every org, oldest first, a page at a time (permission orgs:list,
 * held in the provider org only; anyone else is refused with 403).
 */
export function useOperatorOrgs() {
  return useInfiniteQuery({
    queryKey: operatorOrgsKey,
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET('/v1/operator/orgs', {
          params: { query: { limit: PAGE_SIZE, ...(pageParam === undefined ? {} : { cursor: pageParam }) } },
        }),
      ),
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  })
}
