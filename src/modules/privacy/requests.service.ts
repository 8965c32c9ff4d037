import { createHash, randomBytes, randomUUID } from 'node:crypto'
import type { Kysely, Selectable } from 'kysely'
import type { Clock } from '../../clock.ts'
import type { Signer } from '../../crypto/keys.ts'
import type { DB } from '../../db/schema.ts'
import { newestFirst, pageOf, toPage, type Page, type PageRequest, inIndexOrder } from '../../db/page.ts'
import { memberEmails } from '../../db/people.ts'
import { withOrg, withOwner, type Trx, orgsNotServed } from '../../db/tenant.ts'
import { AppError } from '../../errors.ts'
import { actorOf, type RequestContext } from '../../context.ts'
import type { AuditService } from '../audit/audit.service.ts'
import type { AuditReceipt } from '../audit/audit.receipt.ts'
import { enqueue, membersWithRoles } from '../notify/notify.service.ts'
import { issueErasureCertificate, type ErasureFacts } from './certificates.ts'
import type { ErasureCertificatesTable, RequestKind, RequestStatus } from './privacy.tables.ts'
import * as store from './privacy.store.ts'
import { translate, type RecordsService } from './records.service.ts'
import type { Subjects } from './subjects.ts'
import type { ConsentPort } from './consent-port.ts'
import type { WebhooksService } from '../notify/webhooks.service.ts'

/**
 * Data-subject requests (P7.1, P7.2): access, rectify, erase, restrict processing, lift a
 * restriction. Each is due a fixed time after receipt (72 hours unless the org says
 * otherwise), has an assignee, a recorded identity verification, and a history; nearly
 * due and overdue requests are notified. Completing one does what it asks:
 *
 * - access: an export of everything held about the subject (records and the personal
 *   fields of its audit events), sealed with the subject's key, downloadable by an
 *   authenticated caller until it expires; every download audited with who and where.
 * - rectify: corrections applied to the subject's records; the consent recipients told (Art. 19).
 * - erase: records deleted, personal audit fields deleted, exports and this and other
 *   requests' personal data erased, the subject key shredded; registered webhooks told;
 *   once they have confirmed or been given up, a signed certificate is issued.
 * - restrict / lift_restriction: reads of the subject's records refused / allowed again; the
 *   consent recipients told (Art. 19).
 */
export interface RequestView {
  id: string
  kind: RequestKind
  status: RequestStatus
  /** null once the subject was erased. */
  subjectId: string | null
  requester: Record<string, unknown> | null
  receivedAt: string
  dueAt: string
  overdue: boolean
  assignee: string | null
  verification: Record<string, unknown> | null
  result: Record<string, unknown> | null
  completedAt: string | null
  history?: { at: string; actor: string; event: string; details: Record<string, unknown> }[]
  /** With the history: the emails of the org's members it names (assignee, verifier, history), by user id. */
  people?: Record<string, string>
}

export interface NewRequest {
  kind: RequestKind
  subjectId: string
  requester?: { name?: string | undefined; email?: string | undefined; channel?: string | undefined } | undefined
  verification?: { method: string; note?: string | undefined } | undefined
}

/** An erasure certificate as listed: the JWS and the audit event it names (null before receipts). */
export interface ErasureCertificateSummary {
  id: string
  requestId: string
  issuedAt: string
  jws: string
  auditEvent: { org: string; id: string } | null
}

function certificateSummary(row: Selectable<ErasureCertificatesTable>): ErasureCertificateSummary {
  return {
    id: row.id,
    requestId: row.request_id,
    issuedAt: row.issued_at.toISOString(),
    jws: row.jws,
    auditEvent: row.audit_event_id === null ? null : { org: row.org_id, id: row.audit_event_id },
  }
}

export interface RequestsService {
  create(ctx: RequestContext, input: NewRequest): Promise<RequestView>
  /** Newest first, a page at a time; with `status`, only the requests of that status. */
  list(ctx: RequestContext, page: PageRequest, status?: RequestStatus): Promise<Page<RequestView>>
  get(ctx: RequestContext, id: string): Promise<RequestView>
  assign(ctx: RequestContext, id: string, userId: string): Promise<RequestView>
  verify(ctx: RequestContext, id: string, input: { method: string; note?: string | undefined }): Promise<RequestView>
  complete(
    ctx: RequestContext,
    id: string,
    input: { corrections?: { recordId: string; payload: unknown }[] | undefined },
  ): Promise<RequestView & { subjectSalt?: string; exportId?: string }>
  reject(ctx: RequestContext, id: string, reason: string): Promise<RequestView>
  download(ctx: RequestContext, exportId: string): Promise<{ filename: string; body: string }>
  policy(ctx: RequestContext): Promise<{ responseHours: number; exportHours: number }>
  setPolicy(
    ctx: RequestContext,
    policy: { responseHours: number; exportHours: number },
  ): Promise<{ responseHours: number; exportHours: number }>
  certificates(ctx: RequestContext, page: PageRequest): Promise<Page<ErasureCertificateSummary>>
  /**
   * One certificate with the receipt of the audit event it names (issue 21): null while no
   * signed checkpoint covers that event yet, and for certificates issued before receipts.
   * 404 (NOT_FOUND) for an id not of this org.
   */
  certificate(ctx: RequestContext, id: string): Promise<ErasureCertificateSummary & { receipt: AuditReceipt | null }>
  /** Issues an erasure's certificate once all its webhook deliveries are settled and its ring key retired. */
  settleErasure(orgId: string, requestId: string): Promise<void>
  /** The same for every erasure still waiting (after the shred ring retired keys). */
  settlePendingErasures(): Promise<void>
  /** The job: notifies nearly-due and overdue requests, erases expired exports. */
  watchDeadlines(): Promise<{ dueSoon: number; overdue: number; expiredExports: number }>
}

const REQUEST_PURPOSE = 'privacy-request'
const EXPORT_PURPOSE = 'privacy-export'
const HOUR_MS = 3_600_000
const DUE_SOON_MS = 12 * HOUR_MS

interface SealedRequest {
  subjectId: string
  requester: Record<string, unknown> | null
  /** Free text about how the identity was checked may name documents: sealed too. */
  verificationNote?: string | undefined
}

export function createRequestsService(deps: {
  db: Kysely<DB>
  subjects: Subjects
  records: Pick<RecordsService, 'allOf' | 'rectifyIn'>
  audit: Pick<AuditService, 'append' | 'personalOf' | 'erasePersonal' | 'receiptOrNull'>
  webhooks: Pick<WebhooksService, 'enqueue'>
  signer: Signer
  clock: Clock
  /** Consent (reached lazily: the consent module is created after this one). */
  consent: () => ConsentPort
}): RequestsService {
  const { db, subjects, records, audit, clock } = deps
  const by = (ctx: RequestContext) => `${ctx.principal.kind}:${ctx.principal.id}`
  const NO_REQUEST = { requestId: null, ip: null, userAgent: null }

  async function history(
    trx: Trx,
    row: store.RequestRow,
    actor: string,
    event: string,
    details: Record<string, unknown> = {},
  ): Promise<void> {
    await store.addRequestEvent(trx, {
      id: randomUUID(),
      request_id: row.id,
      org_id: row.org_id,
      at: clock(),
      actor,
      event,
      details: JSON.stringify(details),
    })
  }

  async function record(
    trx: Trx,
    ctx: RequestContext,
    action: string,
    row: store.RequestRow,
    details: Record<string, unknown> = {},
  ): Promise<void> {
    await audit.append(trx, {
      orgId: row.org_id,
      actor: actorOf(ctx.principal),
      action,
      target: { type: 'privacy_request', id: row.id },
      outcome: 'success',
      details: { kind: row.kind, ...details },
      meta: ctx.meta,
    })
    await history(trx, row, by(ctx), action.replace('privacy.request.', ''), details)
  }

  async function opened(trx: Trx, row: store.RequestRow): Promise<SealedRequest | null> {
    if (row.sealed === null) return null
    const key = await subjects.keyByRef(trx, row.org_id, Buffer.from(row.subject_ref))
    return key === undefined ? null : subjects.open<SealedRequest>(key, row.org_id, REQUEST_PURPOSE, row.id, row.sealed)
  }

  async function view(trx: Trx, row: store.RequestRow, withHistory = false): Promise<RequestView> {
    const personal = await opened(trx, row)
    return {
      id: row.id,
      kind: row.kind,
      status: row.status,
      subjectId: personal?.subjectId ?? null,
      requester: personal?.requester ?? null,
      receivedAt: row.received_at.toISOString(),
      dueAt: row.due_at.toISOString(),
      overdue: (row.status === 'open' || row.status === 'in_progress') && clock().getTime() >= row.due_at.getTime(),
      assignee: row.assignee_user_id,
      verification:
        row.verification === null
          ? null
          : {
              ...row.verification,
              ...(personal?.verificationNote === undefined ? {} : { note: personal.verificationNote }),
            },
      result: row.result,
      completedAt: row.completed_at?.toISOString() ?? null,
      ...(withHistory ? await withPeople(trx, row) : {}),
    }
  }

  /** A request's history, and the emails of the members it and the request name. */
  async function withPeople(
    trx: Trx,
    row: store.RequestRow,
  ): Promise<Pick<Required<RequestView>, 'history' | 'people'>> {
    const history = (await store.requestEvents(trx, row.id)).map((e) => ({
      at: e.at.toISOString(),
      actor: e.actor,
      event: e.event,
      details: e.details,
    }))
    const verifiedBy = row.verification?.verifiedBy
    return {
      history,
      people: await memberEmails(trx, row.org_id, [
        row.assignee_user_id,
        typeof verifiedBy === 'string' ? verifiedBy : undefined,
        ...history.map((e) => e.actor),
      ]),
    }
  }

  async function openRequest(trx: Trx, id: string): Promise<store.RequestRow> {
    const row = await store.findRequest(trx, id, true)
    if (row === undefined) throw new AppError('NOT_FOUND', 'no such privacy request')
    if (row.status === 'completed' || row.status === 'rejected')
      throw new AppError('CONFLICT', `this request is ${row.status}`)
    return row
  }

  /** Erasure in the request's transaction; the certificate waits for the webhooks. */
  async function erase(
    trx: Trx,
    ctx: RequestContext,
    row: store.RequestRow,
    subjectId: string,
  ): Promise<{ salt: string; webhooks: number }> {
    const ref = subjects.ref(row.org_id, subjectId)
    // Erasure withdraws every consent still granted (Art. 17(1)(b)), while the key exists:
    // the withdrawals' evidence is erased with the rest of the personal fields below.
    const consentWithdrawn = await deps.consent().withdrawForErasure(trx, ctx, subjectId, row.id)
    const erasedAt = clock()
    const salt = randomBytes(16)
    const facts = {
      records: await store.deleteRecordsOf(trx, ref),
      auditPersonalFields: await audit.erasePersonal(trx, ref),
      exports: await store.eraseExportsOf(trx, ref),
      subjectCommitment: `sha256:${createHash('sha256').update(salt).update(subjectId, 'utf8').digest('hex')}`,
      erasedAt: erasedAt.toISOString(),
    }
    const webhooks = await deps.webhooks.enqueue(
      trx,
      row.org_id,
      'erasure.requested',
      { request: row.id, subjectId, erasedAt: erasedAt.toISOString() },
      row.id,
    )
    // The subject's other requests lose their personal data too (this one's included).
    await store.erasePersonalOfRequests(trx, ref)
    // The key is shredded now; the shred ring retires the key that sealed it in earlier
    // copies of the database, and the certificate waits for that.
    const ring = (await subjects.shred(trx, row.org_id, subjectId)) ?? null
    await store.updateRequest(trx, row.id, {
      status: 'in_progress',
      result: JSON.stringify({ ...facts, webhooks, ring }),
    })
    await record(trx, ctx, 'privacy.request.erase', row, {
      records: facts.records,
      auditPersonalFields: facts.auditPersonalFields,
      consentWithdrawn,
      webhooks,
    })
    await certify(trx, row.org_id, row.id)
    return { salt: salt.toString('base64url'), webhooks }
  }

  /** Issues the certificate if every webhook delivery of the erasure is settled. */
  async function certify(trx: Trx, orgId: string, requestId: string): Promise<void> {
    const row = await store.findRequest(trx, requestId, true)
    if (row === undefined || row.status !== 'in_progress' || row.kind !== 'erase' || row.result === null) return
    const deliveries = await trx
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('request_id', '=', requestId)
      .execute()
    if (deliveries.some((d) => d.status === 'pending')) return
    const ring = (row.result as { ring?: { bucket: number; epoch: number } | null }).ring ?? null
    let backupsUnreadableSince: string | null = null
    if (ring !== null) {
      const epoch = await trx
        .selectFrom('shred_ring_epochs')
        .select(['state', 'retired_at'])
        .where('bucket', '=', ring.bucket)
        .where('epoch', '=', ring.epoch)
        .executeTakeFirst()
      if (epoch?.state !== 'retired' || epoch.retired_at === null) return
      backupsUnreadableSince = epoch.retired_at.toISOString()
    }
    const result = { ...(row.result as Omit<ErasureFacts, 'org' | 'request' | 'webhooks'>), backupsUnreadableSince }
    const now = clock()
    // The event that records the issuance is named in the certificate, so its id comes first.
    const auditEvent = { org: orgId, id: randomUUID() }
    const certificate = await issueErasureCertificate(
      trx,
      deps.signer,
      {
        ...result,
        org: orgId,
        request: requestId,
        auditEvent,
        webhooks: deliveries
          .filter((d) => d.event !== 'consent.propagation')
          .map((d) => ({
            name: d.webhook_name,
            destination: d.destination,
            status: d.status === 'delivered' ? 'confirmed' : 'failed',
            attempts: d.attempts,
            confirmedAt: d.delivered_at?.toISOString() ?? null,
          })),
        // The consent recipients told of the erasure (Art. 19): their messages are deliveries too.
        recipients: deliveries
          .filter((d) => d.event === 'consent.propagation')
          .map((d) => ({
            name: d.webhook_name,
            status: d.status === 'delivered' ? 'told' : 'failed',
            attempts: d.attempts,
            toldAt: d.delivered_at?.toISOString() ?? null,
          })),
      },
      now,
    )
    await store.updateRequest(trx, requestId, {
      status: 'completed',
      completed_at: now,
      result: JSON.stringify({ ...row.result, certificate: certificate.id }),
    })
    await audit.append(trx, {
      orgId,
      actor: { type: 'system', id: 'privacy' },
      action: 'privacy.erasure.certificate',
      target: { type: 'erasure_certificate', id: certificate.id },
      eventId: auditEvent.id,
      outcome: 'success',
      details: {
        request: requestId,
        webhooksConfirmed: deliveries.filter((d) => d.status === 'delivered').length,
        webhooksFailed: deliveries.filter((d) => d.status === 'failed').length,
      },
      meta: NO_REQUEST,
    })
    await history(trx, row, 'system:privacy', 'certificate', { certificate: certificate.id })
  }

  async function accessExport(
    trx: Trx,
    ctx: RequestContext,
    row: store.RequestRow,
    subjectId: string,
  ): Promise<string> {
    const key = await subjects.key(trx, row.org_id, subjectId, { create: true })
    if (key === undefined) throw new Error('subject key missing')
    const events = (await audit.personalOf(trx, key.ref)).map((e) => ({
      eventId: e.eventId,
      time: e.time,
      action: e.action,
      personal: subjects.openPersonal(key, row.org_id, e.eventId, e.sealed).fields,
    }))
    // The consent history: each consent event is an audit event with the same id, so its
    // evidence is that event's opened personal fields.
    const consent = await deps.consent().historyOf(trx, row.org_id, key.ref)
    const personalOf = new Map(events.map((e) => [e.eventId, e.personal]))
    const id = randomUUID()
    const now = clock()
    const content = {
      format: 'custodian-subject-export/1',
      org: row.org_id,
      request: row.id,
      subjectId,
      generatedAt: now.toISOString(),
      records: await records.allOf(trx, row.org_id, subjectId),
      auditEvents: events,
      consent: {
        events: consent.events.map((e) => ({ ...e, evidence: personalOf.get(e.eventId)?.evidence ?? null })),
        receipts: consent.receipts,
      },
    }
    const policy = await store.privacyPolicyOf(trx, row.org_id)
    await trx
      .insertInto('privacy_exports')
      .values({
        id,
        org_id: row.org_id,
        request_id: row.id,
        subject_ref: key.ref,
        sealed: subjects.seal(key, row.org_id, EXPORT_PURPOSE, id, content),
        created_at: now,
        expires_at: new Date(now.getTime() + policy.export_hours * HOUR_MS),
      })
      .execute()
    await record(trx, ctx, 'privacy.request.export', row, {
      export: id,
      records: content.records.length,
      auditEvents: events.length,
      consentEvents: consent.events.length,
    })
    return id
  }

  return {
    async create(ctx, input) {
      return translated(() =>
        withOrg(db, ctx.orgId, async (trx) => {
          const policy = await store.privacyPolicyOf(trx, ctx.orgId)
          const key = (await subjects.key(trx, ctx.orgId, input.subjectId, { create: true })) as NonNullable<
            Awaited<ReturnType<Subjects['key']>>
          >
          const id = randomUUID()
          const now = clock()
          const sealed: SealedRequest = {
            subjectId: input.subjectId,
            requester: input.requester === undefined ? null : { ...input.requester },
            verificationNote: input.verification?.note,
          }
          const verification =
            input.verification === undefined
              ? null
              : { method: input.verification.method, verifiedBy: by(ctx), verifiedAt: now.toISOString() }
          const row = await store.insertRequest(trx, {
            id,
            org_id: ctx.orgId,
            kind: input.kind,
            subject_ref: key.ref,
            sealed: subjects.seal(key, ctx.orgId, REQUEST_PURPOSE, id, sealed),
            status: 'open',
            received_at: now,
            due_at: new Date(now.getTime() + policy.response_hours * HOUR_MS),
            assignee_user_id: null,
            verification: verification === null ? null : JSON.stringify(verification),
            result: null,
            completed_at: null,
            due_soon_notified_at: null,
            overdue_notified_at: null,
          })
          await audit.append(trx, {
            orgId: ctx.orgId,
            actor: actorOf(ctx.principal),
            action: 'privacy.request.receive',
            target: { type: 'privacy_request', id },
            outcome: 'success',
            details: { kind: input.kind, dueAt: row.due_at.toISOString(), verified: verification !== null },
            personal: await subjects.personal(trx, ctx.orgId, input.subjectId, {
              subject: input.subjectId,
              requester: sealed.requester,
            }),
            meta: ctx.meta,
          })
          await history(trx, row, by(ctx), 'received', { kind: input.kind, dueAt: row.due_at.toISOString() })
          if (verification !== null)
            await history(trx, row, by(ctx), 'verified', { method: input.verification?.method })
          return view(trx, row)
        }),
      )
    },

    async list(ctx, page, status) {
      return translated(() =>
        withOrg(db, ctx.orgId, async (trx) => {
          const { items, nextCursor } = await store.listRequests(trx, page, status)
          return { items: await Promise.all(items.map((row) => view(trx, row))), nextCursor }
        }),
      )
    },

    async get(ctx, id) {
      return translated(() =>
        withOrg(db, ctx.orgId, async (trx) => {
          const row = await store.findRequest(trx, id)
          if (row === undefined) throw new AppError('NOT_FOUND', 'no such privacy request')
          return view(trx, row, true)
        }),
      )
    },

    async assign(ctx, id, userId) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const row = await openRequest(trx, id)
        if (
          (await trx.selectFrom('memberships').select('user_id').where('user_id', '=', userId).executeTakeFirst()) ===
          undefined
        ) {
          throw new AppError('VALIDATION_FAILED', 'the assignee must be a member of the org', {
            errors: [{ path: '/body/userId', message: 'not a member' }],
          })
        }
        const updated = await store.updateRequest(trx, id, { assignee_user_id: userId })
        await record(trx, ctx, 'privacy.request.assign', row, { assignee: userId })
        return view(trx, updated)
      })
    },

    async verify(ctx, id, input) {
      return translated(() =>
        withOrg(db, ctx.orgId, async (trx) => {
          const row = await openRequest(trx, id)
          const verification = { method: input.method, verifiedBy: by(ctx), verifiedAt: clock().toISOString() }
          const personal = await opened(trx, row)
          const key = await subjects.keyByRef(trx, row.org_id, Buffer.from(row.subject_ref))
          const resealed =
            personal === null || key === undefined
              ? {}
              : {
                  sealed: subjects.seal(key, row.org_id, REQUEST_PURPOSE, row.id, {
                    ...personal,
                    verificationNote: input.note,
                  }),
                }
          const updated = await store.updateRequest(trx, id, {
            verification: JSON.stringify(verification),
            ...resealed,
          })
          await record(trx, ctx, 'privacy.request.verify', row, { method: input.method })
          return view(trx, updated)
        }),
      )
    },

    async complete(ctx, id, input) {
      return translated(() =>
        withOrg(db, ctx.orgId, async (trx) => {
          const row = await openRequest(trx, id)
          if (row.status === 'in_progress')
            throw new AppError('CONFLICT', 'this request is being completed (an erasure waits for its webhooks)')
          if (row.verification === null)
            throw new AppError(
              'VERIFICATION_REQUIRED',
              'record how the requester’s identity was verified first (POST …/verify)',
            )
          const personal = await opened(trx, row)
          const now = clock()
          const done = (result: Record<string, unknown>) =>
            store.updateRequest(trx, id, { status: 'completed', completed_at: now, result: JSON.stringify(result) })
          if (personal === null) {
            // The subject was erased by another request, and this one's copy of its id with it.
            const by = await store.erasureOfSubject(trx, Buffer.from(row.subject_ref), row.id)
            if (by === undefined) throw new AppError('CONFLICT', 'this request’s subject was erased already')
            // New data of the subject since (a live key again): this request cannot act on it
            // without the subject's id, which went with the erasure; it is never "done" by
            // naming an erasure that no longer covers everything.
            if ((await subjects.keyByRef(trx, row.org_id, Buffer.from(row.subject_ref))) !== undefined)
              throw new AppError(
                'CONFLICT',
                `this request’s subject has new data since its erasure (erase request ${by.id}), and this request’s copy of the subject id went with that erasure: record a new request with the subject’s id, and reject this one saying so`,
              )
            if (row.kind !== 'erase')
              throw new AppError(
                'CONFLICT',
                `this request’s subject was erased (erase request ${by.id}): nothing of it is left; reject this request with that reason`,
              )
            if (by.status === 'in_progress')
              throw new AppError(
                'CONFLICT',
                `this subject’s erasure (erase request ${by.id}) waits for its certificate: complete this one once it is issued`,
              )
            // Art. 17 is met already: completed by naming the erasure that did it and its certificate.
            const certificate = (by.result as { certificate?: unknown } | null)?.certificate
            const result = {
              alreadyErased: true,
              erasedBy: by.id,
              certificate: typeof certificate === 'string' ? certificate : null,
            }
            await record(trx, ctx, 'privacy.request.erase', row, result)
            return view(trx, await done(result))
          }
          if (row.kind === 'erase') {
            const erased = await erase(trx, ctx, row, personal.subjectId)
            const after = (await store.findRequest(trx, id)) as store.RequestRow
            return { ...(await view(trx, after)), subjectSalt: erased.salt }
          }
          if (row.kind === 'access') {
            const exportId = await accessExport(trx, ctx, row, personal.subjectId)
            return { ...(await view(trx, await done({ export: exportId }))), exportId }
          }
          if (row.kind === 'rectify') {
            const corrections = input.corrections ?? []
            if (corrections.length === 0)
              throw new AppError('VALIDATION_FAILED', 'a rectification needs its corrections', {
                errors: [{ path: '/body/corrections', message: 'at least one' }],
              })
            for (const [i, c] of corrections.entries()) {
              if (!(await records.rectifyIn(trx, ctx, personal.subjectId, c.recordId, c.payload))) {
                throw new AppError('VALIDATION_FAILED', 'a correction names a record that is not this subject’s', {
                  errors: [{ path: `/body/corrections/${i}/recordId`, message: 'no such record of this subject' }],
                })
              }
            }
            const recipients = await deps.consent().tellOfRequest(trx, ctx, personal.subjectId, row.id, 'rectify')
            await record(trx, ctx, 'privacy.request.rectify', row, { records: corrections.length, recipients })
            return view(trx, await done({ rectified: corrections.map((c) => c.recordId) }))
          }
          const restrict = row.kind === 'restrict'
          await subjects.setRestricted(trx, row.org_id, personal.subjectId, restrict)
          const recipients = await deps.consent().tellOfRequest(trx, ctx, personal.subjectId, row.id, row.kind)
          await record(trx, ctx, restrict ? 'privacy.request.restrict' : 'privacy.request.lift_restriction', row, {
            recipients,
          })
          return view(trx, await done({ restricted: restrict }))
        }),
      )
    },

    async reject(ctx, id, reason) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const row = await openRequest(trx, id)
        if (row.status === 'in_progress') throw new AppError('CONFLICT', 'an erasure under way cannot be rejected')
        const updated = await store.updateRequest(trx, id, {
          status: 'rejected',
          completed_at: clock(),
          result: JSON.stringify({ reason }),
        })
        await record(trx, ctx, 'privacy.request.reject', row, { reason })
        return translated(() => view(trx, updated))
      })
    },

    async download(ctx, exportId) {
      const outcome = await translated(() =>
        withOrg(db, ctx.orgId, async (trx) => {
          const row = await trx
            .selectFrom('privacy_exports')
            .selectAll()
            .where('id', '=', exportId)
            .forUpdate()
            .executeTakeFirst()
          if (row === undefined) throw new AppError('NOT_FOUND', 'no such export')
          const key = await subjects.keyByRef(trx, ctx.orgId, Buffer.from(row.subject_ref))
          if (row.sealed === null || key === undefined || clock().getTime() >= row.expires_at.getTime()) {
            // Expired: its content is erased now (committed), and the caller is told.
            await trx.updateTable('privacy_exports').set({ sealed: null }).where('id', '=', exportId).execute()
            return undefined
          }
          const content = subjects.open<Record<string, unknown>>(key, ctx.orgId, EXPORT_PURPOSE, exportId, row.sealed)
          await trx
            .updateTable('privacy_exports')
            .set((eb) => ({ downloads: eb('downloads', '+', 1) }))
            .where('id', '=', exportId)
            .execute()
          // P7.5, P7.6: every egress is audited with where it went.
          await audit.append(trx, {
            orgId: ctx.orgId,
            actor: actorOf(ctx.principal),
            action: 'privacy.export.download',
            target: { type: 'privacy_export', id: exportId },
            outcome: 'success',
            details: { request: row.request_id, destination: { ip: ctx.meta.ip, userAgent: ctx.meta.userAgent } },
            meta: ctx.meta,
          })
          return { filename: `subject-export-${exportId}.json`, body: JSON.stringify(content, null, 2) }
        }),
      )
      if (outcome === undefined)
        throw new AppError(
          'EXPORT_EXPIRED',
          'this export has expired (or its subject was erased); complete a new access request',
        )
      return outcome
    },

    async policy(ctx) {
      const row = await withOrg(db, ctx.orgId, (trx) => store.privacyPolicyOf(trx, ctx.orgId))
      return { responseHours: row.response_hours, exportHours: row.export_hours }
    },

    async setPolicy(ctx, policy) {
      return withOrg(db, ctx.orgId, async (trx) => {
        await store.savePrivacyPolicy(trx, {
          org_id: ctx.orgId,
          response_hours: policy.responseHours,
          export_hours: policy.exportHours,
          updated_by: by(ctx),
        })
        await audit.append(trx, {
          orgId: ctx.orgId,
          actor: actorOf(ctx.principal),
          action: 'org.privacy_policy.update',
          target: { type: 'org', id: ctx.orgId },
          outcome: 'success',
          details: { ...policy },
          meta: ctx.meta,
        })
        return policy
      })
    },

    async certificates(ctx, page) {
      const order = newestFirst('issued_at')
      const rows = await withOrg(db, ctx.orgId, (trx) =>
        inIndexOrder(trx, () => pageOf(trx.selectFrom('erasure_certificates').selectAll(), order, page).execute()),
      )
      const { items, nextCursor } = toPage(rows, order, page.limit)
      return { items: items.map((r) => certificateSummary(r)), nextCursor }
    },

    async certificate(ctx, id) {
      const row = await withOrg(db, ctx.orgId, (trx) =>
        trx.selectFrom('erasure_certificates').selectAll().where('id', '=', id).executeTakeFirst(),
      )
      if (row === undefined) throw new AppError('NOT_FOUND', 'no such erasure certificate in this org')
      const summary = certificateSummary(row)
      const receipt = summary.auditEvent === null ? null : await audit.receiptOrNull(row.org_id, summary.auditEvent.id)
      return { ...summary, receipt }
    },

    async settleErasure(orgId, requestId) {
      await withOrg(db, orgId, (trx) => certify(trx, orgId, requestId))
    },

    async settlePendingErasures() {
      // Waiting erasures span orgs: owner connection to find them; each is certified in its org.
      const refused = orgsNotServed(db)
      const waiting = await withOwner(db, (trx) =>
        trx
          .selectFrom('privacy_requests')
          .select(['id', 'org_id'])
          .where('kind', '=', 'erase')
          .$if(refused.length > 0, (q) => q.where('org_id', 'not in', refused))
          .where('status', '=', 'in_progress')
          .limit(500)
          .execute(),
      )
      for (const { id, org_id: orgId } of waiting) await withOrg(db, orgId, (trx) => certify(trx, orgId, id))
    },

    async watchDeadlines() {
      const now = clock()
      let dueSoon = 0
      let overdue = 0
      // Looking across orgs: owner connection; each notice is written in its org.
      const open = await withOwner(db, (trx) =>
        store.requestsNearDue(trx, new Date(now.getTime() + DUE_SOON_MS), orgsNotServed(db)),
      )
      for (const due of open) {
        await withOrg(db, due.org_id, async (trx) => {
          const row = await store.findRequest(trx, due.id, true)
          if (row === undefined || (row.status !== 'open' && row.status !== 'in_progress')) return
          const isOverdue = now.getTime() >= row.due_at.getTime()
          if (
            isOverdue &&
            (row.overdue_notified_at === null || now.getTime() - row.overdue_notified_at.getTime() >= 24 * HOUR_MS)
          ) {
            await store.updateRequest(trx, row.id, { overdue_notified_at: now })
            await notifyDeadline(trx, row, 'overdue')
            overdue++
          } else if (!isOverdue && row.due_soon_notified_at === null) {
            await store.updateRequest(trx, row.id, { due_soon_notified_at: now })
            await notifyDeadline(trx, row, 'due_soon')
            dueSoon++
          }
        })
      }
      const expiredExports = await store.eraseExpiredExports(db, now)
      return { dueSoon, overdue, expiredExports }
    },
  }

  async function notifyDeadline(trx: Trx, row: store.RequestRow, which: 'due_soon' | 'overdue'): Promise<void> {
    const recipients =
      row.assignee_user_id !== null
        ? [row.assignee_user_id, ...(which === 'overdue' ? await membersWithRoles(trx, ['owner', 'admin']) : [])]
        : await membersWithRoles(trx, ['owner', 'admin'])
    await enqueue(trx, recipients, {
      orgId: row.org_id,
      kind: `privacy_request.${which}`,
      subject: which === 'overdue' ? 'A privacy request is overdue' : 'A privacy request is due soon',
      body: `A ${row.kind} request received ${row.received_at.toISOString()} is due ${row.due_at.toISOString()}.`,
      data: { requestId: row.id },
    })
    await audit.append(trx, {
      orgId: row.org_id,
      actor: { type: 'system', id: 'privacy' },
      action: `privacy.request.${which}`,
      target: { type: 'privacy_request', id: row.id },
      outcome: 'success',
      details: { kind: row.kind, dueAt: row.due_at.toISOString() },
      meta: NO_REQUEST,
    })
    await history(trx, row, 'system:privacy', which)
  }
}

async function translated<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run()
  } catch (error) {
    throw translate(error)
  }
}
