import pg from 'pg'

/**
 * Named prepared statements for node-postgres connections: PostgreSQL plans a statement once
 * per connection instead of on every request.
 *
 * Kysely's PostgreSQL dialect sends every statement unnamed, so the server parses, analyses
 * and plans it on each execution; for the credential lookup planning costs six times what
 * executing it does (docs/benchmarks.md, "Prepared statements"). Here, each client of the
 * pool keeps the texts of its recent parameterised statements under names of its own:
 * node-postgres sends Parse for a name once per client (its `parsedStatements`), and later
 * executions only Bind and Execute it. After five executions PostgreSQL uses the generic
 * plan when its estimated cost is no worse than the custom plans' (`plan_cache_mode`), and
 * from then on does not plan at all.
 *
 * What is named: statements with at least one parameter that begin with SELECT, INSERT,
 * UPDATE, DELETE or WITH. Statements without parameters stay unnamed and are sent with the
 * simple protocol, as before: transaction control, DDL, the multi-statement BEGIN batch of
 * `withOrg`, migrations.
 *
 * - Bounded: at most `capacity` statements per connection, least recently used dropped
 *   first. A dropped statement is closed with the protocol's Close message, written in front
 *   of the next statement sent: no round trip of its own, valid even in a failed
 *   transaction, and tracked by PgBouncer, unlike SQL `DEALLOCATE` (which PgBouncer passes
 *   to the server, where the client's name does not exist).
 * - A statement whose Parse fails (a syntax error, an unknown column, a failed transaction)
 *   is not remembered: node-postgres records a name as parsed only on ParseComplete, and
 *   this cache drops the text when the name was not recorded.
 * - Names are never reused on a connection (`custodian_<n>`, counting up), so no name can
 *   refer to another text, whatever happened to an earlier statement of that name.
 * - A schema change that changes a cached statement's result columns (`ALTER TABLE … ADD
 *   COLUMN` under a `SELECT *`) makes PostgreSQL refuse the statement ("cached plan must not
 *   change result type", SQLSTATE 0A000). The connection then forgets every statement it
 *   holds (a migration rarely changes one table only), so each connection fails at most
 *   once per schema change. The refusal comes before execution, so nothing was written:
 *   outside a transaction the statement is sent again at once and succeeds; inside one the
 *   error fails the transaction, as any database error does, and the transaction's next
 *   attempt prepares afresh.
 *
 * Poolers: PgBouncer in transaction mode supports protocol-level named statements from
 * version 1.21 with `max_prepared_statements` > 0; before that, turn this off
 * (`CUSTODIAN_DB_PREPARED_STATEMENTS=off`, docs/operations.md).
 */
export function prepareStatements(client: pg.Client, capacity: number): void {
  const send = client.query.bind(client) as (query: unknown, values?: unknown, callback?: unknown) => unknown
  const cache = new StatementCache(capacity)
  const named = async (text: string, values: unknown[], retried: boolean): Promise<pg.QueryResult> => {
    // Captured before sending: node-postgres reports an error before the server's
    // ReadyForQuery, which carries the transaction status after it.
    const inTransaction = client.getTransactionStatus() !== 'I'
    const name = cache.nameFor(text)
    const query = new NamedQuery(name, text, values, cache.takeClosing())
    try {
      send(query)
      return await query.result
    } catch (error) {
      const parsed = parsedStatements(client)
      if (parsed !== undefined && parsed[name] === undefined) cache.forget(text)
      if (!isStalePlan(error)) throw error
      for (const stale of cache.forgetAll()) if (parsed !== undefined) Reflect.deleteProperty(parsed, stale)
      if (inTransaction || retried) throw error
      return named(text, values, true)
    }
  }
  client.query = ((config: unknown, values?: unknown, callback?: unknown) => {
    if (
      typeof config === 'string' &&
      Array.isArray(values) &&
      values.length > 0 &&
      callback === undefined &&
      PREPARABLE.test(config) &&
      client.getTransactionStatus() !== 'E'
    ) {
      return named(config, values, false)
    }
    return send(config, values, callback)
  }) as pg.Client['query']
}

/** Statements worth a name: parameterised reads and writes (DDL and transaction control take no parameters). */
const PREPARABLE = /^\s*(select|insert|update|delete|with)\b/i

/**
 * Statements kept per connection. A request sends a few to a few dozen distinct statements,
 * and the server holds each cached statement's parse tree and plan: from 10 KiB for a
 * one-table insert to 230 KiB for the six-join credential lookup (docs/benchmarks.md,
 * "Prepared statements"), so 100 bound a connection's cache to a few MiB. A statement
 * beyond the bound costs what every statement cost before: one Parse and plan.
 */
export const PREPARED_STATEMENTS_PER_CONNECTION = 100

/** PostgreSQL's refusal to run a cached statement whose result columns changed under it. */
function isStalePlan(error: unknown): boolean {
  const { code, routine } = (error ?? {}) as { code?: unknown; routine?: unknown }
  return code === '0A000' && routine === 'RevalidateCachedQuery'
}

/**
 * node-postgres's record of the names parsed on a client (an internal of its `Connection`):
 * names this cache drops are removed from it, or it would grow with every name ever used.
 */
function parsedStatements(client: pg.Client): Record<string, string> | undefined {
  return (client as unknown as { connection?: { parsedStatements?: Record<string, string> } }).connection
    ?.parsedStatements
}

/** Texts to names, least recently used first, and the names to close before the next statement. */
class StatementCache {
  readonly #capacity: number
  readonly #names = new Map<string, string>()
  #closing: string[] = []
  #next = 0

  constructor(capacity: number) {
    this.#capacity = capacity
  }

  nameFor(text: string): string {
    const known = this.#names.get(text)
    if (known !== undefined) {
      this.#names.delete(text)
      this.#names.set(text, known)
      return known
    }
    const name = `custodian_${++this.#next}`
    this.#names.set(text, name)
    if (this.#names.size > this.#capacity) {
      const [oldest, oldestName] = this.#names.entries().next().value as [string, string]
      this.#names.delete(oldest)
      this.#closing.push(oldestName)
    }
    return name
  }

  /** A statement that was never prepared (its Parse failed or was not reached). */
  forget(text: string): void {
    this.#names.delete(text)
  }

  /** Drops every statement: they are closed before the next one; their names. */
  forgetAll(): string[] {
    const names = [...this.#names.values()]
    this.#closing.push(...names)
    this.#names.clear()
    return names
  }

  takeClosing(): string[] {
    const closing = this.#closing
    this.#closing = []
    return closing
  }
}

interface WireConnection {
  stream: { cork?: () => void; uncork?: () => void }
  parsedStatements: Record<string, string>
  close(message: { type: 'S'; name: string }): void
}

/**
 * A node-postgres query sent as a named statement, preceded by Close messages for the
 * statements the cache dropped; all in one write with the query's Parse, Bind, Execute and
 * Sync. The server answers each Close with CloseComplete, which node-postgres ignores.
 */
class NamedQuery extends pg.Query {
  /** Settles when the server has answered (node-postgres calls `callback`, untyped in @types/pg). */
  readonly result: Promise<pg.QueryResult>

  constructor(name: string, text: string, values: unknown[], closing: string[]) {
    super({ name, text, values })
    this.result = new Promise((resolve, reject) => {
      ;(this as unknown as { callback: (error: Error | null, result: pg.QueryResult) => void }).callback = (
        error,
        result,
      ) => (error ? reject(error) : resolve(result))
    })
    const submit = this.submit.bind(this) as unknown as (connection: WireConnection) => Error | null
    this.submit = ((connection: WireConnection) => {
      if (closing.length === 0) return submit(connection)
      connection.stream.cork?.()
      try {
        for (const old of closing) {
          connection.close({ type: 'S', name: old })
          Reflect.deleteProperty(connection.parsedStatements, old)
        }
        return submit(connection)
      } finally {
        connection.stream.uncork?.()
      }
    }) as unknown as pg.Query['submit']
  }
}
