import { useInfiniteQuery, useQuery, useQueryClient } from '@tanstack/react-query'
import { api, setCsrfToken, unwrap } from '../../lib/api.ts'
import { getPasskeyAssertion } from '../../lib/webauthn.ts'

export const meKey = ['me'] as const

/** Who the session belongs to, its org and permissions (GET /v1/me); an ApiError 401 when signed out. */
export function useMe() {
  return useQuery({ queryKey: meKey, queryFn: () => unwrap(api.GET('/v1/me')) })
}

/** The org's own record (GET /v1/orgs/{orgId}). */
export function useOrg(orgId: string | undefined) {
  return useQuery({
    queryKey: ['orgs', orgId, 'org'],
    enabled: orgId !== undefined,
    queryFn: () => unwrap(api.GET('/v1/orgs/{orgId}', { params: { path: { orgId: orgId ?? '' } } })),
  })
}

/** GET /v1/me/orgs: the orgs the signed-in account belongs to, oldest membership first, 50 a page. */
export function useAccountOrgs() {
  return useInfiniteQuery({
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

/** Where the browser goes to sign in to an org through its identity provider (GET /v1/sso/{orgId}/start). */
export function ssoStartUrl(orgId: string, loginHint?: string): string {
  const hint = loginHint === undefined || loginHint === '' ? '' : `?loginHint=${encodeURIComponent(loginHint)}`
  return `/v1/sso/${encodeURIComponent(orgId)}/start${hint}`
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
