import { open } from 'node:fs/promises'
import type { Kysely } from 'kysely'
import type { Clock } from '../../clock.ts'
import type { DB } from '../../db/schema.ts'
import { withOrg, withOwner, type Trx } from '../../db/tenant.ts'
import type { OutboundFetch } from '../../http/outbound.ts'
import type { WebhookEvent } from '../notify/notify.tables.ts'
import type { WitnessKind } from './audit.tables.ts'
import { leaseFor } from '../../jobs/lease.ts'
import type { Cosigner } from './audit.cosign.ts'

/**
 * Checkpoints leave the database (DESIGN.md, "Evidence leaves the building"): each signed
 * checkpoint, as a C2SP signed note, goes to the org's webhooks subscribed to
 * `audit.checkpoint` and to the operator's witnesses — an HTTPS endpoint
 * (`CUSTODIAN_AUDIT_WITNESS_URL`) and a file (`CUSTODIAN_AUDIT_WITNESS_FILE`). Anyone who
 * keeps one can later show that the log was cut or rewritten below it
 * (`custodian audit verify --checkpoint`).
 *
 * - Durable outbox: the sequencer writes one `audit_witness_deliveries` row per witness in
 *   the transaction that signs the checkpoint. Rows are leased by an atomic update (several
 *   processes share the work), retried with exponential backoff (the webhook settings), and
 *   marked `failed` after the last attempt.
 * - Webhooks: the note is handed to the webhook machinery (signed, retried, listed in the
 *   org's deliveries), in one transaction with marking the row delivered — or `skipped`
 *   when no webhook of the org subscribes to `audit.checkpoint`.
 * - HTTPS: `POST` of the note itself, `text/plain`; HTTPS only, no redirects. The note is
 *   self-authenticating, so no further signature is added.
 * - File: the note is appended with a single `write` on a descriptor opened `O_APPEND`,
 *   then `fsync`: concurrent processes never interleave a note, and a note acknowledged is
 *   on disk. Notes follow one another, each ending with its signature line and a blank line.
 * - C2SP tlog-witness (`CUSTODIAN_AUDIT_TLOG_WITNESSES`): one row per witness, delivered
 *   by audit.cosign.ts (consistency proof, 409 resend, cosignatures stored); what it cannot
 *   settle is retried here like the others.
 * - Deliveries are not audit events: an event per delivery would need a new checkpoint,
 *   which needs a delivery — a loop. Their state is in the outbox table.
 */
export interface WitnessDelivery {
  /** Sends what is due; returns how many deliveries it settled (delivered or failed). */
  deliverDue(): Promise<number>
}

export function createWitnessDelivery(deps: {
  db: Kysely<DB>
  clock: Clock
  fetch: OutboundFetch
  url: string | undefined
  file: string | undefined
  webhooks: () => {
    enqueue(trx: Trx, orgId: string, event: WebhookEvent, payload: Record<string, unknown>): Promise<number>
  }
  /** Delivers `tlog` rows (audit.cosign.ts). */
  cosigner: Pick<Cosigner, 'deliver'>
  retry: { baseMs: number; maxAttempts: number; timeoutMs: number }
  log: { warn(obj: object, msg: string): void }
  /** Orgs whose checkpoints wait: refused as rolled back (rollback.service.ts); left out of the due list. */
  pausedOrgs?: () => readonly string[]
}): WitnessDelivery {
  const { db, clock } = deps

  async function claim(orgId: string, id: string) {
    return withOrg(db, orgId, async (trx) => {
      const now = clock()
      const row = await trx
        .updateTable('audit_witness_deliveries')
        .set((eb) => ({
          attempts: eb('attempts', '+', 1),
          next_attempt_at: new Date(now.getTime() + leaseFor(deps.retry.timeoutMs)),
        }))
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .where('next_attempt_at', '<=', now)
        .returningAll()
        .executeTakeFirst()
      if (row === undefined) return undefined
      const checkpoint = await trx
        .selectFrom('audit_checkpoints')
        .select(['seq', 'hash', 'note', 'key_id', 'signed_at'])
        .where('org_id', '=', orgId)
        .where('seq', '=', row.seq)
        .executeTakeFirst()
      return { row, checkpoint }
    })
  }

  async function send(
    witness: WitnessKind,
    orgId: string,
    id: string,
    checkpoint: { seq: number; hash: Uint8Array; note: string; key_id: string; signed_at: Date },
  ): Promise<void> {
    const origin = checkpoint.note.slice(0, checkpoint.note.indexOf('\n'))
    switch (witness) {
      case 'webhooks':
        await withOrg(db, orgId, async (trx) => {
          const hooks = await deps.webhooks().enqueue(trx, orgId, 'audit.checkpoint', {
            checkpoint: {
              origin,
              size: checkpoint.seq,
              hash: Buffer.from(checkpoint.hash).toString('hex'),
              keyId: checkpoint.key_id,
              signedAt: checkpoint.signed_at.toISOString(),
              note: checkpoint.note,
            },
          })
          // No subscribed webhook: nothing left, and the status must not say it did.
          await trx
            .updateTable('audit_witness_deliveries')
            .set(
              hooks > 0
                ? { status: 'delivered', delivered_at: clock(), last_error: null }
                : { status: 'skipped', last_error: null },
            )
            .where('id', '=', id)
            .execute()
        })
        return
      case 'https': {
        if (deps.url === undefined) throw new Error('no witness URL is configured')
        const response = await deps.fetch(deps.url, {
          method: 'POST',
          redirect: 'manual',
          signal: AbortSignal.timeout(deps.retry.timeoutMs),
          headers: {
            'content-type': 'text/plain; charset=utf-8',
            'user-agent': 'Custodian-Witness/1',
            'x-custodian-org': orgId,
            'x-custodian-checkpoint-size': String(checkpoint.seq),
          },
          body: checkpoint.note,
        })
        // Only the status counts: the body is not read (an endpoint could send without end).
        await response.body?.cancel().catch(() => undefined)
        if (response.status < 200 || response.status >= 300) throw new Error(`HTTP ${response.status}`)
        return
      }
      case 'tlog':
        throw new Error('tlog deliveries go through the cosigner')
      case 'file': {
        if (deps.file === undefined) throw new Error('no witness file is configured')
        const handle = await open(deps.file, 'a', 0o644)
        try {
          await handle.write(`${checkpoint.note}\n`)
          await handle.sync()
        } finally {
          await handle.close()
        }
        return
      }
    }
  }

  async function settle(orgId: string, id: string, attempts: number, error: string | null): Promise<boolean> {
    return withOrg(db, orgId, async (trx) => {
      const now = clock()
      const final = error === null || attempts >= deps.retry.maxAttempts
      await trx
        .updateTable('audit_witness_deliveries')
        .set({
          status: error === null ? 'delivered' : final ? 'failed' : 'pending',
          last_error: error,
          ...(error === null ? { delivered_at: now } : {}),
          next_attempt_at: final
            ? now
            : new Date(now.getTime() + Math.min(deps.retry.baseMs * 2 ** (attempts - 1), 6 * 3_600_000)),
        })
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .execute()
      return final
    })
  }

  /** Gives a claimed row back without counting the attempt: another process talks to that witness now. */
  async function release(orgId: string, id: string): Promise<void> {
    await withOrg(db, orgId, (trx) =>
      trx
        .updateTable('audit_witness_deliveries')
        .set((eb) => ({ attempts: eb('attempts', '-', 1), next_attempt_at: new Date(clock().getTime() + 1000) }))
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .execute(),
    )
  }

  return {
    async deliverDue() {
      // Which deliveries are due spans orgs: owner connection; each is claimed in its org.
      const paused = deps.pausedOrgs?.() ?? []
      const due = await withOwner(db, (trx) =>
        trx
          .selectFrom('audit_witness_deliveries')
          .select(['id', 'org_id'])
          .where('status', '=', 'pending')
          .$if(paused.length > 0, (q) => q.where('org_id', 'not in', paused))
          .where('next_attempt_at', '<=', clock())
          .orderBy('next_attempt_at')
          .limit(50)
          .execute(),
      )
      let settled = 0
      for (const { id, org_id: orgId } of due) {
        const claimed = await claim(orgId, id)
        if (claimed === undefined) continue // another process has it
        const { row, checkpoint } = claimed
        let error: string | null = null
        if (checkpoint?.note == null) error = 'checkpoint has no signed note'
        else if (row.witness === 'tlog') {
          const outcome = await deps.cosigner
            .deliver(orgId, { id, seq: Number(row.seq), witness_name: row.witness_name }, checkpoint.note)
            .catch((cause: unknown) => ({ kind: 'retry' as const, error: String((cause as Error).message) }))
          if (outcome.kind === 'settled') {
            settled++
            continue
          }
          if (outcome.kind === 'busy') {
            await release(orgId, id)
            continue
          }
          error = outcome.error.slice(0, 200)
          deps.log.warn(
            { orgId, witness: row.witness_name, seq: row.seq, attempt: row.attempts, error },
            'audit checkpoint: witness did not cosign; will retry',
          )
        } else {
          try {
            await send(row.witness, orgId, id, { ...checkpoint, seq: Number(checkpoint.seq), note: checkpoint.note })
            if (row.witness === 'webhooks') {
              settled++
              continue
            }
          } catch (cause) {
            error = (
              (cause as { cause?: { code?: string }; message?: string }).cause?.code ??
              (cause as { message?: string }).message ??
              'error'
            ).slice(0, 200)
            deps.log.warn(
              { orgId, witness: row.witness, seq: row.seq, attempt: row.attempts, error },
              'audit checkpoint: witness delivery failed; will retry',
            )
          }
        }
        if (
          await settle(
            orgId,
            id,
            error === null ? row.attempts : checkpoint?.note == null ? deps.retry.maxAttempts : row.attempts,
            error,
          )
        )
          settled++
      }
      return settled
    },
  }
}
