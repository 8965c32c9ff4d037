import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ctxOf } from '../../http/route-helpers.ts'
import { errorResponses, NextCursor, OrgParams, PageQuery, Strict, Uuid } from '../../http/schemas.ts'
import { AppError } from '../../errors.ts'
import type { TransitService } from './vault.transit.ts'
import { HASH_ALGORITHMS, type HashAlgorithm } from './vault.transit.keys.ts'

const tags = ['encryption as a service']
const KeyName = Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' })
const KeyParams = Type.Object({ orgId: Uuid, name: KeyName }, Strict)
const Context = Type.Optional(
  Type.String({ maxLength: 256, description: 'bound into the ciphertext: decrypt needs the same value' }),
)
const Ciphertext = Type.String({ maxLength: 65_536, description: 'cst:v<version>:<base64url>' })
const KeyType = Type.Union([Type.Literal('aes256-gcm96'), Type.Literal('ed25519'), Type.Literal('ecdsa-p256')], {
  description: 'aes256-gcm96 encrypts; ed25519 and ecdsa-p256 sign; every type HMACs',
})
const KeyView = Type.Object({
  name: Type.String(),
  type: KeyType,
  currentVersion: Type.Integer(),
  minDecryptionVersion: Type.Integer(),
  minEncryptionVersion: Type.Integer({ description: '0: any version at or above minDecryptionVersion' }),
  exportable: Type.Literal(false),
  createdAt: Type.String({ format: 'date-time' }),
  rotatedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
})
const Sealed = Type.Object({ ciphertext: Type.String(), version: Type.Integer() })
const KeyVersion = Type.Optional(
  Type.Integer({ minimum: 1, maximum: 999_999_999, description: 'a version other than the newest' }),
)
const Hash = Type.Optional(
  Type.Union(
    Object.keys(HASH_ALGORITHMS).map((name) => Type.Literal(name)),
    { description: 'sha2-256 unless given' },
  ),
)
const Inputs = Type.Array(Type.String({ format: 'byte', maxLength: 44_000, description: 'base64' }), {
  minItems: 1,
  maxItems: 100,
})
/** A signature or HMAC: `cst:v<version>:<base64url>`. */
const Marked = Type.String({ maxLength: 1024, pattern: '^cst:v[1-9][0-9]{0,8}:[A-Za-z0-9_-]+$' })
const MARKED = /^cst:v(\d+):(.+)$/
const mark = (version: number, value: Buffer) => `cst:v${version}:${value.toString('base64url')}`
const hashOf = (name: string | undefined) => (name ?? 'sha2-256') as HashAlgorithm

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
        body: Type.Object({ name: KeyName, type: Type.Optional(KeyType) }, Strict),
        response: { 201: KeyView, ...errorResponses('org') },
      },
      handler: async (request, reply) =>
        reply.code(201).send(await transit.create(ctxOf(request), request.body.name, request.body.type)),
    })

    app.get('/v1/orgs/:orgId/transit/keys/:name', {
      config: { access: { permission: 'keys:read' } },
      schema: {
        tags,
        summary: 'A named key, its versions and, for a signing key, each version’s public key (never private material)',
        params: KeyParams,
        response: {
          200: Type.Object({
            ...KeyView.properties,
            versions: Type.Array(
              Type.Object({
                version: Type.Integer(),
                createdAt: Type.String({ format: 'date-time' }),
                publicKey: Type.Union([Type.String({ description: 'SubjectPublicKeyInfo, PEM' }), Type.Null()]),
              }),
            ),
          }),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => transit.read(ctxOf(request), request.params.name),
    })

    app.post('/v1/orgs/:orgId/transit/keys/:name/config', {
      config: { access: { permission: 'transit:manage' } },
      schema: {
        tags,
        summary:
          'Set a key’s minimum decryption and encryption versions; exportable: true is refused (key material never leaves)',
        params: KeyParams,
        body: Type.Object(
          {
            minDecryptionVersion: Type.Optional(Type.Integer({ minimum: 1, maximum: 999_999_999 })),
            minEncryptionVersion: Type.Optional(Type.Integer({ minimum: 0, maximum: 999_999_999 })),
            exportable: Type.Optional(Type.Boolean()),
          },
          Strict,
        ),
        response: { 200: KeyView, ...errorResponses('org') },
      },
      handler: async (request) => transit.configure(ctxOf(request), request.params.name, request.body),
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
        summary: 'Encrypt data (base64) with the key’s newest version, or keyVersion',
        params: KeyParams,
        body: Type.Object(
          {
            plaintext: Type.String({ format: 'byte', maxLength: 44_000, description: 'base64, up to 32 KiB decoded' }),
            context: Context,
            keyVersion: KeyVersion,
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
          request.body.keyVersion,
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

    app.post('/v1/orgs/:orgId/transit/keys/:name/datakey/:kind', {
      config: { access: { permission: 'transit:encrypt' } },
      schema: {
        tags,
        summary:
          'A new random data key encrypted with this key; its plaintext too (base64) for kind plaintext, only the ciphertext for wrapped',
        params: Type.Object(
          { ...KeyParams.properties, kind: Type.Union([Type.Literal('plaintext'), Type.Literal('wrapped')]) },
          Strict,
        ),
        body: Type.Object(
          {
            bits: Type.Optional(Type.Union([Type.Literal(128), Type.Literal(256), Type.Literal(512)])),
            context: Context,
          },
          Strict,
        ),
        response: {
          200: Type.Object({
            ciphertext: Type.String(),
            version: Type.Integer(),
            plaintext: Type.Optional(Type.String({ description: 'base64; kind plaintext only' })),
          }),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => {
        const made = await transit.dataKey(ctxOf(request), request.params.name, {
          bits: request.body.bits ?? 256,
          includePlaintext: request.params.kind === 'plaintext',
          ...(request.body.context === undefined ? {} : { context: request.body.context }),
        })
        if (made.plaintext === undefined) return { ciphertext: made.ciphertext, version: made.version }
        const plaintext = made.plaintext.toString('base64')
        made.plaintext.fill(0)
        return { ciphertext: made.ciphertext, version: made.version, plaintext }
      },
    })

    app.post('/v1/orgs/:orgId/transit/keys/:name/hmac', {
      config: { access: { permission: 'transit:sign' } },
      schema: {
        tags,
        summary: 'HMAC each input (base64) with the key’s HMAC key (every key type has one); cst:v<version>:… out',
        params: KeyParams,
        body: Type.Object({ inputs: Inputs, algorithm: Hash, keyVersion: KeyVersion }, Strict),
        response: {
          200: Type.Object({ hmacs: Type.Array(Type.String()), version: Type.Integer() }),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => {
        const { version, hmacs } = await transit.hmac(ctxOf(request), request.params.name, {
          algorithm: hashOf(request.body.algorithm),
          ...(request.body.keyVersion === undefined ? {} : { keyVersion: request.body.keyVersion }),
          inputs: request.body.inputs.map((input) => Buffer.from(input, 'base64')),
        })
        return { hmacs: hmacs.map((hmac) => mark(version, hmac)), version }
      },
    })

    app.post('/v1/orgs/:orgId/transit/keys/:name/sign', {
      config: { access: { permission: 'transit:sign' } },
      schema: {
        tags,
        summary:
          'Sign each input (base64): Ed25519 (the message itself) or ECDSA P-256 (hashAlgorithm, DER or JWS r‖s); cst:v<version>:… out',
        params: KeyParams,
        body: Type.Object(
          {
            inputs: Inputs,
            hashAlgorithm: Hash,
            marshalingAlgorithm: Type.Optional(Type.Union([Type.Literal('asn1'), Type.Literal('jws')])),
            keyVersion: KeyVersion,
          },
          Strict,
        ),
        response: {
          200: Type.Object({ signatures: Type.Array(Type.String()), version: Type.Integer() }),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => {
        const { version, signatures } = await transit.sign(ctxOf(request), request.params.name, {
          hash: hashOf(request.body.hashAlgorithm),
          marshaling: request.body.marshalingAlgorithm ?? 'asn1',
          ...(request.body.keyVersion === undefined ? {} : { keyVersion: request.body.keyVersion }),
          inputs: request.body.inputs.map((input) => Buffer.from(input, 'base64')),
        })
        return { signatures: signatures.map((signature) => mark(version, signature)), version }
      },
    })

    app.post('/v1/orgs/:orgId/transit/keys/:name/verify', {
      config: { access: { permission: 'transit:verify' } },
      schema: {
        tags,
        summary:
          'Check HMACs or signatures made with this key: valid true or false per item, or the item’s refusal code (a version below the minimum decryption version)',
        params: KeyParams,
        body: Type.Object(
          {
            kind: Type.Union([Type.Literal('hmac'), Type.Literal('signature')]),
            items: Type.Array(
              Type.Object({ input: Type.String({ format: 'byte', maxLength: 44_000 }), value: Marked }, Strict),
              { minItems: 1, maxItems: 100 },
            ),
            hashAlgorithm: Hash,
            marshalingAlgorithm: Type.Optional(Type.Union([Type.Literal('asn1'), Type.Literal('jws')])),
          },
          Strict,
        ),
        response: {
          200: Type.Object({
            results: Type.Array(Type.Object({ valid: Type.Boolean(), code: Type.Optional(Type.String()) })),
          }),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => {
        const results = await transit.verify(ctxOf(request), request.params.name, {
          kind: request.body.kind,
          hash: hashOf(request.body.hashAlgorithm),
          marshaling: request.body.marshalingAlgorithm ?? 'asn1',
          items: request.body.items.map((item) => {
            const [, version, value] = MARKED.exec(item.value) as RegExpExecArray
            return {
              version: Number(version),
              input: Buffer.from(item.input, 'base64'),
              value: Buffer.from(value as string, 'base64url'),
            }
          }),
        })
        return {
          results: results.map((result) =>
            result instanceof AppError ? { valid: false, code: result.code } : { valid: result },
          ),
        }
      },
    })
  }
}
