import { sql, type Kysely, type Transaction } from 'kysely'
import type { DB } from './schema.ts'

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
 */
export async function withOrg<T>(db: Kysely<DB>, orgId: string, fn: (trx: Trx) => Promise<T>): Promise<T> {
  return db.transaction().execute(async (trx) => {
    await sql`SELECT set_config('custodian.org_id', ${orgId}, true), set_config('role', ${APP_ROLE}, true)`.execute(trx)
    return fn(trx)
  })
}

/**
 * Runs `fn` in an owner transaction that bypasses row-level security. Only for what is
 * not tenant-scoped by nature: resolving a credential to its org, bootstrap, creating an
 * org, the audit sequencer. Name each use in the caller's comment.
 */
export async function withOwner<T>(db: Kysely<DB>, fn: (trx: Trx) => Promise<T>): Promise<T> {
  return db.transaction().execute(fn)
}

/** SQLSTATE of a database error, if it is one. */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined
}

export const UNIQUE_VIOLATION = '23505'
