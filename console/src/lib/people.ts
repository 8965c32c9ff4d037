import { useQuery } from '@tanstack/react-query'
import { useGrantAllows } from './acting.ts'
import { api, unwrap } from './api.ts'

/**
 * GET /v1/orgs/{orgId}/members, first page: the people an incident role can go to, the
 * audit page's actor picker, and the names shown for the user ids the API answers (roles,
 * timeline actors, audit actors). Shared by several features, so it lives here. Not
 * asked under a diagnostic access grant without members:read (ids stay unnamed then).
 */
export function useOrgPeople(orgId: string) {
  const allowed = useGrantAllows(orgId, 'members:read')
  return useQuery({
    enabled: allowed,
    queryKey: ['orgs', orgId, 'members', 'people'],
    queryFn: () => unwrap(api.GET('/v1/orgs/{orgId}/members', { params: { path: { orgId }, query: { limit: 100 } } })),
    retry: false,
  })
}
