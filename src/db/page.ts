import { sql, type RawBuilder, type SelectQueryBuilder, type Transaction } from 'kysely'
import { AppError } from '../errors.ts'

/**
 * Pages of a list (issue 20): a page is read through an index that starts with the org
 * and follows the page's order, from just after the last row of the previous page (a
 * keyset, never an offset), so a page costs its own rows whatever the list's length, and
 * rows added or removed meanwhile never shift a page (no gaps, no duplicates).
 *
 * The cursor is opaque to clients: base64url of the JSON array of the last row's key,
 * each value in the database's own text form (a timestamp keeps its microseconds, which
 * a JavaScript Date would drop). A cursor that does not decode to the list's key shape is
 * refused with 400, like any other bad input.
 */
export interface PageRequest {
  /** Rows per page: 1–500 (routes default to 100). */
  limit: number
  /** `nextCursor` of the previous page; absent for the first. */
  cursor?: string | undefined
}

export interface Page<T> {
  items: T[]
  /** Where the next page starts; null on the last page. */
  nextCursor: string | null
}

/** SQL types a page key may have; each value is checked before it reaches SQL. */
export type KeyType = 'timestamptz' | 'uuid' | 'text' | 'integer' | 'bytea'

/**
 * One column of a page's key. `oneOf`: the only values the column takes (a kind, or the
 * part of a list read in parts); a cursor with any other value is refused like a malformed one.
 */
export interface PageKey {
  column: string
  type: KeyType
  oneOf?: readonly string[]
}

/** A list's order: key columns that are unique together, all non-null, one direction. */
export interface PageOrder {
  keys: readonly PageKey[]
  direction: 'asc' | 'desc'
}

const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?([+-](\d{2})(?::(\d{2}))?(?::(\d{2}))?|Z)?$/

/** A timestamp PostgreSQL will read back: its own text form, with a date that exists. */
function isTimestamp(text: string): boolean {
  const m = TIMESTAMP.exec(text)
  if (m === null) return false
  const [y, mo, d, h, mi, se, offset, offsetMinutes, offsetSeconds] = [
    m[1],
    m[2],
    m[3],
    m[4],
    m[5],
    m[6],
    m[9],
    m[10],
    m[11],
  ].map((part) => Number(part ?? 0))
  const day = new Date(Date.UTC(y ?? 0, (mo ?? 0) - 1, d ?? 0))
  return (
    (y ?? 0) >= 1 &&
    day.getUTCFullYear() === y &&
    day.getUTCMonth() === (mo ?? 0) - 1 &&
    day.getUTCDate() === d &&
    (h ?? 24) < 24 &&
    (mi ?? 60) < 60 &&
    (se ?? 60) < 60 &&
    (offset ?? 0) <= 15 &&
    (offsetMinutes ?? 0) < 60 &&
    (offsetSeconds ?? 0) < 60
  )
}

const VALID: Record<KeyType, (text: string) => boolean> = {
  timestamptz: isTimestamp,
  uuid: (text) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(text),
  text: (text) => /^[^\p{Cc}]{0,200}$/u.test(text),
  integer: (text) => /^-?\d{1,15}$/.test(text),
  // PostgreSQL's hex form of a short byte string (a keyed reference: 32 bytes).
  bytea: (text) => /^\\x[0-9a-f]{0,128}$/.test(text),
}

function isKeyValue(key: PageKey | undefined, value: string): boolean {
  if (key === undefined || !VALID[key.type](value)) return false
  return key.oneOf === undefined || key.oneOf.includes(value)
}

function invalidCursor(): AppError {
  return new AppError('VALIDATION_FAILED', 'the cursor is not one this API returned', {
    errors: [{ path: '/query/cursor', message: 'invalid cursor' }],
  })
}

/** The key values a cursor carries; 400 (VALIDATION_FAILED) when it is not one of this order's. */
export function decodeCursor(order: PageOrder, cursor: string): string[] {
  let values: unknown
  try {
    values = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    throw invalidCursor()
  }
  if (
    !Array.isArray(values) ||
    values.length !== order.keys.length ||
    !values.every((v, i) => typeof v === 'string' && isKeyValue(order.keys[i], v))
  )
    throw invalidCursor()
  return values as string[]
}

export function encodeCursor(values: readonly string[]): string {
  return Buffer.from(JSON.stringify(values), 'utf8').toString('base64url')
}

/** `(k1, k2) > (v1, v2)` (or `<` newest first): the rows after the cursor in the page's order. */
function after(order: PageOrder, values: readonly string[]): RawBuilder<boolean> {
  const columns = sql.join(order.keys.map((k) => sql.ref(k.column)))
  // A bytea key travels as its hex text (`\x…`), decoded in SQL: a parameter typed bytea
  // would have to be bytes (PGlite refuses text for one).
  const typed = sql.join(
    values.map((v, i) =>
      order.keys[i]?.type === 'bytea'
        ? sql`decode(substr(${v}::text, 3), 'hex')`
        : sql`${v}::${sql.raw(order.keys[i]?.type ?? 'text')}`,
    ),
  )
  return sql<boolean>`(${columns}) ${sql.raw(order.direction === 'asc' ? '>' : '<')} (${typed})`
}

/** Aliases under which a page query returns its key as text. */
const keyAlias = (i: number) => `page_key_${i}` as const

/**
 * One page of `query`: after the cursor, in `order`, `limit + 1` rows (the extra one says
 * whether a next page exists). Pass the result to {@link toPage}.
 */
export function pageOf<D, TB extends keyof D, O>(
  query: SelectQueryBuilder<D, TB, O>,
  order: PageOrder,
  page: PageRequest,
): SelectQueryBuilder<D, TB, O & Record<`page_key_${number}`, string>> {
  let q = query
  if (page.cursor !== undefined) q = q.where(after(order, decodeCursor(order, page.cursor)))
  for (const k of order.keys) q = q.orderBy(sql.ref(k.column), order.direction)
  return q
    .select(order.keys.map((k, i) => sql<string>`${sql.ref(k.column)}::text`.as(keyAlias(i))))
    .limit(page.limit + 1)
}

/** The key of a row read by {@link pageOf}, in the database's text forms: what a cursor after it carries. */
export function keyOf(row: Record<`page_key_${number}`, string>, order: PageOrder): string[] {
  return order.keys.map((_, i) => String(row[keyAlias(i)]))
}

/** The first `limit` rows, and the cursor after the last of them when more follow. */
export function toPage<R extends Record<`page_key_${number}`, string>>(
  rows: R[],
  order: PageOrder,
  limit: number,
): Page<R> {
  const items = rows.slice(0, limit)
  const last = items[items.length - 1]
  return {
    items,
    nextCursor: rows.length > limit && last !== undefined ? encodeCursor(keyOf(last, order)) : null,
  }
}

/** Newest first by `time`, ties broken by `id` (index `(org_id, time, id)`). */
export function newestFirst(time: string, id = 'id'): PageOrder {
  return {
    keys: [
      { column: time, type: 'timestamptz' },
      { column: id, type: 'uuid' },
    ],
    direction: 'desc',
  }
}

/** By a name unique in its org (index `(org_id, name)`). */
export const BY_NAME: PageOrder = { keys: [{ column: 'name', type: 'text' }], direction: 'asc' }

/**
 * Runs `read` (statements of one page) with the planner held to index order: sorts and
 * bitmap scans are disabled for those statements (`enable_sort`, `enable_bitmapscan`, set
 * local to the transaction), then both go back to the server's own values.
 *
 * Why: a page's index (org first, then the page's order) makes the right plan obvious only
 * when the planner knows the table is large. On a table never analyzed (autovacuum off, a
 * fresh restore, PGlite before its maintenance job runs) PostgreSQL estimates an org's rows
 * from its 0.5 % default selectivity and a guessed table size, and a bitmap scan of the
 * whole org plus a top-N sort then looks cheaper than reading the first `limit` rows in
 * index order; that plan reads every row of the org. With both disabled, the ordered
 * index scan is the cheapest plan whatever the statistics say, and a page costs its own
 * rows (test/perf/row-bounds-without-statistics.test.ts). A statement with no index in
 * its order still sorts: the settings discourage a plan, they never forbid one.
 *
 * `trx` must run inside a transaction (a Kysely transaction, or withOrg's connection after
 * its BEGIN): outside one, a local setting would be gone before the page is read. Errors: whatever `read` throws (the settings then end with the
 * transaction it aborts).
 */
export async function inIndexOrder<D, T>(trx: Transaction<D>, read: () => Promise<T>): Promise<T> {
  // The value is a parameter, not a literal: a statement with parameters is named on a
  // PostgreSQL connection (planned once) and, as a withOrg transaction's first statement, is
  // sent with its opening (src/db/prepared.ts).
  await sql`select set_config(name, ${'off'}, true) from pg_settings where name in ('enable_sort', 'enable_bitmapscan')`.execute(
    trx,
  )
  const result = await read()
  await sql`select set_config(name, reset_val, ${true}) from pg_settings where name in ('enable_sort', 'enable_bitmapscan')`.execute(
    trx,
  )
  return result
}

/** {@link pageOf} read in index order ({@link inIndexOrder}) and cut by {@link toPage}. */
export async function readPage<DT, D, TB extends keyof D, O>(
  trx: Transaction<DT>,
  query: SelectQueryBuilder<D, TB, O>,
  order: PageOrder,
  page: PageRequest,
): Promise<Page<O & Record<`page_key_${number}`, string>>> {
  return toPage(await inIndexOrder(trx, () => pageOf(query, order, page).execute()), order, page.limit)
}
