import type { FastifyReply, FastifyRequest } from 'fastify'
import { AppError } from '../../errors.ts'
import { vaultErrorsOf, vaultStatusOf } from './vault-compat.ts'

/*
 * What every Vault-compatible route plugin shares (vault-compat.routes.ts for sys and auth,
 * vault-compat.transit.routes.ts for Transit): the error page and the response envelope.
 */

/** Vault ignores fields it does not know (clients send extra ones: node-vault sends `name`). */
export const Open = { additionalProperties: true } as const

/** Every Vault route answers its errors in Vault's shape, after the one error handler audited the refusal. */
export function vaultError(request: FastifyRequest, reply: FastifyReply, error: AppError): FastifyReply {
  let status = vaultStatusOf(error)
  // Vault answers a namespace the token cannot use with 403, not 404.
  if (status === 404 && request.ctx === null && request.headers['x-vault-namespace'] !== undefined) status = 403
  if (error.extras.retryAfter !== undefined) reply.header('retry-after', String(error.extras.retryAfter))
  return reply
    .code(status)
    .type('application/json')
    .send({ errors: vaultErrorsOf(error, status) })
}

/** Vault's response envelope around `data`. */
export function envelope(request: FastifyRequest, data: unknown) {
  return {
    request_id: request.id,
    lease_id: '',
    renewable: false,
    lease_duration: 0,
    data,
    wrap_info: null,
    warnings: null,
    auth: null,
  }
}

/** Options Custodian's keys do not have are refused, never silently ignored. */
export function refuseUnsupported(item: { context?: string | undefined; nonce?: string | undefined }): void {
  if (item.context !== undefined && item.context !== '')
    throw new AppError('VALIDATION_FAILED', 'context is for derived keys, which Custodian does not have')
  if (item.nonce !== undefined && item.nonce !== '')
    throw new AppError('VALIDATION_FAILED', 'nonce is for convergent encryption, which Custodian does not have')
}

/** A missing key is a bad request to Transit's data operations, as Vault answers it. */
export async function onKey<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (error) {
    if (error instanceof AppError && error.code === 'NOT_FOUND')
      throw new AppError('BAD_REQUEST', 'encryption key not found')
    throw error
  }
}

/** What a batch answers: one result per item, in order, and whether any item failed. */
export interface BatchOutcome {
  results: Record<string, unknown>[]
  failed: boolean
}

const referenceOf = (item: { reference?: string | undefined }) =>
  item.reference === undefined ? {} : { reference: item.reference }

const itemError = (error: unknown) => {
  if (!(error instanceof AppError) || error.status !== 400) throw error
  return { error: vaultErrorsOf(error, 400)[0] }
}

/**
 * Vault's batch semantics: one result per item in order, each `{error}` when that item's
 * input or ciphertext was bad; 400 when any item failed (Vault's default
 * `partial_failure_response_code`). A refusal or an outage fails the whole request.
 */
export async function batch<I extends { reference?: string | undefined }>(
  items: I[],
  each: (item: I) => Promise<Record<string, unknown>>,
): Promise<BatchOutcome> {
  const results: Record<string, unknown>[] = []
  let failed = false
  for (const item of items) {
    try {
      results.push({ ...(await each(item)), ...referenceOf(item) })
    } catch (error) {
      failed = true
      results.push({ ...itemError(error), ...referenceOf(item) })
    }
  }
  return { results, failed }
}

/**
 * The same semantics for operations the service runs on a whole batch at once (one
 * transaction, one audit event with the count): each item is decoded first (a bad one is
 * that item's `{error}`), the decoded ones go to `run` together, which answers one result
 * or one item refusal per input.
 */
export async function batchTogether<I extends { reference?: string | undefined }, D>(
  items: I[],
  decode: (item: I) => D,
  run: (decoded: D[]) => Promise<(Record<string, unknown> | AppError)[]>,
): Promise<BatchOutcome> {
  const slots: (Record<string, unknown> | D)[] = []
  const decoded: D[] = []
  const at: number[] = []
  for (const item of items) {
    try {
      const value = decode(item)
      at.push(slots.length)
      decoded.push(value)
      slots.push({})
    } catch (error) {
      slots.push(itemError(error))
    }
  }
  const answers = decoded.length === 0 ? [] : await run(decoded)
  answers.forEach((answer, i) => {
    slots[at[i] as number] = answer instanceof AppError ? itemError(answer) : answer
  })
  const results = slots.map((slot, i) => ({ ...(slot as Record<string, unknown>), ...referenceOf(items[i] as I) }))
  return { results, failed: results.some((r) => 'error' in r) }
}

/** A batch's answer: `batch_results`, 400 when any item failed. */
export function respondBatch(request: FastifyRequest, reply: FastifyReply, outcome: BatchOutcome): FastifyReply {
  return reply.code(outcome.failed ? 400 : 200).send(envelope(request, { batch_results: outcome.results }))
}
