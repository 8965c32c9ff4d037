import { randomUUID } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Clock } from '../../clock.ts'
import { DecryptionError } from '../../crypto/aead.ts'
import { SealedError } from '../../crypto/providers/provider.ts'
import { ShredRingError } from '../../crypto/shred-ring.ts'
import type { DB } from '../../db/schema.ts'
import { withOrg, type Trx } from '../../db/tenant.ts'
import { AppError } from '../../errors.ts'
import { actorOf, type RequestContext } from '../../context.ts'
import type { AuditService } from '../audit/audit.service.ts'
import * as store from './privacy.store.ts'
import type { Subjects } from './subjects.ts'

/**
 * Customer data records (P7.1, P7.3, P1.3): the host application keeps personal data here
 * instead of in its own tables. Each record is sealed with its subject's key — subject id
 * and payload together, bound to org, record and purpose — so erasing a subject is
 * shredding one key. Reading, changing or adding records of a subject whose processing is
 * restricted is refused.
 * Changes are audited; the subject id appears in the log only as a sealed personal field.
 */
export interface RecordView {
  id: string
  subjectId: string
  dataClass: string
  tags: string[]
  payload: unknown
  createdAt: string
  updatedAt: string
}

export interface RecordsService {
  put(
    ctx: RequestContext,
    input: { subjectId: string; dataClass: string; payload: unknown; tags?: string[] | undefined },
  ): Promise<RecordView>
  get(ctx: RequestContext, id: string): Promise<RecordView>
  search(ctx: RequestContext, input: { subjectId: string; dataClass?: string | undefined }): Promise<RecordView[]>
  update(ctx: RequestContext, id: string, input: { payload: unknown; tags?: string[] | undefined }): Promise<RecordView>
  remove(ctx: RequestContext, id: string): Promise<void>
  /** Every record of a subject, opened, restriction or not (subject access requests). */
  allOf(trx: Trx, orgId: string, subjectId: string): Promise<RecordView[]>
  /** Rectification inside a privacy request's transaction; false if no such record of that subject. */
  rectifyIn(trx: Trx, ctx: RequestContext, subjectId: string, recordId: string, payload: unknown): Promise<boolean>
}

const PURPOSE = 'data-record'

interface Sealed {
  subject: string
  payload: unknown
}

export function createRecordsService(deps: {
  db: Kysely<DB>
  subjects: Subjects
  audit: Pick<AuditService, 'append'>
  clock: Clock
  maxPayloadBytes: number
}): RecordsService {
  const { db, subjects, audit, clock } = deps

  function checkPayload(payload: unknown): void {
    const bytes = Buffer.byteLength(JSON.stringify(payload), 'utf8')
    if (bytes > deps.maxPayloadBytes) {
      throw new AppError(
        'VALIDATION_FAILED',
        `the payload is ${bytes} bytes; at most ${deps.maxPayloadBytes} are allowed`,
        { errors: [{ path: '/body/payload', message: `at most ${deps.maxPayloadBytes} bytes` }] },
      )
    }
  }

  async function record(
    trx: Trx,
    ctx: RequestContext,
    action: string,
    recordId: string,
    subjectId: string,
    details: Record<string, unknown>,
  ): Promise<void> {
    await audit.append(trx, {
      orgId: ctx.orgId,
      actor: actorOf(ctx.principal),
      action,
      target: { type: 'record', id: recordId },
      outcome: 'success',
      details,
      personal: await subjects.personal(trx, ctx.orgId, subjectId, { subject: subjectId }),
      meta: ctx.meta,
    })
  }

  function view(row: store.RecordRow, opened: Sealed): RecordView {
    return {
      id: row.id,
      subjectId: opened.subject,
      dataClass: row.data_class,
      tags: row.tags,
      payload: opened.payload,
      createdAt: row.created_at.toISOString(),
      updatedAt: row.updated_at.toISOString(),
    }
  }

  /** A record and its opened content; NOT_FOUND also once its subject was erased. */
  async function openById(trx: Trx, orgId: string, id: string, forUpdate = false) {
    const row = await store.findRecord(trx, id, forUpdate)
    const key = row === undefined ? undefined : await subjects.keyByRef(trx, orgId, Buffer.from(row.subject_ref))
    if (row === undefined || key === undefined) throw new AppError('NOT_FOUND', 'no such record')
    return { row, key, opened: subjects.open<Sealed>(key, orgId, PURPOSE, row.id, row.ciphertext) }
  }

  const restricted = () =>
    new AppError(
      'PROCESSING_RESTRICTED',
      'processing of this data subject’s records is restricted by a privacy request; they cannot be read, changed or added to until it is lifted',
    )

  const guarded = async <T>(run: () => Promise<T>): Promise<T> => {
    try {
      return await run()
    } catch (error) {
      throw translate(error)
    }
  }

  return {
    async put(ctx, input) {
      checkPayload(input.payload)
      return guarded(() =>
        withOrg(db, ctx.orgId, async (trx) => {
          const key = (await subjects.key(trx, ctx.orgId, input.subjectId, { create: true })) as NonNullable<
            Awaited<ReturnType<Subjects['key']>>
          >
          // Restriction stops processing, collecting new data included (GDPR art. 18; P7.1).
          if (key.restricted) throw restricted()
          const id = randomUUID()
          const now = clock()
          const sealed: Sealed = { subject: input.subjectId, payload: input.payload }
          const row = await store.insertRecord(trx, {
            id,
            org_id: ctx.orgId,
            subject_ref: key.ref,
            data_class: input.dataClass,
            tags: [...new Set(input.tags ?? [])],
            ciphertext: subjects.seal(key, ctx.orgId, PURPOSE, id, sealed),
            created_at: now,
            updated_at: now,
          })
          await record(trx, ctx, 'record.create', id, input.subjectId, { dataClass: input.dataClass })
          return view(row, sealed)
        }),
      )
    },

    async get(ctx, id) {
      return guarded(() =>
        withOrg(db, ctx.orgId, async (trx) => {
          const { row, key, opened } = await openById(trx, ctx.orgId, id)
          if (key.restricted) throw restricted()
          return view(row, opened)
        }),
      )
    },

    async search(ctx, input) {
      return guarded(() =>
        withOrg(db, ctx.orgId, async (trx) => {
          const key = await subjects.key(trx, ctx.orgId, input.subjectId, { create: false })
          if (key === undefined) return []
          if (key.restricted) throw restricted()
          const rows = await store.recordsOf(trx, key.ref, input.dataClass)
          return rows.map((row) => view(row, subjects.open<Sealed>(key, ctx.orgId, PURPOSE, row.id, row.ciphertext)))
        }),
      )
    },

    async update(ctx, id, input) {
      checkPayload(input.payload)
      return guarded(() =>
        withOrg(db, ctx.orgId, async (trx) => {
          const { row, key, opened } = await openById(trx, ctx.orgId, id, true)
          if (key.restricted) throw restricted()
          const sealed: Sealed = { subject: opened.subject, payload: input.payload }
          const updated = await store.updateRecord(trx, id, {
            ciphertext: subjects.seal(key, ctx.orgId, PURPOSE, id, sealed),
            updated_at: clock(),
            ...(input.tags === undefined ? {} : { tags: [...new Set(input.tags)] }),
          })
          await record(trx, ctx, 'record.update', id, opened.subject, { dataClass: row.data_class })
          return view(updated, sealed)
        }),
      )
    },

    async remove(ctx, id) {
      await guarded(() =>
        withOrg(db, ctx.orgId, async (trx) => {
          const { row, opened } = await openById(trx, ctx.orgId, id, true)
          await store.deleteRecord(trx, id)
          await record(trx, ctx, 'record.delete', id, opened.subject, { dataClass: row.data_class })
        }),
      )
    },

    async allOf(trx, orgId, subjectId) {
      const key = await subjects.key(trx, orgId, subjectId, { create: false })
      if (key === undefined) return []
      return (await store.recordsOf(trx, key.ref)).map((row) =>
        view(row, subjects.open<Sealed>(key, orgId, PURPOSE, row.id, row.ciphertext)),
      )
    },

    async rectifyIn(trx, ctx, subjectId, recordId, payload) {
      checkPayload(payload)
      const key = await subjects.key(trx, ctx.orgId, subjectId, { create: false })
      const row = await store.findRecord(trx, recordId, true)
      if (key === undefined || row === undefined || !key.ref.equals(Buffer.from(row.subject_ref))) return false
      await store.updateRecord(trx, recordId, {
        ciphertext: subjects.seal(key, ctx.orgId, PURPOSE, recordId, { subject: subjectId, payload }),
        updated_at: clock(),
      })
      await record(trx, ctx, 'record.rectify', recordId, subjectId, { dataClass: row.data_class })
      return true
    },
  }
}

export function translate(error: unknown): unknown {
  if (error instanceof SealedError) return new AppError('VAULT_SEALED', error.message)
  if (error instanceof ShredRingError)
    return new AppError('SUBJECT_DATA_UNAVAILABLE', error.message, {}, { cause: error })
  if (error instanceof DecryptionError)
    return new AppError(
      'VAULT_INTEGRITY_FAILED',
      'a stored record or its key failed its integrity check; nothing was returned',
      {},
      { cause: error },
    )
  return error
}
