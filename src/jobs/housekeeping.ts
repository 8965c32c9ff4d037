import { sql, type Kysely } from 'kysely'
import type { Clock } from '../clock.ts'
import type { DB } from '../db/schema.ts'
import { orgsNotServed, withOwner } from '../db/tenant.ts'
import { EVIDENCE_WINDOW_DAYS } from '../modules/compliance/evidence.ts'

/**
 * Deletes short-lived links once they have ended, so they neither pile up with an org's
 * history nor outlive their use (data minimisation, GDPR Art. 5(1)(c) and (e)). Their
 * issuance and use stay in the audit log; only the rows that let a link work go. Compliance
 * runs and verdict changes go once they are older than the evidence window (400 days):
 * what an evidence bundle or a report can still cover is kept, and an org's compliance
 * tables stop growing with its age.
 *
 * Each kind is read through an index over the moment its rows end (migration 0047), a
 * batch at a time: a run's cost follows the rows due, never the tables' size. Runs across
 * orgs, as the owner (the rows are not read, only deleted); several processes may run it
 * at once (`SKIP LOCKED`). An org rollback detection refuses (P8.1) is left as it is until
 * its rollback is acknowledged.
 */
export interface Housekeeping {
  /** One pass over every kind; how many rows of each were deleted. */
  run(): Promise<Record<EndedKind, number>>
}

export type EndedKind = 'consent_page_links' | 'audit_viewer_tokens' | 'compliance_runs' | 'compliance_history'

/** Rows deleted per kind and pass; the next pass takes the rest. */
export const HOUSEKEEPING_BATCH = 1000

const DAY_MS = 24 * 3_600_000

/**
 * How long an ended row is kept (milliseconds). Page links are never listed, so they go at
 * once; viewer tokens stay in the org's list of tokens (`GET …/audit/viewer-tokens`) for 30
 * days after they expire; compliance runs (from their start) and verdict changes (from
 * their evaluation) for the evidence window.
 */
export const KEEP_ENDED_MS: Record<EndedKind, number> = {
  consent_page_links: 0,
  audit_viewer_tokens: 30 * DAY_MS,
  compliance_runs: EVIDENCE_WINDOW_DAYS * DAY_MS,
  compliance_history: EVIDENCE_WINDOW_DAYS * DAY_MS,
}

export function createHousekeeping(deps: { db: Kysely<DB>; clock: Clock }): Housekeeping {
  const { db, clock } = deps

  // Each statement deletes at most one batch, oldest first, through its partial index.
  const purge: Record<EndedKind, (before: Date) => Promise<number>> = {
    consent_page_links: async (before) => {
      const served = servedOnly(orgsNotServed(db))
      const unopened = await deleteBatch(
        db,
        sql`SELECT id FROM consent_page_links WHERE opened_at IS NULL AND expires_at <= ${before} ${served}
            ORDER BY expires_at LIMIT ${HOUSEKEEPING_BATCH} FOR UPDATE SKIP LOCKED`,
        'consent_page_links',
      )
      const sessions = await deleteBatch(
        db,
        sql`SELECT id FROM consent_page_links WHERE session_expires_at IS NOT NULL AND session_expires_at <= ${before} ${served}
            ORDER BY session_expires_at LIMIT ${HOUSEKEEPING_BATCH} FOR UPDATE SKIP LOCKED`,
        'consent_page_links',
      )
      return unopened + sessions
    },
    audit_viewer_tokens: (before) => deleteEndedBefore(db, 'audit_viewer_tokens', 'expires_at', before),
    compliance_runs: (before) => deleteEndedBefore(db, 'compliance_runs', 'started_at', before),
    compliance_history: (before) => deleteEndedBefore(db, 'compliance_history', 'ran_at', before),
  }

  return {
    async run() {
      const now = clock().getTime()
      const deleted = {} as Record<EndedKind, number>
      for (const kind of Object.keys(purge) as EndedKind[])
        deleted[kind] = await purge[kind](new Date(now - KEEP_ENDED_MS[kind]))
      return deleted
    },
  }
}

/** One batch of `table`'s rows whose `column` is at or before `before`, oldest first, through its index on `column`. */
function deleteEndedBefore(
  db: Kysely<DB>,
  table: Exclude<EndedKind, 'consent_page_links'>,
  column: 'expires_at' | 'started_at' | 'ran_at',
  before: Date,
): Promise<number> {
  return deleteBatch(
    db,
    sql`SELECT id FROM ${sql.table(table)} WHERE ${sql.ref(column)} <= ${before} ${servedOnly(orgsNotServed(db))}
        ORDER BY ${sql.ref(column)} LIMIT ${HOUSEKEEPING_BATCH} FOR UPDATE SKIP LOCKED`,
    table,
  )
}

/** The condition leaving out the orgs not served now (P8.1), or nothing when every org is. */
function servedOnly(refused: readonly string[]) {
  return refused.length > 0 ? sql`AND org_id NOT IN (${sql.join(refused)})` : sql``
}

async function deleteBatch(db: Kysely<DB>, due: ReturnType<typeof sql>, table: EndedKind): Promise<number> {
  return withOwner(db, async (trx) => {
    const result = await sql`DELETE FROM ${sql.table(table)} WHERE id IN (${due})`.execute(trx)
    return Number(result.numAffectedRows ?? 0)
  })
}
