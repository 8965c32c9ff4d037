import { randomUUID } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Clock } from '../../clock.ts'
import type { DB } from '../../db/schema.ts'
import type { Page, PageRequest } from '../../db/page.ts'
import { memberEmails } from '../../db/people.ts'
import { withOrg, withOwner, type Trx } from '../../db/tenant.ts'
import { AppError } from '../../errors.ts'
import { actorOf, type Principal, type RequestContext } from '../../context.ts'
import { BUILT_IN_ROLES, GRANTABLE, isPermission, PERMISSIONS, type Permission } from '../access/permissions.ts'
import type { AuditService } from '../audit/audit.service.ts'
import { assertWithinOwn, lackedBy } from '../access/bounds.ts'
import type { VaultService } from '../vault/vault.service.ts'
import { PATH_SCOPED_PERMISSIONS } from '../vault/secret-paths.ts'
import type { RequestMeta } from '../audit/audit.types.ts'
import { enqueue, membersWithRoles } from '../notify/notify.service.ts'
import * as store from './grants.store.ts'

/**
 * Diagnostic access grants (P2.8): provider staff (operators) reach into a customer's
 * data only with the customer's approval, for a limited time, revocable at any moment.
 *
 * - An operator asks for one org, with a reason, a scope (permissions from
 *   {@link GRANTABLE}; revealing needs named secrets) and a duration (default 21 days,
 *   at most the org's maximum). The org's owners and admins are notified.
 * - People of the org approve or deny; nobody approves their own request; an org can
 *   require two approvers. An approved grant runs from approval for its duration.
 * - A request still pending when it would have expired lapses. The state that depends on
 *   time (lapsed, active, expired) is derived from the clock at every read and every use,
 *   never left to a sweeper.
 * - The org can revoke a grant at any moment; the operator can give it up. Either takes
 *   effect on the very next request, whatever session or token it comes with.
 * - Every use is an audit event in the org's own log (`grant.use`), and every event the
 *   request writes carries the grant's id.
 */
export type GrantStatus = 'pending' | 'lapsed' | 'active' | 'expired' | 'denied' | 'revoked' | 'withdrawn'

export interface GrantView {
  id: string
  orgId: string
  orgName?: string
  /**
   * Pending grants, to a caller with grants:approve: who else could approve it — the first
   * emails in order, and how many there are in all.
   */
  otherApprovers?: { emails: string[]; count: number }
  grantee: { userId: string; email: string }
  reason: string
  permissions: string[]
  secretIds: string[]
  durationDays: number
  requiredApprovals: number
  /** Each approval: who (email as it was when they approved), when, and their own note. */
  approvals: { userId: string; email: string | null; at: string; note: string | null }[]
  status: GrantStatus
  requestedAt: string
  /** A pending request lapses at this time. */
  pendingUntil: string
  startsAt: string | null
  expiresAt: string | null
  decidedAt: string | null
  decidedBy: string | null
  /** The decider's email, when a member of the org and the reader is the org (never to the operator). */
  decidedByEmail: string | null
  /** The approval's (the last approver's) or the denial's note; never the revocation's. */
  decisionNote: string | null
  endedAt: string | null
  endedBy: string | null
  /** Who ended it, by email, when a member of the org and the reader is the org (never to the operator). */
  endedByEmail: string | null
  /** The revocation's or withdrawal's note. */
  endNote: string | null
}

export interface GrantRequest {
  orgId: string
  reason: string
  permissions: string[]
  secretIds?: string[] | undefined
  durationDays?: number | undefined
}

export interface ActiveGrant {
  id: string
  orgId: string
  permissions: ReadonlySet<Permission>
  secretIds: readonly string[]
  ipAllowlist: readonly string[]
}

/** One request made under a grant, as its `grant.use` event records it. */
export interface GrantUse {
  /** The route pattern with its method: "GET /v1/orgs/:orgId/secrets/:secretId". */
  route: string
  /** The secret the route names (its `:secretId`), when it names one. */
  secretId?: string | undefined
}

export interface GrantPolicy {
  maxDays: number
  requiredApprovals: number
}

export interface GrantsService {
  request(ctx: RequestContext, input: GrantRequest): Promise<GrantView>
  listMine(ctx: RequestContext, page: PageRequest): Promise<Page<GrantView>>
  /** One of the operator's own grants, by id (NOT_FOUND when it is not theirs), as their list shows it. */
  getMine(ctx: RequestContext, grantId: string): Promise<GrantView>
  withdraw(ctx: RequestContext, grantId: string): Promise<GrantView>
  list(ctx: RequestContext, page: PageRequest): Promise<Page<GrantView>>
  get(ctx: RequestContext, grantId: string): Promise<GrantView>
  approve(ctx: RequestContext, grantId: string, note?: string): Promise<GrantView>
  deny(ctx: RequestContext, grantId: string, note?: string): Promise<GrantView>
  revoke(ctx: RequestContext, grantId: string, note?: string): Promise<GrantView>
  policy(ctx: RequestContext): Promise<GrantPolicy>
  setPolicy(ctx: RequestContext, policy: GrantPolicy): Promise<GrantPolicy>
  /**
   * At the access-control point: the grant if `userId` may use it in `orgId` right now.
   * A refused use of an existing grant of that org is recorded in the org's log, with the
   * route it was refused for (`route`, the pattern with its method, as a use records it), so
   * the org reads what was attempted ("tried to list secrets"), never the path itself.
   */
  resolveForUse(input: {
    grantId: string
    userId: string
    orgId: string
    route?: string | undefined
    meta: RequestMeta
  }): Promise<ActiveGrant | undefined>
  /**
   * Records one use, before the request's handler runs (fail closed): the route pattern
   * ("POST /v1/orgs/:orgId/secrets/:secretId/reveal") and, when the route names a secret,
   * that secret's id as `details.secretId` — so the org's log says which secret a use touched.
   */
  recordUse(grant: ActiveGrant, principal: Principal, use: GrantUse, meta: RequestMeta): Promise<void>
  /** The org's grants active now (access reviews). */
  activeIn(trx: Trx): Promise<GrantView[]>
  /** Ends a grant in the caller's org transaction (an access review's revoke decision). */
  revokeIn(trx: Trx, ctx: RequestContext, grantId: string, note: string): Promise<void>
}

const DAY_MS = 86_400_000
const DEFAULT_DAYS = 21

export function statusAt(row: store.GrantRow, now: Date): GrantStatus {
  if (row.status === 'pending') return now.getTime() >= pendingUntil(row).getTime() ? 'lapsed' : 'pending'
  if (row.status === 'approved')
    return row.expires_at !== null && now.getTime() < row.expires_at.getTime() ? 'active' : 'expired'
  return row.status
}

function pendingUntil(row: store.GrantRow): Date {
  return new Date(row.requested_at.getTime() + row.duration_days * DAY_MS)
}

export function createGrantsService(deps: {
  db: Kysely<DB>
  audit: Pick<AuditService, 'append' | 'recordSeparately'>
  clock: Clock
  vault: Pick<VaultService, 'existingIn' | 'outsideScopeIn'>
}): GrantsService {
  const { db, audit, clock, vault } = deps

  /**
   * An approver limited to secret paths (docs/secret-paths.md) opens nothing beyond them.
   * Under a grant only revealing is limited, to the secrets it names: every other secret
   * permission would reach every path, and each named secret must be in the approver's
   * scope. 403 EXCEEDS_OWN_PERMISSIONS otherwise, naming no secret beyond that scope.
   */
  async function assertWithinOwnPaths(trx: Trx, ctx: RequestContext, asked: store.GrantRow): Promise<void> {
    const layers = ctx.principal.secretPaths
    if (layers.length === 0) return
    const everywhere = asked.permissions.filter((p) => PATH_SCOPED_PERMISSIONS.has(p) && p !== 'vault:reveal')
    if (everywhere.length > 0)
      throw new AppError(
        'EXCEEDS_OWN_PERMISSIONS',
        `this grant would carry ${everywhere.join(', ')} on every secret path; yours are limited`,
        { missingPermissions: [], secretPaths: ['*'] },
      )
    const outside = await vault.outsideScopeIn(trx, asked.secret_ids, layers)
    if (outside > 0)
      throw new AppError('EXCEEDS_OWN_PERMISSIONS', `this grant names ${outside} secret(s) outside your secret paths`, {
        missingPermissions: [],
      })
  }
  const by = (ctx: RequestContext) => `${ctx.principal.kind}:${ctx.principal.id}`

  type Approval = Awaited<ReturnType<typeof store.approvalsOf>>[number]

  /** One grant, with its own approvals (`approvals` holds only that grant's). */
  function view(row: store.GrantRow, approvals: Approval[], orgName?: string): GrantView {
    return {
      id: row.id,
      orgId: row.org_id,
      ...(orgName === undefined ? {} : { orgName }),
      grantee: { userId: row.grantee_user_id, email: row.grantee_email },
      reason: row.reason,
      permissions: row.permissions,
      secretIds: row.secret_ids,
      durationDays: row.duration_days,
      requiredApprovals: row.required_approvals,
      approvals: approvals.map((a) => ({
        userId: a.approver_user_id,
        email: a.approver_email,
        at: a.approved_at.toISOString(),
        note: a.note,
      })),
      status: statusAt(row, clock()),
      requestedAt: row.requested_at.toISOString(),
      pendingUntil: pendingUntil(row).toISOString(),
      startsAt: row.starts_at?.toISOString() ?? null,
      expiresAt: row.expires_at?.toISOString() ?? null,
      decidedAt: row.decided_at?.toISOString() ?? null,
      decidedBy: row.decided_by,
      decidedByEmail: null,
      decisionNote: row.decision_note,
      endedAt: row.ended_at?.toISOString() ?? null,
      endedBy: row.ended_by,
      endedByEmail: null,
      endNote: row.end_note,
    }
  }

  /**
   * A grant as its grantee (an operator of the provider org) sees it: the customer's
   * approvers by user id and note, never by email — another org's people stay its own
   * (src/db/people.ts), as the offboarding's requester does for operators.
   */
  function asSeenByGrantee(grant: GrantView): GrantView {
    return {
      ...grant,
      approvals: grant.approvals.map((a) => ({ ...a, email: null })),
      decidedByEmail: null,
      endedByEmail: null,
    }
  }

  /** Several grants and the approvals of all of them, matched by grant id (not a scan per grant). */
  function views<R extends store.GrantRow>(
    rows: R[],
    approvals: Approval[],
    orgName?: (row: R) => string,
  ): GrantView[] {
    const byGrant = new Map<string, Approval[]>()
    for (const a of approvals) {
      const own = byGrant.get(a.grant_id)
      if (own === undefined) byGrant.set(a.grant_id, [a])
      else own.push(a)
    }
    return rows.map((r) => view(r, byGrant.get(r.id) ?? [], orgName?.(r)))
  }

  /**
   * Grants of one org as the org reads them: who decided and who ended each by email, for
   * members of that org only (src/db/people.ts); an operator or former member stays unnamed.
   */
  async function named(trx: Trx, orgId: string, grants: GrantView[]): Promise<GrantView[]> {
    const emails = await memberEmails(
      trx,
      orgId,
      grants.flatMap((g) => [g.decidedBy, g.endedBy]),
    )
    const emailOf = (ref: string | null) =>
      ref?.startsWith('user:') === true ? (emails[ref.slice('user:'.length).toLowerCase()] ?? null) : null
    return grants.map((g) => ({ ...g, decidedByEmail: emailOf(g.decidedBy), endedByEmail: emailOf(g.endedBy) }))
  }

  /**
   * For a caller who may approve it (grants:approve, which no grant carries, and every
   * permission the grant asks for): each pending grant with who else could give it the
   * approvals it lacks — members, not suspended, whose role holds grants:approve and every
   * permission the grant asks for (an approver opens only what it holds), other than the
   * caller, the operator who asked and those who approved already. One statement per
   * pending grant (a page holds at most its limit).
   */
  async function withOtherApprovers(trx: Trx, ctx: RequestContext, grants: GrantView[]): Promise<GrantView[]> {
    if (!ctx.principal.permissions.has('grants:approve')) return grants
    const answered: GrantView[] = []
    for (const grant of grants) {
      // Only to one who could approve this grant: an approver opens only what it holds.
      if (grant.status !== 'pending' || lackedBy(ctx.principal, grant.permissions).length > 0) {
        answered.push(grant)
        continue
      }
      const needed = ['grants:approve', ...grant.permissions]
      const builtInRoles = Object.entries(BUILT_IN_ROLES)
        .filter(([, role]) => needed.every((p) => (role.permissions as readonly string[]).includes(p)))
        .map(([name]) => name)
      const otherApprovers = await store.approversOf(trx, grant.orgId, {
        builtInRoles,
        needed,
        excluded: [ctx.principal.id, grant.grantee.userId, ...grant.approvals.map((a) => a.userId)],
      })
      answered.push({ ...grant, otherApprovers })
    }
    return answered
  }

  async function viewIn(trx: Trx, row: store.GrantRow): Promise<GrantView> {
    const [one] = await named(trx, row.org_id, [view(row, await store.approvalsOf(trx, [row.id]))])
    if (one === undefined) throw new Error('unreachable: one grant in, one out')
    return one
  }

  const record = (
    trx: Trx,
    ctx: RequestContext,
    orgId: string,
    action: string,
    grantId: string,
    details: Record<string, unknown> = {},
  ) =>
    audit.append(trx, {
      orgId,
      actor: actorOf(ctx.principal),
      action,
      target: { type: 'grant', id: grantId },
      outcome: 'success',
      details,
      meta: ctx.meta,
    })

  async function existing(trx: Trx, grantId: string): Promise<store.GrantRow> {
    const row = await store.findGrant(trx, grantId, true)
    if (row === undefined) throw new AppError('NOT_FOUND', 'no such grant')
    return row
  }

  function person(ctx: RequestContext, what: string): string {
    if (ctx.principal.kind !== 'user')
      throw new AppError('FORBIDDEN', `${what} is a person’s decision; service accounts cannot make it`, {
        permission: 'grants:approve',
      })
    return ctx.principal.id
  }

  async function end(
    trx: Trx,
    ctx: RequestContext,
    row: store.GrantRow,
    status: 'revoked' | 'withdrawn',
    note: string | undefined,
  ): Promise<store.GrantRow> {
    const updated = await store.updateGrant(trx, row.id, {
      status,
      ended_at: clock(),
      ended_by: by(ctx),
      end_note: note ?? null,
    })
    await record(
      trx,
      ctx,
      row.org_id,
      status === 'revoked' ? 'grant.revoke' : 'grant.withdraw',
      row.id,
      note === undefined ? {} : { note },
    )
    return updated
  }

  return {
    async request(ctx, input) {
      if (ctx.principal.orgKind !== 'provider' || ctx.principal.kind !== 'user') {
        throw new AppError('FORBIDDEN', 'only operators (people of the provider org) request diagnostic access', {
          permission: 'grants:request',
        })
      }
      const org = await store.customerOrg(db, input.orgId)
      if (org === undefined) throw new AppError('NOT_FOUND', 'no such customer org')
      const permissions = [...new Set(input.permissions)].sort()
      const errors = permissions
        .filter((p) => !isPermission(p) || !GRANTABLE.has(p))
        .map((p) => ({
          path: '/body/permissions',
          message: isPermission(p) ? `${p} cannot be granted to provider staff` : `unknown permission ${p}`,
        }))
      const secretIds = [...new Set(input.secretIds ?? [])].sort()
      if (permissions.includes('vault:reveal') && secretIds.length === 0)
        errors.push({ path: '/body/secretIds', message: 'revealing needs the secrets named' })
      if (!permissions.includes('vault:reveal') && secretIds.length > 0)
        errors.push({ path: '/body/secretIds', message: 'secrets are named only with vault:reveal' })
      // Only the org's own secrets (issue 11 K8). Read in the org's transaction, so another
      // org's secret is invisible and answers exactly as a secret that does not exist.
      if (secretIds.length > 0) {
        const own = await withOrg(db, input.orgId, (trx) => vault.existingIn(trx, secretIds))
        ;(input.secretIds ?? []).forEach((id, i) => {
          if (!own.has(id.toLowerCase()))
            errors.push({ path: `/body/secretIds/${i}`, message: 'no such secret in this org' })
        })
      }
      const policy = await store.policyOf(db, input.orgId)
      const durationDays = input.durationDays ?? Math.min(DEFAULT_DAYS, policy.max_days)
      if (durationDays > policy.max_days)
        errors.push({
          path: '/body/durationDays',
          message: `this org allows grants of at most ${policy.max_days} days`,
        })
      if (errors.length > 0) throw new AppError('VALIDATION_FAILED', 'the request cannot be made as it is', { errors })
      // An operator asks for nothing it does not hold itself (issue 11 K3).
      assertWithinOwn(ctx.principal, permissions, 'this grant')
      const email = (await store.userEmail(db, ctx.principal.id)) as string
      // Written in the org's own transaction: the org sees the request, and is told.
      return withOrg(db, input.orgId, async (trx) => {
        const row = await store.insertGrant(trx, {
          id: randomUUID(),
          org_id: input.orgId,
          grantee_user_id: ctx.principal.id,
          grantee_email: email,
          reason: input.reason,
          permissions,
          secret_ids: secretIds,
          duration_days: durationDays,
          required_approvals: policy.required_approvals,
          status: 'pending',
          requested_at: clock(),
          starts_at: null,
          expires_at: null,
          decided_at: null,
          decided_by: null,
          decision_note: null,
          ended_at: null,
          ended_by: null,
        })
        await record(trx, ctx, input.orgId, 'grant.request', row.id, {
          grantee: email,
          reason: input.reason,
          permissions,
          secretIds,
          durationDays,
        })
        await enqueue(trx, await membersWithRoles(trx, ['owner', 'admin']), {
          orgId: input.orgId,
          kind: 'grant.requested',
          subject: 'Provider staff ask for diagnostic access to your org',
          // The scope in the catalog's words, never its keys (issue 13).
          body: `${email} asks for ${durationDays} days of access to: ${permissions.map((p) => (isPermission(p) ? PERMISSIONS[p] : p)).join('; ')}. Their reason: ${input.reason}. Approve or deny it in Custodian; nothing is open until you do.`,
          data: { grantId: row.id },
        })
        return viewIn(trx, row)
      })
    },

    async listMine(ctx, page) {
      const { items, nextCursor } = await store.pageGrantsOfGrantee(db, ctx.principal.id, page)
      const approvals = await withOwner(db, (trx) =>
        store.approvalsOf(
          trx,
          items.map((r) => r.id),
        ),
      )
      return { items: views(items, approvals, (r) => r.org_name).map(asSeenByGrantee), nextCursor }
    },

    async getMine(ctx, grantId) {
      const row = await store.namedGrantOfGrantee(db, ctx.principal.id, grantId)
      if (row === undefined) throw new AppError('NOT_FOUND', 'no such grant of yours')
      const approvals = await withOwner(db, (trx) => store.approvalsOf(trx, [row.id]))
      const [one] = views([row], approvals, (r) => r.org_name).map(asSeenByGrantee)
      if (one === undefined) throw new Error('unreachable: one grant in, one out')
      return one
    },

    async withdraw(ctx, grantId) {
      const row = await store.grantOfGrantee(db, ctx.principal.id, grantId)
      if (row === undefined) throw new AppError('NOT_FOUND', 'no such grant of yours')
      return withOrg(db, row.org_id, async (trx) => {
        const current = await existing(trx, grantId)
        const status = statusAt(current, clock())
        if (status !== 'pending' && status !== 'active')
          throw new AppError('CONFLICT', `this grant is ${status} already`)
        return asSeenByGrantee(await viewIn(trx, await end(trx, ctx, current, 'withdrawn', undefined)))
      })
    },

    async list(ctx, page) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const { items, nextCursor } = await store.listGrants(trx, page)
        const approvals = await store.approvalsOf(
          trx,
          items.map((r) => r.id),
        )
        const named_ = await named(trx, ctx.orgId, views(items, approvals))
        return { items: await withOtherApprovers(trx, ctx, named_), nextCursor }
      })
    },

    async get(ctx, grantId) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const [one] = await withOtherApprovers(trx, ctx, [await viewIn(trx, await existing(trx, grantId))])
        if (one === undefined) throw new Error('unreachable: one grant in, one out')
        return one
      })
    },

    async approve(ctx, grantId, note) {
      const approver = person(ctx, 'approving access')
      return withOrg(db, ctx.orgId, async (trx) => {
        const asked = await existing(trx, grantId)
        const status = statusAt(asked, clock())
        if (status !== 'pending')
          throw new AppError('CONFLICT', `this grant is ${status}; only a pending request can be approved`)
        if (asked.grantee_user_id === approver)
          throw new AppError('FORBIDDEN', 'nobody approves their own access', { permission: 'grants:approve' })
        // An approver opens only what it holds itself (issue 11 K3).
        assertWithinOwn(ctx.principal, asked.permissions, 'this grant')
        await assertWithinOwnPaths(trx, ctx, asked)
        // The org's policy now, not only when the request was made: one tightened since
        // (more approvers, a shorter longest grant) holds for requests still pending.
        const policy = await store.policyOf(trx, asked.org_id)
        if (asked.duration_days > policy.max_days)
          throw new AppError(
            'CONFLICT',
            `this request asks for ${asked.duration_days} days; the org now allows at most ${policy.max_days}: deny it, and the operator asks again`,
          )
        const row =
          policy.required_approvals > asked.required_approvals
            ? await store.updateGrant(trx, asked.id, { required_approvals: policy.required_approvals })
            : asked
        const now = clock()
        if (
          !(await store.addApproval(trx, {
            grant_id: row.id,
            org_id: row.org_id,
            approver_user_id: approver,
            approver_email: (await store.userEmail(trx, approver)) ?? null,
            approved_at: now,
            note: note ?? null,
          }))
        ) {
          throw new AppError('CONFLICT', 'you have approved this grant already; it needs another approver')
        }
        const approvals = await store.approvalsOf(trx, [row.id])
        await record(trx, ctx, row.org_id, 'grant.approve', row.id, {
          approvals: approvals.length,
          required: row.required_approvals,
          ...(note === undefined ? {} : { note }),
        })
        if (approvals.length < row.required_approvals) return view(row, approvals)
        const active = await store.updateGrant(trx, row.id, {
          status: 'approved',
          starts_at: now,
          expires_at: new Date(now.getTime() + row.duration_days * DAY_MS),
          decided_at: now,
          decided_by: approvals.map((a) => `user:${a.approver_user_id}`).join(','),
          ...(note === undefined ? {} : { decision_note: note }),
        })
        await record(trx, ctx, row.org_id, 'grant.activate', row.id, {
          startsAt: now.toISOString(),
          expiresAt: active.expires_at?.toISOString(),
          permissions: row.permissions,
        })
        await enqueue(trx, [row.grantee_user_id], {
          orgId: row.org_id,
          kind: 'grant.approved',
          subject: 'Your diagnostic access was approved',
          body: `Your access runs until ${active.expires_at?.toISOString()}. Every use is recorded in the org's audit log.`,
          data: { grantId: row.id },
        })
        return view(active, approvals)
      })
    },

    async deny(ctx, grantId, note) {
      person(ctx, 'denying access')
      return withOrg(db, ctx.orgId, async (trx) => {
        const row = await existing(trx, grantId)
        const status = statusAt(row, clock())
        if (status !== 'pending')
          throw new AppError('CONFLICT', `this grant is ${status}; only a pending request can be denied`)
        const denied = await store.updateGrant(trx, row.id, {
          status: 'denied',
          decided_at: clock(),
          decided_by: by(ctx),
          ...(note === undefined ? {} : { decision_note: note }),
        })
        await record(trx, ctx, row.org_id, 'grant.deny', row.id, note === undefined ? {} : { note })
        await enqueue(trx, [row.grantee_user_id], {
          orgId: row.org_id,
          kind: 'grant.denied',
          subject: 'Your diagnostic access request was denied',
          body: note ?? 'The org denied the request.',
          data: { grantId: row.id },
        })
        return viewIn(trx, denied)
      })
    },

    async revoke(ctx, grantId, note) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const row = await existing(trx, grantId)
        const status = statusAt(row, clock())
        if (status !== 'active')
          throw new AppError(
            'CONFLICT',
            status === 'pending' ? 'this request is still pending: deny it instead' : `this grant is ${status} already`,
          )
        const revoked = await end(trx, ctx, row, 'revoked', note)
        await enqueue(trx, [row.grantee_user_id], {
          orgId: row.org_id,
          kind: 'grant.revoked',
          subject: 'Your diagnostic access was revoked',
          body: note ?? 'The org ended your access.',
          data: { grantId: row.id },
        })
        return viewIn(trx, revoked)
      })
    },

    async revokeIn(trx, ctx, grantId, note) {
      const row = await existing(trx, grantId)
      if (statusAt(row, clock()) === 'active') await end(trx, ctx, row, 'revoked', note)
    },

    async activeIn(trx) {
      const rows = await store.activeGrants(trx, clock())
      const approvals = await store.approvalsOf(
        trx,
        rows.map((r) => r.id),
      )
      return views(rows, approvals)
    },

    async policy(ctx) {
      const row = await withOrg(db, ctx.orgId, (trx) => store.policyOf(trx, ctx.orgId))
      return { maxDays: row.max_days, requiredApprovals: row.required_approvals }
    },

    async setPolicy(ctx, policy) {
      return withOrg(db, ctx.orgId, async (trx) => {
        await store.savePolicy(trx, {
          org_id: ctx.orgId,
          max_days: policy.maxDays,
          required_approvals: policy.requiredApprovals,
          updated_by: by(ctx),
        })
        await audit.append(trx, {
          orgId: ctx.orgId,
          actor: actorOf(ctx.principal),
          action: 'org.grant_policy.update',
          target: { type: 'org', id: ctx.orgId },
          outcome: 'success',
          details: { ...policy },
          meta: ctx.meta,
        })
        return policy
      })
    },

    async resolveForUse({ grantId, userId, orgId, route, meta }) {
      const row = await store.grantForUse(db, grantId, orgId)
      if (row === undefined) return undefined
      const status = statusAt(row, clock())
      if (status !== 'active' || row.grantee_user_id !== userId) {
        await audit.recordSeparately({
          orgId,
          actor: { type: 'user', id: userId },
          action: 'grant.use',
          target: { type: 'grant', id: grantId },
          outcome: 'denied',
          details: {
            reason: row.grantee_user_id !== userId ? 'not the grantee' : status,
            ...(route === undefined ? {} : { route }),
          },
          meta,
        })
        return undefined
      }
      return {
        id: row.id,
        orgId,
        permissions: new Set(row.permissions.filter((p): p is Permission => isPermission(p) && GRANTABLE.has(p))),
        secretIds: row.secret_ids,
        ipAllowlist: (row.ip_allowlist ?? []).map((e) => e.cidr),
      }
    },

    async recordUse(grant, principal, use, meta) {
      await audit.recordSeparately({
        orgId: grant.orgId,
        actor: actorOf(principal),
        action: 'grant.use',
        target: { type: 'grant', id: grant.id },
        outcome: 'success',
        details: use.secretId === undefined ? { route: use.route } : { route: use.route, secretId: use.secretId },
        meta,
      })
    },
  }
}
