import { useQuery } from '@tanstack/react-query'
import { api, unwrap } from './api.ts'

/**
 * The signed-in principal's id, from GET /v1/me under the query key the session guard
 * uses (['me']), so it is read from the cache the guard filled, not asked again. One hook
 * for every feature (they may not import each other).
 */
export function useSelfId(): string | undefined {
  return useQuery({ queryKey: ['me'], queryFn: () => unwrap(api.GET('/v1/me')) }).data?.id
}
