import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Path scopes (docs/secret-paths.md; src/modules/vault/secret-paths.ts): a role binding — a
 * membership (and the invitation that makes one), a service account, an API token — may be
 * limited to secret path patterns.
 * NULL is unrestricted; a list holds 1–50 patterns, each checked by the service before it
 * is stored (the CHECK only bounds the shape).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const column = `secret_paths text[] CHECK (secret_paths IS NULL OR cardinality(secret_paths) BETWEEN 1 AND 50)`
  await runScript(
    db,
    `
    ALTER TABLE memberships ADD COLUMN ${column};
    ALTER TABLE service_accounts ADD COLUMN ${column};
    ALTER TABLE api_tokens ADD COLUMN ${column};
    ALTER TABLE invitations ADD COLUMN ${column};
    `,
  )
}
