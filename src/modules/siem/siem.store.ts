import type { Insertable, Selectable } from 'kysely'
import type { Trx } from '../../db/tenant.ts'
import type { SiemDeadLettersTable, SiemDestinationsTable } from './siem.tables.ts'

/** SQL of SIEM destinations. Every function takes the transaction first (an org's, unless named owner). */

export type DestinationRow = Selectable<SiemDestinationsTable>
export type DeadLetterRow = Selectable<SiemDeadLettersTable>

export async function insertDestination(trx: Trx, row: Insertable<SiemDestinationsTable>): Promise<DestinationRow> {
  return trx.insertInto('siem_destinations').values(row).returningAll().executeTakeFirstOrThrow()
}

export async function findDestination(trx: Trx, id: string, lock = false): Promise<DestinationRow | undefined> {
  const query = trx.selectFrom('siem_destinations').selectAll().where('id', '=', id)
  return (lock ? query.forUpdate() : query).executeTakeFirst()
}

export async function deleteDestination(trx: Trx, id: string): Promise<DestinationRow | undefined> {
  return trx.deleteFrom('siem_destinations').where('id', '=', id).returningAll().executeTakeFirst()
}

/** The open dead letter of a destination (the batch it stopped at), if any. */
export async function openDeadLetter(trx: Trx, destinationId: string): Promise<DeadLetterRow | undefined> {
  return trx
    .selectFrom('siem_dead_letters')
    .selectAll()
    .where('destination_id', '=', destinationId)
    .where('resolution', 'is', null)
    .executeTakeFirst()
}

/**
 * Active destinations whose next attempt is due and whose lease is free (owner
 * connection: the job spans orgs). Reads the active destinations only, by the partial
 * index `siem_destinations_due`.
 */
export async function dueDestinations(
  trx: Trx,
  now: Date,
  limit: number,
  refused: readonly string[],
): Promise<{ id: string; org_id: string; cursor_seq: number }[]> {
  return trx
    .selectFrom('siem_destinations')
    .select(['id', 'org_id', 'cursor_seq'])
    .where('state', '=', 'active')
    .$if(refused.length > 0, (q) => q.where('org_id', 'not in', refused))
    .where('next_attempt_at', '<=', now)
    .where((eb) => eb.or([eb('leased_until', 'is', null), eb('leased_until', '<', now)]))
    .orderBy('next_attempt_at')
    .limit(limit)
    .execute()
}

/**
 * Takes the destination's lease (one process sends to it at a time): an atomic update
 * that succeeds only when it is active, due and its lease free or expired. Returns the
 * row with the new token, or undefined.
 */
export async function lease(
  trx: Trx,
  id: string,
  token: string,
  now: Date,
  until: Date,
): Promise<DestinationRow | undefined> {
  return trx
    .updateTable('siem_destinations')
    .set({ lease_token: token, leased_until: until })
    .where('id', '=', id)
    .where('state', '=', 'active')
    .where('next_attempt_at', '<=', now)
    .where((eb) => eb.or([eb('leased_until', 'is', null), eb('leased_until', '<', now)]))
    .returningAll()
    .executeTakeFirst()
}

/** Gives the lease back unchanged (nothing was sent). */
export async function release(trx: Trx, id: string, token: string): Promise<void> {
  await trx
    .updateTable('siem_destinations')
    .set({ lease_token: null, leased_until: null })
    .where('id', '=', id)
    .where('lease_token', '=', token)
    .execute()
}

/**
 * The destination acknowledged events up to `lastSeq`: the cursor moves there, in the
 * same statement that checks the lease is still ours (a process whose lease was taken
 * can never move the cursor). False when the lease was lost.
 */
export async function acknowledge(
  trx: Trx,
  id: string,
  token: string,
  result: { lastSeq: number; count: number; status: number | null; now: Date },
): Promise<boolean> {
  const row = await trx
    .updateTable('siem_destinations')
    .set((eb) => ({
      cursor_seq: result.lastSeq,
      delivered_events: eb('delivered_events', '+', result.count),
      attempts: 0,
      next_attempt_at: result.now,
      lease_token: null,
      leased_until: null,
      last_attempt_at: result.now,
      last_delivered_at: result.now,
      last_status: result.status,
      last_error: null,
    }))
    .where('id', '=', id)
    .where('lease_token', '=', token)
    .where('cursor_seq', '<', result.lastSeq)
    .returning('id')
    .executeTakeFirst()
  return row !== undefined
}

/**
 * An attempt failed: counted, the next one scheduled, or — `deadLetter` — the batch is
 * given up: the destination stops at it. False when the lease was lost.
 */
export async function recordFailure(
  trx: Trx,
  id: string,
  token: string,
  result: { attempts: number; status: number | null; error: string; now: Date; nextAttemptAt: Date; stop: boolean },
): Promise<boolean> {
  const row = await trx
    .updateTable('siem_destinations')
    .set({
      attempts: result.attempts,
      next_attempt_at: result.nextAttemptAt,
      lease_token: null,
      leased_until: null,
      last_attempt_at: result.now,
      last_status: result.status,
      last_error: result.error,
      ...(result.stop ? { state: 'stopped' as const } : {}),
    })
    .where('id', '=', id)
    .where('lease_token', '=', token)
    .returning('id')
    .executeTakeFirst()
  return row !== undefined
}

export async function insertDeadLetter(trx: Trx, row: Insertable<SiemDeadLettersTable>): Promise<void> {
  await trx.insertInto('siem_dead_letters').values(row).execute()
}

export async function resolveDeadLetter(
  trx: Trx,
  id: string,
  resolution: 'retried' | 'skipped',
  by: string,
  now: Date,
): Promise<void> {
  await trx
    .updateTable('siem_dead_letters')
    .set({ resolution, resolved_at: now, resolved_by: by })
    .where('id', '=', id)
    .execute()
}

/** Sets the state (pause, resume, skip), the attempt counter back to zero on resume. */
export async function setState(
  trx: Trx,
  id: string,
  change: { state: 'active' | 'paused'; now: Date; cursorSeq?: number | undefined },
): Promise<void> {
  await trx
    .updateTable('siem_destinations')
    .set({
      state: change.state,
      updated_at: change.now,
      ...(change.state === 'active' ? { attempts: 0, next_attempt_at: change.now } : {}),
      ...(change.cursorSeq === undefined ? {} : { cursor_seq: change.cursorSeq }),
    })
    .where('id', '=', id)
    .execute()
}
