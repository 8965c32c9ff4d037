import { useQuery, useQueryClient } from '@tanstack/react-query'
import { api, unwrap, type paths } from '../../lib/api.ts'
import { pageQuery, usePaged } from '../../lib/query.ts'
import { counted } from '../../lib/plural.ts'

export const PAGE_SIZE = 50

/** Everything this feature reads, under one key per org, so a change refreshes it all. */
export const retentionKey = (orgId: string) => ['orgs', orgId, 'retention'] as const

type Json<T> = T extends { content: { 'application/json': infer J } } ? J : never
/** One data class's effective period (`retainSeconds` null: kept until erased), the org's or the default. */
export type RetentionPolicy = Json<paths['/v1/orgs/{orgId}/retention']['get']['responses'][200]>['policies'][number]
/** One purge run's proof: when, how many records in all, and per class purged, remaining, oldest remaining. */
export type RetentionRun = Json<paths['/v1/orgs/{orgId}/retention/runs']['get']['responses'][200]>['runs'][number]
export type ClassProof = RetentionRun['classes'][number]

/** GET /v1/orgs/{orgId}/retention (privacy:read): every class with a period, the defaults and the org's own. */
export function usePolicies(orgId: string) {
  return useQuery({
    queryKey: [...retentionKey(orgId), 'policies'],
    queryFn: () => unwrap(api.GET('/v1/orgs/{orgId}/retention', { params: { path: { orgId } } })),
  })
}

/** GET /v1/orgs/{orgId}/retention/runs (privacy:read): the purges' proof, newest first, a page at a time. */
export function useRuns(orgId: string) {
  return usePaged([...retentionKey(orgId), 'runs'], (cursor) =>
    unwrap(
      api.GET('/v1/orgs/{orgId}/retention/runs', {
        params: { path: { orgId }, query: pageQuery(PAGE_SIZE, cursor) },
      }),
    ),
  )
}

/**
 * Changing a class's period (retention:manage): each throws the API's refusal as an
 * ApiError (a period out of the API's bounds names `/body/retainSeconds`) and, done,
 * refreshes the policies.
 */
export function useRetentionActions(orgId: string) {
  const queryClient = useQueryClient()
  const refresh = () => queryClient.invalidateQueries({ queryKey: retentionKey(orgId) })
  return {
    /** PUT …/retention/{dataClass}: keep the class `retainSeconds` (null: until erased). */
    set: async (dataClass: string, retainSeconds: number | null) => {
      const set = await unwrap(
        api.PUT('/v1/orgs/{orgId}/retention/{dataClass}', {
          params: { path: { orgId, dataClass } },
          body: { retainSeconds },
        }),
      )
      await refresh()
      return set
    },
    /** DELETE …/retention/{dataClass}: back to the default period. */
    reset: async (dataClass: string) => {
      const reset = await unwrap(
        api.DELETE('/v1/orgs/{orgId}/retention/{dataClass}', { params: { path: { orgId, dataClass } } }),
      )
      await refresh()
      return reset
    },
  }
}

const UNITS: [number, string][] = [
  [86_400, 'day'],
  [3600, 'hour'],
  [60, 'minute'],
  [1, 'second'],
]

/**
 * A period in the largest unit that divides it exactly ("24 hours", "7 days", "90
 * seconds"); null is "kept until erased".
 */
export function period(seconds: number | null): string {
  if (seconds === null) return 'kept until erased'
  const [size, unit] = UNITS.find(([size]) => seconds % size === 0) ?? [1, 'second']
  return counted(seconds / size, unit)
}

/** An age in seconds, roughly, in its two largest units ("22 h 41 min", "3 min 5 s"). */
export function age(seconds: number | null): string {
  if (seconds === null) return '—'
  const d = Math.floor(seconds / 86_400)
  const h = Math.floor((seconds % 86_400) / 3600)
  const m = Math.floor((seconds % 3600) / 60)
  const s = seconds % 60
  if (d > 0) return `${d} d ${h} h`
  if (h > 0) return `${h} h ${m} min`
  if (m > 0) return `${m} min ${s} s`
  return `${s} s`
}
