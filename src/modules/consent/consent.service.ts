import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto'
import { isIP } from 'node:net'
import type { Kysely } from 'kysely'
import type { Clock } from '../../clock.ts'
import { actorOf, type RequestContext } from '../../context.ts'
import type { Signer } from '../../crypto/keys.ts'
import { newestFirst, readPage, type Page, type PageOrder, type PageRequest } from '../../db/page.ts'
import type { DB } from '../../db/schema.ts'
import { queryInOrg, withOrg, type Trx } from '../../db/tenant.ts'
import { AppError } from '../../errors.ts'
import type { AuditService } from '../audit/audit.service.ts'
import type { AuditEventInput } from '../audit/audit.types.ts'
import type { Subjects } from '../privacy/subjects.ts'
import { decide } from './consent.decide.ts'
import { listReconsent, requireReconsent } from './consent.reconsent.ts'
import { decisionToken } from './consent.token.ts'
import * as store from './consent.store.ts'
import type { ConsentPropagation } from './consent.propagation.ts'
import type { ConsentRecipients } from './consent.recipients.ts'
import type { ConsentAction, ConsentMethod, ConsentStateName, PropagationAction } from './consent.tables.ts'
import {
  CONSENT_BASES,
  OBJECTABLE_BASES,
  type CheckInput,
  type ConsentEventViewT,
  type CreatePurposeInput,
  type DecideObjectionInput,
  type DecisionT,
  type NoticeViewT,
  type ObjectionViewT,
  type ReconsentListT,
  type ReconsentReason,
  type PublishNoticeInput,
  type PurposeViewT,
  type RecordEventInput,
  type RecordResultT,
  type UpdatePurposeInput,
  type WithdrawInput,
  type WithdrawResultT,
} from './consent.types.ts'

/**
 * Consent (P7.7; docs/consent.md): purposes with a lawful basis, immutable notice
 * versions, consent events kept as proof, and the fail-closed check before processing.
 *
 * Every consent event is written in one org transaction with three other things: its
 * audit event (same id, so a leaf of the org's Merkle tree; the evidence sealed with the
 * subject's key as the event's personal fields), the subject's state for the purpose (the
 * projection a check reads) and, for an objection under review, the objection. They commit
 * together or not at all; history is never rewritten — a withdrawal is a new event.
 *
 * The subject's id never reaches a table or the log in clear: rows carry the privacy
 * module's keyed reference, the log carries a commitment.
 */
export interface ConsentService {
  listPurposes(ctx: RequestContext, page: PageRequest): Promise<Page<PurposeViewT>>
  getPurpose(ctx: RequestContext, key: string): Promise<PurposeViewT>
  createPurpose(ctx: RequestContext, input: CreatePurposeInput): Promise<PurposeViewT>
  /** Throws CONSENT_BASIS_MISMATCH when the lawful basis would change: a basis never switches. */
  updatePurpose(ctx: RequestContext, key: string, input: UpdatePurposeInput): Promise<PurposeViewT>
  listNotices(ctx: RequestContext, page: PageRequest): Promise<Page<Omit<NoticeViewT, 'text'>>>
  getNotice(ctx: RequestContext, version: number): Promise<NoticeViewT>
  publishNotice(ctx: RequestContext, input: PublishNoticeInput): Promise<NoticeViewT>
  /**
   * Records one consent event; `gpc` when the request carried `Sec-GPC: 1`. Idempotent by
   * the host's event id: the same id and body answer the first event (`duplicate`); the
   * same id with another body throws CONSENT_EVENT_CONFLICT and records nothing.
   */
  record(ctx: RequestContext, input: RecordEventInput, options: { gpc: boolean }): Promise<RecordResultT>
  /** Withdraws consent to each purpose in one step (one transaction). */
  withdraw(ctx: RequestContext, input: WithdrawInput): Promise<WithdrawResultT>
  /**
   * A `Sec-GPC: 1` seen on its own (the hosted preference page): each purpose's GPC effect,
   * method `gpc`, as on a record call that carries the signal; the events it recorded.
   */
  signalGpc(
    ctx: RequestContext,
    input: { subject: string; evidence: Record<string, unknown> },
  ): Promise<ConsentEventViewT[]>
  /** One decision per item, in order, each from one indexed read, each with a signed token. */
  check(ctx: RequestContext, items: readonly CheckInput[]): Promise<DecisionT[]>
  /** Newest first; `due`: the pending ones (or the overdue ones) soonest due first, from their index. */
  listObjections(
    ctx: RequestContext,
    page: PageRequest & { due?: 'pending' | 'overdue' | undefined },
  ): Promise<Page<ObjectionViewT>>
  /** The subjects of a purpose that must consent again (consent.reconsent.ts). */
  listReconsent(
    ctx: RequestContext,
    query: { purpose: string; reason: ReconsentReason } & PageRequest,
  ): Promise<ReconsentListT>
  decideObjection(ctx: RequestContext, id: string, input: DecideObjectionInput): Promise<ObjectionViewT>
  /**
   * Erasure (Art. 17(1)(b), 7(3)): one `withdraw` event (method `staff`, actor the system)
   * for each purpose the subject holds a current grant to, written in the erasure's own
   * org transaction before the subject's key is shredded. Idempotent: once withdrawn,
   * nothing is granted. Answers the number of events written.
   */
  withdrawForErasure(trx: Trx, ctx: RequestContext, subjectId: string, requestId: string): Promise<number>
  /**
   * A completed restriction, lift of a restriction or rectification (Art. 16, 18, 19): told,
   * in the request's own org transaction, to every registered recipient any of the org's
   * purposes names — whatever the purposes' bases, since data disclosed under a contract or
   * legitimate interests leave no consent state per subject. Answers how many were told.
   */
  tellOfRequest(
    trx: Trx,
    ctx: RequestContext,
    subjectId: string,
    requestId: string,
    action: 'restrict' | 'lift_restriction' | 'rectify',
  ): Promise<number>
}

const BY_KEY: PageOrder = { keys: [{ column: 'key', type: 'text' }], direction: 'asc' }
const BY_VERSION: PageOrder = { keys: [{ column: 'version', type: 'integer' }], direction: 'desc' }
const NEWEST_OBJECTION = newestFirst('opened_at')
const SOONEST_DUE: PageOrder = {
  keys: [
    { column: 'due_at', type: 'timestamptz' },
    { column: 'id', type: 'uuid' },
  ],
  direction: 'asc',
}
/** How far ahead of the server's clock `collectedAt` may be (clock skew). */
const FUTURE_SKEW_MS = 5 * 60_000

/** What an action leaves as the subject's state for the purpose. */
/** How far a host app's clock may run behind ours when it says when a notice was shown. */
const NOTICE_CLOCK_SKEW_MS = 5 * 60_000

const OBJECTION_DECISIONS: ReadonlySet<ConsentAction> = new Set(['objection_upheld', 'objection_rejected'])

const STATE_AFTER: Record<Exclude<ConsentAction, 'object'>, ConsentStateName> = {
  grant: 'granted',
  deny: 'denied',
  withdraw: 'withdrawn',
  expire: 'expired',
  objection_upheld: 'objected',
  objection_rejected: 'objection_rejected',
}

function invalid(path: string, message: string): AppError {
  return new AppError('VALIDATION_FAILED', message, { errors: [{ path, message }] })
}

/** Art. 12(3): one month from receipt; the same day of the next month, or its last day. */
export function oneMonthAfter(date: Date): Date {
  const due = new Date(date)
  const day = due.getUTCDate()
  due.setUTCDate(1)
  due.setUTCMonth(due.getUTCMonth() + 1)
  const last = new Date(Date.UTC(due.getUTCFullYear(), due.getUTCMonth() + 1, 0)).getUTCDate()
  due.setUTCDate(Math.min(day, last))
  return due
}

/** An event as one of the internal steps writes it. */
interface EventDraft {
  appEventId: string | null
  fingerprint: Buffer | null
  subject: string
  purpose: store.PurposeRow
  action: ConsentAction
  method: ConsentMethod
  noticeVersion: number | undefined
  collectedAt: Date
  actor: { type: 'subject' | 'staff' | 'system'; id?: string | undefined }
  evidence: Record<string, unknown>
  sourceEventId: string | null
  gpcConflict: boolean
  objectionId?: string | undefined
  /** The erasure request that withdrew this consent (withdrawForErasure). */
  erasureRequest?: string | undefined
}

/** A written event, and whether it moved the subject's current state for its purpose. */
type Written = store.EventRow & { changesState: boolean }

export function createConsentService(deps: {
  db: Kysely<DB>
  audit: Pick<AuditService, 'append'>
  /** The privacy module's subject keys: the keyed reference, the key, the sealed personal fields. */
  subjects: Pick<Subjects, 'ref' | 'key' | 'personal'>
  signer: Signer
  /** Keys the fingerprint of a recorded body (idempotency), so that it reveals nothing of the body. */
  fingerprintKey: Buffer
  clock: Clock
  /** Seconds a decision token stays valid. */
  tokenTtlSeconds: number
  /** Tells the recipients of the purposes a withdrawal, objection or erasure affects (Art. 19). */
  propagation: Pick<ConsentPropagation, 'propagate'>
  /** Which recipient names a purpose may declare (consent.recipients.ts). */
  recipients: Pick<ConsentRecipients, 'unregistered'>
}): ConsentService {
  const { db, audit, subjects, clock } = deps

  const by = (ctx: RequestContext) => `${ctx.principal.kind}:${ctx.principal.id}`

  function purposeView(row: store.PurposeRow): PurposeViewT {
    return {
      key: row.key,
      name: row.name,
      description: row.description,
      dataCategories: row.data_categories,
      recipients: row.recipients,
      lawfulBasis: row.lawful_basis,
      directMarketing: row.direct_marketing,
      gpcEffect: row.gpc_effect,
      lifetimeDays: row.lifetime_days,
      reconsentFromVersion: row.reconsent_from_version,
      reconsentGraceDays: row.reconsent_grace_days,
      reconsentSince: row.reconsent_since?.toISOString() ?? null,
      reconsentGraceUntil: row.reconsent_grace_until?.toISOString() ?? null,
      createdAt: row.created_at.toISOString(),
      updatedAt: row.updated_at.toISOString(),
    }
  }

  function noticeView(row: store.NoticeRow): NoticeViewT {
    return {
      version: row.version,
      language: row.language,
      text: row.text,
      sha256: row.sha256,
      purposes: row.purposes,
      materialChange: row.material_change,
      publishedAt: row.published_at.toISOString(),
    }
  }

  function eventView(row: store.EventRow, purposeKey: string): ConsentEventViewT {
    return {
      id: row.id,
      appEventId: row.app_event_id,
      purpose: purposeKey,
      action: row.action,
      lawfulBasis: row.lawful_basis,
      noticeVersion: row.notice_version,
      noticeSha256: row.notice_sha256,
      method: row.method,
      collectedAt: row.collected_at.toISOString(),
      receivedAt: row.received_at.toISOString(),
      expiresAt: row.expires_at?.toISOString() ?? null,
      gpcConflict: row.gpc_conflict,
      objectionId: row.objection_id,
    }
  }

  function objectionView(row: store.ObjectionRow, purposeKey: string): ObjectionViewT {
    return {
      id: row.id,
      purpose: purposeKey,
      eventId: row.event_id,
      openedAt: row.opened_at.toISOString(),
      dueAt: row.due_at.toISOString(),
      status: row.status,
      decidedAt: row.decided_at?.toISOString() ?? null,
      grounds: row.grounds,
      decisionEventId: row.decision_event_id,
      overdue: row.status === 'pending' && row.due_at.getTime() <= clock().getTime(),
    }
  }

  /** The purpose's GPC effect must be one its basis allows. */
  function checkGpcEffect(basis: string, effect: string | undefined, directMarketing: boolean): void {
    if (effect !== 'opt_out') return
    if (!CONSENT_BASES.includes(basis) && !OBJECTABLE_BASES.includes(basis) && !directMarketing)
      throw invalid(
        '/body/gpcEffect',
        `a GPC signal cannot opt out of processing under ${basis}: only consent can be withdrawn, and only legitimate interests, a public task or direct marketing objected to`,
      )
  }

  /**
   * A purpose may declare only registered recipients; names it declared before the
   * registry existed (`kept`) stay as they are (migration 0046).
   */
  async function checkRecipients(trx: Trx, names: readonly string[] | undefined, kept: readonly string[] = []) {
    if (names === undefined) return
    const added = names.filter((n) => !kept.includes(n))
    const unknown = new Set(await deps.recipients.unregistered(trx, added))
    names.forEach((name, i) => {
      if (unknown.has(name))
        throw invalid(
          `/body/recipients/${i}`,
          `no recipient named ${name} is registered in this org (POST …/consent/recipients)`,
        )
    })
  }

  /**
   * Tells the recipients what the written `rows` did (one subject's, in the act's
   * transaction): withdrawals, direct-marketing objections and upheld objections — or,
   * with `erasure`, the erasure of the subject for the purposes given — one message per
   * recipient and kind of act. A row that left the current state as it was (`changesState`
   * false: a withdrawal collected before the grant that decides the state, or a repeat of
   * the state's own act) is not told: a recipient is told to stop only when the state moved.
   */
  async function tell(
    trx: Trx,
    ctx: RequestContext,
    rows: readonly (Pick<store.EventRow, 'action' | 'objection_id' | 'purpose_id' | 'subject_ref'> & {
      changesState?: boolean
    })[],
    erasure?: { requestId: string },
  ): Promise<void> {
    const groups = new Map<PropagationAction, typeof rows>()
    for (const row of rows) {
      if (erasure === undefined && row.changesState === false) continue
      const action: PropagationAction | undefined =
        erasure !== undefined
          ? 'erasure'
          : row.action === 'withdraw'
            ? 'withdraw'
            : row.action === 'object' && row.objection_id === null
              ? 'object'
              : row.action === 'objection_upheld'
                ? 'objection_upheld'
                : undefined
      if (action !== undefined) groups.set(action, [...(groups.get(action) ?? []), row])
    }
    for (const [action, group] of groups) {
      const first = group[0]
      if (first === undefined) continue
      const purposes = await trx
        .selectFrom('consent_purposes')
        .select(['key', 'recipients'])
        .where('id', 'in', [...new Set(group.map((r) => r.purpose_id))])
        .execute()
      await deps.propagation.propagate(trx, ctx.orgId, {
        subjectRef: first.subject_ref,
        purposes,
        action,
        requestId: erasure?.requestId,
      })
    }
  }

  async function purposeOf(trx: Trx, key: string, path: string): Promise<store.PurposeRow> {
    const row = await store.purposeByKey(trx, key)
    if (row === undefined) throw invalid(path, 'no such purpose in this org')
    return row
  }

  /** Whether the action can apply to the purpose at all (Art. 6, 7, 21). */
  function checkApplies(purpose: store.PurposeRow, action: ConsentAction): void {
    const consentBased = CONSENT_BASES.includes(purpose.lawful_basis)
    if (action === 'object') {
      if (!purpose.direct_marketing && !OBJECTABLE_BASES.includes(purpose.lawful_basis))
        throw new AppError(
          'CONSENT_BASIS_MISMATCH',
          `an objection (Art. 21) applies to legitimate interests, a public task or direct marketing, not to processing under ${purpose.lawful_basis}`,
        )
      return
    }
    if (action === 'objection_upheld' || action === 'objection_rejected') return
    if (!consentBased)
      throw new AppError(
        'CONSENT_BASIS_MISMATCH',
        `the purpose ${purpose.key} relies on ${purpose.lawful_basis}, not on consent: it takes no ${action}`,
      )
  }

  function fingerprintOf(parts: unknown): Buffer {
    return createHmac('sha256', deps.fingerprintKey)
      .update('custodian consent event\0')
      .update(JSON.stringify(parts))
      .digest()
  }

  /**
   * The audit event of a consent event (`consent.<action>`, target the purpose), under the
   * consent event's own id: the purpose and its lawful basis, then `details`; `personal`,
   * the subject's sealed fields, when the event has any.
   */
  function auditEvent(
    trx: Trx,
    ctx: RequestContext,
    action: string,
    purpose: Pick<store.PurposeRow, 'key' | 'lawful_basis'>,
    eventId: string,
    extra: { details: Record<string, unknown>; personal?: AuditEventInput['personal'] },
  ): Promise<void> {
    return audit.append(trx, {
      orgId: ctx.orgId,
      actor: actorOf(ctx.principal),
      action: `consent.${action}`,
      target: { type: 'consent_purpose', id: purpose.key },
      outcome: 'success',
      details: { purpose: purpose.key, lawfulBasis: purpose.lawful_basis, ...extra.details },
      ...(extra.personal === undefined ? {} : { personal: extra.personal }),
      eventId,
      meta: ctx.meta,
    })
  }

  /**
   * Writes one event with its audit event and the state it leaves (and the objection it
   * opens). Returns undefined when the host id was taken (by a retry or a concurrent first
   * attempt): nothing of this event is written then.
   */
  async function write(trx: Trx, ctx: RequestContext, draft: EventDraft): Promise<Written | undefined> {
    const { purpose, action } = draft
    const receivedAt = clock()
    const key = await subjects.key(trx, ctx.orgId, draft.subject, { create: true })
    if (key === undefined) throw new Error('a subject key was not created')
    let notice: store.NoticeRow | undefined
    if (draft.noticeVersion !== undefined) {
      notice = await store.noticeByVersion(trx, draft.noticeVersion)
      if (notice === undefined) throw invalid('/body/noticeVersion', 'no such notice version in this org')
      if (!notice.purposes.includes(purpose.key))
        throw invalid('/body/noticeVersion', `notice version ${notice.version} does not cover ${purpose.key}`)
      // Evidence of consent names the text the person saw (GDPR Art. 7(1)): a notice not yet
      // published when the act was collected cannot be it (clock skew allowed for).
      if (draft.collectedAt.getTime() < notice.published_at.getTime() - NOTICE_CLOCK_SKEW_MS)
        throw invalid(
          '/body/collectedAt',
          `collected before notice version ${notice.version} was published (${notice.published_at.toISOString()})`,
        )
    }
    const current = await store.lockState(trx, key.ref, purpose.id)
    const live = current !== undefined && current.subject_key_id === key.keyId ? current : undefined
    // The state follows the person's acts in the order they made them, not the order they
    // reach us: a grant collected before a withdrawal but delivered after it (a retry, a
    // queue) is kept in the history and changes nothing (Art. 7(3): a withdrawal holds).
    const superseded =
      live !== undefined && action !== 'object' && !OBJECTION_DECISIONS.has(action)
        ? await supersededBy(trx, live.event_id, draft.collectedAt)
        : undefined
    if (action === 'object' && live?.state === 'objection_pending')
      throw new AppError('CONFLICT', 'an objection of this subject to this purpose is waiting for a decision')
    const id = randomUUID()
    const objectionId = action === 'object' && !purpose.direct_marketing ? randomUUID() : draft.objectionId
    const expiresAt =
      action === 'grant' && purpose.lifetime_days !== null
        ? new Date(draft.collectedAt.getTime() + purpose.lifetime_days * 86_400_000)
        : null
    const personal = await subjects.personal(trx, ctx.orgId, draft.subject, {
      subject: draft.subject,
      ...(draft.actor.type === 'subject' ? {} : { actor: draft.actor }),
      evidence: draft.evidence,
    })
    const row = await store.insertEvent(trx, {
      id,
      org_id: ctx.orgId,
      subject_ref: key.ref,
      subject_key_id: key.keyId,
      purpose_id: purpose.id,
      action,
      lawful_basis: purpose.lawful_basis,
      notice_version: notice?.version ?? null,
      notice_sha256: notice?.sha256 ?? null,
      method: draft.method,
      collected_at: draft.collectedAt,
      received_at: receivedAt,
      actor_type: draft.actor.type,
      actor_id: draft.actor.type === 'subject' ? null : (draft.actor.id ?? null),
      recorded_by: by(ctx),
      app_event_id: draft.appEventId,
      fingerprint: draft.fingerprint,
      source_event_id: draft.sourceEventId,
      objection_id: objectionId ?? null,
      evidence_commitment: personal.commitment,
      gpc_conflict: draft.gpcConflict,
      expires_at: expiresAt,
    })
    if (row === undefined) return undefined
    const state: ConsentStateName =
      superseded !== undefined && live !== undefined
        ? live.state
        : action === 'object'
          ? purpose.direct_marketing
            ? 'objected'
            : 'objection_pending'
          : STATE_AFTER[action]
    if (superseded === undefined)
      await store.upsertState(trx, {
        org_id: ctx.orgId,
        subject_ref: key.ref,
        purpose_id: purpose.id,
        subject_key_id: key.keyId,
        state,
        lawful_basis: purpose.lawful_basis,
        event_id: id,
        // A grant's notice is what a later material change is measured against; other
        // actions keep no notice (they never make a check answer allowed on consent).
        notice_version: notice?.version ?? null,
        expires_at: expiresAt,
        updated_at: receivedAt,
      })
    if (action === 'object' && objectionId !== undefined)
      await store.insertObjection(trx, {
        id: objectionId,
        org_id: ctx.orgId,
        subject_ref: key.ref,
        subject_key_id: key.keyId,
        purpose_id: purpose.id,
        event_id: id,
        opened_at: receivedAt,
        due_at: oneMonthAfter(receivedAt),
        status: 'pending',
        decided_at: null,
        decided_by: null,
        grounds: null,
        decision_event_id: null,
      })
    await auditEvent(trx, ctx, action, purpose, id, {
      details: {
        state,
        method: draft.method,
        collectedAt: draft.collectedAt.toISOString(),
        actorType: draft.actor.type,
        ...(notice === undefined ? {} : { notice: { version: notice.version, sha256: notice.sha256 } }),
        ...(draft.appEventId === null ? {} : { appEventId: draft.appEventId }),
        ...(draft.sourceEventId === null ? {} : { gpcSignalOf: draft.sourceEventId }),
        ...(objectionId === undefined ? {} : { objection: objectionId }),
        ...(expiresAt === null ? {} : { expiresAt: expiresAt.toISOString() }),
        ...(draft.gpcConflict ? { gpcConflict: true } : {}),
        ...(superseded === undefined ? {} : { supersededBy: superseded }),
        ...(draft.erasureRequest === undefined ? {} : { erasureRequest: draft.erasureRequest }),
      },
      personal,
    })
    return { ...row, changesState: superseded === undefined && live?.state !== state }
  }

  /** The event deciding the state when it was collected after `collectedAt`, else undefined. */
  async function supersededBy(trx: Trx, decidingId: string, collectedAt: Date): Promise<string | undefined> {
    const deciding = await store.collectedAtOf(trx, decidingId)
    return deciding !== undefined && deciding.getTime() > collectedAt.getTime() ? decidingId : undefined
  }

  /** The earlier event of a retry, or CONSENT_EVENT_CONFLICT when its body differed. */
  async function earlier(trx: Trx, appEventId: string, fingerprint: Buffer): Promise<store.EventRow> {
    const row = await store.eventByAppId(trx, appEventId)
    if (row === undefined) throw new Error('a claimed consent event id has no event')
    const theirs = row.fingerprint
    if (theirs === null || theirs.length !== fingerprint.length || !timingSafeEqual(theirs, fingerprint))
      throw new AppError(
        'CONSENT_EVENT_CONFLICT',
        `the event id ${appEventId} was recorded before with another body; nothing was recorded`,
        { errors: [{ path: '/body/id', message: 'recorded before with another body' }] },
      )
    return row
  }

  function collectedAtOf(value: string | undefined, now: Date): Date {
    if (value === undefined) return now
    const at = new Date(value)
    if (at.getTime() > now.getTime() + FUTURE_SKEW_MS)
      throw invalid('/body/collectedAt', 'lies more than 5 minutes in the future')
    return at
  }

  function evidenceOf(input: { evidence?: RecordEventInput['evidence'] }, gpc: boolean): Record<string, unknown> {
    const evidence = input.evidence ?? {}
    if (evidence.ip !== undefined && isIP(evidence.ip) === 0)
      throw invalid('/body/evidence/ip', 'must be an IPv4 or IPv6 address')
    return { ...evidence, ...(gpc ? { secGpc: '1' } : {}) }
  }

  async function keysOf(trx: Trx, rows: readonly { purpose_id: string }[]): Promise<Map<string, string>> {
    return store.purposeKeysByIds(trx, [...new Set(rows.map((r) => r.purpose_id))])
  }

  async function grantedAgainstGpc(trx: Trx, eventId: string): Promise<boolean> {
    const row = await trx
      .selectFrom('consent_events')
      .select('gpc_conflict')
      .where('id', '=', eventId)
      .executeTakeFirst()
    return row?.gpc_conflict === true
  }

  /** The GPC signal's effect on each purpose that opts out, but `except` (the explicit event's own purpose). */
  async function applyGpc(
    trx: Trx,
    ctx: RequestContext,
    source: Pick<store.EventRow, 'collected_at' | 'subject_key_id'> & { id: string | null },
    subject: string,
    except: string,
    evidence: Record<string, unknown>,
  ): Promise<Written[]> {
    const written: Written[] = []
    for (const purpose of await store.gpcPurposes(trx)) {
      if (purpose.id === except) continue
      const ref = subjects.ref(ctx.orgId, subject)
      const current = await store.lockState(trx, ref, purpose.id)
      const state = current?.subject_key_id === source.subject_key_id ? current.state : undefined
      let action: ConsentAction
      if (CONSENT_BASES.includes(purpose.lawful_basis)) {
        if (state === 'denied' || state === 'withdrawn' || state === 'objected') continue
        // An explicit opt-in given against the signal (flagged gpcConflict) stands: the
        // signal it was given against does not take it back.
        if (state === 'granted' && current !== undefined && (await grantedAgainstGpc(trx, current.event_id))) continue
        action = state === 'granted' ? 'withdraw' : 'deny'
      } else {
        if (state === 'objected' || state === 'objection_pending') continue
        action = 'object'
      }
      const row = await write(trx, ctx, {
        appEventId: null,
        fingerprint: null,
        subject,
        purpose,
        action,
        method: 'gpc',
        noticeVersion: undefined,
        collectedAt: source.collected_at,
        actor: { type: 'subject' },
        evidence,
        sourceEventId: source.id,
        gpcConflict: false,
      })
      if (row !== undefined) written.push(row)
    }
    return written
  }

  return {
    async listPurposes(ctx, page) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const { items, nextCursor } = await readPage(trx, trx.selectFrom('consent_purposes').selectAll(), BY_KEY, page)
        return { items: items.map(purposeView), nextCursor }
      })
    },

    async getPurpose(ctx, key) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const row = await store.purposeByKey(trx, key)
        if (row === undefined) throw new AppError('NOT_FOUND', 'no such purpose')
        return purposeView(row)
      })
    },

    async createPurpose(ctx, input) {
      const directMarketing = input.directMarketing ?? false
      checkGpcEffect(input.lawfulBasis, input.gpcEffect, directMarketing)
      return withOrg(db, ctx.orgId, async (trx) => {
        await checkRecipients(trx, input.recipients)
        const now = clock()
        const row = await store.insertPurpose(trx, {
          id: randomUUID(),
          org_id: ctx.orgId,
          key: input.key,
          name: input.name,
          description: input.description ?? '',
          data_categories: input.dataCategories ?? [],
          recipients: input.recipients ?? [],
          lawful_basis: input.lawfulBasis,
          direct_marketing: directMarketing,
          gpc_effect: input.gpcEffect ?? 'none',
          lifetime_days: input.lifetimeDays ?? null,
          reconsent_grace_days: input.reconsentGraceDays ?? null,
          reconsent_from_version: null,
          created_at: now,
          created_by: by(ctx),
          updated_at: now,
        })
        if (row === undefined) throw new AppError('CONFLICT', `the purpose ${input.key} exists already`)
        await audit.append(trx, {
          orgId: ctx.orgId,
          actor: actorOf(ctx.principal),
          action: 'consent.purpose.create',
          target: { type: 'consent_purpose', id: row.key },
          outcome: 'success',
          details: { lawfulBasis: row.lawful_basis, gpcEffect: row.gpc_effect, directMarketing },
          meta: ctx.meta,
        })
        return purposeView(row)
      })
    },

    async updatePurpose(ctx, key, input) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const row = await store.purposeByKey(trx, key, true)
        if (row === undefined) throw new AppError('NOT_FOUND', 'no such purpose')
        if (input.lawfulBasis !== undefined && input.lawfulBasis !== row.lawful_basis)
          throw new AppError(
            'CONSENT_BASIS_MISMATCH',
            `the lawful basis of ${key} is ${row.lawful_basis} and cannot switch: declare a new purpose instead`,
          )
        const directMarketing = input.directMarketing ?? row.direct_marketing
        checkGpcEffect(row.lawful_basis, input.gpcEffect ?? row.gpc_effect, directMarketing)
        await checkRecipients(trx, input.recipients, row.recipients)
        const updated = await store.updatePurpose(trx, row.id, {
          ...(input.name === undefined ? {} : { name: input.name }),
          ...(input.description === undefined ? {} : { description: input.description }),
          ...(input.dataCategories === undefined ? {} : { data_categories: input.dataCategories }),
          ...(input.recipients === undefined ? {} : { recipients: input.recipients }),
          ...(input.directMarketing === undefined ? {} : { direct_marketing: input.directMarketing }),
          ...(input.gpcEffect === undefined ? {} : { gpc_effect: input.gpcEffect }),
          ...(input.lifetimeDays === undefined ? {} : { lifetime_days: input.lifetimeDays }),
          ...(input.reconsentGraceDays === undefined ? {} : { reconsent_grace_days: input.reconsentGraceDays }),
          updated_at: clock(),
        })
        await audit.append(trx, {
          orgId: ctx.orgId,
          actor: actorOf(ctx.principal),
          action: 'consent.purpose.update',
          target: { type: 'consent_purpose', id: key },
          outcome: 'success',
          details: { changed: Object.keys(input).filter((k) => k !== 'lawfulBasis') },
          meta: ctx.meta,
        })
        return purposeView(updated)
      })
    },

    async listNotices(ctx, page) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const { items, nextCursor } = await readPage(
          trx,
          trx
            .selectFrom('consent_notices')
            .select(['version', 'language', 'sha256', 'purposes', 'material_change', 'published_at']),
          BY_VERSION,
          page,
        )
        return {
          items: items.map((row) => ({
            version: row.version,
            language: row.language,
            sha256: row.sha256,
            purposes: row.purposes,
            materialChange: row.material_change,
            publishedAt: row.published_at.toISOString(),
          })),
          nextCursor,
        }
      })
    },

    async getNotice(ctx, version) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const row = await store.noticeByVersion(trx, version)
        if (row === undefined) throw new AppError('NOT_FOUND', 'no such notice version')
        return noticeView(row)
      })
    },

    async publishNotice(ctx, input) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const purposes = await store.purposesByKeys(trx, input.purposes)
        input.purposes.forEach((key, i) => {
          if (!purposes.some((p) => p.key === key)) throw invalid(`/body/purposes/${i}`, 'no such purpose in this org')
        })
        const version = (await store.newestNoticeVersion(trx)) + 1
        const row = await store.insertNotice(trx, {
          id: randomUUID(),
          org_id: ctx.orgId,
          version,
          language: input.language,
          text: input.text,
          sha256: createHash('sha256').update(input.text, 'utf8').digest('hex'),
          purposes: input.purposes,
          material_change: input.materialChange,
          published_at: clock(),
          published_by: by(ctx),
        })
        if (row === undefined)
          throw new AppError('CONFLICT', 'another notice version was published at the same time; retry')
        if (input.materialChange) await requireReconsent(trx, ctx.orgId, purposes, version, row.published_at)
        await audit.append(trx, {
          orgId: ctx.orgId,
          actor: actorOf(ctx.principal),
          action: 'consent.notice.publish',
          target: { type: 'consent_notice', id: String(version) },
          outcome: 'success',
          details: {
            version,
            language: row.language,
            sha256: row.sha256,
            purposes: row.purposes,
            materialChange: row.material_change,
          },
          meta: ctx.meta,
        })
        return noticeView(row)
      })
    },

    async record(ctx, input, options) {
      const now = clock()
      const collectedAt = collectedAtOf(input.collectedAt, now)
      const evidence = evidenceOf(input, options.gpc)
      if (input.action === 'grant' && input.noticeVersion === undefined)
        throw invalid('/body/noticeVersion', 'a grant names the notice version the subject was shown (Art. 7(1))')
      const fingerprint = fingerprintOf({ kind: 'record', input, gpc: options.gpc })
      return withOrg(db, ctx.orgId, async (trx) => {
        const answer = async (row: store.EventRow, status: 'recorded' | 'duplicate', gpcRows?: store.EventRow[]) => {
          const derived = gpcRows ?? (await store.eventsFrom(trx, row.id))
          const keys = await keysOf(trx, [row, ...derived])
          const keyOf = (r: store.EventRow) => keys.get(r.purpose_id) ?? ''
          return { status, event: eventView(row, keyOf(row)), gpcEvents: derived.map((r) => eventView(r, keyOf(r))) }
        }
        const before = await store.eventByAppId(trx, input.id)
        if (before !== undefined) return answer(await earlier(trx, input.id, fingerprint), 'duplicate')
        const purpose = await purposeOf(trx, input.purpose, '/body/purpose')
        checkApplies(purpose, input.action)
        const row = await write(trx, ctx, {
          appEventId: input.id,
          fingerprint,
          subject: input.subject,
          purpose,
          action: input.action,
          method: input.method,
          noticeVersion: input.noticeVersion,
          collectedAt,
          actor: input.actor ?? { type: 'subject' },
          evidence,
          sourceEventId: null,
          gpcConflict: options.gpc && input.action === 'grant' && purpose.gpc_effect === 'opt_out',
        })
        if (row === undefined) return answer(await earlier(trx, input.id, fingerprint), 'duplicate')
        const gpcRows = options.gpc ? await applyGpc(trx, ctx, row, input.subject, purpose.id, evidence) : []
        await tell(trx, ctx, [row, ...gpcRows])
        return answer(row, 'recorded', gpcRows)
      })
    },

    async withdraw(ctx, input) {
      const now = clock()
      const evidence = evidenceOf(input, false)
      const fingerprint = fingerprintOf({ kind: 'withdraw', input })
      return withOrg(db, ctx.orgId, async (trx) => {
        const purposes = await store.purposesByKeys(trx, input.purposes)
        const rows: store.EventRow[] = []
        const written: Written[] = []
        let duplicates = 0
        for (const [i, key] of input.purposes.entries()) {
          const purpose = purposes.find((p) => p.key === key)
          if (purpose === undefined) throw invalid(`/body/purposes/${i}`, 'no such purpose in this org')
          checkApplies(purpose, 'withdraw')
          // One host id for the request: each purpose's event takes `<id>/<purpose>`.
          const appEventId = input.id === undefined ? null : `${input.id}/${key}`
          const existing = appEventId === null ? undefined : await store.eventByAppId(trx, appEventId)
          if (appEventId !== null && existing !== undefined) {
            rows.push(await earlier(trx, appEventId, fingerprint))
            duplicates++
            continue
          }
          const row = await write(trx, ctx, {
            appEventId,
            fingerprint: appEventId === null ? null : fingerprint,
            subject: input.subject,
            purpose,
            action: 'withdraw',
            method: input.method ?? 'api',
            noticeVersion: undefined,
            collectedAt: now,
            actor: input.actor ?? { type: 'subject' },
            evidence,
            sourceEventId: null,
            gpcConflict: false,
          })
          if (row === undefined && appEventId !== null) {
            rows.push(await earlier(trx, appEventId, fingerprint))
            duplicates++
          } else if (row !== undefined) {
            rows.push(row)
            written.push(row)
          }
        }
        if (duplicates > 0 && duplicates < rows.length)
          throw new AppError(
            'CONSENT_EVENT_CONFLICT',
            `the withdrawal ${input.id ?? ''} was recorded before for other purposes; nothing was recorded`,
            { errors: [{ path: '/body/id', message: 'recorded before with another body' }] },
          )
        await tell(trx, ctx, written)
        const keys = await keysOf(trx, rows)
        return {
          status: duplicates > 0 ? 'duplicate' : 'recorded',
          events: rows.map((r) => eventView(r, keys.get(r.purpose_id) ?? '')),
        }
      })
    },

    async signalGpc(ctx, input) {
      const evidence = evidenceOf(input, true)
      return withOrg(db, ctx.orgId, async (trx) => {
        const key = await subjects.key(trx, ctx.orgId, input.subject, { create: true })
        if (key === undefined) throw new Error('a subject key was not created')
        const source = { id: null, collected_at: clock(), subject_key_id: key.keyId }
        const rows = await applyGpc(trx, ctx, source, input.subject, '', evidence)
        await tell(trx, ctx, rows)
        const keys = await keysOf(trx, rows)
        return rows.map((r) => eventView(r, keys.get(r.purpose_id) ?? ''))
      })
    },

    async check(ctx, items) {
      const refs = items.map((item) => subjects.ref(ctx.orgId, item.subject))
      // One statement for the batch: one snapshot whatever its size, sent with the
      // transaction's opening and COMMIT — one round trip.
      const statement = store.checkStatement(
        items.map((item, i) => ({ purposeKey: item.purpose, subjectRef: refs[i] as Buffer })),
      )
      const rows = statement.rows(await queryInOrg(db, ctx.orgId, () => statement.query))
      const now = clock()
      const decisions: DecisionT[] = []
      for (const [i, item] of items.entries()) {
        const subjectRef = refs[i] as Buffer
        const verdict = decide(rows[i], now)
        const token = decisionToken(deps.signer, {
          orgId: ctx.orgId,
          subjectRef,
          purpose: item.purpose,
          verdict,
          now,
          ttlSeconds: deps.tokenTtlSeconds,
        })
        decisions.push({
          purpose: item.purpose,
          allowed: verdict.allowed,
          basis: verdict.basis,
          reason: verdict.reason,
          eventId: verdict.eventId,
          noticeVersion: verdict.noticeVersion,
          expiresAt: verdict.expiresAt?.toISOString() ?? null,
          token: token.jws,
          tokenExpiresAt: token.expiresAt.toISOString(),
        })
      }
      return decisions
    },

    async listObjections(ctx, page) {
      return withOrg(db, ctx.orgId, async (trx) => {
        let pending = trx.selectFrom('consent_objections').selectAll().where('status', '=', 'pending')
        if (page.due === 'overdue') pending = pending.where('due_at', '<=', clock())
        const { items, nextCursor } =
          page.due === undefined
            ? await readPage(trx, trx.selectFrom('consent_objections').selectAll(), NEWEST_OBJECTION, page)
            : await readPage(trx, pending, SOONEST_DUE, page)
        const keys = await keysOf(trx, items)
        return { items: items.map((row) => objectionView(row, keys.get(row.purpose_id) ?? '')), nextCursor }
      })
    },

    listReconsent: (ctx, query) => listReconsent(db, clock, ctx, query),

    async decideObjection(ctx, id, input) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const objection = await store.objectionById(trx, id, true)
        if (objection === undefined) throw new AppError('NOT_FOUND', 'no such objection')
        if (objection.status !== 'pending')
          throw new AppError('CONFLICT', `this objection was ${objection.status} already`)
        const purposeKey = (await store.purposeKeysByIds(trx, [objection.purpose_id])).get(objection.purpose_id) ?? ''
        const purpose = await purposeOf(trx, purposeKey, '/params/objectionId')
        const now = clock()
        const action = input.decision === 'upheld' ? 'objection_upheld' : 'objection_rejected'
        const eventId = await decisionEvent(trx, ctx, objection, purpose, action, now, input.grounds)
        const decided = await store.decideObjection(trx, id, {
          status: input.decision,
          at: now,
          by: by(ctx),
          grounds: input.grounds,
          eventId,
        })
        if (action === 'objection_upheld')
          await tell(trx, ctx, [
            { action, objection_id: objection.id, purpose_id: purpose.id, subject_ref: objection.subject_ref },
          ])
        return objectionView(decided, purpose.key)
      })
    },

    async withdrawForErasure(trx, ctx, subjectId, requestId) {
      const key = await subjects.key(trx, ctx.orgId, subjectId, { create: false })
      if (key === undefined) return 0
      const granted = await trx
        .selectFrom('consent_state')
        .innerJoin('consent_purposes', 'consent_purposes.id', 'consent_state.purpose_id')
        .selectAll('consent_purposes')
        .where('consent_state.subject_ref', '=', key.ref)
        .where('consent_state.subject_key_id', '=', key.keyId)
        .where('consent_state.state', '=', 'granted')
        .orderBy('consent_purposes.key')
        .execute()
      // Every purpose the subject has a state for is told of the erasure (one message per
      // recipient), not only those whose grant it withdraws.
      const concerned = await trx
        .selectFrom('consent_state')
        .select(['purpose_id', 'subject_ref'])
        .where('subject_ref', '=', key.ref)
        .where('subject_key_id', '=', key.keyId)
        .execute()
      const now = clock()
      for (const purpose of granted)
        await write(trx, ctx, {
          appEventId: null,
          fingerprint: null,
          subject: subjectId,
          purpose,
          action: 'withdraw',
          method: 'staff',
          noticeVersion: undefined,
          collectedAt: now,
          actor: { type: 'system', id: 'privacy.erasure' },
          evidence: {},
          sourceEventId: null,
          gpcConflict: false,
          erasureRequest: requestId,
        })
      await tell(
        trx,
        ctx,
        concerned.map((c) => ({ ...c, action: 'withdraw' as const, objection_id: null })),
        { requestId },
      )
      return granted.length
    },

    async tellOfRequest(trx, ctx, subjectId, requestId, action) {
      const purposes = await trx.selectFrom('consent_purposes').select(['key', 'recipients']).orderBy('key').execute()
      return deps.propagation.propagate(trx, ctx.orgId, {
        subjectRef: subjects.ref(ctx.orgId, subjectId),
        purposes,
        action,
        requestId,
      })
    },
  }

  /**
   * The decision on an objection as a consent event of its own. The subject is known here
   * only by reference, so the event is written without personal fields; the grounds are
   * the controller's (no personal data) and go to the log in clear.
   */
  async function decisionEvent(
    trx: Trx,
    ctx: RequestContext,
    objection: store.ObjectionRow,
    purpose: store.PurposeRow,
    action: 'objection_upheld' | 'objection_rejected',
    now: Date,
    grounds: string,
  ): Promise<string> {
    const eventId = randomUUID()
    await store.insertEvent(trx, {
      id: eventId,
      org_id: ctx.orgId,
      subject_ref: objection.subject_ref,
      subject_key_id: objection.subject_key_id,
      purpose_id: purpose.id,
      action,
      lawful_basis: purpose.lawful_basis,
      notice_version: null,
      notice_sha256: null,
      method: 'staff',
      collected_at: now,
      received_at: now,
      actor_type: 'staff',
      actor_id: ctx.principal.id,
      recorded_by: by(ctx),
      app_event_id: null,
      fingerprint: null,
      source_event_id: null,
      objection_id: objection.id,
      evidence_commitment: null,
      gpc_conflict: false,
      expires_at: null,
    })
    const current = await store.lockState(trx, objection.subject_ref, purpose.id)
    // Only the objection's own pending state moves: a later event (a new grant, an erasure
    // and a new key) is not rewritten by a decision about an earlier one.
    if (current?.state === 'objection_pending' && current.subject_key_id === objection.subject_key_id)
      await store.upsertState(trx, {
        org_id: ctx.orgId,
        subject_ref: objection.subject_ref,
        purpose_id: purpose.id,
        subject_key_id: objection.subject_key_id,
        state: STATE_AFTER[action],
        lawful_basis: purpose.lawful_basis,
        event_id: eventId,
        notice_version: null,
        expires_at: null,
        updated_at: now,
      })
    await auditEvent(trx, ctx, action, purpose, eventId, {
      details: { objection: objection.id, objectionEvent: objection.event_id, grounds },
    })
    return eventId
  }
}
