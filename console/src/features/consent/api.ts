import { useMemo } from 'react'
import { useQuery, useQueryClient } from '@tanstack/react-query'
import { api, ApiError, unwrap, type paths } from '../../lib/api.ts'
import { pageQuery, usePaged } from '../../lib/query.ts'

export const PAGE_SIZE = 50

/** Everything this feature reads, under one key per org, so an action refreshes it all. */
export const consentKey = (orgId: string) => ['orgs', orgId, 'consent'] as const

type Json<T> = T extends { content: { 'application/json': infer J } } ? J : never
type Body<T> = T extends { requestBody?: { content: { 'application/json': infer J } } } ? J : never

/** A purpose of processing with its lawful basis (GET …/consent/purposes/{purposeKey}). */
export type Purpose = Json<paths['/v1/orgs/{orgId}/consent/purposes/{purposeKey}']['get']['responses'][200]>
export type NewPurpose = Body<paths['/v1/orgs/{orgId}/consent/purposes']['post']>
export type PurposeChange = Body<paths['/v1/orgs/{orgId}/consent/purposes/{purposeKey}']['patch']>
export type LawfulBasis = Purpose['lawfulBasis']
/** A notice version as listed (no text). */
export type NoticeSummary = Json<paths['/v1/orgs/{orgId}/consent/notices']['get']['responses'][200]>['notices'][number]
/** One notice version with its exact text. */
export type Notice = Json<paths['/v1/orgs/{orgId}/consent/notices/{version}']['get']['responses'][200]>
export type NewNotice = Body<paths['/v1/orgs/{orgId}/consent/notices']['post']>
/** A data subject's consent timeline (POST …/consent/timeline). */
export type Timeline = Json<paths['/v1/orgs/{orgId}/consent/timeline']['post']['responses'][200]>
export type TimelineEvent = Timeline['events'][number]
export type TimelineState = Timeline['states'][number]
export type Objection = Timeline['objections'][number]
/** The consent report (GET …/consent/report). */
export type ConsentReport = Json<paths['/v1/orgs/{orgId}/consent/report']['get']['responses'][200]>
export type RateRow = ConsentReport['rates'][number]
/** A registered recipient (GET …/consent/recipients/{recipientId}): told of withdrawals, objections and erasures. */
export type Recipient = Json<paths['/v1/orgs/{orgId}/consent/recipients/{recipientId}']['get']['responses'][200]>
export type NewRecipient = Body<paths['/v1/orgs/{orgId}/consent/recipients']['post']>
/** A message sent to a recipient (GET …/consent/propagations). */
export type Propagation = Json<
  paths['/v1/orgs/{orgId}/consent/propagations']['get']['responses'][200]
>['propagations'][number]

/** The lawful bases of Art. 6(1) and 9(2)(a), in words. */
export const BASES: { value: LawfulBasis; label: string }[] = [
  { value: 'consent', label: 'Consent (Art. 6(1)(a))' },
  { value: 'explicit_consent', label: 'Explicit consent (Art. 9(2)(a))' },
  { value: 'contract', label: 'Contract (Art. 6(1)(b))' },
  { value: 'legal_obligation', label: 'Legal obligation (Art. 6(1)(c))' },
  { value: 'vital_interests', label: 'Vital interests (Art. 6(1)(d))' },
  { value: 'public_task', label: 'Public task (Art. 6(1)(e))' },
  { value: 'legitimate_interests', label: 'Legitimate interests (Art. 6(1)(f))' },
]

/** A lawful basis in words ("Legitimate interests (Art. 6(1)(f))"). */
export function basisLabel(basis: string): string {
  return BASES.find((b) => b.value === basis)?.label ?? basis
}

/** How an event was collected, in words: `staff` is "on behalf by staff". */
export const METHODS: Record<string, string> = {
  form: 'form',
  button: 'button',
  api: 'API',
  gpc: 'Global Privacy Control signal',
  double_opt_in: 'double opt-in',
  import: 'import',
  staff: 'on behalf by staff',
}

/** An event's action in words. */
export const ACTIONS: Record<string, string> = {
  grant: 'granted',
  deny: 'denied',
  withdraw: 'withdrawn',
  expire: 'expired',
  object: 'objected',
  objection_upheld: 'objection upheld',
  objection_rejected: 'objection rejected',
}

/** A check's reason in words (consent.types.ts REASONS). */
export const REASONS: Record<string, string> = {
  granted: 'consent given',
  lawful_basis: 'processing rests on its lawful basis',
  unknown_purpose: 'no such purpose',
  unknown_subject: 'subject not known',
  no_consent: 'no consent recorded',
  denied: 'consent refused',
  withdrawn: 'consent withdrawn',
  expired: 'consent lapsed (its lifetime ended)',
  objected: 'objection upheld or taking effect',
  objection_pending: 'objection waiting for a decision',
  restricted: 'processing restricted (Art. 18)',
  erased: 'subject erased',
  reconsent_grace:
    'given under a notice a material change superseded: allowed until its grace period ends, re-consent needed',
  reconsent_required: 'given under a notice a material change superseded: re-consent needed',
}

/** What a propagation tells its recipient, in words (consent.propagation.ts PropagationView). */
export const TOLD: Record<Propagation['action'], string> = {
  withdraw: 'withdrawal',
  object: 'objection',
  objection_upheld: 'objection upheld',
  erasure: 'erasure',
  expire: 'consent lapsed',
  restrict: 'processing restricted',
  lift_restriction: 'restriction lifted',
  rectify: 'data rectified',
}

/**
 * A refusal of a purpose change in words: CONSENT_BASIS_MISMATCH (409) is the API saying a
 * purpose's lawful basis never switches; other refusals keep the API's own detail.
 */
export function purposeRefusal(error: unknown): unknown {
  if (error instanceof ApiError && error.code === 'CONSENT_BASIS_MISMATCH')
    return new ApiError(error.status, {
      code: error.code,
      detail:
        'A purpose’s lawful basis never changes once declared (no switching basis after the fact). To process on another basis, declare a new purpose.',
      errors: error.errors,
    })
  return error
}

/** GET …/consent/purposes (consent:read): the org's purposes by key, a page at a time. */
export function usePurposes(orgId: string) {
  return usePaged([...consentKey(orgId), 'purposes'], (cursor) =>
    unwrap(
      api.GET('/v1/orgs/{orgId}/consent/purposes', {
        params: { path: { orgId }, query: pageQuery(PAGE_SIZE, cursor) },
      }),
    ),
  )
}

/**
 * A purpose's name by its key, from the purposes already loaded (the first page, and any
 * more the page asked for): `(key) => name`, or the key itself when the purpose is not
 * loaded (an org with more purposes than a page, or a purpose since removed).
 */
export function usePurposeNames(orgId: string): (key: string) => string {
  const purposes = usePurposes(orgId)
  return useMemo(() => {
    const names = new Map<string, string>()
    for (const page of purposes.data?.pages ?? []) for (const p of page.purposes) names.set(p.key, p.name)
    return (key: string) => names.get(key) ?? key
  }, [purposes.data])
}

/** GET …/consent/notices (consent:read): notice versions, newest first, without their text. */
export function useNotices(orgId: string) {
  return usePaged([...consentKey(orgId), 'notices'], (cursor) =>
    unwrap(
      api.GET('/v1/orgs/{orgId}/consent/notices', {
        params: { path: { orgId }, query: pageQuery(PAGE_SIZE, cursor) },
      }),
    ),
  )
}

/** GET …/consent/notices/{version} (consent:read): one version with its exact text, asked while `version` is given. */
export function useNotice(orgId: string, version: number | null) {
  return useQuery({
    queryKey: [...consentKey(orgId), 'notice', version],
    enabled: version !== null,
    queryFn: () =>
      unwrap(
        api.GET('/v1/orgs/{orgId}/consent/notices/{version}', {
          params: { path: { orgId, version: version ?? 1 } },
        }),
      ),
  })
}

/**
 * POST …/consent/timeline (consent:read): a data subject's timeline, asked once `subject`
 * is given. The subject's id travels in the body and stays in memory (the query cache),
 * never in the address or browser storage.
 */
export function useTimeline(orgId: string, subject: string | null) {
  return useQuery({
    queryKey: [...consentKey(orgId), 'timeline', subject],
    enabled: subject !== null,
    gcTime: 0,
    queryFn: () =>
      unwrap(
        api.POST('/v1/orgs/{orgId}/consent/timeline', {
          params: { path: { orgId } },
          body: { subject: subject ?? '' },
        }),
      ),
  })
}

/** GET …/consent/recipients (consent:read): the registered recipients by name, a page at a time. */
export function useRecipients(orgId: string) {
  return usePaged([...consentKey(orgId), 'recipients'], (cursor) =>
    unwrap(
      api.GET('/v1/orgs/{orgId}/consent/recipients', {
        params: { path: { orgId }, query: pageQuery(PAGE_SIZE, cursor) },
      }),
    ),
  )
}

/**
 * GET …/consent/propagations?state= (consent:read): the messages not acknowledged, by
 * deadline, soonest first — `overdue` (past it) or `pending` (not yet).
 */
export function usePropagations(orgId: string, state: 'pending' | 'overdue') {
  return usePaged([...consentKey(orgId), 'propagations', state], (cursor) =>
    unwrap(
      api.GET('/v1/orgs/{orgId}/consent/propagations', {
        params: { path: { orgId }, query: { ...pageQuery(PAGE_SIZE, cursor), state } },
      }),
    ),
  )
}

/** GET …/consent/report (consent:read): rates per purpose and notice version, pending objections. */
export function useReport(orgId: string) {
  return useQuery({
    queryKey: [...consentKey(orgId), 'report'],
    queryFn: () => unwrap(api.GET('/v1/orgs/{orgId}/consent/report', { params: { path: { orgId } } })),
  })
}

/**
 * The feature's actions; each throws the API's refusal as an ApiError (fields named by
 * their JSON pointer, e.g. `/body/gpcEffect`) and, done, refreshes the feature's reads.
 */
export function useConsentActions(orgId: string) {
  const queryClient = useQueryClient()
  const refresh = () => queryClient.invalidateQueries({ queryKey: consentKey(orgId) })
  const done = async <T>(call: Promise<T>): Promise<T> => {
    const result = await call
    await refresh()
    return result
  }
  const path = { orgId }
  return {
    /** POST …/consent/purposes (consent:manage). */
    createPurpose: (body: NewPurpose) =>
      done(unwrap(api.POST('/v1/orgs/{orgId}/consent/purposes', { params: { path }, body }))),
    /** PATCH …/consent/purposes/{purposeKey} (consent:manage); the basis never switches (409 CONSENT_BASIS_MISMATCH). */
    updatePurpose: (purposeKey: string, body: PurposeChange) =>
      done(
        unwrap(
          api.PATCH('/v1/orgs/{orgId}/consent/purposes/{purposeKey}', {
            params: { path: { orgId, purposeKey } },
            body,
          }),
        ),
      ),
    /**
     * POST …/consent/recipients (consent:manage, step-up): the answer carries the signing
     * secret, shown once — the caller keeps it in one component's state only.
     */
    createRecipient: (body: NewRecipient) =>
      done(unwrap(api.POST('/v1/orgs/{orgId}/consent/recipients', { params: { path }, body }))),
    /**
     * POST …/consent/recipients/{recipientId}/secret/rotate (consent:manage, step-up): the
     * new signing secret, shown once; the previous one also signs for 24 hours.
     */
    rotateRecipientSecret: (recipientId: string) =>
      done(
        unwrap(
          api.POST('/v1/orgs/{orgId}/consent/recipients/{recipientId}/secret/rotate', {
            params: { path: { orgId, recipientId } },
          }),
        ),
      ),
    /** DELETE …/consent/recipients/{recipientId} (consent:manage); 409 CONFLICT while a purpose names it. */
    removeRecipient: (recipientId: string) =>
      done(
        unwrap(
          api.DELETE('/v1/orgs/{orgId}/consent/recipients/{recipientId}', {
            params: { path: { orgId, recipientId } },
          }),
        ),
      ),
    /** POST …/consent/notices (consent:manage): the next version, immutable from then on. */
    publishNotice: (body: NewNotice) =>
      done(unwrap(api.POST('/v1/orgs/{orgId}/consent/notices', { params: { path }, body }))),
    /**
     * POST …/consent/withdraw (consent:record): one step, recorded with the method "on
     * behalf by staff"; `id` makes a retry of the same click a retry.
     */
    withdraw: (id: string, subject: string, purpose: string) =>
      done(
        unwrap(
          api.POST('/v1/orgs/{orgId}/consent/withdraw', {
            params: { path },
            body: { id, subject, purposes: [purpose], method: 'staff', actor: { type: 'staff' } },
          }),
        ),
      ),
    /** POST …/consent/objections/{objectionId}/decide (consent:manage): upheld or rejected, with grounds. */
    decide: (objectionId: string, decision: 'upheld' | 'rejected', grounds: string) =>
      done(
        unwrap(
          api.POST('/v1/orgs/{orgId}/consent/objections/{objectionId}/decide', {
            params: { path: { orgId, objectionId } },
            body: { decision, grounds },
          }),
        ),
      ),
  }
}

/** Hex SHA-256 of a text's UTF-8 bytes, as the API computes a notice's (WebCrypto). */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('')
}
