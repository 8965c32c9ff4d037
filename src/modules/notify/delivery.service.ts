import type { Kysely } from 'kysely'
import type { Clock } from '../../clock.ts'
import { newestFirst, pageOf, toPage, type Page, type PageRequest, inIndexOrder } from '../../db/page.ts'
import type { DB } from '../../db/schema.ts'
import { memberEmails } from '../../db/people.ts'
import { withOrg, withOwner, orgsNotServed } from '../../db/tenant.ts'
import type { RequestContext } from '../../context.ts'
import type { AuditService } from '../audit/audit.service.ts'
import { leaseFor } from '../../jobs/lease.ts'
import type { Mailer } from './mail.ts'
import type { WebhooksService } from './webhooks.service.ts'
import { parseMailbox, type Mailbox } from '../../email-address.ts'

/**
 * Delivering the notification outbox (P3.5, P6.3): each recipient's row by e-mail, and
 * each batch (one `enqueue`) to the webhooks subscribed to notifications.
 *
 * - A row is claimed by an atomic update that leases it for longer than the send can
 *   take, so several processes share the work; a process that dies mid-send leaves a
 *   lease that expires (at least once: the X-Custodian-Notification header is the
 *   idempotency key).
 * - A failed send is retried with exponential backoff, then dead-lettered (`failed`);
 *   without a mail server configured, rows are `skipped` (still listed in the API).
 * - The outcome of each e-mail is an audit event with its destination domain.
 * - Notifications never carry secrets or links that grant access (`enqueue` refuses
 *   them), so what leaves is names, ids and facts.
 */
export interface NotificationView {
  id: string
  kind: string
  recipient: string
  /** The recipient's email when a member of the org (src/db/people.ts), for a page to name them; else null. */
  recipientEmail: string | null
  subject: string
  body: string
  data: Record<string, unknown>
  status: 'pending' | 'delivered' | 'failed' | 'skipped'
  attempts: number
  lastError: string | null
  deliveredAt: string | null
  createdAt: string
}

/** Newest first (indexes `(org_id, created_at, id)` and per recipient). */
const NEWEST = newestFirst('created_at')

export interface DeliveryService {
  /** Newest first, a page at a time; `mine`: those addressed to the caller. */
  list(
    ctx: RequestContext,
    filter: { status?: string | undefined; mine?: boolean },
    page: PageRequest,
  ): Promise<Page<NotificationView>>
  /** The job: sends due e-mails; returns how many were settled. */
  deliverMail(): Promise<number>
  /** The job: hands new batches to the webhooks subscribed to notifications. */
  fanOut(): Promise<number>
}

/**
 * The claim on an e-mail: the send timeout plus the margin (src/jobs/lease.ts), and never
 * under a minute — nodemailer's timeouts bound each phase of the SMTP exchange (connect,
 * greeting, each answer), not the whole of it, so the floor covers a slow but live server.
 */
const leaseMs = (timeoutMs: number) => Math.max(60_000, leaseFor(timeoutMs))
const SYSTEM = { type: 'system' as const, id: 'mail' }
const NO_REQUEST = { requestId: null, ip: null, userAgent: null }

export function createDeliveryService(deps: {
  db: Kysely<DB>
  mailer: Mailer | undefined
  webhooks: Pick<WebhooksService, 'enqueue'>
  audit: Pick<AuditService, 'append'>
  clock: Clock
  retry: { baseMs: number; maxAttempts: number; timeoutMs: number }
  /** The address of a recipient who is not a user (see `enqueueExternal`); undefined once erased. */
  resolveAddress: (orgId: string, ref: string) => Promise<string | undefined>
}): DeliveryService {
  const { db, audit, clock } = deps

  async function settle(
    orgId: string,
    id: string,
    attempts: number,
    error: string | null,
    destination: string,
    kind: string,
  ): Promise<boolean> {
    return withOrg(db, orgId, async (trx) => {
      const now = clock()
      const final = error === null || attempts >= deps.retry.maxAttempts
      await trx
        .updateTable('notifications')
        .set({
          status: error === null ? 'delivered' : final ? 'failed' : 'pending',
          last_error: error,
          ...(error === null ? { delivered_at: now } : {}),
          next_attempt_at: final
            ? now
            : new Date(now.getTime() + Math.min(deps.retry.baseMs * 2 ** (attempts - 1), 6 * 3_600_000)),
        })
        .where('id', '=', id)
        .execute()
      if (final) {
        await audit.append(trx, {
          orgId,
          actor: SYSTEM,
          action: 'notification.email',
          target: { type: 'notification', id },
          outcome: error === null ? 'success' : 'failure',
          details: { kind, destination, attempts, ...(error === null ? {} : { error, deadLettered: true }) },
          meta: NO_REQUEST,
        })
      }
      return final
    })
  }

  return {
    async list(ctx, filter, page) {
      const { items, nextCursor, emails } = await withOrg(db, ctx.orgId, async (trx) => {
        let query = trx.selectFrom('notifications').selectAll()
        if (filter.status !== undefined) query = query.where('status', '=', filter.status as 'pending')
        if (filter.mine === true) query = query.where('recipient_user_id', '=', ctx.principal.id)
        // Status has no index in the page's order: with it, the planner chooses.
        const rows = await (filter.status === undefined
          ? inIndexOrder(trx, () => pageOf(query, NEWEST, page).execute())
          : pageOf(query, NEWEST, page).execute())
        const found = toPage(rows, NEWEST, page.limit)
        return {
          ...found,
          emails: await memberEmails(
            trx,
            ctx.orgId,
            found.items.map((r) => r.recipient_user_id),
          ),
        }
      })
      return {
        nextCursor,
        items: items.map((r) => ({
          id: r.id,
          kind: r.kind,
          recipient: r.recipient_user_id ?? r.recipient_ref ?? '',
          recipientEmail: r.recipient_user_id === null ? null : (emails[r.recipient_user_id.toLowerCase()] ?? null),
          subject: r.subject,
          body: r.body,
          data: r.data,
          status: r.status,
          attempts: r.attempts,
          lastError: r.last_error,
          deliveredAt: r.delivered_at?.toISOString() ?? null,
          createdAt: r.created_at.toISOString(),
        })),
      }
    },

    async deliverMail() {
      const now = clock()
      // Due rows span orgs, and a recipient's address is not visible from every org
      // (operators receive notices about customer orgs): owner connection, read-only.
      const refused = orgsNotServed(db) // P8.1: a refused org's notices wait
      const due = await withOwner(db, (trx) =>
        trx
          .selectFrom('notifications as n')
          .leftJoin('users as u', 'u.id', 'n.recipient_user_id')
          .select(['n.id', 'n.org_id', 'n.kind', 'n.subject', 'n.body', 'n.recipient_ref', 'u.email'])
          .where('n.status', '=', 'pending')
          .$if(refused.length > 0, (q) => q.where('n.org_id', 'not in', refused))
          .where('n.next_attempt_at', '<=', now)
          .orderBy('n.next_attempt_at')
          .limit(50)
          .execute(),
      )
      let settled = 0
      for (const row of due) {
        const email =
          row.email ??
          (row.recipient_ref === null ? undefined : await deps.resolveAddress(row.org_id, row.recipient_ref))
        // K6: only one plain mailbox is mailed; anything else (a list, a name, a stored address
        // from before addresses were parsed) is skipped, not handed to the SMTP client to interpret.
        const mailbox = email === undefined ? undefined : parseMailbox(email)
        const skip =
          deps.mailer === undefined
            ? 'no mail server configured'
            : email === undefined
              ? 'the recipient has no address (erased, or none was given)'
              : mailbox === undefined
                ? 'the recipient address is not one plain mailbox'
                : undefined
        if (skip !== undefined) {
          await withOrg(db, row.org_id, (trx) =>
            trx
              .updateTable('notifications')
              .set({ status: 'skipped', last_error: skip })
              .where('id', '=', row.id)
              .where('status', '=', 'pending')
              .execute(),
          )
          settled++
          continue
        }
        const to = (mailbox as Mailbox).address
        const claimed = await withOrg(db, row.org_id, (trx) =>
          trx
            .updateTable('notifications')
            .set((eb) => ({
              attempts: eb('attempts', '+', 1),
              next_attempt_at: new Date(clock().getTime() + leaseMs(deps.retry.timeoutMs)),
            }))
            .where('id', '=', row.id)
            .where('status', '=', 'pending')
            .where('next_attempt_at', '<=', now)
            .returning('attempts')
            .executeTakeFirst(),
        )
        if (claimed === undefined) continue // another process has it
        let error: string | null = null
        try {
          await (deps.mailer as Mailer).send({
            to,
            subject: row.subject,
            text: `${row.body}\n\n— ${row.recipient_ref === null ? 'Custodian (no reply; sign in to act on this notice)' : 'This address takes no replies; answer through the status endpoint, with your status token.'}`,
            headers: { 'X-Custodian-Notification': row.id, 'X-Custodian-Kind': row.kind },
          })
        } catch (caught) {
          const e = caught as { responseCode?: number; code?: string; message?: string }
          error = `${e.responseCode ?? e.code ?? 'error'}: ${String(e.message ?? '').slice(0, 200)}`
        }
        if (await settle(row.org_id, row.id, claimed.attempts, error, (mailbox as Mailbox).domain, row.kind)) settled++
      }
      return settled
    },

    async fanOut() {
      const refused = orgsNotServed(db)
      const batches = await withOwner(db, (trx) =>
        trx
          .selectFrom('notifications')
          .select(['batch_id', 'org_id'])
          .distinct()
          .$if(refused.length > 0, (q) => q.where('org_id', 'not in', refused))
          .where('fanned_out_at', 'is', null)
          .where('batch_id', 'is not', null)
          .limit(100)
          .execute(),
      )
      for (const { batch_id: batchId, org_id: orgId } of batches) {
        await withOrg(db, orgId, async (trx) => {
          const rows = await trx
            .selectFrom('notifications')
            .selectAll()
            .where('batch_id', '=', batchId)
            .where('fanned_out_at', 'is', null)
            .forUpdate()
            .skipLocked()
            .execute()
          const first = rows[0]
          if (first === undefined) return
          await deps.webhooks.enqueue(trx, orgId, 'notifications', {
            notification: {
              kind: first.kind,
              subject: first.subject,
              body: first.body,
              data: first.data,
              createdAt: first.created_at.toISOString(),
              recipients: rows.length,
            },
          })
          await trx
            .updateTable('notifications')
            .set({ fanned_out_at: clock() })
            .where('batch_id', '=', batchId)
            .execute()
        })
      }
      return batches.length
    },
  }
}
