import { randomBytes } from 'node:crypto'
import { sql } from 'kysely'
import { contextAad, DecryptionError, open, seal } from '../../crypto/aead.ts'
import { SealedError, type RootKeyProvider } from '../../crypto/providers/provider.ts'
import type { Trx } from '../../db/tenant.ts'
import { userSecretAad } from './vault.usersecrets.ts'

/**
 * Org key-encryption keys (KEKs): one active version per org, each wrapped by the root
 * key. Data keys are wrapped by a KEK; values by a data key. Unwrapped KEKs are cached in
 * memory for a few minutes (so a key retired by another process does not linger) and
 * dropped at once when the vault is sealed.
 *
 * Rotation: `rotate` makes a new active version and marks the old one `retiring`; the
 * rewrap job moves every data key to the active version; a retiring version that wraps
 * nothing any more is `retired` and its wrapped bytes erased.
 */
export interface Keyring {
  /** The org's active KEK, creating version 1 on first use. */
  active(trx: Trx, orgId: string): Promise<{ version: number; key: Buffer }>
  byVersion(trx: Trx, orgId: string, version: number): Promise<Buffer>
  /**
   * Throws SealedError while the root key is not loaded: a cache of keys opened under it
   * (transit keys) checks this before every use, so no cached key outlives a seal or an outage.
   */
  assertUnsealed(): void
  /** Drops every unwrapped key (seal). */
  forget(): void
  /** Drops one org key version from memory (it was retired). */
  forgetVersion(orgId: string, version: number): void
  /** Wraps a fresh data key for one object under the org's active KEK. */
  newDataKey(
    trx: Trx,
    orgId: string,
    object: string,
    version: number,
  ): Promise<{ dek: Buffer; wrapped: Buffer; kekVersion: number }>
  openDataKey(
    trx: Trx,
    orgId: string,
    object: string,
    version: number,
    kekVersion: number,
    wrapped: Uint8Array,
  ): Promise<Buffer>
  /** Re-wraps a data key under the active KEK; returns the new wrapping and its version. */
  rewrapDataKey(
    trx: Trx,
    orgId: string,
    object: string,
    version: number,
    kekVersion: number,
    wrapped: Uint8Array,
  ): Promise<{ wrapped: Buffer; kekVersion: number }>
  /** A new active KEK version; the previous one becomes `retiring`. */
  rotate(trx: Trx, orgId: string): Promise<{ version: number; previous: number | null }>
  /** Re-wraps every org KEK under `target` (root-key rotation); returns how many. */
  rewrapAllUnder(trx: Trx, target: RootKeyProvider): Promise<number>
}

const CACHE_MS = 5 * 60_000

export function createKeyring(provider: RootKeyProvider): Keyring {
  const cache = new Map<string, { key: Buffer; until: number }>()
  const kekAad = (orgId: string, version: number) =>
    contextAad({ purpose: 'org-kek', org: orgId, object: orgId, version })
  const dekAad = (orgId: string, object: string, version: number) =>
    contextAad({ purpose: 'data-key', org: orgId, object, version })

  function assertUnsealed(): void {
    if (provider.sealed()) throw new SealedError()
  }

  async function unwrapRow(
    orgId: string,
    row: { version: number; wrapped_key: Uint8Array | null; root_key_id: string },
  ): Promise<Buffer> {
    const cacheKey = `${orgId}:${row.version}`
    const cached = cache.get(cacheKey)
    if (cached !== undefined && cached.until > Date.now()) return cached.key
    if (row.wrapped_key === null) throw new DecryptionError(`org key version ${row.version} was retired`)
    const key = await provider.unwrap(row.wrapped_key, kekAad(orgId, row.version), row.root_key_id)
    cache.set(cacheKey, { key, until: Date.now() + CACHE_MS })
    return key
  }

  const columns = ['version', 'wrapped_key', 'root_key_id'] as const

  async function createVersion(trx: Trx, orgId: string, version: number): Promise<void> {
    const key = randomBytes(32)
    await trx
      .insertInto('org_keys')
      .values({
        org_id: orgId,
        version,
        wrapped_key: await provider.wrap(key, kekAad(orgId, version)),
        root_key_id: provider.keyId(),
        state: 'active',
        retired_at: null,
      })
      .onConflict((oc) => oc.doNothing())
      .execute()
    key.fill(0)
  }

  async function active(trx: Trx, orgId: string) {
    assertUnsealed()
    let row = await trx
      .selectFrom('org_keys')
      .select(columns)
      .where('org_id', '=', orgId)
      .where('state', '=', 'active')
      .executeTakeFirst()
    if (row === undefined) {
      await createVersion(trx, orgId, 1)
      // Whoever inserted first won; read the row that exists now.
      row = await trx
        .selectFrom('org_keys')
        .select(columns)
        .where('org_id', '=', orgId)
        .where('state', '=', 'active')
        .executeTakeFirstOrThrow()
    }
    return { version: row.version, key: await unwrapRow(orgId, row) }
  }

  async function byVersion(trx: Trx, orgId: string, version: number) {
    assertUnsealed()
    const cached = cache.get(`${orgId}:${version}`)
    if (cached !== undefined && cached.until > Date.now()) return cached.key
    const row = await trx
      .selectFrom('org_keys')
      .select(columns)
      .where('org_id', '=', orgId)
      .where('version', '=', version)
      .executeTakeFirst()
    if (row === undefined) throw new DecryptionError(`org key version ${version} is missing`)
    return unwrapRow(orgId, row)
  }

  return {
    active,
    byVersion,
    assertUnsealed,
    forget() {
      for (const entry of cache.values()) entry.key.fill(0)
      cache.clear()
    },
    forgetVersion(orgId, version) {
      // Not zeroed: a request in flight may still hold this buffer for a row it read
      // just before the rewrap; it becomes garbage when that request is done.
      cache.delete(`${orgId}:${version}`)
    },
    async newDataKey(trx, orgId, object, version) {
      const kek = await active(trx, orgId)
      const dek = randomBytes(32)
      return { dek, wrapped: seal(kek.key, dek, dekAad(orgId, object, version)), kekVersion: kek.version }
    },
    async openDataKey(trx, orgId, object, version, kekVersion, wrapped) {
      return open(await byVersion(trx, orgId, kekVersion), wrapped, dekAad(orgId, object, version))
    },
    async rewrapDataKey(trx, orgId, object, version, kekVersion, wrapped) {
      const dek = open(await byVersion(trx, orgId, kekVersion), wrapped, dekAad(orgId, object, version))
      try {
        const kek = await active(trx, orgId)
        return { wrapped: seal(kek.key, dek, dekAad(orgId, object, version)), kekVersion: kek.version }
      } finally {
        dek.fill(0)
      }
    },
    async rotate(trx, orgId) {
      assertUnsealed()
      // Serialize rotations of one org: the row lock on the active key.
      const current = await trx
        .selectFrom('org_keys')
        .select('version')
        .where('org_id', '=', orgId)
        .where('state', '=', 'active')
        .forUpdate()
        .executeTakeFirst()
      if (current === undefined) {
        await createVersion(trx, orgId, 1)
        return { version: 1, previous: null }
      }
      const latest = await trx
        .selectFrom('org_keys')
        .select((eb) => eb.fn.max('version').as('v'))
        .where('org_id', '=', orgId)
        .executeTakeFirstOrThrow()
      const version = Number(latest.v) + 1
      await trx
        .updateTable('org_keys')
        .set({ state: 'retiring' })
        .where('org_id', '=', orgId)
        .where('version', '=', current.version)
        .execute()
      await createVersion(trx, orgId, version)
      return { version, previous: current.version }
    },
    async rewrapAllUnder(trx, target) {
      assertUnsealed()
      const rows = await trx
        .selectFrom('org_keys')
        .selectAll()
        .where('wrapped_key', 'is not', null)
        .forUpdate()
        .execute()
      for (const row of rows) {
        const key = await unwrapRow(row.org_id, row)
        await sql`UPDATE org_keys SET wrapped_key = ${await target.wrap(key, kekAad(row.org_id, row.version))}, root_key_id = ${target.keyId()}
                   WHERE org_id = ${row.org_id} AND version = ${row.version}`.execute(trx)
      }
      // Root-wrapped per-user secrets (TOTP seeds) move to the new root key too.
      const userSecrets = await trx.selectFrom('user_secrets').selectAll().forUpdate().execute()
      for (const row of userSecrets) {
        const aad = userSecretAad(row.user_id, row.purpose)
        const value = await provider.unwrap(row.wrapped, aad, row.root_key_id)
        await sql`UPDATE user_secrets SET wrapped = ${await target.wrap(value, aad)}, root_key_id = ${target.keyId()}
                   WHERE user_id = ${row.user_id} AND purpose = ${row.purpose}`.execute(trx)
        value.fill(0)
      }
      return rows.length
    },
  }
}
