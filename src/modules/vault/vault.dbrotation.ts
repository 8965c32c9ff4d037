import { randomBytes } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import pg from 'pg'
import { scramVerifier } from '../../crypto/scram.ts'
import type { DB } from '../../db/schema.ts'
import { withOrg, type Trx, orgsNotServed } from '../../db/tenant.ts'
import { absent, AppError } from '../../errors.ts'
import { periodic, type Periodic } from '../../jobs/periodic.ts'
import type { AuditService } from '../audit/audit.service.ts'
import type { AuditActor, RequestMeta } from '../audit/audit.types.ts'
import type { DestinationGuard } from '../../http/outbound.ts'
import { connectionTarget } from './vault.connectors.ts'
import type { VaultService } from './vault.service.ts'
import * as store from './vault.store.ts'
import type { DatabaseCredential } from './vault.types.ts'
import { pathAllowed, type SecretPathLayers } from './secret-paths.ts'

/**
 * Automatic rotation of PostgreSQL credentials (P1.6). A rotation never leaves the
 * vault and the database disagreeing for good:
 *
 *   1. the new password is stored as a *pending* version (not current) — committed;
 *   2. the role's password is changed through the managing credential, sent as a SCRAM
 *      verifier so the plaintext never reaches the server (or its statement log);
 *   3. the new password must connect;
 *   4. the pending version becomes current — committed with its audit event.
 *
 * If 2 or 3 fail, the old password is put back and the pending version destroyed. If the
 * process dies between 2 and 4, the next attempt finds the rotation `pending`, tries the
 * pending password (and promotes it if it connects) or else the current one (and
 * discards the pending version). The old version stays current until the new one is
 * proven.
 */
export interface RotationPolicyView {
  secretId: string
  managingSecretId: string
  intervalHours: number
  rotateOnExposure: boolean
  nextDueAt: string
  lastRotatedAt: string | null
  lastStatus: string | null
  lastError: string | null
  failures: number
}

/**
 * Rotation of database credentials (P1.6). The methods a caller reaches take its path scope
 * (`paths`, the principal's `secretPaths`): a secret, or a managing credential, outside it is
 * NOT_FOUND, as everywhere in the vault.
 */
export interface DbRotationService {
  configure(
    orgId: string,
    paths: SecretPathLayers,
    secretId: string,
    input: { managingSecretId: string; intervalHours: number; rotateOnExposure: boolean },
    actor: AuditActor,
    meta: RequestMeta,
  ): Promise<RotationPolicyView>
  get(orgId: string, paths: SecretPathLayers, secretId: string): Promise<RotationPolicyView>
  remove(orgId: string, paths: SecretPathLayers, secretId: string, actor: AuditActor, meta: RequestMeta): Promise<void>
  rotateNow(
    orgId: string,
    paths: SecretPathLayers,
    secretId: string,
    actor: AuditActor,
    meta: RequestMeta,
  ): Promise<{ version: number }>
  /** Steps 1 and 2 only (tests use it to leave a rotation half done, as a crash would). */
  beginAndApply(orgId: string, secretId: string, actor: AuditActor, meta: RequestMeta): Promise<void>
  rotateOnExposure(orgId: string, secretId: string, actor: AuditActor, meta: RequestMeta): Promise<boolean>
  worker: Periodic
}

const LEASE = "interval '2 minutes'"
const SCHEDULER: AuditActor = { type: 'system', id: 'rotation' }
const NO_REQUEST: RequestMeta = { requestId: null, ip: null, userAgent: null }

interface Plan {
  orgId: string
  secretId: string
  name: string
  pendingVersion: number
  current: DatabaseCredential
  next: DatabaseCredential
  managing: DatabaseCredential
}

export function createDbRotationService(deps: {
  db: Kysely<DB>
  vault: () => Pick<VaultService, 'openValue' | 'writeVersion'>
  audit: Pick<AuditService, 'append' | 'recordSeparately'>
  intervalMs: number
  log: { error(obj: object, msg: string): void }
  /** Where a credential may connect (the outbound guard, K10). */
  guard: Pick<DestinationGuard, 'resolveHost'>
}): DbRotationService {
  const { db, audit } = deps

  const view = (row: store.RotationRow): RotationPolicyView => ({
    secretId: row.secret_id,
    managingSecretId: row.managing_secret_id,
    intervalHours: row.interval_seconds / 3600,
    rotateOnExposure: row.rotate_on_exposure,
    nextDueAt: row.next_due_at.toISOString(),
    lastRotatedAt: row.last_rotated_at?.toISOString() ?? null,
    lastStatus: row.last_status,
    lastError: row.last_error,
    failures: row.failures,
  })

  /**
   * NOT_FOUND with `absentMessage` — the very answer an absent secret gets from the caller —
   * for any of `ids` that is a secret outside `paths` (absent ones are the caller's to refuse).
   */
  async function assertVisible(
    trx: Trx,
    paths: SecretPathLayers,
    ids: readonly string[],
    absentMessage: string,
  ): Promise<void> {
    if (paths.length === 0) return
    for (const id of ids) {
      const secret = await store.findSecret(trx, id)
      if (secret !== undefined && !pathAllowed(paths, secret.name)) throw new AppError('NOT_FOUND', absentMessage)
    }
  }

  async function credentialSecret(
    trx: Trx,
    id: string,
    what: string,
    paths: SecretPathLayers,
  ): Promise<store.SecretRow> {
    const secret = await store.findSecret(trx, id)
    if (secret === undefined || !pathAllowed(paths, secret.name)) throw new AppError('NOT_FOUND', `no such ${what}`)
    if (secret.type !== 'database_credential')
      throw new AppError('VALIDATION_FAILED', `the ${what} must be a database_credential`, {
        errors: [
          {
            path: what === 'secret' ? '/params/secretId' : '/body/managingSecretId',
            message: 'not a database credential',
          },
        ],
      })
    return secret
  }

  const record = (
    trx: Trx,
    orgId: string,
    actor: AuditActor,
    meta: RequestMeta,
    action: string,
    secretId: string,
    details: Record<string, unknown>,
    outcome: 'success' | 'failure' = 'success',
  ) => audit.append(trx, { orgId, actor, action, target: { type: 'secret', id: secretId }, outcome, details, meta })

  /** Step 1: take the lease, write the pending version. Returns a plan, or recovers a pending one. */
  async function begin(
    orgId: string,
    secretId: string,
    actor: AuditActor,
    meta: RequestMeta,
  ): Promise<{ plan: Plan; recovering: boolean }> {
    return withOrg(db, orgId, async (trx) => {
      const rotation = await trx
        .selectFrom('secret_rotations')
        .selectAll()
        .where('secret_id', '=', secretId)
        .forUpdate()
        .executeTakeFirst()
      if (rotation === undefined) throw new AppError('NOT_FOUND', 'this secret has no rotation policy')
      if (rotation.lease_until !== null && rotation.lease_until.getTime() > Date.now())
        throw new AppError('CONFLICT', 'a rotation of this secret is in progress')
      const secret = await credentialSecret(trx, secretId, 'secret', [])
      const managingSecret = await credentialSecret(trx, rotation.managing_secret_id, 'managing credential', [])
      const vault = deps.vault()
      const current = (await vault.openValue(trx, orgId, secretId, secret.current_version)) as DatabaseCredential
      const managing = (await vault.openValue(
        trx,
        orgId,
        managingSecret.id,
        managingSecret.current_version,
      )) as DatabaseCredential
      await trx
        .updateTable('secret_rotations')
        .set({ lease_until: sql`now() + ${sql.raw(LEASE)}` })
        .where('secret_id', '=', secretId)
        .execute()
      if (rotation.state === 'pending' && rotation.pending_version !== null) {
        const next = (await vault.openValue(trx, orgId, secretId, rotation.pending_version)) as DatabaseCredential
        return {
          plan: {
            orgId,
            secretId,
            name: secret.name,
            pendingVersion: rotation.pending_version,
            current,
            next,
            managing,
          },
          recovering: true,
        }
      }
      const pendingVersion = (await store.maxVersion(trx, secretId)) + 1
      const next = { ...current, password: randomBytes(32).toString('base64url') }
      await vault.writeVersion(trx, orgId, secretId, pendingVersion, next, `${actor.type}:${actor.id}`)
      await trx
        .updateTable('secret_rotations')
        .set({ state: 'pending', pending_version: pendingVersion })
        .where('secret_id', '=', secretId)
        .execute()
      await record(trx, orgId, actor, meta, 'secret.rotation.start', secretId, { name: secret.name, pendingVersion })
      return {
        plan: { orgId, secretId, name: secret.name, pendingVersion, current, next, managing },
        recovering: false,
      }
    })
  }

  async function connects(credential: DatabaseCredential): Promise<boolean> {
    let target: Awaited<ReturnType<typeof connectionTarget>>
    try {
      target = await connectionTarget(credential, deps.guard)
    } catch {
      return false
    }
    const client = new pg.Client({
      ...target,
      port: credential.port,
      database: credential.database,
      user: credential.user,
      password: credential.password,
      connectionTimeoutMillis: 5000,
    })
    client.on('error', () => {})
    try {
      await client.connect()
      await client.query('SELECT 1')
      return true
    } catch {
      return false
    } finally {
      await client.end().catch(() => {})
    }
  }

  /** Step 2: the role's password becomes `password`, set through the managing credential. */
  async function setPassword(managing: DatabaseCredential, user: string, password: string): Promise<void> {
    const client = new pg.Client({
      ...(await connectionTarget(managing, deps.guard)),
      port: managing.port,
      database: managing.database,
      user: managing.user,
      password: managing.password,
      connectionTimeoutMillis: 5000,
      statement_timeout: 10_000,
    })
    client.on('error', () => {})
    try {
      await client.connect()
      await client.query(
        `ALTER ROLE ${client.escapeIdentifier(user)} WITH PASSWORD ${client.escapeLiteral(scramVerifier(password))}`,
      )
    } finally {
      await client.end().catch(() => {})
    }
  }

  /** Step 4: the pending version becomes current. */
  async function promote(plan: Plan, actor: AuditActor, meta: RequestMeta): Promise<void> {
    await withOrg(db, plan.orgId, async (trx) => {
      const secret = await trx
        .updateTable('secrets')
        .set({ current_version: plan.pendingVersion, updated_at: new Date() })
        .where('id', '=', plan.secretId)
        .returningAll()
        .executeTakeFirstOrThrow()
      if (secret.exposed_at !== null) {
        await store.clearExposure(trx, plan.secretId)
        await record(trx, plan.orgId, actor, meta, 'secret.exposure.cleared', plan.secretId, {
          name: plan.name,
          newVersion: plan.pendingVersion,
          via: 'rotation',
        })
      }
      await sql`UPDATE secret_rotations SET state = 'idle', pending_version = NULL, lease_until = NULL, last_rotated_at = now(), last_status = 'ok',
                last_error = NULL, failures = 0, next_due_at = now() + make_interval(secs => interval_seconds) WHERE secret_id = ${plan.secretId}`.execute(
        trx,
      )
      await record(trx, plan.orgId, actor, meta, 'secret.rotate', plan.secretId, {
        name: plan.name,
        version: plan.pendingVersion,
      })
    })
  }

  /** A failed rotation: the pending version is destroyed; retried with backoff. */
  async function abandon(plan: Plan, actor: AuditActor, meta: RequestMeta, reason: string): Promise<void> {
    await withOrg(db, plan.orgId, async (trx) => {
      await store.destroyVersions(trx, plan.secretId, plan.pendingVersion)
      await sql`UPDATE secret_rotations SET state = 'idle', pending_version = NULL, lease_until = NULL, last_status = 'failed', last_error = ${reason.slice(0, 300)},
                failures = failures + 1, next_due_at = now() + make_interval(secs => least(interval_seconds, 300 * (failures + 1))) WHERE secret_id = ${plan.secretId}`.execute(
        trx,
      )
      await record(
        trx,
        plan.orgId,
        actor,
        meta,
        'secret.rotate',
        plan.secretId,
        { name: plan.name, error: reason.slice(0, 300) },
        'failure',
      )
    })
  }

  async function apply(plan: Plan): Promise<void> {
    await setPassword(plan.managing, plan.next.user, plan.next.password)
  }

  async function rotateNow(
    orgId: string,
    secretId: string,
    actor: AuditActor,
    meta: RequestMeta,
  ): Promise<{ version: number }> {
    const { plan, recovering } = await begin(orgId, secretId, actor, meta)
    if (recovering) {
      if (await connects(plan.next)) {
        await promote(plan, actor, meta)
        return { version: plan.pendingVersion }
      }
      await abandon(
        plan,
        actor,
        meta,
        (await connects(plan.current))
          ? 'an interrupted rotation was rolled back'
          : 'neither the current nor the pending password connects',
      )
      return rotateNow(orgId, secretId, actor, meta)
    }
    try {
      await apply(plan)
    } catch (error) {
      const reason = `the managing credential could not change the password: ${messageOf(error, plan)}`
      await abandon(plan, actor, meta, reason)
      throw new AppError('ROTATION_FAILED', reason)
    }
    if (!(await connects(plan.next))) {
      // Put the old password back before giving up; the current version stays valid.
      await setPassword(plan.managing, plan.current.user, plan.current.password).catch(() => {})
      await abandon(plan, actor, meta, 'the new password did not connect; the old one was restored')
      throw new AppError('ROTATION_FAILED', 'the new password did not connect; the old one was restored')
    }
    await promote(plan, actor, meta)
    return { version: plan.pendingVersion }
  }

  async function due(): Promise<{ org_id: string; secret_id: string }[]> {
    const refused = orgsNotServed(db) // P8.1: a refused org's credentials are not rotated
    return db
      .selectFrom('secret_rotations')
      .select(['org_id', 'secret_id'])
      .$if(refused.length > 0, (q) => q.where('org_id', 'not in', refused))
      .where('next_due_at', '<=', new Date())
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', new Date())]))
      .limit(50)
      .execute()
  }

  return {
    async configure(orgId, paths, secretId, input, actor, meta) {
      return withOrg(db, orgId, async (trx) => {
        const managed = await credentialSecret(trx, secretId, 'secret', paths)
        const managing = await credentialSecret(trx, input.managingSecretId, 'managing credential', paths)
        const role = (s: store.SecretRow) => {
          const m = s.metadata as { host?: unknown; port?: unknown; user?: unknown }
          return `${String(m.user)}@${String(m.host)}:${String(m.port)}`
        }
        if (secretId !== input.managingSecretId && role(managed) === role(managing))
          throw new AppError('VALIDATION_FAILED', 'the managing credential logs in as the role it would rotate', {
            errors: [{ path: '/body/managingSecretId', message: 'the same database role as the secret' }],
          })
        const interval = Math.round(input.intervalHours * 3600)
        const values = {
          managing_secret_id: input.managingSecretId,
          interval_seconds: interval,
          rotate_on_exposure: input.rotateOnExposure,
          next_due_at: new Date(Date.now() + interval * 1000),
        }
        const row = await trx
          .insertInto('secret_rotations')
          .values({
            secret_id: secretId,
            org_id: orgId,
            created_by: `${actor.type}:${actor.id}`,
            ...values,
            pending_version: null,
            lease_until: null,
            last_rotated_at: null,
            last_status: null,
            last_error: null,
          })
          .onConflict((oc) => oc.column('secret_id').doUpdateSet(values))
          .returningAll()
          .executeTakeFirstOrThrow()
        await record(trx, orgId, actor, meta, 'secret.rotation.configure', secretId, {
          managingSecretId: input.managingSecretId,
          intervalHours: input.intervalHours,
          rotateOnExposure: input.rotateOnExposure,
        })
        return view(row)
      })
    },
    async get(orgId, paths, secretId) {
      const row = await withOrg(db, orgId, async (trx) => {
        await assertVisible(trx, paths, [secretId], 'no such secret')
        const found = await trx
          .selectFrom('secret_rotations')
          .selectAll()
          .where('secret_id', '=', secretId)
          .executeTakeFirst()
        if (found !== undefined) return found
        // The org's own secret without a policy is an answer; an id the org does not have
        // (another org's, made up) stays a refused attempt.
        const secret = await trx.selectFrom('secrets').select('id').where('id', '=', secretId).executeTakeFirst()
        throw secret === undefined
          ? new AppError('NOT_FOUND', 'no such secret')
          : absent('this secret has no rotation policy')
      })
      return view(row)
    },
    async remove(orgId, paths, secretId, actor, meta) {
      await withOrg(db, orgId, async (trx) => {
        await assertVisible(trx, paths, [secretId], 'this secret has no idle rotation policy')
        const deleted = await trx
          .deleteFrom('secret_rotations')
          .where('secret_id', '=', secretId)
          .where('state', '=', 'idle')
          .executeTakeFirst()
        if (Number(deleted.numDeletedRows) === 0)
          throw new AppError('NOT_FOUND', 'this secret has no idle rotation policy')
        await record(trx, orgId, actor, meta, 'secret.rotation.remove', secretId, {})
      })
    },
    async rotateNow(orgId, paths, secretId, actor, meta) {
      // The caller acts through the managing credential too: both are in its scope.
      await withOrg(db, orgId, async (trx) => {
        const policy = await trx
          .selectFrom('secret_rotations')
          .select('managing_secret_id')
          .where('secret_id', '=', secretId)
          .executeTakeFirst()
        await assertVisible(
          trx,
          paths,
          [secretId, ...(policy === undefined ? [] : [policy.managing_secret_id])],
          'this secret has no rotation policy',
        )
      })
      return rotateNow(orgId, secretId, actor, meta)
    },
    async beginAndApply(orgId, secretId, actor, meta) {
      const { plan } = await begin(orgId, secretId, actor, meta)
      await apply(plan)
    },
    async rotateOnExposure(orgId, secretId, actor, meta) {
      const policy = await withOrg(db, orgId, (trx) =>
        trx
          .selectFrom('secret_rotations')
          .select('rotate_on_exposure')
          .where('secret_id', '=', secretId)
          .executeTakeFirst(),
      )
      if (policy?.rotate_on_exposure !== true) return false
      await rotateNow(orgId, secretId, actor, meta)
      return true
    },
    worker: periodic(
      'database credential rotation',
      deps.intervalMs,
      async () => {
        for (const row of await due()) {
          await rotateNow(row.org_id, row.secret_id, SCHEDULER, NO_REQUEST).catch((error: unknown) =>
            deps.log.error({ err: error, secretId: row.secret_id }, 'scheduled rotation failed'),
          )
        }
      },
      deps.log,
    ),
  }
}

function messageOf(error: unknown, plan: Plan): string {
  const message = error instanceof Error ? error.message : String(error)
  return message
    .replaceAll(plan.managing.password, '[redacted]')
    .replaceAll(plan.next.password, '[redacted]')
    .slice(0, 200)
}
