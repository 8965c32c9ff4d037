import { sql, type Insertable, type Kysely, type Selectable } from 'kysely'
import type { DB } from '../../db/schema.ts'
import type { Trx } from '../../db/tenant.ts'
import type { OrgSsoConfigsTable, SsoIdentitiesTable } from './identity.tables.ts'

/** SQL for single sign-on. Every function takes the transaction first; none decides a rule. */

export type SsoConfigRow = Selectable<OrgSsoConfigsTable>
export type SsoIdentityRow = Selectable<SsoIdentitiesTable>

export async function findConfig(trx: Trx, orgId: string): Promise<SsoConfigRow | undefined> {
  return trx.selectFrom('org_sso_configs').selectAll().where('org_id', '=', orgId).executeTakeFirst()
}

export async function upsertConfig(trx: Trx, row: Insertable<OrgSsoConfigsTable>): Promise<SsoConfigRow> {
  const { org_id: _org, ...changes } = row
  return trx
    .insertInto('org_sso_configs')
    .values(row)
    .onConflict((oc) => oc.column('org_id').doUpdateSet({ ...changes, updated_at: new Date() }))
    .returningAll()
    .executeTakeFirstOrThrow()
}

export async function setSsoOnly(trx: Trx, orgId: string, ssoOnly: boolean, by: string): Promise<void> {
  await trx
    .updateTable('org_sso_configs')
    .set({ sso_only: ssoOnly, updated_at: new Date(), updated_by: by })
    .where('org_id', '=', orgId)
    .execute()
}

export async function deleteConfig(trx: Trx, orgId: string): Promise<void> {
  await trx.deleteFrom('sso_identities').where('org_id', '=', orgId).execute()
  await trx.deleteFrom('org_sso_configs').where('org_id', '=', orgId).execute()
}

/** Erases the password hash of every member of the current org (see migration 0008). */
export async function erasePasswordsOfMembers(trx: Trx): Promise<number> {
  const result = await sql<{ n: number }>`SELECT custodian_erase_member_passwords() AS n`.execute(trx)
  return Number(result.rows[0]?.n ?? 0)
}

export async function markConfigUsed(trx: Trx, orgId: string): Promise<void> {
  await trx.updateTable('org_sso_configs').set({ last_login_at: new Date() }).where('org_id', '=', orgId).execute()
}

// ---- sign-ins in flight (owner connection: the callback finds its org through them) ----

export async function insertLoginState(
  db: Kysely<DB>,
  row: { state_hash: Buffer; org_id: string; binding_hash: Buffer; expires_at: Date; return_to: 'console' | null },
): Promise<void> {
  await db.insertInto('sso_login_states').values(row).execute()
  // Housekeeping, cheap on the expiry index: states long past use or expiry.
  await sql`DELETE FROM sso_login_states WHERE expires_at < now() - interval '1 hour'`.execute(db)
}

/**
 * Where the flow of a state goes back to, whatever its status (unused, used or expired);
 * undefined if no such flow is kept. Read before the state is consumed or checked: it
 * chooses only how the answer is presented, never whether the sign-in succeeds.
 */
export async function loginReturnTo(db: Kysely<DB>, stateHash: Buffer): Promise<'console' | null | undefined> {
  const row = await db
    .selectFrom('sso_login_states')
    .select('return_to')
    .where('state_hash', '=', stateHash)
    .executeTakeFirst()
  return row?.return_to
}

/** The org a state was started for, whatever its status; undefined if no such flow is kept. Reads only. */
export async function loginStateOrg(db: Kysely<DB>, stateHash: Buffer): Promise<string | undefined> {
  const row = await db
    .selectFrom('sso_login_states')
    .select('org_id')
    .where('state_hash', '=', stateHash)
    .executeTakeFirst()
  return row?.org_id
}

/** Consumes a state once, atomically; undefined if unknown or already used. */
export async function consumeLoginState(
  db: Kysely<DB>,
  stateHash: Buffer,
): Promise<{ org_id: string; binding_hash: Uint8Array; expired: boolean } | undefined> {
  const result = await sql<{ org_id: string; binding_hash: Uint8Array; expired: boolean }>`
    UPDATE sso_login_states SET used_at = now()
     WHERE state_hash = ${stateHash} AND used_at IS NULL
    RETURNING org_id, binding_hash, expires_at <= now() AS expired`.execute(db)
  return result.rows[0]
}

// ---- identities (owner transaction of the callback: users are global) ----

export async function findIdentity(
  trx: Trx,
  orgId: string,
  issuer: string,
  subject: string,
): Promise<SsoIdentityRow | undefined> {
  return trx
    .selectFrom('sso_identities')
    .selectAll()
    .where('org_id', '=', orgId)
    .where('issuer', '=', issuer)
    .where('subject', '=', subject)
    .executeTakeFirst()
}

export async function findIdentityOfUser(
  trx: Trx,
  orgId: string,
  issuer: string,
  userId: string,
): Promise<SsoIdentityRow | undefined> {
  return trx
    .selectFrom('sso_identities')
    .selectAll()
    .where('org_id', '=', orgId)
    .where('issuer', '=', issuer)
    .where('user_id', '=', userId)
    .executeTakeFirst()
}

export async function saveIdentity(
  trx: Trx,
  row: { org_id: string; issuer: string; subject: string; user_id: string; email: string },
): Promise<void> {
  await trx
    .insertInto('sso_identities')
    .values({ ...row, last_login_at: new Date(), blocked_at: null })
    .onConflict((oc) =>
      oc
        .columns(['org_id', 'issuer', 'subject'])
        .doUpdateSet({ email: row.email, last_login_at: new Date(), blocked_at: null }),
    )
    .execute()
}

/** A removed member's identities stay, blocked, so just-in-time provisioning cannot bring them back. */
export async function blockIdentitiesOfUser(trx: Trx, userId: string): Promise<void> {
  await trx.updateTable('sso_identities').set({ blocked_at: new Date() }).where('user_id', '=', userId).execute()
}

export async function isMember(trx: Trx, orgId: string, userId: string): Promise<boolean> {
  return (
    (await trx
      .selectFrom('memberships')
      .select('user_id')
      .where('org_id', '=', orgId)
      .where('user_id', '=', userId)
      .executeTakeFirst()) !== undefined
  )
}

export async function pendingInvitationFor(trx: Trx, orgId: string, email: string) {
  return trx
    .selectFrom('invitations')
    .selectAll()
    .where('org_id', '=', orgId)
    .where(sql`lower(email)`, '=', email.toLowerCase())
    .where('accepted_at', 'is', null)
    .where('expires_at', '>', new Date())
    .orderBy('created_at', 'desc')
    .forUpdate()
    .executeTakeFirst()
}

export async function clearPassword(trx: Trx, userId: string): Promise<void> {
  await trx.updateTable('users').set({ password_hash: null }).where('id', '=', userId).execute()
}
