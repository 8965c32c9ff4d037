/**
 * Data-subject requests (P7.1): record, assign, verify the requester, complete (export,
 * rectify, erase, restrict, lift), reject; access exports; signed erasure certificates.
 */
import type { paths } from './api.gen.ts'
import { data, PAGE, type Context } from './context.ts'

type RequestsPath = paths['/v1/orgs/{orgId}/privacy-requests']
export type PrivacyRequest = RequestsPath['post']['responses'][201]['content']['application/json']
export type NewPrivacyRequest = RequestsPath['post']['requestBody']['content']['application/json']
export type PrivacyRequestPage = RequestsPath['get']['responses'][200]['content']['application/json']
type CompleteBody = NonNullable<
  paths['/v1/orgs/{orgId}/privacy-requests/{requestId}/complete']['post']['requestBody']
>['content']['application/json']
type CertificatesPath = paths['/v1/orgs/{orgId}/erasure-certificates']['get']
export type ErasureCertificatePage = CertificatesPath['responses'][200]['content']['application/json']
export type ErasureCertificate =
  paths['/v1/orgs/{orgId}/erasure-certificates/{certificateId}']['get']['responses'][200]['content']['application/json']

/** A page request: `cursor` is the previous page's `nextCursor`. */
export interface PageQuery {
  cursor?: string
  limit?: number
}

export interface Privacy {
  /** Records a request; due 72 hours after receipt unless the org says otherwise. */
  create(request: NewPrivacyRequest): Promise<PrivacyRequest>
  /** Requests, newest first, a page at a time. */
  list(page?: PageQuery): Promise<PrivacyRequestPage>
  /** A request with its history. */
  get(id: string): Promise<PrivacyRequest>
  assign(id: string, userId: string): Promise<PrivacyRequest>
  /** Records how the requester's identity was verified (needed before completing). */
  verify(id: string, verification: { method: string; note?: string }): Promise<PrivacyRequest>
  /** Does what the request asks; rectify takes `corrections`. VERIFICATION_REQUIRED until verified. */
  complete(id: string, body?: CompleteBody): Promise<PrivacyRequest>
  reject(id: string, reason: string): Promise<PrivacyRequest>
  /** An access request's export (until it expires: EXPORT_EXPIRED after); every download is audited. */
  download(exportId: string): Promise<Record<string, unknown>>
  certificates: {
    list(page?: PageQuery): Promise<ErasureCertificatePage>
    get(id: string): Promise<ErasureCertificate>
  }
}

export function createPrivacy(ctx: Context): Privacy {
  const { api } = ctx
  const query = (page: PageQuery) => ({
    limit: page.limit ?? PAGE,
    ...(page.cursor === undefined ? {} : { cursor: page.cursor }),
  })
  const requestPath = async (requestId: string) => ({ orgId: await ctx.orgId(), requestId })

  return {
    async create(request) {
      const orgId = await ctx.orgId()
      return data(api.POST('/v1/orgs/{orgId}/privacy-requests', { params: { path: { orgId } }, body: request }))
    },
    async list(page = {}) {
      const orgId = await ctx.orgId()
      return data(api.GET('/v1/orgs/{orgId}/privacy-requests', { params: { path: { orgId }, query: query(page) } }))
    },
    async get(id) {
      return data(api.GET('/v1/orgs/{orgId}/privacy-requests/{requestId}', { params: { path: await requestPath(id) } }))
    },
    async assign(id, userId) {
      return data(
        api.POST('/v1/orgs/{orgId}/privacy-requests/{requestId}/assign', {
          params: { path: await requestPath(id) },
          body: { userId },
        }),
      )
    },
    async verify(id, verification) {
      return data(
        api.POST('/v1/orgs/{orgId}/privacy-requests/{requestId}/verify', {
          params: { path: await requestPath(id) },
          body: verification,
        }),
      )
    },
    async complete(id, body = {}) {
      return data(
        api.POST('/v1/orgs/{orgId}/privacy-requests/{requestId}/complete', {
          params: { path: await requestPath(id) },
          body,
        }),
      )
    },
    async reject(id, reason) {
      return data(
        api.POST('/v1/orgs/{orgId}/privacy-requests/{requestId}/reject', {
          params: { path: await requestPath(id) },
          body: { reason },
        }),
      )
    },
    async download(exportId) {
      const orgId = await ctx.orgId()
      return data(api.GET('/v1/orgs/{orgId}/privacy-exports/{exportId}', { params: { path: { orgId, exportId } } }))
    },
    certificates: {
      async list(page = {}) {
        const orgId = await ctx.orgId()
        return data(
          api.GET('/v1/orgs/{orgId}/erasure-certificates', { params: { path: { orgId }, query: query(page) } }),
        )
      },
      async get(id) {
        const orgId = await ctx.orgId()
        return data(
          api.GET('/v1/orgs/{orgId}/erasure-certificates/{certificateId}', {
            params: { path: { orgId, certificateId: id } },
          }),
        )
      },
    },
  }
}
