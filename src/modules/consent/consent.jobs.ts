import { randomUUID } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Clock } from '../../clock.ts'
import type { DB } from '../../db/schema.ts'
import { withOrg, withOwner, orgsNotServed } from '../../db/tenant.ts'
import type { AuditService } from '../audit/audit.service.ts'
import { enqueue, membersWithRoles } from '../notify/notify.service.ts'
import type { WebhooksService } from '../notify/webhooks.service.ts'
import { notifyReconsent, RECONSENT_EVENT, refText } from './consent.reconsent.ts'
import type { ConsentPropagation } from './consent.propagation.ts'
import * as store from './consent.store.ts'

/**
 * The consent module's periodic work (P7.7; docs/consent.md#expiry-and-objection-deadlines),
 * run by one `periodic` job per process; several processes share it through row locks.
 *
 * - **Expiry**: a grant whose lifetime ended gets an `expire` event — with its audit event,
 *   in one transaction, the state moved to `expired` — and the host application is told
 *   (`consent.reconsent_required`, reason `lifetime_ended`, one delivery per purpose and
 *   batch) and the purpose's registered recipients are told to stop, as after a withdrawal
 *   (`consent.propagation`, action `expire`, one message per recipient and lapsed grant). Idempotent: the event's host id is `expire:<grant event id>` (unique per org),
 *   and a state is expired only while it still holds that grant. The check refuses a lapsed
 *   grant at use time whether or not this has run yet.
 * - **Objection deadlines** (Art. 12(3), 21): an objection under review is due one month
 *   after it was received. A week before, the org's owners and admins are reminded; once
 *   due and still undecided, they are told it is overdue, again every 24 hours until it is
 *   decided — through the notification outbox (e-mail and the `notifications` webhook),
 *   each reminder an audit event.
 * - **Re-consent**: the batches of a material change's affected subjects (consent.reconsent.ts).
 * - **Propagation**: a message to a recipient unacknowledged past its deadline raises
 *   `consent_propagation_overdue`, once (consent.propagation.ts).
 *
 * Each part reads only what is due, through partial indexes (migration 0044): the cost of
 * a run follows the work due, never the org's history.
 */
export interface ConsentJobs {
  /** Records `expire` for up to EXPIRY_BATCH lapsed grants; returns how many. */
  expireDue(): Promise<number>
  /** Sends the objection reminders due; returns how many of each. */
  watchObjections(): Promise<{ dueSoon: number; overdue: number }>
  /** One batch of each pending re-consent run; returns how many batches went out. */
  notifyReconsent(): Promise<number>
  /** All three, in this order, then the overdue propagations' alerts (consent.propagation.ts). */
  run(): Promise<void>
}

/** Grants expired in one run (the next run takes the rest). */
export const EXPIRY_BATCH = 500
const HOUR_MS = 3_600_000
/** How long before an objection's due date its reviewers are reminded. */
export const OBJECTION_REMINDER_MS = 7 * 24 * HOUR_MS
/** How often an overdue objection is flagged again while undecided. */
const OVERDUE_REPEAT_MS = 24 * HOUR_MS
const SYSTEM = { type: 'system', id: 'consent' } as const
const NO_REQUEST = { requestId: null, ip: null, userAgent: null }

export function createConsentJobs(deps: {
  db: Kysely<DB>
  audit: Pick<AuditService, 'append'>
  webhooks: Pick<WebhooksService, 'enqueue'>
  clock: Clock
  /** Lapsed consents are told to the purposes' recipients; unacknowledged messages past their deadline raise an alert. */
  propagation: Pick<ConsentPropagation, 'propagate' | 'alertOverdue'>
}): ConsentJobs {
  const { db, audit, clock } = deps

  async function expireDue(): Promise<number> {
    const now = clock()
    const refused = orgsNotServed(db) // P8.1
    const due = await withOwner(db, (trx) =>
      trx
        .selectFrom('consent_state')
        .select(['org_id', 'subject_ref', 'purpose_id', 'event_id'])
        .$if(refused.length > 0, (q) => q.where('org_id', 'not in', refused))
        .where('state', '=', 'granted')
        .where('expires_at', 'is not', null)
        .where('expires_at', '<=', now)
        .orderBy('expires_at')
        .limit(EXPIRY_BATCH)
        .execute(),
    )
    const byOrg = new Map<string, typeof due>()
    for (const row of due) byOrg.set(row.org_id, [...(byOrg.get(row.org_id) ?? []), row])
    let expired = 0
    for (const [orgId, rows] of byOrg) {
      expired += await withOrg(db, orgId, async (trx) => {
        const told = new Map<string, Buffer[]>()
        const purposes = new Map<string, Pick<store.PurposeRow, 'id' | 'key' | 'lawful_basis' | 'recipients'>>()
        let count = 0
        for (const due of rows) {
          // Locked, skipped if another process holds it; expired only while it still holds the grant.
          const state = await trx
            .selectFrom('consent_state')
            .selectAll()
            .where('subject_ref', '=', due.subject_ref)
            .where('purpose_id', '=', due.purpose_id)
            .where('state', '=', 'granted')
            .where('event_id', '=', due.event_id)
            .forUpdate()
            .skipLocked()
            .executeTakeFirst()
          if (state?.expires_at == null || state.expires_at.getTime() > now.getTime()) continue
          const purposeRow =
            purposes.get(state.purpose_id) ??
            (await trx
              .selectFrom('consent_purposes')
              .select(['id', 'key', 'lawful_basis', 'recipients'])
              .where('id', '=', state.purpose_id)
              .executeTakeFirst())
          if (purposeRow === undefined) continue
          purposes.set(purposeRow.id, purposeRow)
          const id = randomUUID()
          const inserted = await store.insertEvent(trx, {
            id,
            org_id: orgId,
            subject_ref: state.subject_ref,
            subject_key_id: state.subject_key_id,
            purpose_id: state.purpose_id,
            action: 'expire',
            lawful_basis: purposeRow.lawful_basis,
            notice_version: state.notice_version,
            notice_sha256: null,
            method: 'api',
            collected_at: state.expires_at,
            received_at: now,
            actor_type: 'system',
            actor_id: 'consent-expiry',
            recorded_by: 'system:consent',
            app_event_id: `expire:${state.event_id}`,
            fingerprint: null,
            source_event_id: null,
            objection_id: null,
            evidence_commitment: null,
            gpc_conflict: false,
            expires_at: state.expires_at,
          })
          if (inserted === undefined) continue
          await store.upsertState(trx, {
            org_id: orgId,
            subject_ref: state.subject_ref,
            purpose_id: state.purpose_id,
            subject_key_id: state.subject_key_id,
            state: 'expired',
            lawful_basis: purposeRow.lawful_basis,
            event_id: id,
            notice_version: state.notice_version,
            // Kept: when the lifetime ended (the re-consent list's `since`).
            expires_at: state.expires_at,
            updated_at: now,
          })
          await audit.append(trx, {
            orgId,
            actor: SYSTEM,
            action: 'consent.expire',
            target: { type: 'consent_purpose', id: purposeRow.key },
            outcome: 'success',
            details: {
              purpose: purposeRow.key,
              lawfulBasis: purposeRow.lawful_basis,
              state: 'expired',
              grantEvent: state.event_id,
              expiredAt: state.expires_at.toISOString(),
            },
            eventId: id,
            meta: NO_REQUEST,
          })
          told.set(purposeRow.key, [...(told.get(purposeRow.key) ?? []), state.subject_ref])
          // Processing on a lapsed consent stops as on a withdrawn one (Art. 7(3), 19).
          await deps.propagation.propagate(trx, orgId, {
            subjectRef: state.subject_ref,
            purposes: [purposeRow],
            action: 'expire',
          })
          count++
        }
        for (const [purposeKey, refs] of told)
          await deps.webhooks.enqueue(trx, orgId, RECONSENT_EVENT, {
            purpose: purposeKey,
            reason: 'lifetime_ended',
            subjects: refs.map(refText),
          })
        return count
      })
    }
    return expired
  }

  async function watchObjections(): Promise<{ dueSoon: number; overdue: number }> {
    const now = clock()
    const soon = new Date(now.getTime() + OBJECTION_REMINDER_MS)
    const again = new Date(now.getTime() - OVERDUE_REPEAT_MS)
    // Across orgs (owner connection), the pending objections with a reminder due; each is
    // then locked and re-read in its org.
    const refused = orgsNotServed(db)
    const due = await withOwner(db, (trx) =>
      trx
        .selectFrom('consent_objections')
        .select(['id', 'org_id'])
        .$if(refused.length > 0, (q) => q.where('org_id', 'not in', refused))
        .where('status', '=', 'pending')
        .where('due_at', '<=', soon)
        .where((eb) =>
          eb.or([
            eb('due_soon_notified_at', 'is', null),
            eb.and([
              eb('due_at', '<=', now),
              eb.or([eb('overdue_notified_at', 'is', null), eb('overdue_notified_at', '<=', again)]),
            ]),
          ]),
        )
        .orderBy('due_at')
        .limit(500)
        .execute(),
    )
    let dueSoon = 0
    let overdue = 0
    for (const { id, org_id: orgId } of due) {
      await withOrg(db, orgId, async (trx) => {
        const row = await trx
          .selectFrom('consent_objections')
          .selectAll()
          .where('id', '=', id)
          .where('status', '=', 'pending')
          .forUpdate()
          .skipLocked()
          .executeTakeFirst()
        if (row === undefined) return
        const isOverdue = now.getTime() >= row.due_at.getTime()
        let which: 'due_soon' | 'overdue'
        if (isOverdue && (row.overdue_notified_at === null || row.overdue_notified_at.getTime() <= again.getTime())) {
          which = 'overdue'
          await trx.updateTable('consent_objections').set({ overdue_notified_at: now }).where('id', '=', id).execute()
          overdue++
        } else if (!isOverdue && row.due_soon_notified_at === null && row.due_at.getTime() <= soon.getTime()) {
          which = 'due_soon'
          await trx.updateTable('consent_objections').set({ due_soon_notified_at: now }).where('id', '=', id).execute()
          dueSoon++
        } else return
        const purpose = (await store.purposeKeysByIds(trx, [row.purpose_id])).get(row.purpose_id) ?? ''
        await enqueue(trx, await membersWithRoles(trx, ['owner', 'admin']), {
          orgId,
          kind: `consent.objection.${which}`,
          subject: which === 'overdue' ? 'An objection is overdue' : 'An objection is due soon',
          body: `An objection (Art. 21) to the purpose ${purpose}, received ${row.opened_at.toISOString()}, is due ${row.due_at.toISOString()}: decide it with its grounds.`,
          data: { objectionId: row.id, purpose, dueAt: row.due_at.toISOString() },
        })
        await audit.append(trx, {
          orgId,
          actor: SYSTEM,
          action: `consent.objection.${which}`,
          target: { type: 'consent_objection', id: row.id },
          outcome: 'success',
          details: { purpose, dueAt: row.due_at.toISOString() },
          meta: NO_REQUEST,
        })
      })
    }
    return { dueSoon, overdue }
  }

  return {
    expireDue,
    watchObjections,
    notifyReconsent: () => notifyReconsent(db, deps.webhooks, clock),
    async run() {
      await expireDue()
      await watchObjections()
      await notifyReconsent(db, deps.webhooks, clock)
      await deps.propagation.alertOverdue()
    },
  }
}
