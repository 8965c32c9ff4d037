import { useQuery, useQueryClient } from '@tanstack/react-query'
import { api, setCsrfToken, unwrap } from '../../lib/api.ts'

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
