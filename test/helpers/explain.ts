import { AsyncLocalStorage } from 'node:async_hooks'
import { CompiledQuery, type DatabaseConnection, type Dialect, type Driver } from 'kysely'
import { LAST_STATEMENT, OPENS_TRANSACTION } from '../../src/db/prepared.ts'

/**
 * Measures what each statement reads, on the connection that sends it: before a statement
 * runs inside {@link StatementRecorder.record}, the same text with the same parameters runs
 * under `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` — in the same transaction and with the
 * same tenant settings and role, so row-level security and the plan are the request's own.
 * A write is explained inside a savepoint (or a transaction) that is rolled back, so it
 * happens once. Both engines are PostgreSQL, so this works on PGlite too.
 *
 * Statements are attributed through AsyncLocalStorage: only those sent from inside
 * `record(...)` count, never a background job's that happens to run meanwhile.
 */
export interface StatementCost {
  sql: string
  /** Rows the scans produced or filtered out (× loops): what the statement had to read. */
  rows: number
  /** Shared buffers hit or read (8 KiB pages). */
  buffers: number
  /** Rows read per relation, for messages. */
  relations: Record<string, number>
}

export class StatementRecorder {
  readonly #context = new AsyncLocalStorage<StatementCost[]>()

  /** Runs `fn`, returning what every statement it sent read. */
  async record<T>(fn: () => Promise<T>): Promise<{ result: T; statements: StatementCost[] }> {
    const statements: StatementCost[] = []
    const result = await this.#context.run(statements, fn)
    return { result, statements }
  }

  /** The list statements of the current `record` go to, if any. */
  current(): StatementCost[] | undefined {
    return this.#context.getStore()
  }

  /** Wraps a dialect so that its connections report to this recorder. */
  wrapDialect(inner: Dialect): Dialect {
    return {
      createAdapter: () => inner.createAdapter(),
      createIntrospector: (db) => inner.createIntrospector(db),
      createQueryCompiler: () => inner.createQueryCompiler(),
      createDriver: () => instrumentDriver(inner.createDriver(), this),
    }
  }
}

const IN_TRANSACTION = new WeakSet<DatabaseConnection>()

function bindAll<T extends object>(target: T, overrides: Partial<Record<string | symbol, unknown>>): T {
  return new Proxy(target, {
    get(object, property) {
      if (Object.hasOwn(overrides, property)) return overrides[property]
      const value = Reflect.get(object, property, object) as unknown
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(object) : value
    },
  })
}

function instrumentDriver(driver: Driver, recorder: StatementRecorder): Driver {
  const wrapped = new WeakMap<DatabaseConnection, DatabaseConnection>()
  const originals = new WeakMap<DatabaseConnection, DatabaseConnection>()
  const unwrap = (connection: DatabaseConnection) => originals.get(connection) ?? connection
  return bindAll(driver, {
    async acquireConnection() {
      const connection = await driver.acquireConnection()
      let proxy = wrapped.get(connection)
      if (proxy === undefined) {
        proxy = instrumentConnection(connection, recorder)
        wrapped.set(connection, proxy)
        originals.set(proxy, connection)
      }
      return proxy
    },
    async beginTransaction(connection: DatabaseConnection, settings: unknown) {
      await (driver.beginTransaction as (c: DatabaseConnection, s: unknown) => Promise<void>)(connection, settings)
      IN_TRANSACTION.add(unwrap(connection))
    },
    async commitTransaction(connection: DatabaseConnection) {
      IN_TRANSACTION.delete(unwrap(connection))
      await driver.commitTransaction(connection)
    },
    async rollbackTransaction(connection: DatabaseConnection) {
      IN_TRANSACTION.delete(unwrap(connection))
      await driver.rollbackTransaction(connection)
    },
  })
}

function instrumentConnection(connection: DatabaseConnection, recorder: StatementRecorder): DatabaseConnection {
  return bindAll(connection, {
    async executeQuery(query: CompiledQuery) {
      // A transaction's last statement carries its COMMIT (queryInOrg; src/db/prepared.ts,
      // LAST_STATEMENT): measured as itself, and the transaction is over once it has run.
      const last = query.sql.startsWith(LAST_STATEMENT)
      const text = (last ? query.sql.slice(LAST_STATEMENT.length) : query.sql).trim()
      // withOrg opens its transaction with a held statement (src/db/prepared.ts, OPENS_TRANSACTION).
      if (/^begin\b/i.test(text) || text.startsWith(OPENS_TRANSACTION.trim())) IN_TRANSACTION.add(connection)
      else if (/^(commit|rollback)\s*;?$/i.test(text)) IN_TRANSACTION.delete(connection)
      const sink = recorder.current()
      if (sink !== undefined && /^(select|with|insert|update|delete)\b/i.test(text) && !/\bset_config\(/i.test(text)) {
        sink.push(await explain(connection, { ...query, sql: text }))
      }
      try {
        return await connection.executeQuery(query)
      } finally {
        if (last) IN_TRANSACTION.delete(connection)
      }
    },
  })
}

async function explain(connection: DatabaseConnection, query: CompiledQuery): Promise<StatementCost> {
  const writes =
    /\b(insert|update|delete)\b/i.test(query.sql) || /\bfor\s+(update|share|no key update)\b/i.test(query.sql)
  const inTransaction = IN_TRANSACTION.has(connection)
  const run = (text: string) => connection.executeQuery(CompiledQuery.raw(text))
  const guard = inTransaction
    ? ['SAVEPOINT row_bound', 'ROLLBACK TO SAVEPOINT row_bound; RELEASE SAVEPOINT row_bound']
    : writes
      ? ['BEGIN', 'ROLLBACK']
      : undefined
  if (guard !== undefined) await run(guard[0] as string)
  try {
    const result = await connection.executeQuery<Record<string, unknown>>(
      CompiledQuery.raw(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${query.sql}`, [...query.parameters]),
    )
    let plan = Object.values(result.rows[0] ?? {})[0]
    if (typeof plan === 'string') plan = JSON.parse(plan)
    const top = (plan as { Plan: PlanNode }[])[0]?.Plan as PlanNode
    const relations: Record<string, number> = {}
    const rows = rowsRead(top, relations)
    return {
      sql: query.sql,
      rows,
      buffers: (top['Shared Hit Blocks'] ?? 0) + (top['Shared Read Blocks'] ?? 0),
      relations,
    }
  } catch (error) {
    // The statement itself will fail the same way when it runs next; nothing to measure.
    return { sql: `${query.sql} -- not measured: ${(error as Error).message}`, rows: 0, buffers: 0, relations: {} }
  } finally {
    if (guard !== undefined) {
      for (const statement of (guard[1] as string).split('; ')) await run(statement)
    }
  }
}

interface PlanNode {
  'Node Type': string
  'Relation Name'?: string
  'Index Name'?: string
  'Plan Rows'?: number
  'Actual Rows'?: number
  'Actual Loops'?: number
  'Rows Removed by Filter'?: number
  'Rows Removed by Index Recheck'?: number
  'Rows Removed by Join Filter'?: number
  'Shared Hit Blocks'?: number
  'Shared Read Blocks'?: number
  Plans?: PlanNode[]
}

/**
 * Rows every scan of the plan returned or threw away, summed over its loops. The system
 * catalogs (`pg_*`) are left out: their size follows the schema, not the data.
 */
function rowsRead(node: PlanNode, relations: Record<string, number>): number {
  let total = 0
  if (node['Relation Name'] !== undefined && !node['Relation Name'].startsWith('pg_')) {
    const perLoop =
      (node['Actual Rows'] ?? 0) + (node['Rows Removed by Filter'] ?? 0) + (node['Rows Removed by Index Recheck'] ?? 0)
    const rows = Math.round(perLoop * (node['Actual Loops'] ?? 1))
    const key = `${node['Relation Name']} (${node['Node Type']}${node['Index Name'] === undefined ? '' : ` ${node['Index Name']}`}, estimated ${node['Plan Rows']})`
    relations[key] = (relations[key] ?? 0) + rows
    total += rows
  }
  for (const child of node.Plans ?? []) total += rowsRead(child, relations)
  return total
}
