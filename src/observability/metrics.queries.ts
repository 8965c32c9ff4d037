import { sql, type Kysely } from 'kysely'
import type { DB } from '../db/schema.ts'

/**
 * The queue gauges' reads at scrape time (owner connection: they span orgs). Each reads
 * through the index its queue's worker reads due rows through — `webhook_deliveries_due`,
 * `notifications_due`, `audit_witness_deliveries_due`, `siem_destinations_due`, the primary
 * keys of `audit_unchained` and `audit_chain` — and counts at most {@link DEPTH_CAP} rows, so
 * a scrape costs the same whatever the orgs' history (test/perf/row-bounds.test.ts runs it
 * among the periodic jobs). A deeper queue reads as the cap: the alert is the same.
 */
export const DEPTH_CAP = 10_000

/** The delivery queues, as the `queue` label names them. */
export const QUEUES = ['webhook', 'mail', 'witness', 'siem'] as const
export type Queue = (typeof QUEUES)[number]

export interface Backlog {
  unchained: number
  unchainedAgeSeconds: number
  queues: Record<Queue, { depth: number; lagSeconds: number }>
}

interface Row {
  depth: number | string | null
  lag: number | string | null
}

/** Reads every queue's depth and lag in one round trip per queue. */
export async function collectBacklog(db: Kysely<DB>): Promise<Backlog> {
  // Pending rows (due or waiting for a retry), and how long the earliest due one has been due.
  const pending = (table: 'webhook_deliveries' | 'notifications' | 'audit_witness_deliveries') =>
    sql<Row>`
      SELECT (SELECT count(*) FROM (SELECT 1 FROM ${sql.table(table)} WHERE status = 'pending' LIMIT ${DEPTH_CAP}) q) AS depth,
             (SELECT greatest(0, extract(epoch FROM now() - min(next_attempt_at)))
                FROM ${sql.table(table)} WHERE status = 'pending') AS lag`.execute(db)
  const [webhook, mail, witness, siem, audit] = await Promise.all([
    pending('webhook_deliveries'),
    pending('notifications'),
    pending('audit_witness_deliveries'),
    // Events chained and not yet acknowledged by each active destination, and the age (since
    // chaining) of the oldest one any destination still owes — one primary-key lookup per
    // active destination, at most DEPTH_CAP of them.
    sql<Row>`
      SELECT sum(greatest(0, h.seq - d.cursor_seq)) AS depth,
             greatest(0, max(extract(epoch FROM now() - c.chained_at))) AS lag
        FROM (SELECT org_id, cursor_seq FROM siem_destinations WHERE state = 'active' LIMIT ${DEPTH_CAP}) d
        JOIN audit_heads h ON h.org_id = d.org_id
        LEFT JOIN audit_chain c ON c.org_id = d.org_id AND c.seq = d.cursor_seq + 1`.execute(db),
    sql<Row>`
      SELECT (SELECT count(*) FROM (SELECT 1 FROM audit_unchained LIMIT ${DEPTH_CAP}) q) AS depth,
             (SELECT greatest(0, extract(epoch FROM now() - e.occurred_at))
                FROM audit_events e
               WHERE e.id = (SELECT min(id) FROM (SELECT id FROM audit_unchained LIMIT ${DEPTH_CAP}) q)) AS lag`.execute(
      db,
    ),
  ])
  const read = (result: { rows: Row[] }) => ({
    depth: Math.min(DEPTH_CAP, Number(result.rows[0]?.depth ?? 0)),
    lagSeconds: Number(result.rows[0]?.lag ?? 0),
  })
  const unchained = read(audit)
  return {
    unchained: unchained.depth,
    unchainedAgeSeconds: unchained.lagSeconds,
    queues: { webhook: read(webhook), mail: read(mail), witness: read(witness), siem: read(siem) },
  }
}
