import { randomBytes } from 'node:crypto'
import { contextAad, DecryptionError, open, seal } from '../../crypto/aead.ts'
import { SealedError, type RootKeyProvider } from '../../crypto/providers/provider.ts'
import type { Trx } from '../../db/tenant.ts'

/**
 * Org key-encryption keys (KEKs): one active version per org, each wrapped by the root
 * key. Data keys are wrapped by a KEK; values by a data key. Unwrapped KEKs are cached in
 * memory (they are what the process works with) and dropped when the vault is sealed.
 */
export interface Keyring {
  /** The org's active KEK, creating version 1 on first use. */
  active(trx: Trx, orgId: string): Promise<{ version: number; key: Buffer }>
  byVersion(trx: Trx, orgId: string, version: number): Promise<Buffer>
  /** Drops every unwrapped key (seal). */
  forget(): void
  /** Wraps a fresh data key for one object under the org's active KEK. */
  newDataKey(trx: Trx, orgId: string, object: string, version: number): Promise<{ dek: Buffer; wrapped: Buffer; kekVersion: number }>
  openDataKey(trx: Trx, orgId: string, object: string, version: number, kekVersion: number, wrapped: Uint8Array): Promise<Buffer>
}

export function createKeyring(provider: RootKeyProvider): Keyring {
  const cache = new Map<string, Buffer>()
  const kekAad = (orgId: string, version: number) => contextAad({ purpose: 'org-kek', org: orgId, object: orgId, version })
  const dekAad = (orgId: string, object: string, version: number) => contextAad({ purpose: 'data-key', org: orgId, object, version })

  function assertUnsealed(): void {
    if (provider.sealed()) throw new SealedError()
  }

  async function unwrapRow(orgId: string, row: { version: number; wrapped_key: Uint8Array; root_key_id: string }): Promise<Buffer> {
    const cacheKey = `${orgId}:${row.version}`
    const cached = cache.get(cacheKey)
    if (cached !== undefined) return cached
    const key = await provider.unwrap(row.wrapped_key, kekAad(orgId, row.version), row.root_key_id)
    cache.set(cacheKey, key)
    return key
  }

  async function active(trx: Trx, orgId: string) {
    assertUnsealed()
    let row = await trx.selectFrom('org_keys').select(['version', 'wrapped_key', 'root_key_id']).where('org_id', '=', orgId).where('state', '=', 'active').executeTakeFirst()
    if (row === undefined) {
      const key = randomBytes(32)
      await trx
        .insertInto('org_keys')
        .values({ org_id: orgId, version: 1, wrapped_key: await provider.wrap(key, kekAad(orgId, 1)), root_key_id: provider.keyId(), state: 'active', retired_at: null })
        .onConflict((oc) => oc.doNothing())
        .execute()
      // Whoever inserted first won; read the row that exists now.
      row = await trx.selectFrom('org_keys').select(['version', 'wrapped_key', 'root_key_id']).where('org_id', '=', orgId).where('state', '=', 'active').executeTakeFirstOrThrow()
    }
    return { version: row.version, key: await unwrapRow(orgId, row) }
  }

  async function byVersion(trx: Trx, orgId: string, version: number) {
    assertUnsealed()
    const cached = cache.get(`${orgId}:${version}`)
    if (cached !== undefined) return cached
    const row = await trx.selectFrom('org_keys').select(['version', 'wrapped_key', 'root_key_id']).where('org_id', '=', orgId).where('version', '=', version).executeTakeFirst()
    if (row === undefined) throw new DecryptionError(`org key version ${version} is missing`)
    return unwrapRow(orgId, row)
  }

  return {
    active,
    byVersion,
    forget() {
      for (const key of cache.values()) key.fill(0)
      cache.clear()
    },
    async newDataKey(trx, orgId, object, version) {
      const kek = await active(trx, orgId)
      const dek = randomBytes(32)
      return { dek, wrapped: seal(kek.key, dek, dekAad(orgId, object, version)), kekVersion: kek.version }
    },
    async openDataKey(trx, orgId, object, version, kekVersion, wrapped) {
      return open(await byVersion(trx, orgId, kekVersion), wrapped, dekAad(orgId, object, version))
    },
  }
}
