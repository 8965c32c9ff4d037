import { sql, type Compilable, type Kysely, type RawBuilder, type Transaction } from 'kysely'
import { DeferredStatementFailed, LAST_STATEMENT, OPENS_TRANSACTION, WITH_COMMIT } from './prepared.ts'
import type { DB } from './schema.ts'
import {
  confirmCredential,
  type CredentialCheck,
  epochExpression,
  isEpochMoved,
  pendingCredentialCheck,
} from './credential-epoch.ts'

export type Trx = Transaction<DB>

/**
 * The role every request transaction runs as. It owns nothing, cannot bypass row-level
 * security, and sees only rows of the org named by the `custodian.org_id` setting.
 */
export const APP_ROLE = 'custodian_app'

/**
 * Runs `fn` in a transaction scoped to one org (P2.1): the org id and the non-owner role
 * are set local to the transaction, so a query that forgets its WHERE still sees only
 * this org's rows, and both settings vanish at commit or rollback.
 *
 * Everything a request changes, and the audit event that records it, goes through one
 * such transaction: they commit together or not at all.
 *
 * `fn` may run more than once (a cached credential found changed, then unchanged): before its
 * first statement on `trx` it must not act outside the process (a key service, a network
 * call, a shared cache) — on PostgreSQL the opening statement is sent with that first
 * statement, and checks the credential only then.
 */
export async function withOrg<T>(db: Kysely<DB>, orgId: string, fn: (trx: Trx) => Promise<T>): Promise<T> {
  return inOrg(db, orgId, { fn })
}

/**
 * One statement in an org's transaction, as {@link withOrg} runs it, and its rows: on
 * PostgreSQL `BEGIN`, the opening statement (the tenant settings, a cached credential's
 * check), the statement and `COMMIT` go in one submission — a read of one statement takes one
 * round trip (src/db/prepared.ts, `LAST_STATEMENT`). `query` builds the statement on the
 * transaction, and may be called more than once (a cached credential found changed).
 *
 * @throws the statement's error, or the opening's (the statement then did not run)
 */
export async function queryInOrg<O>(
  db: Kysely<DB>,
  orgId: string,
  query: (trx: Trx) => Compilable<O> | RawBuilder<O>,
): Promise<O[]> {
  return inOrg(db, orgId, { last: query })
}

/** What a transaction of {@link inOrg} runs: a callback, or a single statement sent with its COMMIT. */
type Body<T> = { fn: (trx: Trx) => Promise<T> } | { last: (trx: Trx) => Compilable | RawBuilder<unknown> }

async function inOrg<T>(db: Kysely<DB>, orgId: string, body: Body<T>): Promise<T> {
  if (!UUID.test(orgId)) throw new Error('withOrg: org id is not a UUID')
  const refused = NOT_SERVED.get(db)?.refusal(orgId)
  if (refused !== undefined) throw refused
  // A request on a cached credential: its epoch is checked in the same statement as the
  // tenant settings (src/db/credential-epoch.ts). If it moved, none of `fn`'s statements ran:
  // the credential is read afresh (refusing the request if it changed) and the transaction
  // starts again. On PostgreSQL that statement travels with `fn`'s first one, so `fn` may have
  // run up to it and runs again: what a callback does before its first statement stays inside
  // the process (validating, building values) — every callback of the service was checked.
  const check = pendingCredentialCheck()
  const epoch = check === undefined ? '' : `, ${epochExpression(check)}`
  try {
    const result = await begin(db, orgId, epoch, body, check)
    return result
  } catch (error) {
    if (!(error instanceof EpochMoved) || check === undefined) throw error
    await check.refresh()
    return inOrg(db, orgId, body)
  }
}

/** A single statement's rows, run at once on `trx` (PGlite, or a Kysely transaction). */
async function rowsOf<T>(trx: Trx, query: (trx: Trx) => Compilable | RawBuilder<unknown>): Promise<T> {
  return (await trx.executeQuery(compiledOn(trx, query))).rows as T
}

/** The statement `query` builds, compiled for `trx` (a raw builder compiles with the executor it runs on; a query builder has its own). */
function compiledOn(trx: Trx, query: (trx: Trx) => Compilable | RawBuilder<unknown>) {
  return (query(trx) as RawBuilder<unknown>).compile(trx)
}

/** The opening statement failed on the credential's epoch: `fn` has not run. */
class EpochMoved extends Error {}

async function begin<T>(
  db: Kysely<DB>,
  orgId: string,
  epoch: string,
  body: Body<T>,
  check: CredentialCheck | undefined,
): Promise<T> {
  const fn = 'fn' in body ? body.fn : (trx: Trx) => rowsOf<T>(trx, body.last)
  const opened = () => {
    if (check !== undefined) check.state = 'confirmed'
  }
  const moved = (error: unknown): never => {
    throw isEpochMoved(error) ? new EpochMoved('the credential changed', { cause: error }) : error
  }
  if (!ONE_ROUND_TRIP_BEGIN.has(db)) {
    return db.transaction().execute(async (trx) => {
      await sql`SELECT set_config('custodian.org_id', ${orgId}, true), set_config('role', ${APP_ROLE}, true)${sql.raw(epoch)}`
        .execute(trx)
        .catch(moved)
      opened()
      return fn(trx)
    })
  }
  // PostgreSQL over the network: BEGIN and the tenant settings (with the credential's epoch)
  // are held back and sent in one submission with the transaction's first statement, ahead of
  // it (src/db/prepared.ts, OPENS_TRANSACTION): no round trip of their own. That statement never
  // runs without them; when they fail it fails with DeferredStatementFailed, mapped below.
  return db.connection().execute(async (connection) => {
    const failures = new Map<string, (cause: unknown) => Error>()
    const opening = openingStatement(orgId, check).compile(connection)
    failures.set(opening.sql, (cause) =>
      isEpochMoved(cause) ? new EpochMoved('the credential changed', { cause }) : (cause as Error),
    )
    HELD_FOR_COMMIT.set(connection, failures)
    try {
      await connection.executeQuery({ ...opening, sql: `${OPENS_TRANSACTION}${opening.sql}` })
      let result: T
      try {
        if ('last' in body) {
          // The statement and COMMIT in one submission with the opening: when it resolves, the
          // transaction has committed.
          const compiled = compiledOn(connection as unknown as Trx, body.last)
          result = (await connection.executeQuery({ ...compiled, sql: `${LAST_STATEMENT}${compiled.sql}` })).rows as T
          opened()
          return result
        }
        result = await fn(connection as unknown as Trx)
      } catch (error) {
        await sql`ROLLBACK`.execute(connection).catch(() => {})
        throw failureOf(openingFailure(error, opening.sql) ?? error, failures)
      }
      try {
        await sql`COMMIT`.execute(connection)
      } catch (error) {
        // A held statement failed: the COMMIT was not run and the transaction is left failed.
        // (After a COMMIT that failed itself there is no transaction, and this only warns.)
        await sql`ROLLBACK`.execute(connection).catch(() => {})
        throw failureOf(error, failures)
      }
      opened()
      return result
    } finally {
      HELD_FOR_COMMIT.delete(connection)
    }
  })
}

/**
 * The opening statement of {@link withOrg}'s transaction: the org and the non-owner role set
 * local to it and, for a request on a cached credential, its epoch checked (failing the
 * statement with SQLSTATE YC001 when it moved). Parameterised, so that the
 * connection plans it once (src/db/prepared.ts).
 */
function openingStatement(orgId: string, check: CredentialCheck | undefined): RawBuilder<unknown> {
  const settings = sql`SELECT set_config('custodian.org_id', ${orgId}, true), set_config('role', ${sql.lit(APP_ROLE)}, true)`
  if (check === undefined) return settings
  return sql`${settings}, custodian_credential_epoch_is(${check.orgId}::uuid, ${check.epoch}::bigint)`
}

/**
 * The opening statement's failure, when `error` is it or wraps it (as `cause`, a few levels
 * deep): a callback that caught its first statement's error and threw its own is still
 * answered as the opening's failure (an epoch moved, a database gone), never as its own.
 */
function openingFailure(error: unknown, opening: string): DeferredStatementFailed | undefined {
  let current = error
  for (let depth = 0; depth < 8 && current instanceof Error; depth++) {
    if (current instanceof DeferredStatementFailed && current.statement === opening) return current
    current = current.cause
  }
  return undefined
}

/**
 * Transactions of {@link withOrg} whose COMMIT carries the statements given to
 * {@link executeWithCommit}, each with the error its failure is reported as (by its text).
 */
const HELD_FOR_COMMIT = new WeakMap<object, Map<string, (cause: unknown) => Error>>()

/**
 * A held statement's failure as the error its caller chose; a held statement no caller named
 * (the `BEGIN` sent with the opening) as the database's own error, so that a session ended
 * under it is the database's unavailability (503), as for any statement; any other error as
 * it is.
 */
function failureOf(error: unknown, failures: Map<string, (cause: unknown) => Error>): unknown {
  if (!(error instanceof DeferredStatementFailed)) return error
  const chosen = failures.get(error.statement)
  if (chosen !== undefined) return chosen(error.cause)
  return error.cause instanceof Error ? error.cause : error
}

/**
 * Runs a write whose result the caller does not need, as late as the transaction allows:
 * in a {@link withOrg} transaction on PostgreSQL it is held back and sent in one submission
 * with the COMMIT (or with the transaction's next statement, if one comes first), saving a
 * round trip; elsewhere (PGlite, an owner transaction) it runs at once. Either way it commits
 * with the transaction or nothing does: after its failure the COMMIT is not run
 * (src/db/prepared.ts, `WITH_COMMIT`).
 *
 * A failure is reported as `failure(cause)`, where `cause` is the database's error: thrown
 * here when the statement runs at once, else by `withOrg` (the statement it was sent with
 * fails with it; a caller that catches that error and goes on finds every later statement,
 * and the COMMIT, failing the same way).
 */
export async function executeWithCommit(
  trx: Trx,
  query: Compilable | RawBuilder<unknown>,
  failure: (cause: unknown) => Error,
): Promise<void> {
  // A raw builder compiles with the executor it will run on; a query builder has its own.
  const compiled = (query as RawBuilder<unknown>).compile(trx)
  const failures = HELD_FOR_COMMIT.get(trx)
  if (failures === undefined) {
    await trx.executeQuery(compiled).catch((error: unknown) => {
      throw failure(error)
    })
    return
  }
  failures.set(compiled.sql, failure)
  await trx.executeQuery({ ...compiled, sql: `${WITH_COMMIT}${compiled.sql}` }).catch((error: unknown) => {
    // Run at once (outside an open transaction), or refused after an earlier held failure.
    throw error instanceof DeferredStatementFailed ? failureOf(error, failures) : failure(error)
  })
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** What rollback detection (P8.1) tells the tenant layer: the orgs not served now. */
export interface OrgsNotServed {
  /** The error an org not served now is refused with; undefined when it is served. */
  refusal(orgId: string): Error | undefined
  /** Every org not served now. */
  refused(): readonly string[]
}

/** Per database (the Kysely instance the app opened). */
const NOT_SERVED = new WeakMap<Kysely<DB>, OrgsNotServed>()

/**
 * Refuses every org transaction ({@link withOrg}) of an org that `refusal` names, with the
 * error it returns: rollback detection (P8.1) registers it, so that nothing of a refused org
 * is read or written in its own tenant scope — by a request, and above all by a background
 * job (retention, reviews, deliveries, rotations, compliance checks …), each of which
 * changes an org only inside `withOrg`. Jobs also leave refused orgs out where they select
 * what is due (so one refused org does not hold up the others); this is the backstop that
 * holds for a job that forgets. Owner transactions ({@link withOwner}) are not refused:
 * their few uses (detection itself, the acknowledgement, the sequencer, which pauses
 * refused orgs) name their reason.
 */
export function refuseOrgsNotServed(db: Kysely<DB>, orgs: OrgsNotServed): void {
  NOT_SERVED.set(db, orgs)
}

/**
 * The orgs a background job leaves out where it selects what is due (`.$if(refused.length >
 * 0, (q) => q.where('org_id', 'not in', refused))`): a refused org's rows are not touched
 * until an operator acknowledges its rollback, and they never hold up other orgs' due work.
 */
export function orgsNotServed(db: Kysely<DB>): readonly string[] {
  return NOT_SERVED.get(db)?.refused() ?? []
}

/**
 * Databases reached over a connection pool (node-postgres), where a round trip costs a
 * context switch into another process. PGlite is in-process and its driver owns the
 * transaction life cycle, so it keeps Kysely's transaction.
 */
const ONE_ROUND_TRIP_BEGIN = new WeakSet<Kysely<DB>>()

export function preferOneRoundTripBegin(db: Kysely<DB>): void {
  ONE_ROUND_TRIP_BEGIN.add(db)
}

/**
 * Runs `fn` in an owner transaction that bypasses row-level security. Only for what is
 * not tenant-scoped by nature: resolving a credential to its org, bootstrap, creating an
 * org, the audit sequencer. Name each use in the caller's comment.
 */
export async function withOwner<T>(db: Kysely<DB>, fn: (trx: Trx) => Promise<T>): Promise<T> {
  // A request on a cached credential not yet confirmed: confirm it before anything runs.
  await confirmCredential(db)
  return db.transaction().execute(fn)
}

/** SQLSTATE of a database error, if it is one. */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined
}

/**
 * The database cannot be reached, refuses connections, ends the session (an operator's or a
 * crash's shutdown, SQLSTATE class 57) or is a standby (25006): a 503 to retry, not a bug —
 * and not the failure of the statement it interrupted (an audit event's insert, say).
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const state = sqlState(error)
  const message = error instanceof Error ? error.message : ''
  if (state !== undefined) {
    if (state.startsWith('08') || state.startsWith('57P') || state === '53300') return true
    // read_only_sql_transaction: the endpoint leads to a standby (a failover under way, a
    // proxy switched before the promotion finished). Nothing was written; retry later.
    if (state === '25006') return true
    return state === '55000' && message.includes('not currently accepting connections')
  }
  const code = (error as { code?: unknown } | null)?.code
  if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'ETIMEDOUT' || code === 'EPIPE') return true
  // node-postgres' own messages for a connection lost or never made.
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/.test(
    message,
  )
}

export const UNIQUE_VIOLATION = '23505'
export const FOREIGN_KEY_VIOLATION = '23503'
