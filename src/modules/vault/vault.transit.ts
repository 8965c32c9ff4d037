import type { Kysely } from 'kysely'
import { contextAad, DecryptionError, open, seal } from '../../crypto/aead.ts'
import { SealedError } from '../../crypto/providers/provider.ts'
import { BY_NAME, pageOf, toPage, type Page, type PageRequest, inIndexOrder } from '../../db/page.ts'
import type { DB } from '../../db/schema.ts'
import { sqlState, UNIQUE_VIOLATION, withOrg, type Trx } from '../../db/tenant.ts'
import { AppError } from '../../errors.ts'
import { actorOf, type RequestContext } from '../../context.ts'
import type { AuditService } from '../audit/audit.service.ts'
import type { Keyring } from './vault.keyring.ts'

/**
 * Encryption as a service: the host application encrypts its own data with named org
 * keys it never holds. Each key version is a data key wrapped by the org key (so org-key
 * rotation rewraps it like any data key). Ciphertexts are `cst:v<version>:<base64url>`;
 * the AAD binds org, key name, version and the caller's optional context, so a
 * ciphertext only decrypts for the same org, key and context. Every operation is
 * audited with the key and version, never the data.
 */
export interface TransitKeyView {
  name: string
  currentVersion: number
  createdAt: string
  rotatedAt: string | null
}

export interface TransitService {
  create(ctx: RequestContext, name: string): Promise<TransitKeyView>
  /** One key with the creation time of each of its versions (no key material); not audited, like `list`. */
  read(
    ctx: RequestContext,
    name: string,
  ): Promise<TransitKeyView & { versions: { version: number; createdAt: string }[] }>
  /** A page of the org's keys by name (unique in an org: the primary key `(org_id, name)`). */
  list(ctx: RequestContext, page: PageRequest): Promise<Page<TransitKeyView>>
  rotate(ctx: RequestContext, name: string): Promise<TransitKeyView>
  encrypt(
    ctx: RequestContext,
    name: string,
    plaintext: Buffer,
    context?: string,
  ): Promise<{ ciphertext: string; version: number }>
  decrypt(
    ctx: RequestContext,
    name: string,
    ciphertext: string,
    context?: string,
  ): Promise<{ plaintext: Buffer; version: number }>
  rewrap(
    ctx: RequestContext,
    name: string,
    ciphertext: string,
    context?: string,
  ): Promise<{ ciphertext: string; version: number }>
}

const SHAPE = /^cst:v(\d{1,9}):([A-Za-z0-9_-]+)$/
const CACHE_MS = 5 * 60_000

export function createTransitService(deps: {
  db: Kysely<DB>
  keyring: Keyring
  audit: Pick<AuditService, 'append'>
}): TransitService {
  const { db, keyring, audit } = deps
  const cache = new Map<string, { key: Buffer; until: number }>()
  const object = (name: string) => `transit/${name}`
  const dataAad = (orgId: string, name: string, version: number, context: string | undefined) =>
    `${contextAad({ purpose: 'transit', org: orgId, object: name, version })}|context=${context ?? ''}`

  async function keyRow(trx: Trx, name: string, lock = false) {
    let query = trx.selectFrom('transit_keys').selectAll().where('name', '=', name)
    if (lock) query = query.forUpdate()
    const row = await query.executeTakeFirst()
    if (row === undefined) throw new AppError('NOT_FOUND', `no encryption key named ${name}`)
    return row
  }

  async function newVersion(trx: Trx, orgId: string, name: string, version: number): Promise<void> {
    const { dek, wrapped, kekVersion } = await keyring.newDataKey(trx, orgId, object(name), version)
    dek.fill(0)
    await trx
      .insertInto('transit_key_versions')
      .values({ org_id: orgId, name, version, kek_version: kekVersion, wrapped_key: wrapped })
      .execute()
  }

  async function keyFor(trx: Trx, orgId: string, name: string, version: number): Promise<Buffer> {
    // Fail closed: a key cached before a seal or a KMS outage is not used during it.
    keyring.assertUnsealed()
    const cacheKey = `${orgId}:${name}:${version}`
    const cached = cache.get(cacheKey)
    if (cached !== undefined && cached.until > Date.now()) return cached.key
    const row = await trx
      .selectFrom('transit_key_versions')
      .selectAll()
      .where('name', '=', name)
      .where('version', '=', version)
      .executeTakeFirst()
    if (row === undefined) throw new AppError('DECRYPTION_FAILED', `key ${name} has no version ${version}`)
    const key = await keyring.openDataKey(trx, orgId, object(name), version, row.kek_version, row.wrapped_key)
    cache.set(cacheKey, { key, until: Date.now() + CACHE_MS })
    return key
  }

  function parse(ciphertext: string): { version: number; sealed: Buffer } {
    const match = SHAPE.exec(ciphertext)
    if (match === null)
      throw new AppError('VALIDATION_FAILED', 'not a Custodian ciphertext (cst:v<version>:<data>)', {
        errors: [{ path: '/body/ciphertext', message: 'malformed' }],
      })
    return { version: Number(match[1]), sealed: Buffer.from(match[2] as string, 'base64url') }
  }

  async function openWith(trx: Trx, orgId: string, name: string, ciphertext: string, context: string | undefined) {
    const { version, sealed } = parse(ciphertext)
    try {
      return {
        version,
        plaintext: open(await keyFor(trx, orgId, name, version), sealed, dataAad(orgId, name, version, context)),
      }
    } catch (error) {
      if (error instanceof DecryptionError)
        throw new AppError(
          'DECRYPTION_FAILED',
          'the ciphertext does not decrypt with this key and context (altered, another key, org or context)',
        )
      throw error
    }
  }

  async function sealWith(trx: Trx, orgId: string, name: string, plaintext: Buffer, context: string | undefined) {
    const key = await keyRow(trx, name)
    const version = key.current_version
    const sealed = seal(await keyFor(trx, orgId, name, version), plaintext, dataAad(orgId, name, version, context))
    return { ciphertext: `cst:v${version}:${sealed.toString('base64url')}`, version }
  }

  const record = (trx: Trx, ctx: RequestContext, action: string, name: string, details: Record<string, unknown>) =>
    audit.append(trx, {
      orgId: ctx.orgId,
      actor: actorOf(ctx.principal),
      action,
      target: { type: 'transit_key', id: name },
      outcome: 'success',
      details,
      meta: ctx.meta,
    })

  async function run<T>(ctx: RequestContext, fn: (trx: Trx) => Promise<T>): Promise<T> {
    try {
      return await withOrg(db, ctx.orgId, fn)
    } catch (error) {
      if (error instanceof SealedError) throw new AppError('VAULT_SEALED', error.message)
      throw error
    }
  }

  const view = (row: {
    name: string
    current_version: number
    created_at: Date
    rotated_at: Date | null
  }): TransitKeyView => ({
    name: row.name,
    currentVersion: row.current_version,
    createdAt: row.created_at.toISOString(),
    rotatedAt: row.rotated_at?.toISOString() ?? null,
  })

  return {
    async create(ctx, name) {
      try {
        return await run(ctx, async (trx) => {
          const row = await trx
            .insertInto('transit_keys')
            .values({
              org_id: ctx.orgId,
              name,
              current_version: 1,
              created_by: `${ctx.principal.kind}:${ctx.principal.id}`,
              rotated_at: null,
            })
            .returningAll()
            .executeTakeFirstOrThrow()
          await newVersion(trx, ctx.orgId, name, 1)
          await record(trx, ctx, 'transit.key.create', name, { version: 1 })
          return view(row)
        })
      } catch (error) {
        if (sqlState(error) === UNIQUE_VIOLATION)
          throw new AppError('CONFLICT', `an encryption key named ${name} exists`)
        throw error
      }
    },
    async read(ctx, name) {
      return run(ctx, async (trx) => {
        const row = await keyRow(trx, name)
        const versions = await trx
          .selectFrom('transit_key_versions')
          .select(['version', 'created_at'])
          .where('name', '=', name)
          .orderBy('version')
          .execute()
        return {
          ...view(row),
          versions: versions.map((v) => ({ version: v.version, createdAt: v.created_at.toISOString() })),
        }
      })
    },
    async list(ctx, page) {
      const rows = await withOrg(db, ctx.orgId, (trx) =>
        inIndexOrder(trx, () => pageOf(trx.selectFrom('transit_keys').selectAll(), BY_NAME, page).execute()),
      )
      const { items, nextCursor } = toPage(rows, BY_NAME, page.limit)
      return { items: items.map(view), nextCursor }
    },
    async rotate(ctx, name) {
      return run(ctx, async (trx) => {
        const key = await keyRow(trx, name, true)
        const version = key.current_version + 1
        await newVersion(trx, ctx.orgId, name, version)
        const row = await trx
          .updateTable('transit_keys')
          .set({ current_version: version, rotated_at: new Date() })
          .where('name', '=', name)
          .returningAll()
          .executeTakeFirstOrThrow()
        await record(trx, ctx, 'transit.key.rotate', name, { version })
        return view(row)
      })
    },
    async encrypt(ctx, name, plaintext, context) {
      return run(ctx, async (trx) => {
        const result = await sealWith(trx, ctx.orgId, name, plaintext, context)
        await record(trx, ctx, 'transit.encrypt', name, { version: result.version, bytes: plaintext.length })
        return result
      })
    },
    async decrypt(ctx, name, ciphertext, context) {
      return run(ctx, async (trx) => {
        await keyRow(trx, name)
        const opened = await openWith(trx, ctx.orgId, name, ciphertext, context)
        await record(trx, ctx, 'transit.decrypt', name, { version: opened.version, bytes: opened.plaintext.length })
        return opened
      })
    },
    async rewrap(ctx, name, ciphertext, context) {
      return run(ctx, async (trx) => {
        await keyRow(trx, name)
        const opened = await openWith(trx, ctx.orgId, name, ciphertext, context)
        const result = await sealWith(trx, ctx.orgId, name, opened.plaintext, context)
        opened.plaintext.fill(0)
        await record(trx, ctx, 'transit.rewrap', name, { from: opened.version, to: result.version })
        return result
      })
    },
  }
}
