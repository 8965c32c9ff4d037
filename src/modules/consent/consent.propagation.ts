import { createHmac } from 'node:crypto'
import { Type, type Static } from '@sinclair/typebox'
import type { Kysely, Selectable } from 'kysely'
import type { Clock } from '../../clock.ts'
import { actorOf, type RequestContext } from '../../context.ts'
import type { RequestMeta } from '../audit/audit.types.ts'
import { newestFirst, readPage, type Page, type PageOrder, type PageRequest } from '../../db/page.ts'
import type { DB } from '../../db/schema.ts'
import { withOrg, withOwner, type Trx, orgsNotServed } from '../../db/tenant.ts'
import { AppError } from '../../errors.ts'
import { issueToken, parseToken, secretMatches } from '../../crypto/tokens.ts'
import { verifyEd25519 } from '../../crypto/keys.ts'
import { Strict, Timestamp, Uuid } from '../../http/schemas.ts'
import type { AuditService } from '../audit/audit.service.ts'
import type { WebhooksService } from '../notify/webhooks.service.ts'
import type { Subjects } from '../privacy/subjects.ts'
import type { AlertsService } from '../response/alerts.service.ts'
import { SubjectId } from './consent.types.ts'
import type { ConsentPropagationsTable, PropagationAction } from './consent.tables.ts'
import { timeInWords } from '../../time-zone.ts'
import type { OrgServedGuard } from '../audit/rollback.service.ts'

/**
 * Propagation to recipients (P7.7, GDPR Art. 19; docs/consent.md#propagation-to-recipients).
 *
 * - A withdrawal, a direct-marketing objection, an upheld objection, a lapsed consent
 *   (`expire`) or an erasure is told to every registered recipient the affected purposes
 *   name — and a restriction, its lift or a rectification (privacy requests) to every
 *   registered recipient any of the org's purposes names: one message per recipient
 *   per act (an erasure's withdrawals of several purposes make one message, listing them),
 *   written in the act's own transaction and delivered by the webhook queue (retries,
 *   dead letters, Standard Webhooks signature; the message id is the delivery id, so a
 *   retry after a crash carries the same `webhook-id`).
 * - The subject is named by a reference keyed per recipient (HMAC of the privacy module's
 *   keyed reference under a key derived for that recipient): two recipients cannot join
 *   their messages on it, and it reveals nothing without Custodian's key.
 * - Each message carries an acknowledgement token (only its SHA-256 is stored); the public
 *   acknowledgement answers 404 for any token that is not a live one, whatever the
 *   reason, and refuses a bad signature when the recipient registered a key.
 * - Unacknowledged at its deadline, a message raises `consent_propagation_overdue` once
 *   (consent jobs, through a partial index of what is due).
 */

/** The acknowledgement route (public): the token goes in the body, never in the URL. */
export const ACK_PATH = '/v1/consent/acknowledgements'

export const PropagationState = Type.Union([
  Type.Literal('pending'),
  Type.Literal('acknowledged'),
  Type.Literal('overdue'),
])
export const PropagationView = Type.Object({
  id: Uuid,
  recipient: Type.String({ description: 'the recipient’s name' }),
  recipientId: Uuid,
  action: Type.Union(
    [
      Type.Literal('withdraw'),
      Type.Literal('object'),
      Type.Literal('objection_upheld'),
      Type.Literal('erasure'),
      Type.Literal('expire'),
      Type.Literal('restrict'),
      Type.Literal('lift_restriction'),
      Type.Literal('rectify'),
    ],
    {
      description:
        'what the recipient is told: stop processing (withdraw, object, objection_upheld, expire), erase (erasure), hold without processing (restrict) until lift_restriction, fetch the corrected data (rectify)',
    },
  ),
  purposes: Type.Array(Type.String()),
  requestId: Type.Union([Uuid, Type.Null()]),
  state: PropagationState,
  deadline: Timestamp,
  acknowledgedAt: Type.Union([Timestamp, Type.Null()]),
  signed: Type.Boolean({ description: 'whether the acknowledgement was signed with the recipient’s key' }),
  createdAt: Timestamp,
})
export const AcknowledgeBody = Type.Object(
  {
    token: Type.String({ minLength: 1, maxLength: 200, description: 'the message’s acknowledgement token' }),
    signature: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9_-]{86}$',
        description: 'base64url Ed25519 signature over the message id (its webhook-id), with the registered key',
      }),
    ),
  },
  Strict,
)
export const SubjectReferenceBody = Type.Object({ subjectId: SubjectId }, Strict)
export const SubjectReferenceView = Type.Object({
  reference: Type.String({
    description:
      'the subject as this recipient’s messages name it (`subject`, base64url HMAC-SHA256): hand it to the recipient with the data',
  }),
})
export type PropagationViewT = Static<typeof PropagationView>
export type AcknowledgeInput = Static<typeof AcknowledgeBody>

/** What an act tells: the subject (keyed reference), and each affected purpose with its recipients' names. */
export interface Told {
  subjectRef: Buffer
  purposes: readonly { key: string; recipients: readonly string[] }[]
  action: PropagationAction
  requestId?: string | undefined
}

export interface ConsentPropagation {
  /** In the act's transaction: one message per registered recipient named; returns how many. */
  propagate(trx: Trx, orgId: string, told: Told): Promise<number>
  /** The public acknowledgement. NOT_FOUND for any token that is not a live one. */
  acknowledge(input: AcknowledgeInput, meta: RequestMeta): Promise<PropagationViewT>
  list(
    ctx: RequestContext,
    page: PageRequest & { state?: Static<typeof PropagationState> | undefined },
  ): Promise<Page<PropagationViewT>>
  /** The job: raises one alert per message past its deadline without an acknowledgement; returns how many. */
  alertOverdue(): Promise<number>
  /**
   * The subject's reference as the recipient's messages carry it (`subject`), for the host
   * application to hand to the recipient with the data it shares, so that the recipient can
   * match later messages. Audited (`consent.recipient.subject_reference`) without the
   * subject's id or the reference. NOT_FOUND for a recipient not of the org.
   */
  subjectReference(ctx: RequestContext, recipientId: string, subjectId: string): Promise<{ reference: string }>
}

/** How an alert names what a recipient did not acknowledge. */
const TOLD: Record<PropagationAction, string> = {
  withdraw: 'a withdrawal',
  object: 'an objection',
  objection_upheld: 'an upheld objection',
  erasure: 'a subject’s erasure',
  expire: 'a lapsed consent',
  restrict: 'a restriction of processing',
  lift_restriction: 'the lift of a restriction',
  rectify: 'a rectification',
}

const NEWEST = newestFirst('created_at')
const SOONEST_DEADLINE: PageOrder = {
  keys: [
    { column: 'deadline_at', type: 'timestamptz' },
    { column: 'id', type: 'uuid' },
  ],
  direction: 'asc',
}
const LATEST_ACK = newestFirst('acknowledged_at')
const OVERDUE_BATCH = 500
const SYSTEM = { type: 'system', id: 'consent' } as const
const NO_REQUEST = { requestId: null, ip: null, userAgent: null }

/** The subject's reference as one recipient sees it: HMAC of the keyed reference under a per-recipient key. */
export function recipientSubjectRef(key: Buffer, recipientId: string, subjectRef: Buffer): string {
  const perRecipient = createHmac('sha256', key).update(`custodian consent recipient\0${recipientId}`).digest()
  return createHmac('sha256', perRecipient).update(subjectRef).digest('base64url')
}

export function createConsentPropagation(deps: {
  db: Kysely<DB>
  audit: Pick<AuditService, 'append'>
  webhooks: Pick<WebhooksService, 'enqueueTo'>
  alerts: () => Pick<AlertsService, 'raiseIn'>
  /** The privacy module's keyed reference of a subject id. */
  subjects: Pick<Subjects, 'ref'>
  clock: Clock
  /** Derives each recipient's key for the subject reference. */
  recipientRefKey: Buffer
  /** Custodian's public base URL: where acknowledgements go. */
  publicUrl: string
  /** Rollback detection (P8.1): a refused org's message is not acknowledged. */
  served: Pick<OrgServedGuard, 'assertServed'>
}): ConsentPropagation {
  const { db, audit, clock } = deps
  const ackUrl = new URL(ACK_PATH, deps.publicUrl).toString()

  function view(row: Selectable<ConsentPropagationsTable>, now: Date): PropagationViewT {
    return {
      id: row.id,
      recipient: row.recipient_name,
      recipientId: row.recipient_id,
      action: row.action,
      purposes: row.purposes,
      requestId: row.request_id,
      state:
        row.acknowledged_at !== null
          ? 'acknowledged'
          : row.deadline_at.getTime() <= now.getTime()
            ? 'overdue'
            : 'pending',
      deadline: row.deadline_at.toISOString(),
      acknowledgedAt: row.acknowledged_at?.toISOString() ?? null,
      signed: row.ack_signed,
      createdAt: row.created_at.toISOString(),
    }
  }

  const notFound = () => new AppError('NOT_FOUND', 'no such acknowledgement')

  return {
    async propagate(trx, orgId, told) {
      const byRecipient = new Map<string, string[]>()
      for (const purpose of told.purposes)
        for (const name of purpose.recipients) byRecipient.set(name, [...(byRecipient.get(name) ?? []), purpose.key])
      if (byRecipient.size === 0) return 0
      // Names no recipient is registered under (labels kept from before the registry) are told nothing.
      const recipients = await trx
        .selectFrom('consent_recipients')
        .selectAll()
        .where('name', 'in', [...byRecipient.keys()])
        .orderBy('name')
        .execute()
      const now = clock()
      for (const recipient of recipients) {
        const purposes = [...new Set(byRecipient.get(recipient.name) ?? [])].sort()
        const token = issueToken('cst_cpa')
        const deadline = new Date(now.getTime() + recipient.deadline_hours * 3_600_000)
        await trx
          .insertInto('consent_propagations')
          .values({
            id: token.id,
            org_id: orgId,
            recipient_id: recipient.id,
            recipient_name: recipient.name,
            action: told.action,
            purposes,
            request_id: told.requestId ?? null,
            token_hash: token.secretHash,
            deadline_at: deadline,
            created_at: now,
            acknowledged_at: null,
            overdue_alerted_at: null,
          })
          .execute()
        await deps.webhooks.enqueueTo(
          trx,
          orgId,
          recipient,
          'consent.propagation',
          {
            action: told.action,
            purposes,
            subject: recipientSubjectRef(deps.recipientRefKey, recipient.id, told.subjectRef),
            stopProcessingBy: deadline.toISOString(),
            issuedAt: now.toISOString(),
            acknowledgement: { url: ackUrl, token: token.token },
          },
          { id: token.id, requestId: told.requestId },
        )
      }
      return recipients.length
    },

    async acknowledge(input, meta) {
      const parsed = parseToken('cst_cpa', input.token)
      if (parsed === undefined) throw notFound()
      // The token names the message but not its org: found by id across orgs, then
      // everything else happens under the org's row-level security.
      const found = await withOwner(db, (trx) =>
        trx
          .selectFrom('consent_propagations')
          .select(['org_id', 'token_hash'])
          .where('id', '=', parsed.id)
          .executeTakeFirst(),
      )
      if (found === undefined || !secretMatches(parsed.secret, found.token_hash)) throw notFound()
      // P8.1: the token is what tells us the org.
      deps.served.assertServed(found.org_id)
      return withOrg(db, found.org_id, async (trx) => {
        const row = await trx
          .selectFrom('consent_propagations')
          .selectAll()
          .where('id', '=', parsed.id)
          .forUpdate()
          .executeTakeFirst()
        if (row === undefined) throw notFound()
        const now = clock()
        // Acknowledged already: the same answer (a retry of the acknowledgement is one).
        if (row.acknowledged_at !== null) return view(row, now)
        const recipient = await trx
          .selectFrom('consent_recipients')
          .select(['public_key'])
          .where('id', '=', row.recipient_id)
          .executeTakeFirst()
        const key = recipient?.public_key ?? null
        if (key !== null) {
          const signature = input.signature === undefined ? undefined : Buffer.from(input.signature, 'base64url')
          if (
            signature === undefined ||
            !verifyEd25519(Buffer.from(key).toString('base64url'), Buffer.from(row.id, 'utf8'), signature)
          )
            throw new AppError(
              'VALIDATION_FAILED',
              'this recipient acknowledges with an Ed25519 signature over the message id, made with its registered key',
              { errors: [{ path: '/body/signature', message: 'missing or not a valid signature' }] },
            )
        } else if (input.signature !== undefined)
          throw new AppError('VALIDATION_FAILED', 'this recipient has no public key registered to verify a signature', {
            errors: [{ path: '/body/signature', message: 'no key registered: send the acknowledgement unsigned' }],
          })
        const updated = await trx
          .updateTable('consent_propagations')
          .set({ acknowledged_at: now, ack_signed: key !== null })
          .where('id', '=', row.id)
          .returningAll()
          .executeTakeFirstOrThrow()
        await audit.append(trx, {
          orgId: row.org_id,
          actor: { type: 'anonymous', id: null },
          action: 'consent.propagation.acknowledge',
          target: { type: 'consent_propagation', id: row.id },
          outcome: 'success',
          details: {
            recipient: row.recipient_name,
            action: row.action,
            purposes: row.purposes,
            signed: key !== null,
            late: row.deadline_at.getTime() <= now.getTime(),
          },
          meta,
        })
        return view(updated, now)
      })
    },

    async list(ctx, page) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const now = clock()
        const all = trx.selectFrom('consent_propagations').selectAll()
        const { items, nextCursor } =
          page.state === undefined
            ? await readPage(trx, all, NEWEST, page)
            : page.state === 'acknowledged'
              ? await readPage(trx, all.where('acknowledged_at', 'is not', null), LATEST_ACK, page)
              : await readPage(
                  trx,
                  all
                    .where('acknowledged_at', 'is', null)
                    .where('deadline_at', page.state === 'overdue' ? '<=' : '>', now),
                  SOONEST_DEADLINE,
                  page,
                )
        return { items: items.map((row) => view(row, now)), nextCursor }
      })
    },

    async subjectReference(ctx, recipientId, subjectId) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const recipient = await trx
          .selectFrom('consent_recipients')
          .select(['id', 'name'])
          .where('id', '=', recipientId)
          .executeTakeFirst()
        if (recipient === undefined) throw new AppError('NOT_FOUND', 'no such recipient')
        // Who learned which recipient's reference, never of whom: the subject's id stays out of the log.
        await audit.append(trx, {
          orgId: ctx.orgId,
          actor: actorOf(ctx.principal),
          action: 'consent.recipient.subject_reference',
          target: { type: 'consent_recipient', id: recipient.id },
          outcome: 'success',
          details: { recipient: recipient.id },
          meta: ctx.meta,
        })
        const subjectRef = deps.subjects.ref(ctx.orgId, subjectId)
        return { reference: recipientSubjectRef(deps.recipientRefKey, recipient.id, subjectRef) }
      })
    },

    async alertOverdue() {
      const now = clock()
      const refused = orgsNotServed(db) // P8.1
      const due = await withOwner(db, (trx) =>
        trx
          .selectFrom('consent_propagations')
          .select(['id', 'org_id'])
          .$if(refused.length > 0, (q) => q.where('org_id', 'not in', refused))
          .where('acknowledged_at', 'is', null)
          .where('overdue_alerted_at', 'is', null)
          .where('deadline_at', '<=', now)
          .orderBy('deadline_at')
          .limit(OVERDUE_BATCH)
          .execute(),
      )
      let raised = 0
      for (const { id, org_id: orgId } of due)
        raised += await withOrg(db, orgId, async (trx) => {
          const row = await trx
            .selectFrom('consent_propagations')
            .selectAll()
            .where('id', '=', id)
            .where('acknowledged_at', 'is', null)
            .where('overdue_alerted_at', 'is', null)
            .forUpdate()
            .skipLocked()
            .executeTakeFirst()
          if (row === undefined) return 0
          await trx.updateTable('consent_propagations').set({ overdue_alerted_at: now }).where('id', '=', id).execute()
          const details = {
            recipient: row.recipient_name,
            action: row.action,
            purposes: row.purposes,
            deadline: row.deadline_at.toISOString(),
            message: row.id,
          }
          await deps.alerts().raiseIn(trx, orgId, 'consent_propagation_overdue', {
            key: row.id,
            title: `${row.recipient_name} did not acknowledge ${TOLD[row.action]} by ${timeInWords(row.deadline_at)}`,
            details,
          })
          await audit.append(trx, {
            orgId,
            actor: SYSTEM,
            action: 'consent.propagation.overdue',
            target: { type: 'consent_propagation', id },
            outcome: 'failure',
            details,
            meta: NO_REQUEST,
          })
          return 1
        })
      return raised
    },
  }
}
