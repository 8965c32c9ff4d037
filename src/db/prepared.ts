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
 * (`CUSTODIAN_DB_PREPARED_STATEMENTS=off`, docs/operations.md): `capacity` 0 names nothing.
 *
 * The wrapper also holds back statements marked {@link WITH_COMMIT} until the transaction's
 * COMMIT (named or not, as above).
 */
export function prepareStatements(client: pg.Client, capacity: number): void {
  const send = client.query.bind(client) as (query: unknown, values?: unknown, callback?: unknown) => unknown
  // The client's type parsers (the pool's `types`: int8 as a number), which node-postgres
  // gives a query only when it is sent through `client.query` — not a batch's next statement.
  const types = (client as unknown as { _types?: unknown })._types
  const cache = capacity > 0 ? new StatementCache(capacity) : undefined
  const named = async (text: string, values: unknown[], retried: boolean): Promise<pg.QueryResult> => {
    if (cache === undefined) return send(text, values) as Promise<pg.QueryResult>
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
      else if (serverState(error) === undefined) {
        // Not the server's refusal: the values could not be serialised, and node-postgres
        // closed the statement (Close) while still listing it as parsed; or the connection
        // is gone. Either way the name must not be bound again.
        cache.forget(text)
        if (parsed !== undefined) Reflect.deleteProperty(parsed, name)
      }
      if (!isStalePlan(error)) throw error
      for (const stale of cache.forgetAll()) if (parsed !== undefined) Reflect.deleteProperty(parsed, stale)
      if (inTransaction || retried) throw error
      return named(text, values, true)
    }
  }
  const direct = (config: unknown, values?: unknown, callback?: unknown): unknown => {
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
  }

  // Statements held back to be sent with the transaction's COMMIT ({@link WITH_COMMIT}) or its
  // next statement ({@link OPENS_TRANSACTION}).
  let held: HeldStatement[] = []
  /** A held statement that failed when sent ahead of a statement with no promise to fail. */
  let heldFailure: DeferredStatementFailed | undefined
  /**
   * `held`: a transaction's BEGIN is held ({@link OPENS_TRANSACTION}), nothing of it sent;
   * `sent`: sent, not yet answered (the connection still reports no transaction); else none.
   */
  let opening: 'held' | 'sent' | undefined
  /**
   * Counts ROLLBACKs: a batch answered after its transaction was rolled back (a caller that
   * gave up while it was in flight) must not leave its failure, or its opening's end, to the
   * connection's next transaction — the pool's next user.
   */
  let generation = 0
  const sendHeld = (
    commit: boolean,
    next?: HeldStatement,
  ): { result: Promise<pg.QueryResult>; next: Promise<pg.QueryResult> } => {
    const statements = held
    held = []
    if (opening === 'held') opening = 'sent'
    const batch = new HeldBatch(statements, commit, cache, next, types)
    send(batch)
    const sentIn = generation
    // Registered before the caller's handlers, so it has run when the caller sees the error.
    batch.result.then(
      () => {
        if (generation === sentIn) opening = undefined
      },
      (error: unknown) => {
        if (generation !== sentIn) return
        opening = undefined
        if (error instanceof DeferredStatementFailed) heldFailure = error
      },
    )
    return { result: batch.result, next: batch.next }
  }
  client.query = ((config: unknown, values?: unknown, callback?: unknown) => {
    if (typeof config === 'string' && callback === undefined && typeof values !== 'function') {
      const statementValues = Array.isArray(values) ? (values as unknown[]) : []
      if (config.startsWith(OPENS_TRANSACTION)) {
        if (client.getTransactionStatus() !== 'I' || held.length > 0 || opening !== undefined)
          return Promise.reject(new Error('a transaction is already open on this connection'))
        heldFailure = undefined
        held.push(
          { text: 'BEGIN', values: [] },
          { text: config.slice(OPENS_TRANSACTION.length), values: statementValues },
        )
        opening = 'held'
        return Promise.resolve(HELD_RESULT)
      }
      if (config.startsWith(LAST_STATEMENT)) {
        const text = config.slice(LAST_STATEMENT.length)
        if (heldFailure !== undefined) return Promise.reject(heldFailure)
        if (client.getTransactionStatus() === 'I' && opening === undefined)
          return Promise.reject(new Error('no transaction is open on this connection'))
        if (statementValues.length === 0 || client.getTransactionStatus() === 'E') {
          // Without parameters (the simple protocol, which may carry several statements) or in
          // a failed transaction: the statement (after whatever is held), then COMMIT.
          const sentIn = generation
          const ran = client.query(text, values as unknown[] | undefined) as unknown as Promise<pg.QueryResult>
          return ran.then(async (result) => {
            // A ROLLBACK in between (a caller that gave up) ended the transaction: a COMMIT now
            // would answer success for nothing committed.
            if (generation !== sentIn) throw new Error('the transaction was rolled back before its COMMIT')
            await client.query('COMMIT')
            return result
          })
        }
        const { result, next } = sendHeld(true, { text, values: statementValues })
        return Promise.all([committed(result), next]).then(([, rows]) => rows)
      }
      if (config.startsWith(WITH_COMMIT)) {
        const text = config.slice(WITH_COMMIT.length)
        // Only inside an open transaction: anywhere else the statement runs now.
        if (heldFailure !== undefined) return Promise.reject(heldFailure)
        if (client.getTransactionStatus() !== 'T' && opening === undefined) return direct(text, statementValues)
        held.push({ text, values: statementValues })
        return Promise.resolve(HELD_RESULT)
      }
      if (ROLLBACK.test(config)) {
        const unsent = opening === 'held'
        held = []
        heldFailure = undefined
        opening = undefined
        generation++
        // Nothing of the transaction reached the server: there is nothing to roll back.
        if (unsent) return Promise.resolve(ROLLED_BACK)
        // Else sent after whatever is in flight (node-postgres's queue), which it rolls back.
        // A ROLLBACK that fails leaves the session in a state nobody knows (in practice the
        // server ended it: 57P01, the socket about to close): the client is ended before its
        // caller hears of it, so that the pool drops it instead of handing it, still marked
        // in a transaction, to the next user (whose opening would be refused).
        const rolledBack = send(config, values) as Promise<pg.QueryResult>
        rolledBack.catch(() => {
          client.end().catch(() => {})
        })
        return rolledBack
      }
      if (heldFailure !== undefined) {
        // The transaction failed on a held statement: nothing else runs in it, and its COMMIT
        // must not report success (PostgreSQL answers COMMIT in a failed transaction with a
        // rollback, not an error).
        return Promise.reject(heldFailure)
      }
      const commit = COMMIT.test(config) && statementValues.length === 0
      if (held.length > 0) {
        if (commit) return committed(sendHeld(true).result)
        // A statement with parameters (node-postgres sends it with the extended protocol, so
        // it is a single statement): in the same submission as the held ones, after them.
        if (statementValues.length > 0) return sendHeld(false, { text: config, values: statementValues }).next
        // Any other statement (it may hold several, for the simple protocol): the held ones
        // go first, in the order they were given, then it, in a round trip of its own.
        // Unless the transaction was rolled back meanwhile (a caller that gave up): it would run
        // after the ROLLBACK, outside the transaction and without its opening.
        const sentIn = generation
        return sendHeld(false).result.then(() => {
          if (generation !== sentIn) throw new Error('the transaction was rolled back before this statement was sent')
          return direct(config, values)
        })
      }
      if (commit) return committed(direct(config, values) as Promise<pg.QueryResult>)
      return direct(config, values)
    }
    if (held.length > 0 || heldFailure !== undefined) {
      // A query object (a cursor) or a callback: sent once the held statements have run, or
      // failed with their failure, as a promise-style statement would be — and, like one, not
      // after a ROLLBACK given meanwhile (it would run outside the transaction).
      const sentIn = generation
      const ahead = heldFailure !== undefined ? Promise.reject(heldFailure) : sendHeld(false).result
      ahead
        .then(() => {
          if (generation !== sentIn) throw new Error('the transaction was rolled back before this statement was sent')
        })
        .then(
          () => send(config, values, callback),
          (error: unknown) => {
            process.nextTick(() => {
              failQuery(config, values, callback, error)
            })
          },
        )
      return typeof config === 'object' && config !== null && 'submit' in config ? config : undefined
    }
    return send(config, values, callback)
  }) as pg.Client['query']
}

/**
 * Prefix of a statement's text that holds the statement back until its transaction's COMMIT
 * (or the transaction's next statement, whichever comes first), then sends it in the same
 * submission: one round trip fewer for a transaction whose last write is, say, its audit
 * event. Only on a connection of {@link prepareStatements}, inside an open transaction;
 * anywhere else the statement runs at once.
 *
 * Atomicity is the protocol's: the held statements and COMMIT are sent as one
 * extended-query sequence closed by a single Sync, and after an error PostgreSQL discards
 * every message up to that Sync (PostgreSQL documentation, "Extended Query", 55.2.3), so the
 * COMMIT never runs after a failed held statement: the transaction is left failed, for the
 * caller's ROLLBACK. A held statement's failure is reported as {@link DeferredStatementFailed}
 * by the statement it was sent with (the COMMIT, or the next statement).
 *
 * Its result is never seen: the statement resolves at once with no rows. Use it only for
 * statements whose result is not needed (an INSERT without RETURNING).
 */
export const WITH_COMMIT = '/* custodian: sent with COMMIT */ '

/**
 * Prefix of a statement's text that opens a transaction with it, without a round trip of its
 * own: `BEGIN` and the statement are held back and sent in one submission with the
 * transaction's next statement (or its COMMIT), ahead of it, as {@link WITH_COMMIT}'s are. Only
 * on a connection of {@link prepareStatements} with no transaction open (else it is refused).
 * The statement's own result is never seen (it resolves at once with no rows): it is for a
 * statement that fails or succeeds, like the tenant settings of `withOrg` (src/db/tenant.ts).
 *
 * The next statement never runs without it: the protocol skips everything after an error up to
 * the sequence's single Sync (PostgreSQL documentation, "Extended Query", 55.2.3), so when
 * `BEGIN` or the statement fails, the next statement is refused with
 * {@link DeferredStatementFailed} (its `statement` the held text) without having run, and so
 * is every later statement of the transaction, and its COMMIT, until a ROLLBACK. A ROLLBACK
 * while nothing was sent yet sends nothing. A next statement without parameters (it may hold
 * several statements, which the extended protocol cannot carry) is sent after the held ones,
 * in a round trip of its own.
 */
export const OPENS_TRANSACTION = '/* custodian: BEGIN, sent with the next statement */ '

/**
 * Prefix of a transaction's last statement: COMMIT is sent right after it, in the same
 * submission (with whatever is held, {@link OPENS_TRANSACTION}'s `BEGIN` included, ahead of
 * it), so that a transaction of one statement — a read — takes one round trip. Only on a
 * connection of {@link prepareStatements} inside an open (or held) transaction; anywhere else
 * it is refused.
 *
 * It resolves with the statement's own result once COMMIT has succeeded. When the statement
 * fails, PostgreSQL skips the COMMIT (everything up to the sequence's Sync: PostgreSQL
 * documentation, "Extended Query", 55.2.3) and it rejects with the statement's error, the
 * transaction left failed for the caller's ROLLBACK; a held statement's failure rejects it with
 * {@link DeferredStatementFailed}, a failed COMMIT with the COMMIT's error, and a COMMIT
 * answered with ROLLBACK with {@link CommitRolledBack}. After it resolves the transaction is
 * over. A statement without parameters (the simple protocol) is sent on its own, then COMMIT.
 */
export const LAST_STATEMENT = '/* custodian: the last statement, COMMIT sent after it */ '

/** What a ROLLBACK of a transaction of which nothing was sent resolves to. */
const ROLLED_BACK = { command: 'ROLLBACK', rowCount: null, oid: 0, rows: [], fields: [] } as unknown as pg.QueryResult

/** A statement held back by {@link WITH_COMMIT} failed; `cause` is the database's error. */
export class DeferredStatementFailed extends Error {
  /** The held statement's text. */
  readonly statement: string
  constructor(statement: string, cause: unknown) {
    super('a statement sent with the transaction failed', { cause })
    this.name = 'DeferredStatementFailed'
    this.statement = statement
  }
}

/**
 * COMMIT was answered with ROLLBACK: the transaction had failed earlier (a statement's error
 * that its caller caught and went on), and PostgreSQL rolls a failed transaction back at
 * COMMIT without an error (PostgreSQL documentation, COMMIT). Nothing of it was committed.
 */
export class CommitRolledBack extends Error {
  constructor() {
    super('the transaction had failed: COMMIT rolled it back, nothing was committed')
    this.name = 'CommitRolledBack'
  }
}

/** A COMMIT's result, or {@link CommitRolledBack} when the server rolled the transaction back instead. */
async function committed(result: Promise<pg.QueryResult>): Promise<pg.QueryResult> {
  const answer = await result
  if (answer.command === 'ROLLBACK') throw new CommitRolledBack()
  return answer
}

interface HeldStatement {
  text: string
  values: unknown[]
}

/** A query object's or a callback's failure, as node-postgres reports one it could not send. */
function failQuery(config: unknown, values: unknown, callback: unknown, error: unknown): void {
  const done = typeof callback === 'function' ? callback : typeof values === 'function' ? values : undefined
  if (done !== undefined) {
    ;(done as (error: unknown) => void)(error)
    return
  }
  ;(config as { handleError?: (error: unknown) => void }).handleError?.(error)
}

/**
 * The SQLSTATE of an error the server sent (an ErrorResponse); undefined for an error raised
 * in this process or by the connection (a lost socket says nothing of what the server did).
 */
function serverState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined
}

/** A whole-transaction COMMIT or ROLLBACK, however spelled (not `ROLLBACK TO SAVEPOINT`). */
const COMMIT = /^\s*(commit|end)(\s+(work|transaction))?\s*;?\s*$/i
const ROLLBACK = /^\s*(rollback|abort)(\s+(work|transaction))?\s*;?\s*$/i

/** What a held statement resolves to when it is given. */
const HELD_RESULT = { command: 'INSERT', rowCount: 0, oid: 0, rows: [], fields: [] } as unknown as pg.QueryResult

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

  /** A statement the server may hold under `name` although its text is forgotten: closed before the next statement. */
  closeLater(name: string): void {
    this.#closing.push(name)
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
  submittedNamedStatements: Record<string, string>
  close(message: { type: 'S'; name: string }): void
  parse(message: { text: string; name?: string }): void
  bind(message: { portal?: string; statement?: string; values?: unknown[] }): void
  execute(message: { portal?: string; rows?: number }): void
  sync(): void
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
    // Text and values, the name set after: given an object, node-postgres's Query copies every
    // property descriptor of it (`cloneQueryConfig`), about 1.5 % of the service's CPU under the
    // requests bench when done for every statement; given a string it does not.
    super(text, values)
    ;(this as unknown as { name: string }).name = name
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

/** node-postgres's handlers of a query's answers (internals of its `Query`, untyped in @types/pg). */
interface AnsweredQuery {
  handleRowDescription(message: unknown): void
  handleDataRow(message: unknown): void
  handleEmptyQuery(connection: unknown): void
  handlePortalSuspended(connection: unknown): void
  handleCommandComplete(message: unknown, connection: unknown): void
  handleError(error: unknown, connection: unknown): void
  handleReadyForQuery(connection: unknown): void
}

/**
 * Held statements ({@link WITH_COMMIT}, {@link OPENS_TRANSACTION}), and COMMIT when `commit`
 * or else the transaction's next statement when given, written as one extended-query sequence
 * with a single Sync, answered as one node-postgres query: each statement's Parse (unless the
 * connection has it), Bind, Describe and Execute, by node-postgres's own `Query.prepare` with
 * its Syncs left out. After an error the server skips to the Sync, so nothing after the failed
 * statement runs.
 *
 * `result` settles with the COMMIT's result (or an empty one); rejects with
 * {@link DeferredStatementFailed} when a held statement failed (or its values could not be
 * serialised, in which case nothing after it is written), with the database's error when
 * COMMIT itself failed, or the connection did. `next` settles as the next statement would on
 * its own — its rows, or the database's error — except that a held statement's failure
 * rejects it with that {@link DeferredStatementFailed}.
 */
class HeldBatch {
  readonly result: Promise<pg.QueryResult>
  /** The next statement's result; never settles when none was given. */
  readonly next: Promise<pg.QueryResult>
  callback: ((error: Error | null, result?: pg.QueryResult) => void) | undefined
  readonly #statements: (HeldStatement & { name: string | undefined })[]
  readonly #commit: boolean
  readonly #cache: StatementCache | undefined
  /** The client's type parsers, for the next statement's rows. */
  readonly #types: unknown
  /** The next statement, once written: node-postgres's query, given its messages' answers. */
  #nextQuery: AnsweredQuery | undefined
  /** How many statements are held ones: all but the next statement, when one was given. */
  readonly #held: number
  #nextSettled = false
  #settleNext: (error: Error | null, result?: pg.QueryResult) => void = () => {}
  #connection: WireConnection | undefined
  #completed = 0
  #last: { command: string; rowCount: number | null } = { command: 'INSERT', rowCount: 0 }
  #unserialisable: { index: number; error: unknown } | undefined

  constructor(
    statements: HeldStatement[],
    commit: boolean,
    cache: StatementCache | undefined,
    next?: HeldStatement,
    types?: unknown,
  ) {
    this.#types = types
    // The next statement is named and forgotten as held ones are: last in the list.
    this.#statements = [...statements, ...(next === undefined ? [] : [next])].map((statement) => ({
      ...statement,
      name: statement.values.length > 0 && PREPARABLE.test(statement.text) ? cache?.nameFor(statement.text) : undefined,
    }))
    this.#held = statements.length
    this.#commit = commit
    this.#cache = cache
    this.result = new Promise((resolve, reject) => {
      this.callback = (error, result) => (error ? reject(error) : resolve(result as pg.QueryResult))
    })
    this.next = new Promise((resolve, reject) => {
      this.#settleNext = (error, result) => {
        if (this.#nextSettled) return
        this.#nextSettled = true
        if (error) reject(error)
        else resolve(result as pg.QueryResult)
      }
    })
    if (next === undefined) this.#nextSettled = true
  }

  submit(connection: WireConnection): Error | null {
    this.#connection = connection
    // node-postgres's Query writes its messages and then a Sync: here the Syncs are left out,
    // so that every statement and the COMMIT are one sequence.
    const withoutSync = new Proxy(connection, {
      get(target, property) {
        if (property === 'sync' || property === 'flush') return () => {}
        const value = Reflect.get(target, property, target) as unknown
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
      },
    })
    connection.stream.cork?.()
    try {
      for (const old of this.#cache?.takeClosing() ?? []) {
        connection.close({ type: 'S', name: old })
        Reflect.deleteProperty(connection.parsedStatements, old)
      }
      for (const [index, statement] of this.#statements.entries()) {
        const query = new pg.Query(statement.text, statement.values) // named after, as in NamedQuery
        ;(query as unknown as { name: string | undefined }).name = statement.name
        // Called only when the values cannot be serialised (Bind was not written).
        ;(query as unknown as { callback: (error: unknown) => void }).callback = (error) => {
          this.#unserialisable ??= { index, error }
        }
        ;(query as unknown as { prepare(connection: WireConnection): void }).prepare(withoutSync)
        if (this.#unserialisable !== undefined) break
        if (index === this.#held) {
          // The next statement: its answers go to the query that wrote it.
          ;(query as unknown as { callback: (error: Error | null, result?: pg.QueryResult) => void }).callback = (
            error,
            result,
          ) => this.#settleNext(error, result)
          this.#nextQuery = query as unknown as AnsweredQuery
          const result = (query as unknown as { _result?: { _types?: unknown } })._result
          if (result !== undefined && result._types === undefined) result._types = this.#types
        }
      }
      if (this.#commit && this.#unserialisable === undefined) {
        connection.parse({ text: 'COMMIT' })
        connection.bind({})
        connection.execute({ portal: '', rows: 0 })
      }
      connection.sync()
    } finally {
      connection.stream.uncork?.()
    }
    return null
  }

  /** Whether the server is answering the next statement: every held statement completed, and not it (a COMMIT may follow it). */
  #answeringNext(): AnsweredQuery | undefined {
    return this.#completed === this.#held ? this.#nextQuery : undefined
  }

  handleRowDescription(message: unknown): void {
    this.#answeringNext()?.handleRowDescription(message)
  }

  handleDataRow(message: unknown): void {
    this.#answeringNext()?.handleDataRow(message)
  }

  handleEmptyQuery(connection: unknown): void {
    this.#answeringNext()?.handleEmptyQuery(connection)
  }

  handlePortalSuspended(connection: unknown): void {
    this.#answeringNext()?.handlePortalSuspended(connection)
  }

  handleCopyData(): void {}
  handleCopyInResponse(connection: { sendCopyFail(message: string): void }): void {
    connection.sendCopyFail('not a COPY')
  }

  handleCommandComplete(message: { text: string }, connection: unknown): void {
    const next = this.#answeringNext()
    this.#completed++
    if (next !== undefined) {
      next.handleCommandComplete(message, connection)
      return
    }
    // The command tag: `COMMIT`, `INSERT 0 1`, `UPDATE 3` (PostgreSQL documentation, "Message
    // Formats", CommandComplete).
    const [command = '', ...rest] = message.text.split(' ')
    const count = Number(rest.at(-1))
    this.#last = { command, rowCount: rest.length > 0 && Number.isInteger(count) ? count : null }
  }

  handleError(error: unknown, connection: unknown): void {
    const failed = this.#completed
    this.#settle(failed)
    if (serverState(error) === undefined) {
      // The connection failed (or the client did): whether the COMMIT ran is unknown, so this
      // is not reported as a held statement's failure, which promises that nothing committed.
      this.callback?.(error as Error)
      this.#settleNext(error as Error)
      return
    }
    if (isStalePlan(error) && this.#connection !== undefined)
      for (const stale of this.#cache?.forgetAll() ?? [])
        Reflect.deleteProperty(this.#connection.parsedStatements, stale)
    if (failed < this.#held) {
      const deferred = new DeferredStatementFailed(this.#statements[failed]?.text ?? '', error)
      this.callback?.(deferred)
      this.#settleNext(deferred)
    } else if (this.#nextQuery !== undefined && failed > this.#held) {
      // The next statement ran; the COMMIT after it failed: nothing was committed.
      this.callback?.(error as Error)
      this.#settleNext(error as Error)
    } else if (this.#nextQuery !== undefined) {
      // The held statements ran; the next one failed, as it would have on its own.
      this.#resolve()
      this.#nextQuery.handleError(error, connection)
    } else {
      this.callback?.(error as Error)
    }
  }

  handleReadyForQuery(connection: unknown): void {
    const unserialisable = this.#unserialisable
    if (unserialisable !== undefined) {
      this.#settle(unserialisable.index)
      if (unserialisable.index < this.#held) {
        const statement = this.#statements[unserialisable.index]?.text ?? ''
        const deferred = new DeferredStatementFailed(statement, unserialisable.error)
        this.callback?.(deferred)
        this.#settleNext(deferred)
      } else {
        // The next statement's values: the held statements ran, it was not sent.
        this.#resolve()
        this.#settleNext(unserialisable.error as Error)
      }
      return
    }
    this.#settle(this.#statements.length)
    this.#resolve()
    this.#nextQuery?.handleReadyForQuery(connection)
  }

  #resolve(): void {
    const { command, rowCount } = this.#last
    this.callback?.(null, { command, rowCount, oid: 0, rows: [], fields: [] })
  }

  /**
   * The connection's record of prepared names, once answered: statements before `ran` are
   * parsed; the one at `ran` may be (its Parse may have succeeded before its Bind or Execute
   * failed) and is closed before the next statement; those after it never reached the server.
   */
  #settle(ran: number): void {
    const connection = this.#connection
    for (const [index, { name, text }] of this.#statements.entries()) {
      if (name === undefined || connection === undefined) continue
      Reflect.deleteProperty(connection.submittedNamedStatements, name)
      if (index < ran) {
        connection.parsedStatements[name] = text
      } else if (connection.parsedStatements[name] === undefined) {
        this.#cache?.forget(text)
        if (index === ran) this.#cache?.closeLater(name)
      }
    }
    // node-postgres closed (Close) a statement whose values failed, and may still list it as
    // parsed (after the loop: an earlier statement of the same text listed it again): its name
    // must not be bound again.
    const unserialisable = this.#unserialisable
    const closed = unserialisable === undefined ? undefined : this.#statements[unserialisable.index]
    if (closed?.name !== undefined) {
      this.#cache?.forget(closed.text)
      if (connection !== undefined) Reflect.deleteProperty(connection.parsedStatements, closed.name)
    }
  }
}
