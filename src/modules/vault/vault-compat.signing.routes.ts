import { Type, type Static } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { AppError } from '../../errors.ts'
import { ctxOf } from '../../http/route-helpers.ts'
import type { TransitService } from './vault.transit.ts'
import { isHashAlgorithm, type HashAlgorithm, type Marshaling } from './vault.transit.keys.ts'
import { decodeVaultBase64, fromVaultMarked, toVaultMarked } from './vault-compat.ts'
import {
  batchTogether,
  envelope,
  onKey,
  Open,
  refuseUnsupported,
  respondBatch,
  vaultError,
} from './vault-compat.http.ts'

const KeyName = Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' })
const Base64 = Type.String({ maxLength: 44_000 })
const Marked = Type.String({ maxLength: 2048 })
const Algorithm = Type.Optional(Type.String({ maxLength: 32 }))
const KeyVersion = Type.Optional(Type.Integer({ minimum: 0, maximum: 999_999_999 }))
const Reference = Type.Optional(Type.String({ maxLength: 256 }))
const Params = Type.Object({ name: KeyName, algorithm: Type.Optional(Type.String({ maxLength: 32 })) })
const paths = (base: string) => [`/v1/transit/${base}/:name`, `/v1/transit/${base}/:name/:algorithm`]

const HmacItem = Type.Object({ input: Type.Optional(Base64), reference: Reference }, Open)
const HmacBody = Type.Object(
  {
    ...HmacItem.properties,
    algorithm: Algorithm,
    key_version: KeyVersion,
    batch_input: Type.Optional(Type.Array(HmacItem, { maxItems: 1000 })),
  },
  Open,
)
const SignItem = Type.Object(
  { input: Type.Optional(Base64), context: Type.Optional(Type.String()), reference: Reference },
  Open,
)
const SigningOptions = {
  hash_algorithm: Algorithm,
  algorithm: Algorithm,
  prehashed: Type.Optional(Type.Boolean()),
  marshaling_algorithm: Type.Optional(Type.String({ maxLength: 16 })),
  signature_algorithm: Type.Optional(Type.String({ maxLength: 16 })),
}
const SignBody = Type.Object(
  {
    ...SignItem.properties,
    ...SigningOptions,
    key_version: KeyVersion,
    batch_input: Type.Optional(Type.Array(SignItem, { maxItems: 1000 })),
  },
  Open,
)
const VerifyItem = Type.Object(
  {
    input: Type.Optional(Base64),
    signature: Type.Optional(Marked),
    hmac: Type.Optional(Marked),
    context: Type.Optional(Type.String()),
    reference: Reference,
  },
  Open,
)
const VerifyBody = Type.Object(
  {
    ...VerifyItem.properties,
    ...SigningOptions,
    batch_input: Type.Optional(Type.Array(VerifyItem, { maxItems: 1000 })),
  },
  Open,
)

/** The hash: the URL's, else the body's `hash_algorithm`, else Vault's deprecated `algorithm`; sha2-256 by default. */
function hashOf(...names: (string | undefined)[]): HashAlgorithm {
  const name = names.find((n) => n !== undefined && n !== '') ?? 'sha2-256'
  if (!isHashAlgorithm(name)) throw new AppError('VALIDATION_FAILED', `unsupported hash algorithm ${name}`)
  return name
}

function signingOptions(
  body: Static<typeof SignBody> | Static<typeof VerifyBody>,
  urlAlgorithm?: string,
): { hash: HashAlgorithm; marshaling: Marshaling } {
  if (body.prehashed === true)
    throw new AppError('VALIDATION_FAILED', 'prehashed input is not supported: send the message itself')
  const marshaling = body.marshaling_algorithm ?? 'asn1'
  if (marshaling !== 'asn1' && marshaling !== 'jws')
    throw new AppError('VALIDATION_FAILED', `unsupported marshaling algorithm ${marshaling}`)
  return { hash: hashOf(urlAlgorithm, body.hash_algorithm, body.algorithm), marshaling: marshaling }
}

const inputOf = (item: { input?: string | undefined }) => {
  if (item.input === undefined) throw new AppError('VALIDATION_FAILED', 'missing input')
  return decodeVaultBase64(item.input, 'input')
}

/**
 * Vault's HMAC, sign and verify on Custodian's transit service (docs/vault-compat.md): a
 * batch is one service call (one transaction, one audit event with the count); verify
 * answers `valid: false` with 200 for a signature or HMAC that does not match, as Vault does.
 */
export function vaultSigningRoutes(deps: { transit: TransitService }): FastifyPluginAsyncTypebox {
  const { transit } = deps
  return async (app) => {
    const errorPage = vaultError

    for (const url of paths('hmac'))
      app.post(url, {
        config: { access: { permission: 'transit:sign' }, errorPage },
        schema: { params: Params, body: HmacBody },
        handler: async (request, reply) => {
          const body = request.body
          const algorithm = hashOf(request.params.algorithm, body.algorithm)
          const run = async (inputs: Buffer[]) => {
            const { version, hmacs } = await onKey(() =>
              transit.hmac(ctxOf(request), request.params.name, {
                algorithm,
                ...(body.key_version ? { keyVersion: body.key_version } : {}),
                inputs,
              }),
            )
            return hmacs.map((hmac) => ({ hmac: toVaultMarked(version, hmac) }))
          }
          if (body.batch_input !== undefined)
            return respondBatch(request, reply, await batchTogether(body.batch_input, inputOf, run))
          const [result] = await run([inputOf(body)])
          return envelope(request, result)
        },
      })

    for (const url of paths('sign'))
      app.post(url, {
        config: { access: { permission: 'transit:sign' }, errorPage },
        schema: { params: Params, body: SignBody },
        handler: async (request, reply) => {
          const body = request.body
          const options = signingOptions(body, request.params.algorithm)
          const decode = (item: Static<typeof SignItem>) => {
            refuseUnsupported(item)
            return inputOf(item)
          }
          const run = async (inputs: Buffer[]) => {
            const { version, signatures } = await onKey(() =>
              transit.sign(ctxOf(request), request.params.name, {
                ...options,
                ...(body.key_version ? { keyVersion: body.key_version } : {}),
                inputs,
              }),
            )
            return signatures.map((signature) => ({
              signature: toVaultMarked(version, signature, options.marshaling === 'jws'),
              key_version: version,
            }))
          }
          if (body.batch_input !== undefined)
            return respondBatch(request, reply, await batchTogether(body.batch_input, decode, run))
          const [result] = await run([decode(body)])
          return envelope(request, result)
        },
      })

    for (const url of paths('verify'))
      app.post(url, {
        config: { access: { permission: 'transit:verify' }, errorPage },
        schema: { params: Params, body: VerifyBody },
        handler: async (request, reply) => {
          const body = request.body
          const options = signingOptions(body, request.params.algorithm)
          const items = body.batch_input ?? [body]
          const kinds = new Set(items.map((item) => (item.hmac !== undefined ? 'hmac' : 'signature')))
          if (items.some((item) => item.hmac !== undefined && item.signature !== undefined))
            throw new AppError('VALIDATION_FAILED', 'provide one of signature or hmac, not both')
          if (kinds.size > 1)
            throw new AppError('VALIDATION_FAILED', 'a batch verifies signatures or HMACs, not both at once')
          const kind = kinds.has('hmac') ? 'hmac' : 'signature'
          const decode = (item: Static<typeof VerifyItem>) => {
            refuseUnsupported(item)
            const marked = kind === 'hmac' ? item.hmac : item.signature
            if (marked === undefined) throw new AppError('VALIDATION_FAILED', 'missing signature to verify')
            const urlSafe = kind === 'signature' && options.marshaling === 'jws'
            return { input: inputOf(item), ...fromVaultMarked(marked, kind, urlSafe) }
          }
          const run = async (decoded: ReturnType<typeof decode>[]) => {
            const results = await onKey(() =>
              transit.verify(ctxOf(request), request.params.name, { kind, ...options, items: decoded }),
            )
            return results.map((result) => (result instanceof AppError ? result : { valid: result }))
          }
          if (body.batch_input !== undefined) {
            const outcome = await batchTogether(body.batch_input, decode, run)
            for (const result of outcome.results) if ('error' in result) result.valid = false
            return respondBatch(request, reply, outcome)
          }
          const [result] = await run([decode(body)])
          if (result instanceof AppError) throw result
          return envelope(request, result)
        },
      })
  }
}
