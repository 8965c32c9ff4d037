import { sql } from 'kysely'
import { contextAad } from '../../crypto/aead.ts'
import { SealedError, type RootKeyProvider } from '../../crypto/providers/provider.ts'
import type { Trx } from '../../db/tenant.ts'

/**
 * Small per-user secrets that belong to no org (a user's TOTP seed), wrapped directly by
 * the root key with AAD binding user and purpose. The vault owns them so that a
 * root-key rotation rewraps them with everything else.
 */
export interface UserSecrets {
  put(trx: Trx, userId: string, purpose: string, value: Buffer): Promise<void>
  get(trx: Trx, userId: string, purpose: string): Promise<Buffer | undefined>
  remove(trx: Trx, userId: string, purpose: string): Promise<void>
}

export function userSecretAad(userId: string, purpose: string): string {
  return contextAad({ purpose: `user-secret/${purpose}`, org: '-', object: userId, version: 1 })
}

export function createUserSecrets(provider: RootKeyProvider): UserSecrets {
  const unsealed = () => {
    if (provider.sealed()) throw new SealedError()
  }
  return {
    async put(trx, userId, purpose, value) {
      unsealed()
      const wrapped = await provider.wrap(value, userSecretAad(userId, purpose))
      await sql`INSERT INTO user_secrets (user_id, purpose, wrapped, root_key_id) VALUES (${userId}, ${purpose}, ${wrapped}, ${provider.keyId()})
                ON CONFLICT (user_id, purpose) DO UPDATE SET wrapped = EXCLUDED.wrapped, root_key_id = EXCLUDED.root_key_id, created_at = now()`.execute(
        trx,
      )
    },
    async get(trx, userId, purpose) {
      unsealed()
      const row = await trx
        .selectFrom('user_secrets')
        .selectAll()
        .where('user_id', '=', userId)
        .where('purpose', '=', purpose)
        .executeTakeFirst()
      if (row === undefined) return undefined
      return provider.unwrap(row.wrapped, userSecretAad(userId, purpose), row.root_key_id)
    },
    async remove(trx, userId, purpose) {
      await trx.deleteFrom('user_secrets').where('user_id', '=', userId).where('purpose', '=', purpose).execute()
    },
  }
}
