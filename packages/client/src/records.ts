/**
 * Customer data records, each sealed with its data subject's key: put (store or replace),
 * get, find (a subject's records), delete, and erase (everything of a subject, certified).
 */
import type { paths } from './api.gen.ts'
import { check, data, type Context } from './context.ts'
import type { PrivacyRequest } from './privacy.ts'

type RecordsPath = paths['/v1/orgs/{orgId}/records']['post']
/** A stored record, opened. */
export type DataRecord = RecordsPath['responses'][201]['content']['application/json']
/** A new record: the host application's subject id, a data class, any JSON payload, tags. */
export type NewRecord = RecordsPath['requestBody']['content']['application/json']
/** A replacement of an existing record's payload (and tags). */
export type RecordUpdate =
  paths['/v1/orgs/{orgId}/records/{recordId}']['put']['requestBody']['content']['application/json'] & {
    id: string
  }

export interface Records {
  /** Stores a new record, or (with `id`) replaces a record's payload and tags. PROCESSING_RESTRICTED while the subject is restricted. */
  put(record: NewRecord | RecordUpdate): Promise<DataRecord>
  /** One record; NOT_FOUND also once its subject was erased. */
  get(id: string): Promise<DataRecord>
  /** A subject's records (of one data class, when given). */
  find(subjectId: string, options?: { dataClass?: string }): Promise<DataRecord[]>
  /** Deletes one record. */
  delete(id: string): Promise<void>
  /**
   * Erases everything Custodian holds of a data subject (P7.1, P7.2): a privacy request of
   * kind `erase`, recorded with how the requester's identity was verified, then completed
   * — records deleted, personal audit fields removed, the subject's key shredded. The
   * answer carries `subjectSalt` (shown once: hand it to the subject with the erasure
   * certificate, which follows; see privacy.certificates).
   */
  erase(
    subjectId: string,
    options: {
      verification: { method: string; note?: string }
      requester?: { name?: string; email?: string; channel?: string }
    },
  ): Promise<PrivacyRequest>
}

export function createRecords(ctx: Context): Records {
  const { api } = ctx
  return {
    async put(record) {
      const orgId = await ctx.orgId()
      if ('id' in record) {
        const { id, ...body } = record
        return data(api.PUT('/v1/orgs/{orgId}/records/{recordId}', { params: { path: { orgId, recordId: id } }, body }))
      }
      return data(api.POST('/v1/orgs/{orgId}/records', { params: { path: { orgId } }, body: record }))
    },

    async get(id) {
      const orgId = await ctx.orgId()
      return data(api.GET('/v1/orgs/{orgId}/records/{recordId}', { params: { path: { orgId, recordId: id } } }))
    },

    async find(subjectId, options = {}) {
      const orgId = await ctx.orgId()
      const answer = await data(
        api.POST('/v1/orgs/{orgId}/records/search', {
          params: { path: { orgId } },
          body: { subjectId, ...(options.dataClass === undefined ? {} : { dataClass: options.dataClass }) },
        }),
      )
      return answer.records
    },

    async delete(id) {
      const orgId = await ctx.orgId()
      await data(api.DELETE('/v1/orgs/{orgId}/records/{recordId}', { params: { path: { orgId, recordId: id } } }))
    },

    async erase(subjectId, options) {
      check(
        typeof (options as Partial<typeof options> | undefined)?.verification?.method === 'string',
        'verification.method: how the requester was verified',
      )
      const orgId = await ctx.orgId()
      const request = await data(
        api.POST('/v1/orgs/{orgId}/privacy-requests', {
          params: { path: { orgId } },
          body: {
            kind: 'erase',
            subjectId,
            verification: options.verification,
            ...(options.requester === undefined ? {} : { requester: options.requester }),
          },
        }),
      )
      return data(
        api.POST('/v1/orgs/{orgId}/privacy-requests/{requestId}/complete', {
          params: { path: { orgId, requestId: request.id } },
          body: {},
        }),
      )
    },
  }
}
