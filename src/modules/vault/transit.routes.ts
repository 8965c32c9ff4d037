import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ctxOf } from '../../http/route-helpers.ts'
import { errorResponses, NextCursor, OrgParams, PageQuery, Strict, Uuid } from '../../http/schemas.ts'
import type { TransitService } from './vault.transit.ts'

const tags = ['encryption as a service']
const KeyName = Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' })
const KeyParams = Type.Object({ orgId: Uuid, name: KeyName }, Strict)
const Context = Type.Optional(
  Type.String({ maxLength: 256, description: 'bound into the ciphertext: decrypt needs the same value' }),
)
const Ciphertext = Type.String({ maxLength: 65_536, description: 'cst:v<version>:<base64url>' })
const KeyView = Type.Object({
  name: Type.String(),
  currentVersion: Type.Integer(),
  createdAt: Type.String({ format: 'date-time' }),
  rotatedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
})
const Sealed = Type.Object({ ciphertext: Type.String(), version: Type.Integer() })

export function transitRoutes(deps: { transit: TransitService }): FastifyPluginAsyncTypebox {
  const { transit } = deps
  return async (app) => {
    app.get('/v1/orgs/:orgId/transit/keys', {
      config: { access: { permission: 'keys:read' } },
      schema: {
        tags,
        summary: 'Named encryption keys of the org, by name, a page at a time',
        params: OrgParams,
        querystring: PageQuery,
        response: { 200: Type.Object({ keys: Type.Array(KeyView), nextCursor: NextCursor }), ...errorResponses('org') },
      },
      handler: async (request) => {
        const { items, nextCursor } = await transit.list(ctxOf(request), request.query)
        return { keys: items, nextCursor }
      },
    })

    app.post('/v1/orgs/:orgId/transit/keys', {
      config: { access: { permission: 'transit:manage' } },
      schema: {
        tags,
        summary: 'Create a named encryption key',
        params: OrgParams,
        body: Type.Object({ name: KeyName }, Strict),
        response: { 201: KeyView, ...errorResponses('org') },
      },
      handler: async (request, reply) => reply.code(201).send(await transit.create(ctxOf(request), request.body.name)),
    })

    app.post('/v1/orgs/:orgId/transit/keys/:name/rotate', {
      config: { access: { permission: 'transit:manage' } },
      schema: {
        tags,
        summary:
          'Rotate a named key: new encryptions use the new version; old ciphertexts still decrypt and can be rewrapped',
        params: KeyParams,
        response: { 200: KeyView, ...errorResponses('org') },
      },
      handler: async (request) => transit.rotate(ctxOf(request), request.params.name),
    })

    app.post('/v1/orgs/:orgId/transit/keys/:name/encrypt', {
      config: { access: { permission: 'transit:encrypt' } },
      schema: {
        tags,
        summary: 'Encrypt data (base64) with the key’s newest version',
        params: KeyParams,
        body: Type.Object(
          {
            plaintext: Type.String({ format: 'byte', maxLength: 44_000, description: 'base64, up to 32 KiB decoded' }),
            context: Context,
          },
          Strict,
        ),
        response: { 200: Sealed, ...errorResponses('org') },
      },
      handler: async (request) =>
        transit.encrypt(
          ctxOf(request),
          request.params.name,
          Buffer.from(request.body.plaintext, 'base64'),
          request.body.context,
        ),
    })

    app.post('/v1/orgs/:orgId/transit/keys/:name/decrypt', {
      config: { access: { permission: 'transit:decrypt' }, stepUp: true },
      schema: {
        tags,
        summary: 'Decrypt a ciphertext made with this key (audited)',
        params: KeyParams,
        body: Type.Object({ ciphertext: Ciphertext, context: Context }, Strict),
        response: {
          200: Type.Object({ plaintext: Type.String({ description: 'base64' }), version: Type.Integer() }),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => {
        const opened = await transit.decrypt(
          ctxOf(request),
          request.params.name,
          request.body.ciphertext,
          request.body.context,
        )
        return { plaintext: opened.plaintext.toString('base64'), version: opened.version }
      },
    })

    app.post('/v1/orgs/:orgId/transit/keys/:name/rewrap', {
      config: { access: { permission: 'transit:encrypt' } },
      schema: {
        tags,
        summary: 'Re-encrypt a ciphertext under the key’s newest version, without returning the data',
        params: KeyParams,
        body: Type.Object({ ciphertext: Ciphertext, context: Context }, Strict),
        response: { 200: Sealed, ...errorResponses('org') },
      },
      handler: async (request) =>
        transit.rewrap(ctxOf(request), request.params.name, request.body.ciphertext, request.body.context),
    })
  }
}
