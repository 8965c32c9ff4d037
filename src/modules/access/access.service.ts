import { sql, type Kysely } from 'kysely'
import type { DB } from '../../db/schema.ts'
import { sqlState, UNIQUE_VIOLATION, withOrg, type Trx } from '../../db/tenant.ts'
import { AppError } from '../../errors.ts'
import { actorOf, type RequestContext } from '../../context.ts'
import type { AuditService } from '../audit/audit.service.ts'
import { assertWithinOwn } from './bounds.ts'
import { BUILT_IN_ROLES, isBuiltInRole, isPermission, PROVIDER_ONLY, type Permission } from './permissions.ts'

export interface RoleView {
  name: string
  builtIn: boolean
  description: string
  permissions: Permission[]
}

/** Custom roles an org may define: `GET /roles` lists them whole (documented in docs/authentication.md). */
export const MAX_CUSTOM_ROLES = 100
export interface AccessService {
  /** The permissions a role grants in an org; empty for a role that no longer exists. */
  /** Takes a transaction or, for a credential check, the owner connection (one statement). */
  permissionsOf(
    trx: Kysely<DB>,
    org: { id: string; kind: 'provider' | 'customer' },
    role: string,
  ): Promise<Set<Permission>>
  /**
   * Throws VALIDATION_FAILED unless `role` exists in this org, and EXCEEDS_OWN_PERMISSIONS
   * unless the caller holds every permission the role grants (a role given is a credential
   * derived from the caller's, issue 11 K3).
   */
  assertAssignable(trx: Trx, ctx: RequestContext, role: string): Promise<void>
  listRoles(ctx: RequestContext): Promise<RoleView[]>
  /** The roles of an org, built-in and custom, without a request (access reviews, reports). */
  rolesOf(org: { id: string; kind: 'provider' | 'customer' }): Promise<RoleView[]>
  createRole(
    ctx: RequestContext,
    input: { name: string; description: string; permissions: string[] },
  ): Promise<RoleView>
  /**
   * Replaces a custom role's permissions (and description, when given). Its holders' access
   * changes on their next request: permissions are read from the role at each request.
   * Throws CONFLICT for a built-in role, NOT_FOUND for an unknown one, VALIDATION_FAILED for
   * a permission outside the catalog, and EXCEEDS_OWN_PERMISSIONS unless the caller holds
   * every permission the role will grant (issue 11 K3).
   */
  updateRole(
    ctx: RequestContext,
    name: string,
    input: { description?: string | undefined; permissions: string[] },
  ): Promise<RoleView>
  deleteRole(ctx: RequestContext, name: string): Promise<void>
}

export function createAccessService(deps: { db: Kysely<DB>; audit: Pick<AuditService, 'append'> }): AccessService {
  const { db, audit } = deps

  function builtInPermissions(role: keyof typeof BUILT_IN_ROLES, kind: 'provider' | 'customer'): Permission[] {
    return BUILT_IN_ROLES[role].permissions.filter((p) => kind === 'provider' || !PROVIDER_ONLY.has(p))
  }

  async function permissionsOf(trx: Kysely<DB>, org: { id: string; kind: 'provider' | 'customer' }, role: string) {
    if (isBuiltInRole(role)) return new Set(builtInPermissions(role, org.kind))
    const custom = await trx
      .selectFrom('custom_roles')
      .select('permissions')
      .where('org_id', '=', org.id)
      .where('name', '=', role)
      .executeTakeFirst()
    return new Set((custom?.permissions ?? []).filter(isPermission))
  }

  /**
   * A custom role's permissions, checked and sorted: each from the catalog (provider-only ones
   * for the provider org alone), and each held by the caller (issue 11 K3).
   */
  function catalogPermissions(ctx: RequestContext, requested: string[]): Permission[] {
    const unknown = requested.filter((p) => !isPermission(p))
    const disallowed = requested.filter(
      (p) => isPermission(p) && ctx.principal.orgKind !== 'provider' && PROVIDER_ONLY.has(p),
    )
    if (unknown.length > 0 || disallowed.length > 0) {
      throw new AppError('VALIDATION_FAILED', 'a custom role can hold only permissions from the catalog', {
        errors: [...unknown, ...disallowed].map((p) => ({
          path: '/body/permissions',
          message: unknown.includes(p) ? `unknown permission ${p}` : `${p} is for the provider org only`,
        })),
      })
    }
    const permissions = [...new Set(requested)].sort() as Permission[]
    assertWithinOwn(ctx.principal, permissions, 'this role')
    return permissions
  }

  async function rolesOf(org: { id: string; kind: 'provider' | 'customer' }): Promise<RoleView[]> {
    const kind = org.kind
    const custom = await withOrg(db, org.id, (trx) =>
      trx.selectFrom('custom_roles').selectAll().orderBy('name').execute(),
    )
    return [
      ...Object.entries(BUILT_IN_ROLES).map(([name, role]) => ({
        name,
        builtIn: true,
        description: role.description,
        permissions: builtInPermissions(name as keyof typeof BUILT_IN_ROLES, kind),
      })),
      ...custom.map((row) => ({
        name: row.name,
        builtIn: false,
        description: row.description,
        permissions: row.permissions.filter(isPermission),
      })),
    ]
  }

  return {
    permissionsOf,

    async assertAssignable(trx, ctx, role) {
      if (!isBuiltInRole(role)) {
        const exists = await trx.selectFrom('custom_roles').select('name').where('name', '=', role).executeTakeFirst()
        if (exists === undefined) {
          throw new AppError('VALIDATION_FAILED', `no role named ${JSON.stringify(role)} in this org`, {
            errors: [{ path: '/body/role', message: 'unknown role' }],
          })
        }
      }
      assertWithinOwn(
        ctx.principal,
        await permissionsOf(trx, { id: ctx.orgId, kind: ctx.principal.orgKind }, role),
        `the role ${role}`,
      )
      // Ownership is more than its permissions (it alone grants and removes ownership).
      if (role === 'owner' && ctx.principal.role !== 'owner') {
        throw new AppError('FORBIDDEN', 'only an owner can grant the owner role', { permission: 'owner' })
      }
    },

    async listRoles(ctx) {
      return rolesOf({ id: ctx.orgId, kind: ctx.principal.orgKind })
    },

    rolesOf,

    async createRole(ctx, input) {
      if (isBuiltInRole(input.name)) {
        throw new AppError('CONFLICT', `${input.name} is a built-in role`)
      }
      const permissions = catalogPermissions(ctx, input.permissions)
      try {
        await withOrg(db, ctx.orgId, async (trx) => {
          // The list of roles is read whole (GET /roles): it stays short by this limit,
          // checked under a per-org lock so that concurrent creations cannot pass it.
          await sql`SELECT pg_advisory_xact_lock(hashtext('custom_roles'), hashtext(${ctx.orgId}))`.execute(trx)
          const { n } = await trx
            .selectFrom('custom_roles')
            .select((eb) => eb.fn.countAll<string>().as('n'))
            .executeTakeFirstOrThrow()
          if (Number(n) >= MAX_CUSTOM_ROLES)
            throw new AppError('CONFLICT', `an org has at most ${MAX_CUSTOM_ROLES} custom roles; delete one first`)
          await trx
            .insertInto('custom_roles')
            .values({ org_id: ctx.orgId, name: input.name, description: input.description, permissions })
            .execute()
          await audit.append(trx, {
            orgId: ctx.orgId,
            actor: actorOf(ctx.principal),
            action: 'role.create',
            target: { type: 'role', id: input.name },
            outcome: 'success',
            details: { permissions },
            meta: ctx.meta,
          })
        })
      } catch (error) {
        if (sqlState(error) === UNIQUE_VIOLATION) throw new AppError('CONFLICT', `a role named ${input.name} exists`)
        throw error
      }
      return { name: input.name, builtIn: false, description: input.description, permissions }
    },

    async updateRole(ctx, name, input) {
      if (isBuiltInRole(name)) throw new AppError('CONFLICT', `${name} is a built-in role and cannot be changed`)
      const permissions = catalogPermissions(ctx, input.permissions)
      return withOrg(db, ctx.orgId, async (trx) => {
        const before = await trx
          .selectFrom('custom_roles')
          .select(['description', 'permissions'])
          .where('name', '=', name)
          .forUpdate()
          .executeTakeFirst()
        if (before === undefined) throw new AppError('NOT_FOUND', 'no such role')
        const description = input.description ?? before.description
        await trx.updateTable('custom_roles').set({ description, permissions }).where('name', '=', name).execute()
        const held = new Set(before.permissions)
        await audit.append(trx, {
          orgId: ctx.orgId,
          actor: actorOf(ctx.principal),
          action: 'role.update',
          target: { type: 'role', id: name },
          outcome: 'success',
          details: {
            added: permissions.filter((p) => !held.has(p)),
            removed: [...held].filter((p) => !permissions.includes(p as Permission)).sort(),
            permissions,
          },
          meta: ctx.meta,
        })
        return { name, builtIn: false, description, permissions }
      })
    },

    async deleteRole(ctx, name) {
      if (isBuiltInRole(name)) throw new AppError('CONFLICT', `${name} is a built-in role and cannot be deleted`)
      await withOrg(db, ctx.orgId, async (trx) => {
        const holders = await trx
          .selectFrom('memberships')
          .select('user_id')
          .where('role', '=', name)
          .union(trx.selectFrom('service_accounts').select('id as user_id').where('role', '=', name))
          .limit(1)
          .execute()
        const deleted = await trx.deleteFrom('custom_roles').where('name', '=', name).executeTakeFirst()
        if (Number(deleted.numDeletedRows) === 0) throw new AppError('NOT_FOUND', 'no such role')
        if (holders.length > 0)
          throw new AppError('CONFLICT', `role ${name} is still assigned; reassign its holders first`)
        await audit.append(trx, {
          orgId: ctx.orgId,
          actor: actorOf(ctx.principal),
          action: 'role.delete',
          target: { type: 'role', id: name },
          outcome: 'success',
          meta: ctx.meta,
        })
      })
    },
  }
}
