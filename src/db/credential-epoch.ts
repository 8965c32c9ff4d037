import { AsyncLocalStorage } from 'node:async_hooks'
import { sql, type Kysely } from 'kysely'
import type { DB } from './schema.ts'
import type { Principal } from '../context.ts'

/**
 * A request whose credential was taken from the process's cache
 * (src/modules/identity/credential-cache.ts) carries one of these until the database
 * confirms the credential is unchanged: its org's credential epoch (migration 0063) is still
 * the one the cache read with it.
 *
 * The confirmation rides on the statement that opens the request's first transaction
 * ({@link withOrg}'s `set_config`, src/db/tenant.ts): no round trip of its own. A request that
 * reaches the database first through an owner transaction, or not at all, is confirmed by one
 * statement of its own (`confirm`) before that transaction, or before its answer is sent.
 */
export interface CredentialCheck {
  /** The org whose epoch the cached credential was read with (the credential's own org). */
  readonly orgId: string
  /** That epoch. */
  readonly epoch: number
  /**
   * `pending` until confirmed; `confirmed` once the database said the epoch is current, or
   * after `refresh` found the credential unchanged; `off` where nothing more is to be checked
   * (recording the request's own refusal).
   */
  state: 'pending' | 'confirmed' | 'off' | 'refused'
  /**
   * Once `refresh` refused the request (`refused`), what it threw: every later check of the
   * same request throws it again, so a refusal some code caught cannot let the rest run.
   */
  refusal?: unknown
  /**
   * The epoch moved: read the credential afresh. Resolves (and sets `confirmed`) when it
   * still gives the same principal; throws the request's refusal otherwise — UNAUTHENTICATED
   * for a credential no longer valid, CONFLICT for one whose access changed meanwhile.
   */
  refresh(): Promise<void>
  /**
   * Set by the access-control point: when the credential read afresh gives another
   * principal, decides the request on it — throwing its refusal (a permission gone, an
   * address no longer allowed) — before `refresh` refuses it as changed.
   */
  changed?: ((fresh: Principal) => Promise<void>) | undefined
  /** Confirms with a statement of its own ({@link confirmCredential}); refuses like `refresh`. */
  confirm(): Promise<void>
}

const current = new AsyncLocalStorage<CredentialCheck>()

/** Runs `fn` (and everything it starts) with `check` as the pending credential check. */
export function runWithCredentialCheck<T>(check: CredentialCheck, fn: () => T): T {
  return current.run(check, fn)
}

/**
 * The current request's credential check while it still waits for the database; else
 * undefined. Throws the request's refusal again once its check refused it.
 */
export function pendingCredentialCheck(): CredentialCheck | undefined {
  const check = current.getStore()
  if (check?.state === 'refused') throw check.refusal
  return check?.state === 'pending' ? check : undefined
}

/** The SQLSTATE `custodian_credential_epoch_is` raises when the epoch moved. */
export const CREDENTIAL_EPOCH_MOVED = 'YC001'

/** Whether `error` is the database saying the credential's epoch moved. */
export function isEpochMoved(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === CREDENTIAL_EPOCH_MOVED
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * The SQL expression that fails the statement it is part of when `check`'s epoch moved, for
 * inlining in a simple-protocol batch: the org id is a checked UUID and the epoch a safe
 * integer, so nothing of a caller's reaches the text.
 */
export function epochExpression(check: CredentialCheck): string {
  if (!UUID.test(check.orgId) || !Number.isSafeInteger(check.epoch) || check.epoch < 0)
    throw new Error('credential check: org id or epoch malformed')
  return `custodian_credential_epoch_is('${check.orgId}', ${check.epoch})`
}

/**
 * Confirms `check` (by default the request's pending one, if any) with a statement of its own
 * (one round trip): where a request reaches the database first through an owner transaction,
 * or answers without having reached it. Throws the request's refusal when the credential
 * changed; any other failure ends the check (`off`) and is thrown as it is.
 */
export async function confirmCredential(
  db: Kysely<DB>,
  check: CredentialCheck | undefined = pendingCredentialCheck(),
): Promise<void> {
  if (check?.state === 'refused') throw check.refusal
  if (check?.state !== 'pending') return
  try {
    await sql`SELECT custodian_credential_epoch_is(${check.orgId}::uuid, ${check.epoch}::bigint)`.execute(db)
    check.state = 'confirmed'
  } catch (error) {
    if (!isEpochMoved(error)) {
      check.state = 'off'
      throw error
    }
    await check.refresh()
  }
}
