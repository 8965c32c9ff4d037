import { randomUUID } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Clock } from '../../clock.ts'
import type { DB } from '../../db/schema.ts'
import type { Page, PageRequest } from '../../db/page.ts'
import { sqlState, UNIQUE_VIOLATION, withOrg, withOwner, type Trx, orgsNotServed } from '../../db/tenant.ts'
import { AppError, isAppError } from '../../errors.ts'
import { actorOf, type Principal, type RequestContext } from '../../context.ts'
import type { AccessService } from '../access/access.service.ts'
import { ALL_PERMISSIONS } from '../access/permissions.ts'
import type { AuditService } from '../audit/audit.service.ts'
import type { IdentityService } from '../identity/identity.service.ts'
import { enqueue, membersWithRoles } from '../notify/notify.service.ts'
import type { ReviewDecision, ReviewItemKind } from './governance.tables.ts'
import type { GrantsService } from './grants.service.ts'
import { suggest } from './least-privilege.ts'
import * as store from './reviews.store.ts'
import { principalKey, type UsageRecorder } from './usage.ts'

/**
 * Access reviews (P2.5). A campaign lists every principal with access to the org as it
 * stands when the campaign starts — members, service accounts, API tokens, active
 * diagnostic grants — with role, permissions granted and used (90 days), a narrower role
 * where one would do (P2.3), last activity, 2FA, and an "inactive" flag. Reviewers certify
 * or revoke each item; a revoke deprovisions at once, in the transaction that records it.
 * Nobody decides on their own access.
 *
 * Campaigns start on the org's cadence (quarterly by default) from a scheduler shared by
 * every process; at the due date undecided items follow the org's policy: a daily
 * reminder, or revocation. A closed campaign stays as evidence: who decided what, when,
 * and what it did.
 */
export interface ReviewItemView {
  id: string
  kind: ReviewItemKind
  subjectId: string
  label: string
  role: string | null
  permissions: string[]
  usedPermissions: string[]
  suggestedRole: string | null
  lastActivityAt: string | null
  mfaEnabled: boolean | null
  inactive: boolean
  details: Record<string, unknown>
  /** An API token's holder by email, when a member of the org holds it (never another org's people). */
  holderEmail: string | null
  /**
   * The decisions the caller may record on this item, as {@link ReviewsService.decide}
   * rules them: none once decided, in a closed review or without reviews:decide; none on
   * the caller's own access while another member may decide it, only certify when nobody
   * else may; reduce for members and service accounts only.
   */
  allowedDecisions: ReviewDecision[]
  decision: ReviewDecision | null
  reduceTo: string | null
  decidedBy: string | null
  /** The decider's email when they are a member of the org (never another org's people). */
  decidedByEmail: string | null
  decidedAt: string | null
  note: string | null
  outcome: string | null
  /** Decided by the principal it is about: only when nobody else in the org could decide it. */
  selfCertified: boolean
}

export interface ReviewView {
  id: string
  status: 'open' | 'closed'
  startedAt: string
  dueAt: string
  startedBy: string
  /** The starter's and closer's emails when they are members of the org. */
  startedByEmail: string | null
  closedAt: string | null
  closedBy: string | null
  closedByEmail: string | null
  overdue: boolean
  summary: Record<string, unknown> | null
  /** The campaign's items (one per principal at its start), kept as they are decided: no count over items. */
  itemCounts: { total: number; decided: number; pending: number }
}

export interface ReviewPolicy {
  cadenceDays: number
  windowDays: number
  onOverdue: 'remind' | 'revoke'
  inactiveDays: number
}

export interface LeastPrivilegeEntry {
  kind: 'member' | 'service_account'
  id: string
  label: string
  role: string
  /** Where in the vault the role reaches: secret path patterns (docs/secret-paths.md); null: every secret. */
  secretPaths: string[] | null
  granted: string[]
  used: string[]
  unused: string[]
  suggestedRole: string | null
  suggestRemoval: boolean
  lastActivityAt: string | null
  /**
   * The principal's undecided item in the org's open access review, where the suggestion
   * can be recorded as a decision; null when no review is open, it does not list the
   * principal, the item is decided, or the caller cannot see reviews (reviews:read).
   */
  reviewItem: { reviewId: string; itemId: string } | null
}

export interface ReviewsService {
  start(ctx: RequestContext): Promise<ReviewView>
  list(ctx: RequestContext, page: PageRequest): Promise<Page<ReviewView>>
  /** A campaign, with its item counts (its items come from {@link ReviewsService.items}). */
  get(ctx: RequestContext, reviewId: string): Promise<ReviewView>
  /**
   * A page of a campaign's items, by kind then id; `decision: 'pending'`: the undecided
   * ones only. 404 NOT_FOUND for a campaign not in the org; 400 for a cursor not issued here.
   */
  items(
    ctx: RequestContext,
    reviewId: string,
    page: PageRequest,
    filter: { decision?: 'pending' | undefined },
  ): Promise<Page<ReviewItemView>>
  decide(
    ctx: RequestContext,
    reviewId: string,
    itemId: string,
    input: { decision: ReviewDecision; role?: string | undefined; note?: string | undefined },
  ): Promise<ReviewItemView>
  close(ctx: RequestContext, reviewId: string): Promise<ReviewView>
  policy(ctx: RequestContext): Promise<ReviewPolicy>
  setPolicy(ctx: RequestContext, policy: ReviewPolicy): Promise<ReviewPolicy>
  /**
   * A page of the least-privilege report (P2.3): members in join order, then service
   * accounts in creation order, under one cursor; a page fills across the boundary. Each
   * page reads its own principals' activity and permission use only.
   */
  leastPrivilege(
    ctx: RequestContext,
    page: PageRequest,
  ): Promise<{ windowDays: number; generatedAt: string; principals: LeastPrivilegeEntry[]; nextCursor: string | null }>
  /** The scheduler's pass: start campaigns that are due, act on overdue ones. */
  runScheduled(): Promise<{ started: number; reminded: number; revoked: number }>
}

const DAY_MS = 86_400_000
const USAGE_WINDOW_DAYS = 90

const SELF_CERTIFIED = 'no other member of the org may decide access reviews'

/** Undecided items the overdue policy reads at a time. */
const OVERDUE_BATCH = 500

/** Whether an item is about `userId`'s own access: their membership, or an API token they hold. */
function isOwnItem(
  row: Pick<store.ReviewItemRow, 'kind' | 'subject_id' | 'details'>,
  caller: { id: string; kind: string },
): boolean {
  return (
    (row.kind === 'member' && row.subject_id === caller.id) ||
    // A service account's token deciding its own service account is its own access too.
    (row.kind === 'service_account' && caller.kind === 'service_account' && row.subject_id === caller.id) ||
    (row.kind === 'api_token' && row.details.holder === caller.id)
  )
}

/**
 * The decisions a caller may record on an undecided item of an open review, by the rules
 * `decide` applies (the caller holds reviews:decide): on their own access none while another
 * member may decide it (`othersMayDecide`), else only certify; reduce only for a member's or
 * a service account's role.
 */
export function allowedDecisions(
  row: Pick<store.ReviewItemRow, 'kind' | 'subject_id' | 'details' | 'decision'>,
  caller: { id: string; kind: string },
  othersMayDecide: boolean,
): ReviewDecision[] {
  if (row.decision !== null) return []
  if (isOwnItem(row, caller)) return othersMayDecide ? [] : ['certify']
  return row.kind === 'member' || row.kind === 'service_account'
    ? ['certify', 'reduce', 'revoke']
    : ['certify', 'revoke']
}

/** Decided by the user the item is about (their membership, or a token they hold). */
function isSelfCertified(row: store.ReviewItemRow): boolean {
  const subject = row.kind === 'member' ? row.subject_id : row.kind === 'api_token' ? row.details.holder : undefined
  return (
    row.decision !== null &&
    subject !== undefined &&
    typeof subject === 'string' &&
    row.decided_by === `user:${subject}`
  )
}

export function createReviewsService(deps: {
  db: Kysely<DB>
  clock: Clock
  audit: Pick<AuditService, 'append'>
  identity: Pick<
    IdentityService,
    | 'inventory'
    | 'inventoryPage'
    | 'anotherActiveMember'
    | 'removeMemberIn'
    | 'changeRoleIn'
    | 'revokeTokenIn'
    | 'deleteServiceAccountIn'
    | 'changeServiceAccountRoleIn'
  >
  access: Pick<AccessService, 'rolesOf' | 'assertAssignable' | 'permissionsOf'>
  grants: Pick<GrantsService, 'activeIn' | 'revokeIn'>
  usage: Pick<UsageRecorder, 'usedSince' | 'usedBy'>
}): ReviewsService {
  const { db, clock, audit, identity, access, grants, usage } = deps
  const by = (ctx: RequestContext) => `${ctx.principal.kind}:${ctx.principal.id}`
  const record = (
    trx: Trx,
    ctx: RequestContext,
    action: string,
    target: { type: string; id: string },
    details: Record<string, unknown>,
  ) =>
    audit.append(trx, {
      orgId: ctx.orgId,
      actor: actorOf(ctx.principal),
      action,
      target,
      outcome: 'success',
      details,
      meta: ctx.meta,
    })

  function systemContext(orgId: string, kind: 'provider' | 'customer', purpose: string): RequestContext {
    const principal: Principal = {
      kind: 'system',
      id: purpose,
      orgId,
      orgKind: kind,
      role: 'system',
      permissions: new Set(ALL_PERMISSIONS),
      via: { type: 'token', tokenId: purpose },
      mfa: { enrolled: false, at: null },
      secretPaths: [],
      policy: { require2fa: false, stepUpMinutes: 10, ipAllowlist: [] },
    }
    return { principal, orgId, meta: { requestId: null, ip: null, userAgent: null } }
  }

  /** Whose emails the views name: members of the org among `user:{id}` actors (others stay unnamed). */
  async function emailsOf(trx: Trx, actors: (string | null)[]): Promise<Map<string, string>> {
    const ids = new Set<string>()
    for (const actor of actors) if (actor?.startsWith('user:') === true) ids.add(actor.slice('user:'.length))
    return store.memberEmails(trx, [...ids])
  }
  const emailOf = (actor: string | null, emails: Map<string, string>) =>
    actor?.startsWith('user:') === true ? (emails.get(actor.slice('user:'.length)) ?? null) : null

  /** Items as the API shows them; `allowed`: the decisions the caller may record on each (none by default). */
  async function itemViews(
    trx: Trx,
    rows: store.ReviewItemRow[],
    allowed: (row: store.ReviewItemRow) => ReviewDecision[] = () => [],
  ): Promise<ReviewItemView[]> {
    const emails = await emailsOf(trx, [
      ...rows.map((r) => r.decided_by),
      ...rows.map((r) =>
        r.kind === 'api_token' && typeof r.details.holder === 'string' ? `user:${r.details.holder}` : null,
      ),
    ])
    return rows.map((r) => itemView(r, emails, allowed(r)))
  }

  async function reviewViews(trx: Trx, rows: store.ReviewRow[]): Promise<ReviewView[]> {
    const emails = await emailsOf(
      trx,
      rows.flatMap((r) => [r.started_by, r.closed_by]),
    )
    return rows.map((r) => reviewView(r, emails))
  }

  async function reviewViewIn(trx: Trx, row: store.ReviewRow): Promise<ReviewView> {
    return (await reviewViews(trx, [row]))[0] as ReviewView
  }

  async function itemViewIn(trx: Trx, row: store.ReviewItemRow): Promise<ReviewItemView> {
    return (await itemViews(trx, [row]))[0] as ReviewItemView
  }

  function itemView(row: store.ReviewItemRow, emails: Map<string, string>, allowed: ReviewDecision[]): ReviewItemView {
    const holder = row.kind === 'api_token' && typeof row.details.holder === 'string' ? row.details.holder : null
    return {
      id: row.id,
      kind: row.kind,
      subjectId: row.subject_id,
      label: row.label,
      role: row.role,
      permissions: row.permissions,
      usedPermissions: row.used_permissions,
      suggestedRole: row.suggested_role,
      lastActivityAt: row.last_activity_at?.toISOString() ?? null,
      mfaEnabled: row.mfa_enabled,
      inactive: row.inactive,
      details: row.details,
      holderEmail: holder === null ? null : (emails.get(holder) ?? null),
      allowedDecisions: allowed,
      decision: row.decision,
      reduceTo: row.reduce_to,
      decidedBy: row.decided_by,
      decidedByEmail: emailOf(row.decided_by, emails),
      decidedAt: row.decided_at?.toISOString() ?? null,
      note: row.note,
      outcome: row.outcome,
      selfCertified: isSelfCertified(row),
    }
  }

  function reviewView(row: store.ReviewRow, emails: Map<string, string>): ReviewView {
    return {
      id: row.id,
      status: row.status,
      startedAt: row.started_at.toISOString(),
      dueAt: row.due_at.toISOString(),
      startedBy: row.started_by,
      startedByEmail: emailOf(row.started_by, emails),
      closedAt: row.closed_at?.toISOString() ?? null,
      closedBy: row.closed_by,
      closedByEmail: emailOf(row.closed_by, emails),
      overdue: row.status === 'open' && clock().getTime() >= row.due_at.getTime(),
      summary: row.summary,
      itemCounts: { total: row.items_total, decided: row.items_decided, pending: row.items_total - row.items_decided },
    }
  }

  /** The start of the window of permission use the report and campaigns look at (90 days). */
  const usageSince = () => new Date(clock().getTime() - USAGE_WINDOW_DAYS * DAY_MS)

  /**
   * Judges principals against the org's roles and what each used: what its role grants,
   * what of that it used, and the narrower role that would do. Roles are looked up by name.
   */
  function assessor(roles: Awaited<ReturnType<AccessService['rolesOf']>>, used: Map<string, Set<string>>) {
    const byName = new Map(roles.map((r) => [r.name, r.permissions]))
    const permissionsOfRole = (role: string) => byName.get(role) ?? []
    const assess = (type: 'user' | 'service_account', id: string, role: string) => {
      const granted = new Set<string>(permissionsOfRole(role))
      const usedHere = new Set([...(used.get(principalKey(type, id)) ?? [])].filter((p) => granted.has(p)))
      return { granted, used: usedHere, ...suggest(granted, usedHere, roles) }
    }
    return { assess, permissionsOfRole }
  }

  /**
   * The owners among `members` who are the org's only active owner: the report and a
   * campaign suggest no change for them, since a reduce (or removal) would leave the org
   * without an owner (the API refuses it: LAST_OWNER). Outside any transaction.
   */
  async function soleOwners(orgId: string, members: readonly { userId: string; role: string }[]): Promise<Set<string>> {
    const sole = new Set<string>()
    for (const m of members)
      if (m.role === 'owner' && !(await identity.anotherActiveMember(orgId, m.userId, ['owner']))) sole.add(m.userId)
    return sole
  }

  /** A suggestion kept for anyone but the org's only owner, for whom nothing is suggested. */
  const unlessSoleOwner = <A extends { suggestedRole: string | null; suggestRemoval: boolean }>(
    a: A,
    userId: string,
    sole: ReadonlySet<string>,
  ): A => (sole.has(userId) ? { ...a, suggestedRole: null, suggestRemoval: false } : a)

  /** What the org's principals were granted and used (90 days), with the narrower role that would do. */
  async function privilegeOf(orgId: string, kind: 'provider' | 'customer') {
    const [inventory, roles, used] = await Promise.all([
      identity.inventory(orgId),
      access.rolesOf({ id: orgId, kind }),
      withOrg(db, orgId, (trx) => usage.usedSince(trx, usageSince())),
    ])
    return { inventory, ...assessor(roles, used) }
  }

  async function startCampaign(ctx: RequestContext, kind: 'provider' | 'customer'): Promise<ReviewView> {
    const now = clock()
    const policy = await store.policyOf(db, ctx.orgId)
    const { inventory, assess, permissionsOfRole } = await privilegeOf(ctx.orgId, kind)
    const sole = await soleOwners(ctx.orgId, inventory.members)
    const inactiveBefore = now.getTime() - policy.inactive_days * DAY_MS
    const isInactive = (last: Date | null, since: Date) => (last ?? since).getTime() < inactiveBefore
    try {
      return await withOrg(db, ctx.orgId, async (trx) => {
        const review = await store.insertReview(trx, {
          id: randomUUID(),
          org_id: ctx.orgId,
          status: 'open',
          started_at: now,
          due_at: new Date(now.getTime() + policy.window_days * DAY_MS),
          started_by: by(ctx),
          closed_at: null,
          closed_by: null,
          last_reminded_at: null,
          summary: null,
        })
        const base = {
          review_id: review.id,
          org_id: ctx.orgId,
          decision: null,
          reduce_to: null,
          decided_by: null,
          decided_at: null,
          note: null,
          outcome: null,
        }
        // A token's holder found by id, not by a scan of every member per token (issue 20).
        const memberRole = new Map(inventory.members.map((m) => [m.userId, m.role]))
        const accountRole = new Map(inventory.serviceAccounts.map((s) => [s.id, s.role]))
        const items = [
          ...inventory.members.map((m) => {
            const a = unlessSoleOwner(assess('user', m.userId, m.role), m.userId, sole)
            return {
              ...base,
              id: randomUUID(),
              kind: 'member' as const,
              subject_id: m.userId,
              label: m.email,
              role: m.role,
              permissions: [...a.granted].sort(),
              used_permissions: [...a.used].sort(),
              suggested_role: a.suggestedRole,
              last_activity_at: m.lastActivityAt,
              mfa_enabled: m.mfaEnabled,
              inactive: isInactive(m.lastActivityAt, m.joinedAt),
              details: JSON.stringify({
                suspended: m.suspended,
                joinedAt: m.joinedAt.toISOString(),
                secretPaths: m.secretPaths,
              }),
            }
          }),
          ...inventory.serviceAccounts.map((s) => {
            const a = assess('service_account', s.id, s.role)
            return {
              ...base,
              id: randomUUID(),
              kind: 'service_account' as const,
              subject_id: s.id,
              label: s.name,
              role: s.role,
              permissions: [...a.granted].sort(),
              used_permissions: [...a.used].sort(),
              suggested_role: a.suggestedRole,
              last_activity_at: s.lastActivityAt,
              mfa_enabled: null,
              inactive: isInactive(s.lastActivityAt, s.createdAt),
              details: JSON.stringify({ secretPaths: s.secretPaths }),
            }
          }),
          ...inventory.tokens.map((t) => {
            const holderRole = t.userId !== null ? memberRole.get(t.userId) : accountRole.get(t.serviceAccountId ?? '')
            return {
              ...base,
              id: randomUUID(),
              kind: 'api_token' as const,
              subject_id: t.id,
              label: t.name,
              role: holderRole ?? null,
              permissions: t.scopes ?? [...permissionsOfRole(holderRole ?? '')].sort(),
              used_permissions: [],
              suggested_role: null,
              last_activity_at: t.lastActivityAt,
              mfa_enabled: null,
              inactive: isInactive(t.lastActivityAt, t.createdAt),
              details: JSON.stringify({
                holder: t.userId ?? t.serviceAccountId,
                holderType: t.userId !== null ? 'user' : 'service_account',
                scoped: t.scopes !== null,
                // The token's own patterns; its holder's (on the holder's item) apply as well.
                secretPaths: t.secretPaths,
                expiresAt: t.expiresAt.toISOString(),
              }),
            }
          }),
          ...(await grants.activeIn(trx)).map((g) => ({
            ...base,
            id: randomUUID(),
            kind: 'grant' as const,
            subject_id: g.id,
            label: g.grantee.email,
            role: null,
            permissions: g.permissions,
            used_permissions: [],
            suggested_role: null,
            last_activity_at: null,
            mfa_enabled: true,
            inactive: false,
            details: JSON.stringify({ reason: g.reason, expiresAt: g.expiresAt, secretIds: g.secretIds }),
          })),
        ]
        const counted = await store.insertItems(trx, review.id, items)
        await record(
          trx,
          ctx,
          'access_review.start',
          { type: 'access_review', id: review.id },
          { items: items.length, dueAt: review.due_at.toISOString(), inactive: items.filter((i) => i.inactive).length },
        )
        await enqueue(trx, await membersWithRoles(trx, ['owner', 'admin']), {
          orgId: ctx.orgId,
          kind: 'access_review.started',
          subject: 'An access review is open',
          body: `${items.length} items to certify or revoke by ${review.due_at.toISOString()}.`,
          data: { reviewId: review.id },
        })
        return reviewViewIn(trx, counted)
      })
    } catch (error) {
      if (sqlState(error) === UNIQUE_VIOLATION)
        throw new AppError('CONFLICT', 'an access review is already open for this org; finish it first')
      throw error
    }
  }

  /**
   * Whether a member other than the caller, not suspended, holds a role that may decide
   * review items: one probe of the org's memberships, not a read of its whole inventory.
   */
  async function otherReviewerExists(ctx: RequestContext): Promise<boolean> {
    const roles = await access.rolesOf({ id: ctx.orgId, kind: ctx.principal.orgKind })
    const deciding = roles.filter((r) => r.permissions.includes('reviews:decide')).map((r) => r.name)
    return identity.anotherActiveMember(ctx.orgId, ctx.principal.id, deciding)
  }

  /**
   * A review's "reduce" only narrows (P2.5): the new role's permissions are a proper part of
   * the role the item holds. Without this, `reviews:decide` raised a principal (a viewer
   * made admin, recorded as a reduction) up to the decider's own permissions, without
   * members:update or service_accounts:manage. 400 at /body/role otherwise.
   */
  async function assertNarrower(trx: Trx, ctx: RequestContext, held: string | null, role: string): Promise<void> {
    const org = { id: ctx.orgId, kind: ctx.principal.orgKind }
    // In the decision's transaction: on PGlite, a read outside it would wait for it forever.
    const holds = held === null ? new Set<string>() : await access.permissionsOf(trx, org, held)
    const next = await access.permissionsOf(trx, org, role)
    if (next.size === 0) return // an unknown role: the role change refuses it, naming it
    const narrower = next.size < holds.size && [...next].every((p) => holds.has(p))
    if (!narrower)
      throw new AppError('VALIDATION_FAILED', `reducing needs a role narrower than ${held ?? 'the one held'}`, {
        errors: [
          {
            path: '/body/role',
            message: `${role} is not narrower than ${held ?? 'the role held'}: its permissions must be a part of the held role’s`,
          },
        ],
      })
  }

  async function applyDecision(
    trx: Trx,
    ctx: RequestContext,
    item: store.ReviewItemRow,
    decision: ReviewDecision,
    role: string | undefined,
    note: string | undefined,
    selfCertified?: string,
  ): Promise<store.ReviewItemRow> {
    let outcome = selfCertified === undefined ? 'certified' : `self-certified: ${selfCertified}`
    try {
      if (decision === 'reduce') {
        if (item.kind !== 'member' && item.kind !== 'service_account')
          throw new AppError('VALIDATION_FAILED', 'only a member’s or service account’s role can be reduced', {
            errors: [{ path: '/body/decision', message: 'reduce applies to members and service accounts' }],
          })
        if (role === undefined || role === 'owner')
          throw new AppError('VALIDATION_FAILED', 'reducing needs the narrower role', {
            errors: [{ path: '/body/role', message: 'a role other than owner' }],
          })
        await assertNarrower(trx, ctx, item.role, role)
        if (item.kind === 'member') await identity.changeRoleIn(trx, ctx, item.subject_id, role)
        else await identity.changeServiceAccountRoleIn(trx, ctx, item.subject_id, role)
        outcome = `role changed from ${item.role} to ${role}`
      } else if (decision === 'revoke') {
        if (item.kind === 'member') {
          const done = await identity.removeMemberIn(trx, ctx, item.subject_id)
          outcome = `membership removed; ${done.revokedTokens} tokens and ${done.revokedSessions} sessions revoked`
        } else if (item.kind === 'service_account') {
          await identity.deleteServiceAccountIn(trx, ctx, item.subject_id)
          outcome = 'service account and its tokens deleted'
        } else if (item.kind === 'api_token') {
          await identity.revokeTokenIn(trx, ctx, item.subject_id)
          outcome = 'token revoked'
        } else {
          await grants.revokeIn(trx, ctx, item.subject_id, 'revoked by an access review')
          outcome = 'grant revoked'
        }
      }
    } catch (error) {
      if (!isAppError(error) || error.code !== 'NOT_FOUND' || decision === 'certify') throw error
      outcome = 'already gone'
    }
    const decided = await store.recordDecision(trx, item, {
      decision,
      reduce_to: role ?? null,
      decided_by: by(ctx),
      decided_at: clock(),
      note: note ?? null,
      outcome,
    })
    await record(
      trx,
      ctx,
      'access_review.decide',
      { type: 'access_review_item', id: item.id },
      {
        review: item.review_id,
        kind: item.kind,
        subject: item.subject_id,
        decision,
        ...(role === undefined ? {} : { role }),
        outcome,
        ...(selfCertified === undefined ? {} : { selfCertified: true, reason: selfCertified }),
      },
    )
    return decided
  }

  async function closeIn(trx: Trx, ctx: RequestContext, review: store.ReviewRow): Promise<store.ReviewRow> {
    const summary = await store.summaryOf(trx, review.id)
    const closed = await store.closeReview(trx, review.id, {
      closed_at: clock(),
      closed_by: by(ctx),
      summary: JSON.stringify(summary),
    })
    await record(trx, ctx, 'access_review.close', { type: 'access_review', id: review.id }, summary)
    return closed
  }

  async function openReview(trx: Trx, reviewId: string): Promise<store.ReviewRow> {
    const review = await store.findReview(trx, reviewId, true)
    if (review === undefined) throw new AppError('NOT_FOUND', 'no such access review')
    if (review.status !== 'open')
      throw new AppError('CONFLICT', 'this access review is closed; its decisions stand as evidence')
    return review
  }

  return {
    async start(ctx) {
      return startCampaign(ctx, ctx.principal.orgKind)
    },

    async list(ctx, page) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const { items, nextCursor } = await store.listReviews(trx, page)
        return { items: await reviewViews(trx, items), nextCursor }
      })
    },

    async get(ctx, reviewId) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const review = await store.findReview(trx, reviewId)
        if (review === undefined) throw new AppError('NOT_FOUND', 'no such access review')
        return reviewViewIn(trx, review)
      })
    },

    async items(ctx, reviewId, page, filter) {
      // Whether another member may decide the caller's own items, as `decide` reads it: before
      // the transaction (identity and access answer in their own), and only for a decider.
      const decider = ctx.principal.permissions.has('reviews:decide')
      const othersMayDecide = decider && (await otherReviewerExists(ctx))
      return withOrg(db, ctx.orgId, async (trx) => {
        const review = await store.findReview(trx, reviewId)
        if (review === undefined) throw new AppError('NOT_FOUND', 'no such access review')
        const { items, nextCursor } = await store.pageItems(trx, reviewId, page, filter.decision === 'pending')
        const open = decider && review.status === 'open'
        const allowed = (row: store.ReviewItemRow) =>
          open ? allowedDecisions(row, ctx.principal, othersMayDecide) : []
        return { items: await itemViews(trx, items, allowed), nextCursor }
      })
    },

    async decide(ctx, reviewId, itemId, input) {
      const ownItem = (item: store.ReviewItemRow) => isOwnItem(item, ctx.principal)
      // Whether anyone else may decide is read from identity and access before the
      // transaction that decides (they answer in their own transactions).
      const peek = await withOrg(db, ctx.orgId, (trx) => store.findItem(trx, reviewId, itemId))
      const othersMayDecide = peek !== undefined && ownItem(peek) && (await otherReviewerExists(ctx))
      return withOrg(db, ctx.orgId, async (trx) => {
        await openReview(trx, reviewId)
        const item = await store.findItem(trx, reviewId, itemId)
        if (item === undefined) throw new AppError('NOT_FOUND', 'no such item in this review')
        if (item.decision !== null) throw new AppError('CONFLICT', `this item was decided already (${item.decision})`)
        if (!ownItem(item))
          return itemViewIn(trx, await applyDecision(trx, ctx, item, input.decision, input.role, input.note))
        if (othersMayDecide)
          throw new AppError('FORBIDDEN', 'nobody reviews their own access; another reviewer decides this item', {
            permission: 'reviews:decide',
          })
        // Nobody else may decide (an org with a single admin): the reviewer certifies their
        // own access, and the evidence says so, instead of the review never closing (P2.5).
        if (input.decision !== 'certify')
          throw new AppError(
            'VALIDATION_FAILED',
            'with no other reviewer, your own access can only be self-certified',
            { errors: [{ path: '/body/decision', message: 'certify' }] },
          )
        return itemViewIn(trx, await applyDecision(trx, ctx, item, 'certify', undefined, input.note, SELF_CERTIFIED))
      })
    },

    async close(ctx, reviewId) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const review = await openReview(trx, reviewId)
        const undecided = review.items_total - review.items_decided
        if (undecided > 0)
          throw new AppError(
            'CONFLICT',
            `${undecided} items are undecided; decide them, or let the due date apply the org’s policy`,
          )
        return reviewViewIn(trx, await closeIn(trx, ctx, review))
      })
    },

    async policy(ctx) {
      const row = await withOrg(db, ctx.orgId, (trx) => store.policyOf(trx, ctx.orgId))
      return {
        cadenceDays: row.cadence_days,
        windowDays: row.window_days,
        onOverdue: row.on_overdue,
        inactiveDays: row.inactive_days,
      }
    },

    async setPolicy(ctx, policy) {
      if (policy.windowDays >= policy.cadenceDays) {
        throw new AppError('VALIDATION_FAILED', 'the window to decide must be shorter than the cadence', {
          errors: [{ path: '/body/windowDays', message: `less than cadenceDays (${policy.cadenceDays})` }],
        })
      }
      return withOrg(db, ctx.orgId, async (trx) => {
        await store.savePolicy(
          trx,
          ctx.orgId,
          {
            cadence_days: policy.cadenceDays,
            window_days: policy.windowDays,
            on_overdue: policy.onOverdue,
            inactive_days: policy.inactiveDays,
          },
          by(ctx),
        )
        await record(trx, ctx, 'org.access_review_policy.update', { type: 'org', id: ctx.orgId }, { ...policy })
        return policy
      })
    },

    async leastPrivilege(ctx, page) {
      const found = await identity.inventoryPage(ctx.orgId, page)
      const principals = [
        ...found.members.map((m) => ({ type: 'user' as const, id: m.userId })),
        ...found.serviceAccounts.map((s) => ({ type: 'service_account' as const, id: s.id })),
      ]
      const subjects = [
        ...found.members.map((m) => ({ kind: 'member' as const, id: m.userId })),
        ...found.serviceAccounts.map((s) => ({ kind: 'service_account' as const, id: s.id })),
      ]
      const [roles, used, pending] = await Promise.all([
        access.rolesOf({ id: ctx.orgId, kind: ctx.principal.orgKind }),
        withOrg(db, ctx.orgId, (trx) => usage.usedBy(trx, usageSince(), principals)),
        ctx.principal.permissions.has('reviews:read')
          ? withOrg(db, ctx.orgId, (trx) => store.pendingItemsAbout(trx, ctx.orgId, subjects))
          : [],
      ])
      const { assess } = assessor(roles, used)
      const sole = await soleOwners(ctx.orgId, found.members)
      const itemOf = new Map(pending.map((i) => [`${i.kind}:${i.subject_id}`, { reviewId: i.review_id, itemId: i.id }]))
      const entry = (
        kind: 'member' | 'service_account',
        id: string,
        label: string,
        role: string,
        secretPaths: string[] | null,
        last: Date | null,
      ): LeastPrivilegeEntry => {
        const assessed = assess(kind === 'member' ? 'user' : 'service_account', id, role)
        const a = kind === 'member' ? unlessSoleOwner(assessed, id, sole) : assessed
        return {
          kind,
          id,
          label,
          role,
          secretPaths,
          granted: [...a.granted].sort(),
          used: [...a.used].sort(),
          unused: a.unused,
          suggestedRole: a.suggestedRole,
          suggestRemoval: a.suggestRemoval,
          lastActivityAt: last?.toISOString() ?? null,
          reviewItem: itemOf.get(`${kind}:${id}`) ?? null,
        }
      }
      return {
        windowDays: USAGE_WINDOW_DAYS,
        generatedAt: clock().toISOString(),
        principals: [
          ...found.members.map((m) => entry('member', m.userId, m.email, m.role, m.secretPaths, m.lastActivityAt)),
          ...found.serviceAccounts.map((s) =>
            entry('service_account', s.id, s.name, s.role, s.secretPaths, s.lastActivityAt),
          ),
        ],
        nextCursor: found.nextCursor,
      }
    },

    async runScheduled() {
      const now = clock()
      let started = 0
      let reminded = 0
      let revoked = 0
      // Looking across orgs needs the owner connection; each action then runs in its org
      // (P8.1: none in a refused org).
      const refused = orgsNotServed(db)
      for (const org of await withOwner(db, (trx) => store.orgsDueForReview(trx, now, refused))) {
        try {
          await startCampaign(systemContext(org.id, org.kind, 'access-review-schedule'), org.kind)
          started++
        } catch (error) {
          if (!isAppError(error) || error.code !== 'CONFLICT') throw error // another process started it
        }
      }
      for (const due of await withOwner(db, (trx) => store.overdueReviews(trx, now, refused))) {
        const kind = (await store.orgKindOf(db, due.org_id)) ?? 'customer'
        const ctx = systemContext(due.org_id, kind, 'access-review-overdue')
        const policy = await store.policyOf(db, due.org_id)
        await withOrg(db, due.org_id, async (trx) => {
          const review = await store.findReview(trx, due.id, true)
          if (review === undefined || review.status !== 'open') return // handled by another process
          const undecided = review.items_total - review.items_decided
          if (policy.on_overdue === 'revoke') {
            const revokeOrKeep = async (item: store.ReviewItemRow) => {
              try {
                await applyDecision(
                  trx,
                  ctx,
                  item,
                  'revoke',
                  undefined,
                  'undecided at the due date: revoked by the org’s policy',
                )
                revoked++
              } catch (error) {
                // Checked before any write: the transaction is intact. The org keeps its last owner.
                if (!isAppError(error) || error.code !== 'LAST_OWNER') throw error
                await applyDecision(
                  trx,
                  ctx,
                  item,
                  'certify',
                  undefined,
                  'undecided at the due date; kept, as the org’s last active owner',
                )
              }
            }
            // A batch of undecided items at a time (their partial index): each one is decided
            // or the transaction fails, so every batch is new and the loop ends.
            for (;;) {
              const batch = await store.undecidedItems(trx, review.id, OVERDUE_BATCH)
              if (batch.length === 0) break
              for (const item of batch) await revokeOrKeep(item)
            }
            await closeIn(trx, ctx, review)
            return
          }
          if (review.last_reminded_at === null || now.getTime() - review.last_reminded_at.getTime() >= DAY_MS) {
            await store.markReminded(trx, review.id, now)
            await audit.append(trx, {
              orgId: due.org_id,
              actor: actorOf(ctx.principal),
              action: 'access_review.overdue',
              target: { type: 'access_review', id: review.id },
              outcome: 'success',
              details: { undecided },
              meta: ctx.meta,
            })
            await enqueue(trx, await membersWithRoles(trx, ['owner', 'admin']), {
              orgId: due.org_id,
              kind: 'access_review.overdue',
              subject: 'An access review is overdue',
              body: `${undecided} items still wait for a decision (due ${review.due_at.toISOString()}).`,
              data: { reviewId: review.id },
            })
            reminded++
          }
        })
      }
      return { started, reminded, revoked }
    },
  }
}
