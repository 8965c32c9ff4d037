import type { Kysely } from 'kysely'
import type { Logger } from 'pino'
import type { DB } from '../../db/schema.ts'
import { withOwner } from '../../db/tenant.ts'
import type { Signer } from '../../crypto/keys.ts'
import type { Trx } from '../../db/tenant.ts'
import {
  canonicalJson,
  chainHashOfJson,
  checkpointMessage,
  GENESIS_HASH,
  type CheckpointPayload,
  type SignedCheckpoint,
} from './audit.format.ts'
import * as store from './audit.store.ts'
import { checkpointOrigin, openCheckpointNote, signNote } from './audit.note.ts'
import { EMPTY_TREE_HASH, leafHash, verifyConsistency } from './merkle.ts'
import { appendLeaves, proveConsistency, rightEdgeTiles, tileHashReader, treeHash } from './tlog-tiles.ts'
import { formatCheckpoint } from './tlog-checkpoint.ts'
import { periodic } from '../../jobs/periodic.ts'
import { auditChained, type AuditChainedMessage } from '../../observability/events.ts'

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
  /** Witnesses each new checkpoint is queued for (audit.witness.ts delivers them; `tlog` ones by name). */
  witnesses: readonly store.WitnessTarget[]
  /** Events of an existing chain taken into the Merkle tree per pass and org (default 20,000). */
  treeBackfillPerPass?: number | undefined
  /**
   * `false` only to measure what the tree costs (bench/tree.ts): the chain alone, and no
   * checkpoint (a checkpoint signs the tree). Never set by the service.
   */
  maintainTree?: boolean | undefined
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
/** Leaves gathered before the tree's tiles are written, within one pass's transaction. */
const TREE_APPEND_EVERY = 10_000
/** Events of an existing chain taken into the tree per pass (the tree's migration at start). */
const TREE_BACKFILL_PER_PASS = 20_000

export function createSequencer(deps: {
  db: Kysely<DB>
  signer: Signer
  options: SequencerOptions
  log: Pick<Logger, 'error' | 'info'>
  /**
   * Orgs not chained now: refused as rolled back (rollback.service.ts). Their chain must not
   * grow, nor a checkpoint be signed, before an operator acknowledges where it stands.
   */
  paused?: (orgId: string) => boolean
}): Sequencer {
  const { db, signer, options, log } = deps

  /**
   * Appends leaves to the org's Merkle tree: reads its right-edge tiles, stores the tiles
   * that changed (C2SP tlog-tiles), moves `head.treeSize`. Same transaction as the caller.
   */
  async function growTree(trx: Trx, orgId: string, head: store.Head, leaves: readonly Buffer[]): Promise<void> {
    if (leaves.length === 0) return
    const edge = await store.tileReader(trx, orgId).readTiles(rightEdgeTiles(head.treeSize))
    const grown = appendLeaves(head.treeSize, edge, leaves)
    await store.writeTiles(trx, orgId, grown.tiles)
    head.treeSize = grown.size
  }

  /**
   * Takes an existing chain into the tree, a batch per pass (the tree did not exist before
   * migration 0025): resumable, since each pass commits how far it got.
   */
  async function backfillTree(trx: Trx, orgId: string, head: store.Head): Promise<void> {
    const before = head.treeSize
    const budget = options.treeBackfillPerPass ?? TREE_BACKFILL_PER_PASS
    while (head.treeSize < head.seq && head.treeSize - before < budget) {
      const page = await store.chainedEventsPage(
        trx,
        orgId,
        head.treeSize,
        Math.min(BATCH, budget - (head.treeSize - before)),
        { exactRange: true },
      )
      const leaves: Buffer[] = []
      for (const stored of page) {
        if (stored.event.seq !== head.treeSize + leaves.length + 1)
          throw new Error(`audit tree of org ${orgId}: seq ${stored.event.seq} out of order while building the tree`)
        leaves.push(leafHash(Buffer.from(canonicalJson(stored.event), 'utf8')))
      }
      if (leaves.length === 0) throw new Error(`audit tree of org ${orgId}: chain ends before seq ${head.seq}`)
      await growTree(trx, orgId, head, leaves)
    }
    if (head.treeSize > before)
      log.info(
        { orgId, treeSize: head.treeSize, chained: head.seq },
        head.treeSize < head.seq ? 'audit tree: taking the existing chain into the tree' : 'audit tree: caught up',
      )
  }

  async function chainOrg(orgId: string): Promise<number> {
    return withOwner(db, async (trx) => {
      if (!(await store.tryLockChain(trx, orgId))) return 0
      const head: store.Head = (await store.readHead(trx, orgId)) ?? {
        seq: 0,
        hash: GENESIS_HASH,
        checkpointSeq: 0,
        checkpointAt: null,
        treeSize: 0,
        rootHash: EMPTY_TREE_HASH,
      }
      const treeBefore = head.treeSize
      const tree = options.maintainTree !== false
      if (tree && head.treeSize < head.seq) await backfillTree(trx, orgId, head)
      let chained = 0
      // The tree follows the chain in the same transaction once it has caught up. Its leaves
      // are appended a few thousand at a time, not per batch: each append rewrites the
      // right-edge tiles whole (up to 8 KiB each), so fewer appends write far fewer bytes.
      const caughtUp = tree && head.treeSize === head.seq
      let leaves: Buffer[] = []
      for (;;) {
        const rows = await store.unchainedEvents(trx, orgId, BATCH)
        const updates: store.ChainUpdate[] = []
        for (const row of rows) {
          const seq = head.seq + 1
          const json = Buffer.from(canonicalJson(store.toChainedEvent(row, seq)), 'utf8')
          const hash = chainHashOfJson(head.hash, json)
          updates.push({ id: Number(row.id), seq, prevHash: head.hash, hash })
          if (caughtUp) leaves.push(leafHash(json))
          head.seq = seq
          head.hash = hash
        }
        await store.writeChain(trx, orgId, updates)
        // The window in which an event is not yet tamper-evident (DESIGN.md), for metrics.
        if (auditChained.hasSubscribers && rows.length > 0) {
          const now = Date.now()
          auditChained.publish({
            delaysSeconds: rows.map((row) => Math.max(0, (now - row.occurred_at.getTime()) / 1000)),
          } satisfies AuditChainedMessage)
        }
        if (leaves.length >= TREE_APPEND_EVERY) {
          await growTree(trx, orgId, head, leaves)
          leaves = []
        }
        chained += rows.length
        if (rows.length < BATCH) break
      }
      await growTree(trx, orgId, head, leaves)
      if (head.treeSize !== treeBefore)
        head.rootHash = await treeHash(head.treeSize, tileHashReader(store.tileReader(trx, orgId)))
      if (head.treeSize === head.seq && checkpointDue(head)) await signCheckpoint(trx, orgId, head)
      if (head.seq > 0) await store.saveHead(trx, orgId, head)
      return chained
    })
  }

  /**
   * Signs a checkpoint of the tree at `head.seq`: the C2SP signed note of its root, and the
   * JSON form of the chain head (version 1). Never one that does not extend the last one
   * signed: the new tree must prove consistent with the last checkpoint's root (RFC 9162
   * §2.1.4), or nothing is signed and the error is logged.
   */
  /**
   * The tree root the last checkpoint signed, read from its signed note (never from the
   * `root_hash` column alone, which anyone writing the database could clear): undefined
   * for a checkpoint signed before the tree (its note's hash line is the chain head) or
   * before notes, or by another key (a rotated audit key; nothing to check it with here).
   * Throws when the note does not verify under the signing key it names.
   */
  function signedRoot(orgId: string, last: SignedCheckpoint): Buffer | undefined {
    if (last.keyId !== signer.keyId) {
      log.error(
        { orgId, keyId: last.keyId },
        'audit sequencer: the last checkpoint was signed by another key; its tree is not compared',
      )
      return undefined
    }
    if (last.note === undefined) return last.rootHash === undefined ? undefined : Buffer.from(last.rootHash, 'hex')
    const opened = openCheckpointNote(last.note, Buffer.from(signer.publicKey, 'base64url'))
    if (opened.size !== last.checkpoint.seq)
      throw new Error(`audit tree of org ${orgId}: the last checkpoint's note names another size`)
    return opened.hash === last.checkpoint.hash ? undefined : Buffer.from(opened.hash, 'hex')
  }

  async function signCheckpoint(trx: Trx, orgId: string, head: store.Head): Promise<void> {
    const last = await store.latestCheckpoint(trx, orgId)
    const lastRoot = last === undefined ? undefined : signedRoot(orgId, last)
    if (last !== undefined && lastRoot !== undefined) {
      const proof = await proveConsistency(
        last.checkpoint.seq,
        head.treeSize,
        tileHashReader(store.tileReader(trx, orgId)),
      )
      if (!verifyConsistency(last.checkpoint.seq, head.treeSize, lastRoot, head.rootHash, proof))
        throw new Error(
          `audit tree of org ${orgId}: the tree at ${head.treeSize} does not extend the checkpoint at ${last.checkpoint.seq}; not signing`,
        )
    }
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
      formatCheckpoint({ origin, size: head.treeSize, rootHash: head.rootHash, extensions: [] }),
      origin,
      Buffer.from(signer.publicKey, 'base64url'),
      (message) => signer.sign(message),
    )
    await store.insertCheckpoint(
      trx,
      { checkpoint, keyId: signer.keyId, signature, note, rootHash: head.rootHash.toString('hex') },
      options.witnesses,
    )
    head.checkpointSeq = head.seq
    head.checkpointAt = new Date(checkpoint.time)
  }

  function checkpointDue(head: store.Head): boolean {
    if (head.seq <= head.checkpointSeq) return false
    if (head.seq - head.checkpointSeq >= options.checkpointEvery) return true
    if (head.checkpointAt === null) return true
    return Date.now() - head.checkpointAt.getTime() >= options.checkpointSeconds * 1000
  }

  async function pass(): Promise<void> {
    for (const orgId of await store.orgsNeedingWork(db, options.checkpointSeconds)) {
      if (deps.paused?.(orgId) === true) continue
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
