import type { Kysely } from 'kysely'
import type { DB } from '../../db/schema.ts'
import { withOrg } from '../../db/tenant.ts'
import { AppError } from '../../errors.ts'
import { actorOf, type RequestContext } from '../../http/context.ts'
import type { AuditService } from '../audit/audit.service.ts'

/**
 * The org's security policy: "require 2FA" (P3.2) and the step-up window. In the provider
 * org 2FA is always required — its members are operators — so there it reads as on and
 * cannot be turned off.
 */
export interface SecurityPolicy {
  require2fa: boolean
  stepUpMinutes: number
}

export interface SecurityPolicyService {
  get(ctx: RequestContext): Promise<SecurityPolicy>
  set(ctx: RequestContext, policy: SecurityPolicy): Promise<SecurityPolicy>
}

export function createSecurityPolicyService(deps: { db: Kysely<DB>; audit: Pick<AuditService, 'append'> }): SecurityPolicyService {
  const { db, audit } = deps
  return {
    async get(ctx) {
      const row = await withOrg(db, ctx.orgId, (trx) => trx.selectFrom('org_security_policies').selectAll().executeTakeFirst())
      return { require2fa: (row?.require_2fa ?? false) || ctx.principal.orgKind === 'provider', stepUpMinutes: row?.step_up_minutes ?? 10 }
    },
    async set(ctx, policy) {
      if (ctx.principal.orgKind === 'provider' && !policy.require2fa) {
        throw new AppError('VALIDATION_FAILED', 'operators (the provider org’s members) always need two-factor authentication', {
          errors: [{ path: '/body/require2fa', message: 'must be true in the provider org' }],
        })
      }
      const by = `${ctx.principal.kind}:${ctx.principal.id}`
      return withOrg(db, ctx.orgId, async (trx) => {
        await trx
          .insertInto('org_security_policies')
          .values({ org_id: ctx.orgId, require_2fa: policy.require2fa, step_up_minutes: policy.stepUpMinutes, updated_by: by })
          .onConflict((oc) => oc.column('org_id').doUpdateSet({ require_2fa: policy.require2fa, step_up_minutes: policy.stepUpMinutes, updated_at: new Date(), updated_by: by }))
          .execute()
        await audit.append(trx, { orgId: ctx.orgId, actor: actorOf(ctx.principal), action: 'org.security_policy.update', target: { type: 'org', id: ctx.orgId }, outcome: 'success', details: { ...policy }, meta: ctx.meta })
        return policy
      })
    },
  }
}
