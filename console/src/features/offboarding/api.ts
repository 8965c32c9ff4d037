import { useQuery, useQueryClient } from '@tanstack/react-query'
import { api, ApiError, unwrap, type paths } from '../../lib/api.ts'
import { pageQuery, usePaged } from '../../lib/query.ts'

export const PAGE_SIZE = 50

export const offboardingKey = (orgId: string) => ['orgs', orgId, 'offboarding'] as const
export const operatorOffboardingsKey = ['operator', 'offboardings'] as const

type Json<T> = T extends { content: { 'application/json': infer J } } ? J : never
/** An org's deletion: scheduled (with its end), cancelled or completed (with its certificate). */
export type Offboarding = Json<paths['/v1/orgs/{orgId}/offboarding']['get']['responses'][200]>
export type OffboardingStatus = Offboarding['status']
/** One offboarding as operators see it, with the receipt of its completion event (null until a checkpoint covers it). */
export type OperatorOffboarding = Json<paths['/v1/operator/offboardings/{offboardedOrgId}']['get']['responses'][200]>

/** While a deletion is scheduled, it is asked again this often (ms): a cancel elsewhere, or the end, shows. */
export const FOLLOW_MS = 15_000

/**
 * GET /v1/orgs/{orgId}/offboarding (org:read): the org's deletion, or null when it has
 * never been asked for (the API's 404).
 */
export function useOffboarding(orgId: string) {
  return useQuery({
    queryKey: [...offboardingKey(orgId), 'current'],
    queryFn: async (): Promise<Offboarding | null> => {
      try {
        return await unwrap(api.GET('/v1/orgs/{orgId}/offboarding', { params: { path: { orgId } } }))
      } catch (error) {
        if (error instanceof ApiError && error.status === 404 && error.code === 'NOT_FOUND') return null
        throw error
      }
    },
    refetchInterval: (query) => (query.state.data?.status === 'scheduled' ? FOLLOW_MS : false),
  })
}

/**
 * Starting and cancelling the org's deletion (org:delete, owners; starting is a step-up
 * action). Each throws the API's refusal as an ApiError and, done, refreshes the state.
 */
export function useOffboardingActions(orgId: string) {
  const queryClient = useQueryClient()
  const refresh = () => queryClient.invalidateQueries({ queryKey: offboardingKey(orgId) })
  return {
    /** POST …/offboarding: deleted after `graceHours` unless cancelled before. */
    start: async (body: { confirmName: string; graceHours: number }) => {
      const started = await unwrap(api.POST('/v1/orgs/{orgId}/offboarding', { params: { path: { orgId } }, body }))
      await refresh()
      return started
    },
    /** DELETE …/offboarding: during the grace period, nothing is deleted. */
    cancel: async () => {
      const cancelled = await unwrap(api.DELETE('/v1/orgs/{orgId}/offboarding', { params: { path: { orgId } } }))
      await refresh()
      return cancelled
    },
  }
}

/** GET /v1/operator/offboardings (orgs:list, operators): every deletion, newest first, a page at a time. */
export function useOperatorOffboardings() {
  return usePaged(operatorOffboardingsKey, (cursor) =>
    unwrap(api.GET('/v1/operator/offboardings', { params: { query: pageQuery(PAGE_SIZE, cursor) } })),
  )
}

/** GET /v1/operator/offboardings/{offboardedOrgId} (orgs:list): one deletion, its certificate and receipt. */
export function useOperatorOffboarding(offboardedOrgId: string) {
  return useQuery({
    queryKey: [...operatorOffboardingsKey, 'one', offboardedOrgId],
    queryFn: () =>
      unwrap(api.GET('/v1/operator/offboardings/{offboardedOrgId}', { params: { path: { offboardedOrgId } } })),
  })
}

/** A state in words: a scheduled deletion is one in progress (its grace period running). */
export const STATUS_LABELS: Record<OffboardingStatus, string> = {
  scheduled: 'in progress (grace period)',
  cancelled: 'cancelled',
  completed: 'completed (deleted)',
}
