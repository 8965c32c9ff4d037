import { randomUUID } from 'node:crypto'
import type { Kysely } from 'kysely'
import { contextAad, DecryptionError, open, seal } from '../../crypto/aead.ts'
import { SealedError } from '../../crypto/providers/provider.ts'
import type { DB } from '../../db/schema.ts'
import { FOREIGN_KEY_VIOLATION, sqlState, UNIQUE_VIOLATION, queryInOrg, withOrg, type Trx } from '../../db/tenant.ts'
import { AppError, isAppError } from '../../errors.ts'
import { actorOf, type RequestContext } from '../../context.ts'
import type { AuditService } from '../audit/audit.service.ts'
import type { Keyring } from './vault.keyring.ts'
import type { Page, PageRequest } from '../../db/page.ts'
import * as store from './vault.store.ts'
import { actorNames } from '../../db/people.ts'
import type { SecretType } from './vault.tables.ts'
import {
  assertKvValue,
  isKvSecret,
  type DatabaseCredential,
  type RevealView,
  type SecretValueT,
  type SecretView,
  type VersionView,
} from './vault.types.ts'
import { notReadOnlyMessage, type CheckResult } from './vault.connectors.ts'
import { pathAllowed, type SecretPathLayers } from './secret-paths.ts'

/**
 * Secrets: each version's value is encrypted with its own data key (AES-256-GCM, AAD
 * binding org, secret, version and purpose); the data key is wrapped by the org's key,
 * which is wrapped by the root key. Values never leave this service except through
 * `reveal`, which commits its audit event before the value is returned.
 */
export interface VaultService {
  create(
    ctx: RequestContext,
    input: {
      name: string
      type: SecretType
      description?: string | undefined
      value: SecretValueT
      /** Module use (the KV API): non-secret facts kept with a string value, e.g. `{format: 'kv'}`. */
      metadata?: Record<string, unknown> | undefined
    },
  ): Promise<SecretView>
  /** A page by name, of the secrets in the caller's path scope; `prefix` keeps names starting with it. */
  list(ctx: RequestContext, page: PageRequest & { prefix?: string | undefined }): Promise<Page<SecretView>>
  get(ctx: RequestContext, id: string): Promise<SecretView>
  /**
   * The id of the secret named `path`: NOT_FOUND when there is none or it is outside the
   * caller's path scope (the same answer, so a scope never tells what exists beyond it).
   */
  idOf(ctx: RequestContext, path: string): Promise<string>
  /**
   * Stores `value` as the next current version. With `expectedVersion` (a check-and-set, the
   * KV API's `cas`), CONFLICT unless the current version is that one, checked under the lock.
   */
  addVersion(
    ctx: RequestContext,
    id: string,
    value: SecretValueT,
    options?: { expectedVersion?: number | undefined },
  ): Promise<SecretView>
  versions(
    ctx: RequestContext,
    id: string,
    page: { limit: number; before?: number | undefined },
  ): Promise<{ versions: VersionView[]; nextCursor: string | null }>
  reveal(ctx: RequestContext, id: string, input: { reason: string; version?: number | undefined }): Promise<RevealView>
  destroyVersion(ctx: RequestContext, id: string, version: number): Promise<void>
  remove(ctx: RequestContext, id: string): Promise<void>
  /** Decrypts a version inside the vault (module use: connector checks); never leaves it. */
  openValue(trx: Trx, orgId: string, secretId: string, version: number): Promise<SecretValueT>
  /** Encrypts a value as a version that does not become current (module use: rotation). */
  writeVersion(
    trx: Trx,
    orgId: string,
    secretId: string,
    version: number,
    value: SecretValueT,
    createdBy: string,
  ): Promise<void>
  /**
   * Module use (an org's SSO client secret): keeps a string value as a new secret, or as
   * the next current version of `secretId`, in the caller's transaction and audited with
   * the caller's context. Returns the secret's id.
   */
  keepValue(
    trx: Trx,
    ctx: RequestContext,
    input: { secretId?: string | undefined; name: string; description: string; value: string },
  ): Promise<string>
  /**
   * Module use: the current version's value, refused like a reveal while the secret is
   * paused or reported exposed (P1.5). The value never leaves the module that asked.
   */
  openCurrent(trx: Trx, orgId: string, secretId: string): Promise<SecretValueT>
  /**
   * Module use (a signing secret's previous version, kept in use for a while after a
   * rotation): the value of `version`, refused as `openCurrent` refuses (paused, reported
   * exposed: that version or a newer one) and SECRET_VERSION_DESTROYED once destroyed.
   */
  openVersion(trx: Trx, orgId: string, secretId: string, version: number): Promise<SecretValueT>
  /** Module use: the current version number of a secret of the transaction's org; NOT_FOUND if none. */
  currentVersionIn(trx: Trx, secretId: string): Promise<number>
  /** Module use: crypto-erases and deletes a secret in the caller's transaction. */
  removeIn(trx: Trx, ctx: RequestContext, id: string): Promise<void>
  /** Module use: which of `ids` are secrets of the transaction's org (another org's are not). */
  existingIn(trx: Trx, ids: readonly string[]): Promise<Set<string>>
  /**
   * Module use: how many of `ids`, secrets of the transaction's org, are outside the path
   * scope `layers` (a count: the names beyond a caller's scope are not its to read).
   */
  outsideScopeIn(trx: Trx, ids: readonly string[], layers: SecretPathLayers): Promise<number>
}

const VALUE_PURPOSE = 'secret-value'
const BLOCKED = new Set([
  'SECRET_PAUSED',
  'SECRET_EXPOSED',
  'SECRET_VERSION_EXPOSED',
  'CONNECTOR_NOT_READ_ONLY',
  'SIGNING_SECRET_NOT_REVEALED',
])

export function createVaultService(deps: {
  db: Kysely<DB>
  keyring: Keyring
  audit: Pick<AuditService, 'append' | 'recordSeparately'>
  maxValueBytes: number
  /** Runs the read-only connector policy before a database credential is stored. */
  preflight: (orgId: string, type: SecretType, value: SecretValueT) => Promise<CheckResult | undefined>
  readOnlyConnectors: (trx: Trx) => Promise<boolean>
  /** Checks a database credential again (P1.7); its result is recorded on the secret. */
  recheck: (ctx: RequestContext, id: string) => Promise<unknown>
  /** Under the read-only policy, a check older than this is run again before use. */
  checkMaxAgeMs: number
}): VaultService {
  const { db, keyring, audit, maxValueBytes } = deps

  function checkValue(type: SecretType, value: SecretValueT): { plaintext: Buffer; metadata: Record<string, unknown> } {
    const isObject = typeof value === 'object'
    if (type === 'database_credential' && !isObject) {
      throw invalid(
        '/body/value',
        'a database_credential value is an object: host, port, database, user, password, sslmode',
      )
    }
    if (type !== 'database_credential' && isObject) throw invalid('/body/value', `a ${type} value is a string`)
    const plaintext = Buffer.from(JSON.stringify(value), 'utf8')
    if (plaintext.length > maxValueBytes) {
      throw invalid('/body/value', `the value is ${plaintext.length} bytes; at most ${maxValueBytes} bytes are allowed`)
    }
    const metadata = isObject ? (({ password: _secret, ...rest }: DatabaseCredential) => rest)(value) : {}
    return { plaintext, metadata }
  }

  async function encryptVersion(
    trx: Trx,
    orgId: string,
    secretId: string,
    version: number,
    plaintext: Buffer,
    createdBy: string,
  ) {
    const { dek, wrapped, kekVersion } = await keyring.newDataKey(trx, orgId, secretId, version)
    try {
      const ciphertext = seal(
        dek,
        plaintext,
        contextAad({ purpose: VALUE_PURPOSE, org: orgId, object: secretId, version }),
      )
      await store.insertVersion(trx, {
        org_id: orgId,
        secret_id: secretId,
        version,
        kek_version: kekVersion,
        wrapped_dek: wrapped,
        ciphertext,
        created_by: createdBy,
        destroyed_at: null,
      })
    } finally {
      dek.fill(0)
      plaintext.fill(0)
    }
  }

  /**
   * The secret `id` of the transaction's org; NOT_FOUND when absent or, given `ctx`, outside
   * the caller's path scope — every operation that names a secret for a caller passes `ctx`.
   */
  async function existing(trx: Trx, id: string, lock = false, ctx?: RequestContext): Promise<store.SecretRow> {
    const row = lock ? await store.lockSecret(trx, id) : await store.findSecret(trx, id)
    if (row === undefined || (ctx !== undefined && !pathAllowed(ctx.principal.secretPaths, row.name)))
      throw new AppError('NOT_FOUND', 'no such secret')
    return row
  }

  async function openValue(
    trx: Trx,
    orgId: string,
    id: string,
    version: number,
    name = 'secret',
    known?: store.VersionRow,
  ): Promise<SecretValueT> {
    const row = known ?? (await store.findVersion(trx, id, version))
    if (row === undefined) throw new AppError('NOT_FOUND', `${name} has no version ${version}`)
    if (row.destroyed_at !== null || row.wrapped_dek === null || row.ciphertext === null || row.kek_version === null) {
      throw new AppError('SECRET_VERSION_DESTROYED', `version ${version} of ${name} was destroyed`)
    }
    const dek = await keyring.openDataKey(trx, orgId, id, version, row.kek_version, row.wrapped_dek)
    let plaintext: Buffer
    try {
      plaintext = open(dek, row.ciphertext, contextAad({ purpose: VALUE_PURPOSE, org: orgId, object: id, version }))
    } finally {
      dek.fill(0)
    }
    const value = JSON.parse(plaintext.toString('utf8')) as SecretValueT
    plaintext.fill(0)
    return value
  }

  /** Paused, exposed, or a connector the read-only policy does not clear: no use. */
  async function assertUsable(
    trx: Trx,
    secret: store.SecretRow,
    version: number,
    recheckAllowed = false,
  ): Promise<void> {
    if (secret.paused_at !== null) throw new AppError('SECRET_PAUSED', `${secret.name} is paused; resume it to use it`)
    // exposed_version outlives the block on the secret: the version reported exposed and
    // every older one stay refused for good, whatever is stored after them (P1.5).
    if (secret.exposed_version !== null && version <= secret.exposed_version) {
      if (secret.exposed_at !== null)
        throw new AppError(
          'SECRET_EXPOSED',
          `${secret.name} was reported exposed; it stays blocked until a new version replaces it`,
        )
      throw new AppError(
        'SECRET_VERSION_EXPOSED',
        `version ${version} of ${secret.name} is, or is older than, a version reported exposed; it is never revealed again — use the current version`,
      )
    }
    if (secret.type === 'database_credential' && (await deps.readOnlyConnectors(trx))) {
      if (
        recheckAllowed &&
        (secret.last_checked_at === null || Date.now() - secret.last_checked_at.getTime() > deps.checkMaxAgeMs)
      )
        throw new StaleCheck()
      const check = secret.last_check as Partial<CheckResult> | null
      if (check?.reachable !== true || check.canWrite !== false)
        throw new AppError('CONNECTOR_NOT_READ_ONLY', notReadOnlyMessage(secret.name, check))
    }
  }

  const by = (ctx: RequestContext) => `${ctx.principal.kind}:${ctx.principal.id}`
  const record = secretEventRecorder(audit)

  /**
   * What runs on this secret as its credential, in the transaction's org: the features that
   * keep their credential in the vault and name it without a foreign key (webhooks' signing
   * secrets, SIEM destinations' credentials, the org's SSO client secret, consent recipients'
   * signing secrets). They delete it
   * themselves, through `removeIn`, when they let it go; the secrets API may not take it from
   * under them. test/vault/credential-users.test.ts keeps this list complete.
   */
  async function credentialUsers(trx: Trx, id: string): Promise<string[]> {
    const [hooks, destinations, sso, recipients] = await Promise.all([
      trx.selectFrom('webhooks').select('name').where('secret_id', '=', id).execute(),
      trx.selectFrom('siem_destinations').select('name').where('secret_id', '=', id).execute(),
      trx.selectFrom('org_sso_configs').select('issuer').where('client_secret_id', '=', id).execute(),
      trx.selectFrom('consent_recipients').select('name').where('secret_id', '=', id).execute(),
    ])
    return [
      ...hooks.map((h) => `the webhook ${h.name}`),
      ...destinations.map((d) => `the SIEM destination ${d.name}`),
      ...sso.map(() => 'the org’s single sign-on'),
      ...recipients.map((r) => `the consent recipient ${r.name}`),
    ]
  }

  /**
   * The features whose signing secret this is, drawn by Custodian and changed only through
   * their own rotation (webhooks', consent recipients': POST …/secret/rotate — step-up, the
   * permission that manages them, the new value shown once, a 24-hour overlap). The secrets
   * API may not write a version of it: a value chosen by whoever holds secrets:write would
   * sign every delivery from then on.
   */
  async function signingSecretUsers(trx: Trx, id: string): Promise<string[]> {
    const [hooks, recipients] = await Promise.all([
      trx.selectFrom('webhooks').select('name').where('secret_id', '=', id).execute(),
      trx.selectFrom('consent_recipients').select('name').where('secret_id', '=', id).execute(),
    ])
    return [...hooks.map((h) => `the webhook ${h.name}`), ...recipients.map((r) => `the consent recipient ${r.name}`)]
  }

  async function removeIn(trx: Trx, ctx: RequestContext, id: string): Promise<void> {
    const secret = await existing(trx, id, true)
    // A managing credential still named by another credential's rotation policy: deleting
    // it would take those policies with it (ON DELETE CASCADE), unseen and unaudited.
    const managed = await trx
      .selectFrom('secret_rotations as r')
      .innerJoin('secrets as s', 's.id', 'r.secret_id')
      .select('s.name')
      .where('r.managing_secret_id', '=', id)
      .where('r.secret_id', '<>', id)
      .orderBy('s.name')
      .limit(6)
      .execute()
    if (managed.length > 0) {
      // Names only to a caller who may list secrets; a count otherwise.
      const which =
        ctx.principal.permissions.has('secrets:read') &&
        managed.every((r) => pathAllowed(ctx.principal.secretPaths, r.name))
          ? `${managed
              .slice(0, 5)
              .map((r) => r.name)
              .join(', ')}${managed.length > 5 ? ' and more' : ''}`
          : `${managed.length > 5 ? 'more than 5' : managed.length} other credential(s)`
      throw new AppError(
        'CONFLICT',
        `${secret.name} manages the rotation of ${which}: ` +
          'give those rotation policies another managing credential, or remove them, first',
      )
    }
    const destroyed = await store.destroyVersions(trx, id)
    await store.deleteSecret(trx, id)
    await record(trx, ctx, 'secret.delete', id, { name: secret.name, destroyedVersions: destroyed })
  }

  return {
    async create(ctx, input) {
      // A name is a key, not a file path; but a proxy, a client or a person reading `a/../b` may take it for `b`.
      if (input.name.split('/').some((segment) => segment === '.' || segment === '..'))
        throw invalid('/body/name', 'a secret name has no `.` or `..` segments')
      // A name is not a secret: the refusal names the path, as Vault's "permission denied" does not.
      if (!pathAllowed(ctx.principal.secretPaths, input.name))
        throw new AppError('FORBIDDEN', `${input.name} is outside the secret paths you may write`, {
          permission: 'secrets:write',
          secretPaths: [input.name],
        })
      if (isKvSecret(input.metadata ?? {})) assertKvValue(input.value)
      const checked = checkValue(input.type, input.value)
      const { plaintext } = checked
      const metadata = typeof input.value === 'string' ? { ...input.metadata } : checked.metadata
      const check = await deps.preflight(ctx.orgId, input.type, input.value)
      const id = randomUUID()
      try {
        return await withOrg(db, ctx.orgId, async (trx) => {
          const row = await store.insertSecret(trx, {
            id,
            org_id: ctx.orgId,
            name: input.name,
            type: input.type,
            description: input.description ?? '',
            metadata: JSON.stringify(metadata),
            current_version: 1,
            created_by: by(ctx),
            last_revealed_at: null,
            ...(check === undefined
              ? {}
              : { last_check: JSON.stringify(check), last_checked_at: new Date(check.checkedAt) }),
          })
          await encryptVersion(trx, ctx.orgId, id, 1, plaintext, by(ctx))
          await record(trx, ctx, 'secret.create', id, { name: input.name, type: input.type, version: 1 })
          return secretView(row)
        })
      } catch (error) {
        throw translate(error, input.name)
      }
    },

    async list(ctx, page) {
      const { items, nextCursor } = await withOrg(db, ctx.orgId, (trx) =>
        store.listSecrets(trx, page, { paths: ctx.principal.secretPaths, prefix: page.prefix }),
      )
      return { items: items.map(secretView), nextCursor }
    },

    async get(ctx, id) {
      const [row] = await queryInOrg(db, ctx.orgId, (trx) => store.secretQuery(trx, id))
      if (row === undefined || !pathAllowed(ctx.principal.secretPaths, row.name))
        throw new AppError('NOT_FOUND', 'no such secret')
      return secretView(row)
    },

    async idOf(ctx, path) {
      const id = pathAllowed(ctx.principal.secretPaths, path)
        ? await withOrg(db, ctx.orgId, (trx) => store.secretIdByName(trx, path))
        : undefined
      if (id === undefined) throw new AppError('NOT_FOUND', 'no such secret')
      return id
    },

    async addVersion(ctx, id, value, options) {
      try {
        const type = (await withOrg(db, ctx.orgId, (trx) => existing(trx, id, false, ctx))).type
        const check = await deps.preflight(ctx.orgId, type, value)
        return await withOrg(db, ctx.orgId, async (trx) => {
          const secret = await existing(trx, id, true, ctx)
          const signs = await signingSecretUsers(trx, id)
          if (signs.length > 0)
            throw new AppError(
              'CONFLICT',
              `${secret.name} is the signing secret of ${signs.join(' and ')}: rotate it there (POST …/secret/rotate), ` +
                'which draws the new value and keeps the old one signing for 24 hours',
            )
          if (options?.expectedVersion !== undefined && options.expectedVersion !== secret.current_version)
            throw new AppError('CONFLICT', 'check-and-set parameter did not match the current version')
          if (isKvSecret(secret.metadata)) assertKvValue(value)
          const checked = checkValue(secret.type, value)
          const { plaintext } = checked
          // A string value's metadata (a KV secret's format and settings) stays as it was.
          const metadata = typeof value === 'string' ? secret.metadata : checked.metadata
          // After the highest version, pending ones (a rotation in flight) included.
          const version = (await store.maxVersion(trx, id)) + 1
          await encryptVersion(trx, ctx.orgId, id, version, plaintext, by(ctx))
          let row = await store.setCurrentVersion(trx, id, version, JSON.stringify(metadata))
          if (check !== undefined) row = await store.recordCheck(trx, id, check)
          await record(trx, ctx, 'secret.version.create', id, { name: secret.name, version })
          if (secret.exposed_at !== null) {
            // A new version replaces the exposed one (P1.5): the block lifts.
            row = await store.clearExposure(trx, id)
            await record(trx, ctx, 'secret.exposure.cleared', id, {
              name: secret.name,
              exposedVersion: secret.exposed_version,
              newVersion: version,
            })
          }
          return secretView(row)
        })
      } catch (error) {
        throw translate(error)
      }
    },

    async versions(ctx, id, page) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const secret = await existing(trx, id, false, ctx)
        const exposedThrough = secret.exposed_version ?? 0
        const rows = await store.listVersions(trx, id, { limit: page.limit + 1, before: page.before })
        const more = rows.length > page.limit
        const shown = rows.slice(0, page.limit)
        const names = await actorNames(
          trx,
          ctx.orgId,
          shown.map((v) => v.created_by),
        )
        const versions = shown.map((v) => ({
          version: v.version,
          createdAt: v.created_at.toISOString(),
          createdBy: v.created_by,
          createdByName: names[v.created_by] ?? null,
          destroyedAt: v.destroyed_at?.toISOString() ?? null,
          deletedAt: v.deleted_at?.toISOString() ?? null,
          exposed: v.version <= exposedThrough,
        }))
        return { versions, nextCursor: more ? String(versions[versions.length - 1]?.version) : null }
      })
    },

    async reveal(ctx, id, input) {
      // Under a diagnostic access grant (P2.8), only the secrets it names.
      if (ctx.principal.grant !== undefined && !ctx.principal.grant.secretIds.includes(id)) {
        throw new AppError('FORBIDDEN', 'this diagnostic access grant does not cover revealing that secret', {
          permission: 'vault:reveal',
        })
      }
      let target: { name: string; version: number } | undefined
      let rechecked = false
      const attempt = (): Promise<RevealView> =>
        withOrg(db, ctx.orgId, async (trx) => {
          const found = await store.findSecretWithVersion(trx, id, input.version)
          if (found === undefined || !pathAllowed(ctx.principal.secretPaths, found.secret.name))
            throw new AppError('NOT_FOUND', 'no such secret')
          const { secret } = found
          const version = input.version ?? secret.current_version
          target = { name: secret.name, version }
          // Shown once, when Custodian draws it: whoever reads it later could sign
          // deliveries the receiver trusts, without the permission that manages them.
          if (found.signs)
            throw new AppError(
              'SIGNING_SECRET_NOT_REVEALED',
              `${secret.name} is a signing secret (a webhook's or a consent recipient's): its value is shown once, ` +
                'when it is drawn; rotate it there (POST …/secret/rotate) for a new one',
            )
          await assertUsable(trx, secret, version, !rechecked)
          if (found.version === undefined) throw new AppError('NOT_FOUND', `${secret.name} has no version ${version}`)
          if (found.version.deleted_at !== null && found.version.destroyed_at === null)
            throw new AppError(
              'SECRET_VERSION_DELETED',
              `version ${version} of ${secret.name} is deleted; undelete it to reveal it`,
            )
          const value = await openValue(trx, ctx.orgId, id, version, secret.name, found.version)
          // Last use is kept to the minute: no extra write on every reveal.
          if (secret.last_revealed_at === null || Date.now() - secret.last_revealed_at.getTime() > 60_000)
            await store.markRevealed(trx, id)
          // The audit event commits with this transaction, before the value is returned; last,
          // so that it travels with the COMMIT (src/db/tenant.ts, executeWithCommit).
          await record(trx, ctx, 'secret.reveal', id, { name: secret.name, version, reason: input.reason })
          return { id, name: secret.name, type: secret.type, version, value }
        }).catch(async (error: unknown) => {
          // A stale check under the read-only policy: check again (outside the transaction,
          // it connects to the database), then decide on the fresh result (P1.7).
          if (!(error instanceof StaleCheck)) throw error
          rechecked = true
          await deps.recheck(ctx, id)
          return attempt()
        })
      try {
        try {
          return await attempt()
        } catch (error) {
          // A rewrap may have moved this data key to a new org key, and retired the old
          // one, between reading the row and opening it: read it again, once. A stored
          // value that really fails its integrity check fails again.
          if (!(error instanceof DecryptionError)) throw error
          return await attempt()
        }
      } catch (error) {
        if (isAppError(error) && BLOCKED.has(error.code)) {
          await audit.recordSeparately({
            orgId: ctx.orgId,
            actor: actorOf(ctx.principal),
            action: 'secret.reveal',
            target: { type: 'secret', id },
            outcome: 'denied',
            details: { ...target, error: error.code },
            meta: ctx.meta,
          })
        }
        if (error instanceof DecryptionError) {
          // Fail closed, and leave a trace: stored ciphertext or keys do not authenticate.
          await audit.recordSeparately({
            orgId: ctx.orgId,
            actor: actorOf(ctx.principal),
            action: 'secret.reveal',
            target: { type: 'secret', id },
            outcome: 'failure',
            details: { ...target, error: 'integrity_check_failed' },
            meta: ctx.meta,
          })
        }
        throw translate(error)
      }
    },

    async destroyVersion(ctx, id, version) {
      await withOrg(db, ctx.orgId, async (trx) => {
        const secret = await existing(trx, id, true, ctx)
        if ((await store.findVersion(trx, id, version)) === undefined)
          throw new AppError('NOT_FOUND', `secret ${secret.name} has no version ${version}`)
        if (version === secret.current_version) {
          const users = await credentialUsers(trx, id)
          if (users.length > 0)
            throw new AppError(
              'CONFLICT',
              `version ${version} of ${secret.name} is the current credential of ${users.join(' and ')}: ` +
                'destroying it would leave it unable to work; rotate it there first',
            )
        }
        const destroyed = await store.destroyVersions(trx, id, version)
        if (destroyed > 0) await record(trx, ctx, 'secret.version.destroy', id, { name: secret.name, version })
      })
    },

    openValue: (trx, orgId, secretId, version) => openValue(trx, orgId, secretId, version),
    writeVersion: (trx, orgId, secretId, version, value, createdBy) =>
      encryptVersion(trx, orgId, secretId, version, Buffer.from(JSON.stringify(value), 'utf8'), createdBy),

    async remove(ctx, id) {
      try {
        await withOrg(db, ctx.orgId, async (trx) => {
          const secret = await existing(trx, id, true, ctx)
          const users = await credentialUsers(trx, id)
          if (users.length > 0)
            throw new AppError(
              'CONFLICT',
              `${secret.name} is the credential of ${users.join(' and ')}: remove it there (or give it another ` +
                'credential) instead; deleting the secret alone would leave it unable to work',
            )
          await removeIn(trx, ctx, id)
        })
      } catch (error) {
        // A rotation policy naming it as managing credential was set meanwhile (0032).
        if (sqlState(error) === FOREIGN_KEY_VIOLATION)
          throw new AppError('CONFLICT', 'a rotation policy names this credential as its managing credential')
        throw error
      }
    },

    removeIn,

    async existingIn(trx, ids) {
      return new Set(ids.length === 0 ? [] : await store.secretIdsAmong(trx, ids))
    },

    async outsideScopeIn(trx, ids, layers) {
      if (ids.length === 0 || layers.length === 0) return 0
      return (await store.secretNamesAmong(trx, ids)).filter((name) => !pathAllowed(layers, name)).length
    },

    async keepValue(trx, ctx, input) {
      const { plaintext } = checkValue('api_key', input.value)
      try {
        if (input.secretId === undefined) {
          const id = randomUUID()
          await store.insertSecret(trx, {
            id,
            org_id: ctx.orgId,
            name: input.name,
            type: 'api_key',
            description: input.description,
            metadata: '{}',
            current_version: 1,
            created_by: by(ctx),
            last_revealed_at: null,
          })
          await encryptVersion(trx, ctx.orgId, id, 1, plaintext, by(ctx))
          await record(trx, ctx, 'secret.create', id, { name: input.name, type: 'api_key', version: 1 })
          return id
        }
        const secret = await existing(trx, input.secretId, true)
        const version = (await store.maxVersion(trx, secret.id)) + 1
        await encryptVersion(trx, ctx.orgId, secret.id, version, plaintext, by(ctx))
        await store.setCurrentVersion(trx, secret.id, version, '{}')
        await record(trx, ctx, 'secret.version.create', secret.id, { name: secret.name, version })
        if (secret.exposed_at !== null) {
          await store.clearExposure(trx, secret.id)
          await record(trx, ctx, 'secret.exposure.cleared', secret.id, {
            name: secret.name,
            exposedVersion: secret.exposed_version,
            newVersion: version,
          })
        }
        return secret.id
      } catch (error) {
        throw translate(error, input.name)
      }
    },

    async openCurrent(trx, orgId, secretId) {
      const secret = await existing(trx, secretId)
      await assertUsable(trx, secret, secret.current_version)
      try {
        return await openValue(trx, orgId, secretId, secret.current_version, secret.name)
      } catch (error) {
        throw translate(error)
      }
    },

    async openVersion(trx, orgId, secretId, version) {
      const secret = await existing(trx, secretId)
      await assertUsable(trx, secret, version)
      try {
        return await openValue(trx, orgId, secretId, version, secret.name)
      } catch (error) {
        throw translate(error)
      }
    },

    async currentVersionIn(trx, secretId) {
      return (await existing(trx, secretId)).current_version
    },
  }
}

/** Thrown inside the reveal transaction when a connector's last check is too old to trust. */
class StaleCheck extends Error {}

function invalid(path: string, message: string): AppError {
  return new AppError('VALIDATION_FAILED', message, { errors: [{ path, message }] })
}

function translate(error: unknown, name?: string): unknown {
  if (error instanceof SealedError) return new AppError('VAULT_SEALED', error.message)
  if (error instanceof DecryptionError)
    return new AppError(
      'VAULT_INTEGRITY_FAILED',
      'the stored secret or its keys failed their integrity check; nothing was revealed',
      {},
      { cause: error },
    )
  if (sqlState(error) === UNIQUE_VIOLATION && name !== undefined)
    return new AppError('CONFLICT', `a secret named ${name} exists`)
  return error
}

function secretView(row: store.SecretRow): SecretView {
  return {
    id: row.id,
    name: row.name,
    type: row.type,
    description: row.description,
    metadata: row.metadata,
    currentVersion: row.current_version,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    lastRevealedAt: row.last_revealed_at?.toISOString() ?? null,
    paused: row.paused_at !== null,
    exposed: row.exposed_at !== null,
    lastCheckedAt: row.last_checked_at?.toISOString() ?? null,
  }
}

/**
 * Records a successful change of the secret `id` as the request's actor, in the caller's
 * transaction (the vault, its sources and the KV view share it): `record(trx, ctx, action, id, details)`.
 */
export function secretEventRecorder(audit: Pick<AuditService, 'append'>) {
  return (trx: Trx, ctx: RequestContext, action: string, id: string, details: Record<string, unknown>) =>
    audit.append(trx, {
      orgId: ctx.orgId,
      actor: actorOf(ctx.principal),
      action,
      target: { type: 'secret', id },
      outcome: 'success',
      details,
      meta: ctx.meta,
    })
}
