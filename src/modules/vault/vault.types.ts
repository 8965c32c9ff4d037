import { Type, type Static } from '@sinclair/typebox'
import { Strict, Timestamp, Uuid } from '../../http/schemas.ts'
import { AppError } from '../../errors.ts'

export const SecretName = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$',
  description: 'unique in the org; letters, digits, . _ / -',
})
export const SecretTypeSchema = Type.Union([
  Type.Literal('api_key'),
  Type.Literal('database_credential'),
  Type.Literal('generic'),
])

export const DatabaseCredentialValue = Type.Object(
  {
    host: Type.String({ minLength: 1, maxLength: 253 }),
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
    database: Type.String({ minLength: 1, maxLength: 63 }),
    user: Type.String({ minLength: 1, maxLength: 63 }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
    sslmode: Type.Union([
      Type.Literal('disable'),
      Type.Literal('require'),
      Type.Literal('verify-ca'),
      Type.Literal('verify-full'),
    ]),
  },
  Strict,
)
export type DatabaseCredential = Static<typeof DatabaseCredentialValue>

/** A secret's value: a string for api_key and generic, an object for database_credential. */
export const SecretValue = Type.Union([Type.String({ minLength: 1 }), DatabaseCredentialValue])
export type SecretValueT = Static<typeof SecretValue>

export const CreateSecretBody = Type.Object(
  {
    name: SecretName,
    type: SecretTypeSchema,
    description: Type.Optional(Type.String({ maxLength: 1000 })),
    value: SecretValue,
  },
  Strict,
)
/** Version numbers are PostgreSQL `integer`s: a larger one in a request is refused (400), never a server error. */
export const MAX_SECRET_VERSION = 2_147_483_647

export const NewVersionBody = Type.Object({ value: SecretValue }, Strict)
export const RevealBody = Type.Object(
  {
    reason: Type.String({
      minLength: 3,
      maxLength: 500,
      description: 'why the value is needed; recorded in the audit log',
    }),
    version: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_SECRET_VERSION })),
  },
  Strict,
)

export const SecretViewSchema = Type.Object({
  id: Uuid,
  name: Type.String(),
  type: SecretTypeSchema,
  description: Type.String(),
  metadata: Type.Record(Type.String(), Type.Unknown(), {
    description: 'non-secret facts, e.g. a database credential’s host and user',
  }),
  currentVersion: Type.Integer(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  lastRevealedAt: Type.Union([Timestamp, Type.Null()]),
  paused: Type.Boolean({ description: 'use refused until resumed' }),
  exposed: Type.Boolean({ description: 'reported exposed: use refused until a new version replaces it' }),
  lastCheckedAt: Type.Union([Timestamp, Type.Null()]),
})
export type SecretView = Static<typeof SecretViewSchema>

export const VersionViewSchema = Type.Object({
  version: Type.Integer(),
  createdAt: Timestamp,
  createdBy: Type.String(),
  createdByName: Type.Union([Type.String(), Type.Null()], {
    description: 'who made the version, in words: the member’s email or the service account’s name; null otherwise',
  }),
  destroyedAt: Type.Union([Timestamp, Type.Null()]),
  deletedAt: Type.Union([Timestamp, Type.Null()], {
    description:
      'soft-deleted (the Vault-compatible API’s KV delete): kept, but not revealed until undeleted; null otherwise',
  }),
  exposed: Type.Boolean({
    description: 'reported exposed, or older than a version reported exposed: never revealed again (P1.5)',
  }),
})
export type VersionView = Static<typeof VersionViewSchema>

export const RevealViewSchema = Type.Object({
  id: Uuid,
  name: Type.String(),
  type: SecretTypeSchema,
  version: Type.Integer(),
  value: SecretValue,
})
export type RevealView = Static<typeof RevealViewSchema>

/**
 * A value a module stored as a string (a webhook's signing secret, an SSO client secret),
 * refused if it is a database credential: signing with `String(object)` would sign with
 * "[object Object]".
 */
export function stringValue(value: SecretValueT): string {
  if (typeof value !== 'string') throw new Error('expected a string secret value, found a database credential')
  return value
}

/**
 * A KV secret (the Vault-compatible API's KV version 2, docs/vault-compat.md) is a `generic`
 * secret whose metadata says `format: "kv"` and whose value is the JSON text (RFC 8785
 * canonical form) of one object: what Vault calls the secret's `data`.
 */
export const KV_FORMAT = 'kv'

/** Whether a secret's metadata marks it as a KV secret. */
export function isKvSecret(metadata: Record<string, unknown>): boolean {
  return metadata.format === KV_FORMAT
}

/** A KV value's data object; undefined when the text is not the JSON of an object. */
export function parseKvData(value: SecretValueT): Record<string, unknown> | undefined {
  if (typeof value !== 'string') return undefined
  try {
    const data: unknown = JSON.parse(value)
    return typeof data === 'object' && data !== null && !Array.isArray(data)
      ? (data as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

/** VALIDATION_FAILED unless `value` is the JSON text of an object (a KV secret's value). */
export function assertKvValue(value: SecretValueT): void {
  if (parseKvData(value) === undefined)
    throw new AppError('VALIDATION_FAILED', 'a KV secret’s value is the JSON text of an object', {
      errors: [{ path: '/body/value', message: 'must be the JSON text of an object' }],
    })
}
