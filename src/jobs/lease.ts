/**
 * How long a process's claim on a due item (a webhook delivery, an e-mail, a witness
 * delivery, a SIEM batch) lasts: the send it covers is bounded by its timeout, and the
 * claim outlasts that timeout by `LEASE_MARGIN_MS` (claiming, opening keys, settling, a
 * slow database). So a live process's attempt always ends before another process can
 * take the item over, and an item goes twice only when its holder died mid-send (at
 * least once, never twice from two live processes). A fixed lease shorter than a
 * configurable timeout would let a slow but live send be sent again by another node.
 */
export const LEASE_MARGIN_MS = 30_000

/** The lease (ms) for an attempt whose sending is bounded by `sendTimeoutMs`. */
export function leaseFor(sendTimeoutMs: number): number {
  return sendTimeoutMs + LEASE_MARGIN_MS
}
