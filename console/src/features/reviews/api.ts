import { useQuery, useQueryClient } from '@tanstack/react-query'
import { api, unwrap, type paths } from '../../lib/api.ts'
import { pageQuery, usePaged } from '../../lib/query.ts'

export const PAGE_SIZE = 50
/** Items of a campaign a page at a time: the API's largest page is 500; 100 keeps a page quick. */
export const ITEMS_PAGE_SIZE = 100
export const reviewsKey = (orgId: string) => ['orgs', orgId, 'access-reviews'] as const
export const reviewPolicyKey = (orgId: string) => ['orgs', orgId, 'access-review-policy'] as const
export const leastPrivilegeKey = (orgId: string) => ['orgs', orgId, 'least-privilege'] as const

type Json<T> = T extends { content: { 'application/json': infer J } } ? J : never

/** An access review (a campaign), with its item counts. */
export type Review = Json<paths['/v1/orgs/{orgId}/access-reviews/{reviewId}']['get']['responses'][200]>
/** One item of a campaign: a principal with access when it started, with the facts and its decision. */
export type ReviewItem = Json<
  paths['/v1/orgs/{orgId}/access-reviews/{reviewId}/items']['get']['responses'][200]
>['items'][number]
export type Decision = NonNullable<ReviewItem['decision']>
export type ReviewPolicy = Json<paths['/v1/orgs/{orgId}/access-review-policy']['get']['responses'][200]>
/** One principal of the least-privilege report: held against used, and the narrower role that would do. */
export type PrivilegeEntry = Json<
  paths['/v1/orgs/{orgId}/least-privilege']['get']['responses'][200]
>['principals'][number]

/** GET /v1/orgs/{orgId}/access-reviews (reviews:read): campaigns, newest first. */
export function useReviews(orgId: string) {
  return usePaged([...reviewsKey(orgId), 'list'], (cursor) =>
    unwrap(
      api.GET('/v1/orgs/{orgId}/access-reviews', { params: { path: { orgId }, query: pageQuery(PAGE_SIZE, cursor) } }),
    ),
  )
}

/** GET /v1/orgs/{orgId}/access-reviews/{reviewId} (reviews:read): a campaign and its counts. */
export function useReview(orgId: string, reviewId: string) {
  return useQuery({
    queryKey: [...reviewsKey(orgId), reviewId],
    queryFn: () =>
      unwrap(api.GET('/v1/orgs/{orgId}/access-reviews/{reviewId}', { params: { path: { orgId, reviewId } } })),
  })
}

/** GET …/access-reviews/{reviewId}/items (reviews:read), by kind then id; `pendingOnly`: the undecided ones. */
export function useReviewItems(orgId: string, reviewId: string, pendingOnly: boolean) {
  return usePaged([...reviewsKey(orgId), reviewId, 'items', pendingOnly ? 'pending' : 'all'], (cursor) =>
    unwrap(
      api.GET('/v1/orgs/{orgId}/access-reviews/{reviewId}/items', {
        params: {
          path: { orgId, reviewId },
          query: { ...pageQuery(ITEMS_PAGE_SIZE, cursor), ...(pendingOnly ? { decision: 'pending' as const } : {}) },
        },
      }),
    ),
  )
}

/** GET /v1/orgs/{orgId}/access-review-policy (org:read): cadence, window, overdue policy, inactivity. */
export function useReviewPolicy(orgId: string) {
  return useQuery({
    queryKey: reviewPolicyKey(orgId),
    queryFn: () => unwrap(api.GET('/v1/orgs/{orgId}/access-review-policy', { params: { path: { orgId } } })),
  })
}

/** GET /v1/orgs/{orgId}/least-privilege (access:report): a page of principals at a time. */
export function useLeastPrivilege(orgId: string) {
  return usePaged(leastPrivilegeKey(orgId), (cursor) =>
    unwrap(
      api.GET('/v1/orgs/{orgId}/least-privilege', { params: { path: { orgId }, query: pageQuery(PAGE_SIZE, cursor) } }),
    ),
  )
}

/** GET /v1/orgs/{orgId}/roles (roles:read): the roles a member can be reduced to, by name. */
export function useRoleNames(orgId: string) {
  return useQuery({
    queryKey: ['orgs', orgId, 'roles'],
    queryFn: () => unwrap(api.GET('/v1/orgs/{orgId}/roles', { params: { path: { orgId } } })),
    select: (answer) => answer.roles.map((r) => ({ name: r.name, permissions: r.permissions })),
  })
}

/** What one decision is: certify, revoke, or reduce to a role; with the reviewer's reason. */
export interface DecisionInput {
  decision: Decision
  role?: string
  reason: string
}

/**
 * The state-changing calls of the reviews pages, each refreshing what it changed: start and
 * close a campaign (reviews:manage), decide an item (reviews:decide, step-up), set the
 * policy (org:security, step-up), and the least-privilege report's direct changes through
 * the members and service-accounts APIs. A refusal is thrown as an ApiError.
 */
export function useReviewActions(orgId: string) {
  const queryClient = useQueryClient()
  const refresh = () =>
    Promise.all([
      queryClient.invalidateQueries({ queryKey: reviewsKey(orgId) }),
      queryClient.invalidateQueries({ queryKey: leastPrivilegeKey(orgId) }),
    ])
  const path = { orgId }
  return {
    refresh,
    start: async () => {
      const started = await unwrap(api.POST('/v1/orgs/{orgId}/access-reviews', { params: { path } }))
      await refresh()
      return started
    },
    close: async (reviewId: string) => {
      const closed = await unwrap(
        api.POST('/v1/orgs/{orgId}/access-reviews/{reviewId}/close', { params: { path: { orgId, reviewId } } }),
      )
      await refresh()
      return closed
    },
    /** One item's decision; `refreshAfter: false` for a bulk run, which refreshes once at its end. */
    decide: async (reviewId: string, itemId: string, input: DecisionInput, refreshAfter = true) => {
      const note = input.reason.trim()
      const decided = await unwrap(
        api.POST('/v1/orgs/{orgId}/access-reviews/{reviewId}/items/{itemId}/decision', {
          params: { path: { orgId, reviewId, itemId } },
          body: {
            decision: input.decision,
            ...(input.decision === 'reduce' && input.role !== undefined ? { role: input.role } : {}),
            ...(note === '' ? {} : { note }),
          },
        }),
      )
      if (refreshAfter) await refresh()
      return decided
    },
    setPolicy: async (policy: ReviewPolicy) => {
      const saved = await unwrap(api.PUT('/v1/orgs/{orgId}/access-review-policy', { params: { path }, body: policy }))
      queryClient.setQueryData(reviewPolicyKey(orgId), saved)
      return saved
    },
    /** PATCH …/members/{userId} (members:update, step-up): a member's role, outside any review. */
    changeRole: async (userId: string, role: string) => {
      const changed = await unwrap(
        api.PATCH('/v1/orgs/{orgId}/members/{userId}', { params: { path: { orgId, userId } }, body: { role } }),
      )
      await Promise.all([refresh(), queryClient.invalidateQueries({ queryKey: ['orgs', orgId, 'members'] })])
      return changed
    },
    /** DELETE …/members/{userId} (members:remove, step-up): their sessions and tokens end at once. */
    removeMember: async (userId: string) => {
      const removed = await unwrap(
        api.DELETE('/v1/orgs/{orgId}/members/{userId}', { params: { path: { orgId, userId } } }),
      )
      await Promise.all([refresh(), queryClient.invalidateQueries({ queryKey: ['orgs', orgId, 'members'] })])
      return removed
    },
    /** PATCH …/service-accounts/{serviceAccountId} (service_accounts:manage, step-up): its role; its tokens follow. */
    changeServiceAccountRole: async (serviceAccountId: string, role: string) => {
      const changed = await unwrap(
        api.PATCH('/v1/orgs/{orgId}/service-accounts/{serviceAccountId}', {
          params: { path: { orgId, serviceAccountId } },
          body: { role },
        }),
      )
      await Promise.all([refresh(), queryClient.invalidateQueries({ queryKey: ['orgs', orgId, 'service-accounts'] })])
      return changed
    },
    /** DELETE …/service-accounts/{serviceAccountId} (service_accounts:manage): it and its tokens. */
    deleteServiceAccount: async (serviceAccountId: string) => {
      await unwrap(
        api.DELETE('/v1/orgs/{orgId}/service-accounts/{serviceAccountId}', {
          params: { path: { orgId, serviceAccountId } },
        }),
      )
      await Promise.all([refresh(), queryClient.invalidateQueries({ queryKey: ['orgs', orgId, 'service-accounts'] })])
    },
  }
}

/**
 * The org's members by user id → email (members:read, the first 500), to name who started
 * a review and who decided an item (the API gives `user:{id}`); missing names stay ids.
 */
export function useMemberNames(orgId: string): Map<string, string> {
  const members = useQuery({
    queryKey: ['orgs', orgId, 'members', 'names'],
    queryFn: () => unwrap(api.GET('/v1/orgs/{orgId}/members', { params: { path: { orgId }, query: { limit: 500 } } })),
  })
  return new Map((members.data?.members ?? []).map((m) => [m.userId, m.email]))
}

export { useSelfId } from '../../lib/self.ts'
