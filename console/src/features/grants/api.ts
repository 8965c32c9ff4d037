import { useInfiniteQuery, useQueries, useQuery, useQueryClient } from '@tanstack/react-query'
import { useGrantAllows } from '../../lib/acting.ts'
import { api, unwrap, type paths } from '../../lib/api.ts'
import { pageQuery, usePaged } from '../../lib/query.ts'

export const PAGE_SIZE = 50
export const grantsKey = (orgId: string) => ['orgs', orgId, 'grants'] as const
export const grantPolicyKey = (orgId: string) => ['orgs', orgId, 'grant-policy'] as const
export const myGrantsKey = ['operator', 'grants'] as const

/** A diagnostic access grant, as the API shows it to the org and to its operator. */
export type Grant = paths['/v1/orgs/{orgId}/grants/{grantId}']['get']['responses'][200]['content']['application/json']
export type GrantPolicy = paths['/v1/orgs/{orgId}/grant-policy']['get']['responses'][200]['content']['application/json']
export type GrantRequest = NonNullable<
  paths['/v1/operator/grants']['post']['requestBody']
>['content']['application/json']
type AuditEvent =
  paths['/v1/orgs/{orgId}/audit/events']['get']['responses'][200]['content']['application/json']['events'][number]

/**
 * GET /v1/permissions: the catalog's permissions a diagnostic access grant may carry
 * (`grantable`: seeing, checking and — for named secrets — revealing), each with its
 * meaning, in the catalog's order. The API refuses any other with a field error.
 */
export function useGrantablePermissions() {
  return useQuery({
    queryKey: ['permissions'],
    queryFn: () => unwrap(api.GET('/v1/permissions')),
    select: (data) => data.permissions.filter((p) => p.grantable),
    staleTime: Infinity,
  })
}

/** GET /v1/orgs/{orgId}/grants (grants:read): pending, current and past, newest first. */
export function useGrants(orgId: string) {
  return usePaged([...grantsKey(orgId), 'list'], (cursor) =>
    unwrap(api.GET('/v1/orgs/{orgId}/grants', { params: { path: { orgId }, query: pageQuery(PAGE_SIZE, cursor) } })),
  )
}

/** GET /v1/orgs/{orgId}/grants/{grantId} (grants:read). */
export function useGrant(orgId: string, grantId: string) {
  return useQuery({
    queryKey: [...grantsKey(orgId), grantId],
    queryFn: () => unwrap(api.GET('/v1/orgs/{orgId}/grants/{grantId}', { params: { path: { orgId, grantId } } })),
  })
}

/** GET /v1/orgs/{orgId}/grant-policy (org:read): the longest grant and the approvals needed. */
export function useGrantPolicy(orgId: string) {
  const allowed = useGrantAllows(orgId, 'org:read')
  return useQuery({
    enabled: allowed,
    queryKey: grantPolicyKey(orgId),
    queryFn: () => unwrap(api.GET('/v1/orgs/{orgId}/grant-policy', { params: { path: { orgId } } })),
  })
}

/** Approve (step-up), deny and revoke a grant, and set the policy (org:security, step-up); each refreshes what it changed. */
export function useGrantActions(orgId: string) {
  const queryClient = useQueryClient()
  const refresh = () => queryClient.invalidateQueries({ queryKey: grantsKey(orgId) })
  const decide = async (grantId: string, verb: 'approve' | 'deny' | 'revoke', note: string) => {
    const params = { path: { orgId, grantId } }
    const body = note.trim() === '' ? {} : { note: note.trim() }
    const decided = await unwrap(
      verb === 'approve'
        ? api.POST('/v1/orgs/{orgId}/grants/{grantId}/approve', { params, body })
        : verb === 'deny'
          ? api.POST('/v1/orgs/{orgId}/grants/{grantId}/deny', { params, body })
          : api.POST('/v1/orgs/{orgId}/grants/{grantId}/revoke', { params, body }),
    )
    await refresh()
    return decided
  }
  return {
    decide,
    setPolicy: async (policy: GrantPolicy) => {
      const saved = await unwrap(
        api.PUT('/v1/orgs/{orgId}/grant-policy', { params: { path: { orgId } }, body: policy }),
      )
      queryClient.setQueryData(grantPolicyKey(orgId), saved)
      return saved
    },
  }
}

/** One line of a grant's timeline: an event of the org's audit log about the grant or made under it. */
export type TimelineEvent = AuditEvent

/**
 * A grant's timeline from the org's audit log (audit:read), newest first: the events about
 * the grant (its request, approvals, each use, its end: target = the grant) and the events
 * its operator's requests wrote under it (details.grant = the grant: a reveal, with the
 * secret as its target). The log has no filter on details, so the second set is the
 * operator's events since the request, kept when they name the grant.
 */
export function useGrantTimeline(orgId: string, grant: Grant | undefined) {
  // The timeline is the org's audit log: under a grant without audit:read, never asked.
  const allowed = useGrantAllows(orgId, 'audit:read')
  return useInfiniteQuery({
    queryKey: [...grantsKey(orgId), grant?.id, 'timeline'],
    enabled: grant !== undefined && allowed,
    initialPageParam: { cursor: undefined as string | undefined, to: undefined as string | undefined },
    getNextPageParam: (last: TimelinePage) =>
      last.nextCursor === null ? undefined : { cursor: last.nextCursor, to: last.oldest ?? undefined },
    queryFn: async ({ pageParam }): Promise<TimelinePage> => {
      if (grant === undefined) return { events: [], nextCursor: null, oldest: null, cut: false }
      // Every use is an event about the grant: these pages are complete, however many there are.
      const about = await unwrap(
        api.GET('/v1/orgs/{orgId}/audit/events', {
          params: {
            path: { orgId },
            query: {
              target: grant.id,
              // Custodian's own events only: an application's event naming the grant (any
              // audit:write holder may send one) is not evidence of its use.
              origin: 'custodian',
              limit: TIMELINE_PAGE,
              ...(pageParam.cursor ? { cursor: pageParam.cursor } : {}),
            },
          },
        }),
      )
      // What the operator's requests did under it, over the same span of time as this page.
      const oldest = about.nextCursor === null ? grant.requestedAt : (about.events.at(-1)?.time ?? grant.requestedAt)
      const under = await unwrap(
        api.GET('/v1/orgs/{orgId}/audit/events', {
          params: {
            path: { orgId },
            query: {
              actor: grant.grantee.userId,
              origin: 'custodian',
              from: oldest,
              ...(pageParam.to === undefined ? {} : { to: pageParam.to }),
              limit: 500,
            },
          },
        }),
      )
      return {
        events: [...about.events, ...under.events.filter((e) => e.details.grant === grant.id)],
        nextCursor: about.nextCursor,
        oldest,
        cut: under.nextCursor !== null,
      }
    },
  })
}

/** Events about a grant read in one page of its timeline. */
export const TIMELINE_PAGE = 200

/**
 * One page of a grant's timeline: events about the grant (every use among them) and, over
 * the same span of time, what the operator's requests did under it; `cut` when that span
 * held more of the operator's events than one read takes (the audit log holds them all).
 */
export interface TimelinePage {
  events: TimelineEvent[]
  nextCursor: string | null
  oldest: string | null
  cut: boolean
}

/**
 * The names of the secrets a grant names (GET …/secrets/{id}, secrets:read): id → name, as far
 * as they load. Kept for the session: each read under a grant is a use in the org's log.
 */
export function useSecretNames(orgId: string, secretIds: string[]): Map<string, string> {
  return useSecretNameLookups(orgId, secretIds).names
}

/**
 * useSecretNames, with the ids whose read failed (a secret deleted since the grant named
 * it): the banner keeps both, so that no page load asks again.
 */
export function useSecretNameLookups(
  orgId: string,
  secretIds: string[],
): { names: Map<string, string>; failed: string[] } {
  // Under a grant without secrets:read, none is asked (each would be refused, and counted).
  const allowed = useGrantAllows(orgId, 'secrets:read')
  const asked = allowed ? secretIds : []
  const results = useQueries({
    queries: asked.map((secretId) => ({
      queryKey: [...grantsKey(orgId), 'secret-name', secretId],
      queryFn: () => unwrap(api.GET('/v1/orgs/{orgId}/secrets/{secretId}', { params: { path: { orgId, secretId } } })),
      staleTime: Infinity,
      retry: false,
    })),
  })
  const names = new Map<string, string>()
  const failed: string[] = []
  results.forEach((r, i) => {
    const id = asked[i]
    if (id === undefined) return
    if (r.data !== undefined) names.set(id, r.data.name)
    else if (r.isError) failed.push(id)
  })
  return { names, failed }
}

/**
 * Who in the org may approve a grant: the emails of its active members whose role holds
 * grants:approve (GET …/members, members:read, and GET …/roles, roles:read), or undefined
 * while unknown — either list unreadable, or more members than one page holds.
 */
export function useApprovers(orgId: string): Approver[] | undefined {
  const members = useQuery({
    queryKey: [...grantsKey(orgId), 'members'],
    queryFn: () => unwrap(api.GET('/v1/orgs/{orgId}/members', { params: { path: { orgId }, query: { limit: 500 } } })),
  })
  const roles = useQuery({
    queryKey: [...grantsKey(orgId), 'roles'],
    queryFn: () => unwrap(api.GET('/v1/orgs/{orgId}/roles', { params: { path: { orgId } } })),
  })
  if (members.data === undefined || roles.data === undefined || members.data.nextCursor !== null) return undefined
  const approving = new Set(roles.data.roles.filter((r) => r.permissions.includes('grants:approve')).map((r) => r.name))
  return members.data.members
    .filter((m) => m.suspendedAt === null && approving.has(m.role))
    .map((m) => ({ userId: m.userId, email: m.email }))
}

/** A member who holds grants:approve. */
export interface Approver {
  userId: string
  email: string
}

/** While a request waits for approval, the operator's list is asked again this often (ms). */
export const FOLLOW_MS = 3000

/**
 * GET /v1/operator/grants (grants:request): the operator's own requests and grants, newest
 * first (the first page), asked again every FOLLOW_MS while one is pending (to follow its
 * approval), or every `everyMs` when given.
 */
export function useMyGrants(everyMs?: number) {
  return useInfiniteQuery({
    queryKey: myGrantsKey,
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(api.GET('/v1/operator/grants', { params: { query: pageQuery(PAGE_SIZE, pageParam) } })),
    getNextPageParam: (last) => last.nextCursor ?? undefined,
    refetchInterval: (query) =>
      everyMs ??
      (query.state.data?.pages.some((p) => p.grants.some((g) => g.status === 'pending')) === true ? FOLLOW_MS : false),
  })
}

/** The customer orgs an operator may ask (GET /v1/operator/orgs, orgs:list), by name. */
export function useCustomerOrgs() {
  return useQuery({
    queryKey: ['operator', 'orgs', 'customers'],
    queryFn: async () => {
      const answer = await unwrap(api.GET('/v1/operator/orgs', { params: { query: { limit: 500 } } }))
      return answer.orgs.filter((o) => o.kind === 'customer').sort((a, b) => a.name.localeCompare(b.name))
    },
  })
}

/** Operators: request (POST /v1/operator/grants) and withdraw or give up (…/withdraw) a grant. */
export function useOperatorGrantActions() {
  const queryClient = useQueryClient()
  const refresh = () => queryClient.invalidateQueries({ queryKey: myGrantsKey })
  return {
    request: async (body: GrantRequest) => {
      const made = await unwrap(api.POST('/v1/operator/grants', { body }))
      await refresh()
      return made
    },
    withdraw: async (grantId: string) => {
      const ended = await unwrap(api.POST('/v1/operator/grants/{grantId}/withdraw', { params: { path: { grantId } } }))
      await refresh()
      return ended
    },
  }
}
