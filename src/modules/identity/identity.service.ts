import {
  assertPathsWithin,
  derivedPaths,
  effectivePatterns,
  layersOf,
  patternsBeyond,
  type SecretPathLayers,
} from '../vault/secret-paths.ts'
import { randomUUID } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import type { DB } from '../../db/schema.ts'
import { sqlState, UNIQUE_VIOLATION, queryInOrg, withOrg, withOwner, type Trx } from '../../db/tenant.ts'
import { hashPassword } from '../../crypto/password.ts'
import { issueToken, parseToken, secretMatches } from '../../crypto/tokens.ts'
import type { Config } from '../../config.ts'
import { AppError } from '../../errors.ts'
import { actorOf, type RequestContext } from '../../context.ts'
import { allowlistOf } from './ip-allowlist.ts'
import type { OrgServedGuard } from '../audit/rollback.service.ts'
import type { CredentialGate } from './credential-gate.ts'
import type { AccessService } from '../access/access.service.ts'
import { isPermission, type Permission } from '../access/permissions.ts'
import { assertWithinOwn } from '../access/bounds.ts'
import type { AuditService } from '../audit/audit.service.ts'
import type { AuditActor, RequestMeta } from '../audit/audit.types.ts'
import type { Page, PageRequest } from '../../db/page.ts'
import * as store from './identity.store.ts'
import * as ssoStore from './sso.store.ts'
import type {
  AccountOrg,
  ApiTokenView,
  InvitationView,
  MemberView,
  OrgView,
  ServiceAccountView,
} from './identity.types.ts'
import { requireMailbox } from '../../email-address.ts'
import { memberEmails } from '../../db/people.ts'
import { isTimeZone } from '../../time-zone.ts'
import type { Residency } from '../ops/residency.ts'

/**
 * Orgs, members, invitations, service accounts and API tokens. Each change and the audit
 * event recording it share one org-scoped transaction.
 */
export interface IdentityService {
  getOrg(ctx: RequestContext): Promise<OrgView>
  /**
   * The orgs the caller's account belongs to, oldest membership first, a page at a time.
   * A browser session lists every org of its account (it proved the account's password or
   * passkey, or the org's SSO); an API token, bound to one org, sees only that org, and so
   * does a service account.
   */
  listAccountOrgs(ctx: RequestContext, page: PageRequest): Promise<Page<AccountOrg>>
  /** Renames the org and/or sets its time zone (an IANA zone, checked here). */
  updateOrg(
    ctx: RequestContext,
    input: { name?: string | undefined; timeZone?: string | undefined; region?: string | undefined },
  ): Promise<OrgView>
  /** Provider only: a customer org and a one-time invitation for its first owner. */
  createCustomerOrg(
    ctx: RequestContext,
    input: { name: string; ownerEmail: string; region?: string | undefined },
  ): Promise<{ org: OrgView; invitation: InvitationView & { token: string } }>
  /** `secretPaths`: the member's path scope once accepted (null: every secret; omitted: the caller's own). */
  invite(
    ctx: RequestContext,
    input: { email: string; role: string; secretPaths?: readonly string[] | null },
  ): Promise<InvitationView & { token: string }>
  acceptInvitation(
    input: { token: string; password: string; code?: string | undefined },
    meta: RequestMeta,
  ): Promise<{ orgId: string; userId: string; email: string; apiToken: string }>
  /** A page of members; the pending invitations with the first page. */
  listMembers(
    ctx: RequestContext,
    page: PageRequest,
  ): Promise<{ members: MemberView[]; invitations: InvitationView[]; nextCursor: string | null }>
  /** `secretPaths`: the new path scope (null: every secret); omitted: unchanged. */
  changeRole(
    ctx: RequestContext,
    userId: string,
    role: string,
    secretPaths?: readonly string[] | null,
  ): Promise<MemberView>
  removeMember(ctx: RequestContext, userId: string): Promise<{ revokedTokens: number; revokedSessions: number }>
  createServiceAccount(
    ctx: RequestContext,
    input: { name: string; role: string; secretPaths?: readonly string[] | null },
  ): Promise<ServiceAccountView>
  listServiceAccounts(ctx: RequestContext, page: PageRequest): Promise<Page<ServiceAccountView>>
  /**
   * Gives a service account another role, under a member role change's rules: no role
   * beyond the caller's own permissions, an owner's role changed by an owner only, audited
   * with the old and new role. Its tokens carry the new role's permissions on their next use.
   */
  changeServiceAccountRole(
    ctx: RequestContext,
    id: string,
    role: string,
    secretPaths?: readonly string[] | null,
  ): Promise<ServiceAccountView>
  deleteServiceAccount(ctx: RequestContext, id: string): Promise<void>
  createToken(
    ctx: RequestContext,
    input: {
      name: string
      expiresInDays: number
      scopes?: string[] | undefined
      /** Narrows the holder's path scope; omitted: the holder's (the caller's, if the holder reaches beyond it). */
      secretPaths?: readonly string[] | null | undefined
      serviceAccountId?: string | undefined
    },
  ): Promise<ApiTokenView & { token: string }>
  listTokens(ctx: RequestContext, page: PageRequest): Promise<Page<ApiTokenView>>
  revokeToken(ctx: RequestContext, tokenId: string): Promise<void>
  /** P2.6: a suspended member keeps the membership but loses every access at once; resume restores it. */
  setSuspended(ctx: RequestContext, userId: string, suspended: boolean): Promise<MemberView>
  /** The same changes in the caller's org transaction (an access review applies its decision beside it). */
  changeRoleIn(
    trx: Trx,
    ctx: RequestContext,
    userId: string,
    role: string,
    secretPaths?: readonly string[] | null,
  ): Promise<MemberView>
  removeMemberIn(
    trx: Trx,
    ctx: RequestContext,
    userId: string,
  ): Promise<{ revokedTokens: number; revokedSessions: number }>
  revokeTokenIn(trx: Trx, ctx: RequestContext, tokenId: string): Promise<void>
  deleteServiceAccountIn(trx: Trx, ctx: RequestContext, id: string): Promise<void>
  changeServiceAccountRoleIn(
    trx: Trx,
    ctx: RequestContext,
    id: string,
    role: string,
    secretPaths?: readonly string[] | null,
  ): Promise<ServiceAccountView>
  /**
   * Everyone and everything with access to the org, with last activity and (members)
   * whether 2FA is on: what an access review certifies or revokes (P2.5).
   */
  inventory(orgId: string): Promise<AccessInventory>
  /**
   * A page of {@link inventory}'s members and service accounts (members in join order,
   * then service accounts in creation order; a page fills across the boundary), with the
   * same last activity and 2FA state, read for the page's principals alone. `limit` 1–500;
   * 400 VALIDATION_FAILED for a cursor this list did not issue.
   */
  inventoryPage(
    orgId: string,
    page: PageRequest,
  ): Promise<Pick<AccessInventory, 'members' | 'serviceAccounts'> & { nextCursor: string | null }>
  /**
   * Whether the org has a member other than `userId`, not suspended, in one of `roles`
   * (an access review asks whether anyone else may decide). One probe, whatever the org's size.
   */
  anotherActiveMember(orgId: string, userId: string, roles: readonly string[]): Promise<boolean>
  /**
   * Org offboarding (owner transaction): deletes the org — and, through the schema's
   * cascades, everything that belongs to it — and the user accounts that belonged to no
   * other org. Returns how many members it had and how many accounts were deleted.
   */
  deleteOrgIn(trx: Trx, orgId: string): Promise<{ members: number; usersDeleted: number }>
  /** CLI break-glass: a token for a member or service account, over the owner connection. */
  createTokenAsAdmin(input: {
    orgId: string
    email?: string | undefined
    serviceAccount?: string | undefined
    name: string
    expiresInDays: number
    scopes?: string[] | undefined
    /** Which way the CLI came and its OS user (src/control/control.command.ts, cliMeta). */
    meta: RequestMeta
  }): Promise<ApiTokenView & { token: string }>
}

export interface AccessInventory {
  members: {
    userId: string
    email: string
    role: string
    joinedAt: Date
    suspended: boolean
    mfaEnabled: boolean
    lastActivityAt: Date | null
    /** Secret path patterns (docs/secret-paths.md); null: every secret. */
    secretPaths: string[] | null
  }[]
  serviceAccounts: {
    id: string
    name: string
    role: string
    secretPaths: string[] | null
    createdAt: Date
    lastActivityAt: Date | null
  }[]
  tokens: {
    id: string
    name: string
    userId: string | null
    serviceAccountId: string | null
    scopes: string[] | null
    /** The token's own patterns, narrowing its holder's; null: the holder's. */
    secretPaths: string[] | null
    createdAt: Date
    expiresAt: Date
    lastActivityAt: Date | null
  }[]
}

const INVITATION_TTL_MS = 7 * 86_400_000

/** Owners, and the system acting on an org's own standing policy (an access review's overdue revocations). */
function actsAsOwner(ctx: RequestContext): boolean {
  return ctx.principal.role === 'owner' || ctx.principal.kind === 'system'
}

export function createIdentityService(deps: {
  db: Kysely<DB>
  config: Pick<Config, 'auth'>
  access: Pick<AccessService, 'assertAssignable' | 'permissionsOf'>
  audit: Pick<AuditService, 'append' | 'recordSeparately'>
  gate: Pick<CredentialGate, 'check'>
  /**
   * Rollback detection (P8.1): an invitation of a refused org is not accepted; an account's
   * list of orgs marks a refused one as not served.
   */
  served: Pick<OrgServedGuard, 'assertServed' | 'refusal'>
  /** Data residency (P8.2): the ids this deployment mints and the region its orgs are pinned to. */
  residency: Pick<Residency, 'region' | 'mintOrgId' | 'assertCreatedHere'>
}): IdentityService {
  const { db, config, access, audit, gate, residency } = deps

  /** A refused attempt to give an org another region, recorded in `orgId`'s log (P8.2), then thrown. */
  async function refuseRegion(ctx: RequestContext, orgId: string, requested: string, error: AppError): Promise<never> {
    await audit.recordSeparately({
      orgId,
      actor: actorOf(ctx.principal),
      action: 'org.region_refused',
      target: { type: 'org', id: orgId === ctx.orgId ? orgId : null },
      outcome: 'denied',
      details: { requestedRegion: requested, region: residency.region ?? null, code: error.code },
      meta: ctx.meta,
    })
    error.audited = true
    throw error
  }

  const record = (
    trx: Trx,
    ctx: RequestContext,
    action: string,
    target: { type: string; id: string | null },
    details?: Record<string, unknown>,
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

  /** A zone both Temporal and PostgreSQL know: the alert rules read hours of the day in SQL (`AT TIME ZONE`). */
  async function assertTimeZone(name: string): Promise<void> {
    const known =
      isTimeZone(name) &&
      (await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_timezone_names WHERE name = ${name}`.execute(db))
        .rows[0]?.n === 1
    if (!known)
      throw new AppError('VALIDATION_FAILED', 'timeZone must be an IANA time zone such as Europe/Berlin', {
        errors: [
          {
            path: '/body/timeZone',
            message: 'not an IANA time zone such as Europe/Berlin (fixed offsets are refused)',
          },
        ],
      })
  }

  /** Scopes given for the CLI's break-glass token: catalog permissions its holder has. */
  function validateScopes(scopes: string[] | undefined, holder: ReadonlySet<Permission>): string[] | null {
    if (scopes === undefined) return null
    const bad = scopes.filter((s) => !isPermission(s) || !holder.has(s))
    if (bad.length > 0) {
      throw new AppError('VALIDATION_FAILED', 'a token can only be scoped to permissions its holder has', {
        errors: bad.map((s) => ({
          path: '/body/scopes',
          message: isPermission(s) ? `holder lacks ${s}` : `unknown permission ${s}`,
        })),
      })
    }
    return [...new Set(scopes)].sort()
  }

  /**
   * The scopes of a token made through the API (issue 11 K3): never more than the caller's
   * own effective permissions, nor than its holder's role.
   * - Given: each must be in the catalog and the holder's role (400), and the caller's own
   *   (403 EXCEEDS_OWN_PERMISSIONS).
   * - Omitted: the caller's own permissions, as far as the holder's role has them. `null`
   *   ("all of the holder's role", re-read at each use) only when that is exactly what the
   *   caller has through an unscoped credential of its own — so a token made by a scoped
   *   token always carries an explicit list, never more than its maker.
   */
  function derivedScopes(
    requested: string[] | undefined,
    caller: { permissions: ReadonlySet<Permission>; scoped: boolean },
    holder: ReadonlySet<Permission>,
  ): string[] | null {
    if (requested === undefined) {
      const bound = [...holder].filter((p) => caller.permissions.has(p)).sort()
      if (!caller.scoped && bound.length === holder.size) return null
      if (bound.length === 0) assertWithinOwn(caller, holder, 'this token')
      return bound
    }
    const unknown = requested.filter((s) => !isPermission(s))
    if (unknown.length > 0) {
      throw new AppError('VALIDATION_FAILED', 'a token can only be scoped to catalog permissions', {
        errors: unknown.map((s) => ({ path: '/body/scopes', message: `unknown permission ${s}` })),
      })
    }
    assertWithinOwn(caller, requested, 'this token')
    return validateScopes(requested, holder)
  }

  /**
   * The caller's own credential as a bound on what it makes. A scoped token is narrower than
   * its role (so is a grant); a token gone since it was checked makes nothing (fail closed).
   * `expiresAt`: the scoped token's own expiry, which nothing it makes outlives.
   */
  async function callerBounds(trx: Trx, ctx: RequestContext): Promise<{ scoped: boolean; expiresAt: Date | null }> {
    if (ctx.principal.grant !== undefined || ctx.principal.kind === 'system') return { scoped: true, expiresAt: null }
    if (ctx.principal.via.type !== 'token') return { scoped: false, expiresAt: null }
    const own = await store.findApiToken(trx, ctx.principal.via.tokenId)
    if (own === undefined) throw new AppError('UNAUTHENTICATED', 'unauthenticated')
    return own.scopes === null ? { scoped: false, expiresAt: null } : { scoped: true, expiresAt: own.expires_at }
  }

  function expiry(days: number): Date {
    if (days > config.auth.apiTokenMaxDays) {
      throw new AppError('VALIDATION_FAILED', `tokens expire within ${config.auth.apiTokenMaxDays} days`, {
        errors: [{ path: '/body/expiresInDays', message: `must be at most ${config.auth.apiTokenMaxDays}` }],
      })
    }
    return new Date(Date.now() + days * 86_400_000)
  }

  async function insertToken(
    trx: Trx,
    orgId: string,
    holder: { userId?: string; serviceAccountId?: string },
    name: string,
    limits: { scopes: string[] | null; secretPaths: string[] | null },
    expiresAt: Date,
    createdBy: string,
    holderName: string | null,
  ) {
    const issued = issueToken('cst_api')
    const row = await store.insertApiToken(trx, {
      id: issued.id,
      org_id: orgId,
      user_id: holder.userId ?? null,
      service_account_id: holder.serviceAccountId ?? null,
      name,
      secret_hash: issued.secretHash,
      scopes: limits.scopes,
      secret_paths: limits.secretPaths,
      expires_at: expiresAt,
      created_by: createdBy,
      last_used_at: null,
      revoked_at: null,
    })
    return { ...tokenView(row, holderName), token: issued.token }
  }

  async function guardLastOwner(trx: Trx, userId: string, newRole: string | null): Promise<void> {
    const member = await store.findMember(trx, userId)
    if (member === undefined) throw new AppError('NOT_FOUND', 'no such member in this org')
    if (
      member.role === 'owner' &&
      newRole !== 'owner' &&
      member.suspended_at === null &&
      (await store.countActiveOwners(trx)) <= 1
    ) {
      throw new AppError('LAST_OWNER', 'an org keeps at least one owner; make someone else owner first')
    }
  }

  /**
   * An org keeps an active owner with no secret path scope: without one, nobody could widen a
   * scope again (nothing derived exceeds its maker) and the secrets beyond every scope would
   * be out of everyone's reach for good. LAST_OWNER when `member` is the last such owner and
   * would stop being one (`stays`: still an unrestricted, active owner afterwards).
   */
  async function guardLastUnrestrictedOwner(trx: Trx, member: store.MemberRow, stays: boolean): Promise<void> {
    if (stays || member.role !== 'owner' || member.secret_paths !== null || member.suspended_at !== null) return
    if ((await store.countActiveUnrestrictedOwners(trx)) <= 1)
      throw new AppError(
        'LAST_OWNER',
        'an org keeps at least one active owner with no secret path scope; give another owner every path first',
      )
  }

  async function changeRoleIn(
    trx: Trx,
    ctx: RequestContext,
    userId: string,
    role: string,
    secretPaths?: readonly string[] | null,
  ): Promise<MemberView> {
    await guardLastOwner(trx, userId, role)
    const member = (await store.findMember(trx, userId)) as store.MemberRow
    if (member.role === 'owner' && !actsAsOwner(ctx))
      throw new AppError('FORBIDDEN', 'only an owner can change an owner’s role', { permission: 'owner' })
    await access.assertAssignable(trx, ctx, role)
    const paths = derivedPaths(
      ctx.principal.secretPaths,
      secretPaths,
      member.secret_paths,
      'this member’s role',
      '/body/secretPaths',
    )
    await guardLastUnrestrictedOwner(trx, member, role === 'owner' && paths === null)
    await store.setMemberRole(trx, userId, role, paths)
    await record(
      trx,
      ctx,
      'member.role_change',
      { type: 'user', id: userId },
      { from: member.role, to: role, ...pathChange(member.secret_paths, paths) },
    )
    return memberView({ ...member, role, secret_paths: paths })
  }

  async function removeMemberIn(
    trx: Trx,
    ctx: RequestContext,
    userId: string,
  ): Promise<{ revokedTokens: number; revokedSessions: number }> {
    await guardLastOwner(trx, userId, null)
    const member = (await store.findMember(trx, userId)) as store.MemberRow
    if (member.role === 'owner' && !actsAsOwner(ctx))
      throw new AppError('FORBIDDEN', 'only an owner can remove an owner', { permission: 'owner' })
    await guardLastUnrestrictedOwner(trx, member, false)
    const revoked = await store.revokeCredentialsOfUser(trx, userId)
    await store.deleteMembership(trx, userId)
    // Kept out: single sign-on's just-in-time provisioning must not bring them back.
    await ssoStore.blockIdentitiesOfUser(trx, userId)
    await record(
      trx,
      ctx,
      'member.remove',
      { type: 'user', id: userId },
      { role: member.role, revokedTokens: revoked.tokens, revokedSessions: revoked.sessions },
    )
    return { revokedTokens: revoked.tokens, revokedSessions: revoked.sessions }
  }

  async function revokeTokenIn(trx: Trx, ctx: RequestContext, tokenId: string): Promise<void> {
    const row = await store.revokeApiToken(trx, tokenId)
    if (row === undefined) {
      if ((await store.findApiToken(trx, tokenId)) === undefined) throw new AppError('NOT_FOUND', 'no such token')
      return // already revoked: idempotent
    }
    await record(trx, ctx, 'token.revoke', { type: 'api_token', id: tokenId })
  }

  async function changeServiceAccountRoleIn(
    trx: Trx,
    ctx: RequestContext,
    id: string,
    role: string,
    secretPaths?: readonly string[] | null,
  ): Promise<ServiceAccountView> {
    const account = await store.findServiceAccount(trx, id)
    if (account === undefined) throw new AppError('NOT_FOUND', 'no such service account')
    if (account.role === 'owner' && !actsAsOwner(ctx))
      throw new AppError('FORBIDDEN', 'only an owner can change an owner’s role', { permission: 'owner' })
    await access.assertAssignable(trx, ctx, role)
    const paths = derivedPaths(
      ctx.principal.secretPaths,
      secretPaths,
      account.secret_paths,
      'this service account’s role',
      '/body/secretPaths',
    )
    await store.setServiceAccountRole(trx, id, role, paths)
    await record(
      trx,
      ctx,
      'service_account.role_change',
      { type: 'service_account', id },
      { name: account.name, from: account.role, to: role, ...pathChange(account.secret_paths, paths) },
    )
    return serviceAccountView({ ...account, role, secret_paths: paths })
  }

  async function deleteServiceAccountIn(trx: Trx, ctx: RequestContext, id: string): Promise<void> {
    if (!(await store.deleteServiceAccount(trx, id))) throw new AppError('NOT_FOUND', 'no such service account')
    await record(trx, ctx, 'service_account.delete', { type: 'service_account', id })
  }

  return {
    async getOrg(ctx) {
      const [org] = await queryInOrg(db, ctx.orgId, (trx) => store.orgQuery(trx, ctx.orgId))
      if (org === undefined) throw new AppError('NOT_FOUND', 'no such org')
      return orgView(org)
    },

    async listAccountOrgs(ctx, page) {
      const { principal } = ctx
      const rows = await withOwner(db, async (trx): Promise<Page<store.AccountOrgRow>> => {
        if (principal.kind === 'service_account') {
          const own = page.cursor === undefined ? await store.orgOfServiceAccount(trx, principal.id) : undefined
          return { items: own === undefined ? [] : [own], nextCursor: null }
        }
        const acrossOrgs = principal.via.type === 'session'
        return store.pageOrgsOfUser(trx, principal.id, page, acrossOrgs ? undefined : principal.orgId)
      })
      return {
        nextCursor: rows.nextCursor,
        items: rows.items.map((r) => {
          const refusal = deps.served.refusal(r.org_id) ?? null
          return {
            orgId: r.org_id,
            name: r.name,
            kind: r.kind,
            role: r.role,
            joinedAt: r.created_at.toISOString(),
            suspendedAt: r.suspended_at?.toISOString() ?? null,
            current: r.org_id === principal.orgId,
            served: refusal === null,
            refusal,
          }
        }),
      }
    },

    async updateOrg(ctx, input) {
      if (input.region !== undefined) {
        const [current] = await queryInOrg(db, ctx.orgId, (trx) => store.orgQuery(trx, ctx.orgId))
        if (current === undefined) throw new AppError('NOT_FOUND', 'no such org')
        if (input.region !== current.region)
          await refuseRegion(
            ctx,
            ctx.orgId,
            input.region,
            new AppError(
              'ORG_REGION_PINNED',
              current.region === null
                ? 'this org has no region: this deployment has no data residency configured (CUSTODIAN_REGION), and an org is never moved between deployments (P8.2)'
                : `this org is pinned to ${current.region}: an org never moves to another region (P8.2); its data stays in the ${current.region} deployment`,
            ),
          )
        // Its own region and nothing else: nothing to change.
        if (input.name === undefined && input.timeZone === undefined) return orgView(current)
      }
      if (input.timeZone !== undefined) await assertTimeZone(input.timeZone)
      return withOrg(db, ctx.orgId, async (trx) => {
        const org = await store.updateOrg(trx, ctx.orgId, { name: input.name, time_zone: input.timeZone })
        if (org === undefined) throw new AppError('NOT_FOUND', 'no such org')
        await record(
          trx,
          ctx,
          'org.update',
          { type: 'org', id: ctx.orgId },
          {
            ...(input.name === undefined ? {} : { name: input.name }),
            ...(input.timeZone === undefined ? {} : { timeZone: input.timeZone }),
          },
        )
        return orgView(org)
      })
    },

    async createCustomerOrg(ctx, input) {
      if (ctx.principal.orgKind !== 'provider')
        throw new AppError('FORBIDDEN', 'only the provider org creates orgs', { permission: 'orgs:create' })
      const ownerEmail = requireMailbox(input.ownerEmail, '/body/ownerEmail').address
      try {
        residency.assertCreatedHere(input.region)
      } catch (error) {
        await refuseRegion(ctx, ctx.orgId, input.region as string, error as AppError)
      }
      const orgId = residency.mintOrgId()
      const invitation = issueToken('cst_inv')
      const expiresAt = new Date(Date.now() + INVITATION_TTL_MS)
      // Owner transaction: the new org does not exist yet, so no org context can hold it.
      const org = await withOwner(db, async (trx) => {
        const created = await store.insertOrg(trx, {
          id: orgId,
          kind: 'customer',
          name: input.name,
          region: residency.region ?? null,
        })
        await store.insertInvitation(trx, {
          id: invitation.id,
          org_id: orgId,
          email: ownerEmail,
          role: 'owner',
          secret_hash: invitation.secretHash,
          expires_at: expiresAt,
          created_by: `${ctx.principal.kind}:${ctx.principal.id}`,
        })
        await record(
          trx,
          ctx,
          'org.create',
          { type: 'org', id: orgId },
          { name: input.name, ...(residency.region === undefined ? {} : { region: residency.region }) },
        )
        const provider: AuditActor = actorOf(ctx.principal)
        await audit.append(trx, {
          orgId,
          actor: provider,
          action: 'org.created',
          target: { type: 'org', id: orgId },
          outcome: 'success',
          details: { byOrg: ctx.orgId, ...(residency.region === undefined ? {} : { region: residency.region }) },
          meta: ctx.meta,
        })
        await audit.append(trx, {
          orgId,
          actor: provider,
          action: 'invitation.create',
          target: { type: 'invitation', id: invitation.id },
          outcome: 'success',
          details: { role: 'owner' },
          meta: ctx.meta,
        })
        return created
      })
      return {
        org: orgView(org),
        invitation: {
          id: invitation.id,
          email: ownerEmail,
          role: 'owner',
          secretPaths: null,
          expiresAt: expiresAt.toISOString(),
          token: invitation.token,
        },
      }
    },

    async invite(ctx, input) {
      const email = requireMailbox(input.email, '/body/email').address
      const invitation = issueToken('cst_inv')
      const expiresAt = new Date(Date.now() + INVITATION_TTL_MS)
      const paths = derivedPaths(
        ctx.principal.secretPaths,
        input.secretPaths,
        effectivePatterns(ctx.principal.secretPaths),
        'this invitation',
        '/body/secretPaths',
      )
      await withOrg(db, ctx.orgId, async (trx) => {
        await access.assertAssignable(trx, ctx, input.role)
        await store.insertInvitation(trx, {
          id: invitation.id,
          org_id: ctx.orgId,
          email,
          role: input.role,
          secret_paths: paths,
          secret_hash: invitation.secretHash,
          expires_at: expiresAt,
          created_by: `${ctx.principal.kind}:${ctx.principal.id}`,
        })
        await record(
          trx,
          ctx,
          'invitation.create',
          { type: 'invitation', id: invitation.id },
          { role: input.role, secretPaths: paths },
        )
      })
      return {
        id: invitation.id,
        email,
        role: input.role,
        secretPaths: paths,
        expiresAt: expiresAt.toISOString(),
        token: invitation.token,
      }
    },

    async acceptInvitation(input, meta) {
      const parsed = parseToken('cst_inv', input.token)
      const invalid = () => new AppError('INVITATION_INVALID', 'the invitation is invalid, expired or already used')
      if (parsed === undefined) throw invalid()
      // Check the invitation before spending an argon2 hash on the request (it is checked
      // again under the row lock below).
      const candidate = await withOwner(db, (trx) =>
        trx.selectFrom('invitations').selectAll().where('id', '=', parsed.id).executeTakeFirst(),
      )
      if (candidate === undefined || !secretMatches(parsed.secret, candidate.secret_hash)) throw invalid()
      // P8.1: the invitation is what tells us the org; a refused org's (restored) invitation
      // is not honoured, whether or not it looks valid there, until the org is served again.
      deps.served.assertServed(candidate.org_id)
      if (candidate.accepted_at !== null || candidate.expires_at.getTime() <= Date.now()) throw invalid()
      // An existing account joins only with its own password (and second factor), checked
      // by the credential gate like any sign-in: allowlists, throttle, audit (K1).
      const existing = await withOwner(db, (trx) => store.findUserByEmail(trx, candidate.email))
      if (existing !== undefined) {
        await gate.check({
          action: 'invitation.accept',
          account: { userId: existing.id },
          target: { orgId: candidate.org_id },
          password: input.password,
          secondFactor: { code: input.code, mode: 'if-enrolled' },
          meta,
          wrong: 'LOGIN_FAILED',
        })
      }
      // Joining hands out a token of the org, so the org's sign-in rules apply already:
      // its allowlist (P2.9), and no password at all in an SSO-only org (P3.4).
      const policy = await store.signInPolicy(db, candidate.org_id)
      const refusal = !allowlistOf(policy.ipAllowlist).allows(meta.ip)
        ? new AppError('IP_NOT_ALLOWED', 'this org accepts new members only from its allowed addresses')
        : policy.ssoOnly
          ? new AppError(
              'SSO_REQUIRED',
              `this org signs in with single sign-on only: sign in at /v1/sso/${candidate.org_id}/start with this invitation's email; the invitation is honoured there`,
            )
          : undefined
      if (refusal !== undefined) {
        await audit.recordSeparately({
          orgId: candidate.org_id,
          actor: { type: 'anonymous', id: null },
          action: 'invitation.accept',
          target: { type: 'invitation', id: candidate.id },
          outcome: 'denied',
          details: { reason: refusal.code },
          meta,
        })
        refusal.audited = true
        throw refusal
      }
      const newHash = existing === undefined ? await hashPassword(input.password) : null
      // Owner transaction: the invitation is what tells us the org.
      return withOwner(db, async (trx) => {
        const inv = await store.lockInvitation(trx, parsed.id)
        if (inv === undefined || !secretMatches(parsed.secret, inv.secret_hash)) throw invalid()
        if (inv.accepted_at !== null || inv.expires_at.getTime() <= Date.now()) throw invalid()
        let user = await store.findUserByEmail(trx, inv.email)
        if (user === undefined && newHash !== null) {
          await store.insertUser(trx, {
            id: randomUUID(),
            email: inv.email,
            password_hash: newHash,
            last_login_at: null,
          })
          user = (await store.findUserByEmail(trx, inv.email)) as store.UserRow // eslint-disable-line @typescript-eslint/no-unnecessary-type-assertion -- a false report: tsc fails without it
        } else if (user === undefined || user.id !== existing?.id) {
          // The account appeared or changed since the gate: it must pass the gate itself.
          throw new AppError('CONFLICT', 'the account for this email changed meanwhile; try again')
        }
        try {
          await store.insertMembership(trx, {
            org_id: inv.org_id,
            user_id: user.id,
            role: inv.role,
            secret_paths: inv.secret_paths,
          })
        } catch (error) {
          if (sqlState(error) === UNIQUE_VIOLATION) throw new AppError('CONFLICT', 'already a member of this org')
          throw error
        }
        await store.markInvitationAccepted(trx, inv.id)
        const actor: AuditActor = { type: 'user', id: user.id }
        const token = await insertToken(
          trx,
          inv.org_id,
          { userId: user.id },
          'invitation',
          { scopes: null, secretPaths: null },
          new Date(Date.now() + 30 * 86_400_000),
          `user:${user.id}`,
          user.email,
        )
        await audit.append(trx, {
          orgId: inv.org_id,
          actor,
          action: 'member.add',
          target: { type: 'user', id: user.id },
          outcome: 'success',
          details: { role: inv.role, invitation: inv.id },
          meta,
        })
        await audit.append(trx, {
          orgId: inv.org_id,
          actor,
          action: 'token.create',
          target: { type: 'api_token', id: token.id },
          outcome: 'success',
          meta,
        })
        return { orgId: inv.org_id, userId: user.id, email: user.email, apiToken: token.token }
      })
    },

    async listMembers(ctx, page) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const members = await store.pageMembers(trx, page)
        const pending = page.cursor === undefined ? await store.listPendingInvitations(trx) : []
        return {
          members: members.items.map(memberView),
          nextCursor: members.nextCursor,
          invitations: pending.map((i) => ({
            id: i.id,
            email: i.email,
            role: i.role,
            secretPaths: i.secret_paths,
            expiresAt: i.expires_at.toISOString(),
          })),
        }
      })
    },

    async changeRole(ctx, userId, role, secretPaths) {
      return withOrg(db, ctx.orgId, (trx) => changeRoleIn(trx, ctx, userId, role, secretPaths))
    },

    async removeMember(ctx, userId) {
      return withOrg(db, ctx.orgId, (trx) => removeMemberIn(trx, ctx, userId))
    },

    changeRoleIn,
    removeMemberIn,
    revokeTokenIn,
    deleteServiceAccountIn,
    changeServiceAccountRoleIn,

    async deleteOrgIn(trx, orgId) {
      const members = (await trx.selectFrom('memberships').select('user_id').where('org_id', '=', orgId).execute()).map(
        (m) => m.user_id,
      )
      await trx.deleteFrom('orgs').where('id', '=', orgId).execute()
      if (members.length === 0) return { members: 0, usersDeleted: 0 }
      const gone = await trx
        .deleteFrom('users')
        .where('id', 'in', members)
        .where((eb) =>
          eb.not(
            eb.exists(eb.selectFrom('memberships as m').select('m.user_id').whereRef('m.user_id', '=', 'users.id')),
          ),
        )
        .executeTakeFirst()
      return { members: members.length, usersDeleted: Number(gone.numDeletedRows) }
    },

    async inventory(orgId) {
      const found = await withOrg(db, orgId, async (trx) => ({
        members: await store.listMembers(trx),
        accounts: await store.listServiceAccounts(trx),
        tokens: (await store.listApiTokens(trx)).filter((t) => t.revoked_at === null),
        // Activity in this org: its sessions (ended ones too) and tokens. One probe of
        // sessions_org_user per member: the cost follows the members, not every session ever.
        sessions: await trx
          .selectFrom('memberships as m')
          .select([
            'm.user_id',
            (eb) =>
              eb
                .selectFrom('sessions as s')
                .select((e) => e.fn.max('s.last_seen_at').as('seen'))
                .whereRef('s.user_id', '=', 'm.user_id')
                .as('last_seen_at'),
          ])
          .execute(),
      }))
      // Owner read: second-factor state is readable only on the authentication path. Joined
      // to the org's memberships, not a list of every member's id as parameters.
      const mfa = await withOwner(db, (trx) =>
        trx
          .selectFrom('user_mfa as f')
          .innerJoin('memberships as m', 'm.user_id', 'f.user_id')
          .select('f.user_id')
          .where('m.org_id', '=', orgId)
          .where('f.confirmed_at', 'is not', null)
          .execute(),
      )
      // Each principal's figures are looked up by id (Maps), never by a scan of another
      // list: the cost follows members + tokens, not members × tokens (issue 20).
      const mfaOn = new Set(mfa.map((r) => r.user_id))
      const seen = new Map(found.sessions.map((x) => [x.user_id, x.last_seen_at]))
      const usedByUser = new Map<string, Date>()
      const usedByAccount = new Map<string, Date>()
      for (const t of found.tokens) {
        if (t.user_id !== null) keepLatest(usedByUser, t.user_id, t.last_used_at)
        if (t.service_account_id !== null) keepLatest(usedByAccount, t.service_account_id, t.last_used_at)
      }
      return {
        members: found.members.map((m) =>
          inventoryMember(m, mfaOn.has(m.user_id), latest(usedByUser.get(m.user_id), seen.get(m.user_id))),
        ),
        serviceAccounts: found.accounts.map((a) => ({
          id: a.id,
          name: a.name,
          role: a.role,
          secretPaths: a.secret_paths,
          createdAt: a.created_at,
          lastActivityAt: usedByAccount.get(a.id) ?? null,
        })),
        tokens: found.tokens.map((t) => ({
          id: t.id,
          name: t.name,
          userId: t.user_id,
          serviceAccountId: t.service_account_id,
          scopes: t.scopes,
          secretPaths: t.secret_paths,
          createdAt: t.created_at,
          expiresAt: t.expires_at,
          lastActivityAt: t.last_used_at,
        })),
      }
    },

    async inventoryPage(orgId, page) {
      const found = await withOrg(db, orgId, (trx) => store.pagePrincipals(trx, page))
      const userIds = found.members.map((m) => m.user_id)
      // Owner read, as in inventory: the page's members only.
      const mfa =
        userIds.length === 0
          ? []
          : await withOwner(db, (trx) =>
              trx
                .selectFrom('user_mfa')
                .select('user_id')
                .where('user_id', 'in', userIds)
                .where('confirmed_at', 'is not', null)
                .execute(),
            )
      const mfaOn = new Set(mfa.map((r) => r.user_id))
      return {
        members: found.members.map((m) =>
          inventoryMember(m, mfaOn.has(m.user_id), latest(m.last_token_use, m.last_session)),
        ),
        serviceAccounts: found.serviceAccounts.map((a) => ({
          id: a.id,
          name: a.name,
          role: a.role,
          secretPaths: a.secret_paths,
          createdAt: a.created_at,
          lastActivityAt: a.last_token_use,
        })),
        nextCursor: found.nextCursor,
      }
    },

    async anotherActiveMember(orgId, userId, roles) {
      if (roles.length === 0) return false
      return withOrg(db, orgId, (trx) => store.anotherActiveMember(trx, orgId, userId, roles))
    },

    async setSuspended(ctx, userId, suspended) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const member = await store.findMember(trx, userId)
        if (member === undefined) throw new AppError('NOT_FOUND', 'no such member in this org')
        if (userId === ctx.principal.id) throw new AppError('CONFLICT', 'you cannot suspend yourself')
        if (member.role === 'owner' && ctx.principal.role !== 'owner')
          throw new AppError('FORBIDDEN', 'only an owner can suspend an owner', { permission: 'owner' })
        if (suspended && member.role === 'owner' && (await store.countActiveOwners(trx)) <= 1) {
          throw new AppError('LAST_OWNER', 'an org keeps at least one active owner')
        }
        if (suspended) await guardLastUnrestrictedOwner(trx, member, false)
        // Resuming gives the member's role back: only a caller holding it may (issue 11 K3).
        if (!suspended && member.suspended_at !== null) {
          await access.assertAssignable(trx, ctx, member.role)
          assertPathsWithin(ctx.principal.secretPaths, member.secret_paths, 'resuming this member')
        }
        if (await store.setSuspended(trx, userId, suspended)) {
          await record(
            trx,
            ctx,
            suspended ? 'member.suspend' : 'member.resume',
            { type: 'user', id: userId },
            { role: member.role },
          )
        }
        return memberView((await store.findMember(trx, userId)) as store.MemberRow)
      })
    },

    async createServiceAccount(ctx, input) {
      try {
        return await withOrg(db, ctx.orgId, async (trx) => {
          await access.assertAssignable(trx, ctx, input.role)
          const paths = derivedPaths(
            ctx.principal.secretPaths,
            input.secretPaths,
            effectivePatterns(ctx.principal.secretPaths),
            'this service account',
            '/body/secretPaths',
          )
          const row = await store.insertServiceAccount(trx, {
            id: randomUUID(),
            org_id: ctx.orgId,
            name: input.name,
            role: input.role,
            secret_paths: paths,
          })
          await record(
            trx,
            ctx,
            'service_account.create',
            { type: 'service_account', id: row.id },
            { name: input.name, role: input.role, secretPaths: paths },
          )
          return serviceAccountView(row)
        })
      } catch (error) {
        if (sqlState(error) === UNIQUE_VIOLATION)
          throw new AppError('CONFLICT', `a service account named ${input.name} exists`)
        throw error
      }
    },

    async listServiceAccounts(ctx, page) {
      const { items, nextCursor } = await withOrg(db, ctx.orgId, (trx) => store.pageServiceAccounts(trx, page))
      return { items: items.map(serviceAccountView), nextCursor }
    },

    async changeServiceAccountRole(ctx, id, role, secretPaths) {
      return withOrg(db, ctx.orgId, (trx) => changeServiceAccountRoleIn(trx, ctx, id, role, secretPaths))
    },

    async deleteServiceAccount(ctx, id) {
      await withOrg(db, ctx.orgId, (trx) => deleteServiceAccountIn(trx, ctx, id))
    },

    async createToken(ctx, input) {
      const expiresAt = expiry(input.expiresInDays)
      return withOrg(db, ctx.orgId, async (trx) => {
        let holder: { userId?: string; serviceAccountId?: string }
        let holderRole: string
        let holderName: string | null
        let holderPaths: string[] | null
        if (input.serviceAccountId !== undefined) {
          if (!ctx.principal.permissions.has('service_accounts:manage')) {
            throw new AppError('FORBIDDEN', 'issuing a service account’s token needs service_accounts:manage', {
              permission: 'service_accounts:manage',
            })
          }
          const account = await store.findServiceAccount(trx, input.serviceAccountId)
          if (account === undefined) throw new AppError('NOT_FOUND', 'no such service account')
          holder = { serviceAccountId: account.id }
          holderRole = account.role
          holderName = account.name
          holderPaths = account.secret_paths
        } else {
          if (ctx.principal.kind !== 'user' || ctx.principal.grant !== undefined)
            throw new AppError('FORBIDDEN', 'only a member issues tokens for themselves', {
              permission: 'tokens:create',
            })
          holder = { userId: ctx.principal.id }
          holderRole = ctx.principal.role
          holderPaths = (await store.findMember(trx, ctx.principal.id))?.secret_paths ?? null
          holderName = (await memberEmails(trx, ctx.orgId, [ctx.principal.id]))[ctx.principal.id.toLowerCase()] ?? null
        }
        const holderPermissions = await access.permissionsOf(
          trx,
          { id: ctx.orgId, kind: ctx.principal.orgKind },
          holderRole,
        )
        // A token never carries more than the credential that issued it (issue 11 K3): no
        // wider scopes, and a token made by a scoped token does not outlive it.
        const bounds = await callerBounds(trx, ctx)
        const scopes = derivedScopes(
          input.scopes,
          { permissions: ctx.principal.permissions, scoped: bounds.scoped },
          holderPermissions,
        )
        const until = bounds.expiresAt !== null && bounds.expiresAt < expiresAt ? bounds.expiresAt : expiresAt
        const secretPaths = tokenPaths(ctx.principal.secretPaths, holderPaths, input.secretPaths)
        const token = await insertToken(
          trx,
          ctx.orgId,
          holder,
          input.name,
          { scopes, secretPaths },
          until,
          `${ctx.principal.kind}:${ctx.principal.id}`,
          holderName,
        )
        await record(
          trx,
          ctx,
          'token.create',
          { type: 'api_token', id: token.id },
          { name: input.name, scopes, secretPaths, expiresAt: token.expiresAt, holder },
        )
        return token
      })
    },

    async listTokens(ctx, page) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const { items, nextCursor } = await store.pageApiTokens(trx, page)
        const names = await holderNames(trx, ctx.orgId, items)
        return { items: items.map((t) => tokenView(t, names.get(t.id) ?? null)), nextCursor }
      })
    },

    async revokeToken(ctx, tokenId) {
      await withOrg(db, ctx.orgId, (trx) => revokeTokenIn(trx, ctx, tokenId))
    },

    async createTokenAsAdmin(input) {
      const expiresAt = expiry(input.expiresInDays)
      return withOrg(db, input.orgId, async (trx) => {
        const org = await store.findOrg(trx, input.orgId)
        if (org === undefined) throw new AppError('NOT_FOUND', `no org ${input.orgId}`)
        let holder: { userId?: string; serviceAccountId?: string }
        let role: string
        let holderName: string
        if (input.email !== undefined) {
          const email = requireMailbox(input.email, '--email').address.toLowerCase()
          const member = (await store.listMembers(trx)).find((m) => m.email.toLowerCase() === email)
          if (member === undefined)
            throw new AppError('NOT_FOUND', `${input.email} is not a member of org ${input.orgId}`)
          holder = { userId: member.user_id }
          role = member.role
          holderName = member.email
        } else {
          const account = (await store.listServiceAccounts(trx)).find((a) => a.name === input.serviceAccount)
          if (account === undefined)
            throw new AppError('NOT_FOUND', `no service account ${input.serviceAccount} in org ${input.orgId}`)
          holder = { serviceAccountId: account.id }
          role = account.role
          holderName = account.name
        }
        const scopes = validateScopes(input.scopes, await access.permissionsOf(trx, org, role))
        const token = await insertToken(
          trx,
          input.orgId,
          holder,
          input.name,
          { scopes, secretPaths: null },
          expiresAt,
          'system:cli',
          holderName,
        )
        await audit.append(trx, {
          orgId: input.orgId,
          actor: { type: 'system', id: 'cli' },
          action: 'token.create',
          target: { type: 'api_token', id: token.id },
          outcome: 'success',
          details: { name: input.name, scopes, holder, via: 'cli' },
          meta: input.meta,
        })
        return token
      })
    },
  }
}

/** The later of two instants; null when neither is known. */
function latest(a: Date | null | undefined, b: Date | null | undefined): Date | null {
  if (a == null) return b ?? null
  return b != null && b > a ? b : a
}

/** Records `at` for `key` when it is later than what `map` holds. */
function keepLatest(map: Map<string, Date>, key: string, at: Date | null): void {
  const before = map.get(key)
  if (at !== null && (before === undefined || at > before)) map.set(key, at)
}

function orgView(row: store.OrgRow): OrgView {
  return {
    id: row.id,
    kind: row.kind,
    name: row.name,
    timeZone: row.time_zone,
    region: row.region,
    createdAt: row.created_at.toISOString(),
  }
}

/**
 * A token's path scope: its own list narrows its holder's. Omitted: none of its own, unless
 * the holder's reach goes beyond the caller's, then the caller's own. Both the list and the
 * token's whole reach (holder's and own together) stay within the caller's scope.
 */
function tokenPaths(
  caller: SecretPathLayers,
  holder: string[] | null,
  requested: readonly string[] | null | undefined,
): string[] | null {
  const reach = (own: string[] | null) => effectivePatterns(layersOf(holder, own))
  const fallback = patternsBeyond(caller, reach(null)).length === 0 ? null : effectivePatterns(caller)
  const own = derivedPaths(caller, requested, fallback, 'this token', '/body/secretPaths')
  assertPathsWithin(caller, reach(own), 'this token')
  return own
}

/** Audit details of a path scope change (patterns are not secrets); nothing when unchanged. */
function pathChange(from: readonly string[] | null, to: readonly string[] | null): Record<string, unknown> {
  return JSON.stringify(from) === JSON.stringify(to) ? {} : { secretPaths: { from, to } }
}

function memberView(row: store.MemberRow): MemberView {
  return {
    userId: row.user_id,
    email: row.email,
    role: row.role,
    secretPaths: row.secret_paths,
    joinedAt: row.created_at.toISOString(),
    suspendedAt: row.suspended_at?.toISOString() ?? null,
  }
}

function serviceAccountView(row: store.ServiceAccountRow): ServiceAccountView {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    secretPaths: row.secret_paths,
    createdAt: row.created_at.toISOString(),
  }
}

/** A token as the API shows it; `holderName` is the holder in words (see {@link holderNames}). */
/**
 * Each token's holder in words, by token id: the member's email (members of `orgId` only,
 * src/db/people.ts) or the service account's name. A former member's token is left out.
 */
async function holderNames(trx: Trx, orgId: string, rows: store.ApiTokenRow[]): Promise<Map<string, string>> {
  const emails = await memberEmails(
    trx,
    orgId,
    rows.map((r) => r.user_id),
  )
  const accounts = new Map(
    (
      await store.serviceAccountNames(
        trx,
        rows.flatMap((r) => (r.service_account_id === null ? [] : [r.service_account_id])),
      )
    ).map((a) => [a.id, a.name]),
  )
  const names = new Map<string, string>()
  for (const r of rows) {
    const name =
      r.user_id !== null
        ? emails[r.user_id.toLowerCase()]
        : r.service_account_id !== null
          ? accounts.get(r.service_account_id)
          : undefined
    if (name !== undefined) names.set(r.id, name)
  }
  return names
}

function tokenView(row: store.ApiTokenRow, holderName: string | null): ApiTokenView {
  return {
    id: row.id,
    name: row.name,
    userId: row.user_id,
    serviceAccountId: row.service_account_id,
    holderName,
    scopes: row.scopes,
    secretPaths: row.secret_paths,
    createdAt: row.created_at.toISOString(),
    expiresAt: row.expires_at.toISOString(),
    lastUsedAt: row.last_used_at?.toISOString() ?? null,
    revokedAt: row.revoked_at?.toISOString() ?? null,
  }
}

/** A member as the access inventory shows one (whole or a page of it). */
function inventoryMember(
  m: {
    user_id: string
    email: string
    role: string
    created_at: Date
    suspended_at: Date | null
    secret_paths: string[] | null
  },
  mfaEnabled: boolean,
  lastActivityAt: Date | null,
): AccessInventory['members'][number] {
  return {
    userId: m.user_id,
    email: m.email,
    role: m.role,
    joinedAt: m.created_at,
    suspended: m.suspended_at !== null,
    mfaEnabled,
    lastActivityAt,
    secretPaths: m.secret_paths,
  }
}
