import type { Kysely } from 'kysely'
import type { Clock } from '../../clock.ts'
import type { TlogWitnessConfig } from '../../config.ts'
import type { DB } from '../../db/schema.ts'
import { withOrg, withOwner, type Trx, orgsNotServed } from '../../db/tenant.ts'
import type { OutboundFetch } from '../../http/outbound.ts'
import * as cosign from './audit.cosign.store.ts'
import * as store from './audit.store.ts'
import { proveConsistency, tileHashReader } from './tlog-tiles.ts'
import { addCheckpoint, type AddCheckpointResult } from './tlog-witness-client.ts'
import { timeInWords } from '../../time-zone.ts'

/**
 * Checkpoints cosigned by C2SP tlog-witness witnesses (issue 21, "Witnesses";
 * docs/transparency.md, "Using witnesses"). The outbox (audit.witness.ts) holds one `tlog`
 * row per configured witness per checkpoint; delivering one:
 *
 * - One process at a time talks to a witness about an org (a lease on its state row), and
 *   only the newest pending checkpoint is sent: older pending rows are `skipped`, since
 *   cosigning the newest covers them. So the witness never sees the log's sizes go back.
 * - The request carries the size the witness is known to hold (0 at first) and the
 *   consistency proof from it, made from the stored tiles. A 409 names the witness's size:
 *   it is recorded and the checkpoint resent from it at once (at most MAX_RESENDS times).
 * - A cosignature is stored with the witness's new size in the transaction that marks the
 *   row delivered; a checkpoint cosigned by the quorum is the org's newest witnessed one.
 * - A 422, or a witness holding a size above anything this log signed, says the log forked
 *   or was rolled back: the row fails, an error is logged and `audit_witness_inconsistent`
 *   (critical) is raised. Anything else is retried with the outbox's backoff.
 * - `checkUnwitnessed` raises `audit_unwitnessed` (high, once per stretch and org) when a
 *   checkpoint signed longer ago than the threshold is above the newest witnessed one.
 */
export interface Cosigner {
  /** Delivers one claimed `tlog` row; see CosignOutcome. */
  deliver(orgId: string, row: { id: string; seq: number; witness_name: string }, note: string): Promise<CosignOutcome>
  /** Raises `audit_unwitnessed` for orgs unwitnessed longer than the threshold; returns how many. */
  checkUnwitnessed(): Promise<number>
  /**
   * Queues, for each configured witness that has never been sent anything of an org's log
   * (a witness added to the configuration), the org's newest signed checkpoint, and marks
   * the log unwitnessed from then: without it, a quiet org's log would wait for its next
   * checkpoint to reach a new witness, and its status would say it is covered. Runs once
   * per start (the witness worker's first pass); its cost follows the orgs. Returns how
   * many deliveries it queued.
   */
  catchUp(): Promise<number>
}

/** `settled`: the row is delivered, skipped or failed; `retry`: back off; `busy`: another process has the witness. */
export type CosignOutcome = { kind: 'settled' } | { kind: 'retry'; error: string } | { kind: 'busy' }

/** The alerts service's entry for signals (narrowed: the response module is created after this one). */
export interface SignalAlerts {
  raiseIn(
    trx: Trx,
    orgId: string,
    rule: string,
    firing: { key: string; title: string; details: Record<string, unknown> },
  ): Promise<string | undefined>
}

/** 409s answered in a row before the delivery is left to the backoff. */
const MAX_RESENDS = 3

export function createCosigner(deps: {
  db: Kysely<DB>
  clock: Clock
  fetch: OutboundFetch
  witnesses: readonly TlogWitnessConfig[]
  quorum: number
  unwitnessedAlertSeconds: number
  timeoutMs: number
  alerts: () => SignalAlerts
  log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void }
}): Cosigner {
  const { db, clock } = deps
  const byName = new Map(deps.witnesses.map((w) => [w.name, w]))
  const names = deps.witnesses.map((w) => w.name)
  // Long enough for every request of one delivery; a crashed holder's lease runs out.
  const leaseMs = (MAX_RESENDS + 1) * deps.timeoutMs + 30_000
  const owner = <T>(fn: (trx: Trx) => Promise<T>) => withOwner(db, fn)

  async function inconsistent(orgId: string, id: string, seq: number, witness: string, message: string) {
    const now = clock()
    deps.log.error(
      { orgId, witness, seq, error: message },
      'audit checkpoint: a witness refused it as inconsistent with what it cosigned (fork or rollback?)',
    )
    await owner((trx) => cosign.recordWitnessError(trx, orgId, witness, message, now))
    await withOrg(db, orgId, async (trx) => {
      await cosign.finishDelivery(trx, id, 'failed', message, now)
      await deps.alerts().raiseIn(trx, orgId, 'audit_witness_inconsistent', {
        key: witness,
        title: `witness ${witness} says the audit log is inconsistent with what it cosigned`,
        details: { witness, size: seq, message },
      })
    })
    return { kind: 'settled' } as const
  }

  async function deliverLeased(
    orgId: string,
    row: { id: string; seq: number },
    witness: TlogWitnessConfig,
    heldSize: number,
    note: string,
  ): Promise<CosignOutcome> {
    const { seq } = row
    const skip = async (why: string) => {
      await owner((trx) => cosign.finishDelivery(trx, row.id, 'skipped', why, clock()))
      return { kind: 'settled' } as const
    }
    // Skipped meanwhile by the process that held the lease before us: nothing to send.
    if (!(await owner((trx) => cosign.isPending(trx, row.id)))) return { kind: 'settled' }
    const newest = await owner((trx) => cosign.newestPendingSeq(trx, orgId, witness.name))
    if (newest !== undefined && newest > seq) return skip(`superseded by the checkpoint at ${newest}`)
    await owner((trx) => cosign.skipPendingBelow(trx, orgId, witness.name, seq))
    let known = heldSize
    for (let round = 0; round <= MAX_RESENDS; round++) {
      if (known > seq) {
        const signed = await owner(async (trx) => (await store.latestCheckpoint(trx, orgId))?.checkpoint.seq ?? 0)
        if (known <= signed) return skip(`the witness holds the checkpoint at ${known} already`)
        return inconsistent(
          orgId,
          row.id,
          seq,
          witness.name,
          `the witness holds size ${known}, above the newest checkpoint this log signed (${signed}): the log was rolled back or forked`,
        )
      }
      const from = known
      const proof =
        from === 0 || from === seq
          ? []
          : await withOrg(db, orgId, (trx) => proveConsistency(from, seq, tileHashReader(store.tileReader(trx, orgId))))
      let result: AddCheckpointResult
      try {
        result = await addCheckpoint({
          url: witness.url,
          witnessVerifierKey: witness.verifierKey,
          note,
          oldSize: from,
          proof,
          fetch: deps.fetch,
          timeoutMs: deps.timeoutMs,
        })
      } catch (error) {
        // Nothing to resend: the request itself cannot be made (a bad note or key).
        const message = (error as Error).message.slice(0, 200)
        await owner(async (trx) => {
          await cosign.recordWitnessError(trx, orgId, witness.name, message, clock())
          await cosign.finishDelivery(trx, row.id, 'failed', message, clock())
        })
        return { kind: 'settled' }
      }
      switch (result.kind) {
        case 'cosigned': {
          const [first] = result.cosignatures
          if (first === undefined) return { kind: 'retry', error: 'no cosignature' }
          await owner(async (trx) => {
            const now = clock()
            await cosign.storeCosignature(trx, orgId, seq, witness.name, first, now)
            await cosign.updateWitnessed(trx, orgId, seq, names, deps.quorum, now)
            await cosign.finishDelivery(trx, row.id, 'delivered', null, now)
          })
          return { kind: 'settled' }
        }
        case 'conflict': {
          known = result.witnessSize
          // A size above anything this log signed is not stored: one lying answer must not
          // stop every later delivery to this witness (the next one asks again).
          const signed = await owner(async (trx) => (await store.latestCheckpoint(trx, orgId))?.checkpoint.seq ?? 0)
          if (known > signed) continue
          await owner((trx) => cosign.setKnownSize(trx, orgId, witness.name, known, clock()))
          continue
        }
        case 'inconsistent':
          return inconsistent(orgId, row.id, seq, witness.name, `422: ${result.message}`)
        case 'refused':
        case 'invalid-response':
        case 'transport-error': {
          const error = result.kind === 'transport-error' ? result.message : `${result.status}: ${result.message}`
          await owner((trx) => cosign.recordWitnessError(trx, orgId, witness.name, error, clock()))
          return { kind: 'retry', error }
        }
      }
    }
    return { kind: 'retry', error: `the witness answered 409 ${MAX_RESENDS + 1} times in a row` }
  }

  return {
    async deliver(orgId, row, note) {
      const witness = byName.get(row.witness_name)
      if (witness === undefined) {
        await owner((trx) =>
          cosign.finishDelivery(trx, row.id, 'failed', 'this witness is no longer configured', clock()),
        )
        return { kind: 'settled' }
      }
      const now = clock()
      const held = await owner((trx) =>
        cosign.leaseWitness(trx, orgId, witness.name, now, new Date(now.getTime() + leaseMs)),
      )
      if (held === undefined) return { kind: 'busy' }
      try {
        return await deliverLeased(orgId, row, witness, held, note)
      } finally {
        await owner((trx) => cosign.releaseWitness(trx, orgId, witness.name))
      }
    },

    async catchUp() {
      if (names.length === 0) return 0
      return owner((trx) => cosign.queueForNewWitnesses(trx, names))
    },

    async checkUnwitnessed() {
      if (names.length === 0) return 0
      const cutoff = new Date(clock().getTime() - deps.unwitnessedAlertSeconds * 1000)
      const due = await owner((trx) => cosign.dueUnwitnessed(trx, cutoff, 100, orgsNotServed(db)))
      let raised = 0
      for (const { org_id: orgId, unwitnessed_since: since } of due) {
        await withOrg(db, orgId, async (trx) => {
          const claimed = await cosign.claimUnwitnessedAlert(trx, orgId, since)
          if (claimed === undefined) return // another process raised it
          const states = await cosign.witnessStates(trx, orgId, names)
          deps.log.warn(
            { orgId, unwitnessedSince: since.toISOString(), witnessedSize: claimed.witnessedSeq },
            'audit log: no witness quorum for a checkpoint older than the threshold',
          )
          await deps.alerts().raiseIn(trx, orgId, 'audit_unwitnessed', {
            key: 'log',
            title: `the audit log has checkpoints unwitnessed since ${timeInWords(since)}`,
            details: {
              unwitnessedSince: since.toISOString(),
              witnessedSize: claimed.witnessedSeq,
              witnessedAt: claimed.witnessedAt?.toISOString() ?? null,
              quorum: deps.quorum,
              witnesses: states.map((s) => ({
                name: s.witness,
                cosignedSize: s.cosigned_size === null ? null : Number(s.cosigned_size),
                lastError: s.last_error,
              })),
            },
          })
          raised++
        })
      }
      return raised
    },
  }
}
