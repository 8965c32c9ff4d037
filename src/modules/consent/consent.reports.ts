import { Type, type Static } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Kysely } from 'kysely'
import type { Clock } from '../../clock.ts'
import type { RequestContext } from '../../context.ts'
import type { DB } from '../../db/schema.ts'
import { withOrg, type Trx } from '../../db/tenant.ts'
import { ctxOf } from '../../http/route-helpers.ts'
import { errorResponses, Strict, Timestamp, Uuid } from '../../http/schemas.ts'
import type { Subjects } from '../privacy/subjects.ts'
import { decide } from './consent.decide.ts'
import * as store from './consent.store.ts'
import type { LawfulBasis } from './consent.tables.ts'
import { ConsentEventView, ObjectionView } from './consent.types.ts'

/**
 * What the console reads of consent beyond the catalogue (docs/consent.md#the-consoles-views):
 * one data subject's timeline, looked up by a body so the subject's id never reaches a URL
 * or a log, and the org's report — consent rate per purpose and notice version and the
 * objections waiting for a decision — aggregated from the projection (`consent_state`),
 * never from the events' history.
 */

/** Events a timeline answers, newest first: a subject's whole history is rarely longer. */
export const TIMELINE_EVENTS = 200
/** Pending objections a report lists, soonest due first (`pendingObjections.total` counts them all). */
export const REPORT_OBJECTIONS = 100

export const TimelineBody = Type.Object(
  {
    subject: Type.String({
      minLength: 1,
      maxLength: 200,
      description: 'the host application’s id of the data subject (in the body: never in a URL or a log)',
    }),
  },
  Strict,
)
export type TimelineInput = Static<typeof TimelineBody>

const Basis = Type.String({ description: 'the lawful basis (consent, explicit_consent, contract, …)' })

export const TimelineEvent = Type.Composite([
  ConsentEventView,
  Type.Object({
    actor: Type.Object({
      type: Type.String({ description: 'subject, staff or system' }),
      id: Type.Union([Type.String(), Type.Null()], {
        description: 'the staff member’s or system’s id; never the subject’s',
      }),
    }),
    recordedBy: Type.String({
      description: 'the principal whose call recorded it (`user:<id>`, `service_account:<id>`)',
    }),
  }),
])

export const TimelineState = Type.Object({
  purpose: Type.String(),
  lawfulBasis: Basis,
  state: Type.String({
    description: 'the projection’s state: granted, denied, withdrawn, expired, objection_pending, …',
  }),
  allowed: Type.Boolean({ description: 'what a check would answer now (the same fail-closed rule)' }),
  reason: Type.String({
    description: 'the check’s reason: granted, expired, reconsent_required, erased, restricted, …',
  }),
  eventId: Uuid,
  noticeVersion: Type.Union([Type.Integer(), Type.Null()]),
  expiresAt: Type.Union([Timestamp, Type.Null()]),
  updatedAt: Timestamp,
})

export const TimelineView = Type.Object({
  known: Type.Boolean({ description: 'whether the org holds a key for this subject (false: nothing recorded)' }),
  restricted: Type.Boolean({ description: 'processing restricted (Art. 18): every check answers not allowed' }),
  erased: Type.Boolean({ description: 'the subject’s key was shredded: the evidence no longer opens' }),
  states: Type.Array(TimelineState, { description: 'the current state per purpose the subject was asked about' }),
  events: Type.Array(TimelineEvent, { description: `newest first, at most ${TIMELINE_EVENTS}` }),
  truncated: Type.Boolean({ description: `true when the subject has more than ${TIMELINE_EVENTS} events` }),
  objections: Type.Array(ObjectionView, { description: 'the objections the listed events opened' }),
})
export type TimelineViewT = Static<typeof TimelineView>

export const RateRow = Type.Object({
  purpose: Type.String(),
  name: Type.String(),
  lawfulBasis: Basis,
  noticeVersion: Type.Union([Type.Integer(), Type.Null()], {
    description: 'the notice version the current state was recorded under (null: none named)',
  }),
  granted: Type.Integer({ description: 'subjects whose grant holds now (not lapsed, not superseded)' }),
  denied: Type.Integer(),
  withdrawn: Type.Integer(),
  lapsed: Type.Integer({ description: 'grants expired, or given under a version a material change superseded' }),
  objected: Type.Integer({ description: 'objection pending or upheld' }),
  other: Type.Integer({ description: 'an objection rejected (no consent state of its own)' }),
  rate: Type.Union([Type.Number(), Type.Null()], {
    description: 'granted / (granted + denied), 0–1; null when no subject was asked or the basis is not consent',
  }),
})
export type RateRowT = Static<typeof RateRow>

export const ConsentReport = Type.Object({
  generatedAt: Timestamp,
  rates: Type.Array(RateRow, { description: 'one row per purpose and notice version, by purpose key then version' }),
  pendingObjections: Type.Object({
    total: Type.Integer(),
    items: Type.Array(
      Type.Object({ id: Uuid, purpose: Type.String(), openedAt: Timestamp, dueAt: Timestamp, overdue: Type.Boolean() }),
      { description: `soonest due first, at most ${REPORT_OBJECTIONS}` },
    ),
  }),
})
export type ConsentReportT = Static<typeof ConsentReport>

export interface ConsentReports {
  /** One subject's events (newest first, at most TIMELINE_EVENTS), current states and objections. */
  timeline(ctx: RequestContext, input: TimelineInput): Promise<TimelineViewT>
  /** The org's consent rates from the projection and its pending objections. */
  report(ctx: RequestContext): Promise<ConsentReportT>
}

const CONSENT: readonly string[] = ['consent', 'explicit_consent']

/** Reads for the console's consent pages (docs/consent.md#the-consoles-views). */
export function createConsentReports(deps: {
  db: Kysely<DB>
  subjects: Pick<Subjects, 'ref'>
  clock: Clock
}): ConsentReports {
  const { db, subjects, clock } = deps

  async function subjectKey(trx: Trx, orgId: string, ref: Buffer) {
    return trx
      .selectFrom('subject_keys')
      .select(['key_id', 'restricted_at', 'shredded_at'])
      .where('org_id', '=', orgId)
      .where('subject_ref', '=', ref)
      .executeTakeFirst()
  }

  return {
    async timeline(ctx, input) {
      const ref = subjects.ref(ctx.orgId, input.subject)
      return withOrg(db, ctx.orgId, async (trx) => {
        const now = clock()
        const key = await subjectKey(trx, ctx.orgId, ref)
        const rows = await trx
          .selectFrom('consent_events')
          .selectAll()
          .where('org_id', '=', ctx.orgId)
          .where('subject_ref', '=', ref)
          .orderBy('received_at', 'desc')
          .orderBy('id', 'desc')
          .limit(TIMELINE_EVENTS + 1)
          .execute()
        const events = rows.slice(0, TIMELINE_EVENTS)
        const states = await trx
          .selectFrom('consent_state')
          .selectAll()
          .where('org_id', '=', ctx.orgId)
          .where('subject_ref', '=', ref)
          .execute()
        const objectionIds = [...new Set(events.flatMap((e) => (e.objection_id === null ? [] : [e.objection_id])))]
        const objections =
          objectionIds.length === 0
            ? []
            : await trx
                .selectFrom('consent_objections')
                .selectAll()
                .where('id', 'in', objectionIds)
                .orderBy('opened_at', 'desc')
                .execute()
        const purposeIds = [...new Set([...events, ...states, ...objections].map((r) => r.purpose_id))]
        const purposes =
          purposeIds.length === 0
            ? []
            : await trx.selectFrom('consent_purposes').selectAll().where('id', 'in', purposeIds).execute()
        const byId = new Map(purposes.map((p) => [p.id, p]))
        const keyOf = (id: string) => byId.get(id)?.key ?? ''
        return {
          known: key !== undefined,
          restricted: key?.restricted_at != null,
          erased: key?.shredded_at != null,
          states: states
            .map((s) => {
              const purpose = byId.get(s.purpose_id)
              const verdict = decide(
                purpose === undefined
                  ? undefined
                  : {
                      purpose_id: s.purpose_id,
                      lawful_basis: purpose.lawful_basis,
                      reconsent_from_version: purpose.reconsent_from_version,
                      reconsent_grace_until: purpose.reconsent_grace_until,
                      reconsent_hard_version: purpose.reconsent_hard_version,
                      state: s.state,
                      state_key_id: s.subject_key_id,
                      event_id: s.event_id,
                      notice_version: s.notice_version,
                      expires_at: s.expires_at,
                      subject_key_id: key?.key_id ?? null,
                      restricted: key === undefined ? null : key.restricted_at !== null,
                      shredded: key === undefined ? null : key.shredded_at !== null,
                    },
                now,
              )
              return {
                purpose: keyOf(s.purpose_id),
                lawfulBasis: s.lawful_basis,
                state: s.state,
                allowed: verdict.allowed,
                reason: verdict.reason,
                eventId: s.event_id,
                noticeVersion: s.notice_version,
                expiresAt: s.expires_at?.toISOString() ?? null,
                updatedAt: s.updated_at.toISOString(),
              }
            })
            .sort((a, b) => a.purpose.localeCompare(b.purpose)),
          events: events.map((e) => ({
            id: e.id,
            appEventId: e.app_event_id,
            purpose: keyOf(e.purpose_id),
            action: e.action,
            lawfulBasis: e.lawful_basis,
            noticeVersion: e.notice_version,
            noticeSha256: e.notice_sha256,
            method: e.method,
            collectedAt: e.collected_at.toISOString(),
            receivedAt: e.received_at.toISOString(),
            expiresAt: e.expires_at?.toISOString() ?? null,
            gpcConflict: e.gpc_conflict,
            objectionId: e.objection_id,
            actor: { type: e.actor_type, id: e.actor_id },
            recordedBy: e.recorded_by,
          })),
          truncated: rows.length > TIMELINE_EVENTS,
          objections: objections.map((o) => ({
            id: o.id,
            purpose: keyOf(o.purpose_id),
            eventId: o.event_id,
            openedAt: o.opened_at.toISOString(),
            dueAt: o.due_at.toISOString(),
            status: o.status,
            decidedAt: o.decided_at?.toISOString() ?? null,
            grounds: o.grounds,
            decisionEventId: o.decision_event_id,
            overdue: o.status === 'pending' && o.due_at.getTime() <= now.getTime(),
          })),
        }
      })
    },

    async report(ctx) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const now = clock()
        // One row per purpose, notice version and state: the projection holds one row per
        // subject and purpose (never the events), read through its primary key's org prefix;
        // a state written under a key since shredded or renewed (an erased subject) is not counted.
        // Kept at write time (migration 0048): a few rows per purpose and notice version,
        // whatever the number of subjects.
        const counted = await trx
          .selectFrom('consent_state_counts')
          .select([
            'purpose_id',
            'notice_version',
            'state',
            (eb) => eb.fn.sum<string | number>('subjects').as('subjects'),
          ])
          .where('org_id', '=', ctx.orgId)
          .groupBy(['purpose_id', 'notice_version', 'state'])
          .execute()
        const purposes = await trx
          .selectFrom('consent_purposes')
          .select(['id', 'key', 'name', 'lawful_basis', 'reconsent_from_version'])
          .where('org_id', '=', ctx.orgId)
          .execute()
        const byId = new Map(purposes.map((p) => [p.id, p]))
        const rows = new Map<string, RateRowT>()
        for (const g of counted) {
          const purpose = byId.get(g.purpose_id)
          const n = Number(g.subjects)
          if (purpose === undefined || n === 0) continue
          const version = g.notice_version === 0 ? null : g.notice_version
          const id = `${purpose.key}\0${version ?? ''}`
          const row = rows.get(id) ?? emptyRow(purpose.key, purpose.name, purpose.lawful_basis, version)
          rows.set(id, row)
          // A grant under a version before the purpose's last material change needs re-consent.
          const superseded =
            purpose.reconsent_from_version !== null && (version === null || version < purpose.reconsent_from_version)
          if (g.state === 'expired' || (g.state === 'granted' && superseded)) row.lapsed += n
          else if (g.state === 'granted') row.granted += n
          else if (g.state === 'denied') row.denied += n
          else if (g.state === 'withdrawn') row.withdrawn += n
          else if (g.state === 'objection_pending' || g.state === 'objected') row.objected += n
          else row.other += n
        }
        const rates = [...rows.values()]
          .map((r) => ({
            ...r,
            rate:
              CONSENT.includes(r.lawfulBasis) && r.granted + r.denied > 0 ? r.granted / (r.granted + r.denied) : null,
          }))
          .sort((a, b) => a.purpose.localeCompare(b.purpose) || (b.noticeVersion ?? 0) - (a.noticeVersion ?? 0))
        // The pending objections, through the partial index of the pending ones (migration 0044).
        const pending = await trx
          .selectFrom('consent_objections')
          .select(['id', 'purpose_id', 'opened_at', 'due_at'])
          .where('org_id', '=', ctx.orgId)
          .where('status', '=', 'pending')
          .orderBy('due_at')
          .orderBy('id')
          .limit(REPORT_OBJECTIONS)
          .execute()
        const total =
          pending.length < REPORT_OBJECTIONS
            ? pending.length
            : Number(
                (
                  await trx
                    .selectFrom('consent_objections')
                    .select((eb) => eb.fn.countAll().as('n'))
                    .where('org_id', '=', ctx.orgId)
                    .where('status', '=', 'pending')
                    .executeTakeFirstOrThrow()
                ).n,
              )
        const keys = await store.purposeKeysByIds(trx, [...new Set(pending.map((o) => o.purpose_id))])
        return {
          generatedAt: now.toISOString(),
          rates,
          pendingObjections: {
            total,
            items: pending.map((o) => ({
              id: o.id,
              purpose: keys.get(o.purpose_id) ?? '',
              openedAt: o.opened_at.toISOString(),
              dueAt: o.due_at.toISOString(),
              overdue: o.due_at.getTime() <= now.getTime(),
            })),
          },
        }
      })
    },
  }
}

function emptyRow(purpose: string, name: string, lawfulBasis: LawfulBasis, noticeVersion: number | null): RateRowT {
  return {
    purpose,
    name,
    lawfulBasis,
    noticeVersion,
    granted: 0,
    denied: 0,
    withdrawn: 0,
    lapsed: 0,
    objected: 0,
    other: 0,
    rate: null,
  }
}

/**
 * The console's consent reads (`consent:read`): POST …/consent/timeline (a subject's id in
 * the body, never the address) and GET …/consent/report.
 */
export function consentReportRoutes(deps: { reports: ConsentReports }): FastifyPluginAsyncTypebox {
  const { reports } = deps
  const OrgParams = Type.Object({ orgId: Uuid }, Strict)
  const tags = ['consent']
  return async (app) => {
    // A lookup by body, not by URL: subject ids are personal data and URLs are logged.
    app.post('/v1/orgs/:orgId/consent/timeline', {
      config: { access: { permission: 'consent:read' } },
      schema: {
        tags,
        summary: `A data subject’s consent timeline: events newest first (at most ${TIMELINE_EVENTS}), the current state per purpose, objections`,
        params: OrgParams,
        body: TimelineBody,
        response: { 200: TimelineView, ...errorResponses('org') },
      },
      handler: async (request) => reports.timeline(ctxOf(request), request.body),
    })

    app.get('/v1/orgs/:orgId/consent/report', {
      config: { access: { permission: 'consent:read' } },
      schema: {
        tags,
        summary:
          'Consent rate per purpose and notice version (from the current state of each subject asked) and the objections pending, soonest due first',
        params: OrgParams,
        response: { 200: ConsentReport, ...errorResponses('org') },
      },
      handler: async (request) => reports.report(ctxOf(request)),
    })
  }
}
