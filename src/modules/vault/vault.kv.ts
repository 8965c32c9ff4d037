import canonicalize from 'canonicalize'
import type { Kysely } from 'kysely'
import type { DB } from '../../db/schema.ts'
import { withOrg, type Trx } from '../../db/tenant.ts'
import { AppError, isAppError } from '../../errors.ts'
import type { RequestContext } from '../../context.ts'
import type { AuditService } from '../audit/audit.service.ts'
import * as store from './vault.store.ts'
import * as kvStore from './vault.kv.store.ts'
import { pathAllowed } from './secret-paths.ts'
import { secretEventRecorder, type VaultService } from './vault.service.ts'
import { isKvSecret, KV_FORMAT, parseKvData } from './vault.types.ts'

/*
 * KV version 2 on the vault (docs/vault-compat.md): a KV secret is a `generic` secret whose
 * metadata says `format: "kv"` and whose value is the canonical JSON (RFC 8785) of the data
 * object, so the native API lists it, shows its versions and reveals it as that JSON text.
 * Values are written and read only through the vault service (`create`, `addVersion`,
 * `reveal`, `destroyVersion`, `remove`): its checks, refusals and audit events apply as they
 * are. What the vault service has no notion of (a soft delete, KV metadata) is done here, in
 * the org's transaction, audited in it. Permissions are the routes' (vault-compat.kv.routes.ts).
 */

/** Vault's per-version metadata (`data.metadata` of a read, `data` of a write). */
export interface KvVersionMetadata {
  created_time: string
  custom_metadata: Record<string, string> | null
  /** RFC 3339 time of the soft delete; `""` when not deleted. */
  deletion_time: string
  destroyed: boolean
  version: number
}

/** Vault's `metadata/:path` answer. */
export interface KvMetadata {
  cas_required: boolean
  created_time: string
  current_version: number
  custom_metadata: Record<string, string> | null
  delete_version_after: string
  max_versions: number
  oldest_version: number
  updated_time: string
  versions: Record<string, { created_time: string; deletion_time: string; destroyed: boolean }>
}

/** A read: the data and its version's metadata, or not there (with the metadata when the version exists). */
export type KvRead =
  | { found: true; data: Record<string, unknown>; metadata: KvVersionMetadata }
  | { found: false; metadata?: KvVersionMetadata }

/** The KV settings kept in the secret's metadata beside `format`. */
interface KvSettings {
  format: typeof KV_FORMAT
  cas_required?: boolean
  custom_metadata?: Record<string, string>
}

export interface KvService {
  /** The data of `version` (the current one when absent or 0): a reveal, audited with `reason`. */
  read(ctx: RequestContext, path: string, input: { version?: number | undefined; reason: string }): Promise<KvRead>
  /**
   * Stores `data` as the path's next version (version 1 of a new KV secret). With `cas`,
   * only if the current version is `cas` (0: only if the path has none); CONFLICT otherwise.
   */
  write(ctx: RequestContext, path: string, data: Record<string, unknown>, cas?: number): Promise<KvVersionMetadata>
  /** Soft-deletes `versions` (the current one when absent); a missing path or version is no change. */
  deleteVersions(ctx: RequestContext, path: string, versions?: readonly number[]): Promise<void>
  /** Undoes soft deletes; destroyed versions stay destroyed. */
  undeleteVersions(ctx: RequestContext, path: string, versions: readonly number[]): Promise<void>
  /** Destroys versions through the vault service (crypto-erasure), one by one. */
  destroyVersions(ctx: RequestContext, path: string, versions: readonly number[]): Promise<void>
  /** The path's metadata and every version's state; NOT_FOUND when it is not a KV secret. */
  metadata(ctx: RequestContext, path: string): Promise<KvMetadata>
  /** Vault's LIST: entries directly under `prefix` (`""` or ending in `/`), folders with their `/`. */
  list(ctx: RequestContext, prefix: string): Promise<string[]>
  /** Changes `cas_required` and `custom_metadata`; NOT_FOUND when the path has no KV secret. */
  updateMetadata(
    ctx: RequestContext,
    path: string,
    input: { casRequired?: boolean | undefined; customMetadata?: Record<string, string> | undefined },
  ): Promise<void>
  /** Deletes the secret and every version (the vault service's delete); a missing path is no change. */
  deleteAll(ctx: RequestContext, path: string): Promise<void>
}

/** At most this many entries in one LIST answer. */
export const KV_LIST_LIMIT = 10_000
/** A metadata answer shows at most this many versions, the newest. */
export const KV_METADATA_VERSIONS = 1000

export function createKvService(deps: {
  db: Kysely<DB>
  vault: Pick<VaultService, 'create' | 'addVersion' | 'reveal' | 'destroyVersion' | 'remove'>
  audit: Pick<AuditService, 'append'>
}): KvService {
  const { db, vault, audit } = deps

  /**
   * The KV secret at `path`, or undefined — also when `path` is outside the caller's secret
   * path scope (docs/secret-paths.md), so a scope never tells what exists beyond it; CONFLICT
   * for a secret of that name in scope that is not a KV one (`strict`).
   */
  async function kvSecret(
    trx: Trx,
    ctx: RequestContext,
    path: string,
    strict = false,
  ): Promise<store.SecretRow | undefined> {
    if (!pathAllowed(ctx.principal.secretPaths, path)) return undefined
    const secret = await store.findSecretByName(trx, path)
    if (secret === undefined) return undefined
    if (!isKvSecret(secret.metadata)) {
      if (strict) throw new AppError('CONFLICT', `a secret named ${path} exists and is not a KV secret`)
      return undefined
    }
    return secret
  }

  const record = secretEventRecorder(audit)

  async function markDeleted(
    ctx: RequestContext,
    path: string,
    versions: readonly number[] | undefined,
    deleted: boolean,
  ) {
    await withOrg(db, ctx.orgId, async (trx) => {
      const found = await kvSecret(trx, ctx, path)
      if (found === undefined) return
      const secret = (await store.lockSecret(trx, found.id)) as store.SecretRow
      const changed = await kvStore.setVersionsDeleted(trx, secret.id, versions ?? [secret.current_version], deleted)
      if (changed.length > 0)
        await record(trx, ctx, deleted ? 'secret.version.delete' : 'secret.version.undelete', secret.id, {
          name: secret.name,
          versions: changed,
        })
    })
  }

  return {
    async read(ctx, path, input) {
      const found = await withOrg(db, ctx.orgId, async (trx) => {
        const secret = await kvSecret(trx, ctx, path)
        if (secret === undefined) return undefined
        const version = input.version === undefined || input.version === 0 ? secret.current_version : input.version
        return { secret, row: await store.findVersion(trx, secret.id, version) }
      })
      if (found?.row === undefined) return { found: false }
      const metadata = versionMetadata(found.secret, found.row)
      if (found.row.destroyed_at !== null || found.row.deleted_at !== null) return { found: false, metadata }
      let value
      try {
        value = (await vault.reveal(ctx, found.secret.id, { reason: input.reason, version: found.row.version })).value
      } catch (error) {
        // Deleted or destroyed since the look above: what Vault answers for such a version.
        if (
          isAppError(error) &&
          ['SECRET_VERSION_DELETED', 'SECRET_VERSION_DESTROYED', 'NOT_FOUND'].includes(error.code)
        )
          return { found: false }
        throw error
      }
      const data = parseKvData(value)
      if (data === undefined) throw new Error('a KV secret holds a value that is not the JSON text of an object')
      return { found: true, data, metadata }
    },

    async write(ctx, path, data, cas) {
      const value = canonicalize(data) as string
      let secret = await withOrg(db, ctx.orgId, (trx) => kvSecret(trx, ctx, path, true))
      if (secret === undefined) {
        if (cas !== undefined && cas !== 0) throw casMismatch()
        try {
          const created = await vault.create(ctx, {
            name: path,
            type: 'generic',
            value,
            metadata: { format: KV_FORMAT } satisfies KvSettings,
          })
          return { ...emptyMetadata(created.createdAt), version: 1 }
        } catch (error) {
          // Another write made the path first. With cas 0 ("only if absent") that is a
          // mismatch; without cas, Vault stores this write as the next version.
          if (!(isAppError(error) && error.code === 'CONFLICT')) throw error
          if (cas === 0) throw casMismatch()
          secret = await withOrg(db, ctx.orgId, (trx) => kvSecret(trx, ctx, path, true))
          if (secret === undefined) throw error
        }
      }
      if ((secret.metadata as Partial<KvSettings>).cas_required === true && cas === undefined)
        throw new AppError('VALIDATION_FAILED', 'check-and-set parameter required for this call')
      const updated = await vault.addVersion(ctx, secret.id, value, { expectedVersion: cas })
      return {
        ...emptyMetadata(updated.updatedAt),
        custom_metadata: customMetadataOf(updated.metadata),
        version: updated.currentVersion,
      }
    },

    deleteVersions: (ctx, path, versions) => markDeleted(ctx, path, versions, true),
    undeleteVersions: (ctx, path, versions) => markDeleted(ctx, path, versions, false),

    async destroyVersions(ctx, path, versions) {
      const secret = await withOrg(db, ctx.orgId, (trx) => kvSecret(trx, ctx, path))
      if (secret === undefined) return
      for (const version of [...new Set(versions)].sort((a, b) => a - b)) {
        try {
          await vault.destroyVersion(ctx, secret.id, version)
        } catch (error) {
          // Vault ignores versions that do not exist.
          if (!(isAppError(error) && error.code === 'NOT_FOUND')) throw error
        }
      }
    },

    async metadata(ctx, path) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const secret = await kvSecret(trx, ctx, path)
        if (secret === undefined) throw new AppError('NOT_FOUND', 'no such KV secret')
        const rows = await store.listVersions(trx, secret.id, { limit: KV_METADATA_VERSIONS })
        const live = rows.filter((r) => r.destroyed_at === null)
        const settings = secret.metadata as Partial<KvSettings>
        return {
          cas_required: settings.cas_required === true,
          created_time: secret.created_at.toISOString(),
          current_version: secret.current_version,
          custom_metadata: customMetadataOf(secret.metadata),
          delete_version_after: '0s',
          max_versions: 0,
          oldest_version: live.length === 0 ? 0 : Math.min(...live.map((r) => r.version)),
          updated_time: secret.updated_at.toISOString(),
          versions: Object.fromEntries(
            rows
              .toSorted((a, b) => a.version - b.version)
              .map((r) => [
                String(r.version),
                {
                  created_time: r.created_at.toISOString(),
                  deletion_time: r.deleted_at?.toISOString() ?? '',
                  destroyed: r.destroyed_at !== null,
                },
              ]),
          ),
        }
      })
    },

    async list(ctx, prefix) {
      return withOrg(db, ctx.orgId, (trx) =>
        kvStore.listKvEntriesUnder(trx, prefix, KV_LIST_LIMIT, ctx.principal.secretPaths),
      )
    },

    async updateMetadata(ctx, path, input) {
      await withOrg(db, ctx.orgId, async (trx) => {
        const found = await kvSecret(trx, ctx, path)
        if (found === undefined) throw new AppError('NOT_FOUND', 'no such KV secret')
        const secret = (await store.lockSecret(trx, found.id)) as store.SecretRow
        const settings: KvSettings = { ...(secret.metadata as Partial<KvSettings>), format: KV_FORMAT }
        const changed: string[] = []
        if (input.casRequired !== undefined) {
          settings.cas_required = input.casRequired
          changed.push('cas_required')
        }
        if (input.customMetadata !== undefined) {
          settings.custom_metadata = input.customMetadata
          changed.push('custom_metadata')
        }
        if (changed.length === 0) return
        await kvStore.setSecretMetadata(trx, secret.id, { ...settings })
        // The fields changed, not their values: custom metadata is the caller's text.
        await record(trx, ctx, 'secret.metadata.update', secret.id, { name: secret.name, changed })
      })
    },

    async deleteAll(ctx, path) {
      const secret = await withOrg(db, ctx.orgId, (trx) => kvSecret(trx, ctx, path))
      if (secret === undefined) return
      try {
        await vault.remove(ctx, secret.id)
      } catch (error) {
        if (!(isAppError(error) && error.code === 'NOT_FOUND')) throw error
      }
    },
  }
}

function casMismatch(): AppError {
  return new AppError('CONFLICT', 'check-and-set parameter did not match the current version')
}

function customMetadataOf(metadata: Record<string, unknown>): Record<string, string> | null {
  return (metadata as Partial<KvSettings>).custom_metadata ?? null
}

function emptyMetadata(createdAt: string): Omit<KvVersionMetadata, 'version'> {
  return { created_time: createdAt, custom_metadata: null, deletion_time: '', destroyed: false }
}

function versionMetadata(secret: store.SecretRow, row: store.VersionRow): KvVersionMetadata {
  return {
    created_time: row.created_at.toISOString(),
    custom_metadata: customMetadataOf(secret.metadata),
    deletion_time: row.deleted_at?.toISOString() ?? '',
    destroyed: row.destroyed_at !== null,
    version: row.version,
  }
}
