import type { Kysely } from 'kysely'
import type { DB } from '../../db/schema.ts'
import type { Page, PageRequest } from '../../db/page.ts'
import { withOrg, type Trx, orgsNotServed } from '../../db/tenant.ts'
import { AppError } from '../../errors.ts'
import { actorOf, type RequestContext } from '../../context.ts'
import type { AuditService } from '../audit/audit.service.ts'
import type { AuditActor, RequestMeta } from '../audit/audit.types.ts'
import { enqueue, membersWithRoles } from '../notify/notify.service.ts'
import type { DestinationGuard } from '../../http/outbound.ts'
import { checkCredential, notReadOnlyMessage, type CheckResult } from './vault.connectors.ts'
import { periodic, type Periodic } from '../../jobs/periodic.ts'
import * as store from './vault.store.ts'
import type { SecretType } from './vault.tables.ts'
import type { DatabaseCredential, SecretValueT } from './vault.types.ts'
import { secretEventRecorder, type VaultService } from './vault.service.ts'
import { pathAllowed, type SecretPathLayers } from './secret-paths.ts'

export interface DataSourceView {
  id: string
  name: string
  host: unknown
  port: unknown
  database: unknown
  user: unknown
  status: 'active' | 'paused' | 'exposed'
  /** Paused by an admin, also while `status` shows `exposed`. */
  paused: boolean
  currentVersion: number
  lastCheck: { at: string; reachable: boolean; canWrite: boolean | null; tls: boolean | null } | null
  lastUsedAt: string | null
}

/**
 * Database credentials as connected data sources (P1.7, P10.3) and exposure (P1.5):
 * what a credential can do, the org's read-only policy, pause and resume, and the
 * "reported exposed" block that only a new version lifts.
 */
export interface SourcesService {
  readOnlyConnectors(trx: Trx): Promise<boolean>
  /** With the read-only policy on, a database credential is checked before it is stored. */
  preflight(orgId: string, type: SecretType, value: SecretValueT): Promise<CheckResult | undefined>
  getPolicy(ctx: RequestContext): Promise<{ readOnlyConnectors: boolean }>
  setPolicy(ctx: RequestContext, policy: { readOnlyConnectors: boolean }): Promise<{ readOnlyConnectors: boolean }>
  check(ctx: RequestContext, id: string): Promise<CheckResult>
  /**
   * Checks every database credential whose last check is older than `checkIntervalMs`
   * again, as the system (P1.7): a role that gains a write privilege after it was stored
   * is found without anyone using it. Two processes may check one credential twice; the
   * later result wins, which is harmless.
   */
  worker: Periodic
  setPaused(ctx: RequestContext, id: string, paused: boolean): Promise<void>
  reportExposed(ctx: RequestContext, id: string, reason: string): Promise<{ notified: number; rotated: boolean }>
  list(ctx: RequestContext, page: PageRequest): Promise<Page<DataSourceView>>
}

const CHECKER: AuditActor = { type: 'system', id: 'connector-check' }
const NO_REQUEST: RequestMeta = { requestId: null, ip: null, userAgent: null }

export function createSourcesService(deps: {
  db: Kysely<DB>
  vault: () => Pick<VaultService, 'openValue'>
  audit: Pick<AuditService, 'append'>
  check?: typeof checkCredential
  /** Where a credential may connect (the outbound guard, K10). */
  guard: Pick<DestinationGuard, 'resolveHost'>
  /** Rotates a database credential at once when its policy says so (set after construction). */
  rotateOnExposure?: () => (orgId: string, secretId: string, actor: AuditActor, meta: RequestMeta) => Promise<boolean>
  log: { error(obj: object, msg: string): void }
  checkIntervalMs: number
}): SourcesService {
  const { db, audit } = deps
  const runCheck = deps.check ?? checkCredential

  async function readOnlyConnectors(trx: Trx): Promise<boolean> {
    const row = await trx.selectFrom('vault_policies').select('read_only_connectors').executeTakeFirst()
    return row?.read_only_connectors === true
  }

  /** The secret `id`; NOT_FOUND when absent or outside `paths` (the caller's path scope). */
  async function secretOf(trx: Trx, id: string, paths: SecretPathLayers): Promise<store.SecretRow> {
    const row = await store.findSecret(trx, id)
    if (row === undefined || !pathAllowed(paths, row.name)) throw new AppError('NOT_FOUND', 'no such secret')
    return row
  }

  const record = secretEventRecorder(audit)

  async function checkAs(
    orgId: string,
    id: string,
    actor: AuditActor,
    meta: RequestMeta,
    paths: SecretPathLayers,
  ): Promise<CheckResult> {
    const append = (trx: Trx, action: string, details: Record<string, unknown>) =>
      audit.append(trx, { orgId, actor, action, target: { type: 'secret', id }, outcome: 'success', details, meta })
    // Decrypting is a use of the secret: it is recorded before the connection is made.
    const { value, name } = await withOrg(db, orgId, async (trx) => {
      const secret = await secretOf(trx, id, paths)
      if (secret.type !== 'database_credential')
        throw new AppError('CONFLICT', `${secret.name} is not a database credential`)
      const opened = await deps.vault().openValue(trx, orgId, id, secret.current_version)
      await append(trx, 'secret.use', { name: secret.name, version: secret.current_version, purpose: 'check' })
      return { value: opened as DatabaseCredential, name: secret.name }
    })
    const result = await runCheck(value, deps.guard)
    await withOrg(db, orgId, async (trx) => {
      await store.recordCheck(trx, id, result)
      await append(trx, 'secret.check', {
        name,
        reachable: result.reachable,
        canWrite: result.canWrite ?? null,
        writeReasons: result.writeReasons ?? null,
        superuser: result.superuser ?? null,
        role: result.role ?? null,
        tls: result.tls ?? null,
      })
    })
    return result
  }

  return {
    readOnlyConnectors,

    async preflight(orgId, type, value) {
      if (type !== 'database_credential' || typeof value !== 'object') return undefined
      if (!(await withOrg(db, orgId, readOnlyConnectors))) return undefined
      const result = await runCheck(value, deps.guard)
      if (!result.reachable || result.canWrite !== false)
        throw new AppError('CONNECTOR_NOT_READ_ONLY', notReadOnlyMessage(undefined, result))
      return result
    },

    async getPolicy(ctx) {
      return { readOnlyConnectors: await withOrg(db, ctx.orgId, readOnlyConnectors) }
    },

    async setPolicy(ctx, policy) {
      return withOrg(db, ctx.orgId, async (trx) => {
        await trx
          .insertInto('vault_policies')
          .values({
            org_id: ctx.orgId,
            read_only_connectors: policy.readOnlyConnectors,
            updated_by: `${ctx.principal.kind}:${ctx.principal.id}`,
          })
          .onConflict((oc) =>
            oc.column('org_id').doUpdateSet({
              read_only_connectors: policy.readOnlyConnectors,
              updated_at: new Date(),
              updated_by: `${ctx.principal.kind}:${ctx.principal.id}`,
            }),
          )
          .execute()
        await audit.append(trx, {
          orgId: ctx.orgId,
          actor: actorOf(ctx.principal),
          action: 'vault.policy.update',
          target: { type: 'vault_policy', id: ctx.orgId },
          outcome: 'success',
          details: policy,
          meta: ctx.meta,
        })
        return policy
      })
    },

    check: (ctx, id) => checkAs(ctx.orgId, id, actorOf(ctx.principal), ctx.meta, ctx.principal.secretPaths),

    worker: periodic(
      'database credential check',
      deps.checkIntervalMs,
      async () => {
        // The table owner reads across orgs here, as the other schedulers do; each check runs in its org
        // (P8.1: none in a refused org).
        const refused = orgsNotServed(db)
        const due = await db
          .selectFrom('secrets')
          .select(['org_id', 'id'])
          .$if(refused.length > 0, (q) => q.where('org_id', 'not in', refused))
          .where('type', '=', 'database_credential')
          .where((eb) =>
            eb.or([
              eb('last_checked_at', 'is', null),
              eb('last_checked_at', '<', new Date(Date.now() - deps.checkIntervalMs)),
            ]),
          )
          .orderBy('last_checked_at', (ob) => ob.asc().nullsFirst())
          .limit(100)
          .execute()
        for (const row of due) {
          await checkAs(row.org_id, row.id, CHECKER, NO_REQUEST, []).catch((error: unknown) =>
            deps.log.error({ err: error, secretId: row.id }, 'scheduled credential check failed'),
          )
        }
      },
      deps.log,
    ),

    async setPaused(ctx, id, paused) {
      await withOrg(db, ctx.orgId, async (trx) => {
        const secret = await secretOf(trx, id, ctx.principal.secretPaths)
        await store.setPaused(trx, id, paused)
        await record(trx, ctx, paused ? 'secret.pause' : 'secret.resume', id, { name: secret.name })
      })
    },

    async reportExposed(ctx, id, reason) {
      const reported = await withOrg(db, ctx.orgId, async (trx) => {
        const secret = await secretOf(trx, id, ctx.principal.secretPaths)
        await store.markExposed(trx, id, secret.current_version)
        const owner = /^user:(.+)$/.exec(secret.created_by)?.[1]
        const recipients = [
          ...(owner === undefined ? [] : [owner]),
          ...(await membersWithRoles(trx, ['owner', 'admin'])),
        ]
        const notified = await enqueue(trx, recipients, {
          orgId: ctx.orgId,
          kind: 'secret.exposed',
          subject: `Secret "${secret.name}" was reported exposed`,
          body: `The secret "${secret.name}" (version ${secret.current_version}) was reported exposed and is blocked. Regenerate it at its source and store the new value as a new version in Custodian; the block lifts then. Custodian will never ask you for the value.`,
          data: { secretId: id, name: secret.name, version: secret.current_version },
        })
        await record(trx, ctx, 'secret.exposed', id, {
          name: secret.name,
          version: secret.current_version,
          reason,
          notified,
        })
        return { notified }
      })
      // The block is committed first; rotating at once is a bonus that may fail on its own.
      let rotated = false
      try {
        rotated = (await deps.rotateOnExposure?.()(ctx.orgId, id, actorOf(ctx.principal), ctx.meta)) ?? false
      } catch (error) {
        deps.log.error({ err: error, secretId: id }, 'rotation on exposure failed; the secret stays blocked')
      }
      return { ...reported, rotated }
    },

    async list(ctx, page) {
      const { items, nextCursor } = await withOrg(db, ctx.orgId, (trx) =>
        store.listSecrets(trx, page, { paths: ctx.principal.secretPaths, type: 'database_credential' }),
      )
      return {
        nextCursor,
        items: items.map((row) => {
          const check = row.last_check as Partial<CheckResult> | null
          const meta = row.metadata
          return {
            id: row.id,
            name: row.name,
            host: meta.host,
            port: meta.port,
            database: meta.database,
            user: meta.user,
            status: row.exposed_at !== null ? 'exposed' : row.paused_at !== null ? 'paused' : 'active',
            paused: row.paused_at !== null,
            currentVersion: row.current_version,
            lastCheck:
              row.last_checked_at === null
                ? null
                : {
                    at: row.last_checked_at.toISOString(),
                    reachable: check?.reachable === true,
                    canWrite: check?.canWrite ?? null,
                    tls: check?.tls ?? null,
                  },
            lastUsedAt: row.last_revealed_at?.toISOString() ?? null,
          }
        }),
      }
    },
  }
}
