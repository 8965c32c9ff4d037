import type { Kysely } from 'kysely'
import type { Logger } from 'pino'
import type { DB } from '../../db/schema.ts'
import { withOwner } from '../../db/tenant.ts'
import type { Signer } from '../../crypto/keys.ts'
import { chainHash, checkpointMessage, GENESIS_HASH, type CheckpointPayload } from './audit.format.ts'
import * as store from './audit.store.ts'
import { checkpointOrigin, checkpointText, signNote } from './audit.note.ts'
import type { WitnessKind } from './audit.tables.ts'
import { periodic } from '../../jobs/periodic.ts'

/**
 * The sequencer turns committed events into the tamper-evident chain (DESIGN.md, "Audit
 * log"). Requests never lock anything org-wide: each writes its event in its own
 * transaction. Here, one process at a time per org (an advisory lock, so N processes
 * are safe) gives the events that have no `seq` yet their `seq`, `prev_hash` and `hash`,
 * in one transaction, and signs a checkpoint every N events or T seconds.
 *
 * A crash loses nothing: an event is durable from its own commit, and the next pass —
 * in this process or another — chains whatever is still unchained.
 */
export interface SequencerOptions {
  intervalMs: number
  checkpointEvery: number
  checkpointSeconds: number
  /** Host part of each org's checkpoint origin, `<host>/audit/<org id>`. */
  originHost: string
  /** Witnesses each new checkpoint is queued for (audit.witness.ts delivers them). */
  witnesses: readonly WitnessKind[]
}

export interface Sequencer {
  start(): void
  /** Stops the timer, waits for the pass in flight, then chains what is left. */
  stop(): Promise<void>
  /** Runs passes until nothing is left to chain (tests, shutdown, CLI). */
  flush(): Promise<void>
  /** One pass over every org with work (or joins the one in flight). */
  runOnce(): Promise<void>
}

const BATCH = 500

export function createSequencer(deps: {
  db: Kysely<DB>
  signer: Signer
  options: SequencerOptions
  log: Pick<Logger, 'error'>
}): Sequencer {
  const { db, signer, options, log } = deps
  async function chainOrg(orgId: string): Promise<number> {
    return withOwner(db, async (trx) => {
      if (!(await store.tryLockChain(trx, orgId))) return 0
      const head = (await store.readHead(trx, orgId)) ?? {
        seq: 0,
        hash: GENESIS_HASH,
        checkpointSeq: 0,
        checkpointAt: null,
      }
      let chained = 0
      for (;;) {
        const rows = await store.unchainedEvents(trx, orgId, BATCH)
        const updates: store.ChainUpdate[] = []
        for (const row of rows) {
          const seq = head.seq + 1
          const hash = chainHash(head.hash, store.toChainedEvent(row, seq))
          updates.push({ id: Number(row.id), seq, prevHash: head.hash, hash })
          head.seq = seq
          head.hash = hash
        }
        await store.writeChain(trx, orgId, updates)
        chained += rows.length
        if (rows.length < BATCH) break
      }
      if (checkpointDue(head)) {
        const checkpoint: CheckpointPayload = {
          v: 1,
          org: orgId,
          seq: head.seq,
          hash: head.hash.toString('hex'),
          time: new Date().toISOString(),
        }
        const signature = signer.sign(checkpointMessage(checkpoint)).toString('base64url')
        const origin = checkpointOrigin(options.originHost, orgId)
        const note = signNote(
          checkpointText(origin, head.seq, head.hash),
          origin,
          Buffer.from(signer.publicKey, 'base64url'),
          (message) => signer.sign(message),
        )
        await store.insertCheckpoint(trx, { checkpoint, keyId: signer.keyId, signature, note }, options.witnesses)
        head.checkpointSeq = head.seq
        head.checkpointAt = new Date(checkpoint.time)
      }
      if (head.seq > 0) await store.saveHead(trx, orgId, head)
      return chained
    })
  }

  function checkpointDue(head: store.Head): boolean {
    if (head.seq <= head.checkpointSeq) return false
    if (head.seq - head.checkpointSeq >= options.checkpointEvery) return true
    if (head.checkpointAt === null) return true
    return Date.now() - head.checkpointAt.getTime() >= options.checkpointSeconds * 1000
  }

  async function pass(): Promise<void> {
    for (const orgId of await store.orgsNeedingWork(db, options.checkpointSeconds)) {
      try {
        await chainOrg(orgId)
      } catch (error) {
        log.error({ err: error, orgId }, 'audit sequencer: chaining failed; will retry')
      }
    }
  }

  const job = periodic('audit sequencer', options.intervalMs, pass, log)

  async function flush(): Promise<void> {
    // Another process may hold an org's lock; give it a few passes to finish.
    for (let attempt = 0; attempt < 50; attempt++) {
      await job.runOnce()
      if (!(await store.anyUnchained(db))) return
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }

  return {
    start: () => job.start(),
    async stop() {
      await job.stop()
      await flush().catch((error: unknown) => log.error({ err: error }, 'audit sequencer: final flush failed'))
    },
    flush,
    runOnce: () => job.runOnce(),
  }
}
