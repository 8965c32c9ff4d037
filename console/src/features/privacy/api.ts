import { useQuery, useQueryClient } from '@tanstack/react-query'
import { api, ApiError, unwrap, type paths } from '../../lib/api.ts'
import { pageQuery, usePaged } from '../../lib/query.ts'
import type { PublishedKey } from './verify.ts'

export const PAGE_SIZE = 50

/** Everything this feature reads, under one key per org, so an action refreshes it all. */
export const privacyKey = (orgId: string) => ['orgs', orgId, 'privacy'] as const

type Json<T> = T extends { content: { 'application/json': infer J } } ? J : never
/** A data-subject request as GET /v1/orgs/{orgId}/privacy-requests/{requestId} answers it (with its history). */
export type PrivacyRequest = Json<paths['/v1/orgs/{orgId}/privacy-requests/{requestId}']['get']['responses'][200]>
export type RequestStatus = PrivacyRequest['status']
export type RequestKind = PrivacyRequest['kind']
/** What POST …/privacy-requests takes. */
export type NewRequest = NonNullable<
  paths['/v1/orgs/{orgId}/privacy-requests']['post']['requestBody']
>['content']['application/json']
export type Verification = NonNullable<
  paths['/v1/orgs/{orgId}/privacy-requests/{requestId}/verify']['post']['requestBody']
>['content']['application/json']
export type Correction = NonNullable<
  NonNullable<
    paths['/v1/orgs/{orgId}/privacy-requests/{requestId}/complete']['post']['requestBody']
  >['content']['application/json']['corrections']
>[number]
/** A customer data record, as the records calls answer it (its payload exactly as stored). */
export type DataRecord = Json<paths['/v1/orgs/{orgId}/records/{recordId}']['get']['responses'][200]>
/** GET /v1/orgs/{orgId}/privacy-policy: the response deadline and the export lifetime, in hours. */
export type PrivacyPolicy = Json<paths['/v1/orgs/{orgId}/privacy-policy']['get']['responses'][200]>
/** An erasure certificate as listed (compact JWS and the audit event it names). */
export type CertificateSummary = Json<
  paths['/v1/orgs/{orgId}/erasure-certificates']['get']['responses'][200]
>['certificates'][number]
/** One erasure certificate with the receipt of its audit event (null until a checkpoint covers it). */
export type Certificate = Json<paths['/v1/orgs/{orgId}/erasure-certificates/{certificateId}']['get']['responses'][200]>

/** GET /v1/orgs/{orgId}/privacy-requests (privacy:read), of one status or all, newest first, a page at a time. */
export function useRequests(orgId: string, status: RequestStatus | undefined) {
  return usePaged([...privacyKey(orgId), 'requests', status ?? 'all'], (cursor) =>
    unwrap(
      api.GET('/v1/orgs/{orgId}/privacy-requests', {
        params: {
          path: { orgId },
          query: { ...pageQuery(PAGE_SIZE, cursor), ...(status === undefined ? {} : { status }) },
        },
      }),
    ),
  )
}

/** While an erasure waits for its certificate (webhooks, the shred ring), its request is asked again this often (ms). */
export const FOLLOW_MS = 3000

/**
 * GET …/privacy-requests/{requestId} (privacy:read): the request with its history; asked
 * again every FOLLOW_MS while an erasure is in progress, until its certificate is issued.
 */
export function useRequest(orgId: string, requestId: string) {
  return useQuery({
    queryKey: [...privacyKey(orgId), 'requests', 'one', requestId],
    queryFn: () =>
      unwrap(api.GET('/v1/orgs/{orgId}/privacy-requests/{requestId}', { params: { path: { orgId, requestId } } })),
    refetchInterval: (query) => (query.state.data?.status === 'in_progress' ? FOLLOW_MS : false),
  })
}

/**
 * POST /v1/orgs/{orgId}/records/search (records:read): a data subject's records, asked
 * only once `search` is given. The subject id goes in the body, never in a URL (it is
 * personal data); it stays in this query's memory only.
 */
export function useSubjectRecords(orgId: string, search: { subjectId: string; dataClass?: string } | null) {
  return useQuery({
    queryKey: [...privacyKey(orgId), 'records', search],
    enabled: search !== null,
    queryFn: () =>
      unwrap(
        api.POST('/v1/orgs/{orgId}/records/search', {
          params: { path: { orgId } },
          body: search ?? { subjectId: '' },
        }),
      ),
  })
}

/** GET /v1/orgs/{orgId}/records/{recordId} (records:read): one record, asked while `recordId` is given. */
export function useRecord(orgId: string, recordId: string | null) {
  return useQuery({
    queryKey: [...privacyKey(orgId), 'record', recordId],
    enabled: recordId !== null,
    queryFn: () =>
      unwrap(api.GET('/v1/orgs/{orgId}/records/{recordId}', { params: { path: { orgId, recordId: recordId ?? '' } } })),
  })
}

/** GET /v1/orgs/{orgId}/privacy-policy (privacy:read). */
export function usePrivacyPolicy(orgId: string) {
  return useQuery({
    queryKey: [...privacyKey(orgId), 'policy'],
    queryFn: () => unwrap(api.GET('/v1/orgs/{orgId}/privacy-policy', { params: { path: { orgId } } })),
  })
}

/** GET /v1/orgs/{orgId}/erasure-certificates (privacy:read), newest first, a page at a time. */
export function useCertificates(orgId: string) {
  return usePaged([...privacyKey(orgId), 'certificates'], (cursor) =>
    unwrap(
      api.GET('/v1/orgs/{orgId}/erasure-certificates', {
        params: { path: { orgId }, query: pageQuery(PAGE_SIZE, cursor) },
      }),
    ),
  )
}

/** GET …/erasure-certificates/{certificateId} (privacy:read): the certificate and its receipt. */
export function useCertificate(orgId: string, certificateId: string) {
  return useQuery({
    queryKey: [...privacyKey(orgId), 'certificates', certificateId],
    queryFn: () =>
      unwrap(
        api.GET('/v1/orgs/{orgId}/erasure-certificates/{certificateId}', {
          params: { path: { orgId, certificateId } },
        }),
      ),
  })
}

/**
 * GET /v1/orgs/{orgId}/members (members:read, first page): user id → email, to name
 * assignees and the people in a request's history, and to choose an assignee.
 */
export function usePeople(orgId: string) {
  return useQuery({
    queryKey: [...privacyKey(orgId), 'people'],
    queryFn: () => unwrap(api.GET('/v1/orgs/{orgId}/members', { params: { path: { orgId }, query: { limit: 500 } } })),
    retry: false,
  })
}

/**
 * GET /v1/audit/keys (public): the service's published signing keys, fetched when a
 * certificate is verified — never embedded in the console, never taken from the
 * certificate itself.
 */
export async function fetchVerificationKeys(): Promise<PublishedKey[]> {
  const { keys } = await unwrap(api.GET('/v1/audit/keys', {}))
  return keys.map((k) => ({ keyId: k.keyId, publicKey: k.publicKey }))
}

/**
 * GET /v1/orgs/{orgId}/privacy-exports/{exportId} (privacy:export): the export's JSON text,
 * as served (every download is audited by the API with its destination). Fetched with the
 * session's cookie, so no token or link ever goes into a URL; 410 once it expired.
 */
export async function fetchExport(orgId: string, exportId: string): Promise<string> {
  const { data, error, response } = await api.GET('/v1/orgs/{orgId}/privacy-exports/{exportId}', {
    params: { path: { orgId, exportId } },
    parseAs: 'text',
  })
  if (!response.ok) throw new ApiError(response.status, parseProblem(error))
  return data ?? ''
}

function parseProblem(error: unknown): Record<string, unknown> {
  if (error !== null && typeof error === 'object') return error as Record<string, unknown>
  if (typeof error !== 'string') return {}
  try {
    const parsed: unknown = JSON.parse(error)
    return parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {}
  } catch {
    return {}
  }
}

/**
 * The state-changing calls of privacy requests and the privacy policy, each a direct call
 * that refreshes what this feature shows. A refusal is thrown as an ApiError for the
 * caller to show.
 */
export function usePrivacyActions(orgId: string) {
  const queryClient = useQueryClient()
  const refresh = () => queryClient.invalidateQueries({ queryKey: privacyKey(orgId) })
  const done = async <T>(call: Promise<T>): Promise<T> => {
    const result = await call
    await refresh()
    return result
  }
  const request = (requestId: string) => ({ path: { orgId, requestId } })
  return {
    /** POST …/privacy-requests (privacy:manage): due `responseHours` after now. */
    create: (body: NewRequest) =>
      done(unwrap(api.POST('/v1/orgs/{orgId}/privacy-requests', { params: { path: { orgId } }, body }))),
    /** POST …/{requestId}/verify: how the requester's identity was checked (needed before completing). */
    verify: (requestId: string, body: Verification) =>
      done(
        unwrap(api.POST('/v1/orgs/{orgId}/privacy-requests/{requestId}/verify', { params: request(requestId), body })),
      ),
    assign: (requestId: string, userId: string) =>
      done(
        unwrap(
          api.POST('/v1/orgs/{orgId}/privacy-requests/{requestId}/assign', {
            params: request(requestId),
            body: { userId },
          }),
        ),
      ),
    /**
     * POST …/{requestId}/complete (a step-up action): the export (access, with `exportId`),
     * the corrections (rectify), the erasure (erase, with the subject's salt, shown once),
     * the restriction or its lifting.
     */
    complete: (requestId: string, corrections?: Correction[]) =>
      done(
        unwrap(
          api.POST('/v1/orgs/{orgId}/privacy-requests/{requestId}/complete', {
            params: request(requestId),
            body: corrections === undefined ? {} : { corrections },
          }),
        ),
      ),
    reject: (requestId: string, reason: string) =>
      done(
        unwrap(
          api.POST('/v1/orgs/{orgId}/privacy-requests/{requestId}/reject', {
            params: request(requestId),
            body: { reason },
          }),
        ),
      ),
    setPolicy: (policy: PrivacyPolicy) =>
      done(unwrap(api.PUT('/v1/orgs/{orgId}/privacy-policy', { params: { path: { orgId } }, body: policy }))),
  }
}
