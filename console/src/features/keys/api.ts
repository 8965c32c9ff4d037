import { useInfiniteQuery, useQuery, useQueryClient } from '@tanstack/react-query'
import { api, unwrap, type paths } from '../../lib/api.ts'

export const PAGE_SIZE = 50
export const transitKeysKey = (orgId: string) => ['orgs', orgId, 'transit-keys'] as const
export const orgKeysKey = (orgId: string) => ['orgs', orgId, 'keys'] as const

/** A named key as GET …/transit/keys lists it (the API says no more: no type, no minimum version). */
export type TransitKey =
  paths['/v1/orgs/{orgId}/transit/keys']['get']['responses'][200]['content']['application/json']['keys'][number]

/** The org key's versions and rewrap progress, as GET /v1/orgs/{orgId}/keys answers them. */
export type OrgKeyStatus = paths['/v1/orgs/{orgId}/keys']['get']['responses'][200]['content']['application/json']

/** GET /v1/orgs/{orgId}/transit/keys, by name, a page at a time (permission keys:read). */
export function useTransitKeys(orgId: string) {
  return useInfiniteQuery({
    queryKey: transitKeysKey(orgId),
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET('/v1/orgs/{orgId}/transit/keys', {
          params: {
            path: { orgId },
            query: { limit: PAGE_SIZE, ...(pageParam === undefined ? {} : { cursor: pageParam }) },
          },
        }),
      ),
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  })
}

/**
 * Text to the base64 the API takes (`plaintext` is base64 of the bytes): the UTF-8 bytes
 * of what was typed.
 */
export function textToBase64(text: string): string {
  const bytes = new TextEncoder().encode(text)
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary)
}

/**
 * The API's base64 back to text: the UTF-8 text, or — bytes that are not UTF-8 (data
 * encrypted by an application, not typed here) — null, for the caller to show the base64.
 */
export function base64ToText(base64: string): string | null {
  const binary = atob(base64)
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0))
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    return null
  } finally {
    bytes.fill(0)
  }
}

const withContext = (context: string) => (context === '' ? {} : { context })

/**
 * The calls of the Transit keys page. Each is a direct call, not a TanStack mutation: a
 * mutation's cache keeps its variables and its answer, and encrypt and decrypt carry
 * plaintexts. Create and rotate refresh the list; a refusal is thrown as an ApiError
 * (403 naming the permission, STEP_UP_REQUIRED, DECRYPTION_FAILED, …) for the form to show.
 */
export function useTransitActions(orgId: string) {
  const queryClient = useQueryClient()
  const refresh = () => queryClient.invalidateQueries({ queryKey: transitKeysKey(orgId) })
  const key = (name: string) => ({ path: { orgId, name } })
  return {
    /** POST …/transit/keys (transit:manage): version 1. */
    create: async (name: string) => {
      const made = await unwrap(
        api.POST('/v1/orgs/{orgId}/transit/keys', { params: { path: { orgId } }, body: { name } }),
      )
      await refresh()
      return made
    },
    /** POST …/{name}/rotate (transit:manage): the next version becomes current. */
    rotate: async (name: string) => {
      const rotated = await unwrap(api.POST('/v1/orgs/{orgId}/transit/keys/{name}/rotate', { params: key(name) }))
      await refresh()
      return rotated
    },
    /** POST …/{name}/encrypt (transit:encrypt): the text's UTF-8 bytes, sent as base64. */
    encrypt: (name: string, text: string, context: string) =>
      unwrap(
        api.POST('/v1/orgs/{orgId}/transit/keys/{name}/encrypt', {
          params: key(name),
          body: { plaintext: textToBase64(text), ...withContext(context) },
        }),
      ),
    /** POST …/{name}/decrypt (transit:decrypt, step-up, audited): the plaintext as base64. */
    decrypt: (name: string, ciphertext: string, context: string) =>
      unwrap(
        api.POST('/v1/orgs/{orgId}/transit/keys/{name}/decrypt', {
          params: key(name),
          body: { ciphertext, ...withContext(context) },
        }),
      ),
    /** POST …/{name}/rewrap (transit:encrypt): the same data under the newest version, never returned. */
    rewrap: (name: string, ciphertext: string, context: string) =>
      unwrap(
        api.POST('/v1/orgs/{orgId}/transit/keys/{name}/rewrap', {
          params: key(name),
          body: { ciphertext, ...withContext(context) },
        }),
      ),
  }
}

/** While a version is retiring, GET /v1/orgs/{orgId}/keys is asked again this often (ms). */
export const PROGRESS_POLL_MS = 1000

/** Whether the background rewrap is still under way: some version is retiring. */
export const rewrapping = (status: OrgKeyStatus | undefined) =>
  status?.versions.some((v) => v.state === 'retiring') ?? false

/**
 * GET /v1/orgs/{orgId}/keys (keys:read): the versions with their data keys, and `pending`,
 * the data keys the background job has still to rewrap. Asked again every PROGRESS_POLL_MS
 * while a version is retiring; not once every version is active or retired.
 */
export function useOrgKeys(orgId: string) {
  return useQuery({
    queryKey: orgKeysKey(orgId),
    queryFn: () => unwrap(api.GET('/v1/orgs/{orgId}/keys', { params: { path: { orgId } } })),
    refetchInterval: (query) => (rewrapping(query.state.data) ? PROGRESS_POLL_MS : false),
  })
}

/**
 * POST /v1/orgs/{orgId}/keys/rotate (keys:rotate, step-up): answers the new status, which
 * becomes the query's data at once (and starts the polling).
 */
export function useRotateOrgKey(orgId: string) {
  const queryClient = useQueryClient()
  return async () => {
    const status = await unwrap(api.POST('/v1/orgs/{orgId}/keys/rotate', { params: { path: { orgId } } }))
    queryClient.setQueryData(orgKeysKey(orgId), status)
    return status
  }
}
