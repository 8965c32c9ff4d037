import { useQuery, useQueryClient } from '@tanstack/react-query'
import { api, unwrap } from '../../lib/api.ts'
import { pageQuery, usePaged } from '../../lib/query.ts'

export const PAGE_SIZE = 50
export const secretsKey = (orgId: string) => ['orgs', orgId, 'secrets'] as const

/** GET /v1/orgs/{orgId}/secrets, a page (by name) at a time; metadata only, never values. */
export function useSecrets(orgId: string) {
  return usePaged(secretsKey(orgId), (cursor) =>
    unwrap(api.GET('/v1/orgs/{orgId}/secrets', { params: { path: { orgId }, query: pageQuery(PAGE_SIZE, cursor) } })),
  )
}

export type SecretType = 'api_key' | 'database_credential' | 'generic'

/** A database credential's value (PostgreSQL): where it connects, as whom, and how. */
export interface DatabaseCredentialInput {
  host: string
  port: number
  database: string
  user: string
  password: string
  sslmode: 'disable' | 'require' | 'verify-ca' | 'verify-full'
}

export interface CreateSecretInput {
  name: string
  type: SecretType
  description: string
  value: string | DatabaseCredentialInput
}

/**
 * POST /v1/orgs/{orgId}/secrets. Called directly, not through a mutation: TanStack Query
 * keeps a mutation's variables in its cache, and the value must not outlive the form.
 */
export function useCreateSecret(orgId: string) {
  const queryClient = useQueryClient()
  return async (input: CreateSecretInput) => {
    const created = await unwrap(
      api.POST('/v1/orgs/{orgId}/secrets', {
        params: { path: { orgId } },
        body: {
          name: input.name,
          type: input.type,
          value: input.value,
          ...(input.description === '' ? {} : { description: input.description }),
        },
      }),
    )
    await queryClient.invalidateQueries({ queryKey: secretsKey(orgId) })
    return created
  }
}

export const secretKey = (orgId: string, secretId: string) => ['orgs', orgId, 'secrets', secretId] as const
export const VERSIONS_PAGE_SIZE = 20

/** GET /v1/orgs/{orgId}/secrets/{secretId}: a secret's metadata (never its value). */
export function useSecret(orgId: string, secretId: string) {
  return useQuery({
    queryKey: secretKey(orgId, secretId),
    queryFn: () => unwrap(api.GET('/v1/orgs/{orgId}/secrets/{secretId}', { params: { path: { orgId, secretId } } })),
  })
}

/** GET …/versions: newest first, VERSIONS_PAGE_SIZE a page (`cursor` is the last version of a page). */
export function useVersions(orgId: string, secretId: string) {
  return usePaged([...secretKey(orgId, secretId), 'versions'], (cursor) =>
    unwrap(
      api.GET('/v1/orgs/{orgId}/secrets/{secretId}/versions', {
        params: { path: { orgId, secretId }, query: pageQuery(VERSIONS_PAGE_SIZE, cursor) },
      }),
    ),
  )
}

/** A secret's value as the API holds it: a string, or a database credential's fields. */
export type SecretValue =
  | string
  | { host: string; port: number; database: string; user: string; password: string; sslmode: DatabaseSslMode }
export type DatabaseSslMode = 'disable' | 'require' | 'verify-ca' | 'verify-full'

/**
 * The actions on one secret, each a direct API call that refreshes the secret's queries.
 * None goes through a TanStack mutation: `reveal` and `addVersion` carry values, and a
 * mutation's cache would keep them (its variables, its data). Each throws an ApiError with
 * the API's problem (STEP_UP_REQUIRED, FORBIDDEN with the permission, …).
 */
export function useSecretActions(orgId: string, secretId: string) {
  const queryClient = useQueryClient()
  const path = { orgId, secretId }
  const refresh = () => queryClient.invalidateQueries({ queryKey: secretsKey(orgId) })
  return {
    /** POST …/reveal: the value, returned to the caller only (audited with the reason). */
    reveal: (reason: string, version?: number) =>
      unwrap(
        api.POST('/v1/orgs/{orgId}/secrets/{secretId}/reveal', {
          params: { path },
          body: { reason, ...(version === undefined ? {} : { version }) },
        }),
      ).then(async (revealed) => {
        // Last revealed changed; the value itself is never put in the cache.
        await queryClient.invalidateQueries({ queryKey: secretKey(orgId, secretId), exact: true })
        return revealed
      }),
    /** POST …/versions: the next version, which becomes current. */
    addVersion: async (value: SecretValue) => {
      const view = await unwrap(
        api.POST('/v1/orgs/{orgId}/secrets/{secretId}/versions', { params: { path }, body: { value } }),
      )
      await refresh()
      return view
    },
    pause: async () => {
      await unwrap(api.POST('/v1/orgs/{orgId}/secrets/{secretId}/pause', { params: { path } }))
      await refresh()
    },
    resume: async () => {
      await unwrap(api.POST('/v1/orgs/{orgId}/secrets/{secretId}/resume', { params: { path } }))
      await refresh()
    },
    /** POST …/report-exposed: blocks reveal until a new version; answers how many were notified. */
    reportExposed: async (reason: string) => {
      const answer = await unwrap(
        api.POST('/v1/orgs/{orgId}/secrets/{secretId}/report-exposed', { params: { path }, body: { reason } }),
      )
      await refresh()
      return answer
    },
    /** DELETE …/versions/{version}: crypto-erasure of that version. */
    destroyVersion: async (version: number) => {
      await unwrap(
        api.DELETE('/v1/orgs/{orgId}/secrets/{secretId}/versions/{version}', {
          params: { path: { ...path, version } },
        }),
      )
      await refresh()
    },
    /** DELETE the secret: every version is erased. Its queries are dropped, the list refreshed. */
    remove: async () => {
      await unwrap(api.DELETE('/v1/orgs/{orgId}/secrets/{secretId}', { params: { path } }))
      queryClient.removeQueries({ queryKey: secretKey(orgId, secretId) })
      await queryClient.invalidateQueries({ queryKey: secretsKey(orgId), exact: true })
    },
  }
}
