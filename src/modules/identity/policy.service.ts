import type { Kysely } from 'kysely'
import type { DB } from '../../db/schema.ts'
import { withOrg, type Trx } from '../../db/tenant.ts'
import { AppError } from '../../errors.ts'
import { actorOf, type RequestContext } from '../../context.ts'
import { allowlistOf, parseCidr } from './ip-allowlist.ts'
import type { AuditService } from '../audit/audit.service.ts'
import type { IpAllowlistEntry } from './identity.tables.ts'

/**
 * The org's security policy: "require 2FA" (P3.2) and the step-up window. In the provider
 * org 2FA is always required — its members are operators — so there it reads as on and
 * cannot be turned off.
 */
export interface SecurityPolicy {
  require2fa: boolean
  stepUpMinutes: number
}

export interface IpAllowlistView {
  entries: IpAllowlistEntry[]
  /** The address this request came from, as the allowlist sees it (after trusted proxies). */
  yourAddress: string | null
}

export interface SecurityPolicyService {
  get(ctx: RequestContext): Promise<SecurityPolicy>
  set(ctx: RequestContext, policy: SecurityPolicy): Promise<SecurityPolicy>
  getIpAllowlist(ctx: RequestContext): Promise<IpAllowlistView>
  /**
   * Replaces the org's IP allowlist (P2.9); an empty list lifts the restriction. Refuses a
   * list that would shut out the caller's own address unless `force` is set.
   */
  setIpAllowlist(
    ctx: RequestContext,
    input: { entries: { cidr: string; description?: string | undefined }[]; force?: boolean | undefined },
  ): Promise<IpAllowlistView>
}

export function createSecurityPolicyService(deps: {
  db: Kysely<DB>
  audit: Pick<AuditService, 'append'>
}): SecurityPolicyService {
  const { db, audit } = deps
  const by = (ctx: RequestContext) => `${ctx.principal.kind}:${ctx.principal.id}`

  /** Writes some columns of the policy row, creating it with defaults if the org has none. */
  async function upsert(
    trx: Trx,
    ctx: RequestContext,
    values: { require_2fa?: boolean; step_up_minutes?: number; ip_allowlist?: string },
  ): Promise<void> {
    await trx
      .insertInto('org_security_policies')
      .values({ org_id: ctx.orgId, updated_by: by(ctx), ...values })
      .onConflict((oc) => oc.column('org_id').doUpdateSet({ ...values, updated_at: new Date(), updated_by: by(ctx) }))
      .execute()
  }

  return {
    async get(ctx) {
      const row = await withOrg(db, ctx.orgId, (trx) =>
        trx.selectFrom('org_security_policies').selectAll().executeTakeFirst(),
      )
      return {
        require2fa: (row?.require_2fa ?? false) || ctx.principal.orgKind === 'provider',
        stepUpMinutes: row?.step_up_minutes ?? 10,
      }
    },

    async set(ctx, policy) {
      if (ctx.principal.orgKind === 'provider' && !policy.require2fa) {
        throw new AppError(
          'VALIDATION_FAILED',
          'operators (the provider org’s members) always need two-factor authentication',
          {
            errors: [{ path: '/body/require2fa', message: 'must be true in the provider org' }],
          },
        )
      }
      return withOrg(db, ctx.orgId, async (trx) => {
        await upsert(trx, ctx, { require_2fa: policy.require2fa, step_up_minutes: policy.stepUpMinutes })
        await audit.append(trx, {
          orgId: ctx.orgId,
          actor: actorOf(ctx.principal),
          action: 'org.security_policy.update',
          target: { type: 'org', id: ctx.orgId },
          outcome: 'success',
          details: { ...policy },
          meta: ctx.meta,
        })
        return policy
      })
    },

    async getIpAllowlist(ctx) {
      const row = await withOrg(db, ctx.orgId, (trx) =>
        trx.selectFrom('org_security_policies').select('ip_allowlist').executeTakeFirst(),
      )
      return { entries: row?.ip_allowlist ?? [], yourAddress: ctx.meta.ip }
    },

    async setIpAllowlist(ctx, input) {
      const errors: { path: string; message: string }[] = []
      const entries = new Map<string, IpAllowlistEntry>()
      input.entries.forEach((entry, i) => {
        const parsed = parseCidr(entry.cidr)
        if (!parsed.ok) errors.push({ path: `/body/entries/${i}/cidr`, message: parsed.message })
        else if (!entries.has(parsed.cidr.text))
          entries.set(parsed.cidr.text, { cidr: parsed.cidr.text, description: entry.description ?? '' })
      })
      if (errors.length > 0)
        throw new AppError('VALIDATION_FAILED', 'some allowlist ranges are not valid CIDR ranges', { errors })
      const list = [...entries.values()]
      const callerAllowed = allowlistOf(list.map((e) => e.cidr)).allows(ctx.meta.ip)
      if (!callerAllowed && input.force !== true) {
        throw new AppError(
          'ALLOWLIST_EXCLUDES_CALLER',
          `this list does not include your own address (${ctx.meta.ip ?? 'unknown'}), so it would lock you out; add it, or send "force": true`,
        )
      }
      return withOrg(db, ctx.orgId, async (trx) => {
        await upsert(trx, ctx, { ip_allowlist: JSON.stringify(list) })
        await audit.append(trx, {
          orgId: ctx.orgId,
          actor: actorOf(ctx.principal),
          action: 'org.ip_allowlist.update',
          target: { type: 'org', id: ctx.orgId },
          outcome: 'success',
          details: { ranges: list.map((e) => e.cidr), forced: input.force === true, callerAllowed },
          meta: ctx.meta,
        })
        return { entries: list, yourAddress: ctx.meta.ip }
      })
    },
  }
}
