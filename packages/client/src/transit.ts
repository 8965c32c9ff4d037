/**
 * Encryption as a service with the org's named keys (transit): the key never leaves
 * Custodian; the host application keeps the ciphertext. Every decryption is audited.
 */
import type { paths } from './api.gen.ts'
import { check, data, type Context } from './context.ts'

export type TransitKey = paths['/v1/orgs/{orgId}/transit/keys']['post']['responses'][201]['content']['application/json']

export interface TransitOptions {
  /** Bound into the ciphertext: decryption needs the same value (e.g. the record's id). */
  context?: string
}

export interface Transit {
  /** Encrypts up to 32 KiB with the key's newest version; answers `cst:v<version>:<base64url>`. */
  encrypt(key: string, plaintext: string | Uint8Array, options?: TransitOptions): Promise<string>
  /** Decrypts a ciphertext of this key (audited). DECRYPTION_FAILED on another key, org or context. */
  decrypt(key: string, ciphertext: string, options?: TransitOptions): Promise<Buffer>
  /** Re-encrypts under the key's newest version without the plaintext leaving the service. */
  rewrap(key: string, ciphertext: string, options?: TransitOptions): Promise<string>
  createKey(name: string): Promise<TransitKey>
  rotateKey(name: string): Promise<TransitKey>
}

export function createTransit(ctx: Context): Transit {
  const { api } = ctx
  const path = async (name: string) => {
    check(typeof name === 'string' && name !== '', 'key: the name of a transit key')
    return { orgId: await ctx.orgId(), name }
  }
  const extra = (options: TransitOptions) => (options.context === undefined ? {} : { context: options.context })

  return {
    async encrypt(key, plaintext, options = {}) {
      const bytes = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : Buffer.from(plaintext)
      const answer = await data(
        api.POST('/v1/orgs/{orgId}/transit/keys/{name}/encrypt', {
          params: { path: await path(key) },
          body: { plaintext: bytes.toString('base64'), ...extra(options) },
        }),
      )
      return answer.ciphertext
    },

    async decrypt(key, ciphertext, options = {}) {
      const answer = await data(
        api.POST('/v1/orgs/{orgId}/transit/keys/{name}/decrypt', {
          params: { path: await path(key) },
          body: { ciphertext, ...extra(options) },
        }),
      )
      return Buffer.from(answer.plaintext, 'base64')
    },

    async rewrap(key, ciphertext, options = {}) {
      const answer = await data(
        api.POST('/v1/orgs/{orgId}/transit/keys/{name}/rewrap', {
          params: { path: await path(key) },
          body: { ciphertext, ...extra(options) },
        }),
      )
      return answer.ciphertext
    },

    async createKey(name) {
      const { orgId } = await path(name)
      return data(api.POST('/v1/orgs/{orgId}/transit/keys', { params: { path: { orgId } }, body: { name } }))
    },

    async rotateKey(name) {
      return data(api.POST('/v1/orgs/{orgId}/transit/keys/{name}/rotate', { params: { path: await path(name) } }))
    },
  }
}
