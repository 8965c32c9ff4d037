import { useInfiniteQuery, useQuery, useQueryClient } from '@tanstack/react-query'
import { api, ApiError, unwrap, type paths } from '../../lib/api.ts'
import { useGrantAllows } from '../../lib/acting.ts'

export const PAGE_SIZE = 50
export const HISTORY_PAGE_SIZE = 20

/** Everything this feature reads, under one key per org, so an action refreshes it all. */
export const integrationsKey = (orgId: string) => ['orgs', orgId, 'data-sources'] as const
const sourceKey = (orgId: string, secretId: string) => [...integrationsKey(orgId), secretId] as const

/** One entry of GET /v1/orgs/{orgId}/data-sources (a database credential, never its password). */
export type DataSource =
  paths['/v1/orgs/{orgId}/data-sources']['get']['responses'][200]['content']['application/json']['dataSources'][number]
/** The answer of POST …/secrets/{secretId}/check: what the credential's role can do. */
export type CheckResult =
  paths['/v1/orgs/{orgId}/secrets/{secretId}/check']['post']['responses'][200]['content']['application/json']
/** GET …/secrets/{secretId}/rotation: the rotation policy and its last outcome. */
export type RotationPolicy =
  paths['/v1/orgs/{orgId}/secrets/{secretId}/rotation']['get']['responses'][200]['content']['application/json']
export type RotationInput = NonNullable<
  paths['/v1/orgs/{orgId}/secrets/{secretId}/rotation']['put']['requestBody']
>['content']['application/json']
export type AuditEvent =
  paths['/v1/orgs/{orgId}/audit/events']['get']['responses'][200]['content']['application/json']['events'][number]

const page = (cursor: string | undefined, limit = PAGE_SIZE) => ({
  limit,
  ...(cursor === undefined ? {} : { cursor }),
})

/** GET /v1/orgs/{orgId}/data-sources: by name, a page at a time, with status, last check and last use. */
export function useDataSources(orgId: string) {
  return useInfiniteQuery({
    queryKey: [...integrationsKey(orgId), 'list'],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(api.GET('/v1/orgs/{orgId}/data-sources', { params: { path: { orgId }, query: page(pageParam) } })),
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  })
}

/** GET /v1/orgs/{orgId}/secrets/{secretId}: the credential's metadata (host, port, database, user, sslmode). */
export function useSource(orgId: string, secretId: string) {
  return useQuery({
    queryKey: [...sourceKey(orgId, secretId), 'secret'],
    queryFn: () => unwrap(api.GET('/v1/orgs/{orgId}/secrets/{secretId}', { params: { path: { orgId, secretId } } })),
  })
}

/**
 * GET …/rotation. A credential without a policy answers 404 NOT_FOUND: that is an answer
 * here (null, "not rotated automatically"), not a failure.
 */
export function useRotation(orgId: string, secretId: string) {
  return useQuery({
    queryKey: [...sourceKey(orgId, secretId), 'rotation'],
    queryFn: async (): Promise<RotationPolicy | null> => {
      try {
        return await unwrap(
          api.GET('/v1/orgs/{orgId}/secrets/{secretId}/rotation', { params: { path: { orgId, secretId } } }),
        )
      } catch (error) {
        if (error instanceof ApiError && error.status === 404 && error.code === 'NOT_FOUND') return null
        throw error
      }
    },
  })
}

/** GET …/versions: newest first, a page at a time (each with when and by whom it was made). */
export function useVersions(orgId: string, secretId: string) {
  return useInfiniteQuery({
    queryKey: [...sourceKey(orgId, secretId), 'versions'],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET('/v1/orgs/{orgId}/secrets/{secretId}/versions', {
          params: { path: { orgId, secretId }, query: page(pageParam, HISTORY_PAGE_SIZE) },
        }),
      ),
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  })
}

/**
 * The audit events of one action on this credential, newest first, a page at a time
 * (GET /v1/orgs/{orgId}/audit/events?action=…&target=…, permission audit:read). The API
 * keeps a credential's rotations (`secret.rotate`, success or failure) and checks
 * (`secret.check`, with their findings) there and nowhere else.
 */
export function useSourceEvents(
  orgId: string,
  secretId: string,
  action: 'secret.rotate' | 'secret.check',
  limit = HISTORY_PAGE_SIZE,
) {
  const allowed = useGrantAllows(orgId, 'audit:read')
  return useInfiniteQuery({
    enabled: allowed,
    queryKey: [...sourceKey(orgId, secretId), 'events', action, limit],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET('/v1/orgs/{orgId}/audit/events', {
          params: { path: { orgId }, query: { action, target: secretId, ...page(pageParam, limit) } },
        }),
      ),
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  })
}

/**
 * The state-changing calls on a data source, each a direct call that refreshes what this
 * feature shows (and the secrets list, which holds the same secrets). A refusal is thrown
 * as an ApiError (403 naming the permission, 502 ROTATION_FAILED, …) for the caller to show.
 */
export function useIntegrationActions(orgId: string) {
  const queryClient = useQueryClient()
  const refresh = async () => {
    await queryClient.invalidateQueries({ queryKey: integrationsKey(orgId) })
    await queryClient.invalidateQueries({ queryKey: ['orgs', orgId, 'secrets'] })
  }
  const path = (secretId: string) => ({ path: { orgId, secretId } })
  return {
    /** POST …/check: connects with the credential and answers what its role can do. */
    check: async (secretId: string): Promise<CheckResult> => {
      const result = await unwrap(api.POST('/v1/orgs/{orgId}/secrets/{secretId}/check', { params: path(secretId) }))
      await refresh()
      return result
    },
    setPaused: async (secretId: string, paused: boolean) => {
      await unwrap(
        paused
          ? api.POST('/v1/orgs/{orgId}/secrets/{secretId}/pause', { params: path(secretId) })
          : api.POST('/v1/orgs/{orgId}/secrets/{secretId}/resume', { params: path(secretId) }),
      )
      await refresh()
    },
    /** DELETE the secret: every version is erased. */
    remove: async (secretId: string) => {
      await unwrap(api.DELETE('/v1/orgs/{orgId}/secrets/{secretId}', { params: path(secretId) }))
      queryClient.removeQueries({ queryKey: sourceKey(orgId, secretId) })
      await refresh()
    },
    /** PUT …/rotation: sets (or replaces) the rotation policy. */
    setRotation: async (secretId: string, input: RotationInput) => {
      const policy = await unwrap(
        api.PUT('/v1/orgs/{orgId}/secrets/{secretId}/rotation', { params: path(secretId), body: input }),
      )
      await refresh()
      return policy
    },
    removeRotation: async (secretId: string) => {
      await unwrap(api.DELETE('/v1/orgs/{orgId}/secrets/{secretId}/rotation', { params: path(secretId) }))
      await refresh()
    },
    /** POST …/rotate: a new password, set through the managing credential, proven, made current. */
    rotateNow: async (secretId: string) => {
      try {
        return await unwrap(api.POST('/v1/orgs/{orgId}/secrets/{secretId}/rotate', { params: path(secretId) }))
      } finally {
        // A failed rotation is recorded too (last status, failures, an abandoned version).
        await refresh()
      }
    },
  }
}

/**
 * The org's members (GET …/members, first page): user id → email, to name who rotated or
 * checked. Empty while it loads or when the session may not list members (the actor then
 * reads as its kind).
 */
export function useMemberEmails(orgId: string): ReadonlyMap<string, string> {
  const allowed = useGrantAllows(orgId, 'members:read')
  const members = useQuery({
    enabled: allowed,
    queryKey: [...integrationsKey(orgId), 'member-emails'],
    queryFn: () => unwrap(api.GET('/v1/orgs/{orgId}/members', { params: { path: { orgId }, query: { limit: 500 } } })),
    retry: false,
  })
  return new Map((members.data?.members ?? []).map((m) => [m.userId, m.email]))
}
