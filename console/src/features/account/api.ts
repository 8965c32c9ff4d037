import { useQuery } from '@tanstack/react-query'
import { api, unwrap } from '../../lib/api.ts'

/** Query keys of the account's own state; sessions are per org (a session belongs to one). */
export const accountKeys = {
  twoFactor: ['me', '2fa'] as const,
  passkeys: ['me', 'passkeys'] as const,
  sessions: (orgId: string) => ['orgs', orgId, 'me', 'sessions'] as const,
}

/** GET /v1/me/2fa: TOTP on or pending, recovery codes left, passkeys registered. */
export function useTwoFactorStatus() {
  return useQuery({ queryKey: accountKeys.twoFactor, queryFn: () => unwrap(api.GET('/v1/me/2fa')) })
}

/** GET /v1/me/passkeys: the account's passkeys, oldest first (at most 20: not paged). */
export function usePasskeys() {
  return useQuery({ queryKey: accountKeys.passkeys, queryFn: () => unwrap(api.GET('/v1/me/passkeys')) })
}

/** GET /v1/me/sessions: the first 100 of your sessions in this org, most recently used first. */
export function useMySessions(orgId: string) {
  return useQuery({
    queryKey: accountKeys.sessions(orgId),
    queryFn: () => unwrap(api.GET('/v1/me/sessions', { params: { query: { limit: 100 } } })),
  })
}

/** The session idle timeout the API applies by default (CUSTODIAN_SESSION_IDLE_MINUTES); the API does not expose the setting. */
export const DEFAULT_IDLE_MINUTES = 30
