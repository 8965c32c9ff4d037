import { useQuery, useQueryClient } from '@tanstack/react-query'
import { api, unwrap, type paths } from '../../lib/api.ts'
import { pageQuery, usePaged } from '../../lib/query.ts'

export const PAGE_SIZE = 20

/** Everything this feature reads of an org, under one key, so "Evaluate now" refreshes it all. */
export const complianceKey = (orgId: string) => ['orgs', orgId, 'compliance'] as const
export const operatorComplianceKey = ['operator', 'compliance'] as const

type Json<T> = T extends { content: { 'application/json': infer J } } ? J : never
/** GET /v1/orgs/{orgId}/compliance: the summary, the last run, the interval and every promise. */
export type Standing = Json<paths['/v1/orgs/{orgId}/compliance']['get']['responses'][200]>
/** A promise with its verdict (met, not met, not applicable), its frameworks and its checks. */
export type PromiseStanding = Standing['promises'][number]
/** A check's latest result: verdict, summary, evidence, when it ran and since when it holds. */
export type CheckResult = PromiseStanding['checks'][number]
/** One evaluation of the org, scheduled or on demand, with its counts. */
export type Run = Json<paths['/v1/orgs/{orgId}/compliance/runs']['post']['responses'][200]>
/** One change of a check's verdict or summary. */
export type HistoryEntry = Json<
  paths['/v1/orgs/{orgId}/compliance/history']['get']['responses'][200]
>['history'][number]
/** GET /v1/operator/compliance: the service's checks and each org check across every org. */
export type OperatorOverview = Json<paths['/v1/operator/compliance']['get']['responses'][200]>
export type OrgCheckOverview = OperatorOverview['orgChecks'][number]

/** The two signed documents, and their formats (docs/compliance.md). */
export type DocumentKind = 'report' | 'policy'
export type DocumentFormat = 'json' | 'html' | 'pdf'

/** GET /v1/orgs/{orgId}/compliance (compliance:read): every promise with its checks' latest results. */
export function useStanding(orgId: string) {
  return useQuery({
    queryKey: [...complianceKey(orgId), 'standing'],
    queryFn: () => unwrap(api.GET('/v1/orgs/{orgId}/compliance', { params: { path: { orgId } } })),
  })
}

/** GET /v1/orgs/{orgId}/compliance/runs: the evaluations, newest first, a page at a time. */
export function useRuns(orgId: string) {
  return usePaged([...complianceKey(orgId), 'runs'], (cursor) =>
    unwrap(
      api.GET('/v1/orgs/{orgId}/compliance/runs', { params: { path: { orgId }, query: pageQuery(PAGE_SIZE, cursor) } }),
    ),
  )
}

/**
 * GET /v1/orgs/{orgId}/compliance/history?check=: each change of one check's verdict or
 * summary, newest first, a page at a time. Asked only once the check's history is opened.
 */
export function useCheckHistory(orgId: string, check: string) {
  return usePaged([...complianceKey(orgId), 'history', check], (cursor) =>
    unwrap(
      api.GET('/v1/orgs/{orgId}/compliance/history', {
        params: { path: { orgId }, query: { check, ...pageQuery(PAGE_SIZE, cursor) } },
      }),
    ),
  )
}

/**
 * POST /v1/orgs/{orgId}/compliance/runs (compliance:run): evaluates the org now (in the
 * provider org, the service's checks too), then refreshes what the page shows. Answers the run.
 */
export function useEvaluateNow(orgId: string): () => Promise<Run> {
  const queryClient = useQueryClient()
  return async () => {
    const run = await unwrap(api.POST('/v1/orgs/{orgId}/compliance/runs', { params: { path: { orgId } } }))
    await queryClient.invalidateQueries({ queryKey: complianceKey(orgId) })
    return run
  }
}

/** GET /v1/operator/compliance (orgs:list, the provider org): the service's checks and every org check's counts. */
export function useOperatorCompliance() {
  return useQuery({
    queryKey: operatorComplianceKey,
    queryFn: () => unwrap(api.GET('/v1/operator/compliance', {})),
  })
}

/** A signed document as served: its bytes, the file name the server gave, and its detached signature. */
export interface SignedDocument {
  bytes: Blob
  filename: string
  /** The `Custodian-Signature` header: a compact JWS whose payload names the bytes' SHA-256. */
  signature: string
}

/**
 * The file name of an `attachment; filename="…"` Content-Disposition (RFC 6266). The service
 * sends only that quoted form, of ASCII names it makes itself (compliance.routes.ts), so a
 * pattern reads it; the `content-disposition` package would bring Node's `path` into the
 * browser build. Without one, `fallback`.
 */
export function attachmentName(header: string | null, fallback: string): string {
  const name = /filename="([^"\\/]+)"/.exec(header ?? '')?.[1]
  return name === undefined || name.startsWith('.') ? fallback : name
}

/**
 * GET /v1/orgs/{orgId}/compliance/report or …/policy in a format (compliance:read): the
 * document's bytes with the signature of its `Custodian-Signature` header, fetched with the
 * session (never a token in a URL), through the console's client (its CSRF and grant headers).
 */
export async function fetchDocument(
  orgId: string,
  kind: DocumentKind,
  format: DocumentFormat,
): Promise<SignedDocument> {
  const options = { params: { path: { orgId }, query: { format } }, parseAs: 'blob' as const }
  const call =
    kind === 'report'
      ? api.GET('/v1/orgs/{orgId}/compliance/report', options)
      : api.GET('/v1/orgs/{orgId}/compliance/policy', options)
  const { response } = await call
  const bytes = await unwrap(call)
  const signature = response.headers.get('custodian-signature')
  if (signature === null) throw new Error('the document came without its signature (Custodian-Signature)')
  const fallback = `custodian-${kind === 'report' ? 'compliance-report' : 'security-policy'}.${format}`
  return {
    bytes,
    filename: attachmentName(response.headers.get('content-disposition'), fallback),
    signature,
  }
}
