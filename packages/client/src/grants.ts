/**
 * Diagnostic access grants (P2.8): an org's side (list, approve, deny, revoke, its policy)
 * and an operator's (request access to an org, list one's own, withdraw).
 */
import type { paths } from './api.gen.ts'
import { data, PAGE, type Context } from './context.ts'
import type { PageQuery } from './privacy.ts'

type GrantsPath = paths['/v1/orgs/{orgId}/grants']['get']
export type GrantPage = GrantsPath['responses'][200]['content']['application/json']
export type Grant = GrantPage['grants'][number]
export type GrantRequest = paths['/v1/operator/grants']['post']['requestBody']['content']['application/json']
type PolicyPath = paths['/v1/orgs/{orgId}/grant-policy']
export type GrantPolicy = PolicyPath['get']['responses'][200]['content']['application/json']
export type GrantPolicyUpdate = PolicyPath['put']['requestBody']['content']['application/json']

export interface Grants {
  /** Access asked of the client's org: pending, current and past, newest first. */
  list(page?: PageQuery): Promise<GrantPage>
  get(id: string): Promise<Grant>
  /** Approves a request (not one's own); with two approvers required it opens at the second. */
  approve(id: string, options?: { note?: string }): Promise<Grant>
  deny(id: string, options?: { note?: string }): Promise<Grant>
  /** Ends an active grant now: its very next use is refused. */
  revoke(id: string, options?: { note?: string }): Promise<Grant>
  policy(): Promise<GrantPolicy>
  setPolicy(policy: GrantPolicyUpdate): Promise<GrantPolicy>
  /** Operators: ask an org for time-boxed access; its admins are notified. */
  request(request: GrantRequest): Promise<Grant>
  /** Operators: one's own requests and grants, in every org, newest first. */
  mine(page?: PageQuery): Promise<GrantPage>
  /** Operators: one of one's own requests or grants, by id (NOT_FOUND for anyone else's). */
  mineById(id: string): Promise<Grant>
  /** Operators: withdraw a request, or give up a grant before it expires. */
  withdraw(id: string): Promise<Grant>
}

export function createGrants(ctx: Context): Grants {
  const { api } = ctx
  const query = (page: PageQuery) => ({
    limit: page.limit ?? PAGE,
    ...(page.cursor === undefined ? {} : { cursor: page.cursor }),
  })
  const grantPath = async (grantId: string) => ({ orgId: await ctx.orgId(), grantId })

  return {
    async list(page = {}) {
      const orgId = await ctx.orgId()
      return data(api.GET('/v1/orgs/{orgId}/grants', { params: { path: { orgId }, query: query(page) } }))
    },
    async get(id) {
      return data(api.GET('/v1/orgs/{orgId}/grants/{grantId}', { params: { path: await grantPath(id) } }))
    },
    async approve(id, options = {}) {
      return data(
        api.POST('/v1/orgs/{orgId}/grants/{grantId}/approve', { params: { path: await grantPath(id) }, body: options }),
      )
    },
    async deny(id, options = {}) {
      return data(
        api.POST('/v1/orgs/{orgId}/grants/{grantId}/deny', { params: { path: await grantPath(id) }, body: options }),
      )
    },
    async revoke(id, options = {}) {
      return data(
        api.POST('/v1/orgs/{orgId}/grants/{grantId}/revoke', { params: { path: await grantPath(id) }, body: options }),
      )
    },
    async policy() {
      const orgId = await ctx.orgId()
      return data(api.GET('/v1/orgs/{orgId}/grant-policy', { params: { path: { orgId } } }))
    },
    async setPolicy(policy) {
      const orgId = await ctx.orgId()
      return data(api.PUT('/v1/orgs/{orgId}/grant-policy', { params: { path: { orgId } }, body: policy }))
    },
    async request(request) {
      return data(api.POST('/v1/operator/grants', { body: request }))
    },
    async mine(page = {}) {
      return data(api.GET('/v1/operator/grants', { params: { query: query(page) } }))
    },
    async mineById(id) {
      return data(api.GET('/v1/operator/grants/{grantId}', { params: { path: { grantId: id } } }))
    },
    async withdraw(id) {
      return data(api.POST('/v1/operator/grants/{grantId}/withdraw', { params: { path: { grantId: id } } }))
    },
  }
}
