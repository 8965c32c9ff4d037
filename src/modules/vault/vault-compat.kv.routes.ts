import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { AppError } from '../../errors.ts'
import { ctxOf } from '../../http/route-helpers.ts'
import type { KvService } from './vault.kv.ts'
import { envelope, vaultError } from './vault-compat.http.ts'
import { MAX_SECRET_VERSION } from './vault.types.ts'

/** The KV version 2 mount: Vault's default (`secret/`), the only one Custodian serves. */
export const KV_MOUNT = 'secret'

/** A KV path is a secret name: segments of letters, digits, `. _ -` joined by single `/`. */
const KV_PATH = /^[A-Za-z0-9][A-Za-z0-9._-]*(?:\/[A-Za-z0-9._-]+)*$/
const KV_PATH_MAX = 128
/** Vault's limits on custom metadata: keys and values are strings. */
const CUSTOM_METADATA_KEYS = 64
const CUSTOM_METADATA_KEY_BYTES = 128
const CUSTOM_METADATA_VALUE_BYTES = 512
/** The reason a KV read is audited with when the caller sends none (`X-Custodian-Reason`). */
export const KV_READ_REASON = 'Vault API read (KV version 2)'

// Vault ignores fields it does not know.
const Open = { additionalProperties: true } as const
const Wildcard = Type.Object({ '*': Type.String() })
const Versions = Type.Array(Type.Integer({ minimum: 1, maximum: MAX_SECRET_VERSION }), { minItems: 1, maxItems: 100 })
const VersionsBody = Type.Object({ versions: Versions }, Open)
const WriteBody = Type.Object(
  {
    data: Type.Record(Type.String(), Type.Unknown()),
    options: Type.Optional(
      Type.Object({ cas: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_SECRET_VERSION })) }, Open),
    ),
  },
  Open,
)
const MetadataBody = Type.Object(
  {
    max_versions: Type.Optional(Type.Integer({ minimum: 0 })),
    cas_required: Type.Optional(Type.Boolean()),
    delete_version_after: Type.Optional(Type.Union([Type.String({ maxLength: 40 }), Type.Integer()])),
    custom_metadata: Type.Optional(Type.Record(Type.String(), Type.String())),
  },
  Open,
)

/** `path` as a KV secret's name; 400 for anything a secret may not be called. */
function kvPath(raw: string): string {
  // As Vault: no parent references. A proxy or client that normalises `a/../b` would reach another secret.
  if (raw.split('/').some((segment) => segment === '.' || segment === '..'))
    throw new AppError('VALIDATION_FAILED', 'path cannot contain parent references', {
      errors: [{ path: '/params/path', message: 'no `.` or `..` segments' }],
    })
  if (raw.length > KV_PATH_MAX || !KV_PATH.test(raw))
    throw new AppError('VALIDATION_FAILED', 'invalid KV path: segments of letters, digits, . _ - joined by /', {
      errors: [{ path: '/params/path', message: `must be a secret name of at most ${KV_PATH_MAX} characters` }],
    })
  return raw
}

/** A LIST's folder: `""` (the mount's root) or a path with its trailing `/`. */
function listPrefix(raw: string): string {
  const folder = raw.replace(/\/+$/, '')
  return folder === '' ? '' : `${kvPath(folder)}/`
}

/** Vault's `list=true` (Go's strconv.ParseBool spellings); 400 for anything else. */
function listFlag(value: string | undefined): boolean {
  if (value === undefined) return false
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(value)) return true
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(value)) return false
  throw new AppError('VALIDATION_FAILED', 'list must be true or false')
}

function customMetadata(input: Record<string, string> | undefined): Record<string, string> | undefined {
  if (input === undefined) return undefined
  const entries = Object.entries(input)
  const bad =
    entries.length > CUSTOM_METADATA_KEYS
      ? `at most ${CUSTOM_METADATA_KEYS} keys`
      : entries.some(([k]) => k === '' || Buffer.byteLength(k) > CUSTOM_METADATA_KEY_BYTES)
        ? `keys of 1 to ${CUSTOM_METADATA_KEY_BYTES} bytes`
        : entries.some(([, v]) => Buffer.byteLength(v) > CUSTOM_METADATA_VALUE_BYTES)
          ? `values of at most ${CUSTOM_METADATA_VALUE_BYTES} bytes`
          : undefined
  if (bad !== undefined)
    throw new AppError('VALIDATION_FAILED', `custom_metadata: ${bad}`, {
      errors: [{ path: '/body/custom_metadata', message: bad }],
    })
  return input
}

/** The audit reason of a read: `X-Custodian-Reason` when sent (3 to 500 characters), a fixed one otherwise. */
function readReason(request: FastifyRequest): string {
  const value = request.headers['x-custodian-reason']
  if (value === undefined) return KV_READ_REASON
  if (typeof value !== 'string' || value.trim().length < 3 || value.length > 500)
    throw new AppError('VALIDATION_FAILED', 'X-Custodian-Reason: one reason of 3 to 500 characters')
  return value.trim()
}

/**
 * Vault's KV answers: a path or version that is not there is 404 with an empty `errors`; a
 * state that refuses the read or write (paused, exposed, deleted, a CAS mismatch) is 400.
 */
function kvError(request: FastifyRequest, reply: FastifyReply, error: AppError): FastifyReply {
  if (error.code === 'NOT_FOUND' && request.ctx !== null)
    return reply.code(404).type('application/json').send({ errors: [] })
  if (error.status === 409 || error.status === 410) {
    return reply
      .code(400)
      .type('application/json')
      .send({ errors: [error.message] })
  }
  return vaultError(request, reply, error)
}

/**
 * KV version 2 at `secret/` (docs/vault-compat.md), on the KV service (vault.kv.ts): the
 * permissions are the native secrets routes' — a data read is a reveal (`vault:reveal`,
 * step-up as the native reveal), metadata and LIST are `secrets:read`, writes, undelete and
 * metadata changes `secrets:write`, deletes and destroys `secrets:delete`.
 */
export function vaultKvRoutes(deps: { kv: KvService }): FastifyPluginAsyncTypebox {
  const { kv } = deps
  const errorPage = kvError
  return async (app) => {
    const data = `/v1/${KV_MOUNT}/data/*`
    const metadata = `/v1/${KV_MOUNT}/metadata/*`

    app.get(data, {
      // No HEAD twin: a HEAD would run an audited reveal whose value is thrown away.
      exposeHeadRoute: false,
      config: { access: { permission: 'vault:reveal' }, stepUp: true, errorPage },
      schema: {
        params: Wildcard,
        querystring: Type.Object(
          { version: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_SECRET_VERSION })) },
          Open,
        ),
      },
      handler: async (request, reply) => {
        const path = kvPath(request.params['*'])
        const read = await kv.read(ctxOf(request), path, {
          version: request.query.version,
          reason: readReason(request),
        })
        if (read.found) return envelope(request, { data: read.data, metadata: read.metadata })
        if (read.metadata === undefined) return reply.code(404).send({ errors: [] })
        // A deleted or destroyed version: Vault's 404 with its metadata and no data.
        return reply.code(404).send(envelope(request, { data: null, metadata: read.metadata }))
      },
    })

    for (const method of ['POST', 'PUT'] as const) {
      app.route({
        method,
        url: data,
        config: { access: { permission: 'secrets:write' }, errorPage },
        schema: { params: Wildcard, body: WriteBody },
        handler: async (request) => {
          const path = kvPath(request.params['*'])
          const written = await kv.write(ctxOf(request), path, request.body.data, request.body.options?.cas)
          return envelope(request, written)
        },
      })

      const versionsRoute = (
        action: string,
        permission: 'secrets:write' | 'secrets:delete',
        run: (path: string, versions: number[], request: FastifyRequest) => Promise<void>,
      ) =>
        app.route({
          method,
          url: `/v1/${KV_MOUNT}/${action}/*`,
          config: { access: { permission }, errorPage },
          schema: { params: Wildcard, body: VersionsBody },
          handler: async (request, reply) => {
            await run(kvPath(request.params['*']), request.body.versions, request)
            return reply.code(204).send()
          },
        })
      versionsRoute('delete', 'secrets:delete', (path, versions, request) =>
        kv.deleteVersions(ctxOf(request), path, versions),
      )
      versionsRoute('undelete', 'secrets:write', (path, versions, request) =>
        kv.undeleteVersions(ctxOf(request), path, versions),
      )
      versionsRoute('destroy', 'secrets:delete', (path, versions, request) =>
        kv.destroyVersions(ctxOf(request), path, versions),
      )

      app.route({
        method,
        url: metadata,
        config: { access: { permission: 'secrets:write' }, errorPage },
        schema: { params: Wildcard, body: MetadataBody },
        handler: async (request, reply) => {
          const path = kvPath(request.params['*'])
          const body = request.body
          // Custodian keeps every version until it is destroyed, and deletes none on a timer.
          if (body.max_versions !== undefined && body.max_versions !== 0)
            throw new AppError('VALIDATION_FAILED', 'max_versions is not supported: destroy old versions instead')
          if (!['0', '0s', 0, undefined].includes(body.delete_version_after))
            throw new AppError('VALIDATION_FAILED', 'delete_version_after is not supported')
          await kv.updateMetadata(ctxOf(request), path, {
            casRequired: body.cas_required,
            customMetadata: customMetadata(body.custom_metadata),
          })
          return reply.code(204).send()
        },
      })
    }

    app.delete(data, {
      config: { access: { permission: 'secrets:delete' }, errorPage },
      schema: { params: Wildcard },
      handler: async (request, reply) => {
        await kv.deleteVersions(ctxOf(request), kvPath(request.params['*']))
        return reply.code(204).send()
      },
    })

    // LIST arrives as GET with `list=true`: Node.js's HTTP parser refuses the LIST method itself.
    const ListQuery = Type.Object({ list: Type.Optional(Type.String()) }, Open)
    const readMetadata = async (request: FastifyRequest, reply: FastifyReply, path: string, list?: string) => {
      const ctx = ctxOf(request)
      if (listFlag(list)) {
        const keys = await kv.list(ctx, listPrefix(path))
        if (keys.length === 0) return reply.code(404).send({ errors: [] })
        return envelope(request, { keys })
      }
      return envelope(request, await kv.metadata(ctx, kvPath(path)))
    }
    app.get(metadata, {
      config: { access: { permission: 'secrets:read' }, errorPage },
      schema: { params: Wildcard, querystring: ListQuery },
      handler: async (request, reply) => readMetadata(request, reply, request.params['*'], request.query.list),
    })
    // The mount's root without its trailing slash (hvac's `list_secrets('')`): Vault adds the
    // slash to every LIST, so `GET /v1/secret/metadata?list=true` lists the root too.
    app.get(`/v1/${KV_MOUNT}/metadata`, {
      config: { access: { permission: 'secrets:read' }, errorPage },
      schema: { querystring: ListQuery },
      handler: async (request, reply) => readMetadata(request, reply, '', request.query.list),
    })

    app.delete(metadata, {
      config: { access: { permission: 'secrets:delete' }, errorPage },
      schema: { params: Wildcard },
      handler: async (request, reply) => {
        await kv.deleteAll(ctxOf(request), kvPath(request.params['*']))
        return reply.code(204).send()
      },
    })
  }
}
