import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Per-org IP allowlists (P2.9): a list of `{cidr, description}` on the org's security
 * policy, read with the credential on every request (one row, no extra round trip).
 * Ranges are validated and put in network form by the application; the CHECK keeps the
 * column a JSON array whatever writes it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    ALTER TABLE org_security_policies ADD COLUMN ip_allowlist jsonb NOT NULL DEFAULT '[]'
      CHECK (jsonb_typeof(ip_allowlist) = 'array' AND jsonb_array_length(ip_allowlist) <= 200);
  `,
  )
}
