import { api, unwrap, type paths } from '../../lib/api.ts'
import { pageQuery, usePaged } from '../../lib/query.ts'
import type { PublishedKey } from '../../lib/audit-verify.ts'

export const PAGE_SIZE = 50

/** The filters GET /v1/orgs/{orgId}/audit/events takes; empty strings are left out. */
export interface AuditFilters {
  actor: string
  /** Exact (`secret.reveal`) or a prefix (`secret.*`). */
  action: string
  target: string
  outcome: '' | 'success' | 'denied' | 'failure'
  /** Custodian's own events, or the host application's (docs/application-events.md). */
  origin: '' | 'custodian' | 'application'
  /** RFC 3339 bounds of the time range. */
  from: string
  to: string
}

export const NO_FILTERS: AuditFilters = { actor: '', action: '', target: '', outcome: '', origin: '', from: '', to: '' }

export const auditEventsKey = (orgId: string, filters: AuditFilters) =>
  ['orgs', orgId, 'audit', 'events', filters] as const

/** GET /v1/orgs/{orgId}/audit/events, newest first, a page at a time. */
export function useAuditEvents(orgId: string, filters: AuditFilters) {
  return usePaged(auditEventsKey(orgId, filters), (cursor) =>
    unwrap(
      api.GET('/v1/orgs/{orgId}/audit/events', {
        params: {
          path: { orgId },
          query: {
            ...(filters.actor === '' ? {} : { actor: filters.actor }),
            ...(filters.action === '' ? {} : { action: filters.action }),
            ...(filters.target === '' ? {} : { target: filters.target }),
            ...(filters.outcome === '' ? {} : { outcome: filters.outcome }),
            ...(filters.origin === '' ? {} : { origin: filters.origin }),
            ...(filters.from === '' ? {} : { from: filters.from }),
            ...(filters.to === '' ? {} : { to: filters.to }),
            ...pageQuery(PAGE_SIZE, cursor),
          },
        },
      }),
    ),
  )
}

/** One event as the events call answers it (`seq`, `hash`, `prevHash` null until chained). */
export type AuditEvent =
  paths['/v1/orgs/{orgId}/audit/events']['get']['responses'][200]['content']['application/json']['events'][number]

/** GET /v1/orgs/{orgId}/audit/export: the whole chain as JSON Lines text (permission audit:export). */
export async function fetchExport(orgId: string): Promise<string> {
  const { data, error, response } = await api.GET('/v1/orgs/{orgId}/audit/export', {
    params: { path: { orgId } },
    parseAs: 'text',
  })
  if (!response.ok) return unwrap(Promise.resolve({ error: parseProblem(error), response }))
  return data ?? ''
}

function parseProblem(error: unknown): unknown {
  if (typeof error !== 'string') return error
  try {
    return JSON.parse(error) as unknown
  } catch {
    return {}
  }
}

/** GET /v1/audit/keys: the published checkpoint keys, obtained apart from any export. */
export async function fetchPublishedKeys(): Promise<PublishedKey[]> {
  const { keys } = await unwrap(api.GET('/v1/audit/keys', {}))
  return keys.map((k) => ({ keyId: k.keyId, publicKey: k.publicKey }))
}

/** GET …/audit/events/{eventId}/receipt as JSON text (404 until a checkpoint covers the event). */
export async function fetchReceipt(orgId: string, eventId: string): Promise<string> {
  const receipt = await unwrap(
    api.GET('/v1/orgs/{orgId}/audit/events/{eventId}/receipt', { params: { path: { orgId, eventId } } }),
  )
  return `${JSON.stringify(receipt, null, 2)}\n`
}

/** Offers text as a file download (shared: lib/download.ts). */
export { saveFile } from '../../lib/download.ts'
