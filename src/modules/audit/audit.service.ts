import { randomUUID } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { DB } from '../../db/schema.ts'
import { isDatabaseUnavailable, withOrg, withOwner, type Trx } from '../../db/tenant.ts'
import { hmacValue, type Signer } from '../../crypto/keys.ts'
import type { RetiredAuditKey } from '../../crypto/key-record.ts'
import { AppError, isAppError } from '../../errors.ts'
import {
  canonicalJson,
  verifyChainLinks,
  type ChainLink,
  type StoredChainEvent,
  type VerifyResult,
} from './audit.format.ts'
import * as store from './audit.store.ts'
import { addSignatureLines, noteVerifierKey, openKeptCheckpoints } from './audit.note.ts'
import * as cosign from './audit.cosign.store.ts'
import type { AuditEventInput, AuditEventView, NamedAuditEventView } from './audit.types.ts'
import { memberEmails } from '../../db/people.ts'
import { HASH_SIZE } from './merkle.ts'
import { RECEIPT_TYPE, type AuditReceipt } from './audit.receipt.ts'
import {
  encodeEntryBundle,
  parseTilePath,
  proveConsistency,
  proveInclusion,
  tileHashReader,
  TILE_WIDTH,
} from './tlog-tiles.ts'

export interface AuditQuery {
  /** Only Custodian's own events, or only the host application's. */
  origin?: 'custodian' | 'application' | undefined
  actorId?: string | undefined
  action?: string | undefined
  /**
   * Any of these actions (exact or `family.*`), instead of `action`: each is read as its own
   * indexed page and the pages are merged, so a page costs at most `limit + 1` rows per
   * pattern however rare each is (the embedded viewer's scope). Empty: an empty page.
   */
  actions?: readonly string[] | undefined
  targetId?: string | undefined
  outcome?: string | undefined
  from?: Date | undefined
  to?: Date | undefined
  cursor?: string | undefined
  limit: number
}

export interface AuditStatus {
  /** The last chained event's seq (0 before the first is chained); events waiting for the sequencer never move it. */
  headSeq: number
  headHash: string | null
  /** Events committed but not chained yet, and when the oldest of them happened. */
  unchained: number
  oldestUnchainedAt: string | null
  lastCheckpointSeq: number
  lastCheckpointAt: string | null
  /** Checkpoint deliveries to witnesses (webhooks, the operator's endpoint and file): waiting, given up, newest delivered. */
  witnesses: { pending: number; failed: number; lastDeliveredSeq: number | null }
  /** Cosigning by the configured C2SP tlog-witness witnesses. */
  witnessing: WitnessingStatus
}

export interface WitnessingStatus {
  /** Cosignatures a checkpoint needs to count as witnessed; 0 when no witness is configured. */
  quorum: number
  /** The newest checkpoint size that reached the quorum, and when it did; null before the first. */
  witnessedSize: number | null
  witnessedAt: string | null
  /** When the oldest signed checkpoint above `witnessedSize` was signed; null when none is. */
  unwitnessedSince: string | null
  /** Each configured witness: the last size it cosigned and when, its last error (cleared by a cosignature). */
  witnesses: { name: string; cosignedSize: number | null; cosignedAt: string | null; lastError: string | null }[]
}

export interface LatestCheckpoint {
  origin: string
  size: number
  /** hex `hash_size` of the chain: the last event's chain hash at `size`. */
  hash: string
  /**
   * hex root of the org's Merkle tree (RFC 9162) at `size`: the note's hash line (base64
   * there). Null for a checkpoint signed before the tree, whose note's hash line is `hash`.
   */
  rootHash: string | null
  signedAt: string
  keyId: string
  /** The signed-note verifier key: `<origin>+<key hash>+<base64(0x01 || public key)>`. */
  verifierKey: string
  /** The signed note with the witnesses' cosignature lines collected so far. */
  note: string
  /** Who cosigned it so far: witness name and cosignature timestamp (POSIX seconds). */
  cosignatures: { witness: string; timestamp: number }[]
}

export interface ChainHealth {
  headSeq: number
  lastCheckpointAt: string | null
  unchained: number
  lastEventAt: string | null
}

export interface AuditService {
  /**
   * Adds an event in the caller's transaction, beside the change it records: both commit
   * or neither does. A failure here must fail the request (fail closed).
   */
  append(trx: Trx, event: AuditEventInput): Promise<void>
  /** Records an event in a transaction of its own: a refusal (the request's transaction was rolled back) or an event with no change beside it. */
  recordSeparately(event: AuditEventInput): Promise<void>
  query(orgId: string, query: AuditQuery): Promise<{ events: AuditEventView[]; nextCursor: string | null }>
  /**
   * The org's own events page (`GET …/audit/events`): {@link AuditService.query}, each event
   * with `actorEmail`, the email of its actor when that actor is a user who is a member of
   * `orgId` now; null otherwise (a service account, the system, a former member, or a
   * provider's operator acting under a grant: never the email of someone outside the org).
   * The emails cost one lookup by primary key per distinct actor of the page, in the page's
   * transaction — never per row of the org's history.
   */
  namedQuery(orgId: string, query: AuditQuery): Promise<{ events: NamedAuditEventView[]; nextCursor: string | null }>
  /** One event of the org as the events page shows it, chained or not yet; undefined if the org has none by that id. */
  event(orgId: string, eventId: string): Promise<AuditEventView | undefined>
  /** JSON Lines export of the org's chain, read a page per transaction. */
  exportLines(orgId: string): AsyncGenerator<string>
  /** `keptNotes`: checkpoints kept outside Custodian to compare the chain with (CLI `--checkpoint`). */
  verify(orgId: string, options?: { keptNotes?: readonly string[] | undefined }): Promise<VerifyResult>
  /**
   * Verifies every org's chain over the owner connection (CLI), and every org a kept
   * checkpoint names: a whole org's log removed is a truncation too.
   */
  verifyAll(options?: { keptNotes?: readonly string[] | undefined }): Promise<VerifyResult[]>
  /** The org's newest signed checkpoint as a C2SP signed note, for a customer to keep; undefined before the first. */
  latestCheckpoint(orgId: string): Promise<LatestCheckpoint | undefined>
  status(orgId: string): Promise<AuditStatus>
  /**
   * RFC 9162 §2.1.3 inclusion proof of the event at `seq` (leaf `seq − 1`) in the org's
   * tree of `size` leaves, from stored tiles (a few index reads, whatever the log's length).
   * `size` may be at most the newest signed checkpoint's. Throws AppError: VALIDATION_FAILED
   * naming the parameter when 1 ≤ seq ≤ size ≤ signed size does not hold; NOT_FOUND before
   * the first checkpoint of the tree.
   */
  inclusionProof(orgId: string, seq: number, size: number): Promise<{ hashes: Buffer[]; signedSize: number }>
  /** RFC 9162 §2.1.4 consistency proof between tree sizes `from` ≤ `to` ≤ the newest signed size; empty when from is 0 or equal to to. */
  consistencyProof(orgId: string, from: number, to: number): Promise<{ hashes: Buffer[]; signedSize: number }>
  /**
   * A C2SP tlog-tiles resource of the org's tree (`tile/<L>/<N>[.p/<W>]` or
   * `tile/entries/<N>[.p/<W>]`): the bytes, and whether it is a full (immutable) tile;
   * undefined when the path is not a tile path or the tree does not reach it.
   */
  tile(orgId: string, path: string): Promise<{ body: Buffer; full: boolean; hashesOnly: boolean } | undefined>
  /**
   * The receipt of one event (audit.receipt.ts): the event as chained, its inclusion proof
   * and the newest signed checkpoint of the tree. Throws AppError NOT_FOUND when the org has
   * no such event, or no signed checkpoint covers it yet (within a checkpoint interval).
   */
  receipt(orgId: string, eventId: string): Promise<AuditReceipt>
  /** {@link receipt}, or null while the event is not chained or no signed checkpoint covers it (or there is no such event). */
  receiptOrNull(orgId: string, eventId: string): Promise<AuditReceipt | null>
  /**
   * {@link receiptOrNull} in the caller's transaction, which must be `orgId`'s (a consent
   * receipt in a subject's access export is made inside the request's transaction).
   */
  receiptIn(trx: Trx, orgId: string, eventId: string): Promise<AuditReceipt | null>
  /** The org of an event, over the owner connection (CLI `audit prove`); undefined if none. */
  orgOfEvent(eventId: string): Promise<string | undefined>
  /** The sealed personal fields of a data subject's events, in the caller's org transaction. */
  personalOf(trx: Trx, subjectRef: Buffer): Promise<{ eventId: string; time: string; action: string; sealed: Buffer }[]>
  /** Erases a subject's personal fields from the log; the chain, which holds only their commitments, still verifies. */
  erasePersonal(trx: Trx, subjectRef: Buffer): Promise<number>
  /** Org offboarding: deletes an org's whole chain (events, head, checkpoints), holding its sequencer lock. */
  eraseOrgLog(trx: Trx, orgId: string): Promise<number>
  /**
   * Chain figures of several orgs at once (owner connection, operator view): how far each
   * chain reaches, its last checkpoint and how many events wait to be chained. Never an
   * event's content.
   */
  chainHealth(orgIds: string[]): Promise<Map<string, ChainHealth>>
  /**
   * Chained events after `afterSeq`, in seq order, at most `limit`, as the export writes
   * them (SIEM streaming), in the caller's org transaction: a bounded range of the
   * gap-free chain, read by its primary key.
   */
  chainedAfter(trx: Trx, orgId: string, afterSeq: number, limit: number): Promise<StoredChainEvent[]>
  /** The org's chained head (its highest seq; 0 before the first), in the caller's org transaction. */
  chainedHeadSeq(trx: Trx, orgId: string): Promise<number>
  /** The chained head seq of each org that has one (owner connection, one statement): jobs that follow the chain. */
  chainedHeads(orgIds: readonly string[]): Promise<Map<string, number>>
  /**
   * The audit signing keys: the current one first, then those retired after a loss
   * (`retiredAt` set; they verify only the checkpoints they signed before it).
   */
  publicKeys(): { keyId: string; publicKey: string; algorithm: 'Ed25519'; retiredAt?: string }[]
}

const PAGE = 1000
/** Links per page of a verification walk: the walk holds at most two (one verified, the next being read). */
export const VERIFY_PAGE = 5000

export function createAuditService(deps: {
  db: Kysely<DB>
  signer: Signer
  hmacKey: Buffer
  /** Audit keys replaced after a loss (src/crypto/key-record.ts): they verify the checkpoints they signed before. */
  retiredKeys?: readonly RetiredAuditKey[] | undefined
  /** The configured tlog witnesses' names and the quorum (status only: cosignatures are served whoever made them). */
  tlogWitnesses?: { names: readonly string[]; quorum: number } | undefined
  /** Links per page of a verification walk (default {@link VERIFY_PAGE}). */
  verifyPageSize?: number | undefined
}): AuditService {
  const { db, signer, hmacKey } = deps
  const tlogWitnesses = deps.tlogWitnesses ?? { names: [], quorum: 0 }
  const keys = new Map([[signer.keyId, signer.publicKey]])
  const retired = new Map<string, RetiredAuditKey>()
  for (const key of deps.retiredKeys ?? []) {
    if (key.keyId === signer.keyId) continue
    keys.set(key.keyId, key.publicKey)
    retired.set(key.keyId, key)
  }
  /** For one org: each retired key's bound (the highest checkpoint seq it signed there; 0: none). */
  const retiredUpTo = (orgId: string) =>
    new Map([...retired.values()].map((key) => [key.keyId, key.signedUpTo[orgId] ?? 0]))
  const publicKeys = [...keys].map(([keyId, publicKey]) => {
    const key = retired.get(keyId)
    return {
      keyId,
      algorithm: 'Ed25519' as const,
      publicKey,
      ...(key === undefined ? {} : { retiredAt: key.retiredAt }),
    }
  })

  function toRow(event: AuditEventInput): store.NewAuditEventRow {
    const details: Record<string, unknown> = {
      ...event.details,
      ...(event.meta.grantId === undefined ? {} : { grant: event.meta.grantId }),
      ...(event.personal === undefined ? {} : { personal: event.personal.commitment }),
    }
    for (const [key, value] of Object.entries(event.sensitive ?? {})) details[key] = hmacValue(hmacKey, value)
    const detailsJcs = canonicalJson(details)
    // A leaf of the tree is at most 65,535 bytes in a C2SP entry bundle (2-byte length):
    // details beyond this bound would make the event unservable, so the request fails closed.
    if (Buffer.byteLength(detailsJcs, 'utf8') > MAX_DETAILS_BYTES)
      throw new Error(`audit event details of ${event.action} exceed ${MAX_DETAILS_BYTES} bytes`)
    return {
      org_id: event.orgId,
      event_id: event.eventId ?? randomUUID(),
      // Millisecond precision: the time is hashed as its ISO string and must read back equal.
      occurred_at: new Date(Date.now()),
      actor_type: event.actor.type,
      actor_id: event.actor.id,
      action: event.action,
      target_type: event.target?.type ?? null,
      target_id: event.target?.id ?? null,
      outcome: event.outcome,
      ip: event.meta.ip,
      user_agent: event.meta.userAgent?.slice(0, 512) ?? null,
      request_id: event.meta.requestId,
      // canonicalJson rejects what JCS cannot encode (NaN, Infinity, cycles) before it is stored.
      details: detailsJcs,
    }
  }

  type Runner = <T>(fn: (trx: Trx) => Promise<T>) => Promise<T>
  const asOrg =
    (orgId: string): Runner =>
    (fn) =>
      withOrg(db, orgId, fn)
  const asOwner: Runner = (fn) => withOwner(db, fn)

  /** The org's chained events in seq order, a page per transaction (long reads hold nothing open). */
  async function* chainedEvents(orgId: string, run: Runner) {
    let afterSeq = 0
    for (;;) {
      const page = await run((trx) => store.chainedEventsPage(trx, orgId, afterSeq, PAGE))
      yield* page
      if (page.length < PAGE) return
      afterSeq = page[page.length - 1]?.event.seq ?? afterSeq
    }
  }

  const verifyPageSize = deps.verifyPageSize ?? VERIFY_PAGE

  /**
   * The org's chain links in seq order for verification, a page per transaction (long
   * reads hold nothing open). The next page is read while the current one is verified, so
   * the database and the hashing overlap; at most two pages are held at once.
   */
  async function* chainLinkPages(orgId: string, run: Runner): AsyncGenerator<ChainLink[]> {
    const read = (afterSeq: number) => run((trx) => store.chainLinksPage(trx, orgId, afterSeq, verifyPageSize))
    let next: Promise<ChainLink[]> | undefined = read(0)
    try {
      while (next !== undefined) {
        const page: ChainLink[] = await next
        const last = page.at(-1)
        next = page.length < verifyPageSize || last === undefined ? undefined : read(last.seq)
        yield page
      }
    } finally {
      // A walk abandoned (an error in the verifier): the read in flight settles unobserved.
      next?.catch(() => undefined)
    }
  }

  async function witnessingStatus(trx: Trx, orgId: string): Promise<WitnessingStatus> {
    const { names, quorum } = tlogWitnesses
    const witnessing = names.length === 0 ? undefined : await cosign.witnessingOf(trx, orgId)
    const states = new Map((await cosign.witnessStates(trx, orgId, names)).map((s) => [s.witness, s]))
    const witnessedSize = Number(witnessing?.witnessed_seq ?? 0)
    return {
      quorum,
      witnessedSize: witnessedSize === 0 ? null : witnessedSize,
      witnessedAt: witnessing?.witnessed_at?.toISOString() ?? null,
      unwitnessedSince: witnessing?.unwitnessed_since?.toISOString() ?? null,
      witnesses: names.map((name) => {
        const state = states.get(name)
        return {
          name,
          cosignedSize: state?.cosigned_size == null ? null : Number(state.cosigned_size),
          cosignedAt: state?.cosigned_at?.toISOString() ?? null,
          lastError: state?.last_error ?? null,
        }
      }),
    }
  }

  /** The receipt of one event, read in the caller's org transaction (see AuditService.receipt). */
  async function receiptIn(trx: Trx, orgId: string, eventId: string): Promise<AuditReceipt> {
    const row = await store.chainedEvent(trx, orgId, eventId)
    if (row === undefined)
      throw new AppError(
        'NOT_FOUND',
        'no such event in this org, or not chained yet (ask again after the next checkpoint)',
      )
    // The newest witnessed checkpoint when it covers the event (its cosignatures make
    // the receipt checkable against witnesses), else the newest signed one.
    const witnessed = await cosign.witnessingOf(trx, orgId)
    const cosigned =
      witnessed !== undefined && Number(witnessed.witnessed_seq) >= row.seq
        ? await store.checkpointAt(trx, orgId, Number(witnessed.witnessed_seq))
        : undefined
    const latest = cosigned?.note !== undefined ? cosigned : await store.latestCheckpoint(trx, orgId)
    if (latest?.rootHash === undefined || latest.note === undefined || latest.checkpoint.seq < row.seq)
      throw new AppError('NOT_FOUND', 'no signed checkpoint covers this event yet; ask again after the next checkpoint')
    const size = latest.checkpoint.seq
    const proof = await proveInclusion(row.seq - 1, size, tileHashReader(store.tileReader(trx, orgId)))
    const cosignatures = await cosign.cosignaturesOf(trx, orgId, size)
    return {
      type: RECEIPT_TYPE,
      event: store.toChainedEvent(row, row.seq),
      size,
      proof: proof.map((h) => h.toString('base64')),
      checkpoint: addSignatureLines(
        latest.note,
        cosignatures.map((c) => c.line),
      ),
    }
  }

  // The database gone (a failover, a shutdown) while the event was sent is the database's
  // unavailability, answered as such (SERVICE_UNAVAILABLE), not the audit log's: the whole
  // transaction was lost with the connection, the event's insert only happened to be in flight.
  const auditUnavailable = (cause: unknown): Error =>
    isDatabaseUnavailable(cause)
      ? (cause as Error)
      : new AppError(
          'AUDIT_UNAVAILABLE',
          'the audit log could not record this action, so it was not performed',
          {},
          { cause },
        )

  const service: AuditService = {
    async append(trx, event) {
      // Fail closed: when the event cannot be recorded, the caller's transaction, and with it
      // the change, is rolled back (the insert may be sent with the COMMIT: the error then
      // comes from the commit, and the change is not committed either).
      await store.insertEvent(trx, toRow(event), event.personal, auditUnavailable)
    },

    async recordSeparately(event) {
      await withOrg(db, event.orgId, (trx) => store.insertEvent(trx, toRow(event), event.personal))
    },

    async query(orgId, query) {
      const { rows, nextCursor } = await withOrg(db, orgId, (trx) => pageOf(trx, orgId, query))
      return { events: rows.map(toView), nextCursor }
    },

    async namedQuery(orgId, query) {
      return withOrg(db, orgId, async (trx) => {
        const { rows, nextCursor } = await pageOf(trx, orgId, query)
        // Only Custodian's own users: an application event's actor is the host application's
        // end user, whose id means nothing among the org's members.
        const memberId = (row: store.ListedEventRow) =>
          row.origin === 'custodian' && row.actor_type === 'user' && row.actor_id !== null ? row.actor_id : undefined
        const emails = await memberEmails(trx, orgId, rows.map(memberId))
        const events = rows.map((row) => ({
          ...toView(row),
          actorEmail: emails[memberId(row)?.toLowerCase() ?? ''] ?? null,
        }))
        return { events, nextCursor }
      })
    },

    async event(orgId, eventId) {
      const row = await withOrg(db, orgId, (trx) => store.eventById(trx, orgId, eventId))
      return row === undefined ? undefined : toView(row)
    },

    async *exportLines(orgId) {
      const checkpoints = await withOrg(db, orgId, (trx) => store.listCheckpoints(trx, orgId))
      yield `${JSON.stringify({
        kind: 'header',
        format: 'custodian-audit-export/1',
        org: orgId,
        exportedAt: new Date().toISOString(),
        // A retired key with its bound for this org: it verifies no checkpoint above that seq.
        keys: publicKeys.map((key) => {
          const bound = retired.get(key.keyId)
          return bound === undefined ? key : { ...key, signedUpTo: bound.signedUpTo[orgId] ?? 0 }
        }),
      })}\n`
      for await (const stored of chainedEvents(orgId, asOrg(orgId))) {
        yield `${JSON.stringify({ kind: 'event', ...stored })}\n`
      }
      for (const signed of checkpoints) yield `${JSON.stringify({ kind: 'checkpoint', ...signed })}\n`
    },

    async verify(orgId, options = {}) {
      const kept = options.keptNotes === undefined ? undefined : openKeptCheckpoints(options.keptNotes, keys.values())
      // Count the unchained events before walking the chain: an event chained meanwhile is
      // then read by the walk, so every event that existed at the start is either verified
      // or counted as unchained (counting after the walk could miss one in between).
      const unchained = await withOrg(db, orgId, (trx) => store.countUnchained(trx, orgId))
      const checkpoints = await withOrg(db, orgId, (trx) => store.listCheckpoints(trx, orgId))
      const result = await verifyChainLinks(orgId, chainLinkPages(orgId, asOrg(orgId)), checkpoints, keys, {
        kept,
        requireCheckpoint: 'if-events',
        retiredUpTo: retiredUpTo(orgId),
      })
      return { ...result, unchained }
    },

    async verifyAll(options = {}) {
      const kept = options.keptNotes === undefined ? undefined : openKeptCheckpoints(options.keptNotes, keys.values())
      const named = [...(kept?.opened ?? []), ...(kept?.rejected ?? [])].flatMap((k) =>
        k.org === undefined ? [] : [k.org],
      )
      const results: VerifyResult[] = []
      for (const orgId of new Set([...(await store.orgsWithEvents(db)), ...named])) {
        const checkpoints = await asOwner((trx) => store.listCheckpoints(trx, orgId))
        results.push(
          await verifyChainLinks(orgId, chainLinkPages(orgId, asOwner), checkpoints, keys, {
            kept,
            requireCheckpoint: 'if-events',
            retiredUpTo: retiredUpTo(orgId),
          }),
        )
      }
      return results
    },

    async latestCheckpoint(orgId) {
      // The newest checkpoint only (one index read, whatever the log's length): one signed
      // before signed notes existed has none, and the next checkpoint brings one.
      const found = await withOrg(db, orgId, async (trx) => {
        const signed = await store.latestCheckpoint(trx, orgId)
        if (signed?.note === undefined) return undefined
        return { signed, cosignatures: await cosign.cosignaturesOf(trx, orgId, signed.checkpoint.seq) }
      })
      if (found === undefined) return undefined
      const { signed, cosignatures } = found
      const note = signed.note as string
      const origin = note.slice(0, note.indexOf('\n'))
      return {
        origin,
        size: signed.checkpoint.seq,
        hash: signed.checkpoint.hash,
        rootHash: signed.rootHash ?? null,
        signedAt: signed.checkpoint.time,
        keyId: signed.keyId,
        verifierKey: noteVerifierKey(origin, Buffer.from(keys.get(signed.keyId) ?? signer.publicKey, 'base64url')),
        note: addSignatureLines(
          note,
          cosignatures.map((c) => c.line),
        ),
        cosignatures: cosignatures.map(({ witness, timestamp }) => ({ witness, timestamp })),
      }
    },

    async inclusionProof(orgId, seq, size) {
      return asOrg(orgId)(async (trx) => {
        const signedSize = await signedTreeSize(trx, orgId)
        if (!(size >= 1 && size <= signedSize))
          throw invalidQuery('size', `size must be between 1 and the newest signed checkpoint's size (${signedSize})`)
        if (!(seq >= 1 && seq <= size)) throw invalidQuery('seq', `seq must be between 1 and size (${size})`)
        const hashes = await proveInclusion(seq - 1, size, tileHashReader(store.tileReader(trx, orgId)))
        return { hashes, signedSize }
      })
    },

    async consistencyProof(orgId, from, to) {
      return asOrg(orgId)(async (trx) => {
        const signedSize = await signedTreeSize(trx, orgId)
        if (!(to >= 1 && to <= signedSize))
          throw invalidQuery('to', `to must be between 1 and the newest signed checkpoint's size (${signedSize})`)
        if (!(from >= 0 && from <= to)) throw invalidQuery('from', `from must be between 0 and to (${to})`)
        const hashes =
          from === 0 || from === to
            ? []
            : await proveConsistency(from, to, tileHashReader(store.tileReader(trx, orgId)))
        return { hashes, signedSize }
      })
    },

    async tile(orgId, path) {
      const parsed = parseTilePath(path)
      if (parsed === undefined) return undefined
      return asOrg(orgId)(async (trx) => {
        if (parsed.kind === 'tile') {
          const { level, n, width } = parsed.tile
          const stored = await store.readTile(trx, orgId, level, n)
          if (stored === undefined || stored.length < width * HASH_SIZE) return undefined
          return { body: stored.subarray(0, width * HASH_SIZE), full: width === TILE_WIDTH, hashesOnly: true }
        }
        const { n, width } = parsed.bundle
        const page = await store.chainedEventsPage(trx, orgId, n * TILE_WIDTH, width, { exactRange: true })
        if (page.length < width) return undefined
        const entries = page.map((stored) => Buffer.from(canonicalJson(stored.event), 'utf8'))
        return { body: encodeEntryBundle(entries), full: width === TILE_WIDTH, hashesOnly: false }
      })
    },

    async receipt(orgId, eventId) {
      return asOrg(orgId)((trx) => receiptIn(trx, orgId, eventId))
    },

    async receiptIn(trx, orgId, eventId) {
      try {
        return await receiptIn(trx, orgId, eventId)
      } catch (error) {
        if (isAppError(error) && error.code === 'NOT_FOUND') return null
        throw error
      }
    },

    async receiptOrNull(orgId, eventId) {
      try {
        return await service.receipt(orgId, eventId)
      } catch (error) {
        if (isAppError(error) && error.code === 'NOT_FOUND') return null
        throw error
      }
    },

    async orgOfEvent(eventId) {
      return asOwner((trx) => store.orgOfEvent(trx, eventId))
    },

    async personalOf(trx, subjectRef) {
      return (await store.personalOf(trx, subjectRef)).map((r) => ({
        eventId: r.event_id,
        time: r.occurred_at.toISOString(),
        action: r.action,
        sealed: Buffer.from(r.sealed),
      }))
    },

    erasePersonal: (trx, subjectRef) => store.erasePersonal(trx, subjectRef),

    eraseOrgLog: (trx, orgId) => store.eraseOrgLog(trx, orgId),

    async chainHealth(orgIds) {
      const rows = await asOwner((trx) => store.chainHealth(trx, orgIds))
      return new Map(
        rows.map((r) => [
          r.org_id,
          {
            headSeq: Number(r.head_seq ?? 0),
            lastCheckpointAt: r.checkpoint_at?.toISOString() ?? null,
            unchained: Number(r.unchained),
            lastEventAt: r.last_event_at?.toISOString() ?? null,
          },
        ]),
      )
    },

    async chainedAfter(trx, orgId, afterSeq, limit) {
      return store.chainedEventsPage(trx, orgId, afterSeq, limit, { exactRange: true })
    },

    async chainedHeadSeq(trx, orgId) {
      return (await store.chainedHead(trx, orgId))?.seq ?? 0
    },

    async chainedHeads(orgIds) {
      if (orgIds.length === 0) return new Map()
      const rows = await asOwner((trx) => store.chainedHeads(trx, orgIds))
      return new Map(rows.map((r) => [r.orgId, r.seq]))
    },

    async status(orgId) {
      return withOrg(db, orgId, async (trx) => {
        const head = await store.chainedHead(trx, orgId)
        const waiting = await store.unchainedSummary(trx, orgId)
        const last = await store.latestCheckpoint(trx, orgId)
        return {
          headSeq: head?.seq ?? 0,
          headHash: head?.hash.toString('hex') ?? null,
          unchained: waiting.count,
          oldestUnchainedAt: waiting.oldest?.toISOString() ?? null,
          lastCheckpointSeq: last?.checkpoint.seq ?? 0,
          lastCheckpointAt: last?.checkpoint.time ?? null,
          witnesses: await store.witnessSummary(trx, orgId),
          witnessing: await witnessingStatus(trx, orgId),
        }
      })
    },

    publicKeys() {
      return publicKeys.map((key) => ({ ...key }))
    },
  }
  return service
}

/** A page of the org's events, newest first, and the cursor of the next (null at the end). */
async function pageOf(
  trx: Trx,
  orgId: string,
  query: AuditQuery,
): Promise<{ rows: store.ListedEventRow[]; nextCursor: string | null }> {
  const beforeId = query.cursor === undefined ? undefined : decodeCursor(query.cursor)
  const { actions, ...filter } = query
  let rows: store.ListedEventRow[]
  if (actions === undefined) rows = await store.queryEvents(trx, orgId, { ...filter, beforeId, limit: query.limit + 1 })
  else {
    const merged = new Map<number, store.ListedEventRow>()
    for (const action of new Set(actions)) {
      for (const row of await store.queryEvents(trx, orgId, { ...filter, action, beforeId, limit: query.limit + 1 }))
        merged.set(Number(row.id), row)
    }
    rows = [...merged.values()].sort((x, y) => Number(y.id) - Number(x.id)).slice(0, query.limit + 1)
  }
  const page = rows.slice(0, query.limit)
  const last = page[page.length - 1]
  return {
    rows: page,
    nextCursor: rows.length > query.limit && last !== undefined ? encodeCursor(Number(last.id)) : null,
  }
}

/** The API view: the event as it is hashed, without its chain position fields, plus its links. */
function toView(row: store.ListedEventRow): AuditEventView {
  const { v: _version, org: _org, seq: _seq, origin: _origin, ...event } = store.toChainedEvent(row, 0)
  return {
    ...event,
    origin: row.origin,
    actor: event.actor as AuditEventView['actor'],
    seq: row.seq === null ? null : Number(row.seq),
    hash: row.hash === null ? null : Buffer.from(row.hash).toString('hex'),
    prevHash: row.prev_hash === null ? null : Buffer.from(row.prev_hash).toString('hex'),
  }
}

/** The size of the newest checkpoint that signs the tree; NOT_FOUND before the first. */
async function signedTreeSize(trx: Trx, orgId: string): Promise<number> {
  const latest = await store.latestCheckpoint(trx, orgId)
  if (latest?.rootHash === undefined) throw new AppError('NOT_FOUND', 'no signed checkpoint of the tree yet')
  return latest.checkpoint.seq
}

function invalidQuery(name: string, message: string): AppError {
  return new AppError('VALIDATION_FAILED', message, { errors: [{ path: `/query/${name}`, message }] })
}

/** Bytes of an event's details (JCS); the rest of the event stays far below 65,535 − this. */
const MAX_DETAILS_BYTES = 60_000

function encodeCursor(id: number): string {
  return Buffer.from(`a:${id}`).toString('base64url')
}

function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString('utf8')
  const match = /^a:(\d{1,15})$/.exec(text)
  if (match === null)
    throw new AppError('VALIDATION_FAILED', 'cursor is not one this server issued', {
      errors: [{ path: '/query/cursor', message: 'invalid cursor' }],
    })
  return Number(match[1])
}
