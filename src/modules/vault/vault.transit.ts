import { randomBytes } from 'node:crypto'
import type { Kysely, Selectable } from 'kysely'
import { contextAad, DecryptionError, open, seal } from '../../crypto/aead.ts'
import { SealedError } from '../../crypto/providers/provider.ts'
import { BY_NAME, pageOf, toPage, type Page, type PageRequest, inIndexOrder } from '../../db/page.ts'
import type { DB } from '../../db/schema.ts'
import { sqlState, UNIQUE_VIOLATION, withOrg, type Trx } from '../../db/tenant.ts'
import { AppError } from '../../errors.ts'
import { actorOf, type RequestContext } from '../../context.ts'
import type { AuditService } from '../audit/audit.service.ts'
import type { Keyring } from './vault.keyring.ts'
import type { TransitKeysTable, TransitKeyType } from './vault.tables.ts'
import {
  hmacMatches,
  hmacOf,
  materialOf,
  publicKeyPem,
  SIGNING_TYPES,
  signatureMatches,
  signatureOf,
  type HashAlgorithm,
  type Marshaling,
  type VersionMaterial,
} from './vault.transit.keys.ts'

/**
 * Encryption as a service: the host application encrypts, signs and HMACs its own data
 * with named org keys it never holds. Each key version is one 32-byte secret wrapped by
 * the org key (so org-key rotation rewraps it like any data key); every use's key is
 * derived from it (vault.transit.keys.ts). Ciphertexts are `cst:v<version>:<base64url>`;
 * the AAD binds org, key name, version and the caller's optional context, so a
 * ciphertext only decrypts for the same org, key and context. Every operation is
 * audited with the key, version and counts, never the data, keys, HMACs or signatures.
 */
export interface TransitKeyView {
  name: string
  /** Vault's key type: `aes256-gcm96` encrypts, `ed25519` and `ecdsa-p256` sign; all HMAC. */
  type: TransitKeyType
  currentVersion: number
  /** Ciphertexts, signatures and HMACs of older versions are refused. */
  minDecryptionVersion: number
  /** The oldest version a caller may ask to encrypt, sign or HMAC with; 0: any still decryptable. */
  minEncryptionVersion: number
  /** Always false: Custodian never exports key material. */
  exportable: false
  createdAt: string
  rotatedAt: string | null
}

/** One version: its creation time, and for a signing type its public key (SubjectPublicKeyInfo PEM). */
export interface TransitVersionView {
  version: number
  createdAt: string
  publicKey: string | null
}

/** One item of a verify call: the version its HMAC or signature names, the input and the value. */
export interface VerifyItem {
  version: number
  input: Buffer
  value: Buffer
}

export interface TransitService {
  create(ctx: RequestContext, name: string, type?: TransitKeyType): Promise<TransitKeyView>
  /** One key with each version's creation time and public key (never private material); not audited, like `list`. */
  read(ctx: RequestContext, name: string): Promise<TransitKeyView & { versions: TransitVersionView[] }>
  /** A page of the org's keys by name (unique in an org: the primary key `(org_id, name)`). */
  list(ctx: RequestContext, page: PageRequest): Promise<Page<TransitKeyView>>
  rotate(ctx: RequestContext, name: string): Promise<TransitKeyView>
  /**
   * Vault's key config: the minimum decryption and encryption versions (each at most the
   * newest version; a non-zero minimum encryption version at least the minimum decryption
   * one). `exportable: true` is refused: key material never leaves Custodian.
   */
  configure(
    ctx: RequestContext,
    name: string,
    config: { minDecryptionVersion?: number; minEncryptionVersion?: number; exportable?: boolean },
  ): Promise<TransitKeyView>
  /** Encrypts with the newest version, or `keyVersion` (≥ the minimum encryption and decryption versions). */
  encrypt(
    ctx: RequestContext,
    name: string,
    plaintext: Buffer,
    context?: string,
    keyVersion?: number,
  ): Promise<{ ciphertext: string; version: number }>
  decrypt(
    ctx: RequestContext,
    name: string,
    ciphertext: string,
    context?: string,
  ): Promise<{ plaintext: Buffer; version: number }>
  /** Re-encrypts under the newest version, or `keyVersion` (the same bounds as `encrypt`). */
  rewrap(
    ctx: RequestContext,
    name: string,
    ciphertext: string,
    context?: string,
    keyVersion?: number,
  ): Promise<{ ciphertext: string; version: number }>
  /**
   * A fresh random data key of `bits` (128, 256, 512) encrypted with the key's newest
   * version; its plaintext is returned only when `includePlaintext` (Vault's `plaintext`
   * vs `wrapped` data keys). The caller zeroes `plaintext`.
   */
  dataKey(
    ctx: RequestContext,
    name: string,
    options: { bits: 128 | 256 | 512; includePlaintext: boolean; context?: string },
  ): Promise<{ ciphertext: string; version: number; plaintext?: Buffer }>
  /** HMACs of each input (batch) with one version's HMAC key (every key type has one). */
  hmac(
    ctx: RequestContext,
    name: string,
    options: { algorithm: HashAlgorithm; keyVersion?: number; inputs: Buffer[] },
  ): Promise<{ version: number; hmacs: Buffer[] }>
  /** Signatures of each input (batch): Ed25519, or ECDSA P-256 over `hash` (sha2-256 by default). */
  sign(
    ctx: RequestContext,
    name: string,
    options: { hash: HashAlgorithm; marshaling: Marshaling; keyVersion?: number; inputs: Buffer[] },
  ): Promise<{ version: number; signatures: Buffer[] }>
  /**
   * Checks HMACs or signatures (batch): per item `true`/`false`, or the refusal of that item
   * (a version below the minimum decryption version, or one the key does not have).
   */
  verify(
    ctx: RequestContext,
    name: string,
    options: { kind: 'hmac' | 'signature'; hash: HashAlgorithm; marshaling: Marshaling; items: VerifyItem[] },
  ): Promise<(boolean | AppError)[]>
}

const SHAPE = /^cst:v(\d{1,9}):([A-Za-z0-9_-]+)$/
const CACHE_MS = 5 * 60_000
/** Vault's words for a version below the minimum decryption version. */
const TOO_OLD = 'ciphertext or signature version is disallowed by policy (too old)'

type KeyRow = Selectable<TransitKeysTable>

export function createTransitService(deps: {
  db: Kysely<DB>
  keyring: Keyring
  audit: Pick<AuditService, 'append'>
}): TransitService {
  const { db, keyring, audit } = deps
  const cache = new Map<string, { material: VersionMaterial; until: number }>()
  const object = (name: string) => `transit/${name}`
  const dataAad = (orgId: string, name: string, version: number, context: string | undefined) =>
    `${contextAad({ purpose: 'transit', org: orgId, object: name, version })}|context=${context ?? ''}`

  async function keyRow(trx: Trx, name: string, lock = false): Promise<KeyRow> {
    let query = trx.selectFrom('transit_keys').selectAll().where('name', '=', name)
    if (lock) query = query.forUpdate()
    const row = await query.executeTakeFirst()
    if (row === undefined) throw new AppError('NOT_FOUND', `no encryption key named ${name}`)
    return row
  }

  function assertCan(row: KeyRow, use: 'encryption' | 'signing'): void {
    const can = use === 'signing' ? SIGNING_TYPES.has(row.type) : row.type === 'aes256-gcm96'
    if (!can) throw new AppError('VALIDATION_FAILED', `key type ${row.type} does not support ${use}`)
  }

  /** The version to encrypt, sign or HMAC with: the newest, or one asked for within the key's minimums. */
  function usableVersion(row: KeyRow, requested: number | undefined): number {
    if (requested === undefined || requested === 0) return row.current_version
    if (requested > row.current_version)
      throw new AppError('VALIDATION_FAILED', 'requested version for encryption is higher than the latest key version')
    if (requested < row.min_encryption_version || requested < row.min_decryption_version)
      throw new AppError(
        'TRANSIT_VERSION_TOO_OLD',
        'requested version for encryption is less than the minimum encryption key version',
      )
    return requested
  }

  function assertDecryptable(row: KeyRow, version: number): void {
    if (version < row.min_decryption_version) throw new AppError('TRANSIT_VERSION_TOO_OLD', TOO_OLD)
  }

  async function newVersion(trx: Trx, orgId: string, row: Pick<KeyRow, 'name' | 'type'>, version: number) {
    const { dek, wrapped, kekVersion } = await keyring.newDataKey(trx, orgId, object(row.name), version)
    const material = materialOf(row.type, dek)
    const publicKey = publicKeyPem(material)
    dek.fill(0)
    material.hmacKey.fill(0)
    await trx
      .insertInto('transit_key_versions')
      .values({
        org_id: orgId,
        name: row.name,
        version,
        kek_version: kekVersion,
        wrapped_key: wrapped,
        public_key: publicKey,
      })
      .execute()
  }

  async function materialFor(trx: Trx, orgId: string, row: KeyRow, version: number): Promise<VersionMaterial> {
    // Fail closed: a key cached before a seal or a KMS outage is not used during it.
    keyring.assertUnsealed()
    const cacheKey = `${orgId}:${row.name}:${version}`
    const cached = cache.get(cacheKey)
    if (cached !== undefined && cached.until > Date.now()) return cached.material
    const stored = await trx
      .selectFrom('transit_key_versions')
      .selectAll()
      .where('name', '=', row.name)
      .where('version', '=', version)
      .executeTakeFirst()
    if (stored === undefined) throw new AppError('DECRYPTION_FAILED', `key ${row.name} has no version ${version}`)
    const secret = await keyring.openDataKey(
      trx,
      orgId,
      object(row.name),
      version,
      stored.kek_version,
      stored.wrapped_key,
    )
    const material = materialOf(row.type, secret)
    cache.set(cacheKey, { material, until: Date.now() + CACHE_MS })
    return material
  }

  function parse(ciphertext: string): { version: number; sealed: Buffer } {
    const match = SHAPE.exec(ciphertext)
    if (match === null)
      throw new AppError('VALIDATION_FAILED', 'not a Custodian ciphertext (cst:v<version>:<data>)', {
        errors: [{ path: '/body/ciphertext', message: 'malformed' }],
      })
    return { version: Number(match[1]), sealed: Buffer.from(match[2] as string, 'base64url') }
  }

  async function openWith(trx: Trx, orgId: string, row: KeyRow, ciphertext: string, context: string | undefined) {
    assertCan(row, 'encryption')
    const { version, sealed } = parse(ciphertext)
    assertDecryptable(row, version)
    try {
      const { secret } = await materialFor(trx, orgId, row, version)
      return { version, plaintext: open(secret, sealed, dataAad(orgId, row.name, version, context)) }
    } catch (error) {
      if (error instanceof DecryptionError)
        throw new AppError(
          'DECRYPTION_FAILED',
          'the ciphertext does not decrypt with this key and context (altered, another key, org or context)',
        )
      throw error
    }
  }

  async function sealWith(
    trx: Trx,
    orgId: string,
    row: KeyRow,
    plaintext: Buffer,
    context: string | undefined,
    keyVersion?: number,
  ) {
    assertCan(row, 'encryption')
    const version = usableVersion(row, keyVersion)
    const { secret } = await materialFor(trx, orgId, row, version)
    const sealed = seal(secret, plaintext, dataAad(orgId, row.name, version, context))
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

  const view = (row: KeyRow): TransitKeyView => ({
    name: row.name,
    type: row.type,
    currentVersion: row.current_version,
    minDecryptionVersion: row.min_decryption_version,
    minEncryptionVersion: row.min_encryption_version,
    exportable: false,
    createdAt: row.created_at.toISOString(),
    rotatedAt: row.rotated_at?.toISOString() ?? null,
  })

  return {
    async create(ctx, name, type = 'aes256-gcm96') {
      try {
        return await run(ctx, async (trx) => {
          const row = await trx
            .insertInto('transit_keys')
            .values({
              org_id: ctx.orgId,
              name,
              type,
              current_version: 1,
              created_by: `${ctx.principal.kind}:${ctx.principal.id}`,
              rotated_at: null,
            })
            .returningAll()
            .executeTakeFirstOrThrow()
          await newVersion(trx, ctx.orgId, row, 1)
          await record(trx, ctx, 'transit.key.create', name, { version: 1, type })
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
          .select(['version', 'created_at', 'public_key'])
          .where('name', '=', name)
          .orderBy('version')
          .execute()
        return {
          ...view(row),
          versions: versions.map((v) => ({
            version: v.version,
            createdAt: v.created_at.toISOString(),
            publicKey: v.public_key,
          })),
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
        await newVersion(trx, ctx.orgId, key, version)
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
    async configure(ctx, name, config) {
      if (config.exportable === true)
        throw new AppError('VALIDATION_FAILED', 'export refused: Custodian never exports transit key material')
      return run(ctx, async (trx) => {
        const key = await keyRow(trx, name, true)
        const minDecryption = config.minDecryptionVersion ?? key.min_decryption_version
        const minEncryption = config.minEncryptionVersion ?? key.min_encryption_version
        if (minDecryption < 1 || minDecryption > key.current_version)
          throw new AppError('VALIDATION_FAILED', 'min_decryption_version must be between 1 and the latest version')
        if (minEncryption > key.current_version)
          throw new AppError('VALIDATION_FAILED', 'cannot set min encryption version higher than the latest version')
        if (minEncryption !== 0 && minEncryption < minDecryption)
          throw new AppError(
            'VALIDATION_FAILED',
            'min encryption version should not be less than min decryption version',
          )
        const row = await trx
          .updateTable('transit_keys')
          .set({ min_decryption_version: minDecryption, min_encryption_version: minEncryption })
          .where('name', '=', name)
          .returningAll()
          .executeTakeFirstOrThrow()
        await record(trx, ctx, 'transit.key.configure', name, {
          minDecryptionVersion: minDecryption,
          minEncryptionVersion: minEncryption,
        })
        return view(row)
      })
    },
    async encrypt(ctx, name, plaintext, context, keyVersion) {
      return run(ctx, async (trx) => {
        const result = await sealWith(trx, ctx.orgId, await keyRow(trx, name), plaintext, context, keyVersion)
        await record(trx, ctx, 'transit.encrypt', name, { version: result.version, bytes: plaintext.length })
        return result
      })
    },
    async decrypt(ctx, name, ciphertext, context) {
      return run(ctx, async (trx) => {
        const opened = await openWith(trx, ctx.orgId, await keyRow(trx, name), ciphertext, context)
        await record(trx, ctx, 'transit.decrypt', name, { version: opened.version, bytes: opened.plaintext.length })
        return opened
      })
    },
    async rewrap(ctx, name, ciphertext, context, keyVersion) {
      return run(ctx, async (trx) => {
        const key = await keyRow(trx, name)
        const opened = await openWith(trx, ctx.orgId, key, ciphertext, context)
        const result = await sealWith(trx, ctx.orgId, key, opened.plaintext, context, keyVersion)
        opened.plaintext.fill(0)
        await record(trx, ctx, 'transit.rewrap', name, { from: opened.version, to: result.version })
        return result
      })
    },
    async dataKey(ctx, name, options) {
      return run(ctx, async (trx) => {
        const plaintext = randomBytes(options.bits / 8)
        try {
          const result = await sealWith(trx, ctx.orgId, await keyRow(trx, name), plaintext, options.context)
          await record(trx, ctx, 'transit.datakey', name, {
            version: result.version,
            bits: options.bits,
            plaintextReturned: options.includePlaintext,
          })
          if (options.includePlaintext) return { ...result, plaintext: Buffer.from(plaintext) }
          return result
        } finally {
          plaintext.fill(0)
        }
      })
    },
    async hmac(ctx, name, options) {
      return run(ctx, async (trx) => {
        const key = await keyRow(trx, name)
        const version = usableVersion(key, options.keyVersion)
        const material = await materialFor(trx, ctx.orgId, key, version)
        const hmacs = options.inputs.map((input) => hmacOf(material, options.algorithm, input))
        await record(trx, ctx, 'transit.hmac', name, {
          version,
          algorithm: options.algorithm,
          count: options.inputs.length,
        })
        return { version, hmacs }
      })
    },
    async sign(ctx, name, options) {
      return run(ctx, async (trx) => {
        const key = await keyRow(trx, name)
        assertCan(key, 'signing')
        const version = usableVersion(key, options.keyVersion)
        const material = await materialFor(trx, ctx.orgId, key, version)
        const signatures = options.inputs.map((input) => signatureOf(key.type, material, options, input))
        await record(trx, ctx, 'transit.sign', name, {
          version,
          ...(key.type === 'ecdsa-p256' ? { hashAlgorithm: options.hash, marshaling: options.marshaling } : {}),
          count: options.inputs.length,
        })
        return { version, signatures }
      })
    },
    async verify(ctx, name, options) {
      return run(ctx, async (trx) => {
        const key = await keyRow(trx, name)
        if (options.kind === 'signature') assertCan(key, 'signing')
        const results: (boolean | AppError)[] = []
        for (const item of options.items) {
          if (item.version < key.min_decryption_version) {
            results.push(new AppError('TRANSIT_VERSION_TOO_OLD', TOO_OLD))
            continue
          }
          if (item.version > key.current_version) {
            results.push(new AppError('VALIDATION_FAILED', `key ${name} has no version ${item.version}`))
            continue
          }
          const material = await materialFor(trx, ctx.orgId, key, item.version)
          results.push(
            options.kind === 'hmac'
              ? hmacMatches(material, options.hash, item.input, item.value)
              : signatureMatches(key.type, material, options, item.input, item.value),
          )
        }
        await record(trx, ctx, 'transit.verify', name, {
          kind: options.kind,
          count: options.items.length,
          valid: results.filter((r) => r === true).length,
        })
        return results
      })
    },
  }
}
