/**
 * What every part of the client shares: the typed API (openapi-fetch over the generated
 * paths of /openapi.json), the transport under it, and the org the calls are about.
 */
import type { Client } from 'openapi-fetch'
import type { paths } from './api.gen.ts'
import { CustodianError } from './errors.ts'
import type { Transport } from './transport.ts'

export type Api = Client<paths>

export interface Context {
  api: Api
  transport: Transport
  /** The org of the calls: the `orgId` option, else the token's own org (GET /v1/me, asked once). */
  orgId(): Promise<string>
  /** The reason a reveal or decryption is audited with, when the call gives none. */
  defaultReason: string | undefined
}

/**
 * The data of an openapi-fetch answer. The transport has already thrown a CustodianError
 * for every non-2xx answer, so an answer here is a success; a 204 has no data.
 */
export async function data<T>(call: Promise<{ data?: T; response: Response }>): Promise<T> {
  const { data: value } = await call
  return value as T
}

/** A page size the API accepts everywhere (1…500 on secret lists, 1…100 elsewhere at least). */
export const PAGE = 100

/** Every item of a paged list, following `nextCursor` to the end. */
export async function allPages<T>(
  read: (cursor: string | undefined) => Promise<{ items: T[]; nextCursor: string | null }>,
): Promise<T[]> {
  const out: T[] = []
  let cursor: string | undefined
  do {
    const page = await read(cursor)
    out.push(...page.items)
    cursor = page.nextCursor ?? undefined
  } while (cursor !== undefined)
  return out
}

/** Throws INVALID_ARGUMENT (before anything is sent) unless `ok`. */
export function check(ok: boolean, message: string): asserts ok {
  if (!ok) throw new CustodianError('INVALID_ARGUMENT', message)
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Whether `value` is a UUID (the API's object ids). */
export function isUuid(value: string): boolean {
  return UUID.test(value)
}

/** The reason of a call, else the client's default; INVALID_ARGUMENT when neither is given. */
export function reasonOf(ctx: Context, reason: string | undefined, what: string): string {
  const chosen = reason ?? ctx.defaultReason
  check(
    chosen !== undefined && chosen.trim().length >= 3,
    `${what} is audited with a reason: pass { reason } (at least 3 characters) or the client's \`reason\` option`,
  )
  return chosen
}
