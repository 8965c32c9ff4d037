import { useQuery } from '@tanstack/react-query'
import { api, unwrap } from './api.ts'

/**
 * GET /v1/permissions: each permission key's meaning in the catalog ("vault:reveal" →
 * "Reveal a secret’s value (audited, with a reason)"), to show a scope in words. Cached for
 * the session; while it loads, or for a key it lacks, `label` gives the key itself.
 */
export function usePermissionLabels(): { label: (key: string) => string } {
  const catalog = useQuery({
    queryKey: ['permissions'],
    queryFn: () => unwrap(api.GET('/v1/permissions')),
    staleTime: Infinity,
  })
  const meanings = new Map((catalog.data?.permissions ?? []).map((p) => [p.name, p.description]))
  return { label: (key) => meanings.get(key) ?? key }
}
