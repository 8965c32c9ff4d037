import { queryOptions, useInfiniteQuery, useQuery, useQueryClient } from '@tanstack/react-query'
import { api, noEnrolmentRedirect, setCsrfToken, unwrap } from '../../lib/api.ts'
import { getPasskeyAssertion } from '../../lib/webauthn.ts'

export const meKey = ['me'] as const

/** Who the session belongs to, its org and permissions (GET /v1/me); an ApiError 401 when signed out. */
export function useMe() {
  return useQuery({ queryKey: meKey, queryFn: () => unwrap(api.GET('/v1/me')) })
}

/**
 * The org's own record (GET /v1/orgs/{orgId}, any member), to name it: the header's query,
 * shared by its key with the pages that name the org. Its refusal for a missing second
 * factor stays its own (`noEnrolmentRedirect`): naming the org is never the page's content.
 */
export function useOrg(orgId: string | undefined) {
  return useQuery(orgQuery(orgId))
}

const orgQuery = (orgId: string | undefined) =>
  queryOptions({
    queryKey: ['orgs', orgId, 'org'],
    enabled: orgId !== undefined,
    queryFn: () =>
      unwrap(
        api.GET('/v1/orgs/{orgId}', { params: { path: { orgId: orgId ?? '' } }, middleware: [noEnrolmentRedirect] }),
      ),
  })

/** The org's name (`useOrg`'s query). */
export function useOrgName(orgId: string) {
  return useQuery({ ...orgQuery(orgId), select: (org) => org.name })
}

/**
 * GET /v1/me/orgs: the orgs the signed-in account belongs to, oldest membership first, 50 a
 * page (asked only when `enabled`).
 */
export function useAccountOrgs(enabled = true) {
  return useInfiniteQuery({
    enabled,
    queryKey: ['me', 'orgs'],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET('/v1/me/orgs', {
          params: { query: { limit: 50, ...(pageParam === undefined ? {} : { cursor: pageParam }) } },
        }),
      ),
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  })
}

export interface SignInInput {
  email: string
  password: string
  /** TOTP or recovery code, when the account has two-factor authentication. */
  code?: string
  /** Needed when the account belongs to several orgs. */
  orgId?: string
}

/** POST /v1/login: the API sets the session cookie; the CSRF token is kept for unsafe calls. */
export async function signIn(input: SignInInput): Promise<void> {
  const session = await unwrap(api.POST('/v1/login', { body: input }))
  setCsrfToken(session.csrfToken)
}

/** What POST /v1/invitations/accept answers: the org joined, the account, and an API token (shown once). */
export interface Joined {
  orgId: string
  userId: string
  email: string
  apiToken: string
}

/**
 * POST /v1/invitations/accept (public): joins the invitation's org, creating the account
 * with `password` (or, for an email that has one, checking its password and `code`). A
 * direct call, not a TanStack mutation (whose cache keeps variables and answers): the
 * token, the password and the API token answered live in the caller's state only.
 */
export async function acceptInvitation(input: { token: string; password: string; code?: string }): Promise<Joined> {
  return unwrap(api.POST('/v1/invitations/accept', { body: input }))
}

/**
 * Passwordless sign-in (POST /v1/login/passkey/options, navigator.credentials.get(), POST
 * /v1/login/passkey/verify): the passkey with user verification is both factors. `orgId`
 * when the account belongs to several orgs. Throws the browser's DOMException when the
 * person cancels, an ApiError when the API refuses.
 */
export async function signInWithPasskey(orgId?: string): Promise<void> {
  const options = await unwrap(api.POST('/v1/login/passkey/options'))
  const response = await getPasskeyAssertion(options)
  const session = await unwrap(
    api.POST('/v1/login/passkey/verify', {
      body: { response: response as never, ...(orgId === undefined ? {} : { orgId }) },
    }),
  )
  setCsrfToken(session.csrfToken)
}

/**
 * Where the browser goes to sign in to an org through its identity provider (GET
 * /v1/sso/{orgId}/start?returnTo=console): the API sends it back to /console/sso-complete,
 * or to /console/sign-in?sso=failed&code=CODE.
 */
export function ssoStartUrl(orgId: string, loginHint?: string): string {
  const query = new URLSearchParams({ returnTo: 'console' })
  if (loginHint !== undefined && loginHint !== '') query.set('loginHint', loginHint)
  return `/v1/sso/${encodeURIComponent(orgId)}/start?${query.toString()}`
}

/** The cookie in which the SSO callback hands a console sign-in its CSRF token (docs/authentication.md). */
const CSRF_HANDOVER_COOKIE = '__Host-custodian_csrf'

/**
 * Takes over the CSRF token of a single sign-on: reads the hand-over cookie the callback
 * set (for two minutes, readable by this script), keeps the token as a password sign-in
 * does, and deletes the cookie at once (Max-Age=0, with the attributes it was set with).
 * Answers whether there was a token to take.
 */
export function takeSsoCsrfToken(): boolean {
  const prefix = `${CSRF_HANDOVER_COOKIE}=`
  const entry = document.cookie.split('; ').find((c) => c.startsWith(prefix))
  const token = entry === undefined ? '' : decodeURIComponent(entry.slice(prefix.length))
  document.cookie = `${CSRF_HANDOVER_COOKIE}=; Max-Age=0; Path=/; Secure; SameSite=Strict`
  if (token === '') return false
  setCsrfToken(token)
  return true
}

/** Ends the session (POST /v1/logout) and forgets everything the console held. */
export function useSignOut() {
  const queryClient = useQueryClient()
  return async () => {
    try {
      await unwrap(api.POST('/v1/logout'))
    } finally {
      setCsrfToken(null)
      queryClient.clear()
    }
  }
}
