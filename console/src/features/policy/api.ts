import { useQuery, useQueryClient } from '@tanstack/react-query'
import { api, unwrap } from '../../lib/api.ts'

export const policyKey = (orgId: string) => ['orgs', orgId, 'security-policy'] as const
export const allowlistKey = (orgId: string) => ['orgs', orgId, 'ip-allowlist'] as const
export const ssoKey = (orgId: string) => ['orgs', orgId, 'sso'] as const

/** GET …/security-policy: require 2FA and the step-up window (minutes). */
export function useSecurityPolicy(orgId: string) {
  return useQuery({
    queryKey: policyKey(orgId),
    queryFn: () => unwrap(api.GET('/v1/orgs/{orgId}/security-policy', { params: { path: { orgId } } })),
  })
}

/** GET …/ip-allowlist: the ranges, and the address this very request came from (`yourAddress`). */
export function useIpAllowlist(orgId: string) {
  return useQuery({
    queryKey: allowlistKey(orgId),
    queryFn: () => unwrap(api.GET('/v1/orgs/{orgId}/ip-allowlist', { params: { path: { orgId } } })),
  })
}

/** GET …/sso: the org's single sign-on set-up (never its client secret); a 404 means none. */
export function useSso(orgId: string) {
  return useQuery({
    queryKey: ssoKey(orgId),
    queryFn: () => unwrap(api.GET('/v1/orgs/{orgId}/sso', { params: { path: { orgId } } })),
  })
}

export type SsoPreset = 'google' | 'microsoft' | 'oidc'

export interface SsoInput {
  preset: SsoPreset
  issuer?: string
  tenant?: string
  clientId: string
  /** Sent once, from the form's state; omitted to keep the current one. */
  clientSecret?: string
  allowedDomains: string[]
  defaultRole: string
  jitProvisioning: boolean
  enabled: boolean
}

/**
 * The policy page's state-changing calls (each a step-up action for a browser session);
 * direct calls, so the SSO client secret never enters a mutation cache. A refusal is
 * thrown as an ApiError.
 */
export function usePolicyActions(orgId: string) {
  const queryClient = useQueryClient()
  const path = { orgId }
  return {
    setPolicy: async (body: { require2fa: boolean; stepUpMinutes: number }) => {
      const saved = await unwrap(api.PUT('/v1/orgs/{orgId}/security-policy', { params: { path }, body }))
      queryClient.setQueryData(policyKey(orgId), saved)
      return saved
    },
    setAllowlist: async (entries: { cidr: string; description: string }[], force: boolean) => {
      const saved = await unwrap(
        api.PUT('/v1/orgs/{orgId}/ip-allowlist', {
          params: { path },
          body: { entries, ...(force ? { force: true } : {}) },
        }),
      )
      queryClient.setQueryData(allowlistKey(orgId), saved)
      return saved
    },
    putSso: async (body: SsoInput) => {
      const saved = await unwrap(api.PUT('/v1/orgs/{orgId}/sso', { params: { path }, body }))
      queryClient.setQueryData(ssoKey(orgId), saved)
      return saved
    },
    removeSso: async () => {
      await unwrap(api.DELETE('/v1/orgs/{orgId}/sso', { params: { path } }))
      await queryClient.invalidateQueries({ queryKey: ssoKey(orgId) })
    },
    setSsoOnly: async (ssoOnly: boolean) => {
      const done = await unwrap(api.PUT('/v1/orgs/{orgId}/sso/enforcement', { params: { path }, body: { ssoOnly } }))
      await queryClient.invalidateQueries({ queryKey: ssoKey(orgId) })
      return done
    },
  }
}
