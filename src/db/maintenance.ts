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
    return 'embedded database: no autovacuum runs; the embedded maintenance job analyzes and vacuums tables as they change (see README, Keeping the database healthy)'
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

/** What one maintenance run did: the tables it analyzed and those it vacuumed. */
export interface MaintenanceRun {
  analyzed: string[]
  vacuumed: string[]
}

interface TableActivity {
  relname: string
  /** pg_class.reltuples: rows at the last VACUUM or ANALYZE, -1 if never. */
  reltuples: number
  /** Whether the table's main fork has any page (a never-analyzed table with data). */
  has_pages: boolean
  n_mod_since_analyze: number
  n_dead_tup: number
  n_ins_since_vacuum: number
}

/**
 * Autovacuum's decision, made by the service for the embedded database (PGlite runs
 * PostgreSQL as a single process: no autovacuum launcher, no workers), from the same
 * activity counters (`pg_stat_user_tables`, which PGlite keeps) and the same settings and
 * formulas (PostgreSQL's "The Autovacuum Daemon"):
 * - ANALYZE when rows changed since the last ANALYZE exceed
 *   `autovacuum_analyze_threshold + autovacuum_analyze_scale_factor × reltuples`, or when a
 *   table holding data was never analyzed (a restored or freshly loaded database, or
 *   counters lost with an unclean stop);
 * - VACUUM when dead rows exceed `autovacuum_vacuum_threshold +
 *   autovacuum_vacuum_scale_factor × reltuples`, or rows inserted since the last VACUUM
 *   exceed the insert threshold and scale factor (keeps the visibility map current).
 * So a run costs in proportion to what changed: one catalog query when nothing did, and
 * ANALYZE reads a bounded sample (300 × default_statistics_target rows) of a table.
 *
 * Tables are handled one statement at a time, at most `maxTables` per run, so the single
 * embedded connection is never held for more than one table's VACUUM or ANALYZE: requests
 * queue behind that statement only. Works on PostgreSQL too (tests), where autovacuum
 * normally does this.
 */
export async function maintainTables(db: Kysely<DB>, options: { maxTables?: number } = {}): Promise<MaintenanceRun> {
  const settings = Object.fromEntries(
    (
      await sql<{ name: string; setting: string }>`
        SELECT name, setting FROM pg_settings
         WHERE name IN ('autovacuum_analyze_threshold', 'autovacuum_analyze_scale_factor',
                        'autovacuum_vacuum_threshold', 'autovacuum_vacuum_scale_factor',
                        'autovacuum_vacuum_insert_threshold', 'autovacuum_vacuum_insert_scale_factor')`.execute(db)
    ).rows.map((row) => [row.name, Number(row.setting)]),
  )
  const setting = (name: string, fallback: number) => settings[name] ?? fallback
  const tables = await sql<TableActivity>`
    SELECT s.relname, c.reltuples, pg_relation_size(s.relid) > 0 AS has_pages, s.n_mod_since_analyze, s.n_dead_tup, s.n_ins_since_vacuum
      FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
     WHERE s.schemaname = current_schema()
     ORDER BY s.n_mod_since_analyze + s.n_dead_tup DESC, s.relname`.execute(db)
  const run: MaintenanceRun = { analyzed: [], vacuumed: [] }
  let handled = 0
  for (const table of tables.rows) {
    if (handled >= (options.maxTables ?? 8)) break
    const rows = Math.max(Number(table.reltuples), 0)
    const neverAnalyzed = Number(table.reltuples) < 0 && table.has_pages
    const analyze =
      neverAnalyzed ||
      Number(table.n_mod_since_analyze) >
        setting('autovacuum_analyze_threshold', 50) + setting('autovacuum_analyze_scale_factor', 0.1) * rows
    const vacuum =
      Number(table.n_dead_tup) >
        setting('autovacuum_vacuum_threshold', 50) + setting('autovacuum_vacuum_scale_factor', 0.2) * rows ||
      Number(table.n_ins_since_vacuum) >
        setting('autovacuum_vacuum_insert_threshold', 1000) +
          setting('autovacuum_vacuum_insert_scale_factor', 0.2) * rows
    if (!analyze && !vacuum) continue
    handled++
    const name = sql.id(table.relname)
    if (vacuum) await sql`VACUUM (ANALYZE ${sql.raw(analyze ? 'true' : 'false')}) ${name}`.execute(db)
    else await sql`ANALYZE ${name}`.execute(db)
    if (analyze) run.analyzed.push(table.relname)
    if (vacuum) run.vacuumed.push(table.relname)
  }
  return run
}
