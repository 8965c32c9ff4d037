import { Type, type Static } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { AppError } from '../../errors.ts'
import { ctxOf } from '../../http/route-helpers.ts'
import type { RequestContext } from '../../context.ts'
import type { TransitService } from './vault.transit.ts'
import {
  contextOfAssociatedData,
  decodeVaultBase64,
  toCustodianCiphertext,
  toVaultCiphertext,
  unixSeconds,
  VAULT_KEY_TYPE,
  vaultErrorsOf,
} from './vault-compat.ts'
import { envelope, Open, vaultError } from './vault-compat.http.ts'

const KeyName = Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' })
const KeyParams = Type.Object({ name: KeyName })
const Base64 = Type.String({ maxLength: 44_000 })
const CreateBody = Type.Object(
  {
    type: Type.Optional(Type.String()),
    derived: Type.Optional(Type.Boolean()),
    exportable: Type.Optional(Type.Boolean()),
    convergent_encryption: Type.Optional(Type.Boolean()),
    allow_plaintext_backup: Type.Optional(Type.Boolean()),
    auto_rotate_period: Type.Optional(Type.Union([Type.String(), Type.Integer()])),
  },
  Open,
)
const Item = {
  associated_data: Type.Optional(Base64),
  context: Type.Optional(Type.String()),
  nonce: Type.Optional(Type.String()),
  reference: Type.Optional(Type.String({ maxLength: 256 })),
}
const EncryptItem = Type.Object({ plaintext: Type.Optional(Base64), ...Item }, Open)
const CiphertextItem = Type.Object({ ciphertext: Type.Optional(Type.String({ maxLength: 65_536 })), ...Item }, Open)
const KeyVersion = Type.Optional(Type.Integer({ minimum: 0 }))
const EncryptBody = Type.Object(
  {
    ...EncryptItem.properties,
    key_version: KeyVersion,
    batch_input: Type.Optional(Type.Array(EncryptItem, { maxItems: 1000 })),
  },
  Open,
)
const CiphertextBody = Type.Object(
  {
    ...CiphertextItem.properties,
    key_version: KeyVersion,
    batch_input: Type.Optional(Type.Array(CiphertextItem, { maxItems: 1000 })),
  },
  Open,
)
type EncryptInput = Static<typeof EncryptItem>
type CiphertextInput = Static<typeof CiphertextItem>

/** Options Custodian's keys do not have are refused, never silently ignored. */
function refuseUnsupported(item: { context?: string | undefined; nonce?: string | undefined }): void {
  if (item.context !== undefined && item.context !== '')
    throw new AppError('VALIDATION_FAILED', 'context is for derived keys, which Custodian does not have')
  if (item.nonce !== undefined && item.nonce !== '')
    throw new AppError('VALIDATION_FAILED', 'nonce is for convergent encryption, which Custodian does not have')
}

/** A missing key is a bad request to Transit's data operations, as Vault answers it. */
async function onKey<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (error) {
    if (error instanceof AppError && error.code === 'NOT_FOUND')
      throw new AppError('BAD_REQUEST', 'encryption key not found')
    throw error
  }
}

/**
 * Vault's batch semantics: one result per item in order, each `{error}` when that item's
 * input or ciphertext was bad; 400 when any item failed (Vault's default
 * `partial_failure_response_code`). A refusal or an outage fails the whole request.
 */
async function batch<I extends { reference?: string | undefined }>(
  items: I[],
  each: (item: I) => Promise<Record<string, unknown>>,
): Promise<{ results: Record<string, unknown>[]; failed: boolean }> {
  const results: Record<string, unknown>[] = []
  let failed = false
  for (const item of items) {
    const reference = item.reference === undefined ? {} : { reference: item.reference }
    try {
      results.push({ ...(await each(item)), ...reference })
    } catch (error) {
      if (!(error instanceof AppError) || error.status !== 400) throw error
      failed = true
      results.push({ error: vaultErrorsOf(error, 400)[0], ...reference })
    }
  }
  return { results, failed }
}

/**
 * Vault's Transit API on Custodian's transit service (docs/vault-compat.md): the same
 * permissions as the native routes (declared here, enforced at the one access-control
 * point), the same audit events, the same sealed-vault refusals.
 */
export function vaultTransitRoutes(deps: { transit: TransitService }): FastifyPluginAsyncTypebox {
  const { transit } = deps
  return async (app) => {
    const errorPage = vaultError

    const keyData = async (ctx: RequestContext, name: string) => {
      const key = await transit.read(ctx, name)
      return {
        name: key.name,
        type: VAULT_KEY_TYPE,
        keys: Object.fromEntries(key.versions.map((v) => [String(v.version), unixSeconds(v.createdAt)])),
        latest_version: key.currentVersion,
        min_decryption_version: 1,
        min_encryption_version: 0,
        min_available_version: 0,
        derived: false,
        exportable: false,
        allow_plaintext_backup: false,
        deletion_allowed: false,
        convergent_encryption: false,
        imported_key: false,
        auto_rotate_period: 0,
        supports_encryption: true,
        supports_decryption: true,
        supports_derivation: false,
        supports_signing: false,
      }
    }

    app.post('/v1/transit/keys/:name', {
      config: { access: { permission: 'transit:manage' }, errorPage },
      schema: { params: KeyParams, body: CreateBody },
      handler: async (request) => {
        const body = request.body
        if (body.type !== undefined && body.type !== VAULT_KEY_TYPE)
          throw new AppError(
            'VALIDATION_FAILED',
            `unsupported key type ${body.type.slice(0, 40)}: only ${VAULT_KEY_TYPE}`,
          )
        for (const option of ['derived', 'exportable', 'convergent_encryption', 'allow_plaintext_backup'] as const)
          if (body[option] === true) throw new AppError('VALIDATION_FAILED', `${option} keys are not supported`)
        if (body.auto_rotate_period !== undefined && body.auto_rotate_period !== 0 && body.auto_rotate_period !== '0')
          throw new AppError('VALIDATION_FAILED', 'auto_rotate_period is not supported: rotate with keys/:name/rotate')
        const ctx = ctxOf(request)
        try {
          await transit.create(ctx, request.params.name)
        } catch (error) {
          // Vault's create is idempotent: an existing key is left as it is.
          if (!(error instanceof AppError && error.code === 'CONFLICT')) throw error
        }
        return envelope(request, await keyData(ctx, request.params.name))
      },
    })

    app.get('/v1/transit/keys/:name', {
      config: { access: { permission: 'keys:read' }, errorPage },
      schema: { params: KeyParams },
      handler: async (request) => envelope(request, await keyData(ctxOf(request), request.params.name)),
    })

    app.post('/v1/transit/keys/:name/rotate', {
      config: { access: { permission: 'transit:manage' }, errorPage },
      schema: { params: KeyParams, body: Type.Object({}, Open) },
      handler: async (request) => {
        const ctx = ctxOf(request)
        await transit.rotate(ctx, request.params.name)
        return envelope(request, await keyData(ctx, request.params.name))
      },
    })

    /** `key_version` other than the newest: Custodian encrypts with the newest version only. */
    const newestOnly = async (ctx: RequestContext, name: string, keyVersion: number | undefined) => {
      if (keyVersion === undefined || keyVersion === 0) return
      const { currentVersion } = await onKey(() => transit.read(ctx, name))
      if (keyVersion !== currentVersion)
        throw new AppError('VALIDATION_FAILED', 'key_version: Custodian encrypts with the newest key version only')
    }

    const respond = (request: FastifyRequest, reply: FastifyReply, outcome: Awaited<ReturnType<typeof batch>>) =>
      reply.code(outcome.failed ? 400 : 200).send(envelope(request, { batch_results: outcome.results }))

    app.post('/v1/transit/encrypt/:name', {
      config: { access: { permission: 'transit:encrypt' }, errorPage },
      schema: { params: KeyParams, body: EncryptBody },
      handler: async (request, reply) => {
        const ctx = ctxOf(request)
        const { name } = request.params
        await newestOnly(ctx, name, request.body.key_version)
        const encrypt = async (item: EncryptInput) => {
          refuseUnsupported(item)
          if (item.plaintext === undefined) throw new AppError('VALIDATION_FAILED', 'missing plaintext to encrypt')
          const plaintext = decodeVaultBase64(item.plaintext, 'plaintext')
          const sealed = await onKey(() =>
            transit.encrypt(ctx, name, plaintext, contextOfAssociatedData(item.associated_data)),
          )
          return { ciphertext: toVaultCiphertext(sealed.ciphertext), key_version: sealed.version }
        }
        const items = request.body.batch_input
        if (items !== undefined) return respond(request, reply, await batch(items, encrypt))
        return envelope(request, await encrypt(request.body))
      },
    })

    app.post('/v1/transit/decrypt/:name', {
      config: { access: { permission: 'transit:decrypt' }, stepUp: true, errorPage },
      schema: { params: KeyParams, body: CiphertextBody },
      handler: async (request, reply) => {
        const ctx = ctxOf(request)
        const { name } = request.params
        const decrypt = async (item: CiphertextInput) => {
          refuseUnsupported(item)
          if (item.ciphertext === undefined) throw new AppError('VALIDATION_FAILED', 'missing ciphertext to decrypt')
          const ciphertext = toCustodianCiphertext(item.ciphertext)
          const opened = await onKey(() =>
            transit.decrypt(ctx, name, ciphertext, contextOfAssociatedData(item.associated_data)),
          )
          const plaintext = opened.plaintext.toString('base64')
          opened.plaintext.fill(0)
          return { plaintext }
        }
        const items = request.body.batch_input
        if (items !== undefined) return respond(request, reply, await batch(items, decrypt))
        return envelope(request, await decrypt(request.body))
      },
    })

    app.post('/v1/transit/rewrap/:name', {
      config: { access: { permission: 'transit:encrypt' }, errorPage },
      schema: { params: KeyParams, body: CiphertextBody },
      handler: async (request, reply) => {
        const ctx = ctxOf(request)
        const { name } = request.params
        await newestOnly(ctx, name, request.body.key_version)
        const rewrap = async (item: CiphertextInput) => {
          refuseUnsupported(item)
          if (item.ciphertext === undefined) throw new AppError('VALIDATION_FAILED', 'missing ciphertext to rewrap')
          const ciphertext = toCustodianCiphertext(item.ciphertext)
          const sealed = await onKey(() =>
            transit.rewrap(ctx, name, ciphertext, contextOfAssociatedData(item.associated_data)),
          )
          return { ciphertext: toVaultCiphertext(sealed.ciphertext), key_version: sealed.version }
        }
        const items = request.body.batch_input
        if (items !== undefined) return respond(request, reply, await batch(items, rewrap))
        return envelope(request, await rewrap(request.body))
      },
    })
  }
}
