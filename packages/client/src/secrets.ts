/**
 * Secrets by name — a name is a path such as `payments/stripe/api-key` — or by id: list (by
 * prefix), get (a reveal, audited with its reason), set (store, or a new version of an
 * existing one), remove. A name is looked up and revealed by the API's by-path routes, one
 * request each; a caller whose role binding is limited to path patterns sees only the
 * secrets they match (others answer NOT_FOUND, as if absent).
 */
import type { paths } from './api.gen.ts'
import { allPages, check, data, reasonOf, type Context } from './context.ts'
import { CustodianError, isCustodianError } from './errors.ts'

type SecretPath = paths['/v1/orgs/{orgId}/secrets/{secretId}']
/** A secret's metadata (never its value). */
export type SecretMeta = SecretPath['get']['responses'][200]['content']['application/json']
type RevealPath = paths['/v1/orgs/{orgId}/secrets/{secretId}/reveal']['post']
/** A revealed secret: its value and which version it is. */
export type RevealedSecret = RevealPath['responses'][200]['content']['application/json']
/** A value: text (API keys, generic secrets) or a database credential. */
export type SecretValue = RevealedSecret['value']
export type SecretType = SecretMeta['type']

/** A secret by name, or by id (`{ id }`). */
export type SecretRef = string | { id: string }

export interface Secrets {
  /** Every secret of the org (metadata only), by name; with `prefix`, those whose name starts with it. */
  list(options?: { prefix?: string }): Promise<SecretMeta[]>
  /** The secret's metadata, or undefined when the org has none by that name. */
  find(ref: SecretRef): Promise<SecretMeta | undefined>
  /**
   * Reveals a secret's value (the current version, or `version`). The reason is recorded
   * in the audit log before the value leaves the service (P1.2). NOT_FOUND when there is
   * no such secret; SECRET_PAUSED, SECRET_EXPOSED, SECRET_VERSION_DESTROYED as the API says.
   */
  get(ref: SecretRef, options?: { reason?: string; version?: number }): Promise<RevealedSecret>
  /**
   * Stores `value` under `name`: a new secret (type `generic` unless given), or the next
   * version of the existing one. Answers the metadata (`currentVersion` is the new version).
   */
  set(name: string, value: SecretValue, options?: { type?: SecretType; description?: string }): Promise<SecretMeta>
  /** Deletes the secret: every version's data key and ciphertext are destroyed. */
  remove(ref: SecretRef): Promise<void>
}

export function createSecrets(ctx: Context): Secrets {
  const { api } = ctx

  async function list(options: { prefix?: string } = {}): Promise<SecretMeta[]> {
    const orgId = await ctx.orgId()
    const all = await allPages(async (cursor) => {
      const page = await data(
        api.GET('/v1/orgs/{orgId}/secrets', {
          params: {
            path: { orgId },
            query: {
              limit: 500,
              ...(cursor === undefined ? {} : { cursor }),
              ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
            },
          },
        }),
      )
      return { items: page.secrets, nextCursor: page.nextCursor }
    })
    return all
  }

  async function find(ref: SecretRef): Promise<SecretMeta | undefined> {
    const orgId = await ctx.orgId()
    if (typeof ref !== 'string') {
      try {
        return await data(
          api.GET('/v1/orgs/{orgId}/secrets/{secretId}', { params: { path: { orgId, secretId: ref.id } } }),
        )
      } catch (error) {
        if (isCustodianError(error, 'NOT_FOUND')) return undefined
        throw error
      }
    }
    try {
      return await data(
        api.GET('/v1/orgs/{orgId}/secrets/by-path', { params: { path: { orgId }, query: { path: ref } } }),
      )
    } catch (error) {
      // No secret has a name the API refuses as one: `set` then creates it and gets the refusal for `name`.
      if (isCustodianError(error, 'NOT_FOUND') || isCustodianError(error, 'VALIDATION_FAILED')) return undefined
      throw error
    }
  }

  async function idOf(ref: SecretRef): Promise<string> {
    if (typeof ref !== 'string') return ref.id
    const found = await find(ref)
    if (found === undefined) throw new CustodianError('NOT_FOUND', `no secret named ${JSON.stringify(ref)} in this org`)
    return found.id
  }

  return {
    list,
    find,

    async get(ref, options = {}) {
      const reason = reasonOf(ctx, options.reason, 'a reveal')
      const orgId = await ctx.orgId()
      const body = { reason, ...(options.version === undefined ? {} : { version: options.version }) }
      if (typeof ref === 'string')
        return data(
          api.POST('/v1/orgs/{orgId}/secrets/by-path/reveal', {
            params: { path: { orgId }, query: { path: ref } },
            body,
          }),
        )
      const secretId = ref.id
      return data(
        api.POST('/v1/orgs/{orgId}/secrets/{secretId}/reveal', {
          params: { path: { orgId, secretId } },
          body: { reason, ...(options.version === undefined ? {} : { version: options.version }) },
        }),
      )
    },

    async set(name, value, options = {}) {
      check(typeof name === 'string' && name !== '', 'name: a secret name')
      const orgId = await ctx.orgId()
      const existing = await find(name)
      if (existing === undefined) {
        try {
          return await data(
            api.POST('/v1/orgs/{orgId}/secrets', {
              params: { path: { orgId } },
              body: {
                name,
                type: options.type ?? (typeof value === 'string' ? 'generic' : 'database_credential'),
                value,
                ...(options.description === undefined ? {} : { description: options.description }),
              },
            }),
          )
        } catch (error) {
          // Created by someone else since the lookup: store a new version of theirs.
          if (!isCustodianError(error, 'CONFLICT')) throw error
        }
      }
      const secretId = existing?.id ?? (await idOf(name))
      return data(
        api.POST('/v1/orgs/{orgId}/secrets/{secretId}/versions', {
          params: { path: { orgId, secretId } },
          body: { value },
        }),
      )
    },

    async remove(ref) {
      const orgId = await ctx.orgId()
      const secretId = await idOf(ref)
      await data(api.DELETE('/v1/orgs/{orgId}/secrets/{secretId}', { params: { path: { orgId, secretId } } }))
    },
  }
}
