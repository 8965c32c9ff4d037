/**
 * Service accounts (the org's non-human principals, such as the host application): list
 * them, and change one's role — its tokens carry the new role's permissions on their next use.
 */
import type { paths } from './api.gen.ts'
import { data, PAGE, type Context } from './context.ts'
import type { PageQuery } from './privacy.ts'

type AccountsPath = paths['/v1/orgs/{orgId}/service-accounts']['get']
export type ServiceAccountPage = AccountsPath['responses'][200]['content']['application/json']
export type ServiceAccount = ServiceAccountPage['serviceAccounts'][number]

export interface ServiceAccounts {
  /** The org's service accounts, oldest first, a page at a time. */
  list(page?: PageQuery): Promise<ServiceAccountPage>
  /**
   * Gives a service account another role (`service_accounts:manage`); never beyond the
   * caller's own permissions (`EXCEEDS_OWN_PERMISSIONS`).
   */
  changeRole(id: string, role: string): Promise<ServiceAccount>
}

export function createServiceAccounts(ctx: Context): ServiceAccounts {
  const { api } = ctx
  return {
    async list(page = {}) {
      const orgId = await ctx.orgId()
      return data(
        api.GET('/v1/orgs/{orgId}/service-accounts', {
          params: {
            path: { orgId },
            query: { limit: page.limit ?? PAGE, ...(page.cursor === undefined ? {} : { cursor: page.cursor }) },
          },
        }),
      )
    },
    async changeRole(id, role) {
      const orgId = await ctx.orgId()
      return data(
        api.PATCH('/v1/orgs/{orgId}/service-accounts/{serviceAccountId}', {
          params: { path: { orgId, serviceAccountId: id } },
          body: { role },
        }),
      )
    },
  }
}
