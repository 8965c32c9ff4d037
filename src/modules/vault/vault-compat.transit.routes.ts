import { Type, type Static } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { AppError } from '../../errors.ts'
import { ctxOf } from '../../http/route-helpers.ts'
import type { RequestContext } from '../../context.ts'
import type { TransitService, TransitVersionView } from './vault.transit.ts'
import type { TransitKeyType } from './vault.tables.ts'
import {
  contextOfAssociatedData,
  decodeVaultBase64,
  toCustodianCiphertext,
  toVaultCiphertext,
  unixSeconds,
  VAULT_KEY_TYPES,
} from './vault-compat.ts'
import { batch, envelope, onKey, Open, refuseUnsupported, respondBatch, vaultError } from './vault-compat.http.ts'
import { vaultSigningRoutes } from './vault-compat.signing.routes.ts'

const KeyName = Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' })
const KeyParams = Type.Object({ name: KeyName })
const Base64 = Type.String({ maxLength: 44_000 })
const KeyVersion = Type.Optional(Type.Integer({ minimum: 0, maximum: 999_999_999 }))
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
const ConfigBody = Type.Object(
  {
    min_decryption_version: Type.Optional(Type.Integer({ minimum: 0, maximum: 999_999_999 })),
    min_encryption_version: Type.Optional(Type.Integer({ minimum: 0, maximum: 999_999_999 })),
    exportable: Type.Optional(Type.Boolean()),
    deletion_allowed: Type.Optional(Type.Boolean()),
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

const isKeyType = (type: string): type is TransitKeyType => (VAULT_KEY_TYPES as readonly string[]).includes(type)

/** Vault's `keys` map: creation seconds per version for AES keys; name, public key and time for signing keys. */
function keysMap(type: TransitKeyType, versions: TransitVersionView[]) {
  if (type === 'aes256-gcm96')
    return Object.fromEntries(versions.map((v) => [String(v.version), unixSeconds(v.createdAt)]))
  return Object.fromEntries(
    versions.map((v) => [
      String(v.version),
      {
        name: type === 'ed25519' ? 'ed25519' : 'P-256',
        public_key: publicKeyAsVault(type, v.publicKey),
        certificate_chain: '',
        creation_time: v.createdAt,
      },
    ]),
  )
}

/** Vault writes an Ed25519 public key as the standard base64 of its 32 raw bytes, an ECDSA one as PEM. */
export function publicKeyAsVault(type: TransitKeyType, pem: string | null): string {
  if (pem === null) return ''
  if (type !== 'ed25519') return pem
  // The raw key is the last 32 bytes of the 44-byte SubjectPublicKeyInfo (RFC 8410).
  const der = Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64')
  return der.subarray(der.length - 32).toString('base64')
}

/**
 * Vault's Transit key and encryption routes on Custodian's transit service
 * (docs/vault-compat.md): the same permissions as the native routes (declared here,
 * enforced at the one access-control point), the same audit events, the same sealed-vault
 * refusals. HMAC, sign and verify are in vault-compat.signing.routes.ts.
 */
export function vaultTransitRoutes(deps: { transit: TransitService }): FastifyPluginAsyncTypebox {
  const { transit } = deps
  return async (app) => {
    const errorPage = vaultError

    const keyData = async (ctx: RequestContext, name: string) => {
      const key = await transit.read(ctx, name)
      const signs = key.type !== 'aes256-gcm96'
      return {
        name: key.name,
        type: key.type,
        keys: keysMap(key.type, key.versions),
        latest_version: key.currentVersion,
        min_decryption_version: key.minDecryptionVersion,
        min_encryption_version: key.minEncryptionVersion,
        min_available_version: 0,
        derived: false,
        exportable: false,
        allow_plaintext_backup: false,
        deletion_allowed: false,
        convergent_encryption: false,
        imported_key: false,
        auto_rotate_period: 0,
        supports_encryption: !signs,
        supports_decryption: !signs,
        supports_derivation: false,
        supports_signing: signs,
      }
    }

    /** Options Custodian's keys do not have, in a create or config body: refused, never ignored. */
    const refuseOptions = (body: {
      exportable?: boolean | undefined
      allow_plaintext_backup?: boolean | undefined
      auto_rotate_period?: string | number | undefined
    }) => {
      if (body.exportable === true)
        throw new AppError(
          'VALIDATION_FAILED',
          'exportable keys are not supported: key material never leaves Custodian',
        )
      if (body.allow_plaintext_backup === true)
        throw new AppError('VALIDATION_FAILED', 'allow_plaintext_backup keys are not supported')
      if (body.auto_rotate_period !== undefined && body.auto_rotate_period !== 0 && body.auto_rotate_period !== '0')
        throw new AppError('VALIDATION_FAILED', 'auto_rotate_period is not supported: rotate with keys/:name/rotate')
    }

    app.post('/v1/transit/keys/:name', {
      config: { access: { permission: 'transit:manage' }, errorPage },
      schema: { params: KeyParams, body: CreateBody },
      handler: async (request) => {
        const body = request.body
        const type = body.type ?? 'aes256-gcm96'
        if (!isKeyType(type))
          throw new AppError(
            'VALIDATION_FAILED',
            `unsupported key type ${type.slice(0, 40)}: only ${VAULT_KEY_TYPES.join(', ')}`,
          )
        for (const option of ['derived', 'convergent_encryption'] as const)
          if (body[option] === true) throw new AppError('VALIDATION_FAILED', `${option} keys are not supported`)
        refuseOptions(body)
        const ctx = ctxOf(request)
        try {
          await transit.create(ctx, request.params.name, type)
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

    app.post('/v1/transit/keys/:name/config', {
      config: { access: { permission: 'transit:manage' }, errorPage },
      schema: { params: KeyParams, body: ConfigBody },
      handler: async (request) => {
        const body = request.body
        refuseOptions(body)
        if (body.deletion_allowed === true)
          throw new AppError('VALIDATION_FAILED', 'deletion_allowed is not supported: Custodian does not delete keys')
        const ctx = ctxOf(request)
        const config: Parameters<TransitService['configure']>[2] = {}
        // Vault reads 0 as "leave as it is" for min_decryption_version.
        if (body.min_decryption_version !== undefined && body.min_decryption_version !== 0)
          config.minDecryptionVersion = body.min_decryption_version
        if (body.min_encryption_version !== undefined) config.minEncryptionVersion = body.min_encryption_version
        await transit.configure(ctx, request.params.name, config)
        return envelope(request, await keyData(ctx, request.params.name))
      },
    })

    const exportParams = Type.Object({
      type: Type.String({ maxLength: 32 }),
      name: KeyName,
      version: Type.Optional(Type.String({ pattern: '^(latest|[1-9][0-9]{0,8})$' })),
    })
    const exportKey = async (ctx: RequestContext, params: Static<typeof exportParams>) => {
      if (!['encryption-key', 'signing-key', 'hmac-key', 'public-key'].includes(params.type))
        throw new AppError('VALIDATION_FAILED', 'invalid export type')
      const key = await transit.read(ctx, params.name)
      if (params.type !== 'public-key')
        throw new AppError('VALIDATION_FAILED', 'private key material is not exportable')
      if (key.type === 'aes256-gcm96')
        throw new AppError('VALIDATION_FAILED', 'public-key export is for ed25519 and ecdsa-p256 keys')
      const wanted = params.version === 'latest' ? key.currentVersion : Number(params.version ?? 0)
      const versions = key.versions.filter((v) => params.version === undefined || v.version === wanted)
      if (versions.length === 0) throw new AppError('VALIDATION_FAILED', 'version not found')
      return {
        name: key.name,
        type: key.type,
        keys: Object.fromEntries(versions.map((v) => [String(v.version), publicKeyAsVault(key.type, v.publicKey)])),
      }
    }
    for (const url of ['/v1/transit/export/:type/:name', '/v1/transit/export/:type/:name/:version'])
      app.get(url, {
        config: { access: { permission: 'keys:read' }, errorPage },
        schema: { params: exportParams },
        handler: async (request) => envelope(request, await exportKey(ctxOf(request), request.params)),
      })

    app.post('/v1/transit/encrypt/:name', {
      config: { access: { permission: 'transit:encrypt' }, errorPage },
      schema: { params: KeyParams, body: EncryptBody },
      handler: async (request, reply) => {
        const ctx = ctxOf(request)
        const { name } = request.params
        const keyVersion = request.body.key_version
        const encrypt = async (item: EncryptInput) => {
          refuseUnsupported(item)
          if (item.plaintext === undefined) throw new AppError('VALIDATION_FAILED', 'missing plaintext to encrypt')
          const plaintext = decodeVaultBase64(item.plaintext, 'plaintext')
          const sealed = await onKey(() =>
            transit.encrypt(ctx, name, plaintext, contextOfAssociatedData(item.associated_data), keyVersion),
          )
          return { ciphertext: toVaultCiphertext(sealed.ciphertext), key_version: sealed.version }
        }
        const items = request.body.batch_input
        if (items !== undefined) return respondBatch(request, reply, await batch(items, encrypt))
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
        if (items !== undefined) return respondBatch(request, reply, await batch(items, decrypt))
        return envelope(request, await decrypt(request.body))
      },
    })

    app.post('/v1/transit/rewrap/:name', {
      config: { access: { permission: 'transit:encrypt' }, errorPage },
      schema: { params: KeyParams, body: CiphertextBody },
      handler: async (request, reply) => {
        const ctx = ctxOf(request)
        const { name } = request.params
        const keyVersion = request.body.key_version
        const rewrap = async (item: CiphertextInput) => {
          refuseUnsupported(item)
          if (item.ciphertext === undefined) throw new AppError('VALIDATION_FAILED', 'missing ciphertext to rewrap')
          const ciphertext = toCustodianCiphertext(item.ciphertext)
          const sealed = await onKey(() =>
            transit.rewrap(ctx, name, ciphertext, contextOfAssociatedData(item.associated_data), keyVersion),
          )
          return { ciphertext: toVaultCiphertext(sealed.ciphertext), key_version: sealed.version }
        }
        const items = request.body.batch_input
        if (items !== undefined) return respondBatch(request, reply, await batch(items, rewrap))
        return envelope(request, await rewrap(request.body))
      },
    })

    app.post('/v1/transit/datakey/:kind/:name', {
      config: { access: { permission: 'transit:encrypt' }, errorPage },
      schema: {
        params: Type.Object({ kind: Type.Union([Type.Literal('plaintext'), Type.Literal('wrapped')]), name: KeyName }),
        body: Type.Object(
          {
            bits: Type.Optional(Type.Union([Type.Literal(128), Type.Literal(256), Type.Literal(512)])),
            context: Type.Optional(Type.String()),
            nonce: Type.Optional(Type.String()),
          },
          Open,
        ),
      },
      handler: async (request) => {
        refuseUnsupported(request.body)
        const made = await onKey(() =>
          transit.dataKey(ctxOf(request), request.params.name, {
            bits: request.body.bits ?? 256,
            includePlaintext: request.params.kind === 'plaintext',
          }),
        )
        const data: Record<string, unknown> = {
          ciphertext: toVaultCiphertext(made.ciphertext),
          key_version: made.version,
        }
        if (made.plaintext !== undefined) {
          data.plaintext = made.plaintext.toString('base64')
          made.plaintext.fill(0)
        }
        return envelope(request, data)
      },
    })

    await app.register(vaultSigningRoutes({ transit }))
  }
}
