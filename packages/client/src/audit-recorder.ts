/**
 * `audit.record(event)`: the host application's own events, batched to Custodian.
 *
 * WRITTEN AGAINST A ROUTE THAT IS NOT IN THIS BRANCH YET (issue 14 §1, built in parallel).
 * What this file assumes, all of it in this file, so wiring it to the real route is local:
 * - `POST /v1/orgs/{orgId}/audit/events/batch` with `{ "events": [AppEvent…] }` (the JSON
 *   of {@link WireEvent}); any 2xx means every event of the batch is recorded.
 * - Idempotent by `id`: sending an event again after an answer that never came records it
 *   once (the promise). The recorder relies on it: it resends until it hears.
 * - Refusals name the event: a 400 (or 422) whose `errors[].path` starts with
 *   `/body/events/<index>` refuses those events. A 400 without `errors`, a 409 (the same id
 *   with other content) or a 413 is resolved by halving the batch until the refused events
 *   stand alone. A 400 whose `errors` name only other parts of the request (`/body`) is
 *   about the request, not its events — the service answers so to a route it does not
 *   have — and is treated as transient: the events wait.
 *
 * The promises it keeps whatever the route's details:
 * - Bounded memory: at most `maxBuffered` events are held (queued, in flight, or refused
 *   and not yet taken). A full buffer makes `record` wait (backpressure), or throw
 *   AUDIT_BUFFER_FULL with `whenFull: 'throw'`.
 * - Never a silent drop: an event is either acknowledged by the server, or handed back —
 *   refused ones to `onUndeliverable` (or kept for `flush()`/`close()` to return when no
 *   handler is given), and whatever is still unsent when `close()` gives up is returned by
 *   it, each with the error that kept it.
 * - Transient failures (no answer, 429, 5xx, 401, 403, a route not there yet) are retried
 *   with backoff for as long as the client is open; the events wait in the buffer.
 */
import { randomUUID } from 'node:crypto'
import { clearTimeout, setTimeout } from 'node:timers'
import { setTimeout as sleep } from 'node:timers/promises'
import { CustodianError, isCustodianError } from './errors.ts'
import type { Transport } from './transport.ts'

/** An event of the host application (issue 14 §1). */
export interface AppEvent {
  /** The application's id of the event: a retry with the same id is recorded once. Generated when absent. */
  id?: string
  /** `resource.verb` in the application's own namespace, e.g. `invoice.export`. */
  action: string
  actor: { id: string; type: string; name?: string }
  targets?: { type: string; id: string; name?: string }[]
  outcome?: 'success' | 'failure' | 'denied'
  /** When it happened (default: when `record` was called). */
  occurredAt?: Date | string
  /** The source address of the end user's request, and its user agent. */
  ip?: string
  userAgent?: string
  metadata?: Record<string, unknown>
}

/** An event as it is sent: id and occurredAt always present. */
export type WireEvent = Omit<AppEvent, 'id' | 'occurredAt'> & { id: string; occurredAt: string }

/** An event Custodian did not take, and why. */
export interface UndeliverableEvent {
  event: WireEvent
  error: CustodianError
}

export interface RecorderOptions {
  /** Events per request (default 100). */
  batchSize?: number
  /** How long an event waits for its batch to fill (default 1000 ms). */
  flushIntervalMs?: number
  /** Events held at most (default 10 000). */
  maxBuffered?: number
  /** When the buffer is full: `wait` for room (default), or `throw` AUDIT_BUFFER_FULL. */
  whenFull?: 'wait' | 'throw'
  /** Events the server refused (they would never be accepted as they are). */
  onUndeliverable?: (events: UndeliverableEvent[]) => void
  /** Backoff between attempts after a transient failure (default 500 ms doubling to 30 s). */
  retryBaseMs?: number
  retryMaxMs?: number
}

export interface RecorderStats {
  /** Queued or in flight. */
  pending: number
  /** Acknowledged by the server since the client was made. */
  sent: number
  /** Refused and not yet taken (only without an `onUndeliverable` handler). */
  undeliverable: number
  /** The last failure of a request, if the last request failed. */
  lastError: CustodianError | undefined
}

export interface FlushResult {
  /** Events still queued or in flight (when `timeoutMs` ran out first). */
  pending: number
  /** Refused events, taken: they are the caller's now (only without an `onUndeliverable` handler). */
  undeliverable: UndeliverableEvent[]
}

export interface CloseResult {
  /** Every event that did not reach Custodian: refused ones and those still unsent at the deadline. */
  unsent: UndeliverableEvent[]
}

/** The assumed batch route (see the comment at the top). */
export const BATCH_PATH = (orgId: string) => `/v1/orgs/${encodeURIComponent(orgId)}/audit/events/batch`

interface Held {
  n: number
  event: WireEvent
}

export class AuditRecorder {
  readonly #transport: Transport
  readonly #orgId: () => Promise<string>
  readonly #batchSize: number
  readonly #intervalMs: number
  readonly #max: number
  readonly #whenFull: 'wait' | 'throw'
  readonly #onUndeliverable: RecorderOptions['onUndeliverable']
  readonly #retryBaseMs: number
  readonly #retryMaxMs: number

  #queue: Held[] = []
  #inFlight: Held[] = []
  #refused: UndeliverableEvent[] = []
  #counter = 0
  #sent = 0
  #lastError: CustodianError | undefined
  #timer: NodeJS.Timeout | undefined
  #sending: Promise<void> | undefined
  #closed = false
  #stop = new AbortController()
  #roomWaiters: (() => void)[] = []
  #settleWaiters: { upTo: number; resolve: () => void }[] = []

  constructor(transport: Transport, orgId: () => Promise<string>, options: RecorderOptions = {}) {
    this.#transport = transport
    this.#orgId = orgId
    this.#batchSize = Math.max(1, options.batchSize ?? 100)
    this.#intervalMs = options.flushIntervalMs ?? 1000
    this.#max = Math.max(this.#batchSize, options.maxBuffered ?? 10_000)
    this.#whenFull = options.whenFull ?? 'wait'
    this.#onUndeliverable = options.onUndeliverable
    this.#retryBaseMs = options.retryBaseMs ?? 500
    this.#retryMaxMs = options.retryMaxMs ?? 30_000
  }

  #isClosed(): boolean {
    return this.#closed
  }

  get #held(): number {
    return this.#queue.length + this.#inFlight.length + this.#refused.length
  }

  /** Buffers an event; resolves once it is buffered (waits while the buffer is full). */
  async record(event: AppEvent): Promise<void> {
    if (this.#closed) throw new CustodianError('CLIENT_CLOSED', 'audit.record after close()')
    const wire = toWire(event)
    while (this.#held >= this.#max) {
      if (this.#whenFull === 'throw')
        throw new CustodianError('AUDIT_BUFFER_FULL', `${this.#max} audit events are waiting to be sent`)
      await new Promise<void>((resolve) => this.#roomWaiters.push(resolve))
      if (this.#isClosed()) throw new CustodianError('CLIENT_CLOSED', 'audit.record after close()')
    }
    this.#queue.push({ n: ++this.#counter, event: wire })
    if (this.#queue.length >= this.#batchSize) this.#kick()
    else this.#timer ??= setTimeout(() => this.#kick(), this.#intervalMs)
  }

  stats(): RecorderStats {
    return {
      pending: this.#queue.length + this.#inFlight.length,
      sent: this.#sent,
      undeliverable: this.#refused.length,
      lastError: this.#lastError,
    }
  }

  /** Sends what is buffered now and waits until it is settled (or `timeoutMs` passes). */
  async flush(options: { timeoutMs?: number } = {}): Promise<FlushResult> {
    const upTo = this.#counter
    this.#kick()
    if (this.#lowestUnsettled() <= upTo) {
      const settled = new Promise<void>((resolve) => this.#settleWaiters.push({ upTo, resolve }))
      if (options.timeoutMs === undefined) await settled
      else {
        let timer: NodeJS.Timeout | undefined
        await Promise.race([settled, new Promise<void>((resolve) => (timer = setTimeout(resolve, options.timeoutMs)))])
        clearTimeout(timer)
      }
    }
    const undeliverable = this.#refused
    this.#refused = []
    this.#wakeRoom()
    return { pending: this.#queue.length + this.#inFlight.length, undeliverable }
  }

  /**
   * Stops taking events, sends what is buffered for up to `timeoutMs` (default 10 s), and
   * answers every event that did not reach Custodian.
   */
  async close(options: { timeoutMs?: number } = {}): Promise<CloseResult> {
    this.#closed = true
    for (const wake of this.#roomWaiters.splice(0)) wake()
    const { undeliverable } = await this.flush({ timeoutMs: options.timeoutMs ?? 10_000 })
    this.#stop.abort()
    await this.#sending
    clearTimeout(this.#timer)
    const why =
      this.#lastError ?? new CustodianError('TIMEOUT', 'the client closed before these audit events could be sent')
    const unsent = [...this.#inFlight, ...this.#queue].map(({ event }) => ({ event, error: why }))
    this.#queue = []
    this.#inFlight = []
    this.#wakeSettled()
    return { unsent: [...undeliverable, ...unsent] }
  }

  #kick(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#sending ??= this.#drain().finally(() => {
      this.#sending = undefined
      // Events recorded during the last request, short of a batch, wait for their interval.
      if (this.#queue.length > 0 && !this.#stop.signal.aborted)
        this.#timer ??= setTimeout(() => this.#kick(), this.#intervalMs)
    })
  }

  async #drain(): Promise<void> {
    let failures = 0
    while (this.#queue.length > 0 && !this.#stop.signal.aborted) {
      this.#inFlight = this.#queue.splice(0, this.#batchSize)
      const outcome = await this.#deliver(this.#inFlight.map((h) => h.event))
      if (outcome.kind === 'transient') {
        // Back to the front of the queue, in order; wait, then try again.
        this.#queue.unshift(...this.#inFlight)
        this.#inFlight = []
        this.#lastError = outcome.error
        failures++
        const wait = Math.min(this.#retryMaxMs, this.#retryBaseMs * 2 ** (failures - 1))
        await sleep(wait, undefined, { signal: this.#stop.signal }).catch(() => undefined)
        continue
      }
      failures = 0
      this.#lastError = undefined
      const refusedIds = new Set(outcome.refused.map((r) => r.event.id))
      this.#sent += this.#inFlight.length - refusedIds.size
      this.#inFlight = []
      if (outcome.refused.length > 0) {
        if (this.#onUndeliverable === undefined) this.#refused.push(...outcome.refused)
        else this.#onUndeliverable(outcome.refused)
      }
      this.#wakeRoom()
      this.#wakeSettled()
    }
    this.#wakeSettled()
  }

  /**
   * Sends a batch; answers which of its events the server refused for good, or a transient
   * failure (nothing known refused: all of it is to be sent again).
   */
  async #deliver(
    events: WireEvent[],
  ): Promise<{ kind: 'settled'; refused: UndeliverableEvent[] } | { kind: 'transient'; error: CustodianError }> {
    let error: CustodianError
    try {
      await this.#post(events)
      return { kind: 'settled', refused: [] }
    } catch (caught) {
      error = isCustodianError(caught)
        ? caught
        : new CustodianError('UNEXPECTED_RESPONSE', `sending audit events failed: ${(caught as Error).name}`)
    }
    if (!refusesEvents(error)) return { kind: 'transient', error }
    const named = namedIndexes(error, events.length)
    if (named.size === 0 && error.errors.length > 0) return { kind: 'transient', error }
    if (named.size > 0) {
      const refused = [...named].map((i) => ({ event: events[i] as WireEvent, error }))
      const rest = events.filter((_, i) => !named.has(i))
      if (rest.length === 0) return { kind: 'settled', refused }
      const more = await this.#deliver(rest)
      return more.kind === 'transient' ? more : { kind: 'settled', refused: [...refused, ...more.refused] }
    }
    if (events.length === 1) return { kind: 'settled', refused: [{ event: events[0] as WireEvent, error }] }
    const half = Math.ceil(events.length / 2)
    const first = await this.#deliver(events.slice(0, half))
    if (first.kind === 'transient') return first
    const second = await this.#deliver(events.slice(half))
    return second.kind === 'transient' ? second : { kind: 'settled', refused: [...first.refused, ...second.refused] }
  }

  async #post(events: WireEvent[]): Promise<void> {
    const orgId = await this.#orgId()
    const response = await this.#transport.fetch(
      new Request(`${this.#transport.origin}${BATCH_PATH(orgId)}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ events }),
      }),
    )
    await response.body?.cancel()
  }

  #lowestUnsettled(): number {
    let lowest = Infinity
    for (const h of this.#inFlight) lowest = Math.min(lowest, h.n)
    for (const h of this.#queue) lowest = Math.min(lowest, h.n)
    return lowest
  }

  #wakeRoom(): void {
    while (this.#held < this.#max && this.#roomWaiters.length > 0) this.#roomWaiters.shift()?.()
  }

  #wakeSettled(): void {
    const lowest = this.#lowestUnsettled()
    const waiting = this.#settleWaiters
    this.#settleWaiters = []
    for (const waiter of waiting) {
      if (lowest > waiter.upTo || this.#stop.signal.aborted) waiter.resolve()
      else this.#settleWaiters.push(waiter)
    }
  }
}

/** Refusals of the events themselves (never accepted as they are), not of the request's circumstances. */
function refusesEvents(error: CustodianError): boolean {
  return (
    error.status === 400 ||
    error.status === 409 ||
    error.status === 413 ||
    error.status === 422 ||
    error.code === 'INVALID_ARGUMENT'
  )
}

/** Indexes of the batch's events a problem's `errors[].path` names (`/body/events/3/action` → 3). */
function namedIndexes(error: CustodianError, count: number): Set<number> {
  const out = new Set<number>()
  for (const { path } of error.errors) {
    const match = /^\/body\/events\/(\d+)(?:\/|$)/.exec(path)
    const index = match === null ? NaN : Number(match[1])
    if (Number.isInteger(index) && index < count) out.add(index)
  }
  return out
}

function toWire(event: AppEvent): WireEvent {
  // Checked at run time too: JavaScript callers have no types to stop them.
  const given = event as Partial<AppEvent> | null
  if (typeof given?.action !== 'string' || given.action === '')
    throw new CustodianError('INVALID_ARGUMENT', 'an audit event needs an action')
  const actor = given.actor as Partial<AppEvent['actor']> | undefined
  if (typeof actor?.id !== 'string' || typeof actor.type !== 'string')
    throw new CustodianError('INVALID_ARGUMENT', 'an audit event needs an actor { id, type }')
  const at = event.occurredAt ?? new Date()
  const occurredAt = typeof at === 'string' ? at : at.toISOString()
  if (Number.isNaN(Date.parse(occurredAt)))
    throw new CustodianError('INVALID_ARGUMENT', 'occurredAt: a date (RFC 3339)')
  return { ...event, id: event.id ?? randomUUID(), occurredAt }
}
