import { sql, type Kysely } from 'kysely'
import type { DB } from '../../db/schema.ts'
import { withOrg, withOwner, type Trx, orgsNotServed } from '../../db/tenant.ts'
import { SealedError, type RootKeyProvider } from '../../crypto/providers/provider.ts'
import type { ShredRing } from '../../crypto/shred-ring.ts'
import { AppError } from '../../errors.ts'
import { periodic, type Periodic } from '../../jobs/periodic.ts'
import type { AuditService } from '../audit/audit.service.ts'
import type { AuditActor, RequestMeta } from '../audit/audit.types.ts'
import type { Keyring } from './vault.keyring.ts'

export interface KeyStatus {
  activeVersion: number | null
  versions: {
    version: number
    state: 'active' | 'retiring' | 'retired'
    dataKeys: number
    createdAt: string
    retiredAt: string | null
  }[]
  /** Data keys still wrapped by a retiring version. */
  pending: number
}

/**
 * Org-key rotation. Rotating makes a new active version at once: new data keys use it.
 * The rewrap job then moves existing data keys to it a batch per transaction (rows
 * locked with SKIP LOCKED, so several processes share the work), which is why a crash or
 * kill mid-way loses nothing: every row is wrapped by either the old or the new version,
 * both present until the old one wraps nothing. Then it is retired and its wrapped bytes
 * erased, which makes whatever it alone could open — destroyed versions in old backups —
 * unrecoverable.
 */
export interface RotationService {
  rotate(orgId: string, actor: AuditActor, meta: RequestMeta): Promise<KeyStatus>
  status(orgId: string): Promise<KeyStatus>
  /** Rewraps up to `batchSize` data keys of one org; retires versions left with nothing. */
  rewrapBatch(orgId: string): Promise<{ rewrapped: number; remaining: number }>
  orgsToRewrap(): Promise<string[]>
  /** Re-wraps every org key under a new root key (owner transaction); returns how many. */
  rewrapOrgKeysUnder(target: RootKeyProvider): Promise<number>
  /** The background job: every interval, a batch per org that has a retiring key. */
  worker: Periodic
}

const SYSTEM: AuditActor = { type: 'system', id: 'rewrap' }
const NO_REQUEST: RequestMeta = { requestId: null, ip: null, userAgent: null }

/**
 * Every table of data keys wrapped by an org key: each must be rewrapped before an old
 * org-key version can be retired (and erased). A new kind of data key is one more entry.
 */
interface WrappedKeys {
  table: string
  column: string
  ids: string[]
  /** Extra columns `object` needs. */
  extra?: string[]
  /** SQL condition, on the table under `alias`, for keys still alive (destroyed or shredded ones have no wrapped bytes). */
  live: (alias: string) => string
  object: (row: Record<string, unknown>) => string
  version: (row: Record<string, unknown>) => number
  /** A further layer around the org-key wrapping (subject keys: the shred ring). */
  unpack?: (row: Record<string, unknown>, stored: Uint8Array) => Uint8Array
  pack?: (row: Record<string, unknown>, wrapped: Buffer) => Buffer
}

function wrappedKeyTables(ring: ShredRing): WrappedKeys[] {
  const ringed = (r: Record<string, unknown>) => r.ring_epoch !== null && r.ring_epoch !== undefined
  const subjectObject = (r: Record<string, unknown>) => `subject/${String(r.key_id)}`
  return [
    {
      table: 'secret_versions',
      column: 'wrapped_dek',
      ids: ['secret_id', 'version'],
      live: (t) => `${t}.destroyed_at IS NULL`,
      object: (r) => String(r.secret_id),
      version: (r) => Number(r.version),
    },
    {
      table: 'transit_key_versions',
      column: 'wrapped_key',
      ids: ['name', 'version'],
      live: () => 'true',
      object: (r) => `transit/${String(r.name)}`,
      version: (r) => Number(r.version),
    },
    {
      table: 'subject_keys',
      column: 'wrapped_key',
      ids: ['subject_ref'],
      extra: ['key_id', 'ring_bucket', 'ring_epoch'],
      live: (t) => `${t}.shredded_at IS NULL`,
      object: subjectObject,
      version: () => 1,
      unpack: (r, stored) =>
        ringed(r) ? ring.open(Number(r.ring_bucket), Number(r.ring_epoch), stored, subjectObject(r)) : stored,
      pack: (r, wrapped) =>
        ringed(r) ? ring.seal(Number(r.ring_bucket), Number(r.ring_epoch), wrapped, subjectObject(r)) : wrapped,
    },
    {
      table: 'webhook_deliveries',
      column: 'wrapped_key',
      ids: ['id'],
      live: (t) => `${t}.wrapped_key IS NOT NULL`,
      object: (r) => `webhook-delivery/${String(r.id)}`,
      version: () => 1,
    },
    {
      table: 'vulnerability_reports',
      column: 'dek_wrapped',
      ids: ['id'],
      live: () => 'true',
      object: (r) => `vulnerability-report/${String(r.id)}`,
      version: () => 1,
    },
  ]
}

export function createRotationService(deps: {
  db: Kysely<DB>
  keyring: Keyring
  provider: RootKeyProvider
  audit: Pick<AuditService, 'append'>
  batchSize: number
  intervalMs: number
  log: { error(obj: object, msg: string): void }
  /** Subject keys are sealed by the shred ring around their org-key wrapping. */
  shredRing: ShredRing
}): RotationService {
  const { db, keyring, audit, batchSize } = deps
  const WRAPPED = wrappedKeyTables(deps.shredRing)

  async function statusIn(trx: Trx): Promise<KeyStatus> {
    const keys = await trx
      .selectFrom('org_keys')
      .select(['version', 'state', 'created_at', 'retired_at'])
      .orderBy('version', 'desc')
      .execute()
    // Kept at write time (migration 0024): one row per version and stripe, whatever the
    // number of objects under the org's keys.
    const counts = await trx
      .selectFrom('org_key_data_keys')
      .select(['version', sql<string>`sum(data_keys)`.as('n')])
      .groupBy('version')
      .execute()
    const byVersion = new Map(counts.map((c) => [c.version, Number(c.n)]))
    const versions = keys.map((k) => ({
      version: k.version,
      state: k.state,
      dataKeys: byVersion.get(k.version) ?? 0,
      createdAt: k.created_at.toISOString(),
      retiredAt: k.retired_at?.toISOString() ?? null,
    }))
    return {
      activeVersion: versions.find((v) => v.state === 'active')?.version ?? null,
      versions,
      pending: versions.filter((v) => v.state === 'retiring').reduce((sum, v) => sum + v.dataKeys, 0),
    }
  }

  /** Moves up to a batch of one table's data keys from retiring org-key versions to the active one. */
  async function rewrapTable(trx: Trx, orgId: string, w: WrappedKeys, retiring: number[]): Promise<number> {
    const rows = await sql<Record<string, unknown> & { kek_version: number; wrapped: Uint8Array }>`
      SELECT ${sql.join([...w.ids, ...(w.extra ?? [])].map((c) => sql.ref(`x.${c}`)))}, x.kek_version, ${sql.ref(`x.${w.column}`)} AS wrapped
        FROM ${sql.table(w.table)} x
       WHERE x.kek_version = ANY(${retiring}::int[]) AND ${sql.raw(w.live('x'))}
       ORDER BY ${sql.join(w.ids.map((c) => sql.ref(`x.${c}`)))}
       LIMIT ${batchSize} FOR UPDATE SKIP LOCKED`.execute(trx)
    for (const row of rows.rows) {
      const inner = w.unpack === undefined ? row.wrapped : w.unpack(row, row.wrapped)
      const next = await keyring.rewrapDataKey(trx, orgId, w.object(row), w.version(row), row.kek_version, inner)
      const stored = w.pack === undefined ? next.wrapped : w.pack(row, next.wrapped)
      await sql`UPDATE ${sql.table(w.table)} SET kek_version = ${next.kekVersion}, ${sql.ref(w.column)} = ${stored}
                 WHERE ${sql.join(
                   w.ids.map((c) => sql`${sql.ref(c)} = ${row[c]}`),
                   sql` AND `,
                 )}`.execute(trx)
    }
    return rows.rows.length
  }

  async function rewrapBatch(orgId: string) {
    return withOrg(db, orgId, async (trx) => {
      const retiring = (
        await trx.selectFrom('org_keys').select('version').where('state', '=', 'retiring').execute()
      ).map((r) => r.version)
      if (retiring.length === 0) return { rewrapped: 0, remaining: 0 }
      let rewrapped = 0
      for (const w of WRAPPED) rewrapped += await rewrapTable(trx, orgId, w, retiring)
      const left = await trx
        .selectFrom('org_key_data_keys')
        .select(sql<string>`coalesce(sum(data_keys), 0)`.as('n'))
        .where('version', 'in', retiring)
        .executeTakeFirst()
      const remaining = Number(left?.n ?? 0)
      if (remaining === 0) {
        const retired = await sql<{ version: number }>`
          UPDATE org_keys SET state = 'retired', wrapped_key = NULL, retired_at = now()
           WHERE state = 'retiring'
             AND ${sql.join(
               WRAPPED.map(
                 (w) =>
                   sql`NOT EXISTS (SELECT 1 FROM ${sql.table(w.table)} x WHERE x.kek_version = org_keys.version AND ${sql.raw(w.live('x'))})`,
               ),
               sql` AND `,
             )}
          RETURNING version`.execute(trx)
        for (const { version } of retired.rows) {
          // Other processes drop it from memory within their key cache's lifetime (5 min).
          keyring.forgetVersion(orgId, version)
          await audit.append(trx, {
            orgId,
            actor: SYSTEM,
            action: 'org_key.retire',
            target: { type: 'org_key', id: String(version) },
            outcome: 'success',
            details: { version },
            meta: NO_REQUEST,
          })
        }
      }
      return { rewrapped, remaining }
    })
  }

  async function orgsToRewrap(): Promise<string[]> {
    const refused = orgsNotServed(db) // P8.1: a refused org's keys are not rewrapped meanwhile
    const rows = await db
      .selectFrom('org_keys')
      .select('org_id')
      .distinct()
      .where('state', '=', 'retiring')
      .$if(refused.length > 0, (q) => q.where('org_id', 'not in', refused))
      .execute()
    return rows.map((r) => r.org_id)
  }

  return {
    async rotate(orgId, actor, meta) {
      try {
        return await withOrg(db, orgId, async (trx) => {
          const { version, previous } = await keyring.rotate(trx, orgId)
          await audit.append(trx, {
            orgId,
            actor,
            action: 'org_key.rotate',
            target: { type: 'org_key', id: String(version) },
            outcome: 'success',
            details: { version, previous },
            meta,
          })
          return statusIn(trx)
        })
      } catch (error) {
        if (error instanceof SealedError) throw new AppError('VAULT_SEALED', error.message)
        throw error
      }
    },
    status: (orgId) => withOrg(db, orgId, statusIn),
    rewrapBatch,
    orgsToRewrap,
    async rewrapOrgKeysUnder(target) {
      return withOwner(db, (trx) => keyring.rewrapAllUnder(trx, target))
    },
    worker: periodic(
      'org-key rewrap',
      deps.intervalMs,
      async () => {
        if (deps.provider.sealed()) return
        for (const orgId of await orgsToRewrap()) await rewrapBatch(orgId)
      },
      deps.log,
    ),
  }
}
