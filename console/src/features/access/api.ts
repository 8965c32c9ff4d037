import { useQuery, useQueryClient } from '@tanstack/react-query'
import { useGrantAllows } from '../../lib/acting.ts'
import { api, unwrap } from '../../lib/api.ts'
import { pageQuery, usePaged } from '../../lib/query.ts'

export const PAGE_SIZE = 50
export const membersKey = (orgId: string) => ['orgs', orgId, 'members'] as const
export const rolesKey = (orgId: string) => ['orgs', orgId, 'roles'] as const
export const serviceAccountsKey = (orgId: string) => ['orgs', orgId, 'service-accounts'] as const
export const tokensKey = (orgId: string) => ['orgs', orgId, 'tokens'] as const

/**
 * GET /v1/orgs/{orgId}/members, a page (in joining order) at a time; the first page also
 * carries the pending invitations.
 */
export function useMembers(orgId: string) {
  return usePaged(membersKey(orgId), (cursor) =>
    unwrap(api.GET('/v1/orgs/{orgId}/members', { params: { path: { orgId }, query: pageQuery(PAGE_SIZE, cursor) } })),
  )
}

export { useSelfId } from '../../lib/self.ts'

/**
 * GET /v1/orgs/{orgId}/roles: built-in and custom roles with their permissions. Not asked
 * under a diagnostic access grant without roles:read (other pages use it for their pickers).
 */
export function useRoles(orgId: string) {
  const allowed = useGrantAllows(orgId, 'roles:read')
  return useQuery({
    enabled: allowed,
    queryKey: rolesKey(orgId),
    queryFn: () => unwrap(api.GET('/v1/orgs/{orgId}/roles', { params: { path: { orgId } } })),
  })
}

/** GET /v1/permissions: the permission catalog, each with what it allows. */
export function usePermissions() {
  return useQuery({
    queryKey: ['permissions'],
    staleTime: Infinity,
    queryFn: () => unwrap(api.GET('/v1/permissions')),
  })
}

/** GET /v1/orgs/{orgId}/service-accounts, oldest first, a page at a time. */
export function useServiceAccounts(orgId: string) {
  return usePaged(serviceAccountsKey(orgId), (cursor) =>
    unwrap(
      api.GET('/v1/orgs/{orgId}/service-accounts', {
        params: { path: { orgId }, query: pageQuery(PAGE_SIZE, cursor) },
      }),
    ),
  )
}

/** GET /v1/orgs/{orgId}/tokens: API tokens' metadata (never their secrets), a page at a time. */
export function useTokens(orgId: string) {
  return usePaged(tokensKey(orgId), (cursor) =>
    unwrap(api.GET('/v1/orgs/{orgId}/tokens', { params: { path: { orgId }, query: pageQuery(PAGE_SIZE, cursor) } })),
  )
}

/**
 * The state-changing calls of the access pages. Each is a direct call (not a TanStack
 * mutation): invitations and tokens answer a credential shown once, and a mutation's
 * cache would keep it. Each refreshes the lists it changes; a refusal is thrown as an
 * ApiError (e.g. 403 STEP_UP_REQUIRED) for the caller to show.
 */
export function useAccessActions(orgId: string) {
  const queryClient = useQueryClient()
  const refresh = (key: readonly unknown[]) => queryClient.invalidateQueries({ queryKey: key })
  const path = { orgId }
  return {
    /** POST …/invitations → the invitation with its one-time token. */
    invite: async (email: string, role: string) => {
      const made = await unwrap(api.POST('/v1/orgs/{orgId}/invitations', { params: { path }, body: { email, role } }))
      await refresh(membersKey(orgId))
      return made
    },
    changeRole: async (userId: string, role: string) => {
      await unwrap(
        api.PATCH('/v1/orgs/{orgId}/members/{userId}', { params: { path: { orgId, userId } }, body: { role } }),
      )
      await refresh(membersKey(orgId))
    },
    setSuspended: async (userId: string, suspended: boolean) => {
      const params = { params: { path: { orgId, userId } } }
      await unwrap(
        suspended
          ? api.POST('/v1/orgs/{orgId}/members/{userId}/suspend', params)
          : api.POST('/v1/orgs/{orgId}/members/{userId}/resume', params),
      )
      await refresh(membersKey(orgId))
    },
    /** DELETE …/members/{userId} → how many tokens and sessions were revoked. */
    removeMember: async (userId: string) => {
      const done = await unwrap(
        api.DELETE('/v1/orgs/{orgId}/members/{userId}', { params: { path: { orgId, userId } } }),
      )
      await refresh(membersKey(orgId))
      return done
    },
    createRole: async (input: { name: string; description: string; permissions: string[] }) => {
      const role = await unwrap(api.POST('/v1/orgs/{orgId}/roles', { params: { path }, body: input }))
      await refresh(rolesKey(orgId))
      return role
    },
    /** PUT …/roles/{name}: the role's whole new set of permissions, and its description. */
    updateRole: async (name: string, input: { description: string; permissions: string[] }) => {
      const role = await unwrap(
        api.PUT('/v1/orgs/{orgId}/roles/{name}', { params: { path: { orgId, name } }, body: input }),
      )
      await refresh(rolesKey(orgId))
      return role
    },
    deleteRole: async (name: string) => {
      await unwrap(api.DELETE('/v1/orgs/{orgId}/roles/{name}', { params: { path: { orgId, name } } }))
      await refresh(rolesKey(orgId))
    },
    /** `secretPaths`: the patterns it is limited to; absent, the caller's own scope (docs/secret-paths.md). */
    createServiceAccount: async (name: string, role: string, scope: { secretPaths?: string[] } = {}) => {
      const made = await unwrap(
        api.POST('/v1/orgs/{orgId}/service-accounts', { params: { path }, body: { name, role, ...scope } }),
      )
      await refresh(serviceAccountsKey(orgId))
      return made
    },
    /** PATCH …/service-accounts/{id} (step-up): its tokens carry the new role's permissions on their next use. */
    changeServiceAccountRole: async (serviceAccountId: string, role: string) => {
      const changed = await unwrap(
        api.PATCH('/v1/orgs/{orgId}/service-accounts/{serviceAccountId}', {
          params: { path: { orgId, serviceAccountId } },
          body: { role },
        }),
      )
      await refresh(serviceAccountsKey(orgId))
      return changed
    },
    deleteServiceAccount: async (serviceAccountId: string) => {
      await unwrap(
        api.DELETE('/v1/orgs/{orgId}/service-accounts/{serviceAccountId}', {
          params: { path: { orgId, serviceAccountId } },
        }),
      )
      await refresh(serviceAccountsKey(orgId))
      await refresh(tokensKey(orgId))
    },
    /** POST …/tokens → the token's metadata and its value, shown once: keep it in one component's state. */
    createToken: async (input: {
      name: string
      expiresInDays: number
      serviceAccountId?: string
      secretPaths?: string[]
    }) => {
      const made = await unwrap(api.POST('/v1/orgs/{orgId}/tokens', { params: { path }, body: input }))
      await refresh(tokensKey(orgId))
      return made
    },
    revokeToken: async (tokenId: string) => {
      await unwrap(api.DELETE('/v1/orgs/{orgId}/tokens/{tokenId}', { params: { path: { orgId, tokenId } } }))
      await refresh(tokensKey(orgId))
    },
  }
}
