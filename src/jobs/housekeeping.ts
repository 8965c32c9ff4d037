import { sql, type Kysely } from 'kysely'
import type { Clock } from '../clock.ts'
import type { DB } from '../db/schema.ts'
import { withOwner } from '../db/tenant.ts'

/**
 * Deletes short-lived links once they have ended, so they neither pile up with an org's
 * history nor outlive their use (data minimisation, GDPR Art. 5(1)(c) and (e)). Their
 * issuance and use stay in the audit log; only the rows that let a link work go.
 *
 * Each kind is read through an index over the moment its rows end (migration 0047), a
 * batch at a time: a run's cost follows the rows due, never the tables' size. Runs across
 * orgs, as the owner (the rows are not read, only deleted); several processes may run it
 * at once (`SKIP LOCKED`).
 */
export interface Housekeeping {
  /** One pass over every kind; how many rows of each were deleted. */
  run(): Promise<Record<EndedKind, number>>
}

export type EndedKind = 'consent_page_links' | 'audit_viewer_tokens'

/** Rows deleted per kind and pass; the next pass takes the rest. */
export const HOUSEKEEPING_BATCH = 1000

/**
 * How long an ended link is kept. Page links are never listed, so they go at once; viewer
 * tokens stay in the org's list of tokens (`GET …/audit/viewer-tokens`) for 30 days after
 * they expire.
 */
export const KEEP_ENDED_MS: Record<EndedKind, number> = {
  consent_page_links: 0,
  audit_viewer_tokens: 30 * 24 * 3_600_000,
}

export function createHousekeeping(deps: { db: Kysely<DB>; clock: Clock }): Housekeeping {
  const { db, clock } = deps

  // Each statement deletes at most one batch, oldest first, through its partial index.
  const purge: Record<EndedKind, (before: Date) => Promise<number>> = {
    consent_page_links: async (before) => {
      const unopened = await deleteBatch(
        db,
        sql`SELECT id FROM consent_page_links WHERE opened_at IS NULL AND expires_at <= ${before}
            ORDER BY expires_at LIMIT ${HOUSEKEEPING_BATCH} FOR UPDATE SKIP LOCKED`,
        'consent_page_links',
      )
      const sessions = await deleteBatch(
        db,
        sql`SELECT id FROM consent_page_links WHERE session_expires_at IS NOT NULL AND session_expires_at <= ${before}
            ORDER BY session_expires_at LIMIT ${HOUSEKEEPING_BATCH} FOR UPDATE SKIP LOCKED`,
        'consent_page_links',
      )
      return unopened + sessions
    },
    audit_viewer_tokens: (before) =>
      deleteBatch(
        db,
        sql`SELECT id FROM audit_viewer_tokens WHERE expires_at <= ${before}
            ORDER BY expires_at LIMIT ${HOUSEKEEPING_BATCH} FOR UPDATE SKIP LOCKED`,
        'audit_viewer_tokens',
      ),
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

async function deleteBatch(db: Kysely<DB>, due: ReturnType<typeof sql>, table: EndedKind): Promise<number> {
  return withOwner(db, async (trx) => {
    const result = await sql`DELETE FROM ${sql.table(table)} WHERE id IN (${due})`.execute(trx)
    return Number(result.numAffectedRows ?? 0)
  })
}
