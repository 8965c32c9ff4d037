import type { Kysely } from 'kysely'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Clock } from '../../clock.ts'
import type { Config } from '../../config.ts'
import type { DB } from '../../db/schema.ts'
import type { DestinationGuard, OutboundFetch } from '../../http/outbound.ts'
import { periodic } from '../../jobs/periodic.ts'
import type { AuditService } from '../audit/audit.service.ts'
import type { Keyring } from '../vault/vault.keyring.ts'
import type { VaultService } from '../vault/vault.service.ts'
import { createDeliveryService } from './delivery.service.ts'
import { createMailer } from './mail.ts'
import { notifyRoutes } from './notify.routes.ts'
import { createWebhooksService } from './webhooks.service.ts'

export function createNotifyModule(deps: {
  db: Kysely<DB>
  keyring: Keyring
  vault: () => VaultService
  audit: AuditService
  clock: Clock
  config: Pick<Config, 'extraCaFile' | 'webhooks' | 'mail'>
  /** Outbound HTTPS through the destination guard. */
  outbound: OutboundFetch & { guard: DestinationGuard }
  /** A delivery linked to a privacy request settled (an erasure may certify). */
  onRequestSettled: (orgId: string, requestId: string) => Promise<void>
  /** The address of a notification's recipient who is not a user (a report's reporter). */
  resolveAddress: (orgId: string, ref: string) => Promise<string | undefined>
  log: { error(obj: object, msg: string): void }
}) {
  const { config } = deps
  const webhooks = createWebhooksService({
    db: deps.db,
    keyring: deps.keyring,
    vault: deps.vault,
    audit: deps.audit,
    clock: deps.clock,
    fetch: deps.outbound,
    retry: {
      baseMs: config.webhooks.retryBaseMs,
      maxAttempts: config.webhooks.maxAttempts,
      timeoutMs: config.webhooks.timeoutMs,
    },
    deadLetterMs: config.webhooks.deadLetterHours * 3_600_000,
    onSettled: deps.onRequestSettled,
  })
  const mailer =
    config.mail.url === undefined
      ? undefined
      : createMailer({
          url: config.mail.url,
          from: config.mail.from as string,
          security: config.mail.security,
          user: config.mail.user,
          password: config.mail.password,
          extraCaFile: config.extraCaFile,
          timeoutMs: config.mail.timeoutMs,
        })
  const delivery = createDeliveryService({
    db: deps.db,
    mailer,
    webhooks,
    audit: deps.audit,
    clock: deps.clock,
    retry: { baseMs: config.mail.retryBaseMs, maxAttempts: config.mail.maxAttempts, timeoutMs: config.mail.timeoutMs },
    resolveAddress: deps.resolveAddress,
  })
  const webhookWorker = periodic(
    'webhook-delivery',
    config.webhooks.checkMs,
    async () => {
      await delivery.fanOut()
      await webhooks.deliverDue()
    },
    deps.log,
  )
  const mailWorker = periodic(
    'mail-delivery',
    config.mail.checkMs,
    async () => {
      await delivery.deliverMail()
    },
    deps.log,
  )
  const routes: FastifyPluginAsyncTypebox = async (app) => {
    await app.register(notifyRoutes({ webhooks, delivery }))
  }
  return { webhooks, delivery, webhookWorker, mailWorker, routes }
}
