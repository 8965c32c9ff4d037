import { createPublicKey, randomUUID } from 'node:crypto'
import { Type, type Static } from '@sinclair/typebox'
import { sql, type Kysely, type Selectable } from 'kysely'
import type { Clock } from '../../clock.ts'
import { actorOf, type RequestContext } from '../../context.ts'
import { BY_NAME, readPage, type Page, type PageRequest } from '../../db/page.ts'
import type { DB } from '../../db/schema.ts'
import { sqlState, UNIQUE_VIOLATION, withOrg, type Trx } from '../../db/tenant.ts'
import { AppError } from '../../errors.ts'
import { DestinationRefused, type DestinationGuard } from '../../http/outbound.ts'
import { Strict, Timestamp, Uuid } from '../../http/schemas.ts'
import { assertWithinOwn } from '../access/bounds.ts'
import type { AuditService } from '../audit/audit.service.ts'
import { eraseDeadLettersOf } from '../notify/webhooks.dead-letters.ts'
import { newStandardWebhookSecret } from '../notify/webhooks.service.ts'
import { rotateSigningSecret, rotationDetails } from '../notify/signing-secrets.ts'
import type { VaultService } from '../vault/vault.service.ts'
import type { ConsentRecipientsTable } from './consent.tables.ts'

/**
 * The org's consent recipients (P7.7, GDPR Art. 19; docs/consent.md#propagation-to-recipients): the
 * processors and recipients a purpose declares, each with the HTTPS endpoint told when a
 * subject withdraws, objects or is erased. A purpose's `recipients` lists their names.
 *
 * - The endpoint follows the webhooks' outbound rules: HTTPS, no credentials in the URL,
 *   checked by the destination guard when registered and again at every delivery.
 * - The signing secret (Standard Webhooks `whsec_…`) is shown once, at registration or
 *   rotation, and kept in the vault like a webhook's; for 24 hours after a rotation, messages
 *   are signed with the new and the previous secret (`v1,<new> v1,<old>`).
 * - The optional Ed25519 public key verifies signed acknowledgements.
 * - A recipient a purpose still names cannot be removed (the purpose would name nobody).
 */

const Label = Type.String({ minLength: 1, maxLength: 100, pattern: '\\S' })
const PublicKey = Type.String({
  pattern: '^[A-Za-z0-9_-]{43}$',
  description: 'the recipient’s Ed25519 public key, 32 raw bytes in base64url: acknowledgements must then be signed',
})
const DeadlineHours = Type.Integer({
  minimum: 1,
  maximum: 8760,
  description: 'hours the recipient has to stop processing (and acknowledge) once told',
})
const HttpsUrl = Type.String({ minLength: 9, maxLength: 2000, description: 'https:// endpoint' })

export const CreateRecipientBody = Type.Object(
  {
    name: Label,
    url: HttpsUrl,
    publicKey: Type.Optional(PublicKey),
    deadlineHours: DeadlineHours,
  },
  Strict,
)
export const UpdateRecipientBody = Type.Object(
  {
    url: Type.Optional(HttpsUrl),
    publicKey: Type.Optional(Type.Union([PublicKey, Type.Null()])),
    deadlineHours: Type.Optional(DeadlineHours),
  },
  Strict,
)
export const RecipientView = Type.Object({
  id: Uuid,
  name: Type.String(),
  url: Type.String(),
  publicKey: Type.Union([Type.String(), Type.Null()]),
  deadlineHours: Type.Integer(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
})
export type CreateRecipientInput = Static<typeof CreateRecipientBody>
export type UpdateRecipientInput = Static<typeof UpdateRecipientBody>
export type RecipientViewT = Static<typeof RecipientView>

export interface ConsentRecipients {
  list(ctx: RequestContext, page: PageRequest): Promise<Page<RecipientViewT>>
  get(ctx: RequestContext, id: string): Promise<RecipientViewT>
  /** Registers a recipient; its signing secret is answered once. CONFLICT: the name is taken. */
  create(ctx: RequestContext, input: CreateRecipientInput): Promise<RecipientViewT & { secret: string }>
  update(ctx: RequestContext, id: string, input: UpdateRecipientInput): Promise<RecipientViewT>
  /**
   * Replaces the recipient's signing secret (a new vault version, audited as
   * `consent.recipient.secret.rotate` with the version number) and answers the new one,
   * once; for 24 hours messages are signed with both. NOT_FOUND when the org has none.
   */
  rotateSecret(
    ctx: RequestContext,
    id: string,
  ): Promise<RecipientViewT & { secret: string; previousSecretUntil: string }>
  /** CONFLICT while a purpose names it. */
  remove(ctx: RequestContext, id: string): Promise<void>
  /** Of `names`, those no recipient of the transaction's org is registered under. */
  unregistered(trx: Trx, names: readonly string[]): Promise<string[]>
}

export type RecipientRow = Selectable<ConsentRecipientsTable>

export function recipientView(row: RecipientRow): RecipientViewT {
  return {
    id: row.id,
    name: row.name,
    url: row.url,
    publicKey: row.public_key === null ? null : Buffer.from(row.public_key).toString('base64url'),
    deadlineHours: row.deadline_hours,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  }
}

/**
 * A recipient is sent what `consent:read` shows (which subject references withdrew from
 * which purposes): pointing one somewhere takes that permission too, as a webhook's does.
 */
const SENDS =
  'a consent recipient’s destination (it is sent the withdrawals, objections and erasures of the purposes naming it)'

function invalid(path: string, message: string): AppError {
  return new AppError('VALIDATION_FAILED', message, { errors: [{ path, message }] })
}

/** The raw key of a base64url Ed25519 public key, or VALIDATION_FAILED when it is not one. */
function publicKeyOf(value: string): Buffer {
  const raw = Buffer.from(value, 'base64url')
  try {
    createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: value }, format: 'jwk' })
  } catch {
    throw invalid('/body/publicKey', 'not an Ed25519 public key')
  }
  if (raw.length !== 32) throw invalid('/body/publicKey', 'not an Ed25519 public key')
  return raw
}

export function createConsentRecipients(deps: {
  db: Kysely<DB>
  audit: Pick<AuditService, 'append'>
  vault: () => Pick<VaultService, 'keepValue' | 'currentVersionIn' | 'removeIn' | 'existingIn'>
  guard: Pick<DestinationGuard, 'checkUrl'>
  clock: Clock
}): ConsentRecipients {
  const { db, audit, clock } = deps
  const by = (ctx: RequestContext) => `${ctx.principal.kind}:${ctx.principal.id}`

  async function checkUrl(url: string): Promise<URL> {
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      throw invalid('/body/url', 'not a URL')
    }
    if (parsed.protocol !== 'https:' || parsed.username !== '' || parsed.password !== '')
      throw invalid('/body/url', 'must be an https:// URL without credentials')
    try {
      await deps.guard.checkUrl(parsed)
    } catch (error) {
      if (!(error instanceof DestinationRefused)) throw error
      throw invalid('/body/url', `destination refused: ${error.message}`)
    }
    return parsed
  }

  async function found(trx: Trx, id: string, lock = false): Promise<RecipientRow> {
    let query = trx.selectFrom('consent_recipients').selectAll().where('id', '=', id)
    if (lock) query = query.forUpdate()
    const row = await query.executeTakeFirst()
    if (row === undefined) throw new AppError('NOT_FOUND', 'no such recipient')
    return row
  }

  return {
    async list(ctx, page) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const { items, nextCursor } = await readPage(
          trx,
          trx.selectFrom('consent_recipients').selectAll(),
          BY_NAME,
          page,
        )
        return { items: items.map(recipientView), nextCursor }
      })
    },

    async get(ctx, id) {
      return withOrg(db, ctx.orgId, async (trx) => recipientView(await found(trx, id)))
    },

    async create(ctx, input) {
      assertWithinOwn(ctx.principal, ['consent:read'], SENDS)
      const url = await checkUrl(input.url)
      const publicKey = input.publicKey === undefined ? null : publicKeyOf(input.publicKey)
      const secret = newStandardWebhookSecret()
      const id = randomUUID()
      try {
        return await withOrg(db, ctx.orgId, async (trx) => {
          const secretId = await deps.vault().keepValue(trx, ctx, {
            name: `consent-recipient/${id}`,
            description: `signing secret of the consent recipient ${input.name}`,
            value: secret,
          })
          const now = clock()
          const row = await trx
            .insertInto('consent_recipients')
            .values({
              id,
              org_id: ctx.orgId,
              name: input.name,
              url: url.href,
              secret_id: secretId,
              public_key: publicKey,
              deadline_hours: input.deadlineHours,
              created_at: now,
              created_by: by(ctx),
              updated_at: now,
            })
            .returningAll()
            .executeTakeFirstOrThrow()
          await audit.append(trx, {
            orgId: ctx.orgId,
            actor: actorOf(ctx.principal),
            action: 'consent.recipient.create',
            target: { type: 'consent_recipient', id },
            outcome: 'success',
            details: {
              name: input.name,
              destination: url.host,
              deadlineHours: input.deadlineHours,
              signedAcknowledgements: publicKey !== null,
            },
            meta: ctx.meta,
          })
          return { ...recipientView(row), secret }
        })
      } catch (error) {
        if (sqlState(error) === UNIQUE_VIOLATION)
          throw new AppError('CONFLICT', `a recipient named ${input.name} exists`)
        throw error
      }
    },

    async update(ctx, id, input) {
      if (input.url !== undefined) assertWithinOwn(ctx.principal, ['consent:read'], SENDS)
      const url = input.url === undefined ? undefined : await checkUrl(input.url)
      const publicKey =
        input.publicKey === undefined ? undefined : input.publicKey === null ? null : publicKeyOf(input.publicKey)
      return withOrg(db, ctx.orgId, async (trx) => {
        const before = await found(trx, id, true)
        const row = await trx
          .updateTable('consent_recipients')
          .set({
            ...(url === undefined ? {} : { url: url.href }),
            ...(publicKey === undefined ? {} : { public_key: publicKey }),
            ...(input.deadlineHours === undefined ? {} : { deadline_hours: input.deadlineHours }),
            updated_at: clock(),
          })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirstOrThrow()
        await audit.append(trx, {
          orgId: ctx.orgId,
          actor: actorOf(ctx.principal),
          action: 'consent.recipient.update',
          target: { type: 'consent_recipient', id },
          outcome: 'success',
          details: {
            name: before.name,
            changed: Object.keys(input).sort(),
            ...(url === undefined ? {} : { destination: url.host }),
          },
          meta: ctx.meta,
        })
        return recipientView(row)
      })
    },

    async rotateSecret(ctx, id) {
      // What registering one takes: the recipient is sent what consent:read shows.
      assertWithinOwn(ctx.principal, ['consent:read'], SENDS)
      const secret = newStandardWebhookSecret()
      return withOrg(db, ctx.orgId, async (trx) => {
        const before = await found(trx, id, true)
        const now = clock()
        const { version, ...previous } = await rotateSigningSecret(
          trx,
          ctx,
          deps.vault(),
          now,
          {
            secret_id: before.secret_id,
            name: `consent-recipient/${id}`,
            description: `signing secret of the consent recipient ${before.name}`,
          },
          secret,
        )
        const row = await trx
          .updateTable('consent_recipients')
          .set({ ...previous, updated_at: now })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirstOrThrow()
        await audit.append(trx, {
          orgId: ctx.orgId,
          actor: actorOf(ctx.principal),
          action: 'consent.recipient.secret.rotate',
          target: { type: 'consent_recipient', id },
          outcome: 'success',
          details: rotationDetails(row.name, { version, ...previous }),
          meta: ctx.meta,
        })
        return { ...recipientView(row), secret, previousSecretUntil: previous.previous_secret_until.toISOString() }
      })
    },

    async remove(ctx, id) {
      await withOrg(db, ctx.orgId, async (trx) => {
        const row = await found(trx, id, true)
        const naming = await trx
          .selectFrom('consent_purposes')
          .select('key')
          .where(sql<boolean>`${row.name} = ANY(recipients)`)
          .orderBy('key')
          .limit(5)
          .execute()
        if (naming.length > 0)
          throw new AppError(
            'CONFLICT',
            `the purposes ${naming.map((p) => p.key).join(', ')} name ${row.name}: remove it from them first`,
          )
        await trx.deleteFrom('consent_recipients').where('id', '=', id).execute()
        if ((await deps.vault().existingIn(trx, [row.secret_id])).has(row.secret_id))
          await deps.vault().removeIn(trx, ctx, row.secret_id)
        await eraseDeadLettersOf(trx, id)
        await audit.append(trx, {
          orgId: ctx.orgId,
          actor: actorOf(ctx.principal),
          action: 'consent.recipient.remove',
          target: { type: 'consent_recipient', id },
          outcome: 'success',
          details: { name: row.name },
          meta: ctx.meta,
        })
      })
    },

    async unregistered(trx, names) {
      if (names.length === 0) return []
      const rows = await trx.selectFrom('consent_recipients').select('name').where('name', 'in', names).execute()
      const known = new Set(rows.map((r) => r.name))
      return names.filter((n) => !known.has(n))
    },
  }
}
