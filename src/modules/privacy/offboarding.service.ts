import { randomUUID } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import type { Clock } from '../../clock.ts'
import { signJws } from '../../crypto/jws.ts'
import type { Signer } from '../../crypto/keys.ts'
import type { ShredRing } from '../../crypto/shred-ring.ts'
import type { DB } from '../../db/schema.ts'
import { newestFirst, pageOf, toPage, type Page, type PageRequest, inIndexOrder } from '../../db/page.ts'
import { memberEmails } from '../../db/people.ts'
import { withOrg, withOwner, type Trx, orgsNotServed } from '../../db/tenant.ts'
import { absent, AppError } from '../../errors.ts'
import { actorOf, type RequestContext } from '../../context.ts'
import type { AuditReceipt } from '../audit/audit.receipt.ts'
import type { AuditService } from '../audit/audit.service.ts'
import type { AuditActor, RequestMeta } from '../audit/audit.types.ts'
import type { IdentityService } from '../identity/identity.service.ts'

/**
 * Org offboarding (P7.4): an owner asks for the whole org to be deleted; after a grace
 * period (24 hours by default) in which it can be cancelled, everything of the org is
 * erased in one transaction — every row of every table that carries the org, its audit
 * chain, the accounts that belonged to no other org — its keys with it (org keys, so its
 * secrets can no longer be opened; subject keys, whose shred-ring epochs are retired so
 * earlier copies of the database cannot open them either). A signed certificate lists
 * what was erased, table by table, and the provider keeps it, with the audit of the
 * deletion, in its own org.
 */
export const OFFBOARDING_CERTIFICATE_TYPE = 'custodian-offboarding-certificate+jws'

export interface OffboardingView {
  orgId: string
  orgName: string
  status: 'scheduled' | 'cancelled' | 'completed'
  requestedAt: string
  requestedBy: string
  /** The requester's email, while a member of the org, in the org's own answers; null in the operators' (another org's people). */
  requestedByEmail: string | null
  scheduledFor: string
  cancelledAt: string | null
  completedAt: string | null
  erased: Record<string, unknown> | null
  certificate: string | null
  /** The `org.offboarding.complete` event the certificate names, in the provider's log (null: none). */
  auditEvent: { org: string; id: string } | null
}

export interface OffboardingService {
  request(
    ctx: RequestContext,
    input: { confirmName: string; graceHours?: number | undefined },
  ): Promise<OffboardingView>
  get(ctx: RequestContext): Promise<OffboardingView>
  cancel(ctx: RequestContext): Promise<OffboardingView>
  /** Operators: every offboarding, with its certificate once done. */
  /** Newest request first, a page at a time (index `(requested_at, org_id)`). */
  listAll(ctx: RequestContext, page: PageRequest): Promise<Page<OffboardingView>>
  /**
   * Operators: one org's offboarding with the receipt of the event its certificate names
   * (issue 21), null until a signed checkpoint of the provider's log covers it. 404 when
   * the org was never offboarded; 403 for a customer org's caller.
   */
  getForOperator(ctx: RequestContext, orgId: string): Promise<OffboardingView & { receipt: AuditReceipt | null }>
  /** The job: carries out offboardings whose grace period is over; returns how many. */
  runDue(): Promise<number>
}

const HOUR_MS = 3_600_000
const SYSTEM = { type: 'system' as const, id: 'offboarding' }
const NO_REQUEST = { requestId: null, ip: null, userAgent: null }

export function createOffboardingService(deps: {
  db: Kysely<DB>
  audit: Pick<AuditService, 'append' | 'eraseOrgLog' | 'receiptOrNull'>
  identity: Pick<IdentityService, 'deleteOrgIn'>
  ring: ShredRing
  signer: Signer
  clock: Clock
  defaultGraceHours: number
  providerOrgId: () => Promise<string | undefined>
}): OffboardingService {
  const { db, audit, clock } = deps
  const by = (ctx: RequestContext) => `${ctx.principal.kind}:${ctx.principal.id}`

  /** The email of who asked, while they are a member of `orgId` (never another org's people). */
  const requester = async (trx: Trx, orgId: string, ref: string): Promise<string | null> =>
    (await memberEmails(trx, orgId, [ref]))[ref.replace(/^user:/, '')] ?? null

  function view(
    row: {
      org_id: string
      org_name: string
      status: OffboardingView['status']
      requested_at: Date
      requested_by: string
      scheduled_for: Date
      cancelled_at: Date | null
      completed_at: Date | null
      erased: Record<string, unknown> | null
      certificate: string | null
      audit_org_id: string | null
      audit_event_id: string | null
    },
    requestedByEmail: string | null = null,
  ): OffboardingView {
    return {
      orgId: row.org_id,
      orgName: row.org_name,
      status: row.status,
      requestedAt: row.requested_at.toISOString(),
      requestedBy: row.requested_by,
      requestedByEmail,
      scheduledFor: row.scheduled_for.toISOString(),
      cancelledAt: row.cancelled_at?.toISOString() ?? null,
      completedAt: row.completed_at?.toISOString() ?? null,
      erased: row.erased,
      certificate: row.certificate,
      auditEvent:
        row.audit_org_id === null || row.audit_event_id === null
          ? null
          : { org: row.audit_org_id, id: row.audit_event_id },
    }
  }

  /** Also recorded in the provider's log: that record outlives the org. */
  async function recordWithProvider(
    trx: Trx,
    action: string,
    orgId: string,
    details: Record<string, unknown>,
    actor: AuditActor,
    meta: RequestMeta,
    eventId?: string,
  ): Promise<void> {
    const provider = await deps.providerOrgId()
    if (provider !== undefined && provider !== orgId) {
      await audit.append(trx, {
        orgId: provider,
        actor,
        action,
        target: { type: 'org', id: orgId },
        outcome: 'success',
        details,
        eventId,
        meta,
      })
    }
  }

  /** Rows of every table that carries an `org_id` (the schema is asked, so a new table is never missed). */
  async function countRows(trx: Trx, orgId: string): Promise<Record<string, number>> {
    const tables = await sql<{ table_name: string }>`
      SELECT table_name FROM information_schema.columns
       WHERE table_schema = 'public' AND column_name = 'org_id' AND table_name NOT IN ('org_offboardings')
       ORDER BY table_name`.execute(trx)
    const counts: Record<string, number> = {}
    for (const { table_name: table } of tables.rows) {
      const n = await sql<{
        n: number
      }>`SELECT count(*)::int AS n FROM ${sql.table(table)} WHERE org_id = ${orgId}`.execute(trx)
      const count = Number(n.rows[0]?.n ?? 0)
      if (count > 0) counts[table] = count
    }
    counts.orgs = 1
    return counts
  }

  async function execute(orgId: string): Promise<boolean> {
    // The owner connection: deleting an org spans every tenant table and the provider's log.
    return withOwner(db, async (trx) => {
      const row = await trx
        .selectFrom('org_offboardings')
        .selectAll()
        .where('org_id', '=', orgId)
        .where('status', '=', 'scheduled')
        .where('scheduled_for', '<=', clock())
        .forUpdate()
        .skipLocked()
        .executeTakeFirst()
      if (row === undefined) return false
      const before = await countRows(trx, orgId)
      // Subject keys: their ring epochs are retired, so earlier copies of the database cannot open them.
      const sealed = await trx
        .selectFrom('subject_keys')
        .select(['ring_bucket', 'ring_epoch'])
        .where('org_id', '=', orgId)
        .where('shredded_at', 'is', null)
        .where('ring_epoch', 'is not', null)
        .execute()
      const epochs = [
        ...new Map(
          sealed.map((k) => [
            `${k.ring_bucket}/${k.ring_epoch}`,
            { bucket: k.ring_bucket as number, epoch: k.ring_epoch as number },
          ]),
        ).values(),
      ]
      if (epochs.length > 0)
        await trx
          .insertInto('shred_ring_pending')
          .values(epochs)
          .onConflict((oc) => oc.doNothing())
          .execute()
      const auditEvents = await audit.eraseOrgLog(trx, orgId)
      const accounts = await deps.identity.deleteOrgIn(trx, orgId)
      const after = {
        ...(await countRows(trx, orgId)),
        orgs: (await trx.selectFrom('orgs').select('id').where('id', '=', orgId).execute()).length,
      }
      const left = Object.entries(after).filter(([, n]) => n > 0)
      if (left.length > 0)
        throw new Error(`offboarding ${orgId} left rows behind: ${left.map(([t, n]) => `${t}=${n}`).join(', ')}`)
      const completedAt = clock()
      const erased = {
        rows: { ...before, audit_events: auditEvents },
        orgKeyVersions: before.org_keys ?? 0,
        subjectKeys: before.subject_keys ?? 0,
        ringEpochsToRetire: epochs.length,
        members: accounts.members,
        accountsDeleted: accounts.usersDeleted,
      }
      // The completion is recorded in the provider's log (the org's own is deleted with it);
      // the certificate names that event, so its id comes first. No provider org: no event.
      const provider = await deps.providerOrgId()
      const auditEvent = provider !== undefined && provider !== orgId ? { org: provider, id: randomUUID() } : null
      const certificate = signJws(deps.signer, OFFBOARDING_CERTIFICATE_TYPE, {
        v: 1,
        type: 'offboarding',
        id: randomUUID(),
        org: orgId,
        orgName: row.org_name,
        requestedAt: row.requested_at.toISOString(),
        requestedBy: row.requested_by,
        scheduledFor: row.scheduled_for.toISOString(),
        completedAt: completedAt.toISOString(),
        issuedAt: completedAt.toISOString(),
        erased,
        auditEvent,
        keys: 'the org keys were erased with the org: its secrets can no longer be decrypted; its subject keys’ shred-ring epochs are retired, so earlier database copies cannot open its personal data',
      })
      await trx
        .updateTable('org_offboardings')
        .set({
          status: 'completed',
          completed_at: completedAt,
          erased: JSON.stringify(erased),
          certificate,
          audit_org_id: auditEvent?.org ?? null,
          audit_event_id: auditEvent?.id ?? null,
        })
        .where('org_id', '=', orgId)
        .execute()
      await recordWithProvider(
        trx,
        'org.offboarding.complete',
        orgId,
        { orgName: row.org_name, ...erased },
        SYSTEM,
        NO_REQUEST,
        auditEvent?.id,
      )
      return true
    })
  }

  return {
    async request(ctx, input) {
      if (ctx.principal.orgKind === 'provider')
        throw new AppError('FORBIDDEN', 'the provider org cannot offboard itself', { permission: 'org:delete' })
      const graceHours = input.graceHours ?? deps.defaultGraceHours
      // Owner transaction, every statement naming the org: the request is recorded in the
      // org's log and in the provider's, atomically.
      return withOwner(db, async (trx) => {
        // The org's row is the lock: with no offboarding row yet, FOR UPDATE below locks
        // nothing, and two first requests would both pass the check (the second's upsert
        // overwriting the first). NO KEY UPDATE leaves inserts referencing the org unblocked.
        const org = await trx
          .selectFrom('orgs')
          .select(['name'])
          .where('id', '=', ctx.orgId)
          .forNoKeyUpdate()
          .executeTakeFirstOrThrow()
        if (input.confirmName !== org.name) {
          throw new AppError('VALIDATION_FAILED', 'type the org’s exact name to confirm that it should be deleted', {
            errors: [{ path: '/body/confirmName', message: 'does not match the org’s name' }],
          })
        }
        const existing = await trx
          .selectFrom('org_offboardings')
          .selectAll()
          .where('org_id', '=', ctx.orgId)
          .forUpdate()
          .executeTakeFirst()
        if (existing?.status === 'scheduled')
          throw new AppError(
            'CONFLICT',
            `this org is already scheduled for deletion at ${existing.scheduled_for.toISOString()}`,
          )
        const now = clock()
        const values = {
          org_name: org.name,
          status: 'scheduled' as const,
          requested_at: now,
          requested_by: by(ctx),
          scheduled_for: new Date(now.getTime() + graceHours * HOUR_MS),
          cancelled_at: null,
          cancelled_by: null,
          completed_at: null,
          erased: null,
          certificate: null,
        }
        const row = await trx
          .insertInto('org_offboardings')
          .values({ org_id: ctx.orgId, ...values })
          .onConflict((oc) => oc.column('org_id').doUpdateSet(values))
          .returningAll()
          .executeTakeFirstOrThrow()
        const details = { scheduledFor: row.scheduled_for.toISOString(), graceHours }
        await audit.append(trx, {
          orgId: ctx.orgId,
          actor: actorOf(ctx.principal),
          action: 'org.offboarding.request',
          target: { type: 'org', id: ctx.orgId },
          outcome: 'success',
          details,
          meta: ctx.meta,
        })
        await recordWithProvider(
          trx,
          'org.offboarding.request',
          ctx.orgId,
          { ...details, orgName: org.name, requestedBy: by(ctx) },
          actorOf(ctx.principal),
          ctx.meta,
        )
        return view(row, await requester(trx, ctx.orgId, row.requested_by))
      })
    },

    async get(ctx) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const row = await trx.selectFrom('org_offboardings').selectAll().executeTakeFirst()
        if (row === undefined) throw absent('this org has not asked to be deleted')
        return view(row, await requester(trx, ctx.orgId, row.requested_by))
      })
    },

    async cancel(ctx) {
      // Owner transaction, every statement naming the org (both logs, as for the request).
      return withOwner(db, async (trx) => {
        const row = await trx
          .selectFrom('org_offboardings')
          .selectAll()
          .where('org_id', '=', ctx.orgId)
          .where('status', '=', 'scheduled')
          .forUpdate()
          .executeTakeFirst()
        if (row === undefined) throw absent('no deletion of this org is scheduled')
        const cancelled = await trx
          .updateTable('org_offboardings')
          .set({ status: 'cancelled', cancelled_at: clock(), cancelled_by: by(ctx) })
          .where('org_id', '=', ctx.orgId)
          .returningAll()
          .executeTakeFirstOrThrow()
        await audit.append(trx, {
          orgId: ctx.orgId,
          actor: actorOf(ctx.principal),
          action: 'org.offboarding.cancel',
          target: { type: 'org', id: ctx.orgId },
          outcome: 'success',
          meta: ctx.meta,
        })
        await recordWithProvider(
          trx,
          'org.offboarding.cancel',
          ctx.orgId,
          { orgName: row.org_name, cancelledBy: by(ctx) },
          actorOf(ctx.principal),
          ctx.meta,
        )
        return view(cancelled, await requester(trx, ctx.orgId, cancelled.requested_by))
      })
    },

    async listAll(ctx, page) {
      if (ctx.principal.orgKind !== 'provider')
        throw new AppError('FORBIDDEN', 'operators only', { permission: 'orgs:list' })
      // Owner connection: offboardings span orgs (most of them gone).
      const order = newestFirst('requested_at', 'org_id')
      const rows = await withOwner(db, (trx) =>
        inIndexOrder(trx, () => pageOf(trx.selectFrom('org_offboardings').selectAll(), order, page).execute()),
      )
      const { items, nextCursor } = toPage(rows, order, page.limit)
      return { items: items.map((row) => view(row)), nextCursor }
    },

    async getForOperator(ctx, orgId) {
      if (ctx.principal.orgKind !== 'provider')
        throw new AppError('FORBIDDEN', 'operators only', { permission: 'orgs:list' })
      // Owner connection: the org itself is usually gone.
      const row = await withOwner(db, (trx) =>
        trx.selectFrom('org_offboardings').selectAll().where('org_id', '=', orgId).executeTakeFirst(),
      )
      if (row === undefined) throw new AppError('NOT_FOUND', 'no offboarding of this org')
      const found = view(row)
      const receipt =
        found.auditEvent === null ? null : await audit.receiptOrNull(found.auditEvent.org, found.auditEvent.id)
      return { ...found, receipt }
    },

    async runDue() {
      // P8.1: a refused org is not offboarded (its restored state is suspect) until acknowledged.
      const refused = orgsNotServed(db)
      const due = await withOwner(db, (trx) =>
        trx
          .selectFrom('org_offboardings')
          .select('org_id')
          .$if(refused.length > 0, (q) => q.where('org_id', 'not in', refused))
          .where('status', '=', 'scheduled')
          .where('scheduled_for', '<=', clock())
          .limit(20)
          .execute(),
      )
      let done = 0
      for (const { org_id: orgId } of due) if (await execute(orgId)) done++
      return done
    },
  }
}
