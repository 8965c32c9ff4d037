import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Kysely } from 'kysely'
import type { Clock } from '../../clock.ts'
import type { RequestContext } from '../../context.ts'
import { ed25519KeyId, type Signer } from '../../crypto/keys.ts'
import { signJws, verifyJws } from '../../crypto/jws.ts'
import { LibraryUnavailable } from '../../on-first-use.ts'
import type { DB } from '../../db/schema.ts'
import { withOrg, type Trx } from '../../db/tenant.ts'
import { AppError } from '../../errors.ts'
import { ctxOf } from '../../http/route-helpers.ts'
import { errorResponses, Strict, Uuid } from '../../http/schemas.ts'
import { AuditReceiptSchema } from '../audit/audit.schemas.ts'
import type { AuditService } from '../audit/audit.service.ts'
import { canonicalJson } from '../audit/audit.format.ts'
import { verifyReceipt, type AuditReceipt } from '../audit/audit.receipt.ts'
import * as store from './consent.store.ts'

/**
 * Consent receipts (issue 22; docs/consent.md#receipts): for each consent event, a signed
 * statement of what was decided — fields after the Kantara Initiative Consent Receipt
 * Specification v1.1 and ISO/IEC TS 27560:2023 — together with the receipt of the same
 * event in the org's audit log (its RFC 9162 inclusion proof and the signed checkpoint).
 *
 * The statement is a compact JWS (RFC 7515, EdDSA over Ed25519, RFC 8037) signed by the key
 * published at `GET /v1/audit/keys`, the one that signs checkpoints, certificates and
 * decision tokens. The subject is named only by the privacy module's keyed reference.
 * Everything is verifiable offline ({@link verifyConsentReceipt},
 * `custodian consent verify-receipt`).
 */

/** The `typ` of a consent receipt's protected header. */
export const CONSENT_RECEIPT_TYPE = 'custodian-consent-receipt+jws'
/** The version of the Kantara Consent Receipt Specification whose fields the payload follows. */
export const KANTARA_VERSION = 'KI-CR-v1.1.0'
/**
 * Every lawful basis a purpose declares is one of GDPR Art. 6(1) (and 9(2)(a)): the
 * receipts name that framework's jurisdiction.
 */
export const RECEIPT_JURISDICTION = 'EU'

/** The JWS payload of a consent receipt (docs/consent.md#receipt-fields). */
export interface ConsentReceiptPayload {
  v: 1
  type: 'consent-receipt'
  /** Kantara `version`. */
  version: typeof KANTARA_VERSION
  /** Kantara `jurisdiction`; the legal framework of the lawful bases. */
  jurisdiction: string
  legalFramework: 'GDPR'
  /** Kantara `consentReceiptID`: one receipt per consent event, so the event's id. */
  consentReceiptID: string
  /** Kantara `consentTimestamp`: when the act was collected, seconds since the epoch. */
  consentTimestamp: number
  /** ISO/IEC TS 27560 event time, to the millisecond (the same instant). */
  collectedAt: string
  /** When Custodian received the event. */
  receivedAt: string
  /** Kantara `collectionMethod`: form, button, api, gpc, double_opt_in, import, staff. */
  collectionMethod: string
  /** The notice's BCP 47 language, if the event names a notice. */
  language: string | null
  /** Kantara `piiPrincipalId`: the subject's keyed reference (base64url), never its id. */
  piiPrincipalId: string
  /** Kantara `piiControllers`: the org. */
  piiControllers: { piiController: string; org: string }[]
  /** Kantara `services[].purposes[]` flattened: the purpose the event is about. */
  purposes: {
    purpose: string
    purposeName: string
    lawfulBasis: string
    directMarketing: boolean
    /** Kantara `piiCategory`: the purpose's data categories. */
    piiCategory: string[]
    thirdPartyDisclosure: boolean
    /** Kantara `thirdPartyName`: the purpose's declared recipients. */
    thirdPartyName: string[]
    /** Kantara `termination`: when the grant lapses (ISO 8601), null for until withdrawn. */
    termination: string | null
  }[]
  /** ISO/IEC TS 27560 notice: its version and the SHA-256 of its exact text (hex). */
  notice: { version: number; sha256: string } | null
  /** ISO/IEC TS 27560 event type: grant, deny, withdraw, expire, object, objection_upheld, objection_rejected. */
  action: string
  /** The audit event that is this consent event (same id), in the org's log. */
  event: { org: string; id: string }
  /** When this receipt was signed (seconds since the epoch). */
  iat: number
}

/** A receipt as the API answers it and `custodian consent verify-receipt` reads it. */
export interface ConsentReceiptDocument {
  /** The receipt id (= the consent event's id). */
  id: string
  eventId: string
  /** The signed receipt: a compact JWS whose payload is a {@link ConsentReceiptPayload}. */
  jws: string
  /** The audit receipt of the event: the event as chained, its inclusion proof, the signed checkpoint. */
  receipt: AuditReceipt
}

/** A subject's consent history, as an access export carries it (docs/consent.md#erasure-and-access). */
export interface ConsentHistoryEntry {
  eventId: string
  purpose: string
  action: string
  lawfulBasis: string
  noticeVersion: number | null
  noticeSha256: string | null
  method: string
  collectedAt: string
  receivedAt: string
  expiresAt: string | null
}

export interface ConsentReceipts {
  /**
   * The receipt of one consent event of the caller's org. Throws AppError NOT_FOUND when
   * the org has no such consent event, CONSENT_RECEIPT_PENDING (409) while no signed
   * checkpoint covers its audit event yet (within a checkpoint interval of the commit).
   */
  receipt(ctx: RequestContext, eventId: string): Promise<ConsentReceiptDocument>
  /** The same, for a caller already bound to `orgId` (the hosted preference page's session). */
  ofEvent(orgId: string, eventId: string): Promise<ConsentReceiptDocument>
  /**
   * A subject's consent events, oldest first, in the caller's org transaction, with each
   * event's receipt where a signed checkpoint already covers it (else `receipt: null`:
   * fetch it later by its id). Every key the subject ever had: erasure leaves the events.
   */
  historyOf(
    trx: Trx,
    orgId: string,
    subjectRef: Buffer,
  ): Promise<{ events: ConsentHistoryEntry[]; receipts: (ConsentReceiptDocument | { id: string; receipt: null })[] }>
}

/** At most this many events go into one access export's history (oldest first). */
export const HISTORY_LIMIT = 10_000

export function createConsentReceipts(deps: {
  db: Kysely<DB>
  audit: Pick<AuditService, 'receiptIn'>
  signer: Signer
  clock: Clock
}): ConsentReceipts {
  const { db, audit, signer, clock } = deps

  async function sign(trx: Trx, orgId: string, event: store.EventRow): Promise<string> {
    const purpose = await trx
      .selectFrom('consent_purposes')
      .selectAll()
      .where('id', '=', event.purpose_id)
      .executeTakeFirstOrThrow()
    const notice = event.notice_version === null ? undefined : await store.noticeByVersion(trx, event.notice_version)
    const org = await trx.selectFrom('orgs').select('name').where('id', '=', orgId).executeTakeFirstOrThrow()
    const payload: ConsentReceiptPayload = {
      v: 1,
      type: 'consent-receipt',
      version: KANTARA_VERSION,
      jurisdiction: RECEIPT_JURISDICTION,
      legalFramework: 'GDPR',
      consentReceiptID: event.id,
      consentTimestamp: Math.floor(event.collected_at.getTime() / 1000),
      collectedAt: event.collected_at.toISOString(),
      receivedAt: event.received_at.toISOString(),
      collectionMethod: event.method,
      language: notice?.language ?? null,
      // PGlite answers a bytea as a Uint8Array, PostgreSQL as a Buffer.
      piiPrincipalId: Buffer.from(event.subject_ref).toString('base64url'),
      piiControllers: [{ piiController: org.name, org: orgId }],
      purposes: [
        {
          purpose: purpose.key,
          purposeName: purpose.name,
          lawfulBasis: event.lawful_basis,
          directMarketing: purpose.direct_marketing,
          piiCategory: purpose.data_categories,
          thirdPartyDisclosure: purpose.recipients.length > 0,
          thirdPartyName: purpose.recipients,
          termination: event.expires_at?.toISOString() ?? null,
        },
      ],
      notice:
        event.notice_version === null || event.notice_sha256 === null
          ? null
          : { version: event.notice_version, sha256: event.notice_sha256 },
      action: event.action,
      event: { org: orgId, id: event.id },
      iat: Math.floor(clock().getTime() / 1000),
    }
    return signJws(signer, CONSENT_RECEIPT_TYPE, { ...payload })
  }

  async function documentOf(trx: Trx, orgId: string, event: store.EventRow) {
    const receipt = await audit.receiptIn(trx, orgId, event.id)
    if (receipt === null) return { id: event.id, receipt: null }
    return { id: event.id, eventId: event.id, jws: await sign(trx, orgId, event), receipt }
  }

  async function ofEvent(orgId: string, eventId: string): Promise<ConsentReceiptDocument> {
    return withOrg(db, orgId, async (trx) => {
      const event = await trx.selectFrom('consent_events').selectAll().where('id', '=', eventId).executeTakeFirst()
      if (event === undefined) throw new AppError('NOT_FOUND', 'no such consent event')
      const document = await documentOf(trx, orgId, event)
      if (document.receipt === null)
        throw new AppError(
          'CONSENT_RECEIPT_PENDING',
          'the event is not yet covered by a signed checkpoint of the audit log; ask again after the next checkpoint',
        )
      return document
    })
  }

  return {
    receipt: (ctx, eventId) => ofEvent(ctx.orgId, eventId),
    ofEvent,

    async historyOf(trx, orgId, subjectRef) {
      const rows = await trx
        .selectFrom('consent_events')
        .selectAll()
        .where('subject_ref', '=', subjectRef)
        .orderBy('received_at')
        .orderBy('id')
        .limit(HISTORY_LIMIT)
        .execute()
      const keys = await store.purposeKeysByIds(trx, [...new Set(rows.map((r) => r.purpose_id))])
      const events = rows.map((row) => ({
        eventId: row.id,
        purpose: keys.get(row.purpose_id) ?? '',
        action: row.action,
        lawfulBasis: row.lawful_basis,
        noticeVersion: row.notice_version,
        noticeSha256: row.notice_sha256,
        method: row.method,
        collectedAt: row.collected_at.toISOString(),
        receivedAt: row.received_at.toISOString(),
        expiresAt: row.expires_at?.toISOString() ?? null,
      }))
      const receipts = []
      for (const row of rows) receipts.push(await documentOf(trx, orgId, row))
      return { events, receipts }
    },
  }
}

/** JCS of a value (undefined and unserialisable values by name), so key order never matters. */
function canonical(value: unknown): string {
  if (value === undefined) return 'undefined'
  try {
    return canonicalJson(value)
  } catch {
    return `unserialisable ${typeof value}`
  }
}

/** The outcome of {@link verifyConsentReceipt}. */
export interface ConsentReceiptCheck {
  ok: boolean
  /** What failed, in words; empty when ok. */
  problems: string[]
  payload?: ConsentReceiptPayload | undefined
  /** The event's position in the log and the checkpoint's tree size, when the proof was checked. */
  seq?: number | undefined
  size?: number | undefined
  cosignedBy: string[]
}

/**
 * Verifies a consent receipt offline (no service, no database). `publicKey` is the Ed25519
 * public key (base64url) of `GET /v1/audit/keys`; `logKey` the C2SP verifier key of the
 * org's log (`verifierKey` of `GET /v1/audit/keys?org=<org>`); `witnessKeys` and `quorum`
 * as for the audit receipt (audit.receipt.ts).
 *
 * Checks: the JWS is an EdDSA signature by `publicKey` with the consent receipt's `typ`;
 * the audit receipt proves its event into a checkpoint signed by `logKey` (RFC 9162
 * §2.1.3.2); and the two are about the same thing — the event's org and id are the
 * receipt's, its action is `consent.<action>`, and the purpose, lawful basis, method,
 * collection time and notice (version and SHA-256) the log recorded are the receipt's.
 * Never throws: every problem is reported in words.
 */
export async function verifyConsentReceipt(
  document: unknown,
  keys: { publicKey: string; logKey: string; witnessKeys?: readonly string[]; quorum?: number },
): Promise<ConsentReceiptCheck> {
  const fail = (problem: string): ConsentReceiptCheck => ({ ok: false, problems: [problem], cosignedBy: [] })
  if (typeof document !== 'object' || document === null) return fail('not a consent receipt: not a JSON object')
  const { jws, receipt } = document as { jws?: unknown; receipt?: unknown }
  if (typeof jws !== 'string') return fail('not a consent receipt: no `jws`')
  if (typeof receipt !== 'object' || receipt === null)
    return fail('the file holds no audit receipt (ask again once a signed checkpoint covers the event)')
  let signed: Record<string, unknown>
  try {
    const verified = await verifyJws(
      jws,
      new Map([[ed25519KeyId(Buffer.from(keys.publicKey, 'base64url')), keys.publicKey]]),
    )
    if (verified.header.typ !== CONSENT_RECEIPT_TYPE)
      return fail(`the JWS is a ${String(verified.header.typ)}, not a ${CONSENT_RECEIPT_TYPE}`)
    signed = verified.payload
  } catch (error) {
    if (error instanceof LibraryUnavailable) throw error
    return fail(`the signature does not verify: ${(error as Error).message}`)
  }
  if (signed.type !== 'consent-receipt' || !Array.isArray(signed.purposes) || signed.purposes.length !== 1)
    return fail('the signed payload is not a consent receipt')
  const payload = signed as unknown as ConsentReceiptPayload
  const witnessKeys = keys.witnessKeys ?? []
  const check = verifyReceipt(receipt, keys.logKey, witnessKeys, keys.quorum ?? witnessKeys.length)
  const problems = [...check.problems]
  const event = (receipt as { event?: Record<string, unknown> }).event ?? {}
  const details = (typeof event.details === 'object' && event.details !== null ? event.details : {}) as Record<
    string,
    unknown
  >
  const named = payload.event as { org?: unknown; id?: unknown } | undefined
  const same = (what: string, logged: unknown, signed: unknown) => {
    if (canonical(logged) !== canonical(signed))
      problems.push(`the log records ${what} ${JSON.stringify(logged)}, the receipt says ${JSON.stringify(signed)}`)
  }
  same('the org', event.org, named?.org)
  same('the event', event.id, named?.id)
  same('the receipt id', event.id, payload.consentReceiptID)
  same('the action', event.action, `consent.${String(payload.action)}`)
  const [purpose] = payload.purposes
  same('the purpose', details.purpose, purpose?.purpose)
  same('the lawful basis', details.lawfulBasis, purpose?.lawfulBasis)
  // Events recorded from a request carry these; an objection's decision carries none.
  if (details.method !== undefined) same('the method', details.method, payload.collectionMethod)
  if (details.collectedAt !== undefined) {
    same('the collection time', details.collectedAt, payload.collectedAt)
    same(
      'the collection time in seconds',
      typeof details.collectedAt === 'string' ? Math.floor(Date.parse(details.collectedAt) / 1000) : null,
      payload.consentTimestamp,
    )
  }
  same('the notice', details.notice ?? null, payload.notice)
  return {
    ok: check.ok && problems.length === 0,
    problems,
    payload,
    seq: check.seq,
    size: check.size,
    cosignedBy: check.cosignedBy,
  }
}

const ReceiptParams = Type.Object({ orgId: Uuid, eventId: Uuid }, Strict)
const ConsentReceiptSchema = Type.Object({
  id: Uuid,
  eventId: Uuid,
  jws: Type.String({
    description: `the signed receipt: a compact JWS (EdDSA, typ ${CONSENT_RECEIPT_TYPE}) by the key of GET /v1/audit/keys`,
  }),
  receipt: AuditReceiptSchema,
})

/**
 * `GET /v1/orgs/{orgId}/consent/receipts/{eventId}` (`consent:read`): the receipt of one
 * consent event, `409 CONSENT_RECEIPT_PENDING` until a signed checkpoint covers its event.
 */
export function consentReceiptRoutes(deps: { receipts: ConsentReceipts }): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get('/v1/orgs/:orgId/consent/receipts/:eventId', {
      config: { access: { permission: 'consent:read' } },
      schema: {
        tags: ['consent'],
        summary: 'The signed receipt of one consent event, with the inclusion proof of its audit event',
        description:
          'The event id is the one a record, withdrawal or objection decision answered. 409 CONSENT_RECEIPT_PENDING until a signed checkpoint covers the event (within a checkpoint interval of its commit). Verifiable offline: `custodian consent verify-receipt` (docs/consent.md#receipts).',
        params: ReceiptParams,
        response: { 200: ConsentReceiptSchema, ...errorResponses('org') },
      },
      handler: async (request) => {
        const document = await deps.receipts.receipt(ctxOf(request), request.params.eventId)
        return { ...document, receipt: { ...document.receipt, event: { ...document.receipt.event } } }
      },
    })
  }
}
