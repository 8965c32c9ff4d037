import { sql } from 'kysely'
import type { Trx } from '../../db/tenant.ts'
import { localHour } from '../../time-zone.ts'
import type { ChainedEvent, History } from './alert.rules.ts'

type CountFilter = Parameters<History['count']>[0]

/**
 * The rules' questions about history, answered for one batch of chained events (those
 * with seq ≥ `firstSeq`, all in `batch`) with one query per question and key rather than
 * one per event: what came before the batch is read once — the `cap` newest matching
 * events, or the latest reveal at each hour of the day — and the batch itself is counted
 * in memory.
 *
 * The answer is exact "as of the stream" (events chained after this batch are not
 * counted). What was read serves every later question whose window starts no earlier
 * and ends no earlier than everything read; any other question (events chained out of
 * time order, by a slow transaction) is asked of the database directly.
 *
 * Hours of the day are the org's (`timeZone`, an IANA zone both the runtime and PostgreSQL
 * know): `AT TIME ZONE` in SQL, Temporal for the batch in memory.
 */
export function batchHistory(trx: Trx, batch: readonly ChainedEvent[], firstSeq: number, timeZone: string): History {
  const before = new Map<string, { from: number; times: Promise<number[]> }>()
  const hoursBefore = new Map<string, { from: number; latest: Promise<Map<number, number>> }>()

  const matches = (e: ChainedEvent, f: CountFilter) =>
    e.action === f.action &&
    (f.outcome === undefined || e.outcome === f.outcome) &&
    ('actorId' in f.by
      ? e.actorId === f.by.actorId
      : 'ip' in f.by
        ? e.ip === f.by.ip
        : typeof e.details[f.by.detail[0]] === 'string' && e.details[f.by.detail[0]] === f.by.detail[1])
  const within = (t: number, from: Date, to: Date) => t > from.getTime() && t <= to.getTime()
  const matchSql = (f: CountFilter) =>
    'actorId' in f.by
      ? sql`actor_id = ${f.by.actorId}`
      : 'ip' in f.by
        ? sql`ip = ${f.by.ip}`
        : sql`details->>${f.by.detail[0]} = ${f.by.detail[1]}`
  // Chained before the batch: in the chain (migration 0023) at a lower seq.
  const chainedBefore = sql`EXISTS (SELECT 1 FROM audit_chain c WHERE c.id = audit_events.id AND c.seq < ${firstSeq})`
  const outcomeSql = (f: CountFilter) => (f.outcome === undefined ? sql`` : sql`AND outcome = ${f.outcome}`)

  async function earlier(filter: CountFilter, from: Date, cap: number): Promise<number[]> {
    const result = await sql<{ at: Date }>`
      SELECT occurred_at AS at FROM audit_events
       WHERE ${chainedBefore} AND action = ${filter.action} ${outcomeSql(filter)} AND ${matchSql(filter)} AND occurred_at > ${from}
       ORDER BY occurred_at DESC LIMIT ${cap}`.execute(trx)
    return result.rows.map((r) => new Date(r.at).getTime())
  }

  async function countDirectly(filter: CountFilter, from: Date, to: Date, cap: number): Promise<number> {
    const result = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM (
        SELECT 1 FROM audit_events
         WHERE ${chainedBefore} AND action = ${filter.action} ${outcomeSql(filter)} AND ${matchSql(filter)} AND occurred_at > ${from} AND occurred_at <= ${to}
         LIMIT ${cap}) AS recent`.execute(trx)
    return Number(result.rows[0]?.n ?? 0)
  }

  async function latestRevealPerHour(actorId: string, from: Date, to?: Date): Promise<Map<number, number>> {
    const result = await sql<{ h: number; at: Date }>`
      SELECT extract(hour FROM occurred_at AT TIME ZONE ${timeZone})::int AS h, max(occurred_at) AS at FROM audit_events
       WHERE ${chainedBefore} AND action = 'secret.reveal' AND outcome = 'success' AND actor_id = ${actorId} AND occurred_at > ${from}
         ${to === undefined ? sql`` : sql`AND occurred_at <= ${to}`}
       GROUP BY 1`.execute(trx)
    return new Map(result.rows.map((r) => [Number(r.h), new Date(r.at).getTime()]))
  }

  const reveals = (e: ChainedEvent, actorId: string) =>
    e.action === 'secret.reveal' && e.outcome === 'success' && e.actorId === actorId

  return {
    async count(filter, from, to, cap) {
      const key = JSON.stringify([filter, cap])
      let cached = before.get(key)
      if (cached === undefined) before.set(key, (cached = { from: from.getTime(), times: earlier(filter, from, cap) }))
      const times = await cached.times
      // The `cap` newest earlier events: if `cap` of them fall in a window that ends after
      // all of them, no older one is needed to know the count reaches `cap`.
      const earlierCount =
        from.getTime() >= cached.from && times.every((t) => t <= to.getTime())
          ? times.filter((t) => t > from.getTime()).length
          : await countDirectly(filter, from, to, cap)
      return Math.min(
        cap,
        earlierCount + batch.filter((e) => matches(e, filter) && within(e.time.getTime(), from, to)).length,
      )
    },

    async revealedAtHours(actorId, hours, from, to) {
      let cached = hoursBefore.get(actorId)
      if (cached === undefined)
        hoursBefore.set(actorId, (cached = { from: from.getTime(), latest: latestRevealPerHour(actorId, from) }))
      let latest = await cached.latest
      if (from.getTime() < cached.from || [...latest.values()].some((t) => t > to.getTime()))
        latest = await latestRevealPerHour(actorId, from, to)
      if (hours.some((h) => (latest.get(h) ?? 0) > from.getTime())) return true
      return batch.some(
        (e) => reveals(e, actorId) && within(e.time.getTime(), from, to) && hours.includes(localHour(e.time, timeZone)),
      )
    },

    async revealHours(actorId, from, to) {
      const result = await sql<{ h: number }>`
        SELECT DISTINCT extract(hour FROM occurred_at AT TIME ZONE ${timeZone})::int AS h FROM audit_events
         WHERE action = 'secret.reveal' AND outcome = 'success' AND actor_id = ${actorId} AND occurred_at > ${from} AND occurred_at <= ${to}
         ORDER BY h`.execute(trx)
      return result.rows.map((r) => Number(r.h))
    },
  }
}
