import { QueryClient } from '@tanstack/react-query'
import { ApiError } from './api.ts'

/**
 * Server state lives here, keyed by org (`['orgs', orgId, …]`). A refusal (4xx) is an
 * answer, not a glitch: it is not retried.
 */
export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        retry: (failures, error) => !(error instanceof ApiError && error.status < 500) && failures < 2,
        refetchOnWindowFocus: false,
        staleTime: 10_000,
      },
    },
  })
}
