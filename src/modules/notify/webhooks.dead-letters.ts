import type { Kysely } from 'kysely'
import type { DB } from '../../db/schema.ts'
import { withOwner, type Trx, orgsNotServed } from '../../db/tenant.ts'
import { AppError } from '../../errors.ts'

/**
 * Dead letters (issue 13). A delivery given up after its last attempt keeps its sealed
 * payload for `CUSTODIAN_WEBHOOK_DEAD_LETTER_HOURS`, so an admin can send it again once the
 * receiver is back; then the payload is erased with its key, as a delivered one's is at
 * once. Never held:
 *
 * - `erasure.requested`: it names a subject Custodian erased, and the erasure certificate
 *   is issued once every such delivery is settled — its payload must be gone by then;
 * - a delivery whose webhook was removed: there is nowhere to send it again.
 */
export const NEVER_HELD: ReadonlySet<string> = new Set(['erasure.requested'])

/** Whether a delivery being dead-lettered now keeps its payload for a retry. */
export function holdsPayload(event: string, webhookRemoved: boolean): boolean {
  return !webhookRemoved && !NEVER_HELD.has(event)
}

/** Until when a dead letter may be retried, or null when it may not (its payload is gone). */
export function retryableUntil(
  row: { status: string; kek_version: number | null; dead_lettered_at: Date | null },
  holdMs: number,
): Date | null {
  if (row.status !== 'failed' || row.kek_version === null || row.dead_lettered_at === null) return null
  return new Date(row.dead_lettered_at.getTime() + holdMs)
}

/** What a retry changed: the delivery as it was before and after. */
export interface Requeued {
  before: { attempts: number; lastStatus: number | null; lastError: string | null; deadLetteredAt: Date }
  row: { id: string; webhook_name: string; destination: string; event: string; retries: number }
}

/**
 * Queues a dead letter again with a fresh budget of attempts, in the caller's transaction
 * (which also writes the audit event). The row is locked first: of concurrent retries one
 * requeues it, the others find it pending and get 409, so it is sent once more, not twice.
 *
 * Errors: NOT_FOUND (no such delivery in the org), CONFLICT (not dead-lettered: pending or
 * delivered), WEBHOOK_PAYLOAD_ERASED (dead-lettered, but its payload is gone).
 */
export async function requeueDeadLetter(trx: Trx, id: string, now: Date, holdMs: number): Promise<Requeued> {
  const found = await trx
    .selectFrom('webhook_deliveries')
    .selectAll()
    .where('id', '=', id)
    .forUpdate()
    .executeTakeFirst()
  if (found === undefined) throw new AppError('NOT_FOUND', 'no such webhook delivery')
  if (found.status !== 'failed' || found.dead_lettered_at === null)
    throw new AppError(
      'CONFLICT',
      `this delivery is ${found.status === 'pending' ? 'pending (queued, or being sent)' : 'delivered'}: only a dead-lettered delivery can be retried`,
    )
  const until = retryableUntil(found, holdMs)
  if (until === null || until <= now) {
    const hook = await trx.selectFrom('webhooks').select('id').where('id', '=', found.webhook_id).executeTakeFirst()
    throw new AppError('WEBHOOK_PAYLOAD_ERASED', erasedReason(found.event, hook === undefined))
  }
  const row = await trx
    .updateTable('webhook_deliveries')
    .set((eb) => ({
      status: 'pending',
      attempts: 0,
      retries: eb('retries', '+', 1),
      next_attempt_at: now,
      dead_lettered_at: null,
    }))
    .where('id', '=', id)
    .returning(['id', 'webhook_name', 'destination', 'event', 'retries'])
    .executeTakeFirstOrThrow()
  return {
    before: {
      attempts: found.attempts,
      lastStatus: found.last_status,
      lastError: found.last_error,
      deadLetteredAt: found.dead_lettered_at,
    },
    row,
  }
}

function erasedReason(event: string, webhookGone: boolean): string {
  if (NEVER_HELD.has(event))
    return 'an erasure notice names the erased subject: its payload was erased when it was given up, and it cannot be sent again'
  if (webhookGone) return 'its webhook was removed: the payload was erased, and there is nowhere to send it again'
  return 'its payload was erased: dead letters are kept for CUSTODIAN_WEBHOOK_DEAD_LETTER_HOURS, then erased'
}

/** Dead letters erased by one run of the webhook worker, at most (the rest wait for the next). */
const EXPIRE_BATCH = 100

/**
 * The job: erases the payloads (and their data keys) of dead letters given up before
 * `cutoff`; returns how many. Reads only the held ones (index `webhook_deliveries_held`).
 */
export async function eraseExpiredDeadLetters(db: Kysely<DB>, cutoff: Date): Promise<number> {
  // Spans orgs: the owner connection, as the worker's other passes.
  const refused = orgsNotServed(db) // P8.1: a refused org's dead letters are left as they are
  return withOwner(db, async (trx) => {
    const erased = await trx
      .updateTable('webhook_deliveries')
      .set({ sealed: null, wrapped_key: null, kek_version: null })
      .where('id', 'in', (eb) =>
        eb
          .selectFrom('webhook_deliveries')
          .select('id')
          .where('status', '=', 'failed')
          .$if(refused.length > 0, (q) => q.where('org_id', 'not in', refused))
          .where('kek_version', 'is not', null)
          .where('dead_lettered_at', '<=', cutoff)
          .orderBy('dead_lettered_at')
          .limit(EXPIRE_BATCH),
      )
      .executeTakeFirst()
    return Number(erased.numUpdatedRows)
  })
}

/** Erases the held payloads of a removed webhook's dead letters, in the removal's transaction. */
export async function eraseDeadLettersOf(trx: Trx, webhookId: string): Promise<void> {
  await trx
    .updateTable('webhook_deliveries')
    .set({ sealed: null, wrapped_key: null, kek_version: null })
    .where('webhook_id', '=', webhookId)
    .where('status', '=', 'failed')
    .where('kek_version', 'is not', null)
    .execute()
}
