import { transportFailure } from '../../http/outbound.ts'
import { randomUUID } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Clock } from '../../clock.ts'
import type { DB } from '../../db/schema.ts'
import { withOrg, withOwner, orgsNotServed } from '../../db/tenant.ts'
import { isAppError } from '../../errors.ts'
import { leaseFor } from '../../jobs/lease.ts'
import type { AuditService } from '../audit/audit.service.ts'
import type { VaultService } from '../vault/vault.service.ts'
import { stringValue } from '../vault/vault.types.ts'
import type { Sender, Target } from './siem.send.ts'
import * as store from './siem.store.ts'

/**
 * The stream (docs/siem.md, "Guarantees"). Per destination, in seq order:
 *
 * 1. Lease (one transaction): an atomic update takes the destination if it is active, due
 *    and not leased — so several processes never send to one destination at once — and
 *    the batch is read after its cursor (at most `batchEvents` chained events, by the
 *    chain's primary key: the cost is the batch, never the history).
 * 2. Send, with no transaction open, bounded by the timeout, which the lease outlasts by
 *    `LEASE_MARGIN_MS` (src/jobs/lease.ts): a live process's attempt always ends before its lease can be taken.
 * 3. Settle (one transaction), only while the lease is still ours: acknowledged (HTTP 2xx,
 *    or the syslog receiver's close_notify) moves the cursor to the batch's last seq;
 *    otherwise the attempt is counted and the next one scheduled (exponential backoff);
 *    after `maxAttempts` the batch is dead-lettered and the destination stops there until
 *    someone resumes (retry) or skips it — never silently.
 *
 * So every chained event reaches an acknowledging destination, in order, and a batch is
 * sent again only when its acknowledgement was not seen: the destination answered
 * nothing (it died, the connection broke, the timeout ran out), or this process died
 * between sending and settling (the lease then expires and the batch goes again). A
 * resent batch carries the same events (same `id`, `seq`, `hash`), so a receiver that
 * keeps the last seq it stored per org drops the copy.
 *
 * Deliveries are not audit events (each would be one more event to deliver, for ever);
 * a dead letter is one, as are every change by a person (siem.service.ts).
 */
export interface Delivery {
  /** The job: sends what is due to every destination; returns how many events were acknowledged. */
  deliverDue(): Promise<number>
}

/** Destinations looked at per pass, and batches per destination per pass (a backlog drains over passes). */
const DESTINATIONS_PER_PASS = 100
const BATCHES_PER_PASS = 20
/** The longest wait between two attempts of a batch. */
const MAX_BACKOFF_MS = 3_600_000
const SYSTEM = { type: 'system' as const, id: 'siem' }
const NO_REQUEST = { requestId: null, ip: null, userAgent: null }

export function createDelivery(deps: {
  db: Kysely<DB>
  audit: Pick<AuditService, 'append' | 'chainedAfter' | 'chainedHeads'>
  vault: () => Pick<VaultService, 'openCurrent'>
  sender: Sender
  clock: Clock
  options: { batchEvents: number; retryBaseMs: number; maxAttempts: number; timeoutMs: number }
  log: { warn(obj: object, msg: string): void }
}): Delivery {
  const { db, audit, clock, options } = deps

  /** The credential, opened in a transaction of its own (a paused or missing secret is a failed attempt, not a crash). */
  async function credentialOf(orgId: string, secretId: string | null): Promise<{ value?: string; error?: string }> {
    if (secretId === null) return {}
    try {
      return { value: stringValue(await withOrg(db, orgId, (trx) => deps.vault().openCurrent(trx, orgId, secretId))) }
    } catch (error) {
      return { error: `credential unavailable: ${isAppError(error) ? error.code : 'error'}` }
    }
  }

  /** One batch to one destination: `idle` (nothing to send or leased elsewhere), `delivered` or `failed`. */
  async function deliverBatch(
    orgId: string,
    id: string,
  ): Promise<{ outcome: 'idle' | 'delivered' | 'failed'; count: number }> {
    const token = randomUUID()
    const now = clock()
    const claimed = await withOrg(db, orgId, async (trx) => {
      const row = await store.lease(trx, id, token, now, new Date(now.getTime() + leaseFor(options.timeoutMs)))
      if (row === undefined) return undefined
      const events = await audit.chainedAfter(trx, orgId, Number(row.cursor_seq), options.batchEvents)
      if (events.length === 0) await store.release(trx, id, token)
      return { row, events }
    })
    if (claimed === undefined || claimed.events.length === 0) return { outcome: 'idle', count: 0 }
    const { row, events } = claimed
    const credential = await credentialOf(orgId, row.secret_id)
    const target: Target = {
      orgId,
      kind: row.kind,
      url: row.url,
      host: row.host,
      port: row.port,
      settings: row.settings,
      credential: credential.value,
    }
    const result =
      credential.error === undefined
        ? await deps.sender.send(target, events).catch((error: unknown) => ({
            // The sender answers failures itself; anything else is an attempt that failed, by its code.
            sent: events,
            status: null,
            error: `send failed: ${transportFailure(error)}`,
          }))
        : { sent: events, status: null, error: credential.error }
    const last = result.sent[result.sent.length - 1]?.event.seq ?? Number(row.cursor_seq)
    return withOrg(db, orgId, async (trx) => {
      const at = clock()
      if (result.error === null) {
        const moved = await store.acknowledge(trx, id, token, {
          lastSeq: last,
          count: result.sent.length,
          status: result.status,
          now: at,
        })
        if (!moved)
          deps.log.warn({ orgId, destination: id }, 'siem: lease lost before the acknowledgement was recorded')
        return { outcome: 'delivered' as const, count: moved ? result.sent.length : 0 }
      }
      const attempts = row.attempts + 1
      const stop = attempts >= options.maxAttempts
      const backoff = Math.min(options.retryBaseMs * 2 ** (attempts - 1), MAX_BACKOFF_MS)
      const recorded = await store.recordFailure(trx, id, token, {
        attempts,
        status: result.status,
        error: result.error,
        now: at,
        nextAttemptAt: new Date(at.getTime() + backoff),
        stop,
      })
      if (recorded && stop) {
        const fromSeq = Number(row.cursor_seq) + 1
        await store.insertDeadLetter(trx, {
          id: randomUUID(),
          org_id: orgId,
          destination_id: id,
          from_seq: fromSeq,
          to_seq: last,
          attempts,
          last_status: result.status,
          last_error: result.error,
          resolution: null,
          resolved_at: null,
          resolved_by: null,
        })
        await audit.append(trx, {
          orgId,
          actor: SYSTEM,
          action: 'siem.dead_letter',
          target: { type: 'siem_destination', id },
          outcome: 'failure',
          details: {
            name: row.name,
            kind: row.kind,
            destination: destinationOf(row),
            fromSeq,
            toSeq: last,
            attempts,
            status: result.status,
            error: result.error,
          },
          meta: NO_REQUEST,
        })
      }
      return { outcome: 'failed' as const, count: 0 }
    })
  }

  return {
    async deliverDue() {
      // Which destinations are due spans orgs: owner connection; each is then leased in its org.
      const due = await withOwner(db, (trx) =>
        store.dueDestinations(trx, clock(), DESTINATIONS_PER_PASS, orgsNotServed(db)),
      )
      if (due.length === 0) return 0
      const heads = await audit.chainedHeads([...new Set(due.map((d) => d.org_id))])
      let delivered = 0
      for (const destination of due) {
        if ((heads.get(destination.org_id) ?? 0) <= Number(destination.cursor_seq)) continue
        for (let batch = 0; batch < BATCHES_PER_PASS; batch++) {
          const { outcome, count } = await deliverBatch(destination.org_id, destination.id)
          delivered += count
          if (outcome !== 'delivered') break
        }
      }
      return delivered
    },
  }
}

/** What a log or an audit event may name of a destination: its host (and port), never a path or query. */
export function destinationOf(row: { url: string | null; host: string | null; port: number | null }): string {
  if (row.url !== null) return new URL(row.url).host
  return `${row.host ?? ''}:${row.port ?? ''}`
}
