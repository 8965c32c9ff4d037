import { useInfiniteQuery, useQueryClient } from '@tanstack/react-query'
import { api, unwrap } from '../../lib/api.ts'

export const PAGE_SIZE = 50
export const secretsKey = (orgId: string) => ['orgs', orgId, 'secrets'] as const

/** GET /v1/orgs/{orgId}/secrets, a page (by name) at a time; metadata only, never values. */
export function useSecrets(orgId: string) {
  return useInfiniteQuery({
    queryKey: secretsKey(orgId),
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET('/v1/orgs/{orgId}/secrets', {
          params: {
            path: { orgId },
            query: { limit: PAGE_SIZE, ...(pageParam === undefined ? {} : { cursor: pageParam }) },
          },
        }),
      ),
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  })
}

export type SecretType = 'api_key' | 'database_credential' | 'generic'

export interface CreateSecretInput {
  name: string
  type: SecretType
  description: string
  value: string
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
