import { randomUUID } from 'node:crypto'
import type { Trx } from '../../db/tenant.ts'

/**
 * The notification outbox: a row per recipient, written in the transaction of the event
 * it announces, delivered later by e-mail and to webhooks (delivery.service.ts). A
 * notification never carries a secret value or a link that grants access by itself
 * (P3.5): callers pass names and ids only, and `enqueue` refuses anything shaped like a
 * credential, and any link at all.
 */
export interface Notification {
  orgId: string
  kind: string
  subject: string
  body: string
  data?: Record<string, unknown>
}

const CREDENTIAL = /cst_(api|ses|inv|boot|share|vrs)_|-----BEGIN|password=/i

/** Whether a text may go out in a notification: no credential, no link (P3.5). */
export function fitForNotice(text: string): boolean {
  return !CREDENTIAL.test(text) && !/https?:\/\//i.test(text)
}

function check(notification: Notification): void {
  const text = `${notification.subject}\n${notification.body}\n${JSON.stringify(notification.data ?? {})}`
  if (CREDENTIAL.test(text)) throw new Error('a notification must not carry a credential')
  if (/https?:\/\//i.test(`${notification.subject}\n${notification.body}`))
    throw new Error('a notification must not carry a link: people sign in to act on it (P3.5)')
}

/**
 * A notification for someone who is not a user (`ref`, e.g. `vulnerability-report:<id>`):
 * its address is resolved when it is sent, so it is never copied here, and a recipient
 * erased meanwhile is simply not written to. Mailed only; not fanned out to webhooks.
 */
export async function enqueueExternal(trx: Trx, ref: string, notification: Notification): Promise<string> {
  check(notification)
  const id = randomUUID()
  await trx
    .insertInto('notifications')
    .values({
      id,
      org_id: notification.orgId,
      kind: notification.kind,
      recipient_user_id: null,
      recipient_ref: ref,
      subject: notification.subject,
      body: notification.body,
      data: JSON.stringify(notification.data ?? {}),
      delivered_at: null,
      batch_id: null,
      last_error: null,
      fanned_out_at: new Date(),
    })
    .execute()
  return id
}

export async function enqueue(trx: Trx, recipients: string[], notification: Notification): Promise<number> {
  check(notification)
  const unique = [...new Set(recipients)]
  if (unique.length === 0) return 0
  const batchId = randomUUID()
  await trx
    .insertInto('notifications')
    .values(
      unique.map((user) => ({
        id: randomUUID(),
        org_id: notification.orgId,
        kind: notification.kind,
        recipient_user_id: user,
        subject: notification.subject,
        body: notification.body,
        data: JSON.stringify(notification.data ?? {}),
        delivered_at: null,
        batch_id: batchId,
        last_error: null,
        fanned_out_at: null,
      })),
    )
    .execute()
  return unique.length
}

/** Members of the current org holding one of these roles (owners and admins, typically). */
export async function membersWithRoles(trx: Trx, roles: string[]): Promise<string[]> {
  if (roles.length === 0) return []
  const rows = await trx.selectFrom('memberships').select('user_id').where('role', 'in', roles).execute()
  return rows.map((r) => r.user_id)
}
