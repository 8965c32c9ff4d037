import { sql, type Kysely } from 'kysely'
import type { Engine } from './connect.ts'
import type { DB } from './schema.ts'

/**
 * Whether the database keeps its own statistics and dead rows in check (issue 20).
 *
 * Without table statistics PostgreSQL estimates an org's rows at a fraction of a percent
 * of a table and prefers a bitmap scan and a sort to an index's order: a page then reads
 * every row of the org (measured: the events page at 157 ms instead of 0.35 ms). And queues
 * (the audit sequencer's `audit_unchained`, the delivery outboxes) leave dead rows behind
 * until vacuumed. Autovacuum does both; this says when it is not running.
 *
 * Returns `'ok'`, or what is off and what to do (docs: README, "Keeping the database healthy").
 */
export async function autovacuumStatus(db: Kysely<DB>, engine: Engine): Promise<string> {
  if (engine === 'pglite')
    return 'embedded database: no autovacuum runs; use PostgreSQL in production (see README, Keeping the database healthy)'
  const settings = await sql<{
    name: string
    setting: string
  }>`SELECT name, setting FROM pg_settings WHERE name IN ('autovacuum', 'track_counts')`.execute(db)
  const off = settings.rows.filter((row) => row.setting !== 'on').map((row) => row.name)
  if (off.length > 0)
    return `${off.join(' and ')} off for the database: statistics and dead rows are not kept in check; turn it on or run VACUUM ANALYZE regularly`
  const tables = await sql<{ relname: string }>`
    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.reloptions @> ARRAY['autovacuum_enabled=false']
     ORDER BY c.relname`.execute(db)
  if (tables.rows.length > 0)
    return `autovacuum off for tables: ${tables.rows.map((row) => row.relname).join(', ')}; turn it on (ALTER TABLE … RESET (autovacuum_enabled)) or run VACUUM ANALYZE regularly`
  return 'ok'
}
