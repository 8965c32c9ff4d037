import type { Kysely } from 'kysely'
import type { Clock } from '../../clock.ts'
import type { TlogWitnessConfig } from '../../config.ts'
import type { DB } from '../../db/schema.ts'
import { withOwner, type Trx } from '../../db/tenant.ts'
import { AppError } from '../../errors.ts'
import type { OutboundFetch } from '../../http/outbound.ts'
import type { AuditService } from './audit.service.ts'
import type { AuditActor, RequestMeta } from './audit.types.ts'
import { createWitnessReader } from './audit.witness-read.ts'
import {
  checkpointOfNote,
  compareWithChain,
  createFileWitness,
  type Comparison,
  type WitnessedCheckpoint,
} from './rollback.detect.ts'

/**
 * Rollback detection (P8.1; docs/operations.md, "Rollback detection and point-in-time
 * recovery"). A database restored from a backup, a snapshot or a point in time is older
 * than what the witnesses saw: a witness holds a checkpoint the chain no longer reaches
 * (`behind`), or another root at that size (`forked`). Such an org is **rolled back**: the
 * service refuses every request of it (503 `ORG_ROLLED_BACK`) — its restored state may hold
 * credentials revoked since, secrets destroyed since, grants ended since — and writes
 * nothing for it (no request is served, its chain is not extended, no checkpoint goes out),
 * until an operator acknowledges the rollback.
 *
 * - Readable witnesses: the operator's witness file (every note read back, incrementally)
 *   and the C2SP tlog witnesses (their monitoring path, `GET <url>/<hex SHA-256(origin)>/checkpoint`).
 *   The HTTPS endpoint and the org's webhooks are write-only: nothing is read back from them.
 *   No readable witness configured: detection is not armed, every org is served, and the
 *   operator view and the P8.1 compliance check say so.
 * - When: once at start before the service answers (buildApp), then every
 *   `CUSTODIAN_AUDIT_ROLLBACK_CHECK_MS`. Per org the cost is one request per tlog witness and
 *   O(log n) rows (rollback.detect.ts): it does not grow with the history.
 * - Fail closed: an org for which no readable witness answered (every one unreachable) is
 *   refused as `ORG_ROLLBACK_UNCHECKED` until one does (each periodic pass asks again). A
 *   security product that cannot tell whether a tenant's database went back in time must
 *   not hand out what that database says (a revoked token, a destroyed secret) meanwhile;
 *   the way out, when a witness is gone for good, is to remove it from the configuration.
 * - Acknowledging (`acknowledge`) keeps, for each witnessed checkpoint the chain does not
 *   match, a row accepting it as superseded, and records `audit.rollback.acknowledge` in
 *   the provider org and in the org's own log, in one transaction: the org's chain goes on
 *   from the restored head, and its next checkpoint covers the event that names the
 *   witnessed size and root it forked from. A C2SP witness never cosigns a log that went
 *   back (it is built to refuse that): it keeps answering with the old checkpoint and
 *   refuses the new ones (`audit_witness_inconsistent`) until its operator resets that log.
 * - Each process keeps the state in memory from its own checks; an acknowledgement made by
 *   another process (or the CLI) is seen at the next pass.
 */
export type OrgRollbackState =
  | { state: 'consistent'; checkedAt: Date }
  | {
      state: 'rolled_back'
      kind: 'behind' | 'forked'
      source: string
      witnessedSize: number
      witnessedHash: string
      localSize: number
      localHash: string | null
      checkedAt: Date
    }
  | { state: 'unchecked'; problems: string[]; checkedAt: Date }
  /**
   * The witness file holds checkpoints of an org the database does not have at all: a
   * restore lost the whole tenant. Reported (and failing `custodian audit check-rollback`)
   * until an operator acknowledges it; requests naming it answer 503 ORG_ROLLED_BACK.
   */
  | { state: 'missing'; source: string; witnessedSize: number; witnessedHash: string; checkedAt: Date }

export interface RollbackGuard {
  /** Whether detection is armed (a readable witness is configured), and which sources it reads. */
  readonly armed: boolean
  readonly sources: readonly string[]
  /** The refusal for an org's requests now, or undefined when it is served. */
  refusal(orgId: string): 'ORG_ROLLED_BACK' | 'ORG_ROLLBACK_UNCHECKED' | undefined
  /**
   * Throws the refusal for an org not served now: 503 `ORG_ROLLED_BACK`, or 503
   * `ORG_ROLLBACK_UNCHECKED` (with `retryAfter`, seconds). Called wherever a flow learns
   * which org it acts in — the URL's `{orgId}`, a credential, a body's `orgId`, a link, a
   * token, an SSO state — before anything of that org is checked, written or answered
   * (see {@link OrgServedGuard}). A string that is not an org id is left to the caller.
   */
  assertServed(orgId: string): void
  /** Every org refused now (the sequencer and the witness deliveries leave them be). */
  refusedOrgs(): string[]
  /** Checks every org (at start and periodically); returns the orgs refused after it. */
  checkAll(): Promise<number>
  /** Checks one org now and updates what `refusal` answers for it. */
  checkOrg(orgId: string): Promise<OrgRollbackState | undefined>
  /** The operator view: detection, the last pass, every org not served. */
  status(): RollbackStatus
  /** Accepts an org's rollback (see the module comment). 409 CONFLICT when it is not rolled back now. */
  acknowledge(input: {
    orgId: string
    reason: string
    actor: AuditActor
    meta: RequestMeta
  }): Promise<{ orgId: string; acknowledged: WitnessedCheckpoint[]; localSize: number; localHash: string | null }>
}

/**
 * What a flow that finds its org by itself (a sign-in, an invitation, a public link or
 * token) needs of rollback detection: the one check, made where the org becomes known
 * (`refusal` for a flow that only has to leave a refused org out, such as where a refused
 * sign-in is recorded).
 */
export type OrgServedGuard = Pick<RollbackGuard, 'assertServed' | 'refusal'>

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** The refusal for an org not served (P8.1), as every flow answers it. */
export function orgNotServed(code: 'ORG_ROLLED_BACK' | 'ORG_ROLLBACK_UNCHECKED'): AppError {
  return code === 'ORG_ROLLED_BACK'
    ? new AppError(
        'ORG_ROLLED_BACK',
        'this org’s data was rolled back to an earlier state than its witnesses saw; it is not served until an operator acknowledges the rollback (`custodian audit acknowledge-rollback` on a service machine, or POST /v1/operator/rollback/orgs/{orgId}/acknowledge while the provider org is served)',
      )
    : new AppError(
        'ORG_ROLLBACK_UNCHECKED',
        'no witness of this org’s audit log could be read, so whether its data was rolled back is not known yet; retry later',
        { retryAfter: 60 },
      )
}

export interface RollbackStatus {
  detection: 'armed' | 'not_armed'
  sources: string[]
  lastCheck: { at: string; orgs: number; problems: string[] } | null
  /** The orgs refused now, by org id: all of them here; the first 100 over the API (`refusedTotal` counts them all). */
  refused: RefusedOrg[]
  refusedTotal: number
}

type NotServed = Exclude<OrgRollbackState, { state: 'consistent' }>
/** An org refused now (or missing from the database), as the operator view shows it. */
export type RefusedOrg = { orgId: string; checkedAt: string } & (
  | Omit<Extract<NotServed, { state: 'rolled_back' }>, 'checkedAt'>
  | Omit<Extract<NotServed, { state: 'unchecked' }>, 'checkedAt'>
  | Omit<Extract<NotServed, { state: 'missing' }>, 'checkedAt'>
)

interface Witnessed {
  checkpoints: WitnessedCheckpoint[]
  /** How many readable witnesses answered for this org (a note, or "none of this log"). */
  answered: number
  problems: string[]
}

export function createRollbackGuard(deps: {
  db: Kysely<DB>
  clock: Clock
  audit: Pick<AuditService, 'append' | 'publicKeys'>
  witnessFile: string | undefined
  tlogWitnesses: readonly TlogWitnessConfig[]
  originHost: string
  fetch: OutboundFetch
  timeoutMs: number
  providerOrgId: () => Promise<string | undefined>
  log: {
    warn(obj: object, msg: string): void
    error(obj: object, msg: string): void
    info(obj: object, msg: string): void
  }
}): RollbackGuard {
  const { db, clock } = deps
  // The current key only: a note carries no seq bound a retired key could be held to (a
  // retired key may be in other hands; its notes could claim any size).
  const publicKeys = () =>
    deps.audit
      .publicKeys()
      .filter((k) => k.retiredAt === undefined)
      .map((k) => k.publicKey)
  const file = deps.witnessFile === undefined ? undefined : createFileWitness({ file: deps.witnessFile, publicKeys })
  const sources = [...(file === undefined ? [] : ['file']), ...deps.tlogWitnesses.map((w) => w.name)]
  const armed = sources.length > 0
  const states = new Map<string, OrgRollbackState>()
  let lastCheck: RollbackStatus['lastCheck'] = null

  /** What the readable witnesses hold for each org; the file is read once per call, each tlog witness asked per org. */
  async function witnessedOf(orgIds: readonly string[]): Promise<Map<string, Witnessed>> {
    const out = new Map<string, Witnessed>(orgIds.map((id) => [id, { checkpoints: [], answered: 0, problems: [] }]))
    if (file !== undefined) {
      let fileProblem: string | undefined
      try {
        await file.refresh()
      } catch (error) {
        fileProblem = `file: ${(error as Error).message}`
      }
      for (const [orgId, w] of out) {
        if (fileProblem !== undefined) {
          w.problems.push(fileProblem)
          continue
        }
        w.answered++
        const held = file.newest(orgId)
        if (held !== undefined) w.checkpoints.push(held)
      }
    }
    if (deps.tlogWitnesses.length > 0) {
      // A reader per pass: one that timed out is asked again next pass, but once per pass.
      const reader = createWitnessReader({
        fetch: deps.fetch,
        witnesses: deps.tlogWitnesses,
        originHost: deps.originHost,
        publicKeys: publicKeys(),
        timeoutMs: deps.timeoutMs,
      })
      for (const [orgId, w] of out) {
        const asked = await reader.ask(orgId)
        const answered = new Set(asked.held.map((h) => h.witness))
        for (const held of asked.held) {
          w.answered++
          const checkpoint = held.note === null ? undefined : checkpointOfNote(held.witness, held.note)
          if (checkpoint !== undefined) w.checkpoints.push(checkpoint)
        }
        for (const p of asked.problems)
          if (!answered.has(p.witness)) w.problems.push(`witness ${p.witness}: ${p.message}`)
      }
    }
    return out
  }

  async function acknowledged(trx: Trx, orgId: string, c: WitnessedCheckpoint): Promise<boolean> {
    const row = await trx
      .selectFrom('audit_rollback_acknowledgements')
      .select('org_id')
      .where('org_id', '=', orgId)
      .where('source', '=', c.source)
      .where('witnessed_size', '=', c.size)
      .where('witnessed_hash', '=', Buffer.from(c.hash, 'hex'))
      .executeTakeFirst()
    return row !== undefined
  }

  /** Every witnessed checkpoint the chain does not match and no acknowledgement accepts. */
  async function mismatches(orgId: string, witnessed: Witnessed) {
    return withOwner(db, async (trx) => {
      const found: { checkpoint: WitnessedCheckpoint; comparison: Exclude<Comparison, { kind: 'consistent' }> }[] = []
      for (const checkpoint of witnessed.checkpoints) {
        const comparison = await compareWithChain(trx, orgId, checkpoint)
        if (comparison.kind === 'consistent') continue
        if (await acknowledged(trx, orgId, checkpoint)) continue
        found.push({ checkpoint, comparison })
      }
      return found
    })
  }

  async function assess(orgId: string, witnessed: Witnessed): Promise<OrgRollbackState> {
    const checkedAt = clock()
    const found = (await mismatches(orgId, witnessed)).sort((x, y) => y.checkpoint.size - x.checkpoint.size)
    const [worst] = found
    if (worst !== undefined)
      return {
        state: 'rolled_back',
        kind: worst.comparison.kind,
        source: worst.checkpoint.source,
        witnessedSize: worst.checkpoint.size,
        witnessedHash: worst.checkpoint.hash,
        localSize: worst.comparison.localSize,
        localHash: worst.comparison.localHash,
        checkedAt,
      }
    if (witnessed.answered === 0) return { state: 'unchecked', problems: witnessed.problems, checkedAt }
    return { state: 'consistent', checkedAt }
  }

  function record(orgId: string, next: OrgRollbackState): void {
    const before = states.get(orgId)?.state
    states.set(orgId, next)
    if (next.state === 'rolled_back' && before !== 'rolled_back')
      deps.log.error(
        {
          orgId,
          kind: next.kind,
          witness: next.source,
          witnessedSize: next.witnessedSize,
          localSize: next.localSize,
        },
        'audit rollback: the org’s chain is older than (or another history than) a checkpoint a witness holds; the org is refused until an operator acknowledges it',
      )
    else if (next.state === 'missing' && before !== 'missing')
      deps.log.error(
        { orgId, witness: next.source, witnessedSize: next.witnessedSize },
        'audit rollback: a witness holds the log of an org the database does not have: a restore lost the whole org; reported until an operator acknowledges it',
      )
    else if (next.state === 'unchecked' && before !== 'unchecked')
      deps.log.error(
        { orgId, problems: next.problems },
        'audit rollback: no witness of the org’s log answered; the org is refused until one does',
      )
    else if (next.state === 'consistent' && before !== undefined && before !== 'consistent')
      deps.log.info({ orgId, was: before }, 'audit rollback: the org’s chain matches its witnesses; served again')
  }

  async function checkOrgs(orgIds: readonly string[]): Promise<void> {
    const witnessed = await witnessedOf(orgIds)
    const problems = new Set<string>()
    for (const [orgId, w] of witnessed) {
      for (const p of w.problems) problems.add(p)
      record(orgId, await assess(orgId, w))
    }
    if (problems.size > 0) deps.log.warn({ problems: [...problems] }, 'audit rollback: some witnesses did not answer')
    lastCheck = { at: clock().toISOString(), orgs: orgIds.length, problems: [...problems] }
  }

  function refusal(orgId: string): ReturnType<RollbackGuard['refusal']> {
    const state = states.get(orgId.toLowerCase())
    if (state?.state === 'rolled_back' || state?.state === 'missing') return 'ORG_ROLLED_BACK'
    if (state?.state === 'unchecked') return 'ORG_ROLLBACK_UNCHECKED'
    return undefined
  }

  function refusedList(): Pick<RollbackStatus, 'refused' | 'refusedTotal'> {
    const refused = [...states.entries()]
      .flatMap(([orgId, s]): RefusedOrg[] =>
        s.state === 'consistent' ? [] : [{ ...s, orgId, checkedAt: s.checkedAt.toISOString() }],
      )
      .sort((x, y) => x.orgId.localeCompare(y.orgId))
    return { refused, refusedTotal: refused.length }
  }

  return {
    armed,
    sources,

    refusal,

    assertServed(orgId) {
      if (!UUID.test(orgId)) return
      const code = refusal(orgId)
      if (code !== undefined) throw orgNotServed(code)
    },

    refusedOrgs() {
      return [...states.entries()].filter(([, s]) => s.state !== 'consistent').map(([orgId]) => orgId)
    },

    async checkAll() {
      if (!armed) return 0
      const orgIds = (await withOwner(db, (trx) => trx.selectFrom('orgs').select('id').orderBy('id').execute())).map(
        (o) => o.id,
      )
      await checkOrgs(orgIds)
      const present = new Set(orgIds)
      const missing = new Map<string, OrgRollbackState>()
      // Orgs only the witness file can name (a tlog witness is asked per org, by its origin).
      if (file !== undefined)
        await withOwner(db, async (trx) => {
          for (const orgId of file.orgs()) {
            const held = file.newest(orgId)
            if (present.has(orgId) || held === undefined || held.size === 0) continue
            if (await acknowledged(trx, orgId, held)) continue
            missing.set(orgId, {
              state: 'missing',
              source: held.source,
              witnessedSize: held.size,
              witnessedHash: held.hash,
              checkedAt: clock(),
            })
          }
        })
      for (const orgId of states.keys()) if (!present.has(orgId) && !missing.has(orgId)) states.delete(orgId)
      for (const [orgId, state] of missing) record(orgId, state)
      return [...states.values()].filter((s) => s.state !== 'consistent').length
    },

    async checkOrg(orgId) {
      if (!armed) return undefined
      const witnessed = await witnessedOf([orgId])
      const state = await assess(orgId, witnessed.get(orgId) as Witnessed)
      record(orgId, state)
      return state
    },

    status() {
      return {
        detection: armed ? 'armed' : 'not_armed',
        sources: [...sources],
        lastCheck,
        ...refusedList(),
      }
    },

    async acknowledge({ orgId, reason, actor, meta }) {
      if (!armed) throw new AppError('CONFLICT', 'rollback detection is not armed: no readable witness is configured')
      const witnessed = (await witnessedOf([orgId])).get(orgId) as Witnessed
      const found = await mismatches(orgId, witnessed)
      if (found.length === 0) {
        record(orgId, await assess(orgId, witnessed))
        throw new AppError(
          'CONFLICT',
          'this org’s chain matches every checkpoint its witnesses hold: nothing to acknowledge',
        )
      }
      const providerOrg = await deps.providerOrgId()
      const now = clock()
      const by = actor.id === null ? actor.type : `${actor.type}:${actor.id}`
      const [first] = found
      const localSize = first?.comparison.localSize ?? 0
      const localHash = first?.comparison.localHash ?? null
      const acknowledgedCheckpoints = found.map((f) => f.checkpoint)
      const details = {
        orgId,
        reason,
        localSize,
        localRoot: localHash,
        witnessed: found.map((f) => ({
          witness: f.checkpoint.source,
          size: f.checkpoint.size,
          root: f.checkpoint.hash,
          kind: f.comparison.kind,
        })),
      }
      await withOwner(db, async (trx) => {
        await trx
          .insertInto('audit_rollback_acknowledgements')
          .values(
            found.map((f) => ({
              org_id: orgId,
              source: f.checkpoint.source,
              witnessed_size: f.checkpoint.size,
              witnessed_hash: Buffer.from(f.checkpoint.hash, 'hex'),
              local_size: f.comparison.localSize,
              local_hash: f.comparison.localHash === null ? null : Buffer.from(f.comparison.localHash, 'hex'),
              acknowledged_at: now,
              acknowledged_by: by,
              reason,
            })),
          )
          .onConflict((oc) => oc.doNothing())
          .execute()
        const event = {
          actor,
          action: 'audit.rollback.acknowledge',
          target: { type: 'org', id: orgId },
          outcome: 'success' as const,
          details,
          meta,
        }
        // The org's own chain records the fork it continues from (an org the restore lost
        // has none); the provider's, who accepted it.
        const exists = await trx.selectFrom('orgs').select('id').where('id', '=', orgId).executeTakeFirst()
        if (exists !== undefined) await deps.audit.append(trx, { ...event, orgId })
        if (providerOrg !== undefined && providerOrg !== orgId)
          await deps.audit.append(trx, { ...event, orgId: providerOrg })
      })
      if (states.get(orgId)?.state === 'missing') states.delete(orgId)
      else record(orgId, await assess(orgId, witnessed))
      deps.log.warn(
        { orgId, localSize, witnessed: details.witnessed, by },
        'audit rollback acknowledged: the org is served again, its chain continues from the restored head',
      )
      return { orgId, acknowledged: acknowledgedCheckpoints, localSize, localHash }
    },
  }
}
